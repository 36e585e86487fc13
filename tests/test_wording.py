"""The kk/ru review applied (issue 20): the pages' wording, dates through Babel, statuses, channels and
names in the page's language, a viewer's live status in the viewer's language, `?lang=` on studio screens."""
from __future__ import annotations

import html
import json
import re
from datetime import date

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from companion.extensions import db, socketio
from companion.models import Broadcast, Department
from companion.services import deadlines
from companion.errors import ValidationError

from .test_appeals_http import appeal_id, ask, assign


def page_data(text: str) -> dict:
    """The JSON a page renders for its script."""
    return json.loads(re.search(r'<script type="application/json" id="page-data">(.*?)</script>', text, re.S).group(1))


def client_in(app, locale: str):
    """A test client whose language switch is set to `locale`."""
    client = app.test_client()
    client.get(f"/lang/{locale}")
    return client


def staff_in(staff_client, username: str, locale: str):
    client = staff_client(username)
    client.get(f"/lang/{locale}")
    return client


# --- studio screens take ?lang= ----------------------------------------------------------------------

@pytest.mark.parametrize("locale, ask_label, question", [("ru", "Задайте свой вопрос", "Вопрос жителя"),
                                                          ("kk", "Сұрағыңызды қойыңыз", "Тұрғынның сұрағы")])
def test_overlay_and_present_view_take_the_language_from_the_address(app, locale, ask_label, question):
    with app.app_context():
        key = db.session.execute(select(Broadcast.overlay_key).where(Broadcast.slug == "demo")).scalar_one()
    client = app.test_client()  # a browser source in OBS: no cookie, an English browser
    headers = {"Accept-Language": "en"}
    present = client.get(f"/present/demo?lang={locale}", headers=headers).get_data(as_text=True)
    assert f'<html lang="{locale}">' in present and ask_label in present
    overlay = client.get(f"/overlay/demo?key={key}&mode=question&lang={locale}", headers=headers).get_data(as_text=True)
    assert f'<html lang="{locale}">' in overlay and page_data(overlay)["t"]["question"] == question


def test_an_unknown_lang_in_the_address_falls_back_to_the_cookie(app):
    client = client_in(app, "ru")
    page = client.get("/present/demo?lang=de").get_data(as_text=True)
    assert '<html lang="ru">' in page


def test_present_view_sends_every_plural_form_of_its_count_label(app):
    ru = page_data(app.test_client().get("/present/demo?lang=ru").get_data(as_text=True))
    assert ru["t"]["votes"] == {"one": "{n} голос", "few": "{n} голоса", "many": "{n} голосов"}
    kk = page_data(app.test_client().get("/present/demo?lang=kk").get_data(as_text=True))
    assert kk["t"]["votes"] == {"one": "{n} дауыс", "other": "{n} дауыс"}


# --- a viewer's live status in the viewer's language ------------------------------------------------

def test_a_russian_moderators_approval_reaches_a_kazakh_viewer_as_a_code_the_page_translates(app, staff_client):
    viewer_http = client_in(app, "kk")
    statuses = page_data(viewer_http.get("/b/demo").get_data(as_text=True))["t"]["statuses"]
    viewer = socketio.test_client(app, namespace="/", auth={"slug": "demo"}, flask_test_client=viewer_http)
    mod = socketio.test_client(app, namespace="/staff", auth={"slug": "demo"},
                               flask_test_client=staff_in(staff_client, "mod", "ru"))
    ack = viewer.emit("submit_question", {"text": "Саябақ қашан ашылады?", "client_id": "kk-viewer-0001"},
                      namespace="/", callback=True)
    assert ack["question"]["status_label"] == statuses["pending"] == "модерацияны күтуде"
    viewer.get_received("/")
    question = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)["questions"][-1]
    assert mod.emit("approve", {"id": question["id"], "version": question["version"]}, namespace="/staff",
                    callback=True)["ok"]
    [mine] = [e["args"][0] for e in viewer.get_received("/") if e["name"] == "my_question_changed"]
    assert mine["status"] == "approved"
    assert mine["status_label"] == "одобрен"  # made in the moderator's request: the page must not show it
    assert mine["status_key"] == "approved" and statuses[mine["status_key"]] == "мақұлданды"


@pytest.mark.parametrize("locale, approved, merged", [("kk", "мақұлданды", "ұқсас сұрақпен біріктірілді"),
                                                      ("ru", "одобрен", "объединён с похожим вопросом")])
def test_the_viewer_page_names_every_question_status_in_its_language(app, locale, approved, merged):
    from companion.models import QuestionStatus
    statuses = page_data(client_in(app, locale).get("/b/demo").get_data(as_text=True))["t"]["statuses"]
    # every status, and the two rejections an asker reads otherwise (moderation.resident_status)
    assert set(statuses) == {s.value for s in QuestionStatus} | {"not_taken_on_air", "withdrawn"}
    assert (statuses["approved"], statuses["merged"]) == (approved, merged)
    assert statuses["not_taken_on_air"] == {"kk": "эфирге алынбады", "ru": "не взят в эфир"}[locale]


# --- the back office in the page's language ---------------------------------------------------------

def test_back_office_lists_departments_categories_and_channels_in_the_page_language(app, staff_client):
    admin = staff_in(staff_client, "admin", "ru")
    page = html.unescape(admin.get("/appeals").get_data(as_text=True))
    with app.app_context():
        department = db.session.execute(select(Department).order_by(Department.id)).scalars().first()
        name_ru, name_kk = department.name_ru, department.name_kk
    assert f">{name_ru}</option>" in page and f">{name_kk}</option>" not in page
    assert ">сайт</option>" in page and ">интеграция Open311</option>" in page
    assert "Статус обращения" in page


@pytest.mark.parametrize("locale, expected", [
    ("ru", ("Язык ответа: русский", "По закону ответ даётся на государственном языке или на языке обращения.",
            "Канал</dt><dd>API")),
    ("kk", ("Жауап тілі: орыс тілі", "Заң бойынша жауап мемлекеттік тілде немесе жолданым тілінде беріледі.",
            "Арна</dt><dd>API")),
])
def test_the_answer_form_states_the_law_and_names_the_language(app, staff_client, locale, expected):
    receipt = ask(app, "Когда отремонтируют дорогу?")
    assign(app, receipt["tracking_code"])
    admin = staff_in(staff_client, "admin", locale)
    page = admin.get(f"/appeals/{appeal_id(app, receipt['tracking_code'])}").get_data(as_text=True)
    for text in expected:
        assert text in page


# --- the resident's pages ---------------------------------------------------------------------------

@pytest.mark.parametrize("locale, title, heading", [("ru", "Талон о регистрации обращения", "Срок ответа"),
                                                    ("kk", "Тіркеу талоны", "Жолданымды қабылдаған орган")])
def test_the_talon_is_called_a_talon(app, locale, title, heading):
    receipt = ask(app, "Талон, пожалуйста")
    page = client_in(app, locale).get(f"/track/{receipt['tracking_code']}/{receipt['access_code']}/receipt")
    text = page.get_data(as_text=True)
    assert f"<title>{title}" in text and heading in text
    assert "Квитанция" not in text and "Түбіртек" not in text


@pytest.mark.parametrize("locale, expected, wrong", [
    ("ru", ("Обращения в цифрах", "аппарат акима района", "с ответом"), ("Дорожная карта", "акимат района")),
    ("kk", ("Өтініштер статистикасы", "аудан әкімінің аппаратынан", "қаралуда"), ("жол картасы", "жұмыста")),
])
def test_roadmap_is_statistics_and_names_the_office_right(app, locale, expected, wrong):
    text = client_in(app, locale).get("/roadmap").get_data(as_text=True)
    for phrase in expected:
        assert phrase in text
    for phrase in wrong:
        assert phrase not in text


# --- dates through Babel in error messages ----------------------------------------------------------

@pytest.mark.parametrize("locale, limit, months", [("ru", "19 мая 2026 г.", "до 2 месяцев"),
                                                   ("kk", "2026 ж. 19 мамыр", "ең көбі 2 айға"),
                                                   ("en", "May 19, 2026", "at most 2 months")])
def test_extension_errors_write_dates_in_the_language_not_iso(app, locale, limit, months):
    with app.test_request_context(), force_locale(locale):
        with pytest.raises(ValidationError) as caught:
            deadlines.check_extension(date(2026, 3, 19), date(2026, 4, 9), date(2026, 6, 1))
        message = str(caught.value.fields["due_date"]).replace("\u202f", " ")
        with pytest.raises(ValidationError) as earlier:
            deadlines.check_extension(date(2026, 3, 19), date(2026, 4, 9), date(2026, 4, 1))
        earlier_message = str(earlier.value.fields["due_date"])
    assert limit in message and months in message and "2026-05-19" not in message and ".." not in message
    assert "2026-04-09" not in earlier_message and "2026" in earlier_message
