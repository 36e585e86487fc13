"""Three languages: complete catalogs, in step with the code, and pages that really switch."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("kk", "ru", "en")
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def catalog(locale: str):
    with (ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set[str]:
    """The messages the code and templates use now."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        return {m.id for m in read_po(f) if m.id}


def forms(message) -> list[str]:
    """Every msgstr of a catalog entry (one, or one per plural form)."""
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def msgids(message) -> list[str]:
    """The msgid, and the msgid_plural for a plural entry."""
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_no_untranslated_or_fuzzy_entry(locale):
    cat = catalog(locale)
    assert not cat.fuzzy
    bad = [m.id for m in cat if m.id and (not all(forms(m)) or m.fuzzy)]
    assert bad == []


@pytest.mark.parametrize("locale, count", [("ru", 3), ("kk", 2), ("en", 2)])
def test_plural_entries_have_every_form_of_the_language(locale, count):
    plural = [m for m in catalog(locale) if m.id and m.pluralizable]
    assert plural, "the catalog has plural entries"
    assert [m.id for m in plural if len(forms(m)) != count] == []


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_covers_every_message_in_the_code(locale, extracted):
    ids = {m.id for m in catalog(locale) if m.id}
    assert sorted(extracted - ids) == [], "run `make update-translations` and translate the new messages"


@pytest.mark.parametrize("locale", ("kk", "ru"))
def test_translations_keep_placeholders_and_are_not_english(locale):
    messages = [m for m in catalog(locale) if m.id]
    for m in messages:
        for text in forms(m):
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(msgids(m)[0])), m.id
    same = [m.id for m in messages if m.string == m.id and m.id not in {"API", "Companion", "Moderation", "Moderator"}]
    assert len(same) <= 3, same


@pytest.mark.parametrize("locale, expected", [("kk", "Сұрақ қою"), ("ru", "Задать вопрос"), ("en", "Ask a question")])
def test_viewer_page_follows_the_language_switch(app, locale, expected):
    client = app.test_client()
    response = client.get(f"/lang/{locale}?next=/b/demo")
    assert response.status_code == 302 and response.headers["Location"].endswith("/b/demo")
    page = client.get("/b/demo").get_data(as_text=True)
    assert expected in page
    assert f'<html lang="{locale}">' in page


def test_browser_language_is_the_default(app):
    page = app.test_client().get("/b/demo", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert "Задать вопрос" in page.get_data(as_text=True)


def test_kazakh_is_the_fallback_for_other_languages(app):
    from companion.config import Config
    app.config["DEFAULT_LOCALE"] = Config().DEFAULT_LOCALE
    page = app.test_client().get("/b/demo", headers={"Accept-Language": "de-DE"})
    assert "Сұрақ қою" in page.get_data(as_text=True)


def test_socket_errors_come_in_the_viewers_language(app):
    from companion.extensions import socketio
    http = app.test_client()
    http.get("/lang/ru")
    http.get("/b/demo")
    viewer = socketio.test_client(app, namespace="/", auth={"slug": "demo"}, flask_test_client=http)
    ack = viewer.emit("submit_question", {"text": "", "client_id": "lang-check-1"}, namespace="/", callback=True)
    assert ack["error"]["fields"]["text"] == "Напишите ваш вопрос."


# A Kazakh case ending or postposition depends on how the number or date is read aloud
# ("1000-нан", "мамырға дейін"), so none may follow a placeholder: "Мерзімі: %(date)s".
KK_POSTPOSITIONS = ("дейін", "дейінгі", "кейін", "бастап", "кешіктірмей", "кешіктірілмей", "астам", "артық",
                    "аспау", "аспайды", "аса", "мен", "бен", "пен", "сайын", "бойы", "ішінде")
KK_HANGING = re.compile(r"%\(\w+\)s(?:[-‑–]|[а-яәғқңөұүһі]|\s+(?:" + "|".join(KK_POSTPOSITIONS) + r")\b)", re.IGNORECASE)


@pytest.mark.parametrize("text", ["%(date)s дейін", "%(n)s-ден астам", "%(time)s-да", "%(n)sнан", "%(d)s кешіктірмей",
                                  "%(low)s мен %(high)s", "%(date)s бастап"])
def test_the_kazakh_rule_catches_a_suffix_on_a_placeholder(text):
    assert KK_HANGING.search(text)


@pytest.mark.parametrize("text", ["Мерзімі: %(date)s.", "%(n)s адам сұрады", "Жаңа мерзім (ең кеші: %(d)s)",
                                  "«%(status)s» күйіне", "%(code)s жолданымыңыз"])
def test_the_kazakh_rule_lets_a_placeholder_stand_alone(text):
    assert not KK_HANGING.search(text)


def test_no_kazakh_suffix_hangs_on_a_placeholder():
    hanging = [text for m in catalog("kk") if m.id for text in forms(m) if KK_HANGING.search(text)]
    assert hanging == []


# n -> the noun's form in Russian after "n": 1 голос, 2 голоса, 5 голосов, 11 голосов, 21 голос ...
RU_NOUNS = {
    "%(num)s vote": ("голос", "голоса", "голосов"),
    "%(num)s asker": ("автор", "автора", "авторов"),
    "asked by %(num)s person": ("человек", "человека", "человек"),
    # after "не более" / "не менее" the count takes the genitive: 21 символа, 22 символов, 5 символов
    "At most %(num)s character.": ("символа", "символов", "символов"),
    "At least %(num)s character.": ("символа", "символов", "символов"),
    "The question is too long: at most %(num)s character.": ("символа", "символов", "символов"),
    "More than %(num)s appeal matches.": ("обращения", "обращений", "обращений"),
}
RU_FORM_OF = {1: 0, 2: 1, 5: 2, 11: 2, 21: 0, 22: 1, 25: 2, 111: 2, 1000: 2}


@pytest.mark.parametrize("singular, nouns", RU_NOUNS.items())
def test_russian_count_labels_agree_with_the_number(app, singular, nouns):
    from flask_babel import force_locale, ngettext
    plural = next(m.id[1] for m in catalog("en") if isinstance(m.id, tuple) and m.id[0] == singular)
    with app.test_request_context(), force_locale("ru"):
        for n, form in RU_FORM_OF.items():
            text = ngettext(singular, plural, n)
            word = re.search(rf"{n}\s+(\w+)", text).group(1)
            assert word == nouns[form], (n, text)


def test_every_count_label_of_the_screens_has_a_russian_form_per_category(app):
    from flask_babel import force_locale

    from companion.web.plurals import PLURALS, plural_forms
    with app.test_request_context(), force_locale("ru"):
        votes = plural_forms("votes")
        assert votes == {"one": "{n} голос", "few": "{n} голоса", "many": "{n} голосов"}
        assert all(set(plural_forms(key)) == {"one", "few", "many"} for key in PLURALS)
    with app.test_request_context(), force_locale("kk"):
        assert plural_forms("votes") == {"one": "{n} дауыс", "other": "{n} дауыс"}
