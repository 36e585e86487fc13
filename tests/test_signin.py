"""Sign-in an outsider cannot weaponise: throttling per (account, address), no timing tell, hashing off the loop.

The served tests run the real server behind one trusted proxy (COMPANION_PROXY_HOPS=1), so that
X-Forwarded-For stands for the client's address: LiveServer listens on loopback only."""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from companion import create_app
from companion.extensions import db
from companion.models import AuditEvent, LoginThrottle, User, utcnow

from .conftest import PASSWORD, csrf_token, login, seed, test_config
from companion.testing.liveserver import LiveServer

ROOT = Path(__file__).resolve().parent.parent
ATTACKER, RESIDENT_OFFICE = "203.0.113.9", "198.51.100.20"


def login_from(app, address: str, username: str, password: str):
    """Sign in through the form from `address` (the test client's REMOTE_ADDR)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return login(client, username, password)


def user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.execute(select(User.id).where(User.username == username)).scalar_one()


# --- the service, on SQLite and PostgreSQL ---------------------------------------------------------

def test_guesses_from_one_address_never_lock_out_another(app):
    for _ in range(5):
        assert login_from(app, ATTACKER, "mod", "wrong-password-1").status_code == 400
    blocked = login_from(app, ATTACKER, "mod", PASSWORD)  # even the right password, while that address waits
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) <= 60
    assert login_from(app, RESIDENT_OFFICE, "mod", PASSWORD).status_code == 302


def test_the_wait_doubles_but_is_capped_at_minutes(app):
    waits = []
    for _ in range(16):
        login_from(app, ATTACKER, "mod", "wrong-password-1")
        with app.app_context():
            row = db.session.execute(select(LoginThrottle)).scalar_one()
            if row.blocked_until:
                waits.append(row.blocked_until - utcnow())
                row.blocked_until = utcnow() - timedelta(seconds=1)  # the wait has passed
                db.session.commit()
    assert timedelta(seconds=50) < waits[0] <= timedelta(minutes=1)
    assert timedelta(minutes=1, seconds=50) < waits[1] <= timedelta(minutes=2)
    assert max(waits) <= timedelta(minutes=app.config["LOGIN_DELAY_MAX_MINUTES"])
    assert waits[-1] > timedelta(minutes=app.config["LOGIN_DELAY_MAX_MINUTES"] - 1)
    assert len(waits) == 12 and len(audit(app, "login_throttled")) == 12


def audit(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_unknown_usernames_are_throttled_like_known_ones(app):
    """The wait tells nothing about which names exist."""
    for name in ("mod", "nobody-here"):
        codes = [login_from(app, ATTACKER, name, "wrong-password-1").status_code for _ in range(6)]
        assert codes == [400] * 5 + [429], name


def test_admin_unlock_keeps_the_password(app, staff_client):
    for _ in range(5):
        login_from(app, ATTACKER, "mod", "wrong-password-1")
    assert login_from(app, ATTACKER, "mod", PASSWORD).status_code == 429
    admin = staff_client("admin")
    page = admin.get("/admin/users").get_data(as_text=True)
    uid = user_id(app, "mod")
    assert f'action="/admin/users/{uid}/unlock"' in page
    response = admin.post(f"/admin/users/{uid}/unlock", data={"csrf_token": csrf_token(admin, "/admin/users")})
    assert response.status_code == 302
    assert login_from(app, ATTACKER, "mod", PASSWORD).status_code == 302  # the same password
    assert len(audit(app, "login_unlocked")) == 1


def test_unlock_command_keeps_the_password(tmp_path):
    app = create_app(test_config(tmp_path))
    seed(app)
    for _ in range(5):
        login_from(app, ATTACKER, "mod", "wrong-password-1")
    assert login_from(app, ATTACKER, "mod", PASSWORD).status_code == 429
    env = {**os.environ, "COMPANION_DATABASE_URL": app.config["DATABASE_URL"], "COMPANION_SECRET_KEY": "test-secret"}
    out = subprocess.run([sys.executable, "-m", "companion", "unlock", "mod"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "mod" in out.stdout
    assert login_from(app, ATTACKER, "mod", PASSWORD).status_code == 302
    missing = subprocess.run([sys.executable, "-m", "companion", "unlock", "nobody-here"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "nobody-here" in missing.stderr


# --- the real server ----------------------------------------------------------------------------

def attempt(server: LiveServer, username: str, password: str, address: str) -> tuple[int, float]:
    """One sign-in through the form from `address`; its status and how long the POST took."""
    http = requests.Session()
    headers = {"X-Forwarded-For": address}
    html = http.get(server.url + "/login", headers=headers, timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    start = time.perf_counter()
    response = http.post(server.url + "/login", data={"username": username, "password": password, "csrf_token": token},
                         headers=headers, allow_redirects=False, timeout=30)
    return response.status_code, time.perf_counter() - start


def behind_proxy(tmp_path, mode: str = "eventlet") -> LiveServer:
    """The real server behind one trusted proxy."""
    return LiveServer(tmp_path, PROXY_HOPS=1, PUBLIC_URL="https://ask.example.kz", ASYNC_MODE=mode).start()


@pytest.fixture
def proxied_server(tmp_path):
    live = behind_proxy(tmp_path)
    yield live
    live.stop()


@pytest.fixture(params=["eventlet", "gevent"])
def any_proxied_server(request, tmp_path):
    live = behind_proxy(tmp_path, request.param)
    yield live
    live.stop()


def test_served_guesses_from_one_address_do_not_lock_out_the_real_user(proxied_server):
    codes = [attempt(proxied_server, "mod", f"wrong-password-{i}", ATTACKER)[0] for i in range(12)]
    assert codes == [400] * 5 + [429] * 7
    assert attempt(proxied_server, "mod", PASSWORD, ATTACKER)[0] == 429
    assert attempt(proxied_server, "mod", PASSWORD, RESIDENT_OFFICE)[0] == 302


def test_parallel_wrong_logins_do_not_stall_other_requests(any_proxied_server):
    """Ten password checks at once (each some 100 ms of scrypt) run in real threads, off the event loop."""
    server = any_proxied_server
    forms = []
    for i in range(10):
        http = requests.Session()
        headers = {"X-Forwarded-For": f"192.0.2.{i + 10}"}  # one address each: none is throttled
        html = http.get(server.url + "/login", headers=headers, timeout=30).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        forms.append((http, headers, token))
    latencies: list[float] = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            start = time.perf_counter()
            requests.get(server.url + "/healthz", timeout=30)
            latencies.append(time.perf_counter() - start)
            time.sleep(0.01)

    def wrong(http, headers, token):
        http.post(server.url + "/login", data={"username": "mod", "password": "wrong-password-1", "csrf_token": token},
                  headers=headers, allow_redirects=False, timeout=30)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.2)
    burst = [threading.Thread(target=wrong, args=form) for form in forms]
    for thread in burst:
        thread.start()
    for thread in burst:
        thread.join()
    time.sleep(0.2)
    stop.set()
    prober.join()
    # scrypt on the event loop: ten checks stalled every request for about a second
    assert max(latencies) < 0.35, f"a probe waited {max(latencies) * 1000:.0f} ms"


def test_unknown_and_known_usernames_take_as_long(proxied_server):
    unknown, known = [], []
    for i in range(9):
        unknown.append(attempt(proxied_server, f"nobody-{i}", "wrong-password-1", f"192.0.2.{100 + i}")[1])
        known.append(attempt(proxied_server, "mod", "wrong-password-1", f"192.0.2.{150 + i}")[1])
    a, b = statistics.median(unknown), statistics.median(known)
    assert abs(a - b) / max(a, b) < 0.3, f"unknown {a * 1000:.0f} ms, known {b * 1000:.0f} ms"


def test_parallel_guesses_from_one_address_get_no_more_tries(proxied_server):
    """Ten guesses sent at once: each is counted before the next is checked, so five are refused unchecked."""
    server = proxied_server
    forms = []
    for _ in range(10):
        http = requests.Session()
        html = http.get(server.url + "/login", headers={"X-Forwarded-For": ATTACKER}, timeout=30).text
        forms.append((http, re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)))
    codes: list[int] = []

    def guess(http, token):
        codes.append(http.post(server.url + "/login", data={"username": "mod", "password": "wrong-password-1",
                                                             "csrf_token": token},
                               headers={"X-Forwarded-For": ATTACKER}, allow_redirects=False, timeout=30).status_code)

    burst = [threading.Thread(target=guess, args=form) for form in forms]
    for thread in burst:
        thread.start()
    for thread in burst:
        thread.join()
    assert sorted(codes) == [400] * 5 + [429] * 5
