"""Database trouble as the callers see it: a short lock is waited out, an outage is a clear, retryable error."""
from __future__ import annotations

import time
from contextlib import contextmanager
from functools import wraps

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db
from ..errors import ServiceError, StaleVersion

LOCK_RETRY_SECONDS = 10.0


class Unavailable(ServiceError):
    """The database did not answer: nothing was stored; the same request may be sent again."""

    code = "unavailable"
    status = 503
    default_message = _l("The service is briefly unavailable. Your question was not lost: it will be sent again.")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "retryable": True}


APPEAL_CHANGED = _l("This appeal was changed by someone else. The page shows it as it is now; please check and try "
                    "again.")


def stale(exc: StaleDataError) -> StaleVersion:
    """What the sender of a write is told when the row had changed since the screen's version was checked
    (another member of staff's commit in between, PostgreSQL: models' `version_id_col`): a stale screen."""
    return StaleVersion(APPEAL_CHANGED) if "'appeal'" in str(exc) else StaleVersion()


def _locked(exc: Exception) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def resilient(fn):
    """Run `fn`; retry it while SQLite is locked by another writer (sleeping, which yields under
    eventlet/gevent); turn a lost database into Unavailable. Safe to retry: a failed try committed nothing."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        delay = 0.02
        while True:
            try:
                return fn(*args, **kwargs)
            except StaleDataError as exc:  # nothing of it was committed: the screen shows the row anew
                db.session.rollback()
                raise stale(exc) from None
            except DBAPIError as exc:
                db.session.rollback()
                if _locked(exc) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.25)
                    continue
                raise Unavailable() from exc
    return wrapper


@contextmanager
def kept_on_commit():
    """Commits inside leave the session's objects as the transaction made them (not expired), so
    what was just written is not read back before the screens' payloads are made from it."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        yield
    finally:
        session.expire_on_commit = expire
