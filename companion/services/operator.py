"""The phone operator's work (city 109 style): find a caller's appeals by the number they call from, read an
appeal's status back by its number, take a call as a question for the live broadcast or as an appeal for the
back office, and see the live queue. The operator sees only what a lookup found: there is no list of
everyone's appeals here (permissions: "operate"; the back office's list refuses the role).

Every lookup is counted (OPERATOR_LOOKUPS_PER_MINUTE per operator) and audited, so an operator's account
cannot walk through numbers unseen. A call goes through intake's service path, as the desk's phone form does."""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..config import FALLBACK_LANGUAGE
from ..extensions import db
from ..models import Appeal, Category, Channel, Question, QuestionStatus, User, utcnow
from . import appeals, blocking, channels, desk, intake, limits, privacy, similarity
from .audit import audit
from .changes import Change
from ..errors import ValidationError
from .fields import Limit, chat_contact, mask_contact, normalise_contact, parse_id, valid_client_id

FOUND_MAX = 20  # a caller's appeals shown, newest first
QUEUE_MAX = 30
S = QuestionStatus


def caller_number(value) -> str:
    """The caller's phone number in E.164 from what the operator typed (8 701…, +7 (701)…, 701…), or
    ValidationError on the "phone" field."""
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise ValidationError(fields={"phone": _l("Enter the caller's phone number.")})
    if "@" in value or len(value) > Limit.TYPED_PHONE:
        raise ValidationError(fields={"phone": _l("This phone number is not valid.")})
    try:
        return normalise_contact(value, current_app.config["PHONE_REGION"])
    except ValueError as exc:
        raise ValidationError(fields={"phone": exc.args[0]}) from None




def appeals_of_caller(phone_typed, *, actor: User) -> tuple[str, list[Appeal]]:
    """The caller's number (E.164) and the appeals that number sent: typed as a contact (web, phone, API) or
    the WhatsApp chat of that number; newest first. Counted and audited."""
    phone = caller_number(phone_typed)
    limits.count_operator_lookup(actor.id)
    contacts = [phone, chat_contact(Channel.WHATSAPP.value, phone.lstrip("+"))]
    found = list(db.session.scalars(select(Appeal).where(Appeal.contact.in_(contacts))
                                    .order_by(Appeal.id.desc()).limit(FOUND_MAX)))
    audit(actor, "operator_lookup", None, None, by="phone", phone=mask_contact(phone), found=len(found))
    db.session.commit()
    return phone, found


def appeal_by_number(code, *, actor: User) -> Appeal | None:
    """The appeal with this tracking number (what its status reads to anyone with the number), or None.
    Counted and audited, the number included."""
    code = code.strip().upper() if isinstance(code, str) else ""
    if not code or len(code) > Limit.TRACKING_CODE:
        raise ValidationError(fields={"code": _l("Enter a tracking number.")})
    limits.count_operator_lookup(actor.id)
    appeal = appeals.by_code(code)
    audit(actor, "operator_lookup", None, None, by="number", code=code, found=int(appeal is not None))
    db.session.commit()
    return appeal


def _category(value) -> Category | None:
    if value in (None, ""):
        return None
    category_id = parse_id(value)
    category = db.session.get(Category, category_id) if category_id else None
    if category is None:
        raise ValidationError(fields={"category_id": _l("This category does not exist.")})
    return category


def take_call(data: dict, *, actor: User, default_language: str = FALLBACK_LANGUAGE) -> tuple[Appeal, Question | None, Change | None]:
    """Take a caller's question: into the live broadcast's queue (its pre-moderation applies) when the
    operator says so and one is live, else an appeal for the back office. The number is kept only with the
    caller's oral consent; it is checked against the blocked senders and the per-sender limit either way.
    Returns the appeal, its question (None for the back office) and the Change to publish (None on a retry)."""
    errors: dict = {}
    phone = ""
    if isinstance(data.get("phone"), str) and data["phone"].strip():
        try:
            phone = caller_number(data["phone"])
        except ValidationError as exc:
            errors.update(exc.fields)
    try:
        category = _category(data.get("category_id"))
    except ValidationError as exc:
        errors.update(exc.fields)
        category = None
    if errors:
        raise ValidationError(fields=errors)
    consent = privacy.given(data.get("consent"))
    client_id = data.get("client_id") or uuid.uuid4().hex
    payload = {"text": data.get("text"), "author_name": data.get("author_name"), "district": data.get("district"),
               "contact": phone if consent else "", "consent": consent, "show_name": data.get("show_name"),
               "client_id": client_id}
    if data.get("language"):
        payload["language"] = data["language"]
    broadcast = channels.live_broadcast() if privacy.given(data.get("to_broadcast")) else None
    if broadcast is not None:
        # a blocked caller is kept off the live broadcast; the office still registers the call as an appeal
        # for the back office (untick "for the live broadcast"): refusing to accept an appeal is prohibited
        # (APPK art. 64(1)), so a block never stops the back-office path
        if blocking.is_blocked([blocking.contact_identity(phone)]):
            raise BlockedCaller()
        prepared = intake.prepare_submission(broadcast, payload, channel=Channel.PHONE, default_language=default_language,
                                             actor=actor, caller=phone)
        if isinstance(prepared, Question):
            return prepared.appeal, prepared, None
        limits.count_caller(phone)
        if phone and not payload["contact"]:  # the number is not kept: its blocking key is, for staff to block
            prepared.on_stored = lambda question: setattr(question.appeal, "sender_key", blocking.sender_key(phone))
        question, change = intake.store_one(prepared)
        if change is not None and category is not None:
            question.category_id = category.id
            appeals.categorize(question.appeal, category.id, actor=actor)
        return question.appeal, question, change
    return _to_back_office(payload, phone, category, actor=actor, default_language=default_language), None, None


class BlockedCaller(blocking.Blocked):
    """Said to the operator, not to the caller: what to do instead."""

    default_message = _l("This caller is blocked from the live broadcast. Untick \"for the live broadcast\": "
                         "the call is registered as an appeal for the back office.")


def _to_back_office(payload: dict, phone: str, category: Category | None, *, actor: User,
                    default_language: str) -> Appeal:
    client_id = payload["client_id"]
    if not valid_client_id(client_id):
        raise ValidationError(fields={"client_id": _l("Invalid client id.")})
    existing = db.session.execute(select(Appeal).where(
        Appeal.channel == Channel.PHONE.value, Appeal.client_id == client_id, Appeal.accepted_by_id == actor.id)
    ).scalar_one_or_none()
    if existing is not None:  # the same form sent twice (a double Enter, a retry)
        return existing
    fields = intake.validate_submission(None, payload, default_language)
    limits.count_caller(phone)
    consent = privacy.consent_fields(bool(fields["consent_at"]), True, Channel.PHONE.value)
    appeal = appeals._new_appeal(utcnow(), channel=Channel.PHONE.value, client_id=client_id, accepted_by_id=actor.id,
                                 text=fields["text"], author_name=fields["author_name"], district=fields["district"],
                                 contact=fields["contact"], language=fields["language"],
                                 sender_key="" if fields["contact"] else blocking.sender_key(phone),
                                 follow_up=appeals.is_statutory(fields["author_name"], fields["contact"]),
                                 **(consent if fields["consent_at"] else {}))
    if category is not None:
        appeals._route(appeal, category, actor)
    audit(actor, "operator_call", None, None, appeal=appeal.id, code=appeal.tracking_code)
    db.session.commit()
    return appeal


def suggested_category(text) -> int | None:
    """The category a question's words suggest (the desk's keyword rules), or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    rules = similarity.category_rules(desk.categories())
    return similarity.suggest_category(similarity.fingerprint(text[:current_app.config["QUESTION_MAX_LENGTH"]]), rules) if rules else None


def district_suggestions(limit: int = 40) -> list[str]:
    """Districts to offer as the operator types: the office's own names, then those most typed this year."""
    from .reports import known_districts
    names = list(dict.fromkeys(known_districts().values()))
    typed = db.session.execute(select(Appeal.district, func.count()).where(
        Appeal.district != "", Appeal.received_at > utcnow() - timedelta(days=365))
        .group_by(Appeal.district).order_by(func.count().desc()).limit(limit)).all()
    for district, _n in typed:
        if district not in names:
            names.append(district)
    return names[:limit]


def live_queue():
    """The live broadcast and what the speaker will take: the question on air, the queue in order, and how
    many wait for moderation or approval; None when nothing is live. Read-only."""
    broadcast = channels.live_broadcast()
    if broadcast is None:
        return None
    on_air, queued = desk.prompter_questions(broadcast, upcoming=QUEUE_MAX)
    waiting = dict(db.session.execute(select(Question.status, func.count()).where(
        Question.broadcast_id == broadcast.id, Question.status.in_([S.PENDING.value, S.APPROVED.value]))
        .group_by(Question.status)).all())
    return {"broadcast": broadcast, "on_air": on_air, "queued": queued,
            "pending": waiting.get(S.PENDING.value, 0), "approved": waiting.get(S.APPROVED.value, 0)}
