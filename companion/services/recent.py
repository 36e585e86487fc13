"""Recently read broadcasts: the viewers' hot events (ask, vote) skip one query each.

A process keeps a copy of each broadcast's row for at most RECENT_SECONDS and gives every event
its own session's instance of it (`Session.merge(load=False)`: no SQL). This is safe because the
decisions that matter are made again on a fresh row: the group-commit writer reads the broadcast
again for every batch, refuses new questions once questions are closed and takes pre-moderation
from it, and a vote is checked against it. A copy that says "closed" is read again before a
refusal. A change of a broadcast's row through the ORM in this process drops the copies at once;
another process's change is seen within RECENT_SECONDS (a form's "anonymous questions" switch,
for example).
"""
from __future__ import annotations

import time

from sqlalchemy import event, inspect
from sqlalchemy.orm import make_transient_to_detached

from ..extensions import db
from ..models import Broadcast

RECENT_SECONDS = 1.0
_copies: dict[str, tuple[float, Broadcast]] = {}  # slug: (when read, copy)


def recent_broadcast(slug: str, read) -> Broadcast:
    """The broadcast `slug` in this session, from a copy at most RECENT_SECONDS old, else `read(slug)`."""
    now = time.monotonic()
    kept = _copies.get(slug)
    if kept is not None and now - kept[0] < RECENT_SECONDS:
        return db.session.merge(kept[1], load=False)
    broadcast = read(slug)
    _copies[slug] = (now, _detached_copy(broadcast))
    return broadcast


def _detached_copy(broadcast: Broadcast) -> Broadcast:
    """A clean copy of the row's columns that belongs to no session (so no commit expires it)."""
    copy = Broadcast(**{attr.key: getattr(broadcast, attr.key) for attr in inspect(Broadcast).column_attrs})
    make_transient_to_detached(copy)
    return copy


def forget() -> None:
    _copies.clear()


@event.listens_for(Broadcast, "after_update")
def _changed(mapper, connection, target) -> None:  # settings, status, title ... changed in this process
    forget()
