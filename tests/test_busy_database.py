"""A page meets SQLite's write lock, held a moment by another process or the group commit: the form is
waited out and saved, never a 500 (found by the smoke benchmark: a moderator's sign-in during a flood of
votes answered 500, "database is locked"); a lock that does not go gives a 503 the browser may retry,
with nothing half-saved."""
from __future__ import annotations

import sqlite3
import threading

from sqlalchemy import func, select

from companion.extensions import db
from companion.models import Broadcast
from companion.services import database
from companion.testing.setup import PASSWORD
from tests.conftest import csrf_token, login


class hold_lock:
    """Another process's write transaction on the same file, ended after `seconds`."""

    def __init__(self, app, seconds: float):
        self.db = sqlite3.connect(app.config["DATABASE_URL"].removeprefix("sqlite:///"), isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("BEGIN IMMEDIATE")
        self.timer = threading.Timer(seconds, self.db.rollback)
        self.timer.start()

    def close(self) -> None:
        self.timer.join()
        self.db.close()


def post_new_broadcast(client, slug: str, lock_seconds: float, app):
    """An admin's new-broadcast form, sent while another connection holds the write lock `lock_seconds`."""
    token = csrf_token(client, "/admin/broadcasts/new")
    holder = hold_lock(app, lock_seconds)
    response = client.post("/admin/broadcasts/new", data={
        "csrf_token": token, "slug": slug, "title_kk": "Тікелей эфир", "title_ru": "Прямой эфир", "title_en": "Live"})
    holder.close()
    return response


def broadcasts(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Broadcast))


def test_a_sign_in_that_meets_a_write_lock_waits_it_out_and_signs_in(sqlite_app):
    client = sqlite_app.test_client()
    token = csrf_token(client, "/login")
    holder = hold_lock(sqlite_app, 0.6)
    response = client.post("/login", data={"username": "mod", "password": PASSWORD, "csrf_token": token})
    holder.close()
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert client.get("/admin/broadcasts").status_code == 200


def test_a_staff_form_that_meets_a_write_lock_is_saved_once(sqlite_app):
    client = sqlite_app.test_client()
    assert login(client, "admin").status_code == 302
    before = broadcasts(sqlite_app)
    response = post_new_broadcast(client, "busy-day", 0.6, sqlite_app)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert broadcasts(sqlite_app) == before + 1


def test_a_lock_that_does_not_go_gives_a_clear_503_and_saves_nothing(sqlite_app, monkeypatch):
    monkeypatch.setattr(database, "LOCK_RETRY_SECONDS", 0.4)
    client = sqlite_app.test_client()
    assert login(client, "admin").status_code == 302
    before = broadcasts(sqlite_app)
    response = post_new_broadcast(client, "never-saved", 1.5, sqlite_app)
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Nothing was saved" in page and "Traceback" not in page
    assert broadcasts(sqlite_app) == before
