"""Appeals over HTTP: the back office, exports, the resident's pages, the JSON API, Open311, e-mail notices."""
from __future__ import annotations

import csv
import io
import re
import socket
import time
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from companion.extensions import db
from companion.models import Appeal, AppealEvent, User, utcnow
from companion.services import apikeys, appeals, deadlines, notices, outbox

API = "/api/v1/broadcasts/demo/questions"


# a name and a contact make a question an appeal under the statutory clock (appeals.is_statutory)
NAMED = {"author_name": "Aigerim", "contact": "+77011234567", "consent": True}


def ask(app, text="The bus stop on Abay street has no shelter", **fields) -> dict:
    """A question with a name and a contact (an appeal, unless `fields` say otherwise) through the public
    API; returns its receipt."""
    body = {"text": text, "language": "ru", **NAMED, **fields}
    response = app.test_client().post(API, json=body)
    assert response.status_code == 201, response.json
    return response.json


def appeal_id(app, code: str) -> int:
    with app.app_context():
        return appeals.by_code(code).id


def assign(app, code: str, department_id: int = 1) -> None:
    with app.app_context():
        admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        appeals.assign(appeals.by_code(code), department_id, actor=admin)


def version(app, code: str) -> int:
    with app.app_context():
        return appeals.by_code(code).version


def act(client, app, code: str, action: str, **form):
    """POST one back-office action with the page's CSRF token and the appeal's current version."""
    aid = appeal_id(app, code)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/appeals/{aid}").get_data(as_text=True)).group(1)
    return client.post(f"/appeals/{aid}/{action}", data={"csrf_token": token, "version": version(app, code), **form})


# --- the back office ---------------------------------------------------------------------------

def test_back_office_lists_appeals_by_due_date_with_filters(app, staff_client):
    first = ask(app, "Heating is off in block 5", district="Almaly")
    second = ask(app, "Potholes on Tole bi", district="Bostandyk", language="kk")
    admin = staff_client("admin")
    page = admin.get("/appeals").get_data(as_text=True)
    assert first["tracking_code"] in page and second["tracking_code"] in page
    only_kk = admin.get("/appeals?language=kk").get_data(as_text=True)
    assert second["tracking_code"] in only_kk and first["tracking_code"] not in only_kk
    search = admin.get("/appeals?q=heating").get_data(as_text=True)
    assert first["tracking_code"] in search and second["tracking_code"] not in search
    assert admin.get("/appeals?status=closed").get_data(as_text=True).count("SRK-") == 0


@pytest.mark.parametrize("query, field", [("received_from=2026-13-01", "received_from"),
                                          ("received_to=yesterday", "received_to"),
                                          ("status=lost", "status"), ("department_id=x", "department_id"),
                                          ("after=zzz", "after")])
def test_malformed_filters_are_400_with_the_field_named(staff_client, query, field):
    response = staff_client("admin").get(f"/appeals?{query}")
    assert response.status_code == 400
    assert field in response.get_data(as_text=True)


def test_keyset_pages_cover_every_appeal_once(app, staff_client):
    app.config["APPEALS_PAGE_SIZE"] = 3
    codes = {ask(app, f"Question number {i}")["tracking_code"] for i in range(7)}
    admin, seen, url = staff_client("admin"), [], "/appeals"
    while url:
        page = admin.get(url).get_data(as_text=True)
        seen += re.findall(r'<td class="code"><a href="/appeals/\d+">(SRK-[\d-]+)</a>', page)
        nxt = re.search(r'rel="next" href="([^"]+)"', page)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert sorted(seen) == sorted(codes)


def test_overdue_and_due_soon_are_marked_and_filtered(app, staff_client):
    late, soon, calm = (ask(app, t)["tracking_code"] for t in ("late one", "soon one", "calm one"))
    with app.app_context():
        today = deadlines.local_date()
        appeals.by_code(late).due_date = today - timedelta(days=2)
        appeals.by_code(soon).due_date = today + timedelta(days=1)
        db.session.commit()
    admin = staff_client("admin")
    page = admin.get("/appeals").get_data(as_text=True)
    assert re.search(rf'urgency-overdue">.*?{late}', page, re.S) and re.search(rf'urgency-due_soon">.*?{soon}', page, re.S)
    overdue = admin.get("/appeals?overdue=1").get_data(as_text=True)
    assert late in overdue and soon not in overdue and calm not in overdue
    due_soon = admin.get("/appeals?due_soon=1").get_data(as_text=True)
    assert soon in due_soon and late not in due_soon


def test_officer_sees_only_their_department_and_the_contact(app, staff_client):
    mine = ask(app, "Road repair", contact="+77012345678", consent=True, author_name="Aigerim")
    other = ask(app, "School heating")
    assign(app, mine["tracking_code"], 1)
    assign(app, other["tracking_code"], 4)
    officer = staff_client("officer")
    page = officer.get("/appeals").get_data(as_text=True)
    assert mine["tracking_code"] in page and other["tracking_code"] not in page
    detail = officer.get(f"/appeals/{appeal_id(app, mine['tracking_code'])}").get_data(as_text=True)
    assert "+77012345678" in detail and "Aigerim" in detail
    assert officer.get(f"/appeals/{appeal_id(app, other['tracking_code'])}").status_code == 403
    assert act(officer, app, mine["tracking_code"], "start").status_code == 302
    token = re.search(r'name="csrf_token" value="([^"]+)"', officer.get("/appeals").get_data(as_text=True)).group(1)
    foreign = officer.post(f"/appeals/{appeal_id(app, other['tracking_code'])}/start", data={"csrf_token": token})
    assert foreign.status_code == 403
    with app.app_context():
        assert appeals.by_code(other["tracking_code"]).status == "assigned"
    assert staff_client("mod").get("/appeals").status_code == 403
    assert app.test_client().get("/appeals").status_code == 302  # to login


def test_answer_extend_forward_and_refusals_from_the_detail_page(app, staff_client):
    code = ask(app, "Lights in the park")["tracking_code"]
    assign(app, code)
    officer = staff_client("officer")
    with app.app_context():
        limit = deadlines.extension_limit(deadlines.local_date(appeals.by_code(code).received_at))
    too_far = act(officer, app, code, "propose_extension", due_date=(limit + timedelta(days=1)).isoformat(),
                  reason="Survey")
    assert too_far.status_code == 400 and limit.isoformat() in too_far.get_data(as_text=True)
    assert act(officer, app, code, "propose_extension", due_date=limit.isoformat(), reason="Survey").status_code == 302
    assert act(staff_client("head"), app, code, "approve_extension").status_code == 302
    refused = act(officer, app, code, "close")
    assert refused.status_code == 409 and "term extended" in refused.get_data(as_text=True)
    assert act(officer, app, code, "answer", answer="Lamps will be installed in May.").status_code == 302
    stale = officer.post(f"/appeals/{appeal_id(app, code)}/close",
                         data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', officer.get(
                             f"/appeals/{appeal_id(app, code)}").get_data(as_text=True)).group(1), "version": 1})
    assert stale.status_code == 409
    with app.app_context():
        appeal = appeals.by_code(code)
        assert appeal.status == "answered" and appeal.answer == "Lamps will be installed in May."
        assert [e.action for e in appeal.events] == ["register", "assign", "extension_proposed", "extend", "notice_due",
                                                     "answer", "notice_due"]  # a phone only: staff tell it
        assert appeal.events[-2].actor.username == "officer"


def test_bulk_assign_from_the_list(app, staff_client):
    codes = [ask(app, f"Bulk {i}")["tracking_code"] for i in range(3)]
    admin = staff_client("admin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', admin.get("/appeals").get_data(as_text=True)).group(1)
    ids = [appeal_id(app, c) for c in codes[:2]]
    response = admin.post("/appeals/assign", data={"csrf_token": token, "ids": ids, "department_id": 2})
    assert response.status_code == 302
    with app.app_context():
        assert [appeals.by_code(c).department_id for c in codes] == [2, 2, None]
    assert admin.post("/appeals/assign", data={"ids": ids, "department_id": 3}).status_code == 400  # no CSRF


def test_exports_read_back_with_headers_in_the_interface_language(app, staff_client):
    code = ask(app, "Экспорт: «кавычки», запятые, и перевод\nстроки", district="Алмалы")["tracking_code"]
    admin = staff_client("admin")
    admin.get("/lang/ru")
    response = admin.get("/appeals/export.csv?language=ru")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    # a Russian page's CSV splits on ";", as Excel with Russian regional settings does (test_exports.py)
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Номер", "Зарегистрировано", "Статус"]
    assert rows[1][0] == code and rows[1][10] == "Экспорт: «кавычки», запятые, и перевод\nстроки"
    admin.get("/lang/kk")
    xlsx = admin.get("/appeals/export.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data), read_only=True).active
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0][0] == "Нөмір" and table[1][0] == code and table[1][9] == "Алмалы"
    assert admin.get("/appeals/export.csv?received_from=bad").status_code == 400
    assert staff_client("officer").get("/appeals/export.csv").get_data(as_text=True).count("SRK-") == 0


def test_admin_manages_departments_categories_officers_and_calendar(app, staff_client):
    admin = staff_client("admin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', admin.get("/admin/organisation").get_data(as_text=True)).group(1)
    names = {"name_kk": "Сәулет бөлімі", "name_ru": "Отдел архитектуры", "name_en": "Architecture department"}
    assert admin.post("/admin/departments", data={"csrf_token": token, **names, "active": "1"}).status_code == 302
    bad = admin.post("/admin/departments", data={"csrf_token": token, "name_kk": "x"}, follow_redirects=True)
    assert "name_ru" in bad.get_data(as_text=True)
    assert admin.post("/admin/categories/1", data={"csrf_token": token, "name_kk": "Жолдар", "name_ru": "Дороги",
                                                   "name_en": "Roads", "department_id": 7}).status_code == 302
    assert admin.post("/admin/calendar", data={"csrf_token": token, "day": "2027-01-09", "kind": "working_day",
                                               "note": "Transferred"}).status_code == 302
    assert admin.post("/admin/users/5", data={"u5-csrf_token": token, "csrf_token": token, "u5-role": "officer",
                                              "u5-department_id": "7", "u5-active": "y"}).status_code == 302
    with app.app_context():
        from companion.models import CalendarDay, Category
        assert db.session.get(Category, 1).department.name_en == "Architecture department"
        assert db.session.get(CalendarDay, date(2027, 1, 9)).kind == "working_day"
        assert db.session.execute(select(User).where(User.username == "officer")).scalar_one().department_id == 7
    page = admin.get("/admin/organisation").get_data(as_text=True)
    assert "Architecture department" in page and "Transferred" in page
    assert staff_client("mod").get("/admin/organisation").status_code == 403
    officer = staff_client("officer")
    officer_token = re.search(r'name="csrf_token" value="([^"]+)"', officer.get("/appeals").get_data(as_text=True)).group(1)
    assert officer.post("/admin/departments", data={"csrf_token": officer_token, **names}).status_code == 403
    with app.app_context():
        from companion.models import Department
        assert db.session.execute(select(func.count()).select_from(Department)).scalar_one() == 7


# --- the resident's side -----------------------------------------------------------------------

def test_receipt_page_shows_number_time_office_and_due_date(app):
    receipt = ask(app, "Receipt please")
    address = f"/track/{receipt['tracking_code']}/{receipt['access_code']}"
    page = app.test_client().get(f"{address}/receipt")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert receipt["access_code"] in text and f"http://localhost{address}" in text
    with app.app_context():
        due = appeals.by_code(receipt["tracking_code"]).due_date
    assert receipt["tracking_code"] in text and app.config["OFFICE_NAME"] in text
    assert str(due.year) in text and "data-print" in text
    qr = app.test_client().get(f"{address}/qr.svg")
    assert qr.status_code == 200 and qr.data.startswith(b"<?xml") and qr.headers["Cache-Control"] == "no-store"
    assert app.test_client().get(f"/track/{receipt['tracking_code']}/receipt").status_code == 404


def test_track_page_shows_timeline_and_answer_without_personal_data(app, staff_client):
    receipt = ask(app, "Tree cutting on Abay", author_name="Nurlan Abenov", contact="nurlan@example.kz", consent=True)
    code, access = receipt["tracking_code"], receipt["access_code"]
    assign(app, code)
    officer = staff_client("officer")
    act(officer, app, code, "comment", note="Call the contractor — internal")
    act(officer, app, code, "answer", answer="The trees are dry; new ones will be planted.")
    page = app.test_client().get(f"/track/{code.lower()}/{access.upper()}").get_data(as_text=True)
    assert "The trees are dry; new ones will be planted." in page
    assert "Registered" in page and "Assigned" in page and "Answered" in page
    assert "Nurlan" not in page and "nurlan@example.kz" not in page and "internal" not in page
    api = app.test_client().get(f"/api/v1/appeals/{code}/{access}").json
    assert api["status"] == "answered" and api["answer"].startswith("The trees")
    assert [h["action"] for h in api["history"]] == ["register", "assign", "answer"]
    assert "Nurlan" not in str(api) and "example.kz" not in str(api)


def test_unknown_tracking_code_is_a_friendly_404_page_and_json(app):
    page = app.test_client().get("/track/SRK-1999-000001")
    assert page.status_code == 404 and "No question has this tracking number" in page.get_data(as_text=True)
    assert app.test_client().get("/track/SRK-1999-000001/receipt").status_code == 404
    api = app.test_client().get("/api/v1/appeals/SRK-1999-000001")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


def test_roadmap_counts_by_category_status_and_district(app, staff_client):
    app.config["ROADMAP_CACHE_SECONDS"] = 0
    app.config["DISTRICTS"] = "Almaly|Алмалы;Medeu"
    without_premoderation(app)
    for i in range(3):
        ask(app, f"Roadmap {i}", district="Almaly" if i else "Medeu")
    code = ask(app, "Roadmap answered", district="Almaly")["tracking_code"]
    assign(app, code)
    act(staff_client("officer"), app, code, "answer", answer="Done.")
    with app.app_context():
        from companion.services import reports
        figures = reports.roadmap()
    assert figures["total"] == 4 and figures["open"] == 3 and figures["answered"] == 1
    assert figures["by_status"] == {"registered": 3, "answered": 1}
    assert figures["by_district"][0] == {"district": "Almaly", "total": 3}
    assert figures["on_time_share"] == 1.0 and figures["median_days_to_answer"] == 0
    page = app.test_client().get("/roadmap").get_data(as_text=True)
    assert "<svg" in page and "Almaly" in page and "100%" in page
    assert "Roadmap answered" not in page  # counts only, no texts


def without_premoderation(app) -> None:
    """Questions go straight to the desk's approved column (the roadmap counts only those a moderator let through)."""
    from companion.services import intake, moderation
    with app.app_context():
        moderation.update_settings(intake.get_broadcast("demo"), {"pre_moderation": False}, actor=None)


def test_roadmap_is_reused_within_the_cache_time(app):
    app.config["ROADMAP_CACHE_SECONDS"] = 60
    without_premoderation(app)
    client = app.test_client()
    client.get("/roadmap")
    ask(app, "After the first count")
    with app.app_context():
        from companion.services import reports
        assert reports.roadmap()["total"] == 0
        app.config["ROADMAP_CACHE_SECONDS"] = 0
        assert reports.roadmap()["total"] == 1


# --- Open311 GeoReport v2 ----------------------------------------------------------------------

GEOREPORT_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                    "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


def api_key(app) -> str:
    with app.app_context():
        return apikeys.create_key("City 109 centre", actor=None)[1]


def test_open311_services_are_the_categories(app):
    services = app.test_client().get("/open311/v2/services.json").json
    assert len(services) == 6
    first = services[0]
    assert set(first) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    assert first["service_code"] == "1" and first["metadata"] is False and first["type"] in ("realtime", "batch")
    assert app.test_client().get("/open311/v2/services/1.json").json == {"service_code": "1", "attributes": []}
    assert app.test_client().get("/open311/v2/services/99.json").status_code == 404


def test_open311_post_needs_a_valid_api_key(app):
    client = app.test_client()
    for key in (None, "wrong-key"):
        data = {"service_code": "1", "description": "Broken light"} | ({"api_key": key} if key else {})
        response = client.post("/open311/v2/requests.json", data=data)
        assert response.status_code == 403
        assert response.json[0]["code"] == 403 and "api_key" in response.json[0]["description"]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Appeal)).scalar_one() == 0


def test_open311_post_creates_a_routed_appeal_and_retries_are_one(app):
    key, client = api_key(app), app.test_client()
    form = {"api_key": key, "service_code": "1", "description": "Broken street light at Abay 10",
            "address_string": "Abay 10", "lat": "43.238", "long": "76.945", "email": "resident@example.kz",
            "first_name": "Dana", "client_id": "call-centre-000123"}
    created = client.post("/open311/v2/requests.json", data=form)
    assert created.status_code == 201
    [receipt] = created.json
    assert set(receipt) == {"service_request_id", "service_notice", "account_id", "access_code"}
    again = client.post("/open311/v2/requests.json", data=form)
    assert again.status_code == 200 and again.json[0]["service_request_id"] == receipt["service_request_id"]
    bad = client.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "1", "lat": "north"})
    assert bad.status_code == 400 and "description" in bad.json[0]["description"]
    assert "lat:" in bad.json[0]["description"] and "long:" in bad.json[0]["description"]
    [item] = client.get(f"/open311/v2/requests/{receipt['service_request_id']}.json?api_key={key}").json
    assert set(item) == GEOREPORT_FIELDS
    assert item["service_request_id"] == receipt["service_request_id"] and item["status"] == "open"
    assert item["service_code"] == "1" and item["service_name"] == "Transport and roads"
    assert item["agency_responsible"] == "Passenger transport and roads department"
    assert item["description"] == "Broken street light at Abay 10" and item["address"] == "Abay 10"
    assert (item["lat"], item["long"]) == (43.238, 76.945)
    assert item["requested_datetime"].endswith("+05:00") and item["expected_datetime"][:10] > item["requested_datetime"][:10]
    assert "resident@example.kz" not in str(item) and "Dana" not in str(item)
    with app.app_context():
        appeal = appeals.by_code(receipt["service_request_id"])
        assert appeal.channel == "open311" and appeal.contact == "resident@example.kz" and appeal.status == "assigned"


def test_open311_requests_filters(app, staff_client):
    key, client = api_key(app), app.test_client()
    ids = [client.post("/open311/v2/requests.json", data={"api_key": key, "service_code": code, "address_string": "Abay 10",
                                                          "description": f"Request {code}"}).json[0]["service_request_id"]
           for code in ("1", "2")]
    live = ask(app, "From the broadcast")["tracking_code"]
    everything = client.get(f"/open311/v2/requests.json?api_key={key}").json
    assert {r["service_request_id"] for r in everything} == set(ids)  # a key lists what it filed, not residents' questions
    assert [r["service_request_id"] for r in client.get(f"/open311/v2/requests.json?api_key={key}&service_code=2").json] == [ids[1]]
    by_id = client.get(f"/open311/v2/requests.json?api_key={key}&service_request_id={ids[0]},{live}").json
    assert {r["service_request_id"] for r in by_id} == {ids[0]}
    with app.app_context():
        admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        appeals.forward(appeals.by_code(ids[0]), "Regional roads office", actor=admin)
    closed = client.get(f"/open311/v2/requests.json?api_key={key}&status=closed").json
    assert [r["service_request_id"] for r in closed] == [ids[0]]
    assert closed[0]["status_notes"].endswith("Regional roads office")
    assert len(client.get(f"/open311/v2/requests.json?api_key={key}&status=open").json) == 1
    assert client.get(f"/open311/v2/requests.json?api_key={key}&start_date=2999-01-01T00:00:00Z").json == []
    for query, field in (("start_date=tomorrow", "start_date"), ("status=pending", "status"),
                         ("start_date=2026-05-01T00:00:00Z&end_date=2026-04-01T00:00:00Z", "end_date")):
        response = client.get(f"/open311/v2/requests.json?api_key={key}&{query}")
        assert response.status_code == 400 and field in response.json[0]["description"]
    assert client.get("/open311/v2/requests/SRK-1999-000001.json").status_code == 404


def test_openapi_lists_the_appeal_and_open311_operations(app):
    paths = app.test_client().get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/appeals/{tracking_code}", "/open311/v2/services.json", "/open311/v2/requests.json",
                 "/open311/v2/requests/{service_request_id}.json"):
        assert path in paths
    assert "post" in paths["/open311/v2/requests.json"] and "get" in paths["/open311/v2/requests.json"]
    for path in ("/open311/v2/discovery", "/open311/v2/services", "/open311/v2/services/{service_code}",
                 "/open311/v2/requests", "/open311/v2/requests/{service_request_id}"):
        twin = paths[f"{path}.xml"]
        assert set(twin) == set(paths[f"{path}.json"])
        assert "text/xml" in twin["get"]["responses"]["200"]["content"]


# --- e-mail notices ---------------------------------------------------------------------------

class Inbox:
    """A local SMTP server (aiosmtpd) standing in for the office's mail server, which this machine cannot reach."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                inbox.messages.append(envelope)
                return "250 OK"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def wait(self, n: int = 1, timeout: float = 5):
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


def send_mail(app) -> int:
    """One round of a serving process's mail task: the notices the steps wrote to the outbox go now."""
    with app.app_context():
        return notices.send_due()


def test_answer_extension_and_forwarding_e_mail_the_applicant_in_the_appeal_language(app, staff_client):
    import email
    receipt = ask(app, "Когда отремонтируют лифт?", contact="resident@example.kz", consent=True, language="ru")
    code = receipt["tracking_code"]
    assign(app, code)
    officer = staff_client("officer")
    with Inbox() as inbox:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port, MAIL_FROM="akimat@example.kz")
        with app.app_context():
            new_due = (appeals.by_code(code).due_date + timedelta(days=5)).isoformat()
        act(officer, app, code, "propose_extension", due_date=new_due, reason="Нужна проверка")
        act(staff_client("head"), app, code, "approve_extension")
        act(officer, app, code, "answer", answer="Лифт отремонтируют до 1 мая.")
        assert inbox.messages == []  # no request talks to the mail server
        assert send_mail(app) == 2
        messages = inbox.wait(2)
    assert len(messages) == 2
    assert all(m.rcpt_tos == ["resident@example.kz"] and m.mail_from == "akimat@example.kz" for m in messages)
    extension = email.message_from_bytes(messages[0].content, policy=email.policy.default)
    answer = email.message_from_bytes(messages[1].content, policy=email.policy.default)
    assert code in extension["Subject"] and "Нужна проверка" in extension.get_content()
    assert "продлён" in extension.get_content()
    assert "Лифт отремонтируют до 1 мая." in answer.get_content() and f"/track/{code}/{receipt['access_code']}" in answer.get_content()
    with app.app_context():
        actions = [e.action for e in appeals.by_code(code).events]
    assert actions.count("notice_sent") == 2


def test_a_mail_server_that_is_down_keeps_the_answer_and_records_the_failure(app, staff_client):
    code = ask(app, "Question with e-mail", contact="resident@example.kz", consent=True)["tracking_code"]
    assign(app, code)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=closed_port, SMTP_TIMEOUT=2)
    response = act(staff_client("officer"), app, code, "answer", answer="Answered anyway.")
    assert response.status_code == 302
    assert send_mail(app) == 1
    with app.app_context():
        appeal = appeals.by_code(code)
        assert appeal.status == "answered"
        failed = db.session.execute(select(AppealEvent).where(AppealEvent.appeal_id == appeal.id,
                                                              AppealEvent.action == "notice_failed")).scalar_one()
        assert failed.detail["error"] == "ConnectionRefusedError" and not failed.public
        assert notices.pending(appeal) == [failed]  # owed by hand while the outbox retries it
    with Inbox() as inbox, app.app_context():  # the mail server is back: the retry sends it, and nothing is owed
        app.config.update(SMTP_PORT=inbox.port)
        assert notices.send_due(now=utcnow() + timedelta(hours=1)) == 1 and len(inbox.wait(1)) == 1
        appeal = appeals.by_code(code)
        assert appeal.events[-1].action == "notice_sent" and notices.pending(appeal) == []
        assert notices.send_due(now=utcnow() + timedelta(hours=2)) == 0  # once


def test_a_phone_only_applicant_is_owed_a_notice_that_staff_give_and_record(app, staff_client):
    receipt = ask(app, "Phone only", contact="+77012345678", consent=True)
    code = receipt["tracking_code"]
    other = ask(app, "Has an address", contact="resident@example.kz", consent=True)["tracking_code"]
    assign(app, code)
    assign(app, other)
    officer = staff_client("officer")
    with Inbox() as inbox:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port)
        answered = act(officer, app, code, "answer", answer="Answered.")
        assert answered.status_code == 302
        flashed = officer.get(f"/appeals/{appeal_id(app, code)}").get_data(as_text=True)
        assert "tell them by phone or in writing" in flashed  # said at once, after the answer
        assert act(officer, app, other, "answer", answer="Answered by mail.").status_code == 302
        send_mail(app)
        inbox.wait(1)
        time.sleep(0.2)
        assert [m.rcpt_tos for m in inbox.messages] == [["resident@example.kz"]]  # no mail to a phone number
    page = officer.get(f"/appeals/{appeal_id(app, code)}").get_data(as_text=True)
    assert 'id="notice-due"' in page and "+77012345678" in page
    # the list finds every appeal owed a notice, and only those
    listed = officer.get("/appeals?to_tell=1").get_data(as_text=True)
    assert code in listed and other not in listed
    # recording it: a means is required, then a public step, and the appeal leaves the list
    assert act(officer, app, code, "told", means="carrier pigeon").status_code == 400
    assert act(officer, app, code, "told", means="phone", note="Звонок 10:40, дочь передаст").status_code == 302
    assert code not in officer.get("/appeals?to_tell=1").get_data(as_text=True)
    assert 'id="notice-due"' not in officer.get(f"/appeals/{appeal_id(app, code)}").get_data(as_text=True)
    history = app.test_client().get(f"/api/v1/appeals/{code}/{receipt['access_code']}").json["history"]
    told = [h for h in history if h["action"] == "notice_given"]
    assert len(told) == 1 and "by phone" in told[0]["label"] and "10:40" not in str(history)
    assert not [h for h in history if h["action"] == "notice_due"]  # the reminder is staff's own
    assert act(officer, app, code, "told", means="phone").status_code == 409  # nothing owed any more


def test_a_notice_with_no_mail_server_is_owed_too_and_a_later_one_covers_it(app, staff_client):
    code = ask(app, "E-mail, but no mail server set", contact="resident@example.kz", consent=True)["tracking_code"]
    assign(app, code)
    app.config.update(SMTP_HOST="")
    act(staff_client("admin"), app, code, "forward", forwarded_to="Акимат района Алматы")
    page = staff_client("admin").get(f"/appeals/{appeal_id(app, code)}").get_data(as_text=True)
    assert "no mail server is set" in page and "left no e-mail address" not in page
    admin = staff_client("admin")
    assert code in admin.get("/appeals?to_tell=1").get_data(as_text=True)
    with app.app_context():
        appeal = appeals.by_code(code)
        assert [e.detail for e in appeal.events if e.action == "notice_due"] == [
            {"kind": "forward", "reason": "no_mail_server"}]
    # a later notice that does reach the applicant tells where the appeal stands: nothing is owed any more
    with Inbox() as inbox, app.test_request_context():
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port)
        outbox.enqueue_notice(appeals.by_code(code), "forward")
        db.session.commit()
        assert notices.send_due() == 1 and len(inbox.wait(1)) == 1
        assert appeals.by_code(code).events[-1].action == "notice_sent"
        assert notices.pending(appeals.by_code(code)) == []
    assert code not in admin.get("/appeals?to_tell=1").get_data(as_text=True)


# --- questions only and appeals; forward immediately --------------------------------------------

ANONYMOUS = {"author_name": "", "contact": "", "consent": False}


def test_the_api_tells_a_question_only_from_an_appeal_and_shows_no_term_for_it(app):
    question = ask(app, "Anonymous: when does the pool open?", **ANONYMOUS)
    appeal = ask(app, "Named: when does the pool open?")
    assert question["statutory"] is False and appeal["statutory"] is True
    client = app.test_client()
    mine = client.get(f"/api/v1/appeals/{question['tracking_code']}/{question['access_code']}").json
    theirs = client.get(f"/api/v1/appeals/{appeal['tracking_code']}/{appeal['access_code']}").json
    assert mine["statutory"] is False and mine["due_date"] is None and mine["original_due_date"] is None
    assert theirs["statutory"] is True and theirs["due_date"]
    assert client.get(f"/api/v1/appeals/{question['tracking_code']}").json["due_date"] is None
    assert "author_name and contact" in client.get("/api/v1/openapi.json").json["paths"][API.replace(
        "demo", "{slug}")]["post"]["description"]


def test_the_receipt_and_the_track_page_of_a_question_only_show_no_due_date(app):
    question = ask(app, "Anonymous: the playground", **ANONYMOUS)
    appeal = ask(app, "Named: the playground")
    client = app.test_client()
    for receipt, statutory in ((question, False), (appeal, True)):
        address = f"/track/{receipt['tracking_code']}/{receipt['access_code']}"
        talon = client.get(f"{address}/receipt").get_data(as_text=True)
        page = client.get(address).get_data(as_text=True)
        assert ("Answer due" in talon) is statutory and ("Answer due" in page) is statutory
        assert ("not an official appeal" in talon) is not statutory
        assert ("A question for the broadcast, not an official appeal" in page) is not statutory


def test_open311_without_a_name_is_a_question_only_with_no_expected_time(app):
    key, client = api_key(app), app.test_client()
    where = {"api_key": key, "service_code": "1", "address_string": "Abay 10", "description": "Pothole"}
    anonymous = client.post("/open311/v2/requests.json", data={**where, "email": "resident@example.kz"}).json[0]
    named = client.post("/open311/v2/requests.json", data={**where, "first_name": "Dana",
                                                           "phone": "+77012345678"}).json[0]
    assert "not an official appeal" in anonymous["service_notice"] and "due by" in named["service_notice"]
    [item] = client.get(f"/open311/v2/requests/{anonymous['service_request_id']}.json?api_key={key}").json
    assert item["expected_datetime"] is None and item["status"] == "open"
    [other] = client.get(f"/open311/v2/requests/{named['service_request_id']}.json?api_key={key}").json
    assert other["expected_datetime"]
    assert len(client.get(f"/open311/v2/requests.json?api_key={key}&status=open").json) == 2


def test_the_back_office_filters_questions_only_and_hides_their_term(app, staff_client):
    question = ask(app, "Anonymous: the square", **ANONYMOUS)["tracking_code"]
    appeal = ask(app, "Named: the square")["tracking_code"]
    with app.app_context():
        for code in (question, appeal):
            appeals.by_code(code).due_date = deadlines.local_date() - timedelta(days=2)
        db.session.commit()
    admin = staff_client("admin")
    only = admin.get("/appeals?kind=question").get_data(as_text=True)
    assert question in only and appeal not in only
    assert appeal in admin.get("/appeals?kind=appeal").get_data(as_text=True)
    overdue = admin.get("/appeals?overdue=1").get_data(as_text=True)
    assert appeal in overdue and question not in overdue
    assert admin.get("/appeals?kind=maybe").status_code == 400
    detail = admin.get(f"/appeals/{appeal_id(app, question)}").get_data(as_text=True)
    assert "question only" in detail and "Extend the term" not in detail and "overdue" not in detail
    rows = list(csv.reader(io.StringIO(admin.get("/appeals/export.csv").get_data(as_text=True).lstrip("\ufeff"))))
    by_code = {row[0]: row for row in rows[1:]}
    assert by_code[question][3] == "" and by_code[question][4] == "" and by_code[appeal][4] == "overdue"


def test_forward_immediately_from_the_back_office_by_role_and_status(app, staff_client):
    code = ask(app, "Anonymous: a bomb threat at the market", **ANONYMOUS)["tracking_code"]
    assign(app, code)
    admin = staff_client("admin")
    assert act(admin, app, code, "forward_immediately", forwarded_to="").status_code == 400
    for name in ("mod", "speaker"):  # the back office is for officers and admins (the desk has its own)
        client = staff_client(name)
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/track").get_data(as_text=True)).group(1)
        refused = client.post(f"/appeals/{appeal_id(app, code)}/forward_immediately",
                              data={"csrf_token": token, "forwarded_to": "Police", "version": version(app, code)})
        assert refused.status_code == 403
    with app.app_context():
        assert appeals.by_code(code).status == "assigned"
    officer = staff_client("officer")
    assert act(officer, app, code, "forward_immediately", forwarded_to="District police department").status_code == 302
    with app.app_context():
        appeal = appeals.by_code(code)
        assert appeal.status == "forwarded" and appeal.urgent and appeal.events[-1].actor.username == "officer"
    assert act(officer, app, code, "forward_immediately", forwarded_to="Police").status_code == 409
    assert "forwarded immediately" in officer.get("/appeals").get_data(as_text=True)


def test_merge_and_unmerge_steps_show_on_track_and_on_the_detail_page(app, staff_client):
    target, source = ask(app, "Snow in the yard of Samal 5"), ask(app, "Samal 5 yard is full of snow")
    with app.app_context():
        from companion.services import intake, moderation
        broadcast = intake.get_broadcast("demo")
        moderation.merge_question(broadcast, source["id"], target["id"], actor=None)
        moderation.unmerge_question(broadcast, source["id"], actor=None)
    track = app.test_client().get(f"/track/{source['tracking_code']}/{source['access_code']}").get_data(as_text=True)
    assert f"Merged into {target['tracking_code']}" in track and f"Merge into {target['tracking_code']} undone" in track
    # the target's asker does not see the other resident's code; the back office does
    public = app.test_client().get(f"/track/{target['tracking_code']}/{target['access_code']}").get_data(as_text=True)
    assert source["tracking_code"] not in public
    detail = staff_client("admin").get(f"/appeals/{appeal_id(app, target['tracking_code'])}").get_data(as_text=True)
    assert f"{source['tracking_code']} merged into this one" in detail
    assert f"{source['tracking_code']} separated from this one again" in detail
