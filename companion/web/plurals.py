"""Plural forms for the screens' JavaScript: every form of a count label, keyed by CLDR category.

The page sends `{one: "{n} голос", few: "{n} голоса", many: "{n} голосов"}` and the script picks
one with `Intl.PluralRules(<html lang>)` (static/js/dom.js `plural`), so no rule is copied to JS.
"""
from __future__ import annotations

from functools import cache

from babel import Locale
from flask_babel import get_locale, get_translations

SAMPLES = range(0, 200)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The catalog's form of a count label for `n`, with "{n}" left for the script to fill in
    (named ngettext so that `pybabel extract` finds the messages below)."""
    return get_translations().ungettext(singular, plural, n) % {"num": "{n}"}


PLURALS = {
    "votes": lambda n: ngettext("%(num)s vote", "%(num)s votes", n),
    "askers": lambda n: ngettext("%(num)s asker", "%(num)s askers", n),
    "asked_by": lambda n: ngettext("asked by %(num)s person", "asked by %(num)s people", n),
    "merged_here": lambda n: ngettext("%(num)s question merged into this one", "%(num)s questions merged into this one", n),
    "new_above": lambda n: ngettext("%(num)s new question above ↑", "%(num)s new questions above ↑", n),
}


@cache
def samples(locale: str) -> dict[str, int]:
    """One integer per plural category of `locale` (ru: one 1, few 2, many 0; kk: one 1, other 0)."""
    rule = Locale.parse(locale).plural_form
    found: dict[str, int] = {}
    for n in SAMPLES:
        found.setdefault(rule(n), n)
    return found


def plural_forms(key: str) -> dict[str, str]:
    """Every form of the count label `key` in the page's language, with "{n}" for the number."""
    label = PLURALS[key]
    return {category: label(n) for category, n in samples(str(get_locale())).items()}
