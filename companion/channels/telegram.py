"""The Telegram bot (python-telegram-bot's Bot and Update: the Bot API's calls and payloads), run by
`python -m companion channels` in its own asyncio process, never in the eventlet server.

Updates arrive by long polling (getUpdates) or by webhook (setWebhook with a secret_token, checked in
constant time), as TELEGRAM_MODE says. Each update is handed to services/channels.py in a worker thread
with an app context (the same service layer and database as the web intake); the outbox's notices are sent
from here with retries (services/outbox.py)."""
from __future__ import annotations

import asyncio
import hmac
import logging

from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, TelegramError

from ..config import LANGUAGE_ENDONYMS, LANGUAGES
from ..models import Channel
from ..services import channels, outbox
from .common import prepare_announcement, send_outbox_forever, store_turns, tell_server

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram"
POLL_TIMEOUT = 25  # seconds getUpdates waits for a message (long polling)
IMAGE_FILES = frozenset({"image/jpeg", "image/png", "image/webp"})  # the kinds services/channels.py keeps
# what a resident may send that the office does not keep: they are told so, never "attached"
UNKEPT_KINDS = ("voice", "video", "video_note", "audio", "animation", "document", "contact", "poll")
LANGUAGE_BUTTONS = InlineKeyboardMarkup([[InlineKeyboardButton(LANGUAGE_ENDONYMS[code], callback_data=f"lang:{code}")
                                          for code in LANGUAGES]])


def fits(number) -> bool:
    """True for an id the Bot API can send (an integer, not a boolean) that a BIGINT column holds."""
    return isinstance(number, int) and not isinstance(number, bool) and -2 ** 63 < number < 2 ** 63


def readable(update: Update) -> channels.Incoming | None:
    """`incoming`, or None for an update whose parts are not of the documented types (the library checks none):
    skipped, never a crash that would have Telegram deliver it again and again."""
    try:
        message = incoming(update)
        if message is None or not all(fits(n) for n in (message.update_id, int(message.chat), message.message_id or 0)):
            return None
        if not all(isinstance(v, str) for v in (message.text, message.name, message.button, message.photo)):
            raise TypeError("not a string")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        log.warning("an update could not be read: %s", type(exc).__name__)
        return None
    return message


def incoming(update: Update) -> channels.Incoming | None:
    """What services/channels.py needs of a Telegram update (None for kinds the bot does not take)."""
    chat_of_update = update.effective_chat
    if chat_of_update is None or chat_of_update.type != "private":
        return None  # a group shares one chat id: one member would read and consent for another
    if update.callback_query is not None:
        query = update.callback_query
        chat = query.message.chat.id if query.message is not None else query.from_user.id
        if query.from_user is None or query.from_user.id != chat:
            return None  # a button is the chat's own resident's
        user = query.from_user  # the name comes with the consent it is kept under
        return channels.Incoming(Channel.TELEGRAM.value, update.update_id, str(chat), button=query.data or "",
                                 name=" ".join(part for part in (user.first_name, user.last_name) if part),
                                 language_hint=(user.language_code or "")[:2])
    message = update.message
    if message is None:
        return None
    user = message.from_user
    name = " ".join(part for part in (user.first_name, user.last_name) if part) if user else ""
    photo = message.photo[-1].file_id if message.photo else ""  # the sizes come smallest first
    document = message.document
    if not photo and document is not None and (document.mime_type or "") in IMAGE_FILES:
        photo = document.file_id  # a photo sent "as a file" (to keep its quality) is a photo still
    location = message.location
    unkept = ""
    if message.sticker is not None or message.dice is not None:
        unkept = "sticker"
    elif not photo and location is None and any(getattr(message, kind) is not None for kind in UNKEPT_KINDS):
        unkept = "file"
    return channels.Incoming(Channel.TELEGRAM.value, update.update_id, str(message.chat.id), message.message_id,
                             text=message.text or message.caption or "", name=name, photo=photo,
                             lat=location.latitude if location else None, long=location.longitude if location else None,
                             language_hint=((user.language_code or "") if user else "")[:2], unkept=unkept,
                             album=str(message.media_group_id or "")[:64])


def file_url(api_url: str) -> str:
    """The Bot API's file address for its method address: https://api.telegram.org/bot -> .../file/bot."""
    base = api_url.rstrip("/")
    return (base[:-len("/bot")] if base.endswith("/bot") else base) + "/file/bot"


class TelegramChannel:
    """One bot: takes updates (polling or webhook), replies, and sends the outbox."""

    def __init__(self, app, bot: Bot | None = None):
        cfg = app.config
        self.app = app
        self.bot = bot or Bot(cfg["TELEGRAM_TOKEN"], base_url=cfg["TELEGRAM_API_URL"],
                              base_file_url=file_url(cfg["TELEGRAM_API_URL"]))
        self.wake = asyncio.Event()
        self.pending: set[asyncio.Task] = set()  # photos being fetched

    def _in_app(self, call, *args):
        """Run a service call in a request context of the app (links need one); the session ends with it."""
        with self.app.test_request_context("/"):
            return call(*args)

    def _receive(self, message: channels.Incoming):
        outcome = channels.receive(message)
        return outcome, prepare_announcement(self.app, outcome.change)

    async def handle(self, update: Update) -> None:
        """Take one update: store it (once), answer a button, send the replies, wake the outbox."""
        message = readable(update)
        if message is None:
            return
        if update.callback_query is not None:
            try:
                await self.bot.answer_callback_query(update.callback_query.id)
            except TelegramError as exc:  # the button's spinner only: the press is still taken
                log.warning("answerCallbackQuery failed: %s", type(exc).__name__)
        async with store_turns(self.app).turn(message.channel, message.chat):
            outcome, note = await asyncio.to_thread(self._in_app, self._receive, message)
        await asyncio.to_thread(tell_server, note)  # the desk hears of it once stored, outside the turn
        for reply in outcome.replies:
            markup = LANGUAGE_BUTTONS if reply.buttons == "lang" else (
                self._consent_buttons(message, reply.language) if reply.buttons == "consent" else None)
            try:
                await self.bot.send_message(int(message.chat), reply.text, reply_markup=markup)
            except TelegramError as exc:
                log.warning("reply failed: %s", type(exc).__name__)
        if outcome.queued:
            self.wake.set()
        if outcome.photos:  # fetched in the background: a webhook is answered at once, polling goes on
            task = asyncio.create_task(self.keep_photos(outcome.photos))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def drain(self) -> None:
        """Wait for the photos still being fetched."""
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)

    async def keep_photos(self, photos: list[tuple[int, str]]) -> None:
        """Fetch each photo of a new appeal (getFile, then the file) within CHANNEL_PHOTO_MAX_BYTES and keep it
        with the appeal; one too large or not fetched keeps its file id only (shown to staff as before)."""
        cap = self.app.config["CHANNEL_PHOTO_MAX_BYTES"]
        for appeal_id, file_id in photos:
            try:
                found = await self.bot.get_file(file_id)
                if not found.file_size or found.file_size > cap:
                    continue  # Telegram says each photo's size: one too large is never downloaded
                data = bytes(await found.download_as_bytearray())
            except (TelegramError, OSError) as exc:
                log.warning("a photo was not fetched: %s", type(exc).__name__)
                continue
            async with store_turns(self.app).lane:
                await asyncio.to_thread(self._in_app, channels.keep_photo, appeal_id, Channel.TELEGRAM.value,
                                        file_id, data)

    def _consent_buttons(self, message: channels.Incoming, language: str = "") -> InlineKeyboardMarkup:
        labels = self._in_app(channels.consent_buttons, message.channel, message.chat, message.language_hint, language)
        return InlineKeyboardMarkup([[InlineKeyboardButton(labels[0], callback_data="consent:yes")],
                                     [InlineKeyboardButton(labels[1], callback_data="consent:no")]])

    async def handle_json(self, data: dict) -> None:
        """A webhook's body: one Update as JSON (one the library cannot read is skipped, by its kind of error only)."""
        try:
            update = Update.de_json(data, self.bot)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            log.warning("an update could not be read: %s", type(exc).__name__)
            return
        await self.handle(update)

    async def poll_once(self, offset: int | None, timeout: int = POLL_TIMEOUT) -> int | None:
        """One getUpdates round: take each update, then return the offset that confirms them."""
        for update in await self.bot.get_updates(offset=offset, timeout=timeout):
            try:
                await self.handle(update)
            except Exception:  # noqa: BLE001 - one bad update never stops the others (nor comes back forever)
                log.error("update %s failed", update.update_id, exc_info=False)
            offset = update.update_id + 1
        return offset

    async def poll(self) -> None:
        """Long polling: getUpdates from the last offset; an update is confirmed by asking past it, so
        one taken but not confirmed (a crash between) comes again and is recognised by its update_id."""
        await self.bot.delete_webhook()
        offset = None
        while True:
            try:
                offset = await self.poll_once(offset)
            except TelegramError as exc:
                log.warning("getUpdates failed: %s", type(exc).__name__)
                await asyncio.sleep(2)

    async def webhook_app(self) -> web.Application:
        """The webhook endpoint: POST /telegram with the secret in its header (compared in constant time)."""
        secret = self.app.config["TELEGRAM_WEBHOOK_SECRET"].encode()

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not secret or not hmac.compare_digest(given, secret):
                return web.json_response({"error": "bad secret token"}, status=403)
            try:
                data = await request.json()
            except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
                return web.json_response({"error": "the body is not JSON"}, status=400)
            if not isinstance(data, dict) or not fits(data.get("update_id")):
                return web.json_response({"error": "not a Telegram update"}, status=400)
            try:
                await self.handle_json(data)
            except Exception as exc:  # noqa: BLE001 - not stored (a database down): Telegram delivers it again.
                # Logged by type only: a database error's text carries the statement's parameters, the resident's words
                log.error("an update was not stored: %s", type(exc).__name__)
                return web.json_response({"error": "not stored, deliver again"}, status=503)
            return web.json_response({"ok": True})

        application = web.Application(client_max_size=1024 * 1024)
        application.router.add_post(WEBHOOK_PATH, receive)
        return application

    async def register_webhook(self) -> None:
        """setWebhook with the public URL and the secret_token Telegram will send back."""
        cfg = self.app.config
        url = cfg["TELEGRAM_WEBHOOK_URL"] or cfg["PUBLIC_URL"].rstrip("/") + WEBHOOK_PATH
        await self.bot.set_webhook(url, secret_token=cfg["TELEGRAM_WEBHOOK_SECRET"],
                                   allowed_updates=["message", "callback_query"])

    def _due(self) -> list[tuple[int, str, str]]:
        return [(m.id, m.chat, m.text) for m in outbox.due(Channel.TELEGRAM.value)]

    def _mark(self, message_id: int, error: str | None, permanent: bool) -> None:
        outbox.mark(message_id, error, permanent=permanent)

    async def send_outbox_once(self) -> int:
        """Send every notice now due; returns how many were tried."""
        due = await asyncio.to_thread(self._in_app, self._due)
        failed_chats = set()  # a chat whose notice failed this round: its later ones wait for that one
        for message_id, chat, text in due:
            if chat in failed_chats:
                continue
            error, permanent = None, False
            try:
                await self.bot.send_message(int(chat), text)
            except Forbidden as exc:  # the resident blocked the bot: no retry will reach them
                error, permanent = f"{type(exc).__name__}: {exc.message}", True
            except BadRequest as exc:
                error, permanent = f"{type(exc).__name__}: {exc.message}", "chat not found" in exc.message.lower()
            except TelegramError as exc:
                error = f"{type(exc).__name__}: {exc.message}"
            except Exception as exc:  # noqa: BLE001 - recorded as a failure: backoff, then the dead letter
                error = type(exc).__name__
            if error is not None and not permanent:
                failed_chats.add(chat)
            async with store_turns(self.app).lane:  # the process's writes take turns on SQLite
                await asyncio.to_thread(self._in_app, self._mark, message_id, error, permanent)
        return len(due)

    async def send_outbox(self, idle_seconds: float = 1.0) -> None:
        """The outbox sender (common.send_outbox_forever): due notices at once when woken."""
        await send_outbox_forever(self, idle_seconds)

    async def run(self) -> None:
        """Run the bot in the configured mode until cancelled."""
        cfg = self.app.config
        async with self.bot:
            sender = asyncio.create_task(self.send_outbox())
            try:
                if cfg["TELEGRAM_MODE"] == "webhook":
                    runner = web.AppRunner(await self.webhook_app())
                    await runner.setup()
                    await web.TCPSite(runner, cfg["TELEGRAM_WEBHOOK_HOST"], cfg["TELEGRAM_WEBHOOK_PORT"]).start()
                    await self.register_webhook()
                    try:
                        await asyncio.Event().wait()
                    finally:
                        await runner.cleanup()
                else:
                    await self.poll()
            finally:
                sender.cancel()
                await self.drain()  # before the bot's session closes
