"""The law's talon (APPK art. 64), the head's decision on extensions (art. 76(2)) and appeals from other systems."""
from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from companion.extensions import db
from companion.models import Channel, User, utcnow
from companion.services import apikeys, appeals, deadlines, intake, wording
from companion.services.deadlines import WorkCalendar
from companion.errors import Forbidden, InvalidTransition, ValidationError

from .test_appeals_http import act, appeal_id, ask, assign

ALMATY = ZoneInfo("Asia/Almaty")
SQLITE = pytest.mark.parametrize("app", ["sqlite"], indirect=True)


def local(*args) -> datetime:
    """A moment in the office's time zone (UTC+5)."""
    return datetime(*args, tzinfo=ALMATY)


def user(name: str) -> User:
    return db.session.execute(select(User).where(User.username == name)).scalar_one()


# --- the legal registration date ---------------------------------------------------------------

# (received, registration date): a Friday evening, a Saturday, Nauryz 2026 (Sunday 22 March, then
# 23-25 March off) and Nauryz 2027 (Monday 22 March, off with 23 and 24 March)
REGISTRATION_CASES = [
    (local(2026, 3, 13, 19, 5), date(2026, 3, 16)),
    (local(2026, 3, 13, 18, 30), date(2026, 3, 16)),
    (local(2026, 3, 13, 18, 29), date(2026, 3, 13)),
    (local(2026, 3, 13, 8, 15), date(2026, 3, 13)),
    (local(2026, 3, 14, 11, 0), date(2026, 3, 16)),
    (local(2026, 3, 22, 10, 0), date(2026, 3, 26)),
    (local(2027, 3, 22, 10, 0), date(2027, 3, 25)),
]


@SQLITE
@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("received, registered", REGISTRATION_CASES)
def test_registration_date_is_the_next_working_day_after_hours_and_on_days_off(received, registered):
    assert deadlines.registration_day(received, WorkCalendar()) == registered


@SQLITE
@pytest.mark.parametrize("received, registered", [c for c in REGISTRATION_CASES if c[0].date() != c[1]])
@pytest.mark.parametrize("term_from", ["receipt", "registration"])
def test_the_term_counts_from_receipt_by_default_and_from_registration_when_the_office_chose_it(
        app, received, registered, term_from):
    app.config["TERM_FROM"] = term_from
    calendar = WorkCalendar()
    with app.app_context():
        appeal = appeals._new_appeal(received, calendar, text="Evening question", channel="web")
        start = received.date() if term_from == "receipt" else registered
        assert appeal.registered_on == registered
        assert appeal.due_date == calendar.add_working_days(start, 15) == appeal.original_due_date
        assert appeal.forward_due_date == calendar.add_working_days(start, 3)
        from_registration = calendar.add_working_days(registered, 15)
        # from receipt (the default) is the safe side: one working day earlier than from registration
        expected = 1 if term_from == "receipt" else 0
        assert calendar.working_days_between(appeal.due_date, from_registration) == expected


def test_a_bad_working_hours_or_term_setting_stops_the_app_at_start():
    from companion import create_app
    with pytest.raises(ValueError, match="WORKING_HOURS"):
        create_app({"WORKING_HOURS": "18:30-09:00", "TESTING": True})
    with pytest.raises(ValueError, match="TERM_FROM"):
        create_app({"TERM_FROM": "import", "TESTING": True})


# --- the talon ---------------------------------------------------------------------------------

OFFICE = {"OFFICE_NAME_KK": "Астана қаласы «Есіл» ауданы әкімінің аппараты",
          "OFFICE_NAME_RU": "Аппарат акима района «Есиль» города Астаны",
          "OFFICE_NAME_EN": "Office of the Akim of Yesil district, Astana",
          "ACCEPTING_OFFICIAL_KK": "Сейітова А. Б.", "ACCEPTING_OFFICIAL_RU": "Сеитова А. Б.",
          "ACCEPTING_OFFICIAL_EN": "A. B. Seitova",
          "ACCEPTING_POSITION_KK": "бас маман", "ACCEPTING_POSITION_RU": "главный специалист",
          "ACCEPTING_POSITION_EN": "chief specialist"}
TALON_TEXT = {
    "kk": ("Тіркеу талоны", "Астана уақыты", "Тіркелген күні", "жылғы"),
    "ru": ("Талон о регистрации обращения", "время Астаны", "Дата регистрации", "г."),
    "en": ("Registration slip (talon)", "Astana time", "Registration date", ","),
}


def page_text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


@SQLITE
@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_the_talon_names_the_office_and_the_official_and_shows_receipt_and_registration_without_seconds(app, lang):
    app.config.update(OFFICE)
    talon = ask(app, "Когда починят лифт?")
    with app.app_context():
        appeal = appeals.by_code(talon["tracking_code"])
        appeal.received_at = local(2026, 11, 27, 19, 5, 42).astimezone(timezone.utc)  # a Friday evening
        appeal.registered_on = None  # an appeal from before the column: worked out on the page
        db.session.commit()
    client = app.test_client()
    client.get(f"/lang/{lang}")
    response = client.get(f"/track/{talon['tracking_code']}/{talon['access_code']}/talon")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    text = page_text(response)
    title, zone, registration, date_mark = TALON_TEXT[lang]
    assert title in text and registration in text
    assert OFFICE[f"OFFICE_NAME_{lang.upper()}"] in text
    assert f"{OFFICE[f'ACCEPTING_OFFICIAL_{lang.upper()}']}, {OFFICE[f'ACCEPTING_POSITION_{lang.upper()}']}" in text
    assert f"19:05 ({zone})" in text and date_mark in text
    assert not re.search(r"\d:\d\d:\d\d", text), "no seconds on the talon"
    received = re.search(r'class="talon-received">(.*?)</dd>', response.get_data(as_text=True), re.S).group(1)
    registered = re.search(r'class="talon-registered">(.*?)</dd>', response.get_data(as_text=True), re.S).group(1)
    assert "27" in received and "30" in registered  # received Friday 27 November, registered Monday 30 November
    other = {code for code in ("kk", "ru", "en") if code != lang}
    assert not any(OFFICE[f"OFFICE_NAME_{code.upper()}"] in text for code in other)
    old = client.get(f"/track/{talon['tracking_code']}/{talon['access_code']}/receipt")
    assert old.status_code == 200 and title in page_text(old)  # addresses printed before still work
    track = page_text(client.get(f"/track/{talon['tracking_code']}/{talon['access_code']}"))
    assert f"19:05 ({zone})" in track and registration in track
    assert not re.search(r"\d:\d\d:\d\d", track)


@SQLITE
def test_without_per_language_names_the_talon_falls_back_to_office_name_and_names_no_one(app):
    talon = ask(app, "Fallbacks")
    text = page_text(app.test_client().get(f"/track/{talon['tracking_code']}/{talon['access_code']}/talon"))
    assert app.config["OFFICE_NAME"] in text and "Accepted by" not in text


@SQLITE
def test_a_phone_callers_talon_names_the_moderator_who_took_the_call_with_their_position(app):
    with app.app_context():
        from companion.services import accounts
        moderator = user("mod")
        accounts.update_user(moderator, position="Оператор call-центра")
        moderator.display_name = "Нурланов Е. С."
        db.session.commit()
        question, _ = intake.submit_question(intake.get_broadcast("demo"), {"text": "Звонок про свет"},
                                             channel=Channel.PHONE, approved=True, actor=user("mod"))
        code, access = question.tracking_code, wording.format_access_code(question.appeal.access_code)
        assert question.appeal.accepted_by.username == "mod"
    app.config.update(OFFICE)
    client = app.test_client()
    client.get("/lang/ru")
    text = page_text(client.get(f"/track/{code}/{access}/talon"))
    assert "Нурланов Е. С., Оператор call-центра" in text and OFFICE["ACCEPTING_OFFICIAL_RU"] not in text


@SQLITE
def test_the_admin_gives_staff_a_position_and_creates_a_head(app, staff_client):
    admin = staff_client("admin")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert 'value="head"' in page
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    created = admin.post("/admin/users", data={"csrf_token": token, "username": "deputy", "display_name": "Ахметов Б. К.",
                                               "position": "заместитель акима района", "role": "head"})
    assert created.status_code == 200
    with app.app_context():
        deputy = user("deputy")
        assert deputy.role == "head" and deputy.position == "заместитель акима района"


# --- the head's decision on extensions ----------------------------------------------------------

def _proposed(app, staff_client, text="Street lights on Kenesary"):
    code = ask(app, text)["tracking_code"]
    assign(app, code)
    with app.app_context():
        new_due = appeals.by_code(code).due_date + timedelta(days=10)
    assert act(staff_client("officer"), app, code, "propose_extension", due_date=new_due.isoformat(),
               reason="A site survey is needed").status_code == 302
    return code, new_due


@pytest.mark.parametrize("name", ["officer", "admin", "mod"])
def test_an_extension_is_refused_without_the_heads_authority(app, staff_client, name):
    code, new_due = _proposed(app, staff_client)
    with app.app_context():
        before = appeals.by_code(code).due_date
        with pytest.raises(Forbidden):
            appeals.extend(appeals.by_code(code), new_due, "Because", actor=user(name))
        db.session.rollback()
        with pytest.raises(Forbidden):
            appeals.approve_extension(appeals.by_code(code), actor=user(name))
        db.session.rollback()
    client = staff_client(name)
    for action, form in (("approve_extension", {}), ("extend", {"due_date": new_due.isoformat(), "reason": "x"}),
                         ("decline_extension", {"note": "no"})):
        if name == "mod":  # no back office at all (and no page of it to take a form's token from)
            assert client.get(f"/appeals/{appeal_id(app, code)}").status_code == 403
            assert client.post(f"/appeals/{appeal_id(app, code)}/{action}", data=form).status_code in (400, 403)
        else:
            assert act(client, app, code, action, **form).status_code == 403
    with app.app_context():
        appeal = appeals.by_code(code)
        assert appeal.due_date == before and appeal.proposed_due_date == new_due and appeal.status == "assigned"
        assert "extend" not in [e.action for e in appeal.events]


def test_a_proposal_shows_to_staff_and_the_heads_approval_moves_the_due_date_naming_both(app, staff_client):
    code, new_due = _proposed(app, staff_client)
    page = staff_client("officer").get(f"/appeals/{appeal_id(app, code)}").get_data(as_text=True)
    assert "extension proposed" in page and "Approve the extension" not in page
    head_page = staff_client("head").get(f"/appeals/{appeal_id(app, code)}").get_data(as_text=True)
    assert "Approve the extension" in head_page and "A site survey is needed" in head_page
    assert "extension proposed" in staff_client("head").get("/appeals").get_data(as_text=True)
    again = act(staff_client("officer"), app, code, "propose_extension",
                due_date=(new_due + timedelta(days=1)).isoformat(), reason="Another")
    assert again.status_code == 409
    assert act(staff_client("head"), app, code, "approve_extension").status_code == 302
    with app.app_context():
        appeal = appeals.by_code(code)
        assert appeal.status == "extended" and appeal.due_date == new_due and appeal.proposed_due_date is None
        assert appeal.extension_reason == "A site survey is needed" and appeal.notice_due_date is not None
        proposed, extended = [e for e in appeal.events if e.action in ("extension_proposed", "extend")]
        assert proposed.actor.username == "officer" and not proposed.public
        assert extended.actor.username == "head" and extended.public
        assert extended.detail["proposed_by"] == user("officer").id and extended.detail["due"] == new_due.isoformat()
    history = staff_client("officer").get(f"/appeals/{appeal_id(app, code)}").get_data(as_text=True)
    assert "proposed by: officer" in html.unescape(history)
    with app.app_context():
        access = wording.format_access_code(appeals.by_code(code).access_code)
    track = page_text(app.test_client().get(f"/track/{code}/{access}"))
    assert "Term extended" in track and "Extension proposed" not in track and "officer" not in track
    assert new_due.isoformat() not in track and str(new_due.year) in track  # the new date in the long form


@SQLITE
def test_the_head_declines_a_proposal_with_a_note_and_the_due_date_stays(app, staff_client):
    code, new_due = _proposed(app, staff_client)
    head = staff_client("head")
    assert act(head, app, code, "decline_extension", note="").status_code == 400
    assert act(head, app, code, "decline_extension", note="Answer within the term").status_code == 302
    with app.app_context():
        appeal = appeals.by_code(code)
        assert appeal.due_date == appeal.original_due_date and appeal.proposed_due_date is None
        declined = appeal.events[-1]
        assert declined.action == "extension_declined" and declined.actor.username == "head"
        assert declined.note == "Answer within the term" and not declined.public
        with pytest.raises(InvalidTransition):
            appeals.approve_extension(appeal, actor=user("head"))
    assert act(head, app, code, "approve_extension").status_code == 409


@SQLITE
@pytest.mark.usefixtures("ctx")
def test_a_proposal_beyond_two_months_or_without_a_reason_is_refused():
    question, _ = intake.submit_question(intake.get_broadcast("demo"), {"text": "Too far", "author_name": "Aigerim", "contact": "+77011234567", "consent": True})
    appeal = question.appeal
    limit = deadlines.extension_limit(deadlines.local_date(appeal.received_at))
    with pytest.raises(ValidationError) as exc:
        appeals.propose_extension(appeal, limit + timedelta(days=1), "Survey", actor=user("officer"))
    assert "due_date" in exc.value.fields
    with pytest.raises(ValidationError) as exc:
        appeals.propose_extension(appeal, limit, "  ", actor=user("officer"))
    assert "reason" in exc.value.fields


# --- appeals from other systems ------------------------------------------------------------------

def _key(app, name="e-Otinish") -> str:
    with app.app_context():
        return apikeys.create_key(name, actor=None)[1]


def _iso(moment: datetime) -> str:
    return moment.astimezone(ALMATY).isoformat(timespec="seconds")


def test_an_imported_appeal_keeps_its_system_number_and_original_receipt_and_its_clock_starts_there(app, staff_client):
    key = _key(app)
    received = (utcnow() - timedelta(days=6)).replace(microsecond=0)
    created = app.test_client().post("/open311/v2/requests.json", data={
        "api_key": key, "description": "Broken bench in the park", "external_id": "EO-2026-77731",
        "service_code": "1", "address_string": "Abay 10",
        "received_at": _iso(received)})
    assert created.status_code == 201, created.json
    api = app.test_client().post("/api/v1/broadcasts/demo/questions", headers={"Authorization": f"Bearer {key}"},
                                 json={"text": "Когда уберут снег?", "external_id": "109-5521",
                                       "received_at": _iso(received), "client_id": "imported-0001"})
    assert api.status_code == 201, api.json
    with app.app_context():
        calendar = deadlines.office_calendar()
        for code, number in ((created.json[0]["service_request_id"], "EO-2026-77731"),
                             (api.json["tracking_code"], "109-5521")):
            appeal = appeals.by_code(code)
            assert appeal.received_at == received.replace(tzinfo=timezone.utc)
            assert appeal.source_system == "e-Otinish" and appeal.external_id == number
            assert appeal.due_date == calendar.add_working_days(deadlines.local_date(received), 15)
            assert appeal.events[0].at > appeal.received_at + timedelta(days=5)  # imported now
        open311_id = appeals.by_code(created.json[0]["service_request_id"]).id
    page = staff_client("admin").get(f"/appeals/{open311_id}").get_data(as_text=True)
    assert "e-Otinish" in page and "EO-2026-77731" in page and "Sending system" in page


@SQLITE
@pytest.mark.parametrize("value, message", [
    ("yesterday", "ISO 8601"), ("2026-11-30T10:00:00", "ISO 8601"), ("2026-11-30", "ISO 8601"),
    ("0001-01-01T00:00:00+05:00", "ISO 8601"), (12345, "ISO 8601"), ("x" * 100, "ISO 8601"),
    ("FUTURE", "future"), ("OLD", "too long ago"),
])
def test_a_malformed_future_or_too_old_received_at_is_a_clear_400_on_both_apis(app, value, message):
    key = _key(app)
    if value == "FUTURE":
        value = _iso(utcnow() + timedelta(hours=1))
    elif value == "OLD":
        value = _iso(utcnow() - timedelta(days=31))
    client = app.test_client()
    open311 = client.post("/open311/v2/requests.json", json={"api_key": key, "description": "Bench", "service_code": "1", "address_string": "Abay 10",
                                                             "received_at": value})
    assert open311.status_code == 400 and "received_at" in open311.json[0]["description"]
    assert message in open311.json[0]["description"]
    api = client.post("/api/v1/broadcasts/demo/questions", headers={"Authorization": f"Bearer {key}"},
                      json={"text": "Snow", "received_at": value})
    assert api.status_code == 400 and message in api.json["error"]["fields"]["received_at"]
    with app.app_context():
        assert appeals.by_code("SRK-2026-000001") is None


@SQLITE
def test_received_at_and_external_id_need_an_api_key_and_a_sane_number(app):
    client = app.test_client()
    anonymous = client.post("/api/v1/broadcasts/demo/questions",
                            json={"text": "Snow", "received_at": _iso(utcnow()), "external_id": "1"})
    assert anonymous.status_code == 400 and set(anonymous.json["error"]["fields"]) == {"received_at", "external_id"}
    key = _key(app)
    long_number = client.post("/open311/v2/requests.json", json={"api_key": key, "description": "Bench", "service_code": "1", "address_string": "Abay 10",
                                                                 "external_id": "9" * 65})
    assert long_number.status_code == 400 and "external_id" in long_number.json[0]["description"]
    recent = client.post("/open311/v2/requests.json", json={"api_key": key, "description": "Bench", "service_code": "1", "address_string": "Abay 10",
                                                            "received_at": _iso(utcnow() + timedelta(seconds=30))})
    assert recent.status_code == 201  # a sending clock a little ahead of ours is not "the future"


def test_openapi_documents_received_at_and_external_id_on_both_apis(app):
    schemas = app.test_client().get("/api/v1/openapi.json").json["components"]["schemas"]
    for name in ("NewQuestion", "NewServiceRequest"):
        assert {"received_at", "external_id"} <= set(schemas[name]["properties"])
    assert "registration_date" in schemas["Appeal"]["properties"]


@SQLITE
@pytest.mark.parametrize("zone, lang, expected", [("Asia/Almaty", "ru", "19:05 (время Астаны)"),
                                                  ("Asia/Qostanay", "kk", "19:05 (Астана уақыты)"),
                                                  ("Europe/Moscow", "ru", "17:05 (Москва, стандартное время)"),
                                                  ("Europe/Moscow", "en", "17:05 (Moscow Standard Time)")])
def test_the_talons_time_names_the_offices_own_zone(app, zone, lang, expected):
    from flask_babel import force_locale

    from companion.presenters import time_with_zone
    app.config.update(TIMEZONE=zone)
    with app.test_request_context(), force_locale(lang):
        assert time_with_zone(local(2026, 11, 27, 19, 5, 42).astimezone(timezone.utc)) == expected
