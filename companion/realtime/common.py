"""Helpers shared by the socket handlers: acknowledgements, payload checks, refusals."""
from __future__ import annotations

from functools import wraps

import time

from flask import current_app, request, session
from flask_socketio import disconnect
from flask_login import current_user

from ..durability import deferred
from ..extensions import db, socketio
from ..permissions import require
from ..services.errors import Forbidden, NotFound, ServiceError, Unauthorized, ValidationError
from ..services.intake import get_broadcast
from ..services.recent import recent_broadcast
from ..services.limits import RateLimited
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


def record_refusal(exc: ServiceError, event: str) -> None:
    """Keep a refused privileged attempt in the audit log."""
    db.session.rollback()
    user = current_user if getattr(current_user, "is_authenticated", False) else None
    audit(user, "refused", None, None, event=event, code=exc.code, namespace=request.namespace)
    db.session.commit()


FLOOD_DISCONNECT = 5.0  # seconds of events beyond the allowance before the connection is dropped


def throttle() -> None:
    """A token bucket per connection (kept in the connection's own environ): refuse events beyond
    the allowance, and drop a connection that keeps flooding."""
    rate = current_app.config["EVENTS_PER_SECOND_PER_CONNECTION"]
    bucket = request.environ.setdefault("companion.bucket", {"tokens": 2.0 * rate, "at": time.monotonic(),
                                                               "debt": 0.0})
    now = time.monotonic()
    bucket["tokens"] = min(2.0 * rate, bucket["tokens"] + (now - bucket["at"]) * rate)
    bucket["at"] = now
    if bucket["tokens"] >= 1:
        bucket["tokens"] -= 1
        bucket["debt"] = max(0.0, bucket["debt"] - 1.0 / rate)
        return
    bucket["debt"] += 1.0 / rate
    if bucket["debt"] > FLOOD_DISCONNECT:
        disconnect()
    raise RateLimited(retry_after=1)


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
            try:
                throttle()
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
    """The broadcast named in the connect `auth` payload, or refuse the connection."""
    slug = auth.get("slug") if isinstance(auth, dict) else None
    if not isinstance(slug, str):
        raise ConnectionRefusedError("unknown_broadcast")
    try:
        broadcast = get_broadcast(slug)
    except NotFound:
        raise ConnectionRefusedError("unknown_broadcast") from None
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
