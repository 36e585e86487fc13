"""Readiness: can this process store questions now? (`/readyz`; `/healthz` only says it answers.)

Fatal, 503: the database takes no write (read-only file or mount, server down, standby), or the
disk under a SQLite database has less free space than READY_MIN_FREE_MB. Reported, not fatal: the
message queue. Without it a process still stores every question and serves its own viewers; only
the other processes' screens miss its announcements until they resync, and since every process
shares the one queue, taking them all out of the load balancer would turn a degraded broadcast
into none.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

from flask import current_app
from sqlalchemy import text

from ..durability import run_blocking
from ..runtime import runtime
from ..extensions import db

PROBE_TABLE = "companion_readiness_probe"
REUSE_SECONDS = 1.0  # a flood of probes costs one write transaction a second, not one each


def _sqlite_path() -> Path | None:
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _write_probe(execute) -> None:
    """A real write in a transaction that is rolled back: a throw-away table and one row."""
    execute(f"CREATE TABLE {PROBE_TABLE} (x INTEGER)")
    execute(f"INSERT INTO {PROBE_TABLE} (x) VALUES (1)")


def _sqlite_probe(path: Path) -> None:
    """A write on a new connection (the pool's were opened before any chmod), run in a real thread
    since it may wait for the write lock."""
    connection = sqlite3.connect(path, timeout=2, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        _write_probe(connection.execute)
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def _database() -> str | None:
    """Why the database takes no write, or None."""
    path = _sqlite_path()
    try:
        if path is not None:
            if not path.exists():
                return "no database file"
            # Checked before opening: SQLite opens a file it may not write read-only, and while the
            # pool holds the file it keeps that descriptor for the next connection, even once fixed.
            for what, place in (("file", path), ("folder", path.parent)):
                if not os.access(place, os.W_OK):
                    return f"not writable (the database {what} is read-only for this process)"
            run_blocking(lambda: _sqlite_probe(path))
        else:
            with db.engine.connect() as connection:
                with connection.begin() as transaction:
                    _write_probe(lambda sql: connection.execute(text(sql)))
                    transaction.rollback()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the class only (no addresses)
        message = str(exc).splitlines()[0] if isinstance(exc, sqlite3.Error) else ""
        return f"not writable ({type(exc).__name__}{': ' + message if message else ''})"
    return None


def _disk() -> str | None:
    """Why SQLite's directory is too full, or None (PostgreSQL's disk is the database server's)."""
    path = _sqlite_path()
    if path is None:
        return None
    want = current_app.config["READY_MIN_FREE_MB"]
    free = shutil.disk_usage(path.parent if path.parent.exists() else Path("/")).free // 2**20
    return f"{free} MB free, below {want} MB" if free < want else None


def _message_queue() -> str | None:
    """Why the message queue does not answer, or None."""
    import redis
    try:
        redis.Redis.from_url(current_app.config["MESSAGE_QUEUE"], socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return f"unreachable ({type(exc).__name__})"
    return None


def check() -> tuple[bool, dict]:
    """(ready, report): each check "ok" or "error", with `reasons` for the errors."""
    cache = runtime().readiness
    if cache and time.monotonic() - cache["at"] < REUSE_SECONDS:
        return cache["ready"], cache["report"]
    reasons = {"database": _database(), "disk": _disk()}
    if current_app.config["MESSAGE_QUEUE"]:
        reasons["message_queue"] = _message_queue()
    ready = reasons["database"] is None and reasons["disk"] is None
    report = {name: "ok" if reason is None else "error" for name, reason in reasons.items()}
    report["reasons"] = {name: reason for name, reason in reasons.items() if reason}
    if ready and report["reasons"]:
        report["degraded"] = sorted(report["reasons"])
    cache.update(at=time.monotonic(), ready=ready, report=report)
    return ready, report
