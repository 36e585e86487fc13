"""Recently read rows for the hot paths: broadcasts for the viewers' events (ask, vote), the
office calendar for the group-commit writer; each saves a query per event or batch.

A process keeps a copy of each broadcast's row for at most RECENT_SECONDS and gives every event
its own session's instance of it (`Session.merge(load=False)`: no SQL). This is safe because the
decisions that matter are made again on a fresh row: the group-commit writer reads the broadcast
again for every batch, refuses new questions once questions are closed and takes pre-moderation
from it, and a vote is checked against it. A copy that says "closed" is read again before a
refusal. A change of a broadcast's row through the ORM in this process drops the copies at once;
another process's change is seen within RECENT_SECONDS (a form's "anonymous questions" switch,
for example). The office calendar's corrections (extra days off, working weekends) are kept the
same way: an appeal registered within a second of another process's correction may take the
previous calendar's due date, as if it had arrived a second earlier.
"""
from __future__ import annotations

import time

from flask import has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import make_transient_to_detached

from ..extensions import db
from ..models import Broadcast, CalendarDay
from ..runtime import runtime
from . import deadlines

RECENT_SECONDS = 1.0


def _kept() -> dict:
    """This app's copies, {key: (when read, value)} (an app per database: tests run many in one process)."""
    return runtime().recent


def _recent(key: tuple, read):
    now = time.monotonic()
    kept = _kept()
    hit = kept.get(key)
    if hit is None or now - hit[0] >= RECENT_SECONDS:
        hit = kept[key] = (now, read())
    return hit[1]


def recent_broadcast(slug: str, read) -> Broadcast:
    """The broadcast `slug` in this session, from a copy at most RECENT_SECONDS old, else `read(slug)`."""
    return db.session.merge(recent_copy(slug, read), load=False)  # this session's own instance, no SQL


def recent_copy(slug: str, read) -> Broadcast:
    """The copy itself, in no session: to read, never to change (a connect needs only to know the
    broadcast is there; merging it into the session cost a tenth of a handshake)."""
    return _recent(("broadcast", slug), lambda: _detached_copy(read(slug)))


def _detached_copy(broadcast: Broadcast) -> Broadcast:
    """A clean copy of the row's columns that belongs to no session (so no commit expires it)."""
    copy = Broadcast(**{attr.key: getattr(broadcast, attr.key) for attr in inspect(Broadcast).column_attrs})
    make_transient_to_detached(copy)
    return copy


def recent_calendar() -> deadlines.WorkCalendar:
    """The office calendar as read at most RECENT_SECONDS ago (it remembers the due dates it computed)."""
    return _recent(("calendar",), deadlines.office_calendar)


def forget() -> None:
    if has_app_context():
        runtime().recent.clear()


@event.listens_for(Broadcast, "after_update")
def _changed(mapper, connection, target) -> None:  # settings, status, title ... changed in this process
    forget()


for _when in ("after_insert", "after_update", "after_delete"):
    event.listen(CalendarDay, _when, lambda mapper, connection, target: forget())
