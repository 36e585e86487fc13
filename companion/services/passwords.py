"""Password hashes, made and checked in a real thread.

scrypt is slow on purpose; on the event loop that stalled every viewer while a few wrong logins
were checked. `durability.run_blocking` runs it in eventlet's or
gevent's thread pool, as the log's sync is; in one-shot commands and tests, at once.
"""
from __future__ import annotations

import secrets
from functools import lru_cache

from werkzeug.security import check_password_hash, generate_password_hash

from ..durability import run_blocking
from ..runtime import runtime

METHOD = "scrypt"


def turn():
    """One sign-in or hash at a time in this process: the pool's other thread stays free for the log's syncs,
    and parallel guesses from one address cannot all pass the throttle before the first is counted."""
    return runtime().password_turn


def make(password: str) -> str:
    """A salted scrypt hash of `password`."""
    return run_blocking(lambda: generate_password_hash(password, method=METHOD))


def matches(stored: str | None, password: str) -> bool:
    """True when `password` matches the stored hash; with no hash (an unknown name) as slow, and False."""
    if not stored:
        run_blocking(lambda: check_password_hash(_dummy(), password))
        return False
    return run_blocking(lambda: check_password_hash(stored, password))


@lru_cache(maxsize=1)
def _dummy() -> str:
    """A hash of a random password, with the same cost as a real one (the timing of an unknown name)."""
    return generate_password_hash(secrets.token_hex(16), method=METHOD)
