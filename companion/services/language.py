"""Languages: their names in the interface, the interface's language now, and the language of a text from its
words (a hint for channels that send none: the viewer form sends its page's)."""
from __future__ import annotations

import re

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from ..config import FALLBACK_LANGUAGE, LANGUAGES

_NAMES = {"kk": _l("Kazakh"), "ru": _l("Russian"), "en": _l("English")}
# a language named in the sentence's language (the switch names each language in itself: LANGUAGE_ENDONYMS)
LANGUAGE_NAMES = {code: _NAMES[code] for code in LANGUAGES}
# the columns that hold a name in each language (a topic's, a department's, a category's)
NAME_FIELDS = tuple(f"name_{code}" for code in LANGUAGES)
_NAME_IN = {"kk": _l("Name in Kazakh"), "ru": _l("Name in Russian"), "en": _l("Name in English")}
# the forms' name fields: (field, language, label), in LANGUAGES' order
NAME_INPUTS = tuple((f"name_{code}", code, _NAME_IN[code]) for code in LANGUAGES)


def current_language() -> str:
    """The interface's language now (the request's, else FALLBACK_LANGUAGE)."""
    return str(get_locale() or FALLBACK_LANGUAGE)


KAZAKH_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
# Kazakh writes these only in words borrowed from Russian (ы is a native Kazakh letter: жылы, қалалық)
RUSSIAN_LETTERS = frozenset("ёъэЁЪЭ")
WORD = re.compile(r"[^\W\d_]+")
RUSSIAN_WORDS = frozenset("""
    а без бы был была были было будет будут в во вам вас весь вот все всё вы где да даже для до его ее её
    если есть еще ещё же за здесь и из или им их к как какая какие какой когда кто ли либо мне мной мы на
    над нам нас наш наша наше наши не него нет ни них но ну о об около он она они оно от очень по под
    пожалуйста после почему при про раз с со так также там то тоже только у уже чем через что чтобы эта
    эти это этот я улице улица улицы доме дома районе района район сколько можно нужно надо
""".split())
KAZAKH_WORDS = frozenset("""
    және мен бен пен да де та те ма ме ба бе па пе ғой ғана қашан неге неліктен қалай қайда қай қандай
    неше не бар жоқ емес керек бұл осы сол мына анау ол олар біз сіз сен мен менің біздің сіздің үшін
    туралы бойынша дейін кейін бері арқылы сияқты тағы әлі енді өте көп аз және немесе бірақ себебі
    рақмет сәлеметсіз сәлем қайырлы жыл жылы ауыл ауданы көше көшесі үй үйі жол жолы
""".split())
# case endings a Kazakh word takes and a Kazakh name keeps inside a Kazakh sentence (Абайдың, Есілде)
KAZAKH_SUFFIXES = ("ның", "нің", "дың", "дің", "тың", "тің", "ға", "ге", "қа", "ке", "нда", "нде", "дан",
                   "ден", "тан", "тен", "нан", "нен", "ында", "інде", "дағы", "дегі", "тағы", "тегі")


def _language_votes(words: list[str]) -> tuple[float, float]:
    """(Russian, Kazakh) evidence from the words of a Cyrillic text.

    A word with Kazakh letters counts fully when written in lower case; capitalised, it is most often
    a street, a district or a person (Қабанбай батыр, Есіл, Тұран) in a Russian sentence, and counts
    only when it carries a Kazakh case ending."""
    russian = kazakh = 0.0
    for word in words:
        lower = word.lower()
        if lower in RUSSIAN_WORDS:
            russian += 1
        if lower in KAZAKH_WORDS:
            kazakh += 1
        if any(c in RUSSIAN_LETTERS for c in word):
            russian += 1
        if any(c in KAZAKH_LETTERS for c in word):
            if word == lower or (len(lower) > 4 and lower.endswith(KAZAKH_SUFFIXES)):
                kazakh += 1
            else:
                kazakh += 0.25
    return russian, kazakh


def detect_language(text: str) -> str | None:
    """kk, ru or en from the words of `text`, or None when it cannot tell (too few letters, mixed).

    A hint for channels that send no language: the viewer form sends its page's. Weighs words, not
    letters: Russian function words and letters Kazakh uses only in loans against Kazakh function
    words and words with Kazakh letters, so that a Russian question about "улица Қабанбай батыр"
    is Russian."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 3:
        return None
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in letters)
    latin = sum(c.isascii() for c in letters)
    if cyrillic >= 0.6 * len(letters):
        russian, kazakh = _language_votes(WORD.findall(text))
        if kazakh > russian:
            return "kk"
        if russian > kazakh:
            return "ru"
        return "kk" if any(c in KAZAKH_LETTERS for c in letters) else "ru"
    if latin >= 0.6 * len(letters):
        return "en"
    return None
