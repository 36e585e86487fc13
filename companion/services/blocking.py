"""Blocked senders: one rule for every channel. A sender is who a message comes from, whatever the channel:
a web viewer's token, a Telegram chat, a phone number (a WhatsApp sender's, or the caller's an operator
typed, or a contact typed on the web form), an e-mail address. A moderator or an admin blocks the sender
of a question; intake refuses them on every channel (`refuse_blocked`) with a message that tells nothing
of why or of who they are taken for.

Identities are kept as keyed hashes (HMAC with the app's secret key): the table holds no phone number in
clear, only a masked label for staff. Rotating SECRET_KEY forgets the blocks (as it forgets sessions)."""
from __future__ import annotations

import hashlib
import hmac
import time

import phonenumbers
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..runtime import runtime
from ..models import Appeal, BlockedSender, ChannelUpdate, Channel, Question, User, utcnow
from .audit import audit
from ..errors import NotFound, ServiceError, ValidationError
from .fields import Limit, chat_in, mask_contact, normalise_contact, parse_id, text

KINDS = ("viewer", "telegram", "phone", "email")
KIND_LABELS = {"viewer": _l("web viewer"), "telegram": _l("Telegram chat"), "phone": _l("phone number"),
               "email": _l("e-mail address")}
# how long a process trusts its copy of the active keys: a block made in another process (the channels
# one) applies here within this many seconds, one query per interval instead of one per message
CACHE_SECONDS = 2.0


class Blocked(ServiceError):
    """The sender is blocked: said without naming the sender, the reason or who decided."""

    code = "blocked"
    status = 403
    default_message = _l("We cannot take messages from you here. To file an appeal, write to the office or come in person.")


Identity = tuple[str, str]  # (kind, normalised value)
KEYED = "keyed"  # an identity known only by its key (an appeal's sender_key): the value is the key itself


def sender_key(phone: str) -> str:
    """The key a caller's number is blocked under, kept on an appeal when the number itself is not (no consent)."""
    return _key(("phone", phone)) if phone else ""


def _key(identity: Identity) -> str:
    kind, value = identity
    if kind == KEYED:
        return value
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"block\0{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:48]


def _digits_phone(digits: str) -> str:
    """A WhatsApp id (the number's digits) as E.164, or "" when it is not a valid number."""
    try:
        number = phonenumbers.parse("+" + digits.lstrip("+"), None)
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if phonenumbers.is_valid_number(number) else ""


def contact_identity(contact: str) -> Identity | None:
    """The identity a stored or typed contact names: a chat, a phone in E.164, an e-mail; None if none."""
    contact = (contact or "").strip() if isinstance(contact, str) else ""
    if not contact or len(contact) > max(Limit.CONTACT, Limit.EMAIL_ADDRESS):  # no form takes a longer contact
        return None
    chat = chat_in(contact)
    if chat and chat[0] == "telegram":
        return chat
    if chat:  # a WhatsApp chat is its phone number
        phone = _digits_phone(chat[1])
        return ("phone", phone) if phone else None
    try:
        value = normalise_contact(contact, current_app.config["PHONE_REGION"])
    except ValueError:
        return None
    return ("email", value.lower()) if "@" in value else ("phone", value)


def chat_identity(channel: str, chat: str) -> Identity | None:
    """The identity of a chat on a messaging channel: a Telegram chat, or a WhatsApp sender's phone number."""
    if channel == Channel.TELEGRAM.value:
        return ("telegram", str(chat))
    if channel == Channel.WHATSAPP.value:
        phone = _digits_phone(str(chat))
        return ("phone", phone) if phone else None
    return None


def token_identity(viewer_token: str | None) -> Identity | None:
    """The identity behind a question's sender token: a web viewer, or a chat ("tg:<chat>", "wa:<number>")."""
    if not viewer_token:
        return None
    prefix, sep, rest = viewer_token.partition(":")
    if sep and prefix == "tg":
        return chat_identity(Channel.TELEGRAM.value, rest)
    if sep and prefix == "wa":
        return chat_identity(Channel.WHATSAPP.value, rest)
    return ("viewer", viewer_token)


# Channels whose contact is the sender's own line (caller ID, the WhatsApp number): a contact typed on the web
# page or sent through the API could be anyone's, and blocking it would let a troll have a victim blocked.
VOUCHED_CONTACT_CHANNELS = frozenset({"phone", "whatsapp", "telegram"})


def identities_of(*, question: Question | None = None, appeal: Appeal | None = None) -> list[Identity]:
    """Every identity the sender of a question (or of an appeal) can be known by on any channel."""
    found: list[Identity | None] = []
    if appeal is None and question is not None:
        appeal = getattr(question, "appeal", None)
    if question is None and appeal is not None and appeal.question_id:
        question = db.session.get(Question, appeal.question_id)
    if question is not None:
        found.append(token_identity(question.viewer_token))
        if question.channel in VOUCHED_CONTACT_CHANNELS:
            found.append(contact_identity(question.contact))
    if appeal is not None and appeal.channel in VOUCHED_CONTACT_CHANNELS:
        found.append(contact_identity(appeal.contact))
        if appeal.sender_key:  # a caller whose number was not kept
            found.append((KEYED, appeal.sender_key))
        # an appeal a chat sent outside a broadcast: the chat of the update that made it
        for channel, chat in db.session.execute(select(ChannelUpdate.channel, ChannelUpdate.chat).where(
                ChannelUpdate.appeal_id == appeal.id)).all():
            found.append(chat_identity(channel, chat))
    unique: list[Identity] = []
    for identity in found:
        if identity is not None and identity not in unique:
            unique.append(identity)
    return unique


def _active_keys() -> frozenset[str]:
    """The keys of the senders blocked now, as this process last read them (at most CACHE_SECONDS old)."""
    state = runtime()
    if state.blocked_senders is None:
        state.blocked_senders = {"at": -1e9, "keys": frozenset()}
    cache = state.blocked_senders
    now = time.monotonic()
    if now - cache["at"] > CACHE_SECONDS:
        cache["keys"] = frozenset(db.session.scalars(select(BlockedSender.key).where(
            BlockedSender.unblocked_at.is_(None))))
        cache["at"] = now
    return cache["keys"]


def _forget_cache() -> None:
    runtime().blocked_senders = None


def is_blocked(identities) -> bool:
    """True when any of these identities is blocked now."""
    keys = _active_keys()
    return bool(keys) and any(_key(i) in keys for i in identities if i is not None)


def refuse_blocked(identities) -> None:
    """Raise Blocked when any of these identities is blocked (intake calls this on every channel)."""
    if is_blocked(identities):
        raise Blocked()


def _label(identity: Identity) -> str:
    kind, value = identity
    if kind == KEYED:
        return "***"  # the number was never kept
    if kind == "viewer":
        return value[:4] + "…"
    if kind == "telegram":
        return value[:3] + "*" * max(len(value) - 5, 0) + value[-2:]
    return mask_contact(value)[:80]  # a phone number or an e-mail address


def _reason(reason) -> str:
    return text(reason, "reason", Limit.BLOCK_REASON)


def block(identities: list[Identity], *, actor: User, reason: str = "", question: Question | None = None,
          appeal: Appeal | None = None) -> list[BlockedSender]:
    """Block these identities (those blocked already stay as they are); audited. NotFound when there is none."""
    reason = _reason(reason)
    if not identities:
        raise NotFound(_l("This question has no sender to block: it came without a contact or a chat."))
    active = set(db.session.scalars(select(BlockedSender.key).where(
        BlockedSender.key.in_([_key(i) for i in identities]), BlockedSender.unblocked_at.is_(None))))
    rows = []
    for identity in identities:
        key = _key(identity)
        if key in active:
            continue
        row = BlockedSender(key=key, kind="phone" if identity[0] == KEYED else identity[0], label=_label(identity),
                            reason=reason,
                            question_id=question.id if question is not None else None,
                            appeal_id=appeal.id if appeal is not None else None, blocked_by_id=actor.id,
                            blocked_at=utcnow())
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    for row in rows:
        audit(actor, "sender_blocked", question.broadcast if question is not None else None, question,
              blocked=row.id, kind=row.kind, appeal=appeal.id if appeal is not None else None)
    db.session.commit()
    _forget_cache()
    return rows


def block_question_sender(question_id, *, actor: User, reason: str = "") -> list[BlockedSender]:
    """Block the sender of a question (from the desk): every identity it is known by."""
    qid = parse_id(question_id)
    question = db.session.get(Question, qid) if qid else None
    if question is None:
        raise NotFound(_l("This question does not exist."))
    return block(identities_of(question=question), actor=actor, reason=reason, question=question,
                 appeal=getattr(question, "appeal", None))


def block_appeal_sender(appeal: Appeal, *, actor: User, reason: str = "") -> list[BlockedSender]:
    """Block the sender of an appeal (from its page): every identity it is known by."""
    question = db.session.get(Question, appeal.question_id) if appeal.question_id else None
    return block(identities_of(question=question, appeal=appeal), actor=actor, reason=reason, question=question,
                 appeal=appeal)


def block_contact(contact: str, *, actor: User, reason: str = "") -> list[BlockedSender]:
    """Block a phone number or an e-mail address an admin typed (a caller who never left a question)."""
    identity = contact_identity(contact if isinstance(contact, str) else "")
    if identity is None:
        raise ValidationError(fields={"contact": _l("This phone number is not valid.")})
    return block([identity], actor=actor, reason=reason)


def unblock(block_id, *, actor: User) -> BlockedSender:
    """Lift a block (the row stays, with who lifted it and when); audited."""
    bid = parse_id(block_id)
    row = db.session.get(BlockedSender, bid) if bid else None
    if row is None or row.unblocked_at is not None:
        raise NotFound(_l("This block does not exist or was lifted already."))
    row.unblocked_at, row.unblocked_by_id = utcnow(), actor.id
    audit(actor, "sender_unblocked", None, None, blocked=row.id, kind=row.kind)
    db.session.commit()
    _forget_cache()
    return row


def active_blocks(limit: int = 500) -> list[BlockedSender]:
    """The blocks in force, newest first (for the admin list)."""
    return list(db.session.scalars(select(BlockedSender).where(BlockedSender.unblocked_at.is_(None))
                                   .order_by(BlockedSender.id.desc()).limit(limit)))


def sender_blocked(*, question: Question | None = None, appeal: Appeal | None = None) -> bool:
    """True when the sender of this question or appeal is blocked now (the desk and the appeal page say so)."""
    return is_blocked(identities_of(question=question, appeal=appeal))
