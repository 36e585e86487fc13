"""SQLite commits made durable without stopping the event loop: connections run with synchronous=NORMAL
and `DurableConnection.commit` syncs the write-ahead log itself in a real thread (`run_blocking`), so
the loop goes on meanwhile; commits that come during a sync share the next one. Inside `deferred()`
(a socket event, a writer batch) a commit returns once committed and the sync is waited for at the
block's end, before the acknowledgement. Design and measurements: docs/realtime.md, "Durable commits
off the event loop"."""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, has_app_context

from .runtime import Runtime, call_here, runtime


def run_blocking_with(runner, app: Flask) -> None:
    """Set how the app's blocking calls (the log's sync) are run: `runner(function)` returns its result."""
    runtime(app).run_blocking = runner


def run_blocking(function):
    """Run a blocking call (a sync, a password hash) the way the server set: in a real thread under eventlet or gevent."""
    return (runtime().run_blocking if has_app_context() else call_here)(function)


def _sync(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # no log: the last connection checkpointed it into the database, synced
        return
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


class LogSync:
    """Group commit for one database's log: one sync at a time, covering every commit before it."""

    def __init__(self, path: str, state: Runtime):
        self.path = path
        self.state = state  # the app's runtime: how the sync is run, as the server set it
        self.lock = threading.Condition()  # a green one under eventlet and gevent (patched before use)
        self.committed = 0  # commits numbered in the order they happened
        self.synced = 0  # every commit up to this one is on disk
        self.syncing = False

    def ticket(self) -> int:
        """Number a commit that just happened (call straight after it, with nothing in between)."""
        with self.lock:
            self.committed += 1
            return self.committed

    def wait(self, ticket: int) -> None:
        """Return once commit `ticket` is on disk: sync the log, or wait for the sync that covers it."""
        with self.lock:
            while self.synced < ticket:
                if self.syncing:
                    self.lock.wait()
                    continue
                self.syncing, target = True, self.committed
                self.lock.release()
                try:
                    self.state.run_blocking(lambda: _sync(self.path))
                finally:
                    self.lock.acquire()
                    self.syncing = False
                    self.lock.notify_all()
                self.synced = max(self.synced, target)


# The commits of this green thread (or thread) whose sync waits for the end of `deferred()`.
_pending: ContextVar[list | None] = ContextVar("companion_pending_syncs", default=None)


@contextmanager
def deferred():
    """Commits inside return once committed; the block ends once their log is on disk."""
    if _pending.get() is not None:  # already inside one: the outer block waits
        yield
        return
    pending: list = []
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
        for log, ticket in pending:
            log.wait(ticket)


class DurableConnection(sqlite3.Connection):
    """A SQLite connection whose commit returns once the write-ahead log holds it on disk."""

    log: LogSync | None = None  # set by `configure` for a file database in WAL mode
    changes_synced = 0

    def commit(self) -> None:
        super().commit()
        changes = self.total_changes
        if self.log is None or changes == self.changes_synced:
            return
        self.changes_synced = changes
        ticket = self.log.ticket()
        pending = _pending.get()
        if pending is None:
            self.log.wait(ticket)
        else:
            pending.append((self.log, ticket))


def configure(dbapi_connection, state: Runtime) -> str:
    """Set up a new connection of the app whose runtime is `state` (its connections to one file share one
    group commit); returns the `synchronous` level it should run with."""
    if not isinstance(dbapi_connection, DurableConnection):
        return "FULL"
    cursor = dbapi_connection.cursor()
    path = next((row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"), "")
    mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
    cursor.close()
    if not path or mode.lower() != "wal":
        return "FULL"
    log = state.sqlite_logs.get(path)
    if log is None:
        log = state.sqlite_logs[path] = LogSync(path + "-wal", state)
    dbapi_connection.log = log
    return "NORMAL"


def sqlite_pragmas(engine, state: Runtime) -> None:
    """WAL (readers never wait), commits durable before they return (`durability`: the log is synced
    off the event loop), foreign keys, and a short busy wait: a lock held by another process
    freezes an async server for at most 50 ms per try; the caller retries (services.database)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={configure(dbapi_connection, state)}")
        cursor.execute("PRAGMA busy_timeout=50")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        conn.exec_driver_sql("BEGIN")
