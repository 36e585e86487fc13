"""Field rules shared by sockets, the API, forms and the CLI: how long each field may be, what an id from
a screen or a client may be, which text a column can store, and a contact."""
from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from ..errors import ValidationError
from ..models import (ApiKey, Appeal, BackstageMessage, BlockedSender, Broadcast, CalendarDay, Category, Channel, Department,
                      Promise, Question, Topic, User)

MAX_ID = 2 ** 63 - 1  # the databases' BIGINT


def _column(attribute) -> int:
    return attribute.property.columns[0].type.length


# ---- the longest value of each field, wherever it is typed or sent (forms, sockets, API, Open311, CLI) --
# Where a column holds the field, its size is the limit, read from the model so the two cannot drift. The
# live desk takes shorter names and questions than an appeal: the settings NAME_MAX_LENGTH (80, at most
# AUTHOR_NAME) and QUESTION_MAX_LENGTH; Open311's description has OPEN311_DESCRIPTION_MAX_LENGTH.
class Limit:
    """The longest value of each field (one namespace, so `Limit.CONTACT` reads as what it is)."""

    AUTHOR_NAME = _column(Appeal.author_name)  # 120: an appeal's applicant; Open311's first and last name together
    DISTRICT = _column(Appeal.district)  # 120
    ADDRESS = _column(Appeal.address)  # 300: Open311's address_string
    CONTACT = _column(Question.contact)  # 200: a phone in E.164 or an e-mail address, once normalised
    EXTERNAL_ID = _column(Appeal.external_id)  # 64: an integrator's own id of an appeal
    USERNAME = 40  # what accounts.create_user allows ("3 to 40 ..."), the login form too; the column has room (80)
    DISPLAY_NAME = _column(User.display_name)  # 120: a staff member's full name
    POSITION = _column(User.position)  # 200: a staff member's position, on the talon
    API_KEY_NAME = _column(ApiKey.name)  # 120: the integrator a key is for
    EXTRA_ID = 200  # Open311's device_id, account_id, address_id (kept in the appeal's extra data)
    MEDIA_URL = 2000  # one of Open311's media_url
    MEDIA_URLS = 10  # how many media_url
    ATTRIBUTES = 50  # how many Open311 attributes
    ATTRIBUTE_CODE = 64  # an attribute's code
    ATTRIBUTE_VALUE = 1000  # an attribute's value
    MOMENT = 40  # a time as an integrator sends it (ISO 8601 with its zone: received_at)
    EMAIL_ADDRESS = 254  # RFC 5321's path limit: a report recipient's address
    CLIENT_ID = _column(Question.client_id)  # 64: a client's id of a question, for idempotent retries
    TOPIC_NAME = _column(Topic.name_kk)  # 100: a topic's name in each language
    DEPARTMENT_NAME = _column(Department.name_kk)  # 150: a department's name in each language
    CATEGORY_NAME = _column(Category.name_kk)  # 100: a category's name in each language
    CATEGORY_KEYWORD = 100  # one keyword line of a category
    TOPIC_KEYWORD = 100  # one keyword line of a topic (a word or a phrase)
    TOPIC_KEYWORDS = 200  # keyword lines of one topic
    PASSWORD = 200  # what the sign-in form takes
    SLUG = _column(Broadcast.slug) - 1  # 63: a broadcast's address (broadcasts.SLUG: "2 to 63 ...")
    TITLE = _column(Broadcast.title_en)  # 200: a broadcast's title in each language
    STREAM_URL = _column(Broadcast.stream_url)  # 500
    TRACKING_CODE = _column(Appeal.tracking_code)  # 40: an appeal's number as an operator types it
    TYPED_PHONE = 40  # a phone number as typed (spaces, brackets, dashes) before it is normalised
    REJECT_NOTE = _column(Question.reject_reason)  # 300: the moderator's internal note on a rejection
    BACKSTAGE = _column(BackstageMessage.text)  # 200: a note to the speaker
    BLOCK_REASON = _column(BlockedSender.reason)  # 300: why a sender is blocked (staff only)
    CALENDAR_NOTE = _column(CalendarDay.note)  # 200: a note on a day off or a working day
    FORWARDED_TO = _column(Appeal.forwarded_to)  # 200: the body an appeal is forwarded to
    REASON = _column(Appeal.extension_reason)  # 500: the reason of an extension (proposed_reason is as long)
    STEP_NOTE = 500  # an internal note on a step: told, declined, left without consideration, withdrawn
    NOTE = 2000  # a longer note: a comment on an appeal, a note on an assignment or a forward, a promise's note
    ANSWER = 10_000  # an appeal's answer
    APPEAL_TEXT = 10_000  # an appeal's text from a chat (a Telegram or WhatsApp message has at most 4,096)
    PROMISE_TEXT = 500  # what was promised
    RESPONSIBLE = _column(Promise.responsible)  # 200: who else is responsible for a promise (free text)
    EVIDENCE_URL = _column(Promise.evidence_url)  # 500: a link to a promise's evidence
    REPORT_RECIPIENTS = 6000  # a broadcast's report recipients, one address a line (report_mail.MAX_RECIPIENTS)
    KEYWORDS = 4000  # a category's keywords as typed, one a line (organisation.MAX_KEYWORDS of them)

    @classmethod
    def as_dict(cls) -> dict[str, int]:
        """Every limit by name, for a page's script (the desk's forms)."""
        return {name: value for name, value in vars(cls).items() if name.isupper() and isinstance(value, int)}


# A client's id of a question (its idempotency key): the screens and the keyed API send letters, digits, _ and -;
# Open311 integrators may send any storable text of that length (the body's client_id or an Idempotency-Key header).
CLIENT_ID_SHORTEST = 8
CLIENT_ID = re.compile(rf"[A-Za-z0-9_-]{{{CLIENT_ID_SHORTEST},{Limit.CLIENT_ID}}}\Z")  # with .match: the whole string


def valid_client_id(value, *, any_text: bool = False) -> bool:
    """True for a client id the sender may use: CLIENT_ID, or with `any_text` (Open311) any storable text of its length."""
    if not isinstance(value, str):
        return False
    if any_text:
        return CLIENT_ID_SHORTEST <= len(value) <= Limit.CLIENT_ID and storable(value)
    return CLIENT_ID.match(value) is not None


def name_limit(config) -> int:
    """The longest name or district a live question takes: the setting NAME_MAX_LENGTH, never beyond the column."""
    return min(config["NAME_MAX_LENGTH"], Limit.AUTHOR_NAME, Limit.DISTRICT)


def parse_id(value) -> int | None:
    """A positive 63-bit id from an int or a string of ASCII digits; None for anything else
    (floats, booleans, "²", "abc", 2**64)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    return None


# What no column may hold: lone surrogates (no encoding stores them), NUL and the other control
# characters but tab and line breaks, and the bidirectional overrides that turn text around on screen.
UNSTORABLE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# What a name from a platform's profile loses (`clean_name`): besides the unstorable, the invisible format
# characters (zero-width spaces and joiners, marks of direction, the byte-order mark) that hide or turn text.
INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\u061c\ufeff]")


def clean_name(value) -> str:
    """A name a platform gave (a Telegram or WhatsApp profile's) as a column and a screen can take it: the
    unstorable and invisible characters taken out, white space as single spaces. Never a refusal: the
    resident chose the name once, in another app, and would be refused on every message."""
    if not isinstance(value, str):
        return ""
    return " ".join(INVISIBLE.sub("", UNSTORABLE.sub("", value)).split())


def clean_message(value) -> str:
    """A chat message's text as a column and a screen can take it: the unstorable characters (controls, a lone
    half of a surrogate pair, the marks that turn text around) taken out, line breaks kept. Never a refusal:
    the resident cannot see them to remove them, and the words around them are the appeal."""
    if not isinstance(value, str):
        return ""
    return UNSTORABLE.sub("", value)


UNSTORABLE_MESSAGE = _l("This text contains characters that cannot be stored. Please remove them.")
REQUIRED_MESSAGE = _l("This field is required.")


def storable(value) -> bool:
    """True for a string every database and screen can take as it is."""
    return isinstance(value, str) and UNSTORABLE.search(value) is None


def at_most_characters(limit: int) -> str:
    """"At most N characters." in the current language, with the noun agreeing with N."""
    return ngettext("At most %(num)s character.", "At most %(num)s characters.", limit)


def question_too_long(limit: int) -> str:
    """"The question is too long: at most N characters." with the noun agreeing with N."""
    return ngettext("The question is too long: at most %(num)s character.",
                    "The question is too long: at most %(num)s characters.", limit)


def text(value, field: str, limit: int, *, required: bool = False, required_message=None, too_long=None) -> str:
    """A text field cleaned: stripped, storable, present when required, at most `limit` characters; else
    ValidationError(fields={field: message}) (`required_message` and `too_long` replace the usual
    "This field is required." and "At most N characters."). None counts as empty; anything else but a string
    (a number, a list from a socket) is refused as text that cannot be stored, and so is text with a character
    no column holds, even at its ends (checked before stripping: NEL, U+0085, is also white space)."""
    if value is None:
        value = ""
    if not storable(value):
        raise ValidationError(fields={field: UNSTORABLE_MESSAGE})
    value = value.strip()
    if required and not value:
        raise ValidationError(fields={field: required_message or REQUIRED_MESSAGE})
    if len(value) > limit:
        raise ValidationError(fields={field: too_long or at_most_characters(limit)})
    return value


def parse_version(value) -> int | None:
    """The version a screen saw: a non-negative int or a string of ASCII digits; None for anything else
    (booleans, floats, "-1", "", "²"). Zero is a version: a broadcast's counters start at 0; a stored row
    starts at 1, so a 0 seen for it is simply stale."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_ID:
        return value
    return None


def normalise_contact(contact: str, region: str) -> str:
    """An e-mail address or a phone number in E.164, or ValueError with a message."""
    contact = contact.strip()
    if "@" in contact:
        try:
            return validate_email(contact, check_deliverability=False).normalized
        except EmailNotValidError:
            raise ValueError(_l("This e-mail address is not valid.")) from None
    try:
        number = phonenumbers.parse(contact, region)
    except phonenumbers.NumberParseException:
        raise ValueError(_l("This phone number is not valid.")) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(_l("This phone number is not valid."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A chat on a messaging channel, kept as an appeal's contact: "telegram:12345", "whatsapp:77011234567"
CHAT_PREFIX = {Channel.TELEGRAM.value: "telegram:", Channel.WHATSAPP.value: "whatsapp:"}


def chat_contact(channel: str, chat) -> str:
    """The contact an appeal keeps for a chat on a messaging channel ("telegram:12345")."""
    return f"{CHAT_PREFIX[channel]}{chat}"


def chat_in(contact: str | None) -> tuple[str, str] | None:
    """(channel, chat) when a contact is a chat on a messaging channel, else None."""
    for channel, prefix in CHAT_PREFIX.items():
        if (contact or "").startswith(prefix):
            return channel, contact[len(prefix):]
    return None


def mask_contact(contact: str) -> str:
    """Hide the middle of a phone number or e-mail address: +7701*****67, a***@mail.kz."""
    if not contact:
        return ""
    chat = chat_in(contact)
    if chat is not None:  # "whatsapp:77011****67": the channel named, the number's middle hidden
        return contact[:len(contact) - len(chat[1])] + mask_contact(chat[1])
    if "@" in contact:
        local, _, domain = contact.partition("@")
        return f"{local[:1]}***@{domain}"
    return contact[:5] + "*" * max(len(contact) - 7, 0) + contact[-2:]
