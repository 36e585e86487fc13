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


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_no_untranslated_or_fuzzy_entry(locale):
    cat = catalog(locale)
    assert not cat.fuzzy
    bad = [m.id for m in cat if m.id and (not m.string or m.fuzzy)]
    assert bad == []


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_covers_every_message_in_the_code(locale, extracted):
    ids = {m.id for m in catalog(locale) if m.id}
    assert sorted(extracted - ids) == [], "run `make update-translations` and translate the new messages"


@pytest.mark.parametrize("locale", ("kk", "ru"))
def test_translations_keep_placeholders_and_are_not_english(locale):
    messages = [m for m in catalog(locale) if m.id]
    for m in messages:
        assert sorted(PLACEHOLDER.findall(m.string)) == sorted(PLACEHOLDER.findall(m.id)), m.id
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
