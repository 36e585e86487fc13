"""HTTP: the JSON API contract, pages by role, login and CSRF, administration."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from companion.extensions import db
from companion.models import Broadcast, Question, User

from .conftest import PASSWORD, csrf_token, login

API = "/api/v1/broadcasts/demo/questions"


def question_rows(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Question)).scalar_one()


def test_api_submit_is_201_then_200_with_the_same_receipt(app):
    client = app.test_client()
    body = {"text": "Where can I get a parking permit?", "client_id": "api-client-0001", "language": "en"}
    first = client.post(API, json=body)
    assert first.status_code == 201
    again = client.post(API, json=body)
    assert again.status_code == 200
    assert (again.json["id"], again.json["tracking_code"]) == (first.json["id"], first.json["tracking_code"])
    assert question_rows(app) == 1
    with app.app_context():
        assert db.session.get(Question, first.json["id"]).channel == "api"


@pytest.mark.parametrize("body, status, code", [
    ({"text": ""}, 400, "invalid"),
    ({"text": "x" * 1001}, 400, "invalid"),
    ({"text": "ok", "contact": "+7 000", "consent": True}, 400, "invalid"),
    ({"text": "ok", "client_id": "short"}, 400, "invalid"),
])
def test_api_bad_input_is_a_json_error(app, body, status, code):
    response = app.test_client().post(API, json=body)
    assert response.status_code == status
    assert response.json["error"]["code"] == code and response.json["error"]["message"]
    assert question_rows(app) == 0


def test_api_rejects_a_body_that_is_not_json_object(app):
    response = app.test_client().post(API, data="text=hello", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid"


def test_api_unknown_broadcast_is_404_json(app):
    response = app.test_client().post("/api/v1/broadcasts/nope/questions", json={"text": "hi"})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_api_closed_broadcast_is_409(app):
    with app.app_context():
        db.session.execute(select(Broadcast)).scalar_one().questions_open = False
        db.session.commit()
    response = app.test_client().post(API, json={"text": "hi"})
    assert response.status_code == 409 and response.json["error"]["code"] == "questions_closed"


def test_api_too_large_body_is_413(app):
    response = app.test_client().post(API, data=b"{" + b" " * 300_000 + b"}", content_type="application/json")
    assert response.status_code == 413 and response.json["error"]["code"] == "too_large"


def test_appeal_status_has_no_personal_data(app):
    client = app.test_client()
    created = client.post(API, json={"text": "Heating in block 5", "author_name": "Nurlan Abenov",
                                     "contact": "+77012345678", "consent": True}).json
    for address in (created["tracking_code"].lower(), f"{created['tracking_code']}/{created['access_code']}"):
        status = client.get(f"/api/v1/appeals/{address}")
        assert status.status_code == 200
        text = status.get_data(as_text=True)
        assert created["tracking_code"] in text and "Nurlan" not in text and "7012345678" not in text
    assert client.get("/api/v1/appeals/SRK-0000-999999").status_code == 404


def test_openapi_document_describes_the_submit_contract(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    responses = doc["paths"]["/api/v1/broadcasts/{slug}/questions"]["post"]["responses"]
    assert {"200", "201", "400", "404", "409"} <= set(responses)


def test_healthz_and_readyz_report_a_working_process(app):
    alive = app.test_client().get("/healthz")
    assert alive.status_code == 200 and alive.json["status"] == "ok"
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ok" and ready.json["database"] == "ok"
    assert ready.json["reasons"] == {}


# The database gone, read-only, the disk full, Redis down: tests/test_readiness.py.


def test_unknown_broadcast_page_is_a_friendly_404(app):
    response = app.test_client().get("/b/no-such-broadcast")
    assert response.status_code == 404
    assert "Check the address or the QR code" in response.get_data(as_text=True)


def test_viewer_page_sets_a_signed_viewer_cookie_and_shows_the_form(app):
    client = app.test_client()
    page = client.get("/b/demo")
    html = page.get_data(as_text=True)
    assert 'id="ask-form"' in html and 'id="q-consent"' in html
    cookie = page.headers["Set-Cookie"]
    assert "session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_qr_code_is_an_svg_of_the_viewer_page(app):
    response = app.test_client().get("/b/demo/qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.data.startswith(b"<?xml") and b"<svg" in response.data


@pytest.mark.parametrize("path", ["/moderate/demo", "/prompter/demo", "/admin/broadcasts", "/admin/users"])
def test_staff_pages_send_anonymous_users_to_login(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("user, path, status", [
    ("speaker", "/moderate/demo", 403), ("speaker", "/prompter/demo", 200), ("mod", "/moderate/demo", 200),
    ("mod", "/prompter/demo", 200), ("mod", "/admin/users", 403), ("officer", "/moderate/demo", 403),
    ("admin", "/admin/users", 200), ("admin", "/moderate/demo", 200), ("mod", "/moderate/nope", 404),
])
def test_pages_by_role(staff_client, user, path, status):
    assert staff_client(user).get(path).status_code == status


def test_wrong_password_is_refused_with_a_generic_message(app):
    response = login(app.test_client(), "mod", "wrong-password!")
    assert response.status_code == 400
    assert "Wrong username or password." in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(app):
    response = app.test_client().post("/login", data={"username": "mod", "password": PASSWORD})
    assert response.status_code == 400


def test_login_issues_a_fresh_session(app):
    client = app.test_client()
    client.get("/b/demo")
    before = client.get_cookie("session").value
    login(client, "mod")
    assert client.get_cookie("session").value != before


def test_deactivated_account_cannot_log_in(app, staff_client):
    admin = staff_client("admin")
    with app.app_context():
        user_id = db.session.execute(select(User.id).where(User.username == "mod")).scalar_one()
    token = csrf_token(admin, "/admin/users")
    admin.post(f"/admin/users/{user_id}", data={f"u{user_id}-role": "moderator", f"u{user_id}-csrf_token": token})
    assert login(app.test_client(), "mod").status_code == 400


def test_logout_needs_post_with_csrf(app, staff_client):
    client = staff_client("mod")
    assert client.get("/logout").status_code == 405
    token = csrf_token(client, "/admin/broadcasts")
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/moderate/demo").status_code == 302


def test_admin_creates_schedules_starts_and_ends_a_broadcast(app, staff_client):
    admin = staff_client("admin")
    token = csrf_token(admin, "/admin/broadcasts/new")
    response = admin.post("/admin/broadcasts/new", data={
        "csrf_token": token, "slug": "march-2027", "title_kk": "Наурыз эфирі", "title_ru": "Мартовский эфир",
        "title_en": "March broadcast", "starts_at": "2027-03-05T18:00", "stream_url": "https://example.kz/embed/1",
        "pre_moderation": "y", "public_feed": "y", "questions_open": "y"})
    assert response.status_code == 302
    with app.app_context():
        b = db.session.execute(select(Broadcast).where(Broadcast.slug == "march-2027")).scalar_one()
        # typed as 18:00 in Almaty (UTC+5), stored in UTC
        assert (b.status, b.anonymous_allowed, b.starts_at.hour) == ("scheduled", False, 13)
        bid = b.id
    for status in ("live", "ended"):
        admin.post(f"/admin/broadcasts/{bid}/status", data={"csrf_token": token, "status": status})
    with app.app_context():
        b = db.session.get(Broadcast, bid)
        assert b.status == "ended" and b.started_at and b.ended_at
    assert app.test_client().post("/api/v1/broadcasts/march-2027/questions", json={"text": "late"}).status_code == 409
    listing = admin.get("/admin/broadcasts").get_data(as_text=True)
    assert "March broadcast" in listing and "6:00" in listing  # shown back in local time
    assert 'value="2027-03-05T18:00"' in admin.get(f"/admin/broadcasts/{bid}/edit").get_data(as_text=True)


def test_broadcast_form_shows_errors_and_keeps_input(app, staff_client):
    admin = staff_client("admin")
    token = csrf_token(admin, "/admin/broadcasts/new")
    response = admin.post("/admin/broadcasts/new", data={"csrf_token": token, "slug": "Bad Slug!",
                                                         "title_ru": "Эфир", "stream_url": "http://insecure"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "lowercase letters" in html and 'value="Эфир"' in html


def test_moderator_cannot_create_broadcasts(staff_client):
    mod = staff_client("mod")
    token = csrf_token(mod, "/admin/broadcasts")
    response = mod.post("/admin/broadcasts/new", data={"csrf_token": token, "slug": "x-y", "title_en": "x"})
    assert response.status_code == 403


def test_admin_manages_staff_accounts(app, staff_client):
    admin = staff_client("admin")
    token = csrf_token(admin, "/admin/users")
    created = admin.post("/admin/users", data={"csrf_token": token, "username": "aigerim", "role": "speaker",
                                               "display_name": "Aigerim S."})
    password = re.search(r"<code>([^<]+)</code>", created.get_data(as_text=True)).group(1)
    assert login(app.test_client(), "aigerim", password).status_code == 302
    with app.app_context():
        uid = db.session.execute(select(User.id).where(User.username == "aigerim")).scalar_one()
    admin.post(f"/admin/users/{uid}", data={f"u{uid}-role": "moderator", f"u{uid}-active": "y",
                                            f"u{uid}-csrf_token": token})
    with app.app_context():
        assert db.session.get(User, uid).role == "moderator"
    reset = admin.post(f"/admin/users/{uid}/password", data={"csrf_token": token}).get_data(as_text=True)
    new_password = re.search(r"<code>([^<]+)</code>", reset).group(1)
    assert login(app.test_client(), "aigerim", password).status_code == 400
    assert login(app.test_client(), "aigerim", new_password).status_code == 302


def test_admin_cannot_lock_themself_out(app, staff_client):
    admin = staff_client("admin")
    token = csrf_token(admin, "/admin/users")
    with app.app_context():
        uid = db.session.execute(select(User.id).where(User.username == "admin")).scalar_one()
    admin.post(f"/admin/users/{uid}", data={f"u{uid}-role": "moderator", f"u{uid}-csrf_token": token})
    with app.app_context():
        assert db.session.get(User, uid).role == "admin"


def test_track_page_shows_status_without_personal_data(app):
    client = app.test_client()
    created = client.post(API, json={"text": "Bus stop shelter", "author_name": "Gulnara",
                                     "contact": "+77012345678", "consent": True}).json
    page = client.get(f"/track/{created['tracking_code']}/{created['access_code']}").get_data(as_text=True)
    assert "Bus stop shelter" in page and "waiting for moderation" in page
    assert "Gulnara" not in page and "7012345678" not in page
    assert client.get("/track/SRK-1999-000001").status_code == 404
    assert client.get(f"/track?code={created['tracking_code']}").location.endswith(f"/track/{created['tracking_code']}")
    typed = client.get(f"/track?code={created['tracking_code'].lower()}&access={created['access_code'].upper()}")
    assert typed.location.endswith(f"/track/{created['tracking_code']}/{created['access_code']}")


def test_user_text_is_escaped_in_server_rendered_pages(app, staff_client):
    client = app.test_client()
    client.post(API, json={"text": "<script>alert(1)</script>", "author_name": "<img src=x onerror=alert(1)>",
                           "consent": True})
    admin = staff_client("admin")
    with app.app_context():
        bid = db.session.execute(select(Broadcast.id)).scalar_one()
    html = admin.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
