"""API keys for integrators: created once (shown once), stored as a hash, revocable."""
from __future__ import annotations

import hashlib
import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..models import ApiKey, User, utcnow
from .fields import Limit, parse_id
from .audit import audit
from ..errors import NotFound, Unauthorized, ValidationError


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()  # a lone surrogate matches no key


def create_key(name: str, *, actor: User | None) -> tuple[ApiKey, str]:
    """A new key named `name`; returns the row and the key itself (shown once)."""
    name = (name or "").strip()
    if not name or len(name) > Limit.API_KEY_NAME:
        raise ValidationError(fields={"name": _l("Give the integrator's name.")})
    key = "ck_" + secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=key[:10], key_hash=_digest(key))
    db.session.add(row)
    db.session.flush()
    audit(actor, "api_key_created", key=row.id)
    db.session.commit()
    return row, key


def revoke_key(key_id, *, actor: User | None) -> None:
    """Stop a key from working."""
    row = db.session.get(ApiKey, parse_id(key_id)) if parse_id(key_id) else None
    if row is None:
        raise NotFound()
    row.revoked_at = row.revoked_at or utcnow()
    audit(actor, "api_key_revoked", key=row.id)
    db.session.commit()


def authenticate_key(authorization: str | None) -> ApiKey | None:
    """The key in an `Authorization: Bearer ...` header; None without one; Unauthorized if it is wrong."""
    if not authorization:
        return None
    scheme, _, key = authorization.partition(" ")
    row = db.session.execute(select(ApiKey).where(ApiKey.key_hash == _digest(key.strip()))).scalar_one_or_none()
    if scheme.lower() != "bearer" or row is None or row.revoked_at is not None:
        raise Unauthorized(_l("Invalid API key."))
    return row


def key_by_value(key: str | None) -> ApiKey | None:
    """The active key with this value (Open311 passes it as the api_key parameter), or None."""
    if not key or not isinstance(key, str):
        return None
    row = db.session.execute(select(ApiKey).where(ApiKey.key_hash == _digest(key.strip()))).scalar_one_or_none()
    return row if row is not None and row.revoked_at is None else None


def all_keys() -> list[ApiKey]:
    """Every key, newest first."""
    return list(db.session.execute(select(ApiKey).order_by(ApiKey.id.desc())).scalars())
