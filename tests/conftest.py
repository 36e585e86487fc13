"""Shared fixtures: an app per test on a fresh SQLite file, staff accounts, socket clients."""
from __future__ import annotations

import os
import re
import shutil
import uuid

import pytest
from sqlalchemy.engine import make_url

from companion import create_app, migrate
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
         ("officer", "officer"), ("head", "head"), ("operator", "operator"))


def seed(app) -> None:
    """Migrate, then the demo broadcast and one account per role, all with PASSWORD."""
    with app.app_context():
        migrate.upgrade()
        broadcasts.seed_demo()
        for name, role in STAFF:
            user, _ = accounts.create_user(name, role, PASSWORD)
            if name == "officer":  # works in the first demo department (transport and roads)
                accounts.update_user(user, department_id=1)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory):
    """A seeded SQLite file built once; each test gets its own copy (password hashing is slow on purpose)."""
    folder = tmp_path_factory.mktemp("template")
    seed(create_app(test_config(folder)))
    return folder / "test.db"


POSTGRES_URL = os.environ.get("COMPANION_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    try:
        import psycopg2
        psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False


class Postgres:
    """Creates and drops throw-away databases on the PostgreSQL server the tests use."""

    def __init__(self):
        self.base = make_url(POSTGRES_URL)

    def url(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    def execute(self, sql: str) -> None:
        import psycopg2
        conn = psycopg2.connect(POSTGRES_URL)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create(self, name: str, template: str | None = None) -> str:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres():
    need(postgres_available(), f"PostgreSQL is not reachable at {POSTGRES_URL}")
    return Postgres()


@pytest.fixture(scope="session")
def postgres_template(postgres, tmp_path_factory):
    """A migrated, seeded PostgreSQL database that each test copies (CREATE DATABASE ... TEMPLATE)."""
    name = f"companion_tmpl_{os.getpid()}"
    url = postgres.create(name)
    seed(create_app(test_config(tmp_path_factory.mktemp("pg"), DATABASE_URL=url)))
    yield name
    postgres.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, tmp_path, seeded_db):
    """The app on a fresh copy of the seeded database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        shutil.copy(seeded_db, tmp_path / "test.db")
        app = create_app(test_config(tmp_path))
    else:
        postgres = request.getfixturevalue("postgres")
        template = request.getfixturevalue("postgres_template")
        name = f"companion_test_{uuid.uuid4().hex[:12]}"
        app = create_app(test_config(tmp_path, DATABASE_URL=postgres.create(name, template)))
        request.addfinalizer(lambda: postgres.drop(name))
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


# The real server (`python -m companion serve`) in a subprocess, for the live tests.
@pytest.fixture
def server(tmp_path):
    from .liveserver import LiveServer
    live = LiveServer(tmp_path).start()
    yield live
    live.stop()


@pytest.fixture(params=["eventlet", "gevent"])
def any_server(request, tmp_path):
    """The real server under each supported async mode."""
    from .liveserver import LiveServer
    live = LiveServer(tmp_path, ASYNC_MODE=request.param).start()
    yield live
    live.stop()


# Files whose tests measure time, or load the machine on purpose: `make test` runs them alone,
# after the rest has run on parallel workers (pytest-xdist), so no other test's load skews them.
SERIAL = frozenset({"test_transport.py", "test_security_live.py", "test_durability.py", "test_production.py",
                    "test_desk_scale.py", "test_http_hardening_live.py", "test_server.py", "test_signin.py",
                    "test_frames.py", "test_nginx.py", "test_report_screens.py"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SERIAL:
            item.add_marker(pytest.mark.serial)
