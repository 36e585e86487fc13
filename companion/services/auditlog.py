"""Reading the audit log: newest first, filtered, a page at a time."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import AuditEvent

PAGE = 100


def audit_events(*, action: str = "", actor: str = "", ip: str = "",
                 before_id: int | None = None) -> list[AuditEvent]:
    """Up to PAGE events matching the filters, newest first; `before_id` pages on (keyset)."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(PAGE)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if ip:
        stmt = stmt.where(AuditEvent.ip == ip)
    if before_id:
        stmt = stmt.where(AuditEvent.id < before_id)
    return list(db.session.execute(stmt).scalars())


def audit_actions() -> list[str]:
    """The actions present in the log, for the filter menu."""
    return list(db.session.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars())
