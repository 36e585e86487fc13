"""The test settings, a seeded database, throw-away PostgreSQL databases, and where Chromium is."""
from __future__ import annotations

import os
import shutil

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
