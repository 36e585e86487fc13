"""Helpers shared by the socket handlers: acknowledgements, payload checks, refusals."""
from __future__ import annotations

import time
from functools import wraps

from flask import request, session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError as Refused  # carries its reason to the client

from ..durability import deferred
from ..extensions import db, socketio
from ..runtime import runtime
from ..permissions import require
from ..errors import Forbidden, NotFound, ServiceError, Unauthorized, ValidationError
from ..services.intake import get_broadcast
from ..services.recent import recent_broadcast, recent_copy
from ..services.audit import audit
from ..services.database import resilient
from .emit import STAFF_NS


def payload(data) -> dict:
    """The event's data as a dict, or a ValidationError."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationError()
    return data


AUDITED_NAME_CHARS = 64  # of the event name a client chose
AUDITED_IN_FULL = 5  # refusals per connection kept one by one; after that only at 10, 100, 1,000...
AUDITED_PER_SECOND, AUDITED_BURST = 5.0, 100.0  # refusals audited per process, whatever the connections


def record_refusal(exc: ServiceError, event) -> None:
    """Keep a refused privileged attempt in the audit log, boundedly: a connection's first few
    refusals, then one entry with the count at every power of ten (an anonymous socket sending
    unknown events wrote 11 MB a second of audit rows before)."""
    db.session.rollback()
    count = request.environ["companion.refusals"] = request.environ.get("companion.refusals", 0) + 1
    if count > AUDITED_IN_FULL and (count < 10 or str(count).rstrip("0") != "1"):
        return
    # and across connections (a script opening new ones): at most AUDITED_PER_SECOND per process,
    # the rest counted in the next entry that is written
    state = runtime()
    if state.refusal_audit is None:
        state.refusal_audit = {"tokens": AUDITED_BURST, "at": 0.0, "skipped": 0}
    budget = state.refusal_audit
    now = time.monotonic()
    budget["tokens"] = min(AUDITED_BURST, budget["tokens"] + (now - budget["at"]) * AUDITED_PER_SECOND)
    budget["at"] = now
    if budget["tokens"] < 1:
        budget["skipped"] += 1
        return
    budget["tokens"] -= 1
    skipped, budget["skipped"] = budget["skipped"], 0
    user = current_user if getattr(current_user, "is_authenticated", False) else None
    name = event if isinstance(event, str) else type(event).__name__
    audit(user, "refused", None, None, event=name[:AUDITED_NAME_CHARS], code=exc.code, namespace=request.namespace,
          refusals=count, **({"not_audited_before": skipped} if skipped else {}))
    db.session.commit()


def acknowledged(handler=None, *, queued: bool = False):
    """Turn a handler's result into {"ok": true, ...} and a refusal into {"ok": false, "error": {...}}.

    `queued`: the handler hands its write to the group-commit writer and does no database work itself."""
    if handler is None:
        return lambda handler: acknowledged(handler, queued=queued)
    handler = resilient(handler)

    @wraps(handler)
    def wrapper(*args):
        # Let the event loop breathe before a viewer handler's database work: SQLite calls do not
        # yield, so under a burst one loop turn would otherwise run many handlers back to back
        # while timers (the vote flusher) and moderators' events wait behind them. Staff events
        # (a few people) go straight on: a yield would queue them behind every green thread
        # already waiting, e.g. the writers of a fan-out to thousands of viewers. So do queued
        # events (questions, votes): they wait for the writer anyway, and a yield first would
        # only add a turn of the loop to every acknowledgement.
        if not queued and request.namespace != STAFF_NS:
            socketio.sleep(0)
        with deferred():  # what the handler commits is announced at once, and acknowledged once synced
            try:  # the connection's allowance was checked as the packet came in (`gate`)
                result = handler(*args)
            except ServiceError as exc:
                if isinstance(exc, (Forbidden, Unauthorized)):
                    event = request.event["message"]
                    record_refusal(exc, args[0] if event == "*" and args else event)
                else:
                    db.session.rollback()
                return {"ok": False, "error": exc.to_dict()}
        return {"ok": True, **(result or {})}
    return wrapper


def current_broadcast(*, recent: bool = False):
    """The broadcast this socket joined at connect; `recent`: possibly a copy up to a second old
    (`services.recent`), for events whose decisions are made again when they are stored."""
    slug = session.get("slug")
    if not slug:
        raise NotFound()
    return recent_broadcast(slug, get_broadcast) if recent else get_broadcast(slug)


def connect_broadcast(auth):
    """The broadcast named in the connect `auth` payload (a copy to read, in no session), or refuse the
    connection. A copy up to a
    second old (`services.recent`): a reconnect storm after a restart is thousands of connects a
    second, and a connect decides nothing but the rooms (every event reads what it decides on)."""
    slug = auth.get("slug") if isinstance(auth, dict) else None
    if not isinstance(slug, str):
        raise Refused("unknown_broadcast", {"code": "unknown_broadcast"})
    try:
        broadcast = recent_copy(slug, get_broadcast)
    except NotFound:
        raise Refused("unknown_broadcast", {"code": "unknown_broadcast"}) from None
    session["slug"] = slug
    return broadcast


def authorised(permission: str):
    """Re-check the signed-in user's role on every privileged event."""
    def decorator(handler):
        @wraps(handler)
        def wrapper(*args):
            require(current_user, permission)
            return handler(*args)
        return wrapper
    return decorator
