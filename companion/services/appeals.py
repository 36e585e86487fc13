"""The appeal's life after the broadcast: registration, routing, the statutory clock, answers.

Every transition goes through one table, records who/when/what in the appeal's history, and is
refused with a reason (InvalidTransition, 409) when the appeal's status does not allow it."""
from __future__ import annotations

import hmac
import re
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import (ACCESS_CODE_ALPHABET, FINISHED_APPEAL_STATUSES, LANGUAGES, Appeal, ApiKey,
                      AppealEvent, AppealForm, AppealStatus, AppealType, Category, Channel, Department, Question, Role,
                      User, new_access_code, utcnow)
from ..permissions import can, may_see_appeal
from . import blocking, deadlines, fields, outbox, topics
from .audit import audit
from .recent import recent_calendar
from .consent import consent_fields
from .language import detect_language
from .wording import GROUND_NAMES, LEAVE_GROUNDS
from ..errors import Forbidden, InvalidTransition, NotFound, StaleVersion, ValidationError
from .database import APPEAL_CHANGED
from .fields import (UNSTORABLE_MESSAGE, Limit, at_most_characters, normalise_contact, parse_id, parse_version,
                     storable)

A = AppealStatus
OPEN = frozenset({A.REGISTERED, A.ASSIGNED, A.IN_PROGRESS, A.EXTENDED})

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset, AppealStatus]] = {
    "assign": (frozenset({A.REGISTERED, A.ANSWERED_ON_AIR}), A.ASSIGNED),
    "start": (frozenset({A.ASSIGNED, A.ANSWERED_ON_AIR}), A.IN_PROGRESS),
    "answer": (frozenset({A.ASSIGNED, A.IN_PROGRESS, A.EXTENDED, A.ANSWERED_ON_AIR}), A.ANSWERED),
    "answer_on_air": (OPEN, A.ANSWERED_ON_AIR),
    "extend": (OPEN, A.EXTENDED),
    "forward": (OPEN, A.FORWARDED),
    "leave": (OPEN, A.LEFT_WITHOUT_CONSIDERATION),
    "close": (frozenset({A.ANSWERED, A.ANSWERED_ON_AIR}), A.CLOSED),
    # a report of a crime being prepared or committed, or of a threat to state or public security:
    # forwarded at once, a question only too (the law's one exception for anonymous appeals)
    "forward_immediately": (OPEN | {A.ANSWERED_ON_AIR, A.LEFT_WITHOUT_CONSIDERATION}, A.FORWARDED),
    # a moderator restoring a question rejected by mistake brings its appeal back (to the status it left)
    "reopen": (frozenset({A.LEFT_WITHOUT_CONSIDERATION}), A.REGISTERED),
    # the applicant takes the appeal back (APPK art. 64, "возврат и отзыв"): while a written answer is still due
    "withdraw": (OPEN | {A.ANSWERED_ON_AIR}, A.WITHDRAWN),
}
# changing department or officer without changing the status
REASSIGNABLE = OPEN

# what the resident's page and the back office call an answer on air that still owes the written answer
ANSWERED_ON_AIR_WRITTEN_DUE = _l("answered on air, written answer due")
STATUS_LABELS = {
    A.REGISTERED: _l("registered"), A.ASSIGNED: _l("assigned to a department"), A.IN_PROGRESS: _l("in progress"),
    A.EXTENDED: _l("term extended"), A.ANSWERED: _l("answered"), A.ANSWERED_ON_AIR: _l("answered on air"),
    A.CLOSED: _l("closed"), A.FORWARDED: _l("forwarded to another body"),
    A.LEFT_WITHOUT_CONSIDERATION: _l("left without consideration"), A.WITHDRAWN: _l("withdrawn by the applicant"),
}
# the statutory grounds to leave an appeal without consideration (LEAVE_GROUNDS, and GROUND_NAMES as staff
# name them) are in services/wording.py
# a question off topic for the broadcast leaves the live desk only: its appeal is considered as usual
NOT_FOR_BROADCAST = "not_for_broadcast"
TYPE_LABELS = {
    AppealType.STATEMENT: _l("statement"), AppealType.COMPLAINT: _l("complaint"), AppealType.PROPOSAL: _l("proposal"),
    AppealType.RESPONSE: _l("response"), AppealType.REQUEST: _l("request"),
}
FORM_LABELS = {AppealForm.ORAL: _l("oral"), AppealForm.WRITTEN: _l("written"), AppealForm.ELECTRONIC: _l("electronic")}
# a caller says the appeal aloud; the web, the API and Open311 bring it electronically (paper: the officer sets it)
CHANNEL_FORMS = {Channel.PHONE: AppealForm.ORAL}
# an appeal is a repeat when the same contact sent one in the same category within this period before it
REPEAT_WINDOW = relativedelta(months=12)
# how a withdrawal reached the office
# how staff record that the applicant withdrew the appeal; "web" is the applicant's own button on the track page
STAFF_WITHDRAWAL_MEANS = {"phone": _l("by phone"), "paper": _l("in writing")}
WITHDRAWAL_MEANS = ("web", *STAFF_WITHDRAWAL_MEANS)
# how an officer gave the applicant a notice that could not be e-mailed (services.notices.record_told)
NOTICE_MEANS = {"phone": _l("by phone"), "sms": _l("by text message"), "letter": _l("by letter"),
                "in_person": _l("in person"), "email": _l("by e-mail from the office's mailbox")}
ACTION_LABELS = {
    "register": _l("Registered"), "assign": _l("Assigned"), "reassign": _l("Reassigned"), "route": _l("Routed by category"),
    "start": _l("Work started"), "answer": _l("Answered"), "answer_on_air": _l("Answered on air"),
    "extend": _l("Term extended"), "extension_proposed": _l("Extension proposed"),
    "extension_declined": _l("Extension declined"), "forward": _l("Forwarded"), "leave": _l("Left without consideration"),
    "forward_immediately": _l("Forwarded immediately (crime or threat to security)"),
    "close": _l("Closed"), "reopen": _l("Reopened"), "follow_up": _l("Follow-up flagged"),
    "follow_up_off": _l("Follow-up cleared"), "notice_sent": _l("Notice e-mailed to the applicant"),
    "notice_failed": _l("E-mail notice failed"), "notice_due": _l("Notice to give the applicant by phone or in writing"),
    "comment": _l("Internal note"),
    "withdraw": _l("Withdrawn by the applicant"), "record": _l("Record details changed"),
    "not_for_broadcast": _l("Not taken on air: considered in the usual way"),
    "desk_restored": _l("Back on the live desk"),
    "consent_withdrawn": _l("Consent to personal data withdrawn: name and contact erased"),
    "merged": _l("Merged into a similar question"), "merged_in": _l("Similar questions merged into this one"),
    "unmerged": _l("Merge undone"), "unmerged_out": _l("A merged question was separated again"),
    "channel_notice_sent": _l("Notice sent to the applicant's chat"),
    "channel_notice_dead": _l("Notice to the applicant's chat could not be sent"),
}

CHANNEL_LABELS = {
    Channel.WEB: _l("website"), Channel.PHONE: _l("phone"), Channel.API: _l("API"),
    Channel.OPEN311: _l("Open311 integration"), Channel.TELEGRAM: _l("Telegram"),
    Channel.WHATSAPP: _l("WhatsApp"),
}
# the same steps with the other appeal's tracking code (detail "code", or "codes" for a group)
CODED_LABELS = {
    "merged": _l("Merged into %(code)s"), "merged_in": _l("%(code)s merged into this one"),
    "unmerged": _l("Merge into %(code)s undone"), "unmerged_out": _l("%(code)s separated from this one again"),
}


def event_label(event: AppealEvent) -> str:
    """What a step of the history says, in the current language (merges name the other appeal)."""
    if event.action in topics.EVENT_LABELS:
        return topics.event_label(event, str(get_locale() or current_app.config["DEFAULT_LOCALE"]))
    codes = event.detail.get("codes") or ([event.detail["code"]] if event.detail.get("code") else [])
    if event.action in CODED_LABELS and codes:
        return str(CODED_LABELS[event.action]) % {"code": ", ".join(codes)}
    if event.action == "not_for_broadcast" and event.appeal is not None and event.appeal.statutory is False:
        return str(_l("Not taken on air: kept on record; a question only, so no official answer is due"))
    if event.action == "notice_given":
        means = NOTICE_MEANS.get(event.detail.get("means"))
        return str(_l("The applicant was told %(means)s", means=means) if means else _l("The applicant was told"))
    return str(ACTION_LABELS.get(event.action, event.action))


def channel_label(channel: str) -> str:
    """The receiving channel in the current language (an unknown one as stored)."""
    label = CHANNEL_LABELS.get(channel)
    return str(label) if label is not None else channel


def status_label(status: str, follow_up: bool = False) -> str:
    """The appeal status in the current language (an answer on air with follow-up still owes the written one)."""
    if follow_up and status == A.ANSWERED_ON_AIR:
        return str(ANSWERED_ON_AIR_WRITTEN_DUE)
    return str(STATUS_LABELS[A(status)])


def form_of_channel(channel: str) -> str:
    """The form of an appeal that came through `channel`: oral for a caller, electronic otherwise."""
    return CHANNEL_FORMS.get(channel, AppealForm.ELECTRONIC).value


def is_statutory(author_name: str | None, contact: str | None) -> bool:
    """The one rule of what is an appeal under the APPK: a question with a name and a contact (a phone
    or an e-mail, already validated) is one, under the statutory clock; any other is a question only."""
    return bool((author_name or "").strip()) and bool((contact or "").strip())


def _event_values(appeal: Appeal, action: str, actor: User | None, *, note: str = "", from_status: str = "",
                  public: bool = True, **detail) -> dict:
    return dict(appeal_id=appeal.id, action=action, actor_id=actor.id if actor else None, note=note,
                from_status=from_status, to_status=appeal.status, public=public, detail=detail, at=utcnow())


def _record(appeal: Appeal, action: str, actor: User | None, **options) -> AppealEvent:
    event = AppealEvent(appeal=appeal, **_event_values(appeal, action, actor, **options))
    db.session.add(event)
    return event


def make_tracking_code(appeal: Appeal) -> str:
    """The tracking code of a stored appeal, by the configured format: one number for question and appeal."""
    cfg = current_app.config
    return cfg["TRACKING_FORMAT"].format(prefix=cfg["TRACKING_PREFIX"], year=appeal.received_at.year,
                                         number=appeal.id)


def _new_appeals(received: list, calendar: deadlines.WorkCalendar | None, fields: list[dict]) -> list[Appeal]:
    """Register several appeals with one INSERT and one more for their first events: received
    times, and each appeal's own column values (with question_id when there are several).
    A bulk INSERT ... RETURNING: the unit of work's per-object bookkeeping was most of a batch's cost."""
    calendar = calendar or recent_calendar()
    rows = []
    for moment, own in zip(received, fields):
        start = deadlines.term_start(moment, calendar)
        due = deadlines.answer_due(start, calendar)
        statutory = is_statutory(own.get("author_name"), own.get("contact"))
        # a question only keeps the dates (the list's order) but they are never shown nor counted
        rows.append(dict(received_at=moment, registered_on=deadlines.registration_day(moment, calendar),
                         due_date=due, original_due_date=due, forward_due_date=deadlines.forward_due(start, calendar),
                         status=A.REGISTERED.value, statutory=statutory, clock_running=statutory, updated_at=moment,
                         access_code=new_access_code(), **{"form": form_of_channel(own.get("channel", "")), **own}))
    appeals = list(db.session.scalars(insert(Appeal).returning(Appeal), rows))
    if len(appeals) > 1:  # rows come back in no set order (see store_submissions): match them by question
        by_question = {appeal.question_id: appeal for appeal in appeals}
        appeals = [by_question[row["question_id"]] for row in rows]
    db.session.execute(insert(AppealEvent.__table__),  # plain Core: nothing to load back
                       [_event_values(appeal, "register", None) for appeal in appeals])
    _write_tracking_codes(Appeal, appeals, [make_tracking_code(appeal) for appeal in appeals])
    topics.suggest_new(appeals)  # the topics the rules suggest, as staff will see them on the appeal's page
    return appeals


def _write_tracking_codes(model, rows: list, codes: list[str]) -> None:
    """Give inserted rows their tracking codes with one UPDATE statement for all (the unit of work
    would track and write each row's change one by one)."""
    for row, code in zip(rows, codes):
        set_committed_value(row, "tracking_code", code)
    table = model.__table__
    db.session.execute(update(table).where(table.c.id == bindparam("row_id"))
                       .values(tracking_code=bindparam("code")),
                       [{"row_id": row.id, "code": code} for row, code in zip(rows, codes)])


def _new_appeal(received, calendar: deadlines.WorkCalendar | None = None, **fields) -> Appeal:
    return _new_appeals([received], calendar, [fields])[0]


def register_questions(questions: list[Question], origins: list[dict] | None = None) -> list[Appeal]:
    """Register the appeals (or questions only) of questions just stored (same transaction); each
    question takes its appeal's tracking code: one number for both. `origins` (one per question, from
    `origin_fields` plus `accepted_by_id`) carry an import's own time of receipt, system and number.
    An appeal starts with follow-up on: an answer on air does not replace the written answer its
    contact asks for."""
    origins = [dict(o) for o in origins] if origins else [{} for _ in questions]
    received = [o.pop("received_at", None) or q.created_at for q, o in zip(questions, origins)]
    appeals = _new_appeals(received, None, [
        dict(question_id=q.id, broadcast_id=q.broadcast_id, channel=q.channel, language=q.language,
             text=q.text, author_name=q.author_name, district=q.district, contact=q.contact,
             follow_up=is_statutory(q.author_name, q.contact), consent_version=q.consent_version,
             consent_at=q.consent_at, consent_form=q.consent_form, **o)
        for q, o in zip(questions, origins)])
    for question, appeal in zip(questions, appeals):  # the link, known without a query
        # one side only: with both, each pair would be a reference cycle that only the cyclic
        # garbage collector frees (a pause per some thousand questions); appeal.question loads on use
        set_committed_value(question, "appeal", appeal)
    _write_tracking_codes(Question, questions, [appeal.tracking_code for appeal in appeals])
    return appeals


DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def coordinate(value, bound: float) -> float | None:
    """A latitude (bound 90) or longitude (bound 180) as a finite float in [-bound, bound], else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, str) and not DECIMAL.fullmatch(value.strip()):  # float() takes "1_0" and "٣"
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # OverflowError: an int past the floats (10**400)
        return None
    return number if -bound <= number <= bound else None  # never true for inf or nan


def validate_appeal(data: dict) -> dict:
    """Clean the fields of an appeal from another channel (Open311) or raise ValidationError naming each
    (NotFound for a service_code no category has, as GeoReport v2 asks).

    GeoReport v2's rules: a service_code; a location (lat and long together, or address_string, or
    address_id); a description of at most OPEN311_DESCRIPTION_MAX_LENGTH characters. The spec makes the
    description optional, but an appeal is registered and answered by its text: one without is refused."""

    errors: dict = {}
    fields: dict = {}
    text = (data.get("description") or "").strip() if isinstance(data.get("description"), str) else ""
    limit = current_app.config["OPEN311_DESCRIPTION_MAX_LENGTH"]
    if text and not storable(data["description"]):
        errors["description"] = UNSTORABLE_MESSAGE
    elif not text:
        errors["description"] = _l("Please describe the request.")
    elif len(text) > limit:
        errors["description"] = at_most_characters(limit)
    fields["text"] = text
    for key, limit in (("author_name", Limit.AUTHOR_NAME), ("district", Limit.DISTRICT), ("address", Limit.ADDRESS)):
        value = data.get(key) or ""
        if not isinstance(value, str) or len(value.strip()) > limit:
            errors[key] = at_most_characters(limit)
        elif not storable(value):
            errors[key] = UNSTORABLE_MESSAGE
        else:
            fields[key] = value.strip()
    contact = data.get("contact") or ""
    if contact and not storable(str(contact)):
        errors["contact"] = UNSTORABLE_MESSAGE
    elif contact:
        try:
            fields["contact"] = normalise_contact(str(contact), current_app.config["PHONE_REGION"])
        except ValueError as exc:
            errors["contact"] = exc.args[0]
    # the sender's language, else the description's (an answer goes in the appeal's language), else the office's
    language = data.get("language") or detect_language(str(data.get("description") or "")) or current_app.config["DEFAULT_LOCALE"]
    if language not in LANGUAGES:
        errors["language"] = _l("Unknown language.")
    fields["language"] = language
    given = {key: data.get(key) not in (None, "") for key in ("lat", "long")}
    for key, bound in (("lat", 90), ("long", 180)):
        value = data.get(key)
        if given[key]:
            number = coordinate(value, bound)
            if number is None:  # "inf" and "nan" included: they would make the Open311 listing invalid JSON
                errors[key] = _l("Enter a number from %(low)s to %(high)s.", low=-bound, high=bound)
            else:
                fields[key] = number
    if given["lat"] != given["long"]:  # a point needs both: one alone is no location
        missing = "long" if given["lat"] else "lat"
        errors.setdefault(missing, _l("Send lat and long together."))
    elif not given["lat"] and not fields.get("address") and data.get("address_id") in (None, "") \
            and "address" not in errors:
        errors["location"] = _l("Send a location: lat and long, address_string or address_id.")
    code = data.get("service_code")
    if code in (None, ""):
        errors["service_code"] = _l("Choose a service: service_code is required.")
    else:
        category_id = parse_id(code)
        category = db.session.get(Category, category_id) if category_id else None
        if category is None:
            raise NotFound(fields={"service_code": _l("This category does not exist.")})
        fields["category"] = category
    if errors:
        raise ValidationError(fields=errors)
    return fields


ATTRIBUTE_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,%d}" % Limit.ATTRIBUTE_CODE, re.ASCII)
# an http(s) address of RFC 3986's characters only (no space, quote, <, >, backslash: the Nu checker and
# every HTML attribute take it as it is)
WEB_ADDRESS = re.compile(r"https?://[A-Za-z0-9\-._~%!$&'()*+,;=:@\[\]]+(?:[/?#][A-Za-z0-9\-._~%!$&'()*+,;=:@/?#\[\]]*)?",
                         re.IGNORECASE | re.ASCII)


def validate_extra(extra: dict) -> dict | None:
    """Clean what an Open311 client sent beyond the appeal's fields, kept as sent for staff: media_url
    (http or https addresses), attributes ({code: value or [values]}), device_id, account_id, address_id.
    Raises ValidationError naming each bad field; None when nothing was sent."""
    errors: dict = {}
    clean: dict = {}
    for key in ("device_id", "account_id", "address_id"):
        value = extra.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not storable(str(value)):
            errors[key] = UNSTORABLE_MESSAGE
        elif len(str(value).strip()) > Limit.EXTRA_ID:
            errors[key] = at_most_characters(Limit.EXTRA_ID)
        else:
            clean[key] = str(value).strip()
    urls = extra.get("media_url") or []
    urls = [urls] if isinstance(urls, str) else urls
    if not isinstance(urls, list) or len(urls) > Limit.MEDIA_URLS:
        errors["media_url"] = _l("At most %(n)s web addresses.", n=Limit.MEDIA_URLS)
    else:
        urls = [u.strip() for u in urls if isinstance(u, str) and u.strip()] if all(
            isinstance(u, str) for u in urls) else None
        if urls is not None and any(len(u) > Limit.MEDIA_URL for u in urls):
            errors["media_url"] = at_most_characters(Limit.MEDIA_URL)
        elif urls is None or any(not storable(u) or not WEB_ADDRESS.fullmatch(u) for u in urls):
            errors["media_url"] = _l("Enter a web address starting with http:// or https://.")
        elif urls:
            clean["media_url"] = urls
    attributes = extra.get("attributes") or {}
    if not isinstance(attributes, dict) or len(attributes) > Limit.ATTRIBUTES:
        errors["attribute"] = _l("At most %(n)s attributes.", n=Limit.ATTRIBUTES)
    else:
        kept = {}
        for code, value in attributes.items():
            name = f"attribute[{code}]"
            values = value if isinstance(value, list) else [value]
            if not isinstance(code, str) or not ATTRIBUTE_CODE.fullmatch(code):
                errors[name[:Limit.ATTRIBUTE_CODE + 16]] = _l(
                    "An attribute's code: Latin letters, digits and _ . : -, at most %(n)s.", n=Limit.ATTRIBUTE_CODE)
            elif len(values) > Limit.ATTRIBUTES or not all(
                    isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
                errors[name] = _l("Expected a text value or a list of them.")
            elif any(not storable(str(v)) for v in values):
                errors[name] = UNSTORABLE_MESSAGE
            elif any(len(str(v)) > Limit.ATTRIBUTE_VALUE for v in values):
                errors[name] = at_most_characters(Limit.ATTRIBUTE_VALUE)
            else:
                kept[code] = [str(v) for v in value] if isinstance(value, list) else str(value)
        if kept:
            clean["attributes"] = kept
    if errors:
        raise ValidationError(fields=errors)
    return clean or None


def origin_fields(data: dict, api_key: ApiKey | None) -> dict:
    """Where an appeal from another system comes from: that system (its API key's name), its own number
    (`external_id`) and its original time of receipt (`received_at`, ISO 8601 with a zone; the clock
    starts there). Without a key these fields are refused: only an integrator can vouch for them."""
    given = [key for key in ("received_at", "external_id") if data.get(key) not in (None, "")]
    if api_key is None:
        if given:
            raise ValidationError(fields={key: _l("Only a system with an API key may send this field.")
                                          for key in given})
        return {}
    fields: dict = {"source_system": api_key.name[:120]}
    errors: dict = {}
    external = data.get("external_id")
    if external not in (None, ""):
        if (not isinstance(external, (str, int)) or isinstance(external, bool) or not storable(str(external))
                or not str(external).strip() or len(str(external).strip()) > Limit.EXTERNAL_ID):
            errors["external_id"] = _l("The sending system's number: text of at most %(n)s characters.",
                                       n=Limit.EXTERNAL_ID)
        else:
            fields["external_id"] = str(external).strip()
    if data.get("received_at") not in (None, ""):
        try:
            fields["received_at"] = deadlines.parse_received_at(data["received_at"])
        except ValidationError as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationError(fields=errors)
    return fields


def create_appeal(data: dict, *, api_key: ApiKey, channel: str = Channel.OPEN311, client_id: str | None = None,
                  actor: User | None = None, extra: dict | None = None,
                  retry_window: timedelta | None = None) -> tuple[Appeal, bool]:
    """Register an appeal an integrator filed with its key; returns it and whether it is new (a client_id
    this key used before is not; another key's copy of it is another appeal). `extra` is what the client
    sent beyond the appeal's fields (validate_extra). Without a client_id, a request from the same key with
    the same service, description, name and contact registered within `retry_window` is taken for a
    retry of it: clients such as FixMyStreet send no id and retry when they cannot read the receipt."""
    if client_id:
        existing = _by_client_id(channel, api_key, client_id)
        if existing is not None:
            return existing, False
    errors: dict = {}
    fields, origin, kept = {}, {}, {}
    for check, into in ((lambda: validate_appeal(data), fields), (lambda: origin_fields(data, api_key), origin),
                        (lambda: {"extra": validate_extra(extra or {})}, kept)):
        try:
            into.update(check())
        except ValidationError as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationError(fields=errors)
    # a block keeps a sender's messages out; an appeal with a name and a contact is registered whatever the
    # block (refusing to accept an appeal is prohibited, APPK art. 64(1)): staff deal with abuse in it
    if not is_statutory(fields.get("author_name"), fields.get("contact")):
        blocking.refuse_blocked([blocking.contact_identity(fields.get("contact", ""))])
    category = fields.pop("category", None)
    if not client_id and retry_window:
        existing = _recent_twin(channel, api_key, category, fields, retry_window)
        if existing is not None:
            return existing, False
    received = origin.pop("received_at", None) or utcnow()
    # GeoReport v2 has no consent field: the integrator's key is issued on its undertaking to collect the
    # applicant's consent, so a name or a contact it sends is recorded as consent declared by that system
    consent = consent_fields(True, bool(fields.get("author_name") or fields.get("contact")), str(channel))
    try:
        appeal = _new_appeal(received, channel=str(channel), client_id=client_id or None, api_key_id=api_key.id,
                             open311_extra=kept["extra"], **consent, **fields, **origin)
        if category is not None:
            _route(appeal, category, actor)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = _by_client_id(channel, api_key, client_id) if client_id else None
        if existing is None:
            raise
        return existing, False
    return appeal, True


def _recent_twin(channel: str, api_key: ApiKey, category: Category | None, fields: dict,
                 window: timedelta) -> Appeal | None:
    """The first appeal this key filed without a client_id within `window` (by its registration, not an
    import's own time of receipt) with the same service, text, name, contact and place, or None."""
    registered = (select(AppealEvent.appeal_id).where(AppealEvent.action == "register",
                                                      AppealEvent.at >= utcnow() - window))
    return db.session.execute(
        select(Appeal).where(Appeal.channel == str(channel), Appeal.api_key_id == api_key.id,
                             Appeal.client_id.is_(None),
                             Appeal.category_id == (category.id if category is not None else None),
                             Appeal.text == fields["text"], Appeal.contact == fields.get("contact", ""),
                             Appeal.author_name == fields.get("author_name", ""), Appeal.id.in_(registered),
                             # the same place too: one resident's two reports with the same words are two reports
                             Appeal.address == fields.get("address", ""),
                             *(column.is_(None) if fields.get(key) is None else column == fields[key]
                               for key, column in (("lat", Appeal.lat), ("long", Appeal.long))))
        .order_by(Appeal.id).limit(1)).scalar_one_or_none()


def _by_client_id(channel: str, api_key: ApiKey, client_id: str) -> Appeal | None:
    return db.session.execute(select(Appeal).where(Appeal.channel == str(channel), Appeal.api_key_id == api_key.id,
                                                   Appeal.client_id == client_id)).scalar_one_or_none()


def by_code(code: str) -> Appeal | None:
    """The appeal with this tracking code (case-insensitive), or None: for staff; the public also needs
    the access code (`by_public_address`)."""
    return db.session.execute(select(Appeal).where(Appeal.tracking_code == (code or "").strip().upper())
                              ).scalar_one_or_none()


def normalise_access_code(value) -> str:
    """An access code as typed (any case, with dashes or spaces) in its stored form; "" when it cannot be one."""
    if not isinstance(value, str):
        return ""
    value = "".join(value.split()).replace("-", "").lower()
    return value if len(value) <= 64 and all(c in ACCESS_CODE_ALPHABET for c in value) else ""


def access_code_matches(appeal: Appeal, given) -> bool:
    """True when `given` is this appeal's access code (compared in constant time)."""
    given = normalise_access_code(given)
    return bool(appeal.access_code) and hmac.compare_digest(appeal.access_code.encode(), given.encode())


def by_public_address(code: str, access_code) -> Appeal | None:
    """The appeal at the resident's address (tracking code and access code), or None when either is wrong."""
    appeal = by_code(code)
    if appeal is None or not access_code_matches(appeal, access_code):
        return None
    return appeal


def get_appeal(appeal_id, *, user: User | None = None, version=None) -> Appeal:
    """The appeal by id, checked against the user's department and the version the screen saw."""
    appeal_id = parse_id(appeal_id)
    appeal = db.session.get(Appeal, appeal_id) if appeal_id else None
    if appeal is None:
        raise NotFound(_l("This appeal does not exist."))
    if user is not None and not may_see_appeal(user, appeal):
        raise Forbidden(_l("This appeal belongs to another department."))
    seen = parse_version(version) if version not in (None, "") else appeal.version
    if seen is None:
        raise ValidationError(fields={"version": _l("Invalid version.")})
    if seen != appeal.version:
        raise StaleVersion(APPEAL_CHANGED,
                           current_version=appeal.version)
    return appeal


def _touch(appeal: Appeal) -> None:
    appeal.version += 1
    appeal.updated_at = utcnow()


def _sync_clock(appeal: Appeal) -> None:
    """Keep the indexed `clock_running` column equal to the rule (Appeal.clock_runs)."""
    appeal.clock_running = appeal.clock_runs


def _settle(appeal: Appeal) -> None:
    """Record how long the answer took and whether it was on time, once the answer concludes the appeal:
    a written answer, or an answer on air that owes none. A question only has no term to be on time for."""
    if appeal.status == A.ANSWERED or (appeal.status == A.ANSWERED_ON_AIR and not appeal.follow_up):
        answered = deadlines.local_date(appeal.answered_at or utcnow())
        appeal.days_to_answer = (answered - deadlines.local_date(appeal.received_at)).days
        appeal.answered_on_time = answered <= appeal.due_date if appeal.statutory is not False else None
    elif appeal.status == A.ANSWERED_ON_AIR:
        appeal.days_to_answer = appeal.answered_on_time = None


def _refuse(appeal: Appeal) -> InvalidTransition:
    return InvalidTransition(_l("Cannot do this: the appeal is %(status)s.",
                                status=status_label(appeal.status, appeal.follow_up)), status=appeal.status)


WRITTEN_ANSWER_DUE = _l("A written answer is still due: answer the appeal in writing to close it.")
NO_TERM = _l("A question only has no statutory term to extend.")


def _guard(appeal: Appeal, action: str) -> None:
    """The refusals beyond the table: an appeal answered on air closes only with its written answer;
    a question only has no term to extend."""
    if action == "close" and appeal.status == A.ANSWERED_ON_AIR and appeal.follow_up:
        raise InvalidTransition(WRITTEN_ANSWER_DUE, status=appeal.status)
    if action == "extend" and appeal.statutory is False:
        raise InvalidTransition(NO_TERM, status=appeal.status)


def allows(appeal: Appeal, action: str) -> bool:
    """True when the appeal's status allows `action` (TRANSITIONS; "assign" also reassigns an open appeal) and
    no rule beyond the table refuses it (`_guard`): the back office's page offers the steps this allows."""
    if appeal.status not in TRANSITIONS[action][0] and not (action == "assign" and appeal.status in REASSIGNABLE):
        return False
    try:
        _guard(appeal, action)
    except InvalidTransition:
        return False
    return True


def follow_up_settable(appeal: Appeal) -> bool:
    """True while follow-up may be flagged or cleared: the appeal is open, or answered on air."""
    return appeal.is_open or appeal.status == A.ANSWERED_ON_AIR


def _move(appeal: Appeal, action: str, actor: User | None, *, note: str = "", public: bool = True,
          **detail) -> AppealEvent:
    allowed, target = TRANSITIONS[action]
    if appeal.status not in allowed:
        raise _refuse(appeal)
    _guard(appeal, action)
    before = appeal.status
    _touch(appeal)
    appeal.status = target.value
    if target in (A.ANSWERED, A.ANSWERED_ON_AIR):
        appeal.answered_at = utcnow()
        _settle(appeal)
    if target in (A.CLOSED, A.FORWARDED, A.LEFT_WITHOUT_CONSIDERATION, A.WITHDRAWN):
        appeal.closed_at = utcnow()
    if target in FINISHED_APPEAL_STATUSES:  # a proposed extension of a finished appeal is moot
        appeal.proposed_due_date, appeal.proposed_reason, appeal.proposed_by_id = None, "", None
    if target == A.REGISTERED:
        appeal.closed_at = None
    _sync_clock(appeal)
    return _record(appeal, action, actor, note=note, from_status=before, public=public, **detail)


def _note(value, field: str, *, required: bool, limit: int = Limit.NOTE) -> str:
    return fields.text(value, field, limit, required=required)


def department_by_id(department_id) -> Department | None:
    """The department an id names (None for none given), or ValidationError on department_id."""
    if department_id in (None, ""):
        return None
    department_id = parse_id(department_id)
    department = db.session.get(Department, department_id) if department_id else None
    if department is None:
        raise ValidationError(fields={"department_id": _l("This department does not exist.")})
    return department


def _officer(officer_id, department: Department | None) -> User | None:
    if officer_id in (None, ""):
        return None
    officer_id = parse_id(officer_id)
    officer = db.session.get(User, officer_id) if officer_id else None
    if officer is None or officer.role != Role.OFFICER or not officer.active:
        raise ValidationError(fields={"officer_id": _l("This officer does not exist.")})
    if department is not None and officer.department_id != department.id:
        raise ValidationError(fields={"officer_id": _l("This officer works in another department.")})
    return officer


def _assign(appeal: Appeal, department: Department, officer: User | None, actor: User | None, *,
            action: str = "assign", note: str = "") -> None:
    detail = {"department_id": department.id, "officer_id": officer.id if officer else None}
    first = appeal.status in TRANSITIONS["assign"][0]
    if first:
        event = _move(appeal, "assign", actor, note=note, **detail)
        event.action = action
    elif appeal.status in REASSIGNABLE:
        _touch(appeal)
        _record(appeal, "reassign", actor, note=note, from_status=appeal.status, **detail)
    else:
        raise _refuse(appeal)
    appeal.department_id = department.id
    appeal.department = department
    appeal.officer_id = officer.id if officer else None
    if first:  # the applicant's chat is told where the appeal went (a reassignment is not a new step for them)
        outbox.enqueue_notice(appeal, "assign")


def _route(appeal: Appeal, category: Category, actor: User | None) -> None:
    appeal.category_id = category.id
    appeal.category = category
    _detect_repeat(appeal)
    if category.department_id is not None and appeal.department_id is None and appeal.status in TRANSITIONS["assign"][0]:
        _assign(appeal, category.department, None, actor, action="route")


def _detect_repeat(appeal: Appeal) -> None:
    """Flag the appeal a repeat when its contact sent another in the same category within REPEAT_WINDOW
    before it (detection only ever sets the flag; the officer may clear it)."""
    if appeal.repeat or not appeal.contact or appeal.category_id is None:
        return
    received = appeal.received_at
    earlier = db.session.execute(select(Appeal.id).where(
        Appeal.contact == appeal.contact, Appeal.category_id == appeal.category_id, Appeal.id != appeal.id,
        Appeal.received_at >= received - REPEAT_WINDOW, Appeal.received_at <= received).limit(1)).first()
    if earlier is not None:
        appeal.repeat = True


def assign(appeal: Appeal, department_id, officer_id=None, *, actor: User, note: str = "") -> Appeal:
    """Route an appeal to a department (and an officer); later calls change the assignment."""
    department = department_by_id(department_id)
    if department is None:
        raise ValidationError(fields={"department_id": _l("Choose a department.")})
    _assign(appeal, department, _officer(officer_id, department), actor, note=_note(note, "note", required=False))
    db.session.commit()
    return appeal


def bulk_assign(appeal_ids: list, department_id, officer_id=None, *, actor: User) -> int:
    """Assign many appeals at once: all of them or none (the first refusal names the appeal)."""
    department = department_by_id(department_id)
    if department is None:
        raise ValidationError(fields={"department_id": _l("Choose a department.")})
    officer = _officer(officer_id, department)
    if not appeal_ids:
        raise ValidationError(fields={"ids": _l("Select at least one appeal.")})
    try:
        for appeal_id in appeal_ids:
            appeal = get_appeal(appeal_id, user=actor)
            try:
                _assign(appeal, department, officer, actor)
            except InvalidTransition as exc:
                raise InvalidTransition(_l("%(code)s: %(reason)s", code=appeal.tracking_code, reason=exc.message),
                                        status=appeal.status) from None
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return len(appeal_ids)


def categorize(appeal: Appeal, category_id, *, actor: User | None) -> Appeal:
    """Set the appeal's category; a registered appeal is routed to the category's department."""
    category_id = parse_id(category_id)
    category = db.session.get(Category, category_id) if category_id else None
    if category is None:
        raise ValidationError(fields={"category_id": _l("This category does not exist.")})
    _touch(appeal)
    _route(appeal, category, actor)
    db.session.commit()
    return appeal


def start(appeal: Appeal, *, actor: User) -> Appeal:
    """An officer takes the appeal into work."""
    _move(appeal, "start", actor)
    db.session.commit()
    return appeal


def answer(appeal: Appeal, text: str, *, actor: User) -> Appeal:
    """Record the written answer (in the appeal's language) and mark the appeal answered."""
    text = _note(text, "answer", required=True, limit=Limit.ANSWER)
    _move(appeal, "answer", actor, language=appeal.language)
    appeal.answer = text
    outbox.enqueue_notice(appeal, "answer")
    db.session.commit()
    return appeal


def _require_head(actor: User | None) -> None:
    """Only the head of the office or a deputy decides an extension (APPK art. 76(2)); an admin is not the head."""
    if not can(actor, "decide_extension"):
        raise Forbidden(_l("Only the head of the office or a deputy decides an extension."))


def _new_due(appeal: Appeal, new_due) -> date:
    """A new due date for this appeal: later than the current one, at most two months from receipt."""
    if not isinstance(new_due, date):
        new_due = deadlines.parse_day(new_due, "due_date")
    if appeal.status not in TRANSITIONS["extend"][0] or appeal.statutory is False:
        _move(appeal, "extend", None)  # raises the refusal with the status named
    deadlines.check_extension(deadlines.local_date(appeal.received_at), appeal.due_date, new_due)
    return new_due


def _decide_extension(appeal: Appeal, new_due: date, reason: str, actor: User, proposed_by: User | None) -> None:
    """Move the due date by the head's decision; the applicant must be told within 3 working days."""
    previous = appeal.due_date
    appeal.due_date = new_due
    appeal.extension_reason = reason
    appeal.notice_due_date = deadlines.notice_due(deadlines.local_date(), deadlines.office_calendar())
    appeal.proposed_due_date, appeal.proposed_reason, appeal.proposed_by_id = None, "", None
    _move(appeal, "extend", actor, note=reason, previous_due=previous.isoformat(), due=new_due.isoformat(),
          decided_by=actor.id, decided_by_name=actor.display_name or actor.username,
          proposed_by=proposed_by.id if proposed_by else None,
          proposed_by_name=(proposed_by.display_name or proposed_by.username) if proposed_by else None)
    outbox.enqueue_notice(appeal, "extend")


def extend(appeal: Appeal, new_due, reason: str, *, actor: User) -> Appeal:
    """The head's own decision to extend the term (never past two months from receipt)."""
    _require_head(actor)
    reason = _note(reason, "reason", required=True, limit=Limit.REASON)
    _decide_extension(appeal, _new_due(appeal, new_due), reason, actor, actor)
    db.session.commit()
    return appeal


def propose_extension(appeal: Appeal, new_due, reason: str, *, actor: User) -> Appeal:
    """An officer proposes an extension (a date within the cap and a reason) for the head to decide."""
    reason = _note(reason, "reason", required=True, limit=Limit.REASON)
    new_due = _new_due(appeal, new_due)
    if appeal.proposed_due_date is not None:
        raise InvalidTransition(_l("An extension is already proposed; the head decides it first."),
                                status=appeal.status)
    _touch(appeal)
    appeal.proposed_due_date, appeal.proposed_reason, appeal.proposed_by_id = new_due, reason, actor.id
    appeal.proposed_by = actor
    _record(appeal, "extension_proposed", actor, note=reason, from_status=appeal.status, public=False,
            due=new_due.isoformat())
    db.session.commit()
    return appeal


def _proposal(appeal: Appeal, actor: User) -> User | None:
    """The proposer of the pending extension, after checking the actor is the head and one is pending."""
    _require_head(actor)
    if appeal.proposed_due_date is None:
        raise InvalidTransition(_l("No extension is proposed for this appeal."), status=appeal.status)
    return appeal.proposed_by


def approve_extension(appeal: Appeal, *, actor: User) -> Appeal:
    """The head approves the proposed extension: the due date moves, and the record names both people."""
    proposer = _proposal(appeal, actor)
    new_due = _new_due(appeal, appeal.proposed_due_date)  # checked again: the due date may have moved since
    _decide_extension(appeal, new_due, appeal.proposed_reason, actor, proposer)
    db.session.commit()
    return appeal


def decline_extension(appeal: Appeal, note: str, *, actor: User) -> Appeal:
    """The head declines the proposed extension with a note; the due date stays."""
    proposer = _proposal(appeal, actor)
    note = _note(note, "note", required=True, limit=Limit.STEP_NOTE)
    due = appeal.proposed_due_date
    _touch(appeal)
    appeal.proposed_due_date, appeal.proposed_reason, appeal.proposed_by_id = None, "", None
    _record(appeal, "extension_declined", actor, note=note, from_status=appeal.status, public=False,
            due=due.isoformat(), proposed_by=proposer.id if proposer else None,
            proposed_by_name=(proposer.display_name or proposer.username) if proposer else None)
    db.session.commit()
    return appeal


def forward(appeal: Appeal, body: str, note: str = "", *, actor: User) -> Appeal:
    """Forward an appeal outside the office's competence to the body that handles it."""
    body = _note(body, "forwarded_to", required=True, limit=Limit.FORWARDED_TO)
    note = _note(note, "note", required=False)
    late = deadlines.local_date() > appeal.forward_due_date
    _move(appeal, "forward", actor, note=note, forwarded_to=body, late=late)
    appeal.forwarded_to = body
    outbox.enqueue_notice(appeal, "forward")
    db.session.commit()
    return appeal


def _forward_immediately(appeal: Appeal, body, note: str, actor: User | None) -> None:
    """Forward at once a report of a crime being prepared or committed, or of a threat to state or public
    security, to the body named (a question only too: the law's exception); marked urgent, and audited."""
    body = _note(body, "forwarded_to", required=True, limit=Limit.FORWARDED_TO)
    note = _note(note, "note", required=False)
    _move(appeal, "forward_immediately", actor, note=note, forwarded_to=body, immediate=True)
    appeal.forwarded_to = body
    appeal.urgent = True
    outbox.enqueue_notice(appeal, "urgent")
    audit(actor, "forward_immediately", appeal.broadcast, appeal.question, appeal=appeal.tracking_code,
          forwarded_to=body)


def forward_immediately(appeal: Appeal, body: str, note: str = "", *, actor: User) -> Appeal:
    """Forward at once a report of a crime or of a threat to security to the body named (the back office)."""
    _forward_immediately(appeal, body, note, actor)
    db.session.commit()
    return appeal


def leave_ground(value) -> str:
    """A statutory ground to leave an appeal without consideration, or ValidationError naming the choices."""
    if not isinstance(value, str) or value not in LEAVE_GROUNDS:
        # named as people read them, with the code an integrator sends: "Spam (spam), ..."
        raise ValidationError(fields={"ground": _l("Choose one of the grounds the law allows: %(grounds)s.",
                                                   grounds=", ".join(f"{GROUND_NAMES[g]} ({g})" for g in LEAVE_GROUNDS))})
    return value


def _leave(appeal: Appeal, ground: str, note: str, actor: User | None) -> None:
    """Leave the appeal without consideration on `ground` (public); staff's own wording stays internal."""
    _move(appeal, "leave", actor, ground=ground)
    appeal.leave_ground = ground
    if note:
        _record(appeal, "comment", actor, note=note, from_status=appeal.status, public=False)
    outbox.enqueue_notice(appeal, "leave")


def leave_without_consideration(appeal: Appeal, ground, note: str = "", *, actor: User | None) -> Appeal:
    """Close an appeal without an answer on its merits, on a ground the law allows (and an optional internal note)."""
    ground = leave_ground(ground)
    _leave(appeal, ground, _note(note, "note", required=False, limit=Limit.STEP_NOTE), actor)
    db.session.commit()
    return appeal


def close(appeal: Appeal, *, actor: User) -> Appeal:
    """Close an answered appeal."""
    _move(appeal, "close", actor)
    db.session.commit()
    return appeal


def _reopen(appeal: Appeal, actor: User | None) -> None:
    """Undo leaving without consideration: the ground goes, and the appeal returns to the status it left."""
    left = next((e for e in reversed(appeal.events) if e.action == "leave"), None)
    event = _move(appeal, "reopen", actor)
    appeal.leave_ground = ""
    if left is not None and left.from_status in OPEN:
        appeal.status = left.from_status
        event.to_status = left.from_status
        _sync_clock(appeal)


def reopen(appeal: Appeal, *, actor: User | None) -> Appeal:
    """Bring back an appeal left without consideration by mistake."""
    _reopen(appeal, actor)
    db.session.commit()
    return appeal


def withdrawable(appeal: Appeal) -> bool:
    """True while the applicant may withdraw the appeal: its status allows it and its clock runs (an
    answer on air whose follow-up was cleared is over)."""
    return appeal.status in TRANSITIONS["withdraw"][0] and appeal.is_open


def withdraw(appeal: Appeal, *, actor: User | None, means: str = "web", note: str = "") -> Appeal:
    """The applicant withdraws the appeal: it ends (the clock stops) with a public step. `means` says how
    the withdrawal came: from the status page ("web", no actor) or recorded by staff from a call or a letter."""
    if means not in WITHDRAWAL_MEANS or (means == "web") != (actor is None):
        raise ValidationError(fields={"means": _l("Say how the applicant withdrew the appeal.")})
    note = _note(note, "note", required=False, limit=Limit.STEP_NOTE)
    if appeal.status in TRANSITIONS["withdraw"][0] and not appeal.is_open:
        raise InvalidTransition(_l("Cannot do this: the appeal is %(status)s.", status=status_label(appeal.status)),
                                status=appeal.status)
    _move(appeal, "withdraw", actor, means=means)
    appeal.follow_up = False  # it has ended: no written answer is due
    if note:
        _record(appeal, "comment", actor, note=note, from_status=appeal.status, public=False)
    db.session.commit()
    return appeal


def _flag(value) -> bool:
    return value in (True, "1", "on", "true")


def set_record(appeal: Appeal, values, *, actor: User) -> Appeal:
    """The officer sets what the registration rules ask the record to hold: type, form, repeat, collective
    (a form's checkbox left unticked clears its flag)."""
    appeal_type, form = values.get("appeal_type"), values.get("form")
    errors = {}
    if appeal_type not in {t.value for t in AppealType}:
        errors["appeal_type"] = _l("Unknown type of appeal.")
    if form not in {f.value for f in AppealForm}:
        errors["form"] = _l("Unknown form of appeal.")
    if errors:
        raise ValidationError(fields=errors)
    new = {"appeal_type": appeal_type, "form": form, "repeat": _flag(values.get("repeat")),
           "collective": _flag(values.get("collective"))}
    changed = {key: value for key, value in new.items() if getattr(appeal, key) != value}
    if changed:
        for key, value in changed.items():
            setattr(appeal, key, value)
        _touch(appeal)
        _record(appeal, "record", actor, from_status=appeal.status, public=False, **changed)
    db.session.commit()
    return appeal


def _set_follow_up(appeal: Appeal, on: bool, actor: User | None) -> None:
    if appeal.follow_up == bool(on):
        return
    if not follow_up_settable(appeal):
        raise _refuse(appeal)
    _touch(appeal)
    appeal.follow_up = bool(on)
    _settle(appeal)
    _sync_clock(appeal)
    _record(appeal, "follow_up" if on else "follow_up_off", actor, from_status=appeal.status, public=False)


def set_follow_up(appeal: Appeal, on: bool, *, actor: User | None) -> Appeal:
    """Flag (or clear) that an answer on air still needs a written follow-up."""
    _set_follow_up(appeal, on, actor)
    db.session.commit()
    return appeal


def add_comment(appeal: Appeal, text: str, *, actor: User) -> Appeal:
    """An internal note in the history (not shown to the applicant)."""
    _record(appeal, "comment", actor, note=_note(text, "note", required=True), from_status=appeal.status, public=False)
    _touch(appeal)
    db.session.commit()
    return appeal


# --- hooks from the live desk: they join the desk's transaction and do not commit ---

def on_question_answered(questions: list[Question], actor: User | None) -> None:
    """A question answered on air answers its appeal and those of questions merged into it; each closes
    at once unless it has follow-up (on by default for an appeal: a written answer is still due)."""
    for question in questions:
        merged = db.session.execute(select(Question).where(Question.merged_into_id == question.id)).scalars().all()
        for q in [question, *merged]:
            appeal = q.appeal
            if appeal is None or appeal.status not in TRANSITIONS["answer_on_air"][0]:
                continue
            _move(appeal, "answer_on_air", actor, broadcast=question.broadcast_id)
            if not appeal.follow_up:
                _move(appeal, "close", actor)


def on_question_rejected(question: Question, ground: str, note: str, actor: User | None) -> Appeal | None:
    """A question rejected on a statutory ground leaves its appeal without consideration on that ground;
    one not for this broadcast only leaves the desk, and its appeal goes on as usual. The moderator's
    wording is an internal note either way. Returns the appeal whose applicant must be told, if any."""
    appeal = question.appeal
    if appeal is None or appeal.status not in OPEN:
        return None
    if ground != NOT_FOR_BROADCAST:
        _leave(appeal, ground, note, actor)
        return appeal
    _touch(appeal)
    _record(appeal, "not_for_broadcast", actor, from_status=appeal.status)
    if note:
        _record(appeal, "comment", actor, note=note, from_status=appeal.status, public=False)
    return None


def on_question_restored(question: Question, ground: str, actor: User | None) -> None:
    """A question restored after a rejection undoes what its ground did: an appeal left without
    consideration opens again; one only taken off the desk is told it is back there."""
    appeal = question.appeal
    if appeal is None:
        return
    if ground == NOT_FOR_BROADCAST:
        if appeal.is_open:
            _touch(appeal)
            _record(appeal, "desk_restored", actor, from_status=appeal.status)
    elif appeal.status in TRANSITIONS["reopen"][0]:  # a statutory ground, or a rejection from before grounds
        _reopen(appeal, actor)


def on_question_reopened(question: Question, actor: User | None) -> None:
    """A question marked answered on air by mistake: its appeal (and those merged into it) go back
    to the status they had before the answer on air, unless an officer has written an answer since."""
    merged = db.session.execute(select(Question).where(Question.merged_into_id == question.id)).scalars().all()
    for q in [question, *merged]:
        appeal = q.appeal
        if appeal is None or appeal.status not in (A.ANSWERED_ON_AIR, A.CLOSED) or appeal.answer:
            continue
        on_air = next((e for e in reversed(appeal.events) if e.action == "answer_on_air"), None)
        if on_air is None:
            continue
        before = appeal.status
        _touch(appeal)
        appeal.status = on_air.from_status
        appeal.answered_at = appeal.closed_at = appeal.days_to_answer = appeal.answered_on_time = None
        _sync_clock(appeal)
        _record(appeal, "reopen", actor, from_status=before)


def on_questions_merged(sources: list[Question], target: Question, actor: User | None) -> None:
    """The history of merged questions' appeals says where they went (a public step), and the
    target's says what joined it (internal: the codes are other residents' appeals), in one INSERT;
    a target that now carries several askers makes its appeal collective."""
    rows = [_event_values(q.appeal, "merged", actor, from_status=q.appeal.status, code=target.tracking_code)
            for q in sources if q.appeal is not None]
    if target.appeal is not None:
        rows.append(_event_values(target.appeal, "merged_in", actor, from_status=target.appeal.status, public=False,
                                  codes=[q.tracking_code for q in sources]))
    if rows:
        db.session.execute(insert(AppealEvent.__table__), rows)
    appeal = target.appeal  # a question that now carries several askers makes its appeal collective
    if appeal is not None and target.asker_count > 1 and not appeal.collective:
        appeal.collective = True
        _touch(appeal)


def on_question_unmerged(source: Question, target: Question, actor: User | None) -> None:
    """An undone merge in both histories: public on the source's appeal, internal on the target's."""
    if source.appeal is not None:
        _record(source.appeal, "unmerged", actor, from_status=source.appeal.status, code=target.tracking_code)
    if target.appeal is not None:
        _record(target.appeal, "unmerged_out", actor, from_status=target.appeal.status, public=False,
                code=source.tracking_code)


def on_question_follow_up(question: Question, on: bool, actor: User | None) -> None:
    """The moderator flags (or clears) that the question's answer on air still needs a written follow-up."""
    _set_follow_up(question.appeal, on, actor)


def on_question_forwarded_immediately(question: Question, body, actor: User | None) -> None:
    """The moderator forwards the question's appeal at once (a crime or a threat to security); notes "urgent"."""
    _forward_immediately(question.appeal, body if isinstance(body, str) else "", "", actor)


def on_question_categorized(question: Question, category: Category | None, actor: User | None) -> None:
    """The moderator's category routes the appeal to the category's department."""
    appeal = question.appeal
    if appeal is not None and category is not None:
        _touch(appeal)
        _route(appeal, category, actor)


def public_events(appeal: Appeal) -> list[AppealEvent]:
    """The history the applicant may read."""
    return [e for e in appeal.events if e.public]


def public_note(event: AppealEvent) -> str:
    """The note of a public step as the applicant may read it: leaving without consideration shows its
    statutory ground only, never staff's wording (from before grounds, a desk's or an officer's reason)."""
    return "" if event.action in ("leave", "withdraw") else event.note


def departments(active_only: bool = False) -> list[Department]:
    """Departments by id."""
    query = select(Department).order_by(Department.id)
    if active_only:
        query = query.where(Department.active.is_(True))
    return list(db.session.execute(query).scalars())


def officers() -> list[User]:
    """Active appeals officers."""
    return list(db.session.execute(select(User).where(User.role == Role.OFFICER, User.active.is_(True))
                                   .order_by(User.username)).scalars())
