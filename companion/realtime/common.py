"""Helpers shared by the socket handlers: acknowledgements, payload checks, refusals."""
from __future__ import annotations

from functools import wraps

from flask import request, session
from flask_login import current_user

from ..extensions import db
from ..permissions import require
from ..services.errors import Forbidden, NotFound, ServiceError, Unauthorized, ValidationError
from ..services.intake import get_broadcast
from ..services.audit import audit
from ..services.database import resilient


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


def acknowledged(handler):
    """Turn a handler's result into {"ok": true, ...} and a refusal into {"ok": false, "error": {...}}."""
    handler = resilient(handler)

    @wraps(handler)
    def wrapper(*args):
        try:
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


def current_broadcast():
    """The broadcast this socket joined at connect."""
    slug = session.get("slug")
    if not slug:
        raise NotFound()
    return get_broadcast(slug)


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
