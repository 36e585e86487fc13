"""Promises made on air: marked from the desk during the broadcast, tracked by the office like an appeal
(status, progress notes, evidence, due date), and public on the roadmap and the next broadcast's screens
once the office publishes them. "Late" is never stored: it is an open promise past its due date."""
from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import (
    Broadcast,
    BroadcastStatus,
    Promise,
    PromiseNote,
    PromiseStatus,
    Question,
    User,
    utcnow,
)
from ..permissions import (
    may_manage_department_promises,
    may_manage_promise,
    may_rewrite_published_promise,
    promises_visible_to,
)
from . import appeals, deadlines
from .audit import audit
from ..errors import Conflict, Forbidden, NotFound, ValidationError
from .fields import Limit, parse_id, parse_version, text as _text

OFFSET_MAX = 24 * 3600  # a broadcast is not a day long
LAST_ITEMS = 5  # items of "last week's promises" on the present view and the overlay

LATE = "late"
WITHDRAWN = PromiseStatus.WITHDRAWN.value
STATES = ("planned", "in_progress", LATE, "done", WITHDRAWN)
STATE_LABELS = {"planned": _l("planned"), "in_progress": _l("being carried out"), LATE: _l("late"), "done": _l("done"),
                WITHDRAWN: _l("withdrawn")}
CLOSED = (PromiseStatus.DONE.value, WITHDRAWN)  # never late
PROMISE_CHANGED = _l("This promise was changed by someone else. The page shows it as it is now; please check and try "
                     "again.")
STATUS_CHOICES = {PromiseStatus.PLANNED.value: _l("planned"), PromiseStatus.IN_PROGRESS.value: _l("being carried out"),
                  PromiseStatus.DONE.value: _l("done")}
NOTE_LABELS = {"marked": _l("Marked on air"), "note": _l("Progress note"), "status": _l("Status changed"),
               "evidence": _l("Evidence"), "published": _l("Published"), "unpublished": _l("Unpublished"),
               "edited": _l("Details changed"), "withdrawn": _l("Withdrawn")}


# --- what a promise is now ---------------------------------------------------------------------

def state_of(promise: Promise, today: date | None = None) -> str:
    """"done", "withdrawn", "late" (open past its due date), "in_progress" or "planned"."""
    if promise.status in CLOSED:
        return promise.status
    if promise.due_date < (today or deadlines.local_date()):
        return LATE
    return promise.status


def format_offset(seconds: int | None) -> str:
    """The moment in the stream as a player shows it: "12:34" or "1:02:03"; "" when not known."""
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


OFFSET = re.compile(r"^(?:(\d{1,2}):)?(\d{1,2}):(\d{2})$|^(\d{1,5})$")


def parse_offset(value) -> int | None:
    """"1:02:03", "12:34" or seconds -> seconds; "" -> None; anything else a ValidationError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        match = OFFSET.match(str(value).strip()) if isinstance(value, str) else None
        if not match:
            raise ValidationError(fields={"stream_offset": _l("Write the moment as h:mm:ss or mm:ss.")})
        hours, minutes, secs, plain = match.groups()
        if plain is not None:
            seconds = int(plain)
        else:
            if int(minutes) > 59 and hours is not None or int(secs) > 59:
                raise ValidationError(fields={"stream_offset": _l("Write the moment as h:mm:ss or mm:ss.")})
            seconds = int(hours or 0) * 3600 + int(minutes) * 60 + int(secs)
    if not 0 <= seconds <= OFFSET_MAX:
        raise ValidationError(fields={"stream_offset": _l("Write the moment as h:mm:ss or mm:ss.")})
    return seconds


# --- field rules --------------------------------------------------------------------------------

def _due_date(value, *, not_past: bool) -> date:
    if isinstance(value, date):
        due = value
    else:
        try:
            due = date.fromisoformat(value.strip()) if isinstance(value, str) and len(value.strip()) == 10 else None
        except ValueError:
            due = None
    if due is None:
        raise ValidationError(fields={"due_date": _l("Choose the date by which it is promised.")})
    today = deadlines.local_date()
    if not_past and due < today:
        raise ValidationError(fields={"due_date": _l("The date is in the past.")})
    if not date(2000, 1, 1) <= due <= date(today.year + 10, 12, 31):
        raise ValidationError(fields={"due_date": _l("Choose the date by which it is promised.")})
    return due




def _evidence_url(value) -> str:
    url = _text(value, "evidence_url", Limit.EVIDENCE_URL)
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
            raise ValidationError(fields={"evidence_url": _l("Give a link that starts with https:// or http://.")})
    return url


def _note(promise: Promise, kind: str, actor: User | None, text: str = "", **detail) -> PromiseNote:
    note = PromiseNote(promise=promise, kind=kind, author_id=actor.id if actor else None, text=text, detail=detail,
                       at=utcnow())
    db.session.add(note)
    return note


def _ever_published(promise: Promise) -> bool:
    """True when residents may have seen the promise: it is published now or was once (its history says)."""
    return bool(promise.published) or db.session.execute(
        select(PromiseNote.id).where(PromiseNote.promise_id == promise.id, PromiseNote.kind == "published")
        .limit(1)).first() is not None


def _touch(promise: Promise) -> None:
    """The next version, taken only if nobody took it meanwhile: two staff acting at once on the version
    their pages saw (one publishing, one withdrawing) would each pass get_promise's check, and the second
    commit would leave a withdrawn promise published. The row is changed on the condition that it is still
    at the version read, else the change is refused as get_promise refuses a stale page."""
    seen, now = promise.version, utcnow()
    taken = db.session.execute(update(Promise).where(Promise.id == promise.id, Promise.version == seen)
                               .values(version=seen + 1, updated_at=now),
                               execution_options={"synchronize_session": False}).rowcount
    if taken != 1:
        raise Conflict(PROMISE_CHANGED)
    set_committed_value(promise, "version", seen + 1)
    set_committed_value(promise, "updated_at", now)


# --- the desk -----------------------------------------------------------------------------------

def stream_offset_now(broadcast: Broadcast) -> int | None:
    """Seconds since the live broadcast started; None when it is not live or its start was not recorded."""
    if broadcast.status != BroadcastStatus.LIVE or broadcast.started_at is None:
        return None
    return max(0, min(OFFSET_MAX, int((utcnow() - broadcast.started_at).total_seconds())))


def mark_promise(broadcast: Broadcast, values: dict, *, actor: User | None) -> Promise:
    """A moderator marks a promise the akim just made: what, who (a department and/or free text), by when,
    and the question it answers (of this broadcast); the moment in the stream is recorded now."""
    if not isinstance(values, dict):
        raise ValidationError()
    text = _text(values.get("text"), "text", Limit.PROMISE_TEXT, required=True)
    department = appeals.department_by_id(values.get("department_id"))
    responsible = _text(values.get("responsible"), "responsible", Limit.RESPONSIBLE)
    if department is None and not responsible:
        raise ValidationError(fields={"responsible": _l("Say who is responsible: a department or a name of a body.")})
    due = _due_date(values.get("due_date"), not_past=True)
    question = None
    if values.get("question_id") not in (None, ""):
        qid = parse_id(values.get("question_id"))
        question = db.session.get(Question, qid) if qid else None
        if question is None or question.broadcast_id != broadcast.id:
            raise NotFound(_l("This question does not exist."))
    promise = Promise(broadcast_id=broadcast.id, question_id=question.id if question else None, text=text,
                      department_id=department.id if department else None, responsible=responsible, due_date=due,
                      stream_offset=stream_offset_now(broadcast), status=PromiseStatus.PLANNED.value,
                      created_by_id=actor.id if actor else None, created_at=utcnow(), updated_at=utcnow(),
                      evidence_url="", evidence_note="", published=False, version=1)
    db.session.add(promise)
    db.session.flush()
    _note(promise, "marked", actor, offset=promise.stream_offset)
    audit(actor, "promise_marked", broadcast, question, promise=promise.id)
    db.session.commit()
    return promise


def withdraw_marked(broadcast: Broadcast, promise_id, *, actor: User | None) -> str:
    """Take back a promise marked by mistake on the desk (not a promise the akim made, or marked twice):
    any moderator of the broadcast may, while nobody has worked on it since and it is not published; after
    that it belongs to the back office, which records what became of it. Audited with its words; returns them."""
    pid = parse_id(promise_id)
    promise = db.session.get(Promise, pid) if pid else None
    if promise is None or promise.broadcast_id != broadcast.id:
        raise NotFound(_l("This promise does not exist."))
    if promise.published or promise.version != 1:
        raise Conflict(_l("This promise has been worked on since it was marked: the back office can change it."))
    text = promise.text
    for note in list(promise.notes):
        db.session.delete(note)
    db.session.delete(promise)
    audit(actor, "promise_withdrawn", broadcast, None, promise=pid, text=text[:200])
    db.session.commit()
    return text


# --- the back office ----------------------------------------------------------------------------

def get_promise(promise_id, *, user: User, version=None, changing: bool = False) -> Promise:
    """The promise by id, if `user` may manage it, checked against the version the page saw (a change
    must name the version it was made on)."""
    pid = parse_id(promise_id)
    promise = db.session.get(Promise, pid) if pid else None
    if promise is None:
        raise NotFound(_l("This promise does not exist."))
    if not may_manage_promise(user, promise):
        raise Forbidden(_l("This promise belongs to another department."))
    if changing and version in (None, ""):
        raise ValidationError(fields={"version": _l("Invalid version.")})
    if version not in (None, ""):
        seen = parse_version(version)
        if seen is None:
            raise ValidationError(fields={"version": _l("Invalid version.")})
        if seen != promise.version:
            raise Conflict(PROMISE_CHANGED)
    return promise


def set_status(promise: Promise, status, *, actor: User, note: str = "") -> Promise:
    """Planned, in progress or done (with an optional note); done records when. A withdrawn promise is
    restored so (unpublished: publishing it again is deliberate)."""
    if status not in STATUS_CHOICES:
        raise ValidationError(fields={"status": _l("Choose a status.")})
    note = _text(note, "note", Limit.NOTE)
    if status == promise.status and not note:
        return promise
    if promise.status == WITHDRAWN:
        _may_withdraw(promise, actor)
    before = promise.status
    promise.status = status
    if status != before:  # done again with a note keeps when it was done
        promise.done_at = utcnow() if status == PromiseStatus.DONE else None
    _note(promise, "status", actor, note, from_status=before, to_status=status)
    _touch(promise)
    audit(actor, "promise_status", promise.broadcast, None, promise=promise.id, status=status)
    db.session.commit()
    return promise


def add_note(promise: Promise, text, *, actor: User) -> PromiseNote:
    """A progress note in the promise's history (staff only)."""
    text = _text(text, "note", Limit.NOTE, required=True)
    entry = _note(promise, "note", actor, text)
    _touch(promise)
    audit(actor, "promise_note", promise.broadcast, None, promise=promise.id)
    db.session.commit()
    return entry


def set_evidence(promise: Promise, url, note, *, actor: User) -> Promise:
    """The evidence that it was kept: a link (https) and/or a text note."""
    url = _evidence_url(url)
    note = _text(note, "evidence_note", Limit.NOTE)
    if not url and not note:
        raise ValidationError(fields={"evidence_url": _l("Give a link or a note.")})
    promise.evidence_url, promise.evidence_note = url, note
    _note(promise, "evidence", actor, note, url=url)
    _touch(promise)
    audit(actor, "promise_evidence", promise.broadcast, None, promise=promise.id)
    db.session.commit()
    return promise


def _may_withdraw(promise: Promise, actor: User) -> None:
    """A promise once published is the office's public word: only the head or an admin withdraws it (or
    restores it), as only they may change its words."""
    if _ever_published(promise) and not may_rewrite_published_promise(actor):
        raise Forbidden(_l("A published promise may be withdrawn or restored only by the head or an admin."))


def withdraw(promise: Promise, reason, *, actor: User) -> Promise:
    """Withdraw a promise marked by mistake (not what the akim said, or marked twice) once the back office has
    worked on it, when the desk may no longer take it back: it leaves the public pages and the report, and
    stays in the back office with the reason in its history. Choosing a status again restores it."""
    reason = _text(reason, "reason", Limit.NOTE, required=True, required_message=_l("Say why the promise is withdrawn."))
    if promise.status == WITHDRAWN:
        return promise
    _may_withdraw(promise, actor)
    before = promise.status
    promise.status = WITHDRAWN
    promise.done_at = None
    if promise.published:
        promise.published = False
        promise.published_at = None
    _note(promise, "withdrawn", actor, reason, from_status=before)
    _touch(promise)
    audit(actor, "promise_withdrawn", promise.broadcast, None, promise=promise.id, reason=reason[:200])
    db.session.commit()
    return promise


def set_published(promise: Promise, on: bool, *, actor: User) -> Promise:
    """Show the promise on the public roadmap and the next broadcast's screens, or take it off them."""
    if promise.published == on:
        return promise
    if on and promise.status == WITHDRAWN:
        raise Conflict(_l("A withdrawn promise cannot be published: choose its status first to restore it."))
    promise.published = on
    promise.published_at = utcnow() if on else None
    _note(promise, "published" if on else "unpublished", actor)
    _touch(promise)
    audit(actor, "promise_published" if on else "promise_unpublished", promise.broadcast, None, promise=promise.id)
    db.session.commit()
    return promise


def edit_promise(promise: Promise, values: dict, *, actor: User) -> Promise:
    """Correct what, who, by when, and the moment in the stream; an officer may not hand it to another department."""
    text = _text(values.get("text"), "text", Limit.PROMISE_TEXT, required=True)
    department = appeals.department_by_id(values.get("department_id"))
    responsible = _text(values.get("responsible"), "responsible", Limit.RESPONSIBLE)
    if department is None and not responsible:
        raise ValidationError(fields={"responsible": _l("Say who is responsible: a department or a name of a body.")})
    due = _due_date(values.get("due_date"), not_past=False)
    offset = parse_offset(values.get("stream_offset"))
    new_department_id = department.id if department else None
    if new_department_id != promise.department_id and not may_manage_department_promises(actor, new_department_id):
        raise Forbidden(_l("Only the head or an admin may hand a promise to another department."))
    changed = {k: v for k, v in (("text", text), ("department_id", new_department_id), ("responsible", responsible),
                                 ("due_date", due), ("stream_offset", offset)) if getattr(promise, k) != v}
    if not changed:
        return promise
    # once published, what was promised and by when are the office's public word: only the head or an
    # admin may change them, and the history keeps what they were; taking it off the roadmap first changes
    # nothing (else an officer could unpublish a late promise, move its date and publish it again)
    if {"text", "due_date"} & set(changed) and not may_rewrite_published_promise(actor) and _ever_published(promise):
        raise Forbidden(_l("A published promise's words and date may be changed only by the head or an admin."))
    before = {key: _plain(getattr(promise, key)) for key in changed}
    for key, value in changed.items():
        setattr(promise, key, value)
    _note(promise, "edited", actor, fields=sorted(changed),
          changes={key: [before[key], _plain(value)] for key, value in changed.items()})
    _touch(promise)
    audit(actor, "promise_edited", promise.broadcast, None, promise=promise.id, fields=sorted(changed),
          published=bool(promise.published))
    db.session.commit()
    return promise


def _plain(value):
    """A value as the history keeps it (JSON): dates as ISO text."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def list_promises(user: User, state: str | None = None) -> list[Promise]:
    """The promises `user` may manage, open ones first by due date (late at the top), then done ones, withdrawn ones last."""
    if state not in (None, "", *STATES):
        raise ValidationError(fields={"state": _l("Choose a status.")})
    today = deadlines.local_date()
    query = select(Promise).where(promises_visible_to(user))
    if state == "done":
        query = query.where(Promise.status == PromiseStatus.DONE.value)
    elif state == LATE:
        query = query.where(Promise.status.notin_(CLOSED), Promise.due_date < today)
    elif state == WITHDRAWN:
        query = query.where(Promise.status == WITHDRAWN)
    elif state:
        query = query.where(Promise.status == state, Promise.due_date >= today)
    query = query.order_by(case((Promise.status == PromiseStatus.DONE.value, 1), (Promise.status == WITHDRAWN, 2), else_=0),
                           Promise.due_date, Promise.id)
    return list(db.session.execute(query.limit(1000)).scalars())


def promises_of_broadcast(broadcast: Broadcast) -> list[Promise]:
    """Every promise marked in this broadcast (published or not; not those withdrawn as marked by mistake), in
    the order they were made on air:
    for the broadcast report. Each has .text, .department, .responsible, .due_date, .stream_offset
    (format_offset), .question, .published; state_of(p) gives done / late / in_progress / planned."""
    return list(db.session.execute(
        select(Promise).where(Promise.broadcast_id == broadcast.id, Promise.status != WITHDRAWN)
        .order_by(Promise.stream_offset.is_(None), Promise.stream_offset, Promise.id)).scalars())


# --- the public pages ---------------------------------------------------------------------------

def published_promises(limit: int = 500) -> list[Promise]:
    """Published promises, the newest broadcast's first, for the roadmap."""
    return list(db.session.execute(
        select(Promise).where(Promise.published.is_(True)).join(Broadcast, Broadcast.id == Promise.broadcast_id)
        .order_by(func.coalesce(Broadcast.started_at, Broadcast.starts_at, Broadcast.created_at).desc(),
                  Promise.due_date, Promise.id).limit(limit)).scalars())


def _broadcast_moment(broadcast: Broadcast):
    return broadcast.started_at or broadcast.starts_at or broadcast.created_at


def last_broadcast_promises(broadcast: Broadcast, today: date | None = None) -> dict | None:
    """"Last week's promises" for this broadcast's screens: the published promises of the latest earlier
    broadcast that has any, counted by state, with a few of them (late first, then in progress, then done)."""
    moment = func.coalesce(Broadcast.started_at, Broadcast.starts_at, Broadcast.created_at)
    previous = db.session.execute(
        select(Broadcast).where(Broadcast.id != broadcast.id, moment < _broadcast_moment(broadcast))
        .where(select(Promise.id).where(Promise.broadcast_id == Broadcast.id, Promise.published.is_(True)).exists())
        .order_by(moment.desc(), Broadcast.id.desc()).limit(1)).scalar_one_or_none()
    if previous is None:
        return None
    today = today or deadlines.local_date()
    promises = list(db.session.execute(select(Promise).where(Promise.broadcast_id == previous.id,
                                                             Promise.published.is_(True))
                                       .order_by(Promise.due_date, Promise.id)).scalars())
    counts = {state: 0 for state in STATES}
    for p in promises:
        counts[state_of(p, today)] += 1
    rank = {LATE: 0, "in_progress": 1, "planned": 2, "done": 3}
    items = sorted(promises, key=lambda p: (rank[state_of(p, today)], p.due_date, p.id))[:LAST_ITEMS]
    return {"broadcast": previous, "counts": counts, "items": items, "total": len(promises), "today": today}
