"""Field rules shared by sockets, the API and forms: what an id from a screen or a client may be."""
from __future__ import annotations

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
