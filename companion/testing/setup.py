"""The test settings, a seeded database, throw-away PostgreSQL databases, and where Chromium is."""
from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid

from sqlalchemy.engine import make_url

from companion import migrate
from companion.config import Config
from companion.extensions import db
from companion.services import accounts, broadcasts

PASSWORD = "correct-horse-battery"


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


def chromium_path() -> str | None:
    """Debian's Chromium (/usr/bin/chromium, the one the tests are written for), else a `chromium` on PATH."""
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")


class DatabasePool:
    """Throw-away databases copied from a template ahead of the tests that take them, and dropped after
    them, by one thread: a test takes a ready database instead of waiting for CREATE DATABASE and DROP
    DATABASE (together about half a second a test on a busy 2-core machine, for hundreds of tests)."""

    def __init__(self, postgres: Postgres, template: str, ahead: int = 2):
        self.postgres, self.template = postgres, template
        self.ready: queue.Queue = queue.Queue()
        self.work: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="database-pool", daemon=True)
        self.thread.start()
        for _ in range(ahead):
            self.work.put(("create", None))

    def _run(self) -> None:
        import psycopg2
        conn = psycopg2.connect(POSTGRES_URL)
        conn.autocommit = True
        try:
            while (job := self.work.get())[0] != "stop":
                kind, name = job
                try:
                    with conn.cursor() as cur:
                        if kind == "create":
                            name = f"companion_test_{uuid.uuid4().hex[:12]}"
                            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
                            self.ready.put(name)
                        else:
                            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except Exception as exc:  # noqa: BLE001 - the test that takes it fails with it
                    if kind == "create":
                        self.ready.put(exc)
        finally:
            conn.close()

    def take(self) -> str:
        """The address of a fresh copy of the template, for one test; the pool starts the next copy."""
        self.work.put(("create", None))
        name = self.ready.get(timeout=120)
        if isinstance(name, Exception):
            raise name
        return name

    def drop_later(self, name: str) -> None:
        self.work.put(("drop", name))

    def close(self) -> None:
        """Drop what is left (the copies made ahead, the drops still queued), then stop."""
        self.work.put(("stop", None))
        self.thread.join(120)
        while not self.ready.empty():
            name = self.ready.get()
            if isinstance(name, str):
                self.postgres.drop(name)
