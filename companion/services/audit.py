"""The audit log: who did what, when."""
from __future__ import annotations

from flask import has_request_context, request

from ..extensions import db
from ..models import AuditEvent, Broadcast, Question, User


def audit(actor: User | None, action: str, broadcast: Broadcast | None = None,
          question: Question | None = None, **detail) -> None:
    """Add an audit record to the current transaction."""
    db.session.add(AuditEvent(actor_id=actor.id if actor else None,
                              actor=actor.username if actor else "anonymous", action=action,
                              broadcast_id=broadcast.id if broadcast else None,
                              question_id=question.id if question else None, detail=detail,
                              ip=(request.remote_addr or "") if has_request_context() else ""))
