"""Messages from residents on a messaging channel (Telegram, WhatsApp): the live broadcast's queue while one is live,
otherwise an appeal for the back office; each delivery once (by update id and by message id); the chat's
language and consent; status by number, for the chat's own appeals only.

Plain data in and out: the platform's library lives in companion/channels/, this module only decides."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from ..extensions import db
from ..models import (LANGUAGES, Appeal, AppealFile, Broadcast, BroadcastStatus, ChannelChat, ChannelUpdate, Channel, Question,
                      utcnow)
from . import appeals, blocking, intake, limits, outbox, privacy, wording
from .changes import Change
from .database import resilient
from ..errors import QuestionsClosed, ServiceError, ValidationError
from .fields import UNSTORABLE_MESSAGE, Limit, at_most_characters, chat_contact, clean_message, clean_name, storable
from .language import detect_language

STATUS_WORDS = frozenset({"status", "/status", "статус", "мәртебе", "күйі"})
# WhatsApp has no commands: the word asks for the language buttons as /start does in Telegram
LANGUAGE_WORDS = frozenset({"/start", "/language", "/lang", "language", "язык", "тіл"})
# a chat's prefix in idempotency keys and rate-limit tokens (Telegram's "tg" predates the others: kept)
# greetings and thanks: a resident who says hello is shown what to do, not registered as an appeal
GREETING_WORDS = frozenset({
    "hi", "hello", "hey", "good morning", "good afternoon", "good evening", "thanks", "thank you", "ok", "help",
    "привет", "здравствуйте", "здравствуй", "здрасте", "добрый день", "доброе утро", "добрый вечер", "спасибо",
    "ок", "помощь", "салам", "салем", "сәлем", "сәлеметсіз бе", "сәлеметсіздер ме", "армысыз", "қайырлы күн",
    "қайырлы таң", "рахмет", "рақмет", "көмек",
    # as typed on a Russian keyboard, and the Arabic greeting most residents use in both languages
    "салеметсиз бе", "салеметсизбе", "саламатсыз ба", "рахмет сізге", "ассалаумағалейкум", "ассалаумагалейкум",
    "ассаламуалейкум", "ассалам алейкум", "салам алейкум", "салам алейкум уважаемые"})
KEY_PREFIX = {Channel.TELEGRAM.value: "tg", Channel.WHATSAPP.value: "wa"}
CODE = re.compile(r"[A-Za-z]{2,10}-\d{4}-\d{3,12}")
GIVEN, REFUSED = "given", "refused"


@dataclass
class Incoming:
    """One message or button press from a chat, as the platform delivered it."""

    channel: str
    update_id: int
    chat: str
    message_id: int | None = None
    text: str = ""
    name: str = ""
    language_hint: str = ""  # the app's language on the resident's phone, when the platform says
    photo: str = ""  # the platform's file id of the largest size
    lat: float | None = None
    long: float | None = None
    button: str = ""  # a pressed button's data: "lang:kk", "consent:yes", "consent:no"
    # what the message carried that the office does not keep: "sticker" (asks nothing, as an emoji), "file" (a
    # voice message, a video, a document that is not an image: the resident is told, never "attached")
    unkept: str = ""
    album: str = ""  # Telegram's media_group_id: the photos of one album, sent as one message each


@dataclass
class Reply:
    """What to send back now: a text, with buttons ("lang" or "consent") when asked."""

    text: str
    buttons: str = ""
    language: str = ""  # the text's language, for the buttons' labels under it


@dataclass
class Outcome:
    """What one delivery did: replies to send at once, the change to publish, whether the outbox has new rows."""

    replies: list[Reply] = field(default_factory=list)
    change: Change | None = None
    queued: bool = False
    repeat: bool = False
    photos: list[tuple[int, str]] = field(default_factory=list)  # (appeal id, platform file id) to fetch and keep


NOT_A_WORD = re.compile(r"[^\w\s/@]+")  # punctuation and emoji: "Привет 👋", "Сәлем!!!" are greetings still


def is_greeting(text: str) -> bool:
    """True for a message that asks nothing: a greeting, thanks, a bot command ("/help", "/start@bot"), or no
    letter or digit at all (an emoji), whatever punctuation or emoji come with it."""
    words = " ".join(NOT_A_WORD.sub(" ", text.lower().replace("ё", "е")).split())
    if words.startswith("/") and len(words.split()) == 1:
        return True  # a command of Telegram's menu; "/status" is answered before this
    return words in GREETING_WORDS or not any(ch.isalnum() for ch in words)


def _chat(channel: str, chat: str) -> ChannelChat:
    row = db.session.get(ChannelChat, (channel, chat))
    if row is None:
        row = ChannelChat(channel=channel, chat=chat, language="", consent="", updated_at=utcnow())
        db.session.add(row)
    return row


def _language(row: ChannelChat, hint: str = "", text: str = "") -> str:
    """The language of a reply: the chat's chosen one (the button), else the message's own (as its appeal's,
    so the receipt and every later notice match), else that of the chat's latest appeal (a "статус" or a number
    has no words of its own; WhatsApp tells no phone language), else the phone's, else the office's default."""
    if row.language in LANGUAGES:
        return row.language
    detected = detect_language(text) if text else None
    if detected in LANGUAGES:
        return detected
    if not text and row.channel and row.chat:
        latest = db.session.execute(select(Appeal.language).where(Appeal.id.in_(_chat_appeal_ids(row.channel, row.chat)))
                                    .order_by(Appeal.id.desc()).limit(1)).scalar_one_or_none()
        if latest in LANGUAGES:
            return latest
    return hint if hint in LANGUAGES else current_app.config["DEFAULT_LOCALE"]


def status_request(text: str) -> tuple[bool, str]:
    """Whether a message asks for the status, and of which number: "статус", a number alone, or the word and a
    number ("статус SRK-2026-000123", "/status: SRK-…")."""
    if text.lower() in STATUS_WORDS:
        return True, ""
    if CODE.fullmatch(text):
        return True, text
    words = text.split()
    if len(words) == 2 and words[0].lower().rstrip(":,") in STATUS_WORDS and CODE.fullmatch(words[1].strip(".,")):
        return True, words[1].strip(".,")
    return False, ""


def live_broadcast() -> Broadcast | None:
    """The broadcast now live and taking questions (the latest started, if several)."""
    return db.session.execute(select(Broadcast).where(Broadcast.status == BroadcastStatus.LIVE.value,
                                                      Broadcast.questions_open.is_(True))
                              .order_by(Broadcast.started_at.desc().nulls_last(), Broadcast.id.desc())
                              .limit(1)).scalar_one_or_none()


REDELIVERY_WINDOW = timedelta(days=1)  # Telegram keeps an update for 24 hours; Meta retries for a day or so
ALBUM_WINDOW = timedelta(hours=1)  # an album's photos come within seconds; an hour allows for a slow upload
# a photo or a location sent alone waits this long for the words it goes with; one sent last week is not
# part of today's question
ATTACH_WINDOW = timedelta(hours=1)


def _used(row: ChannelUpdate) -> None:
    """A held or attached message taken into an appeal (or too old to be): nothing of the resident's words, name
    or photo stays in the channel's records; only the album it belongs to, which its next photos look for."""
    album = (row.held or {}).get("album")
    row.state, row.held = "done", ({"album": album} if album else None)


def _seen(message: Incoming) -> bool:
    """True when this update, or this chat's message, was taken before: the same update_id from the same chat
    within a day (after a week without updates Telegram counts update_id from a new value, and an old
    number then names a new message), or the chat's message id at any time."""
    found = db.session.execute(select(ChannelUpdate.id).where(
        ChannelUpdate.channel == message.channel, ChannelUpdate.chat == message.chat,
        ChannelUpdate.update_id == message.update_id,
        ChannelUpdate.created_at >= utcnow() - REDELIVERY_WINDOW)).first()
    if found is None and message.message_id is not None:
        found = db.session.execute(select(ChannelUpdate.id).where(
            ChannelUpdate.channel == message.channel, ChannelUpdate.chat == message.chat,
            ChannelUpdate.message_id == message.message_id)).first()
    return found is not None


def _record(message: Incoming, state: str = "done", held: dict | None = None, appeal: Appeal | None = None,
            message_id: bool = True) -> ChannelUpdate:
    row = ChannelUpdate(channel=message.channel, update_id=message.update_id, chat=message.chat,
                        message_id=message.message_id if message_id else None, state=state, held=held,
                        appeal_id=appeal.id if appeal is not None else None, created_at=utcnow())
    db.session.add(row)
    return row


@resilient  # the serving process writes the same SQLite file: a lock held a moment is waited out, not a failure
def receive(message: Incoming) -> Outcome:
    """Take one delivery: idempotent by update id and message id (a repeat does nothing and says so)."""
    if _seen(message):
        return Outcome(repeat=True)
    message.name, message.text = clean_name(message.name), clean_message(message.text)
    try:
        outcome = _receive(message)
    except IntegrityError:  # the same update taken meanwhile by another delivery
        db.session.rollback()
        return Outcome(repeat=True)
    return outcome


AUTO_REPLIES_PER_MINUTE = 6  # a chat's messages answered by the bot alone (greetings, status, stickers) a minute


def _quiet(channel: str, chat: str) -> bool:
    """True once this chat had AUTO_REPLIES_PER_MINUTE messages in the last minute that the bot answered by itself
    and that made no appeal: a flood of stickers, "status" or refused messages ("Too many requests") gets that many
    replies, not one each (the message is still recorded, so a redelivery is not answered either)."""
    answered = db.session.execute(select(func.count()).select_from(ChannelUpdate).where(
        ChannelUpdate.channel == channel, ChannelUpdate.chat == chat,
        ChannelUpdate.appeal_id.is_(None), ChannelUpdate.state == "done",
        ChannelUpdate.created_at > utcnow() - limits.WINDOW)).scalar_one()
    return answered >= AUTO_REPLIES_PER_MINUTE


def _auto_reply(message: Incoming, reply) -> Outcome:
    """Record a message the bot answers by itself, and answer it (`reply()`), unless the chat is flooding."""
    quiet = _quiet(message.channel, message.chat)
    _record(message, message_id=not message.button)
    db.session.commit()
    return Outcome() if quiet else Outcome([reply()])


def _receive(message: Incoming) -> Outcome:
    chat = _chat(message.channel, message.chat)
    chat.updated_at = utcnow()  # the resident wrote: WhatsApp's 24-hour reply window starts again
    words = message.text.strip()
    # a command, a number or the status word has no language of its own: the chat's or the phone's
    worded = not (words.startswith("/") or status_request(words)[0] or words.lower() in LANGUAGE_WORDS)
    lang = _language(chat, message.language_hint, words if worded else "")
    if blocking.is_blocked([blocking.chat_identity(message.channel, message.chat)]):
        # taken once (a redelivery is not answered twice), kept nowhere else; the reply says no more than needed
        with force_locale(lang):
            return _auto_reply(message, lambda: Reply(str(blocking.Blocked.default_message)))
    if message.button:
        return _button(message, chat, lang)
    text = message.text.strip()
    asks_status, code = status_request(text)
    if asks_status:
        return _auto_reply(message, lambda: Reply(status_text(message.channel, message.chat, lang, code)))
    attached = bool(message.photo) or message.lat is not None
    if attached and text and is_greeting(text):
        text = ""  # a photo captioned "hello": kept for the question that follows, as a photo alone is
    if text.lower() in LANGUAGE_WORDS or (text and is_greeting(text)) or (
            not text and not attached and message.unkept != "file"):  # a sticker asks nothing, as an emoji
        with force_locale(lang):
            return _auto_reply(message, lambda: Reply(_(
                "Hello! Write your question or describe your problem, and the office will answer. "
                "Send “status” to see where your appeals stand. Choose your language:"), "lang"))
    if not text and not attached:  # a voice message, a video or a file alone: never said to be attached
        with force_locale(lang):
            return _auto_reply(message, lambda: Reply(_(
                "Voice messages, videos and files are not kept here, only text, photos and a location. Please "
                "write your question in a message.")))
    outcome = _words(message, chat, lang, text)
    if message.unkept == "file" and not outcome.repeat:
        with force_locale(lang):
            outcome.replies.insert(0, Reply(_("Only the text of this message is taken: voice messages, videos and "
                                              "files are not kept here.")))
    return outcome


def _album_leader(message: Incoming) -> ChannelUpdate | None:
    """The earlier message of this chat's album (Telegram sends an album's photos one message each, the caption
    on one of them): the one that became an appeal, else the first; None when this photo is the album's first."""
    if not message.album:
        return None
    rows = [row for row in db.session.scalars(select(ChannelUpdate).where(
        ChannelUpdate.channel == message.channel, ChannelUpdate.chat == message.chat,
        ChannelUpdate.held.is_not(None), ChannelUpdate.created_at >= utcnow() - ALBUM_WINDOW)
        .order_by(ChannelUpdate.id).limit(200)) if (row.held or {}).get("album") == message.album]
    return next((row for row in rows if row.appeal_id is not None), rows[0] if rows else None)


def _join_album(message: Incoming, leader: ChannelUpdate) -> Outcome:
    """A photo of an album whose captioned message is already an appeal: kept with that appeal, not the next."""
    appeal = db.session.get(Appeal, leader.appeal_id)
    extra = dict(appeal.attachments or {})
    photos = list(extra.get("photos") or [])
    if message.photo not in photos:
        photos.append(message.photo)
    appeal.attachments = {**extra, "channel": message.channel, "photos": photos}
    _record(message, held={"album": message.album})  # not counted as an appeal of its own
    db.session.commit()
    return Outcome(photos=[(appeal.id, message.photo)])


def _words(message: Incoming, chat: ChannelChat, lang: str, text: str) -> Outcome:
    """A message with words, or a photo or a location to keep with the words that follow."""
    # nothing of the person before consent (docs/channels.md): the name comes with the "I agree" press
    held = {"text": text, "name": message.name if chat.consent == GIVEN else "", "photo": message.photo,
            "lat": message.lat, "long": message.long, "hint": message.language_hint}
    if message.album:
        held["album"] = message.album
    if not text:  # a location or a photo alone: kept for the next text message of this chat
        leader = _album_leader(message) if message.photo else None
        if leader is not None and leader.appeal_id is not None:
            return _join_album(message, leader)
        _record(message, state="attach", held=held)
        db.session.commit()
        if leader is not None and leader.state in ("held", "attach"):
            return Outcome()  # the album's first message was answered: its next photos join it in silence
        with force_locale(lang):
            return Outcome([Reply(_("Attached. Now write your question in a message."))])
    if not chat.consent:
        try:  # the per-sender limit counts a held message when it comes: at the press all of them are taken
            _count_chat_appeals(message.channel, message.chat)
        except limits.RateLimited as exc:
            quiet = _quiet(message.channel, message.chat)  # a flood is refused a few times a minute, not once a message
            _record(message)
            db.session.commit()
            return Outcome() if quiet else _refused(exc, lang)
        _record(message, state="held", held=held)
        db.session.commit()
        with force_locale(lang):
            return Outcome([Reply(consent_question(lang, message.channel), "consent", lang)])
    row = _record(message, held={"album": message.album} if message.album else None)
    return _take(message.channel, message.chat, chat, lang, row, held)


def _refused(exc: ServiceError, lang: str) -> Outcome:
    """The reply to a message not taken, with the reasons, in the chat's language."""
    with force_locale(lang):
        reasons = " ".join(str(v) for v in (exc.fields or {}).values()) or str(exc.message)
        return Outcome([Reply(_("Your message was not taken: %(reason)s", reason=reasons))])


def consent_question(lang: str, channel: str = Channel.TELEGRAM.value) -> str:
    """The consent asked in the chat before a name is kept: the same points as the web form's."""
    points = "\n".join(f"• {p}" for p in privacy.consent_points(lang))
    if channel == Channel.WHATSAPP.value:
        what = _("With your consent we keep your WhatsApp name and your phone number and answer you in this chat: "
                 "your message is then an appeal the office must answer within the legal term. Without it, "
                 "your question is taken without your name.")
    else:
        what = _("With your consent we keep your name from Telegram and answer you in this chat: your "
                 "message is then an appeal the office must answer within the legal term. Without it, "
                 "your question is taken without your name.")
    return "\n".join([str(privacy.CONSENT_SENTENCE), points, "", what])


def _button(message: Incoming, chat: ChannelChat, lang: str) -> Outcome:
    kind, _sep, value = message.button.partition(":")
    _record(message, message_id=False)
    chat.updated_at = utcnow()
    if kind == "lang" and value in LANGUAGES:
        chat.language = value
        db.session.commit()
        with force_locale(value):
            return Outcome([Reply(_("Language: English. Write your question."))])
    if kind == "consent" and value in ("yes", "no"):
        chat.consent = GIVEN if value == "yes" else REFUSED
        chat.consent_at = utcnow()
        db.session.commit()
        held = list(db.session.scalars(select(ChannelUpdate).where(
            ChannelUpdate.channel == message.channel, ChannelUpdate.chat == message.chat,
            ChannelUpdate.state == "held").order_by(ChannelUpdate.id)))
        if not held:
            with force_locale(lang):
                return Outcome([Reply(_("Thank you. Write your question."))])
        outcome = Outcome()
        for row in held:  # each in its own transaction, as if it had just arrived
            data = dict(row.held or {})
            _used(row)
            if value == "yes" and not data.get("name"):
                data["name"] = message.name  # the profile name, given with the consent
            result = _take(message.channel, message.chat, chat, _language(chat, data.get("hint") or "", data.get("text") or ""),
                           row, data, limited=False)
            outcome.replies += result.replies
            outcome.queued = outcome.queued or result.queued
            outcome.change = outcome.change or result.change
            outcome.photos += result.photos
        return outcome
    db.session.commit()
    return Outcome()


def _attachments(channel: str, chat: str, held: dict) -> tuple[dict, dict]:
    """The location and photos of this message and of those sent alone just before it (then taken)."""
    photos = [held["photo"]] if held.get("photo") else []
    lat, long = held.get("lat"), held.get("long")
    since = utcnow() - ATTACH_WINDOW
    for row in db.session.scalars(select(ChannelUpdate).where(
            ChannelUpdate.channel == channel, ChannelUpdate.chat == chat, ChannelUpdate.state == "attach")):
        data = row.held or {}
        fresh = row.created_at is not None and row.created_at >= since
        if fresh and data.get("photo"):
            photos.append(data["photo"])
        if fresh and data.get("lat") is not None and lat is None:
            lat, long = data["lat"], data["long"]
        _used(row)
    location = {"lat": appeals.coordinate(lat, 90), "long": appeals.coordinate(long, 180)} if lat is not None else {}
    if None in location.values():
        location = {}
    extra = {"channel": channel, "photos": photos} if photos else None
    return location, {"attachments": extra} if extra else {}


def _take(channel: str, chat_id: str, chat: ChannelChat, lang: str, row: ChannelUpdate, held: dict,
          limited: bool = True) -> Outcome:
    """A question into the live broadcast's queue, or an appeal for the back office; the reply with its
    number goes into the outbox in the same transaction. `limited` False: a message held for consent, counted
    against the per-sender limit when it came."""
    consented = chat.consent == GIVEN
    name = (held.get("name") or "")[:current_app.config["NAME_MAX_LENGTH"]].strip() if consented else ""
    contact = chat_contact(channel, chat_id) if consented else ""
    location, extra = _attachments(channel, chat_id, held)
    language = chat.language if chat.language in LANGUAGES else None
    broadcast = live_broadcast()
    told = []
    if broadcast is not None and len((held.get("text") or "").strip()) > current_app.config["QUESTION_MAX_LENGTH"]:
        broadcast = None  # too long for the live queue, never cut: the back office takes it whole
        with force_locale(lang):
            told.append(Reply(_("Your message is too long for a question in the live broadcast, so it is "
                                "registered as an appeal to the office; its number follows.")))
    try:
        with force_locale(lang):  # a refusal's reasons are worded as they are raised: in the chat's language
            outcome = _route(broadcast, channel, chat_id, lang, row, held, name, contact, language, location,
                             extra, limited)
        outcome.replies[:0] = told
        return outcome
    except ServiceError as exc:
        db.session.rollback()
        quiet = _quiet(channel, chat_id)  # a flood past the per-sender limit gets a few refusals, not one each
        _again(row)
        db.session.commit()  # the update is taken: a redelivery is not refused twice
        return Outcome() if quiet else _refused(exc, lang)


def _route(broadcast, channel, chat_id, lang, row, held, name, contact, language, location, extra,
           limited) -> Outcome:
    try:
        if broadcast is not None:
            return _to_broadcast(broadcast, channel, chat_id, lang, row, held, name, contact, language,
                                 {**location, **extra}, limited)
        return _to_back_office(channel, chat_id, row, held, name, contact, language, location, extra, limited)
    except QuestionsClosed:  # closed since we looked: the back office takes it
        db.session.rollback()
        return _to_back_office(channel, chat_id, _again(row), held, name, contact, language, location, extra,
                               limited)


def _again(row: ChannelUpdate) -> ChannelUpdate:
    """The update's record again after a rollback (a new row, or the held one reloaded)."""
    # a row flushed in the transaction rolled back keeps its id but is gone (and out of the session): a new one
    again = db.session.get(ChannelUpdate, row.id) if row.id is not None else None
    if again is not None:
        _used(again)  # refused: nothing of the resident's words stays in the channel's records either
        return again
    fresh = ChannelUpdate(channel=row.channel, update_id=row.update_id, chat=row.chat, message_id=row.message_id,
                          state="done", held=None, created_at=utcnow())
    db.session.add(fresh)
    return fresh


def _to_broadcast(broadcast, channel, chat_id, lang, row, held, name, contact, language, origin,
                  limited=True) -> Outcome:
    data = {"text": held.get("text", ""), "author_name": name, "consent": bool(name or contact),
            "client_id": f"{KEY_PREFIX[channel]}-{chat_id}-{row.message_id or row.update_id}"}
    if language:
        data["language"] = language
    prepared = intake.prepare_submission(broadcast, data, channel=Channel(channel), viewer_token=f"{KEY_PREFIX[channel]}:{chat_id}",
                                         default_language=lang, channel_contact=contact, rate_limited=limited)
    if isinstance(prepared, Question):  # stored before under this message's id
        db.session.rollback()
        return Outcome(repeat=True)
    prepared.origin = origin

    def stored(question: Question) -> None:
        row.appeal_id = question.appeal.id
        row.state = "done"
        outbox.enqueue(channel, chat_id, "register", wording.registered_text(question.appeal), question.appeal)

    prepared.on_stored = stored
    question, change = intake.store_one(prepared)
    photos = [(question.appeal.id, p) for p in (origin.get("attachments") or {}).get("photos", [])] if change else []
    return Outcome(change=change, queued=change is not None, repeat=change is None, photos=photos)


def _to_back_office(channel, chat_id, row, held, name, contact, language, location, extra, limited=True) -> Outcome:
    cfg = current_app.config
    text = (held.get("text") or "").strip()
    if limited:
        _count_chat_appeals(channel, chat_id)
    errors = {}
    if len(text) > Limit.APPEAL_TEXT:  # an appeal's text: a chat message is not held to a live question's length
        errors["text"] = at_most_characters(Limit.APPEAL_TEXT)
    elif not storable(text) or not storable(name):
        errors["text"] = UNSTORABLE_MESSAGE
    if errors:
        raise ValidationError(fields=errors)
    language = language or detect_language(text) or (held.get("hint") if held.get("hint") in LANGUAGES
                                                             else cfg["DEFAULT_LOCALE"])
    consent = privacy.consent_fields(bool(contact), bool(name or contact), channel)
    appeal = appeals._new_appeal(utcnow(), channel=channel, client_id=f"{KEY_PREFIX[channel]}-{chat_id}-{row.message_id or row.update_id}",
                                 text=text, author_name=name, contact=contact, language=language,
                                 **consent, **location, **extra)
    row.appeal_id, row.state = appeal.id, "done"
    outbox.enqueue(channel, chat_id, "register", wording.registered_text(appeal), appeal)
    db.session.commit()
    return Outcome(queued=True, photos=[(appeal.id, p) for p in (extra.get("attachments") or {}).get("photos", [])])


def _count_chat_appeals(channel: str, chat: str) -> None:
    """The per-sender limit outside a broadcast (in one, the queue's per-viewer limit counts the chat's token),
    and for messages held for consent: RateLimited once this chat made QUESTIONS_PER_MINUTE_PER_VIEWER
    appeals, or sent as many messages still held, in the last minute."""
    recent = db.session.execute(select(func.count()).select_from(ChannelUpdate).where(
        ChannelUpdate.channel == channel, ChannelUpdate.chat == chat,
        or_(ChannelUpdate.appeal_id.is_not(None), ChannelUpdate.state == "held"),
        ChannelUpdate.created_at > utcnow() - limits.WINDOW)).scalar_one()
    if recent >= current_app.config["QUESTIONS_PER_MINUTE_PER_VIEWER"]:
        raise limits.RateLimited(retry_after=60)


def _chat_appeal_ids(channel: str, chat: str):
    """The ids of the appeals this chat sent (by the updates that made them), as a subquery."""
    return select(ChannelUpdate.appeal_id).where(ChannelUpdate.channel == channel, ChannelUpdate.chat == chat,
                                                 ChannelUpdate.appeal_id.is_not(None))


def _own_appeals(channel: str, chat: str, code: str = "") -> list[Appeal]:
    """The appeals this chat sent (by the updates that made them), newest first; only the one numbered
    `code` when given (looked up among all of them, not only the latest ten)."""
    query = select(Appeal).where(Appeal.id.in_(_chat_appeal_ids(channel, chat)))
    if code:
        query = query.where(Appeal.tracking_code == code.upper())
    return list(db.session.scalars(query.order_by(Appeal.id.desc()).limit(10)))


def status_text(channel: str, chat: str, lang: str, code: str = "") -> str:
    """Where this chat's appeals stand (or the one numbered `code`, only if this chat sent it)."""
    own = _own_appeals(channel, chat, code)
    with force_locale(lang):
        if not own:
            return _("No appeal of yours with this number.") if code else _("You have no appeals yet.")
        lines = []
        for appeal in own:
            lines.append(f"{appeal.tracking_code}: {appeals.status_label(appeal.status, appeal.follow_up)}")
            if appeal.statutory and appeal.is_open:
                from flask_babel import format_date
                lines.append(_("Answer due by %(date)s.", date=format_date(appeal.due_date, "long")))
        link = wording.talon_link(own[0])
        if link:  # without a public address the list above is the status: no local link
            lines.append(_("Your talon and the appeal's status: %(link)s", link=link))
        return "\n".join(lines)




def consent_buttons(channel: str, chat: str, hint: str = "", language: str = "") -> tuple[str, str]:
    """The two answers to the consent question, in its language (else the chat's; WhatsApp's buttons: 20
    characters at most)."""
    row = db.session.get(ChannelChat, (channel, chat))
    lang = language if language in LANGUAGES else row.language if row is not None and row.language in LANGUAGES else (
        hint if hint in LANGUAGES else current_app.config["DEFAULT_LOCALE"])
    with force_locale(lang):
        if channel == Channel.WHATSAPP.value:
            return _("I agree"), _("Without my name")
        return _("I agree: keep my name and answer me here"), _("Send without my name")


# what a kept photo may be, told by its first bytes (never by what the platform or the sender says it is)
IMAGE_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


def image_type(data: bytes) -> str:
    """The image type of these bytes (JPEG, PNG, WebP), or "" for anything else."""
    for magic, mime in IMAGE_SIGNATURES:
        if data.startswith(magic):
            return mime
    return "image/webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else ""


@resilient
def keep_photo(appeal_id: int, channel: str, platform_id: str, data: bytes) -> AppealFile | None:
    """Keep a photo fetched for an appeal (once per file id): an image within CHANNEL_PHOTO_MAX_BYTES, else None."""
    mime = image_type(data)
    if not mime or len(data) > current_app.config["CHANNEL_PHOTO_MAX_BYTES"] or db.session.get(Appeal, appeal_id) is None:
        return None
    found = db.session.execute(select(AppealFile).where(AppealFile.appeal_id == appeal_id,
                                                        AppealFile.platform_id == platform_id)).scalar_one_or_none()
    if found is not None:
        return found
    row = AppealFile(appeal_id=appeal_id, channel=channel, platform_id=platform_id[:200], mime_type=mime,
                     size=len(data), data=data, created_at=utcnow())
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # kept meanwhile by another delivery
        db.session.rollback()
        return None
    return row


def files_of(appeal: Appeal) -> list[AppealFile]:
    """The photos kept with an appeal, in the order they came (without their bytes loaded twice)."""
    return list(db.session.scalars(select(AppealFile).where(AppealFile.appeal_id == appeal.id)
                                   .options(defer(AppealFile.data)).order_by(AppealFile.id)))


def appeal_file(appeal: Appeal, file_id: int) -> AppealFile | None:
    """One kept photo of this appeal (the caller has checked that the user may see the appeal)."""
    row = db.session.get(AppealFile, file_id)
    return row if row is not None and row.appeal_id == appeal.id else None
