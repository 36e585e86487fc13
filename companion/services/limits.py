"""Rate limits counted in the database, so every process sees the same counts.

Per viewer and per sending address for questions, per viewer for votes; for failed logins per
address across names and per (name, address) pair, never per account alone; per address for
appeal lookups by number (counted in `rate_count`, one row per address a minute). Never a cap on connections or page views: a mobile carrier puts thousands of viewers
behind one address, which is why the per-address limit is several times the per-viewer one.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import AuditEvent, LoginThrottle, Question, RateCount, Vote, utcnow
from ..errors import ServiceError

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


@functools.cache
def _count_statement(column):
    """The grouped count of a column's last-minute rows, built once per column: the writer runs it for every
    batch, and building a statement with IN (...) costs more than running it and leaves reference cycles."""
    return (select(column, func.count())
            .where(column.in_(bindparam("values", expanding=True)), column.class_.created_at > bindparam("since"))
            .group_by(column))


def _recent_by(column, values: set) -> dict:
    """Rows of the last minute per value of `column` (one grouped query)."""
    values = {v for v in values if v}
    if not values:
        return {}
    return dict(db.session.execute(_count_statement(column), {"values": list(values), "since": utcnow() - WINDOW}).all())


class QuestionAllowance:
    """The per-viewer and per-address question limits for a batch of new questions: two grouped counts of
    the last minute, then `take` admits questions in order, counting the batch's own."""

    def __init__(self, viewer_tokens, sources):
        cfg = current_app.config
        self.per_viewer, self.per_address = cfg["QUESTIONS_PER_MINUTE_PER_VIEWER"], cfg["QUESTIONS_PER_MINUTE_PER_ADDRESS"]
        self.viewers = _recent_by(Question.viewer_token, set(viewer_tokens))
        self.sources = _recent_by(Question.source_hash, set(sources))

    def take(self, viewer_token: str | None, source: str) -> None:
        """Count one more question from this viewer and address, or raise RateLimited (counting nothing)."""
        if viewer_token and self.viewers.get(viewer_token, 0) >= self.per_viewer:
            raise RateLimited(retry_after=60)
        if source and self.sources.get(source, 0) >= self.per_address:
            raise RateLimited(retry_after=60)
        if viewer_token:
            self.viewers[viewer_token] = self.viewers.get(viewer_token, 0) + 1
        if source:
            self.sources[source] = self.sources.get(source, 0) + 1


class VoteAllowance:
    """The per-viewer vote limit for a batch of votes: one grouped count of the last minute."""

    def __init__(self, voters):
        self.limit = current_app.config["VOTES_PER_MINUTE_PER_VIEWER"]
        self.voters = _recent_by(Vote.voter, set(voters))

    def take(self, voter: str) -> None:
        """Count one more vote from this viewer, or raise RateLimited (counting nothing)."""
        if self.voters.get(voter, 0) >= self.limit:
            raise RateLimited(retry_after=60)
        self.voters[voter] = self.voters.get(voter, 0) + 1


def check_login_rate(address: str | None) -> None:
    """Refuse sign-in attempts from an address with too many recent failures."""
    if not address:
        return
    failures = db.session.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.ip == address, AuditEvent.action == "login_failed", AuditEvent.at > utcnow() - WINDOW)).scalar_one()
    if failures >= current_app.config["LOGIN_FAILURES_PER_MINUTE_PER_ADDRESS"]:
        raise RateLimited(retry_after=60)


LOGIN_FORGET = timedelta(days=1)  # a pair's wrong passwords older than this no longer count


def _login_key(name: str, address: str | None) -> tuple[str, str]:
    """The pair's keys: keyed hashes of the typed name and of the address (neither is stored in clear)."""
    key = current_app.config["SECRET_KEY"].encode()
    # the address as lookups count it: an IPv6 subscriber's whole /64 is one address
    return hmac.new(key, b"login\0" + name.encode(), hashlib.sha256).hexdigest()[:32], address_key(address) or source_hash("-")


def login_wait(name: str, address: str | None) -> int:
    """Seconds this name must wait before it is tried again from this address (0: it may be tried now)."""
    account, source = _login_key(name, address)
    until = db.session.execute(select(LoginThrottle.blocked_until).where(
        LoginThrottle.account == account, LoginThrottle.source == source)).scalar_one_or_none()
    now = utcnow()
    return max(1, int((until - now).total_seconds() + 0.999)) if until and until > now else 0


def count_login_failure(name: str, address: str | None):
    """Count a wrong password for this (name, address) pair; returns until when the pair now waits, or None.

    After LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS in a row the pair waits a minute, then twice as long
    after each further one, at most LOGIN_DELAY_MAX_MINUTES. One upsert, so two processes counting
    the same pair at once both count."""
    cfg = current_app.config
    account, source = _login_key(name, address)
    now = utcnow()
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    stale = LoginThrottle.last_failed_at < now - LOGIN_FORGET
    upsert = dialect.insert(LoginThrottle).values(account=account, source=source, failures=1, last_failed_at=now)
    upsert = upsert.on_conflict_do_update(index_elements=["account", "source"], set_={
        "failures": case((stale, 1), else_=LoginThrottle.failures + 1), "last_failed_at": now})
    failures = db.session.execute(upsert.returning(LoginThrottle.failures)).scalar_one()
    free = cfg["LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS"]
    if failures < free:
        return None
    cap = timedelta(minutes=cfg["LOGIN_DELAY_MAX_MINUTES"])
    until = now + min(timedelta(minutes=1) * 2 ** min(failures - free, 20), cap)
    db.session.execute(update(LoginThrottle).where(LoginThrottle.account == account, LoginThrottle.source == source)
                       .values(blocked_until=until))
    db.session.execute(delete(LoginThrottle).where(stale))  # forgotten pairs (a sprayer's) go
    return until


def forget_login_failures(name: str, address: str | None = None) -> int:
    """Clear the wrong passwords of this name from this address (a sign-in), or from every address (an unlock)."""
    account, source = _login_key(name, address)
    query = delete(LoginThrottle).where(LoginThrottle.account == account)
    if address is not None:
        query = query.where(LoginThrottle.source == source)
    return db.session.execute(query).rowcount


def address_key(address: str | None) -> str:
    """The keyed hash of the sender's network: the address, or its /64 for IPv6 (one subscriber's block)."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return source_hash(address)
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return source_hash(str(ip.ipv4_mapped))
        return source_hash(str(ipaddress.ip_network(f"{ip}/64", strict=False)))
    return source_hash(str(ip))


def _insert_hit(key: str, window: int) -> None:
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(RateCount).values(key=key, window=window, hits=1)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["key", "window"],
                                                  set_={"hits": RateCount.hits + 1}))


def _sliding(key: str, now, limit: int) -> tuple[int, int | None]:
    """The minute `now` falls in and this minute's hits of `key` so far (None: none yet), or raise
    RateLimited when this minute's hits and the part of the last minute's still within 60 s reach
    `limit` (a sliding window: fixed clock minutes let twice the limit through across a boundary)."""
    window = int(now.timestamp() // 60)
    rows = dict(db.session.execute(select(RateCount.window, RateCount.hits).where(
        RateCount.key == key, RateCount.window.in_((window - 1, window)))).all())
    seconds = now.timestamp() % 60
    previous, current = rows.get(window - 1, 0), rows.get(window)
    if previous * (1 - seconds / 60) + (current or 0) >= limit:
        db.session.rollback()
        raise RateLimited(retry_after=_retry_after(previous, current or 0, limit, seconds))
    return window, current


def _retry_after(previous: int, current: int, limit: int, seconds: float) -> int:
    """Seconds until the sliding count falls below `limit` again."""
    if current < limit:  # the last minute's part fades out within this minute
        wait = 60 * (1 - (limit - current) / previous) - seconds
    else:  # this minute's hits become the last minute's, and fade out in the next
        wait = 60 - seconds + 60 * (1 - limit / current)
    return max(1, math.ceil(wait + 0.001))


def count_lookup(address: str | None) -> None:
    """Count one appeal lookup by number (or with a wrong access code) from this address, or raise
    RateLimited. Once over the limit nothing more is written: a flood costs one read per request."""
    key = address_key(address)
    if not key:
        return
    window, hits = _sliding(f"lookup:{key}", utcnow(), current_app.config["TRACKING_LOOKUPS_PER_MINUTE_PER_ADDRESS"])
    if hits is None:  # the address's first lookup this minute: drop the finished minutes
        db.session.execute(delete(RateCount).where(RateCount.window < window - 1))
    _insert_hit(f"lookup:{key}", window)
    db.session.commit()


def _count_minute(key: str, limit: int) -> None:
    """Count one hit of `key` in `rate_count` (shared by every process), or raise RateLimited past `limit`
    a minute (sliding); past the limit nothing more is written. Commits the hit."""
    window, _hits = _sliding(key, utcnow(), limit)
    _insert_hit(key, window)
    db.session.commit()


def count_operator_lookup(user_id: int) -> None:
    """Count one lookup by a phone operator (by the caller's number or by a tracking number), or raise
    RateLimited past OPERATOR_LOOKUPS_PER_MINUTE: an operator's account cannot walk the numbers."""
    _count_minute(f"operator:{user_id}", current_app.config["OPERATOR_LOOKUPS_PER_MINUTE"])


def count_caller(phone: str) -> None:
    """Count one question taken by phone from this caller's number (keyed hash), or raise RateLimited past
    QUESTIONS_PER_MINUTE_PER_VIEWER: the per-sender limit of the web and the chats, on the phone too."""
    if phone:
        _count_minute(f"caller:{source_hash('tel:' + phone)}", current_app.config["QUESTIONS_PER_MINUTE_PER_VIEWER"])
