"""Shared fixtures: an app per test on a fresh SQLite file, staff accounts, socket clients."""
from __future__ import annotations

import os
import re
import shutil

import pytest

from companion import create_app
from companion.config import Config
from companion.extensions import db, socketio
from companion.services import accounts, broadcasts

IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "correct-horse-battery"


def need(condition: bool, reason: str):
    """Skip outside CI when a service is missing; in CI a missing service is a failure."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def test_config(tmp_path, **overrides) -> Config:
    """A Config for tests: SQLite in tmp_path, threading mode, fixed secret."""
    cfg = Config.from_env({})
    cfg.ASYNC_MODE = "threading"
    cfg.DATABASE_URL = f"sqlite:///{tmp_path / 'test.db'}"
    cfg.SECRET_KEY = "test-secret"
    cfg.TESTING = True
    cfg.DEFAULT_LOCALE = "en"  # tests read English unless they switch; the product default (kk) is tested too
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


test_config.__test__ = False  # not a test itself


STAFF = (("admin", "admin"), ("mod", "moderator"), ("mod2", "moderator"), ("speaker", "speaker"),
         ("officer", "officer"))


def seed(app) -> None:
    """The demo broadcast and one account per role, all with PASSWORD."""
    with app.app_context():
        db.create_all()
        broadcasts.seed_demo()
        for name, role in STAFF:
            accounts.create_user(name, role, PASSWORD)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory):
    """A seeded SQLite file built once; each test gets its own copy (password hashing is slow on purpose)."""
    folder = tmp_path_factory.mktemp("template")
    seed(create_app(test_config(folder)))
    return folder / "test.db"


@pytest.fixture
def app(tmp_path, seeded_db):
    shutil.copy(seeded_db, tmp_path / "test.db")
    app = create_app(test_config(tmp_path))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def ctx(app):
    """An app context for calling services directly."""
    with app.app_context():
        yield


def csrf_token(client, url: str) -> str:
    """The CSRF token of the form on `url`."""
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def login(client, username: str, password: str = PASSWORD):
    """Sign in through the real login form."""
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


@pytest.fixture
def staff_client(app):
    """Factory: a Flask test client signed in as `username`."""
    def make(username: str):
        client = app.test_client()
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return make


@pytest.fixture
def staff_socket(app, staff_client):
    """Factory: a Socket.IO test client on /staff signed in as `username`."""
    def make(username: str, slug: str = "demo"):
        client = socketio.test_client(app, namespace="/staff", auth={"slug": slug},
                                      flask_test_client=staff_client(username))
        assert client.is_connected("/staff")
        return client
    return make


@pytest.fixture
def viewer_socket(app):
    """Factory: a viewer's Socket.IO test client with the signed viewer cookie from the page."""
    def make(slug: str = "demo"):
        http = app.test_client()
        assert http.get(f"/b/{slug}").status_code == 200
        client = socketio.test_client(app, namespace="/", auth={"slug": slug}, flask_test_client=http)
        assert client.is_connected("/")
        return client
    return make


def chromium_path() -> str | None:
    """Debian's Chromium, if installed."""
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None
