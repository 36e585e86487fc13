"""What the channel adapters share: announcing a stored message to the screens, taking turns to store, and
the outbox sender's loop."""
from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import urllib.request
import weakref

from ..realtime.emit import publish
from ..runtime import runtime
from ..web.internal import SIGNATURE_HEADER, signature


def announce(app, change) -> None:
    """Show a stored change on the screens: through the Redis message queue when it is set, otherwise by
    telling the serving process (web/internal.py: the question ids, signed with SECRET_KEY). A server
    that does not answer delays nothing and loses nothing: the desk shows the question at its next
    snapshot."""
    tell_server(prepare_announcement(app, change))


def prepare_announcement(app, change):
    """In the change's own app context: publish it through the message queue (None is left to do), or make
    the signed note to the serving process, which `tell_server` sends (outside any lock the caller holds)."""
    if change is None:
        return None
    if app.config["MESSAGE_QUEUE"]:
        publish(change)
        return None
    body = json.dumps({"broadcast": change.broadcast.slug, "event": change.event,
                       "questions": [q.id for q in change.questions],
                       "before": {str(k): v for k, v in change.before.items()}}).encode()
    url = (app.config["INTERNAL_URL"] or f"http://127.0.0.1:{app.config['PORT']}").rstrip("/") + "/internal/changed"
    return urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: signature(app.config["SECRET_KEY"], body)})


def tell_server(request) -> None:
    """Send a note `prepare_announcement` made (None: nothing to send)."""
    if request is None:
        return
    try:
        urllib.request.urlopen(request, timeout=2).close()
    except (OSError, ValueError, http.client.HTTPException) as exc:  # the server is down or restarting: the
        # desk catches up at its next snapshot
        logging.getLogger(__name__).warning("could not tell the server of a change: %s", type(exc).__name__)


class StoreTurns:
    """When the channels process stores a message: one resident's messages one at a time, in the order they
    came (a consent, then the question), and the process's stores through one lane on SQLite (its one writer:
    stores side by side only wait for each other's locks) or a few at once on PostgreSQL. Announcing a stored
    message to the screens happens outside both."""

    def __init__(self, app):
        self.lane = asyncio.Semaphore(1 if app.config["DATABASE_URL"].startswith("sqlite") else 4)
        self.chats: dict[str, list] = {}  # channel:chat -> [its lock, how many of its messages hold or wait for it]

    @contextlib.asynccontextmanager
    async def turn(self, channel: str, chat: str):
        key = f"{channel}:{chat}"
        entry = self.chats.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0], self.lane:
                yield
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self.chats[key]


def store_turns(app) -> StoreTurns:
    """The StoreTurns of this event loop (both channels run in one and share it; asyncio's locks belong to one loop)."""
    state = runtime(app)
    if state.store_turns is None:
        state.store_turns = weakref.WeakKeyDictionary()
    per_loop = state.store_turns
    loop = asyncio.get_running_loop()
    if loop not in per_loop:
        per_loop[loop] = StoreTurns(app)
    return per_loop[loop]


async def send_outbox_forever(channel, idle_seconds: float = 1.0) -> None:
    """A channel's outbox sender: due notices at once when `channel.wake` is set, else every `idle_seconds`
    (retries come due); a failed round (a database hiccup) leaves the rows due for the next one."""
    while True:
        try:
            await channel.send_outbox_once()
        except Exception as exc:  # noqa: BLE001 - by type only: no parameters, no personal data in the log
            logging.getLogger(__name__).error("outbox round failed: %s", type(exc).__name__)
        channel.wake.clear()
        try:
            await asyncio.wait_for(channel.wake.wait(), idle_seconds)
        except asyncio.TimeoutError:
            pass
