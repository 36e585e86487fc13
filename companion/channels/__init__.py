"""Channel adapters (Telegram) run by `python -m companion channels`: asyncio, in their own process."""
from __future__ import annotations

import asyncio
import re

SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}\Z")


class ChannelsNotConfigured(Exception):
    """No channel has its settings (TELEGRAM_TOKEN), or a setting is unusable."""


def check(cfg: dict) -> None:
    """Refuse settings that cannot work, with the reason."""
    if not cfg["TELEGRAM_TOKEN"]:
        raise ChannelsNotConfigured("COMPANION_TELEGRAM_TOKEN is not set: no channel to run (docs/channels.md).")
    if cfg["TELEGRAM_MODE"] not in ("polling", "webhook"):
        raise ChannelsNotConfigured("COMPANION_TELEGRAM_MODE must be polling or webhook.")
    if cfg["TELEGRAM_MODE"] == "webhook":
        if not SECRET_TOKEN.match(cfg["TELEGRAM_WEBHOOK_SECRET"] or ""):
            raise ChannelsNotConfigured("Webhook mode needs COMPANION_TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -).")
        if not (cfg["TELEGRAM_WEBHOOK_URL"] or cfg["PUBLIC_URL"]).startswith("https://"):
            raise ChannelsNotConfigured("Webhook mode needs an https:// COMPANION_TELEGRAM_WEBHOOK_URL or PUBLIC_URL.")


def run(app) -> None:
    """Run every configured channel until interrupted."""
    from .telegram import TelegramChannel
    check(app.config)
    asyncio.run(TelegramChannel(app).run())
