"""Channel adapters (Telegram, WhatsApp) run by `python -m companion channels`: asyncio, in their own process.
What both adapters share (announcing a stored message, taking turns to store, the outbox sender) is in common.py."""
from __future__ import annotations

import asyncio
import logging
import re

SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}\Z")


NOISY_LOGGERS = ("httpx", "httpcore", "aiohttp.access")


def quiet_loggers() -> None:
    """httpx logs each Bot API address (the bot's token is in it) and aiohttp each request line (WhatsApp's
    verify token is in the handshake's query): warnings only, so secrets and chat ids stay out of the log."""
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


async def _supervised(make) -> None:
    """Run one channel; an error it did not expect restarts it after a pause, never stops the others."""
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
