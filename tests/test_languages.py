"""Every page speaks Kazakh, Russian and English: switching the language changes its text."""
from __future__ import annotations

import html as html_lib
import json
import re

import pytest

from companion.services import appeals, intake, wording

from .conftest import login

PUBLIC = ["/", "/b/demo", "/track", "/roadmap", "/present/demo", "/login", "TRACK", "TRACK_NUMBER", "RECEIPT", "OVERLAY",
          "OVERLAY_ASK"]
STAFF = [("mod", "/moderate/demo"), ("speaker", "/prompter/demo"), ("admin", "/admin/broadcasts"),
         ("admin", "/admin/broadcasts/1"), ("admin", "/admin/broadcasts/new"), ("admin", "/admin/users"),
         ("admin", "/admin/organisation"), ("admin", "/admin/audit"), ("admin", "/admin/api-keys"),
         ("admin", "/appeals"), ("admin", "APPEAL"), ("officer", "/appeals"), ("head", "/promises"),
         ("officer", "/promises")]


def strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def visible_text(page: str) -> str:
    """The page's text, and the strings its script reads from the page-data JSON (labels, messages)."""
    data = [s for block in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, flags=re.S)
            for s in strings(json.loads(block))]
    page = re.sub(r"<script\b[^>]*>.*?</script>", " ", page, flags=re.S)
    text = html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))).strip()
    return " ".join([text, *data])


def resolve(app, path: str) -> str:
    with app.app_context():
        if path in ("TRACK", "TRACK_NUMBER", "RECEIPT", "APPEAL"):
            question, _ = intake.submit_question(intake.get_broadcast("demo"),
                                                 {"text": "A question to track", "client_id": "lang-client-01"})
            code, access = question.tracking_code, wording.format_access_code(question.appeal.access_code)
            return {"TRACK": f"/track/{code}/{access}", "TRACK_NUMBER": f"/track/{code}",
                    "RECEIPT": f"/track/{code}/{access}/receipt",
                    "APPEAL": f"/appeals/{appeals.by_code(code).id}"}[path]
        if path.startswith("OVERLAY"):
            key = intake.get_broadcast("demo").overlay_key
            return f"/overlay/demo?key={key}" + ("&mode=ask" if path == "OVERLAY_ASK" else "")
    return path


def texts(client, path: str) -> dict[str, str]:
    out = {}
    for code in ("kk", "ru", "en"):
        client.get(f"/lang/{code}")
        response = client.get(path)
        assert response.status_code == 200, (path, code, response.status_code)
        page = response.get_data(as_text=True)
        assert f'<html lang="{code}">' in page, (path, code)
        out[code] = visible_text(page)
    return out


def assert_three_languages(path: str, found: dict[str, str]) -> None:
    assert found["kk"] != found["ru"] != found["en"] != found["kk"], path
    assert re.search("[әғқңөұүһі]", found["kk"], re.I), f"{path}: no Kazakh letters in the Kazakh page"
    assert re.search("[а-яё]", found["ru"], re.I), f"{path}: no Cyrillic in the Russian page"


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.parametrize("path", PUBLIC)
def test_public_page_text_follows_the_language_switch(app, path):
    path = resolve(app, path)
    assert_three_languages(path, texts(app.test_client(), path))


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.parametrize("user, path", STAFF)
def test_staff_page_text_follows_the_language_switch(app, user, path):
    path = resolve(app, path)
    client = app.test_client()
    assert login(client, user).status_code == 302
    assert_three_languages(path, texts(client, path))


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_errors_and_api_messages_follow_the_language(app):
    client = app.test_client()
    messages = {}
    for code in ("kk", "ru", "en"):
        client.get(f"/lang/{code}")
        messages[code] = client.post("/api/v1/broadcasts/demo/questions", json={"text": ""}).json["error"]["fields"]["text"]
        page = client.get("/no-such-page").get_data(as_text=True)
        assert f'<html lang="{code}">' in page
    assert len(set(messages.values())) == 3
