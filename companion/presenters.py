"""How models look on each screen: the one place that decides which fields each audience gets."""
from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_time as babel_format_time, get_timezone, get_timezone_name
from flask import current_app
from flask_babel import format_date, format_time, get_locale, gettext

from .models import MERGEABLE_QUESTION_STATUSES, OPEN_QUESTION_STATUSES, Broadcast, Question, QuestionStatus, utcnow
from .services.appeals import event_label, public_events, public_note, status_label
from .services.deadlines import office_calendar, registration_day, urgency
from .services.fields import mask_contact
from .services.office import accepted_by, office_name
from .services.promises import STATE_LABELS, format_offset, state_of
from .services.wording import format_access_code, ground_label
from .config import FALLBACK_LANGUAGE
from .services.language import current_language
from .permissions import audience_may_vote, audience_sees, shows_asker
from .services.moderation import allowed_actions, confirm_actions, desk_column, resident_status, resident_status_label


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return value.isoformat() if value else None


def html_datetime(value: datetime | str | None) -> str:
    """A moment for HTML's `<time datetime>`: ISO 8601 with at most milliseconds (HTML allows three
    digits of a second; Python writes six)."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")


def broadcast_settings(broadcast: Broadcast) -> dict:
    """The broadcast state every screen may know."""
    return {"slug": broadcast.slug, "status": broadcast.status, "pre_moderation": broadcast.pre_moderation,
            "public_feed": broadcast.public_feed, "anonymous_allowed": broadcast.anonymous_allowed,
            "questions_open": broadcast.questions_open, "show_asker": broadcast.show_asker,
            "overlay_cleared": broadcast.overlay_cleared, "accepting_questions": broadcast.accepting_questions}


def staff_question(q: Question) -> dict:
    """A question as moderators see it: everything but the full contact."""
    return {"id": q.id, "version": q.version, "tracking_code": q.tracking_code, "text": q.text,
            "original_text": q.original_text, "author_name": q.author_name, "district": q.district,
            "contact": mask_contact(q.contact), "show_name": q.show_name, "language": q.language, "channel": q.channel,
            "status": q.status, "position": q.position, "votes": q.votes, "asker_count": q.asker_count,
            "merged_into_id": q.merged_into_id, "category_id": q.category_id,
            "reject_ground": q.reject_ground, "reject_reason": q.reject_reason,
            "created_at": iso(q.created_at), "aired_at": iso(q.aired_at), "appeal": appeal_clock(q.appeal),
            "actions": allowed_actions(q), "confirm": confirm_actions(q), "column": desk_column(q),
            # still in play (may take a merge, is grouped with likely duplicates); may be merged into another
            "open": q.status in OPEN_QUESTION_STATUSES, "mergeable": q.status in MERGEABLE_QUESTION_STATUSES}


def appeal_clock(appeal) -> dict | None:
    """The statutory clock of a question's appeal, for the live queue: red when overdue, amber when due soon;
    a question only has no due date."""
    if appeal is None:
        return None
    return {"status": appeal.status, "statutory": appeal.statutory is not False, "urgent": bool(appeal.urgent),
            "due_date": appeal.due_date.isoformat() if appeal.statutory is not False else None,
            "follow_up": appeal.follow_up, "urgency": urgency(appeal.due_date, appeal.clock_runs)}


def public_question(q: Question, broadcast: Broadcast) -> dict:
    """A question as the audience sees it; `visible: False` tells screens to drop it."""
    if not audience_sees(q, broadcast):
        return {"id": q.id, "visible": False}
    asker = shows_asker(q, broadcast)
    return {"id": q.id, "visible": True, "text": q.text, "status": q.status, "votes": q.votes,
            "votable": audience_may_vote(q),
            "asker_count": q.asker_count, "author_name": q.author_name if asker else "",
            "district": q.district if asker else "", "created_at": iso(q.created_at)}


def own_question(q: Question) -> dict:
    """A question as its asker sees it under "my questions": with the access code of its appeal (the
    secret half of its public address); a moderator's reason for rejecting it stays on the desk."""
    merged = q.merged_into if q.status == QuestionStatus.MERGED else None
    appeal = q.appeal
    return {"id": q.id, "client_id": q.client_id, "tracking_code": q.tracking_code, "text": q.text,
            "access_code": format_access_code(appeal.access_code) if appeal is not None else None,
            "statutory": (appeal.statutory is not False) if appeal is not None else None,
            "status": q.status, "status_key": resident_status(q), "status_label": resident_status_label(q),
            "merged_into_code": merged.tracking_code if merged else None,
            "created_at": iso(q.created_at)}


def prompter_question(q: Question | None, broadcast: Broadcast) -> dict | None:
    """A question as the speaker reads it."""
    if q is None:
        return None
    asker = broadcast.show_asker
    return {"id": q.id, "text": q.text, "author_name": q.author_name if asker else "",
            "district": q.district if asker else "", "name_on_air": shows_asker(q, broadcast),
            "asker_count": q.asker_count, "language": q.language, "aired_at": iso(q.aired_at)}  # no votes: not shown, not kept fresh


def backstage_state(broadcast: Broadcast, message) -> dict:
    """What moderators and the speaker share backstage: the latest note (with its read receipt) and the countdown."""
    return {"message": None if message is None else {
                "id": message.id, "text": message.text, "sent_by": message.sent_by,
                "sent_at": iso(message.sent_at), "read_at": iso(message.read_at)},
            "countdown_until": iso(broadcast.countdown_until), "started_at": iso(broadcast.started_at)}


def prompter_state(broadcast: Broadcast, on_air: Question | None, upcoming: list[Question], message=None) -> dict:
    """The teleprompter's whole state."""
    return {"version": broadcast.version, "server_now": iso(utcnow()),
            "on_air": prompter_question(on_air, broadcast),
            "next": [prompter_question(q, broadcast) for q in upcoming],
            "backstage": backstage_state(broadcast, message)}


KAZAKH_DOCUMENT_DATE = "yyyy 'жылғы' d MMMM"  # formal Kazakh documents: "2026 жылғы 19 мамыр"


def long_date(value) -> str:
    """A date (an ISO date string, or a moment, in the office's time zone) in the long form of the current
    language; the formal "2026 жылғы 19 мамыр" in Kazakh."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return format_date(value, KAZAKH_DOCUMENT_DATE if current_language() == "kk" else "long")


def moment_text(value) -> str:
    """A moment as residents read it on their pages: the long date and the time without seconds, "19 мая 2026 г., 19:05"."""
    return f"{long_date(value)}, {format_time(value, 'HH:mm')}"


def registration_date(appeal):
    """The appeal's legal registration date (stored since it was registered; worked out for older rows)."""
    return appeal.registered_on or registration_day(appeal.received_at, office_calendar())


# Kazakhstan's zones in the tz database: one time, UTC+5, since 1 March 2024, which people call Astana time
KAZAKHSTAN_ZONES = frozenset({"Asia/Almaty", "Asia/Qostanay", "Asia/Aqtobe", "Asia/Aqtau", "Asia/Atyrau", "Asia/Oral",
                              "Asia/Qyzylorda"})


def time_with_zone(value) -> str:
    """A time without seconds and its zone as people say it: "19:05 (Astana time)" for an office in
    Kazakhstan; elsewhere (another TIMEZONE) the zone's name from the CLDR, as it is at that moment."""
    name, locale = current_app.config["TIMEZONE"], str(get_locale() or FALLBACK_LANGUAGE)
    zone = get_timezone(name)
    time = babel_format_time(value, "HH:mm", tzinfo=zone, locale=locale)
    if name in KAZAKHSTAN_ZONES:
        return gettext("%(time)s (Astana time)", time=time)
    return gettext("%(time)s (%(zone)s)", time=time, zone=get_timezone_name(value.astimezone(zone), locale=locale))


def talon(appeal) -> dict:
    """What the talon prints besides the numbers (APPK art. 64): the time and date received, the legal
    registration date, the receiving office and who accepted the appeal, in the current language."""
    locale = current_language()
    return {"received_date": long_date(appeal.received_at),
            "received_time": time_with_zone(appeal.received_at),
            "registration_date": long_date(registration_date(appeal)),
            "office": office_name(locale), "accepted_by": accepted_by(appeal, locale),
            "due_date": long_date(appeal.original_due_date)}


def appeal_status(appeal) -> dict:
    """An appeal as anyone with its number alone sees it: the status and dates, no text, no answer."""
    return {"tracking_code": appeal.tracking_code, "status": appeal.status,
            "status_label": status_label(appeal.status, appeal.follow_up), "statutory": appeal.statutory is not False,
            "registered_at": iso(appeal.received_at), "registration_date": registration_date(appeal).isoformat(),
            "due_date": appeal.due_date.isoformat() if appeal.clock_runs else None,
            "answered_at": iso(appeal.answered_at), "closed_at": iso(appeal.closed_at), "full": False}


def public_appeal(appeal) -> dict:
    """An appeal as its applicant sees it with the access code: status, dates, public history, answer.
    No name, contact, address or officer (personal data stays with staff)."""

    locale = current_language()
    department = appeal.department.name(locale) if appeal.department else None
    history = []
    for e in public_events(appeal):
        item = {"at": iso(e.at), "action": e.action, "label": event_label(e),
                "status": e.to_status, "note": public_note(e)}
        if e.detail.get("ground"):
            item["ground"] = ground_label(e.detail["ground"])
        if e.action in ("assign", "route", "reassign") and appeal.department:
            item["department"] = department
        if e.detail.get("forwarded_to"):
            item["forwarded_to"] = e.detail["forwarded_to"]
        if e.detail.get("due") and appeal.statutory is not False:
            item["due_date"] = e.detail["due"]
        history.append(item)
    question = appeal.question
    statutory = appeal.statutory is not False  # a question only: no term, so no dates of one
    return {"tracking_code": appeal.tracking_code, "status": appeal.status,
            "status_label": status_label(appeal.status, appeal.follow_up), "statutory": statutory,
            "registered_at": iso(appeal.received_at), "registration_date": registration_date(appeal).isoformat(),
            "office": office_name(locale), "accepted_by": accepted_by(appeal, locale),
            "due_date": appeal.due_date.isoformat() if statutory else None,
            "original_due_date": appeal.original_due_date.isoformat() if statutory else None,
            "language": appeal.language, "channel": appeal.channel, "text": appeal.text,
            "department": department, "category": appeal.category.name(locale) if appeal.category else None,
            "answer": appeal.answer or None, "answered_at": iso(appeal.answered_at), "closed_at": iso(appeal.closed_at),
            "forwarded_to": appeal.forwarded_to or None, "extension_reason": appeal.extension_reason or None,
            "ground": ground_label(appeal.leave_ground) or None,
            "broadcast": appeal.broadcast.slug if appeal.broadcast else None,
            "question_status": question.status if question else None,
            "question_status_label": resident_status_label(question) if question else None,
            "merged_into_code": question.merged_into.tracking_code if question and question.merged_into else None,
            "history": history, "full": True}


def public_promise(promise, today=None) -> dict:
    """A published promise as residents see it: what, the department, by when, the state and the moment in
    the stream. Never the question's text or its asker, nor the staff's free-text notes."""

    locale = current_language()
    state = state_of(promise, today)
    return {"id": promise.id, "text": promise.text, "state": state, "state_label": str(STATE_LABELS[state]),
            "department": promise.department.name(locale) if promise.department else None,
            "due_date": promise.due_date, "done_at": promise.done_at,
            "broadcast": promise.broadcast.title(locale), "broadcast_date": (
                promise.broadcast.started_at or promise.broadcast.starts_at or promise.broadcast.created_at),
            "moment": format_offset(promise.stream_offset)}


def last_promises(summary: dict | None) -> dict | None:
    """"Last week's promises" for a broadcast's present view and overlay: counts by state and a few items."""
    if summary is None:
        return None
    return {"counts": summary["counts"], "total": summary["total"],
            "broadcast": summary["broadcast"].title(current_language()),
            "items": [public_promise(p, summary["today"]) for p in summary["items"]]}
