"""Shared fixtures: an app per test on a fresh SQLite file, staff accounts, socket clients."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from companion import create_app
from companion.extensions import db, socketio
from companion.testing.setup import (PASSWORD, POSTGRES_URL, STAFF, DatabasePool, Postgres, chromium_path,  # noqa: F401
                                     postgres_available, seed, test_config)

IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str):
    """Skip outside CI when a service is missing; in CI a missing service is a failure."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory):
    """A seeded SQLite file built once; each test gets its own copy (password hashing is slow on purpose)."""
    folder = tmp_path_factory.mktemp("template")
    seed(create_app(test_config(folder)))
    return folder / "test.db"


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


@pytest.fixture(scope="session")
def postgres_pool(postgres, postgres_template):
    """Copies of the seeded PostgreSQL database made ahead of the tests that take them, dropped after them."""
    pool = DatabasePool(postgres, postgres_template)
    yield pool
    pool.close()


def postgres_copy(request) -> str:
    """The address of a fresh copy of the seeded PostgreSQL database for this test (dropped after it)."""
    pool = request.getfixturevalue("postgres_pool")
    name = pool.take()
    request.addfinalizer(lambda: pool.drop_later(name))
    return pool.postgres.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, tmp_path, seeded_db):
    """The app on a fresh copy of the seeded database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        shutil.copy(seeded_db, tmp_path / "test.db")
        app = create_app(test_config(tmp_path))
    else:
        app = create_app(test_config(tmp_path, DATABASE_URL=postgres_copy(request)))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def pg_app(request, tmp_path):
    """The app on a fresh copy of the seeded PostgreSQL database only: races whose window is PostgreSQL's (a query
    there lets another request run between a check and a write; SQLite serialises writers)."""
    app = create_app(test_config(tmp_path, DATABASE_URL=postgres_copy(request)))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def sqlite_app(tmp_path, seeded_db):
    """The app on a copy of the seeded SQLite database only (pages that are the same on PostgreSQL, SQLite's locks)."""
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


# The real server (`python -m companion serve`) in a subprocess, for the live tests.
@pytest.fixture
def server(tmp_path):
    from companion.testing.liveserver import LiveServer
    live = LiveServer(tmp_path).start()
    yield live
    live.stop()


@pytest.fixture(params=["eventlet", "gevent"])
def any_server(request, tmp_path):
    """The real server under each supported async mode."""
    from companion.testing.liveserver import LiveServer
    live = LiveServer(tmp_path, ASYNC_MODE=request.param).start()
    yield live
    live.stop()


# Files whose tests measure time, or load the machine on purpose: `make test` runs them alone,
# after the rest has run on parallel workers (pytest-xdist), so no other test's load skews them.
SERIAL = frozenset({"test_transport.py", "test_security_live.py", "test_durability.py", "test_production.py",
                    "test_desk_scale.py", "test_http_hardening_live.py", "test_server.py", "test_signin.py",
                    "test_frames.py", "test_nginx.py", "test_report_screens.py"})


# The heaviest files first (worker-seconds measured on 3 Dec), so the parallel workers finish together: with a
# file per worker (--dist loadfile), a heavy file handed out last is the lane's tail (test_services.py, near the
# end of the alphabet, kept one worker busy for minutes after the other had finished).
HEAVY_FIRST = ("e2e/test_desk.py", "test_services.py", "test_nginx.py", "test_promises.py", "e2e/test_rehearsal.py",
               "test_production.py", "test_appeals.py", "test_broadcast_report.py", "test_operator.py",
               "test_personal_data.py", "e2e/test_studio.py", "e2e/test_review_eyes.py", "test_appeals_http.py",
               "test_sockets.py", "test_grounds_and_withdrawal_http.py", "test_http_hardening.py", "test_http.py",
               "test_privacy.py", "test_whatsapp.py", "test_security_live.py", "test_topics.py", "test_open311.py",
               "e2e/test_promises.py", "test_backup.py", "test_telegram.py", "e2e/test_appeal_flow.py",
               "e2e/test_roadmap.py", "e2e/test_review18.py", "test_analytics.py", "test_blocking.py", "test_fuzz.py")
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SERIAL and not item.get_closest_marker("anywhere"):
            item.add_marker(pytest.mark.serial)
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(TESTS).as_posix(), len(rank)))  # stable: a file's order kept
