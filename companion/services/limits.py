"""Rate limits counted in the database, so every process sees the same counts.

Per viewer and per sending address for questions, per viewer for votes, per address for failed
logins. Never a cap on connections or page views: a mobile carrier puts thousands of viewers
behind one address, which is why the per-address limit is several times the per-viewer one.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..extensions import db
from ..models import AuditEvent, Question, Vote, utcnow
from .errors import ServiceError

WINDOW = timedelta(minutes=1)


class RateLimited(ServiceError):
    code = "rate_limited"
    status = 429
    default_message = _l("Too many requests. Please wait a minute and try again.")


def source_hash(address: str | None) -> str:
    """A keyed hash of an IP address: enough to count, not enough to recover the address."""
    if not address:
        return ""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:16]


def _recent(column, value, *extra) -> int:
    model = column.class_
    return db.session.execute(select(func.count()).select_from(model).where(
        column == value, model.created_at > utcnow() - WINDOW, *extra)).scalar_one()


def check_question_rate(viewer_token: str | None, source: str) -> None:
    """Refuse a new question over the per-viewer or per-address limit (per minute)."""
    cfg = current_app.config
    if viewer_token and _recent(Question.viewer_token, viewer_token) >= cfg["QUESTIONS_PER_MINUTE_PER_VIEWER"]:
        raise RateLimited(retry_after=60)
    if source and _recent(Question.source_hash, source) >= cfg["QUESTIONS_PER_MINUTE_PER_ADDRESS"]:
        raise RateLimited(retry_after=60)


def check_vote_rate(voter: str) -> None:
    """Refuse a vote over the per-viewer limit (per minute)."""
    if _recent(Vote.voter, voter) >= current_app.config["VOTES_PER_MINUTE_PER_VIEWER"]:
        raise RateLimited(retry_after=60)


def check_login_rate(address: str | None) -> None:
    """Refuse sign-in attempts from an address with too many recent failures."""
    if not address:
        return
    failures = db.session.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.ip == address, AuditEvent.action == "login_failed", AuditEvent.at > utcnow() - WINDOW)).scalar_one()
    if failures >= current_app.config["LOGIN_FAILURES_PER_MINUTE_PER_ADDRESS"]:
        raise RateLimited(retry_after=60)
