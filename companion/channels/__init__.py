"""Channel adapters (Telegram, WhatsApp) run by `python -m companion channels`: asyncio, in their own process."""
from __future__ import annotations

import asyncio
import contextlib
import re

SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}\Z")


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
        from ..realtime.emit import publish
        publish(change)
        return None
    import json
    import urllib.request

    from ..web.internal import SIGNATURE_HEADER, signature
    body = json.dumps({"broadcast": change.broadcast.slug, "event": change.event,
                       "questions": [q.id for q in change.questions]}).encode()
    url = (app.config["INTERNAL_URL"] or f"http://127.0.0.1:{app.config['PORT']}").rstrip("/") + "/internal/changed"
    return urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: signature(app.config["SECRET_KEY"], body)})


def tell_server(request) -> None:
    """Send a note `prepare_announcement` made (None: nothing to send)."""
    if request is None:
        return
    import http.client
    import logging
    import urllib.request
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
    import weakref
    per_loop = app.extensions.setdefault("companion.store_turns", weakref.WeakKeyDictionary())
    loop = asyncio.get_running_loop()
    if loop not in per_loop:
        per_loop[loop] = StoreTurns(app)
    return per_loop[loop]


NOISY_LOGGERS = ("httpx", "httpcore", "aiohttp.access")


def quiet_loggers() -> None:
    """httpx logs each Bot API address (the bot's token is in it) and aiohttp each request line (WhatsApp's
    verify token is in the handshake's query): warnings only, so secrets and chat ids stay out of the log."""
    import logging
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class ChannelsNotConfigured(Exception):
    """No channel has its settings (TELEGRAM_TOKEN, WHATSAPP_TOKEN), or a setting is unusable."""


def check(cfg: dict) -> None:
    """Refuse settings that cannot work, with the reason."""
    if not cfg["TELEGRAM_TOKEN"] and not cfg["WHATSAPP_TOKEN"]:
        raise ChannelsNotConfigured("Neither COMPANION_TELEGRAM_TOKEN nor COMPANION_WHATSAPP_TOKEN is set: "
                                    "no channel to run (docs/channels.md).")
    if cfg["TELEGRAM_TOKEN"]:
        if cfg["TELEGRAM_MODE"] not in ("polling", "webhook"):
            raise ChannelsNotConfigured("COMPANION_TELEGRAM_MODE must be polling or webhook.")
        if cfg["TELEGRAM_MODE"] == "webhook":
            if not SECRET_TOKEN.match(cfg["TELEGRAM_WEBHOOK_SECRET"] or ""):
                raise ChannelsNotConfigured("Webhook mode needs COMPANION_TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -).")
            if not (cfg["TELEGRAM_WEBHOOK_URL"] or cfg["PUBLIC_URL"]).startswith("https://"):
                raise ChannelsNotConfigured("Webhook mode needs an https:// COMPANION_TELEGRAM_WEBHOOK_URL or PUBLIC_URL.")
    if cfg["WHATSAPP_TOKEN"]:
        for name in ("WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_APP_SECRET"):
            if not cfg[name]:
                raise ChannelsNotConfigured(f"WhatsApp needs COMPANION_{name} as well (docs/channels.md).")


async def send_outbox_forever(channel, idle_seconds: float = 1.0) -> None:
    """A channel's outbox sender: due notices at once when `channel.wake` is set, else every `idle_seconds`
    (retries come due); a failed round (a database hiccup) leaves the rows due for the next one."""
    import logging
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


async def _supervised(make) -> None:
    """Run one channel; an error it did not expect restarts it after a pause, never stops the others."""
    import logging
    while True:
        try:
            await make().run()
        except Exception as exc:  # noqa: BLE001 - logged by type only (no personal data), then restarted
            logging.getLogger(__name__).error("channel stopped (%s): restarting in 5 s", type(exc).__name__)
            await asyncio.sleep(5)


async def _run_all(app) -> None:
    tasks = []
    if app.config["TELEGRAM_TOKEN"]:
        from .telegram import TelegramChannel
        tasks.append(_supervised(lambda: TelegramChannel(app)))
    if app.config["WHATSAPP_TOKEN"]:
        from .whatsapp import WhatsAppChannel
        tasks.append(_supervised(lambda: WhatsAppChannel(app)))
    await asyncio.gather(*tasks)


def run(app) -> None:
    """Run every configured channel until interrupted."""
    check(app.config)
    asyncio.run(_run_all(app))
