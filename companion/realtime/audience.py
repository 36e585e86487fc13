"""Counts this process's viewers per broadcast for the report's peak audience (the rule: services/audience.py)."""
from __future__ import annotations

import os
import socket as net
import uuid

from ..extensions import db, socketio
from ..services import audience
from .emit import VIEWER_NS

AUDIENCE_ROOM = "pub:"  # emit.room("pub", slug): every viewer's socket joins its broadcast's


def process_name() -> str:
    """This serving process among the others: host, process id and a random part (a reused pid is another process)."""
    return f"{net.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def local_counts() -> dict[str, int]:
    """{broadcast slug: viewers connected to this process}, from the Socket.IO rooms this process holds."""
    rooms = socketio.server.manager.rooms.get(VIEWER_NS, {})
    return {name[len(AUDIENCE_ROOM):]: len(members) for name, members in list(rooms.items())
            if isinstance(name, str) and name.startswith(AUDIENCE_ROOM) and members}


def sample_audience(process: str) -> dict[int, int]:
    """Write this process's counts (services.audience.record); returns the audiences it saw."""
    try:
        return audience.record(process, local_counts())
    finally:
        db.session.remove()


def audience_sampler(app) -> None:
    """Background task of a serving process: count the audience every AUDIENCE_SAMPLE_SECONDS, forever.

    It writes only when its counts changed, or to keep them fresh (every half of AUDIENCE_STALE_SECONDS):
    on SQLite every write takes the one write lock the requests need too, and a process with no viewers
    writes nothing at all."""
    import time
    process = process_name()
    last: dict[str, int] = {}
    written = 0.0
    while True:
        socketio.sleep(app.config["AUDIENCE_SAMPLE_SECONDS"])
        counts = local_counts()
        fresh = time.monotonic() - written < app.config["AUDIENCE_STALE_SECONDS"] / 2
        if counts == last and (fresh or not counts):
            continue
        with app.app_context():
            try:
                sample_audience(process)
                last, written = counts, time.monotonic()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the sampler; the next round writes
                app.logger.exception("audience sample failed")
