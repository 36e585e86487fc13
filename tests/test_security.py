"""Security: sessions, lockout, rate limits, headers, origins, personal data (test client level)."""
from __future__ import annotations

from importlib.metadata import version

import pytest
from packaging.version import Version
from sqlalchemy import select

from companion.extensions import db, socketio
from companion.models import AuditEvent, LoginSession, User
from companion.realtime.sessions import sweep_revoked_sessions

from .conftest import PASSWORD, csrf_token, login

API = "/api/v1/broadcasts/demo/questions"


def user(username: str) -> User:
    return db.session.execute(select(User).where(User.username == username)).scalar_one()


def actions(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent).where(AuditEvent.action == name)).scalars())


# 1. Staff namespace and rooms ---------------------------------------------------------------

def test_no_staff_event_reaches_a_viewer(viewer_socket, staff_socket):
    viewer, mod = viewer_socket(), staff_socket("mod")
    ack = viewer.emit("submit_question", {"text": "Private until approved", "client_id": "staff-leak-1",
                                          "contact": "+77012345678", "consent": True}, namespace="/", callback=True)
    q = ack["question"]
    snapshot = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)["questions"][0]
    mod.emit("approve", {"id": q["id"], "version": snapshot["version"]}, namespace="/staff", callback=True)
    names = {e["name"] for e in viewer.get_received("/")}
    assert names <= {"feed_changed", "my_question_changed", "votes_changed"}
    assert not viewer.is_connected("/staff")


# 3. Logout and role changes close sockets --------------------------------------------------

def test_logout_revokes_the_sign_in_for_http_and_sockets(app, staff_client):
    client = staff_client("mod")
    mod = socketio.test_client(app, namespace="/staff", auth={"slug": "demo"}, flask_test_client=client)
    assert mod.emit("get_snapshot", {}, namespace="/staff", callback=True)["ok"]
    token = csrf_token(client, "/admin/broadcasts")
    client.post("/logout", data={"csrf_token": token})
    assert mod.emit("get_snapshot", {}, namespace="/staff", callback=True)["error"]["code"] == "unauthorized"
    with app.app_context():
        assert sweep_revoked_sessions() == 1
    assert not mod.is_connected("/staff")


def test_role_change_closes_the_moderators_sockets(app, staff_client, staff_socket):
    mod = staff_socket("mod")
    admin = staff_client("admin")
    token = csrf_token(admin, "/admin/users")
    with app.app_context():
        uid = user("mod").id
    admin.post(f"/admin/users/{uid}", data={f"u{uid}-role": "speaker", f"u{uid}-active": "y",
                                            f"u{uid}-csrf_token": token})
    with app.app_context():
        assert sweep_revoked_sessions() == 1
        assert db.session.execute(select(LoginSession).where(LoginSession.user_id == uid,
                                                             LoginSession.revoked_at.is_(None))).first() is None
    assert not mod.is_connected("/staff")


def test_a_stolen_cookie_is_useless_after_logout(app, staff_client):
    client = staff_client("mod")
    stolen = client.get_cookie("session").value
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/broadcasts")})
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/moderate/demo").status_code == 302


# 7. Cookies ----------------------------------------------------------------------------------

def test_session_cookie_is_secure_in_production(app):
    app.config["SESSION_COOKIE_SECURE"] = True  # what COMPANION_SESSION_COOKIE_SECURE=true sets
    cookie = app.test_client().get("/b/demo", base_url="https://localhost").headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# 8. Sign-in ----------------------------------------------------------------------------------

# The wait per (account, address), its cap and the admin's unlock: tests/test_signin.py.

def test_unknown_usernames_get_the_same_message(app):
    response = login(app.test_client(), "nobody-here", "whatever-password")
    assert response.status_code == 400 and "Wrong username or password." in response.get_data(as_text=True)


def test_many_failed_logins_from_one_address_must_wait(app):
    app.config["LOGIN_FAILURES_PER_MINUTE_PER_ADDRESS"] = 3
    client = app.test_client()
    for name in ("a1", "a2", "a3"):
        login(client, name, "guess-password")
    assert login(client, "mod", PASSWORD).status_code == 429


# 5. Rate limits --------------------------------------------------------------------------------

def test_per_viewer_question_limit_but_retries_always_pass(app, viewer_socket):
    viewer = viewer_socket()
    acks = [viewer.emit("submit_question", {"text": f"q {i}", "client_id": f"rate-viewer-{i}"}, namespace="/",
                        callback=True) for i in range(6)]
    assert [a["ok"] for a in acks] == [True] * 5 + [False]
    assert acks[5]["error"]["code"] == "rate_limited"
    retry = viewer.emit("submit_question", {"text": "q 0", "client_id": "rate-viewer-0"}, namespace="/", callback=True)
    assert retry["ok"] and retry["question"]["id"] == acks[0]["question"]["id"]


def test_per_address_limit_is_looser_and_api_keys_are_exempt(app, staff_client):
    app.config["QUESTIONS_PER_MINUTE_PER_ADDRESS"] = 8
    client = app.test_client()
    codes = [client.post(API, json={"text": f"from one address {i}"}).status_code for i in range(9)]
    assert codes == [201] * 8 + [429]
    admin = staff_client("admin")
    page = admin.post("/admin/api-keys", data={"csrf_token": csrf_token(admin, "/admin/api-keys"),
                                              "name": "City 109 call centre"}).get_data(as_text=True)
    import re
    key = re.search(r"<code>(ck_[^<]+)</code>", page).group(1)
    keyed = client.post(API, json={"text": "on behalf of a caller"}, headers={"Authorization": f"Bearer {key}"})
    assert keyed.status_code == 201
    bad = client.post(API, json={"text": "x"}, headers={"Authorization": "Bearer ck_wrong"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "unauthorized"


def test_votes_are_rate_limited_per_viewer(app, viewer_socket, staff_socket):
    app.config["VOTES_PER_MINUTE_PER_VIEWER"] = 3
    mod = staff_socket("mod")
    ids = [mod.emit("add_phone_question", {"text": f"vote target {i}", "client_id": f"vote-target-{i}"},
                    namespace="/staff", callback=True)["question"]["id"] for i in range(4)]
    viewer = viewer_socket()
    acks = [viewer.emit("vote", {"question_id": i}, namespace="/", callback=True) for i in ids]
    assert [a["ok"] for a in acks] == [True, True, True, False]
    assert acks[3]["error"]["code"] == "rate_limited"


def test_event_flood_is_throttled_then_dropped(app, viewer_socket):
    app.config["EVENTS_PER_SECOND_PER_CONNECTION"] = 10
    viewer = viewer_socket()
    codes = []
    for _ in range(200):
        if not viewer.is_connected("/"):
            break
        ack = viewer.emit("get_snapshot", {}, namespace="/", callback=True)
        codes.append("ok" if ack and ack.get("ok") else (ack or {}).get("error", {}).get("code"))
    assert codes[:19] == ["ok"] * 19  # the burst allowance, less the connect packet's token
    assert "rate_limited" in codes
    assert not viewer.is_connected("/")  # kept flooding: dropped


# 6. Headers -------------------------------------------------------------------------------------

def test_pages_send_a_strict_content_security_policy_with_a_nonce(app):
    response = app.test_client().get("/b/demo")
    policy = response.headers["Content-Security-Policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert "script-src 'self' 'nonce-" in policy and "frame-ancestors 'self'" in policy
    assert "unsafe-inline" not in policy and "object-src 'none'" in policy
    html = response.get_data(as_text=True)
    assert html.count(f'nonce="{nonce}"') == 2
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    other = app.test_client().get("/b/demo").headers["Content-Security-Policy"]
    assert other != policy  # a new nonce per response


def test_wildcard_origin_is_refused_at_startup(tmp_path):
    from companion import create_app

    from .conftest import test_config
    with pytest.raises(ValueError):
        create_app(test_config(tmp_path, ALLOWED_ORIGINS="*"))


# 9. Personal data ------------------------------------------------------------------------------

def test_contact_is_masked_for_moderators_and_absent_for_speakers(viewer_socket, staff_socket):
    viewer, mod, speaker = viewer_socket(), staff_socket("mod"), staff_socket("speaker")
    viewer.emit("submit_question", {"text": "Call me", "client_id": "pii-check-1", "author_name": "Erlan",
                                    "contact": "erlan.b@mail.kz", "consent": True}, namespace="/", callback=True)
    q = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)["questions"][0]
    assert q["contact"] == "e***@mail.kz"
    mod.emit("send_to_air", {"id": q["id"], "version": q["version"], "confirm": True}, namespace="/staff", callback=True)
    state = speaker.emit("get_prompter", {}, namespace="/staff", callback=True)
    assert "contact" not in state["on_air"] and "mail.kz" not in str(state)


# 10. Dependencies ------------------------------------------------------------------------------

@pytest.mark.parametrize("package, minimum", [
    ("python-engineio", "4.13.3"), ("python-socketio", "5.16.3"), ("eventlet", "0.40.3"), ("flask", "3.1.3"),
])
def test_dependencies_are_past_known_advisories(package, minimum):
    """The offline audit: the pinned lock and what is installed are both past each fixed version.
    (pip-audit needs an advisory service this network does not reach.)"""
    from pathlib import Path
    pins = {}
    for line in (Path(__file__).resolve().parent.parent / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            pins[name.strip().lower()] = pinned.strip()
    assert Version(pins[package]) >= Version(minimum)
    assert Version(version(package)) >= Version(minimum)


# Audit log -------------------------------------------------------------------------------------

def test_admins_read_the_audit_log_with_filters(app, staff_client, viewer_socket):
    viewer_socket().emit("approve", {"id": 1}, namespace="/", callback=True)  # refused and audited
    login(app.test_client(), "mod", "wrong-password-x")
    admin = staff_client("admin")
    page = admin.get("/admin/audit?action=refused").get_data(as_text=True)
    assert "refused" in page and "approve" in page and "login_failed" not in page.split("<tbody>")[1]
    assert "login_failed" in admin.get("/admin/audit?action=login_failed").get_data(as_text=True)
    assert staff_client("mod").get("/admin/audit").status_code == 403
