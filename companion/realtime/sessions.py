"""Closes open staff sockets whose sign-in was logged out or whose account lost its rights."""
from __future__ import annotations

from ..extensions import db, socketio
from ..services import accounts
from .emit import STAFF_NS

WATCH_INTERVAL_SECONDS = 2.0


def login_room(login_id: str) -> str:
    """The room every socket of one sign-in joins."""
    return f"login:{login_id}"


def sweep_revoked_sessions() -> int:
    """Disconnect this process's staff sockets of revoked sign-ins; returns how many were closed."""
    manager = socketio.server.manager
    rooms = [r for r in manager.rooms.get(STAFF_NS, {}) if isinstance(r, str) and r.startswith("login:")]
    closed = 0
    for login_id in accounts.revoked_logins([r.split(":", 1)[1] for r in rooms]):
        for sid, _eio_sid in list(manager.get_participants(STAFF_NS, login_room(login_id))):
            socketio.server.disconnect(sid, namespace=STAFF_NS)
            closed += 1
    db.session.remove()
    return closed


def watch_sessions(app) -> None:
    """Background task of a serving process: sweep every couple of seconds, forever."""
    while True:
        socketio.sleep(WATCH_INTERVAL_SECONDS)
        with app.app_context():
            try:
                sweep_revoked_sessions()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the watcher
                app.logger.exception("session sweep failed")
