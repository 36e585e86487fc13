"""Field rules shared by sockets, the API and forms: what an id from a screen or a client may be, and a contact."""
from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

MAX_ID = 2 ** 63 - 1  # the databases' BIGINT


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
