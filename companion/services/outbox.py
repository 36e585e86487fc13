"""The outbox of notices sent back through a messaging channel (Telegram, WhatsApp): one row per notice, written in the
transaction of the change that caused it; the channels process sends the rows that are due, retries a failed
send with exponential backoff, and dead-letters one that failed OUTBOX_MAX_ATTEMPTS times for staff to see.
Each sent or dead notice is a step in the appeal's history. A failed send never touches the change itself."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..links import absolute_url
from ..models import Appeal, AppealEvent, Channel, OutboxMessage, utcnow
from .database import resilient
from ..permissions import AppealScope, appeals_visible

PENDING, SENT, FAILED, DEAD = "pending", "sent", "failed", "dead"
CANCELLED = "canceled"  # (the column holds 8 letters) staff took it back before it went (a report recipient removed, or sent again now)
CONTACT_PREFIX = {Channel.TELEGRAM.value: "telegram:", Channel.WHATSAPP.value: "whatsapp:"}
TEXT_LIMIT = 4000  # Telegram takes 4,096 characters a message, WhatsApp 4,096 too: a longer answer goes as a link
BACKOFF_CAP_SECONDS = 3600


def chat_contact(channel: str, chat) -> str:
    """The contact an appeal keeps for a chat on a messaging channel ("telegram:12345")."""
    return f"{CONTACT_PREFIX[channel]}{chat}"


def chat_of(appeal: Appeal) -> tuple[str, str] | None:
    """(channel, chat) when the appeal's contact is a chat on a messaging channel, else None."""
    for channel, prefix in CONTACT_PREFIX.items():
        if (appeal.contact or "").startswith(prefix):
            return channel, appeal.contact[len(prefix):]
    return None


def talon_link(appeal: Appeal) -> str:
    """The resident's talon of the appeal (number and access code), as an absolute address."""
    from .appeals import format_access_code  # appeals imports this module
    return absolute_url("public.talon", code=appeal.tracking_code, access=format_access_code(appeal.access_code))


def registered_text(appeal: Appeal) -> str:
    """The reply to a new question or appeal: its number and the talon's link, in the appeal's language."""
    with force_locale(appeal.language):
        return "\n".join([_("Received. Your number is %(code)s.", code=appeal.tracking_code),
                          _("Your talon and the appeal's status: %(link)s", link=talon_link(appeal))])


def notice_text(appeal: Appeal, kind: str) -> str:
    """A notice of a step (answer, extend, forward, urgent, leave) in the appeal's language; a long answer as a link."""
    from .notices import _body, track_link  # notices imports appeals, which imports this module
    with force_locale(appeal.language):
        link = track_link(appeal)
        _subject, body = _body(appeal, kind, link)
        if len(body) > TEXT_LIMIT:
            body = "\n".join([_("Your appeal %(code)s has been answered:", code=appeal.tracking_code),
                              _("Follow your appeal here: %(link)s", link=link)])
    return body


def enqueue(channel: str, chat, kind: str, text: str, appeal: Appeal | None = None) -> OutboxMessage:
    """Add one notice to the outbox in the caller's transaction (the caller commits)."""
    message = OutboxMessage(appeal=appeal, channel=channel, chat=str(chat), kind=kind, text=text, state=PENDING,
                            attempts=0, next_attempt_at=utcnow(), last_error="", created_at=utcnow())
    db.session.add(message)
    return message


NOTED = "companion.notices_after_commit"  # the session's (appeal, kind) pairs to e-mail once committed


def enqueue_notice(appeal: Appeal, kind: str) -> OutboxMessage | None:
    """The one call by which a step of an appeal tells its applicant, made by the service in the step's
    transaction. A chat's notice is an outbox row, sent by the channel's worker; any other is noted for
    after the commit (`take_noted`), when services.notices e-mails it or records that it is to be given."""
    target = chat_of(appeal)
    if target is None:
        db.session.info.setdefault(NOTED, []).append((appeal, kind))
        return None
    return enqueue(target[0], target[1], kind, notice_text(appeal, kind), appeal)


def take_noted() -> list[tuple[Appeal, str]]:
    """The notices the committed steps of this session noted, once (the caller sends them)."""
    return db.session.info.pop(NOTED, [])


@event.listens_for(Session, "after_soft_rollback")
def _forget_noted(session, previous_transaction) -> None:
    """A step rolled back tells no one."""
    session.info.pop(NOTED, None)


def due(channel: str, limit: int = 50, now: datetime | None = None) -> list[OutboxMessage]:
    """The notices of a channel to send now (new, or failed and past their backoff), oldest first."""
    now = now or utcnow()
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.channel == channel, OutboxMessage.state.in_((PENDING, FAILED)),
        OutboxMessage.next_attempt_at <= now).order_by(OutboxMessage.id).limit(limit)))


def _history(message: OutboxMessage, action: str, public: bool, **detail) -> None:
    appeal = message.appeal
    if appeal is not None:
        db.session.add(AppealEvent(appeal=appeal, action=action, from_status=appeal.status, to_status=appeal.status,
                                   public=public, detail={"kind": message.kind, **detail}, at=utcnow()))


def record_sent(message: OutboxMessage, sent_as: str = "text") -> None:
    """The platform took the notice: sent (as a text, or as which template), and a public step in the appeal's history."""
    message.attempts += 1
    message.state, message.sent_at, message.last_error, message.sent_as = SENT, utcnow(), "", sent_as[:80]
    _history(message, "channel_notice_sent", True, channel=message.channel, sent_as=message.sent_as)
    db.session.commit()


def record_failure(message: OutboxMessage, error: str, *, permanent: bool = False) -> None:
    """A send failed: retry after a backoff doubling each time, or dead-letter after the last attempt
    (or at once when the platform says it never will: a blocked bot, a chat that is gone)."""
    cfg = current_app.config
    message.attempts += 1
    message.last_error = error[:300]
    if permanent or message.attempts >= cfg["OUTBOX_MAX_ATTEMPTS"]:
        message.state = DEAD
        _history(message, "channel_notice_dead", False, channel=message.channel, error=message.last_error)
    else:
        message.state = FAILED
        wait = min(cfg["OUTBOX_BACKOFF_SECONDS"] * 2 ** (message.attempts - 1), BACKOFF_CAP_SECONDS)
        message.next_attempt_at = utcnow() + timedelta(seconds=wait)
    db.session.commit()


@resilient  # the serving process writes the same SQLite file: a lock held a moment is waited out
def mark(message_id: int, error: str | None, *, permanent: bool = False, sent_as: str = "text") -> None:
    """Record a send the channel made (or its failure) by the row's id. Once the platform took a notice this
    must hold, or the next round would send it again: a lock is waited out, the row read afresh each try."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.state not in (PENDING, FAILED):
        return
    if error is None:
        record_sent(message, sent_as)
    else:
        record_failure(message, error, permanent=permanent)


def dead_letters(scope: AppealScope | None = None, limit: int = 200) -> list[OutboxMessage]:
    """Notices that will not be sent, newest first: staff tell those applicants another way. With `scope`,
    those of the appeals it sees (and those of no appeal, as the broadcast reports' e-mails), chosen in SQL
    before the limit, so an officer's own are never cut off by other departments'."""
    query = select(OutboxMessage).where(OutboxMessage.state == DEAD)
    if scope is not None:
        query = query.outerjoin(Appeal, Appeal.id == OutboxMessage.appeal_id).where(
            or_(OutboxMessage.appeal_id.is_(None), appeals_visible(scope)))
    return list(db.session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)))


def of_appeal(appeal: Appeal) -> list[OutboxMessage]:
    """The appeal's notices through its chat, oldest first (shown on the appeal's page)."""
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.appeal_id == appeal.id)
                                   .order_by(OutboxMessage.id)))
