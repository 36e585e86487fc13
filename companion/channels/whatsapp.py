"""The office's WhatsApp number through the WhatsApp Cloud API, run by `python -m companion channels` in its own
asyncio process, never in the eventlet server.

Meta calls the webhook (GET /whatsapp: the hub.challenge handshake with our verify token; POST /whatsapp: the
messages, signed in X-Hub-Signature-256 with the app secret over the raw body bytes, checked in constant time
before the body is read as JSON). Each message is handed to services/channels.py in a worker thread with an app
context, as Telegram's are; replies and the outbox's notices go out with the Graph API's POST
/{phone-number-id}/messages: a text inside WhatsApp's 24-hour customer-service window, an approved template
outside it.

Why not pywa (4.5.0): its client runs in our loop with no web framework (server=None), but its GraphAPI sets the
session's base URL to graph.facebook.com in its constructor (no setting to point it at a stand-in but a private
attribute), and its updates go through its own handler registry. What we need is three request bodies and the
documented webhook payload, read here in one function (`incoming`) with the shapes of Meta's documentation."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from datetime import timedelta

import aiohttp
from aiohttp import web

from ..config import LANGUAGE_ENDONYMS, LANGUAGES
from ..extensions import db
from ..models import Channel, ChannelChat, OutboxMessage, utcnow

WA_ID = re.compile(r"[0-9]{1,20}")  # a WhatsApp id: the number's digits (ASCII only)
from ..services import channels, outbox, wording
from .common import prepare_announcement, send_outbox_forever, store_turns, tell_server

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Hub-Signature-256"
WEBHOOK_PATH = "/whatsapp"
WINDOW = timedelta(hours=24) - timedelta(minutes=5)  # the customer-service window, with a margin for clocks
BUTTON_TITLE_LIMIT = 20  # WhatsApp's reply buttons: 20 characters, 3 buttons, a body of 1,024
BODY_LIMIT = 1024
# Graph API error codes after which no retry will reach the resident: not a WhatsApp user, not allowed
PERMANENT_ERRORS = frozenset({131026, 131030, 131031})
REENGAGEMENT_ERROR = 131047  # more than 24 hours since the resident wrote: only a template goes through
IMAGE_FILES = frozenset({"image/jpeg", "image/png", "image/webp"})  # the kinds services/channels.py keeps
# what a resident may send that the office does not keep ("unsupported": a kind the Cloud API does not deliver)
UNKEPT_KINDS = frozenset({"audio", "video", "document", "contacts", "unsupported"})
LANGUAGE_BUTTONS = [(f"lang:{code}", LANGUAGE_ENDONYMS[code]) for code in LANGUAGES]


def message_key(wamid: str) -> int:
    """A stable 63-bit number for WhatsApp's message id (a "wamid." string) to key idempotency on."""
    return int.from_bytes(hashlib.blake2b(wamid.encode(), digest_size=8).digest(), "big") & (2 ** 63 - 1)


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is "sha256=" and the hex HMAC-SHA256 of the raw `body` with the app secret."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header[len("sha256="):].strip().encode("utf-8", "replace"))


def incoming(message: dict, names: dict[str, str]) -> channels.Incoming | None:
    """What services/channels.py needs of one webhook message (None for kinds the office does not take)."""
    wamid, sender = message.get("id"), message.get("from")
    if not isinstance(wamid, str) or not isinstance(sender, str) or not WA_ID.fullmatch(sender):
        return None
    def part(value, name: str) -> dict:  # a documented object of the message; any other shape reads as empty
        found = value.get(name) if isinstance(value, dict) else None
        return found if isinstance(found, dict) else {}

    key = message_key(wamid)
    kind = message.get("type")
    if kind == "interactive":
        reply = part(part(message, "interactive"), "button_reply")
        return channels.Incoming(Channel.WHATSAPP.value, key, sender, button=str(reply.get("id") or ""),
                                 name=names.get(sender, ""))  # the name comes with the consent it is kept under
    if kind == "button":  # a quick-reply button under a template
        return channels.Incoming(Channel.WHATSAPP.value, key, sender, name=names.get(sender, ""),
                                 button=str(part(message, "button").get("payload") or ""))
    found = channels.Incoming(Channel.WHATSAPP.value, key, sender, key, name=names.get(sender, ""))
    if kind == "text":
        found.text = str(part(message, "text").get("body") or "")
    elif kind == "image":
        image = part(message, "image")
        found.photo, found.text = str(image.get("id") or ""), str(image.get("caption") or "")
    elif kind == "document" and part(message, "document").get("mime_type") in IMAGE_FILES:
        document = part(message, "document")  # a photo sent "as a file" (to keep its quality) is a photo still
        found.photo, found.text = str(document.get("id") or ""), str(document.get("caption") or "")
    elif kind == "location":
        place = part(message, "location")
        try:
            found.lat, found.long = float(place["latitude"]), float(place["longitude"])
        except (KeyError, TypeError, ValueError):
            return None
    elif kind == "sticker":
        found.unkept = "sticker"
    elif kind in UNKEPT_KINDS:  # told it is not kept, never silence; a video's or a file's caption is taken
        found.unkept, found.text = "file", str(part(message, kind).get("caption") or "")
    else:
        return None  # a reaction, a status of the system: nothing to answer
    return found


def messages_of(payload: dict, phone_number_id: str = "") -> list[channels.Incoming]:
    """The residents' messages in one webhook payload (statuses of our own sends are skipped), in order."""
    def objects(value) -> list[dict]:  # the documented lists of objects; any other shape is skipped, not a crash
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    found = []
    for entry in objects(payload.get("entry")):
        for change in objects(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            if phone_number_id and metadata.get("phone_number_id") not in (None, phone_number_id):
                continue  # another number of the same Meta app
            names = {c.get("wa_id"): (c["profile"].get("name") if isinstance(c.get("profile"), dict) else "") or ""
                     for c in objects(value.get("contacts"))}
            for message in objects(value.get("messages")):
                if isinstance(message, dict) and (taken := incoming(message, names)) is not None:
                    found.append(taken)
    return found


class GraphError(Exception):
    """The Graph API refused a send (or could not be reached): its code and message."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.message, self.code = message, code


class WhatsAppChannel:
    """One WhatsApp number: the webhook, the replies, and the outbox's notices."""

    def __init__(self, app):
        self.app = app
        self.cfg = app.config
        self.wake = asyncio.Event()
        self.http: aiohttp.ClientSession | None = None
        self.pending: set[asyncio.Task] = set()

    async def __aenter__(self):
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.cfg['WHATSAPP_TOKEN']}"},
                                          timeout=aiohttp.ClientTimeout(total=20))
        return self

    async def __aexit__(self, *exc):
        await self.drain()
        await self.http.close()

    def _in_app(self, call, *args):
        """Run a service call in a request context of the app (links need one); the session ends with it."""
        with self.app.test_request_context("/"):
            return call(*args)

    # sending ----------------------------------------------------------------------------------------------

    async def post(self, body: dict) -> dict:
        """POST /{phone-number-id}/messages; the Graph API's answer, or GraphError."""
        url = f"{self.cfg['WHATSAPP_API_URL'].rstrip('/')}/{self.cfg['WHATSAPP_PHONE_NUMBER_ID']}/messages"
        try:
            async with self.http.post(url, json={"messaging_product": "whatsapp", "recipient_type": "individual",
                                                 **body}) as response:
                try:
                    answer = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    answer = {}
                if response.status >= 400 or not isinstance(answer, dict) or "error" in answer:
                    error = (answer.get("error") if isinstance(answer, dict) else None) or {}
                    raise GraphError(f"HTTP {response.status}: {error.get('message') or response.reason}",
                                     error.get("code"))
                return answer
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise GraphError(f"{type(exc).__name__}: the Graph API did not answer") from exc

    @staticmethod
    def text_body(to: str, text: str) -> dict:
        return {"to": to, "type": "text", "text": {"preview_url": False, "body": text}}

    @staticmethod
    def buttons_body(to: str, text: str, buttons: list[tuple[str, str]]) -> dict:
        return {"to": to, "type": "interactive", "interactive": {
            "type": "button", "body": {"text": text[:BODY_LIMIT]},
            "action": {"buttons": [{"type": "reply", "reply": {"id": ident, "title": title[:BUTTON_TITLE_LIMIT]}}
                                   for ident, title in buttons]}}}

    @staticmethod
    def template_body(to: str, name: str, language: str, params: list[str]) -> dict:
        return {"to": to, "type": "template", "template": {
            "name": name, "language": {"code": language},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]}}

    async def _send_replies(self, message: channels.Incoming, replies: list[channels.Reply]) -> None:
        for reply in replies:
            if reply.buttons == "lang":
                body = self.buttons_body(message.chat, reply.text, LANGUAGE_BUTTONS)
            elif reply.buttons == "consent":
                yes, no = await asyncio.to_thread(self._in_app, channels.consent_buttons, message.channel,
                                                  message.chat, message.language_hint, reply.language)
                text = reply.text
                if len(text) > BODY_LIMIT:  # a button message's body takes 1,024: the question goes whole, first
                    try:
                        await self.post(self.text_body(message.chat, text))
                    except GraphError as exc:
                        log.warning("reply failed: %s", exc.code)
                    text = text.rstrip().rsplit("\n", 1)[-1][-BODY_LIMIT:]  # its last paragraph above the buttons
                body = self.buttons_body(message.chat, text, [("consent:yes", yes), ("consent:no", no)])
            else:
                body = self.text_body(message.chat, reply.text)
            try:
                await self.post(body)
            except GraphError as exc:
                log.warning("reply failed: %s", exc.code)

    # receiving --------------------------------------------------------------------------------------------

    def _receive(self, message: channels.Incoming):
        outcome = channels.receive(message)
        return outcome, prepare_announcement(self.app, outcome.change)

    async def handle(self, message: channels.Incoming) -> None:
        """Take one message: store it (once) now; its replies go out in the background, the outbox is woken."""
        async with store_turns(self.app).turn(message.channel, message.chat):
            outcome, note = await asyncio.to_thread(self._in_app, self._receive, message)
        await asyncio.to_thread(tell_server, note)  # the desk hears of it once stored, outside the turn
        if outcome.replies:
            task = asyncio.create_task(self._send_replies(message, outcome.replies))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
        if outcome.queued:
            self.wake.set()
        if outcome.photos:  # fetched in the background: the webhook is answered at once
            task = asyncio.create_task(self.keep_photos(outcome.photos))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def keep_photos(self, photos: list[tuple[int, str]]) -> None:
        """Fetch each image of a new appeal (GET /{media-id} for its URL and size, then the URL, with the token)
        within CHANNEL_PHOTO_MAX_BYTES and keep it with the appeal; one too large or not fetched keeps its id only."""
        cap = self.cfg["CHANNEL_PHOTO_MAX_BYTES"]
        for appeal_id, media_id in photos:
            try:
                async with self.http.get(f"{self.cfg['WHATSAPP_API_URL'].rstrip('/')}/{media_id}") as response:
                    found = await response.json(content_type=None)
                if response.status >= 400 or not isinstance(found, dict) or not isinstance(found.get("url"), str):
                    raise GraphError(f"HTTP {response.status}: no media URL")
                if int(found.get("file_size") or 0) > cap:
                    continue
                async with self.http.get(found["url"]) as response:
                    if response.status >= 400:
                        raise GraphError(f"HTTP {response.status}")
                    data = await response.content.read(cap + 1)  # never more than the cap and one byte
                if len(data) > cap:
                    continue
            except (GraphError, TimeoutError, aiohttp.ClientError, ValueError, TypeError) as exc:
                log.warning("a photo was not fetched: %s", type(exc).__name__)
                continue
            async with store_turns(self.app).lane:
                await asyncio.to_thread(self._in_app, channels.keep_photo, appeal_id, Channel.WHATSAPP.value,
                                        media_id, data)

    async def drain(self) -> None:
        """Wait for the replies still being sent."""
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)

    async def handle_payload(self, payload: dict) -> int:
        """A webhook's body (already verified): every resident's message in it, in order; returns how many
        could not be stored (the webhook then asks Meta to deliver it again: the stored ones are not
        stored twice, by message id)."""
        found = messages_of(payload, self.cfg["WHATSAPP_PHONE_NUMBER_ID"])
        failed = 0
        for message in found:
            try:
                await self.handle(message)
            except Exception as exc:  # noqa: BLE001 - one bad message never loses the others of the delivery
                failed += 1
                log.error("a WhatsApp message failed: %s", type(exc).__name__)  # never its text: personal data
        return failed

    async def webhook_app(self) -> web.Application:
        """GET /whatsapp: Meta's verification handshake; POST /whatsapp: signed messages."""
        verify_token = self.cfg["WHATSAPP_VERIFY_TOKEN"].encode()
        app_secret = self.cfg["WHATSAPP_APP_SECRET"]

        async def verify(request: web.Request) -> web.Response:
            query = request.query
            given = query.get("hub.verify_token", "").encode()
            if query.get("hub.mode") != "subscribe" or not verify_token or not hmac.compare_digest(given, verify_token):
                return web.json_response({"error": "bad verify token"}, status=403)
            return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")

        async def receive(request: web.Request) -> web.Response:
            body = await request.read()  # the raw bytes: the signature is over them, never over re-serialised JSON
            if not signature_ok(app_secret, body, request.headers.get(SIGNATURE_HEADER)):
                return web.json_response({"error": "bad or missing X-Hub-Signature-256"}, status=403)
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
                return web.json_response({"error": "the body is not JSON"}, status=400)
            if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
                return web.json_response({"error": "not a WhatsApp Business Account webhook"}, status=400)
            if await self.handle_payload(payload):
                # not stored: Meta delivers a webhook again until it is answered 200, so nothing is lost
                return web.json_response({"error": "not stored, deliver again"}, status=503)
            return web.json_response({"ok": True})

        application = web.Application(client_max_size=1024 * 1024)
        application.router.add_get(WEBHOOK_PATH, verify)
        application.router.add_post(WEBHOOK_PATH, receive)
        return application

    # the outbox -------------------------------------------------------------------------------------------

    def _due(self) -> list[tuple[int, dict]]:
        """The due notices with the request body each needs: a text inside the window, a template outside."""
        plans = []
        for message in outbox.due(Channel.WHATSAPP.value):
            chat = db.session.get(ChannelChat, (Channel.WHATSAPP.value, message.chat))
            if chat is not None and chat.updated_at is not None and utcnow() - chat.updated_at < WINDOW:
                plans.append((message.id, self.text_body(message.chat, message.text)))
            elif message.appeal is not None:
                plans.append((message.id, self._template(message)))
            else:
                plans.append((message.id, {}))
        return plans

    def _template(self, message) -> dict:
        appeal = message.appeal
        name = self.cfg["WHATSAPP_TEMPLATE_ANSWER"] if message.kind == "answer" else self.cfg["WHATSAPP_TEMPLATE_NOTICE"]
        return self.template_body(message.chat, name, appeal.language or self.cfg["DEFAULT_LOCALE"],
                                  [appeal.tracking_code, wording.status_hint(appeal)])

    def _template_of(self, message_id: int) -> dict:
        message = db.session.get(OutboxMessage, message_id)
        return self._template(message) if message.appeal is not None else {}

    def _mark(self, message_id: int, error: str | None, permanent: bool, sent_as: str) -> None:
        outbox.mark(message_id, error, permanent=permanent, sent_as=sent_as)

    async def _send_one(self, message_id: int, body: dict) -> tuple[str | None, bool, str]:
        """(error, permanent, sent_as) of one notice; a text refused as outside the window goes again as a template."""
        if not body:
            return "outside the 24-hour window, and no appeal to name in a template", True, ""
        try:
            await self.post(body)
            return None, False, "text" if body["type"] == "text" else f"template:{body['template']['name']}"
        except GraphError as exc:
            if exc.code == REENGAGEMENT_ERROR and body["type"] == "text":
                template = await asyncio.to_thread(self._in_app, self._template_of, message_id)
                return await self._send_one(message_id, template)
            return exc.message, exc.code in PERMANENT_ERRORS, ""

    async def send_outbox_once(self) -> int:
        """Send every notice now due; returns how many were tried."""
        due = await asyncio.to_thread(self._in_app, self._due)
        failed_chats = set()  # a chat whose notice failed this round: its later ones wait for that one
        for message_id, body in due:
            chat = body.get("to")
            if chat is not None and chat in failed_chats:
                continue
            try:
                error, permanent, sent_as = await self._send_one(message_id, body)
            except Exception as exc:  # noqa: BLE001 - recorded as a failure: backoff, then the dead letter
                error, permanent, sent_as = type(exc).__name__, False, ""
            if error is not None and not permanent:
                failed_chats.add(chat)
            async with store_turns(self.app).lane:  # the process's writes take turns on SQLite
                await asyncio.to_thread(self._in_app, self._mark, message_id, error, permanent, sent_as)
        return len(due)

    async def send_outbox(self, idle_seconds: float = 1.0) -> None:
        """The outbox sender (common.send_outbox_forever): due notices at once when woken."""
        await send_outbox_forever(self, idle_seconds)

    async def run(self) -> None:
        """Serve the webhook and send the outbox until cancelled."""
        async with self:
            sender = asyncio.create_task(self.send_outbox())
            runner = web.AppRunner(await self.webhook_app())
            await runner.setup()
            try:
                await web.TCPSite(runner, self.cfg["WHATSAPP_WEBHOOK_HOST"], self.cfg["WHATSAPP_WEBHOOK_PORT"]).start()
                await asyncio.Event().wait()
            finally:
                sender.cancel()
                await runner.cleanup()
