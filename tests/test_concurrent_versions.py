"""Two members of staff acting at once on one question or one appeal, on PostgreSQL, where the check of the
version a screen saw and the write are not one step (a query yields to other requests between them): the
second write must be refused as a stale screen's, never land on top of the first (a lost update). SQLite
serialises writers and refuses a write from a stale snapshot, so the window is PostgreSQL's; these tests open
it on purpose: the first check passes, then another connection changes the row, then the write is tried."""
from __future__ import annotations


import psycopg2
import pytest
from sqlalchemy import select

from companion.errors import StaleVersion
from companion.extensions import db
from companion.models import Appeal, Broadcast, Question, User
from companion.services import appeals, intake, moderation
from companion.services.database import resilient


def another_screen(app, sql: str, *params) -> None:
    """What another member of staff's request commits meanwhile, on its own connection."""
    other = psycopg2.connect(app.config["DATABASE_URL"])
    with other, other.cursor() as cur:
        cur.execute(sql, params)
    other.close()


def staff(name: str) -> User:
    return db.session.execute(select(User).where(User.username == name)).scalar_one()


def ask(app) -> int:
    with app.test_request_context("/"):
        broadcast = db.session.execute(select(Broadcast).where(Broadcast.slug == "demo")).scalar_one()
        prepared = intake.prepare_submission(broadcast, {"text": "Когда починят освещение во дворе на Абая, 12?",
                                                         "author_name": "Айгерим", "contact": "+77011234567",
                                                         "consent": True}, channel="web")
        question, _created = intake.store_one(prepared)
        qid = question.id
        db.session.remove()
        return qid


def test_a_question_changed_meanwhile_on_another_desk_is_not_overwritten(pg_app):
    qid = ask(pg_app)
    with pg_app.test_request_context("/"):
        broadcast = db.session.execute(select(Broadcast).where(Broadcast.slug == "demo")).scalar_one()
        seen = moderation.get_question(broadcast, qid, 1)  # this desk's check passed at version 1
        assert seen.status == "pending"
        another_screen(pg_app, "UPDATE question SET status = 'rejected', reject_ground = 'offensive', version = 2 "
                               "WHERE id = %s", qid)  # the other moderator rejected it meanwhile
        with pytest.raises(StaleVersion):
            resilient(moderation.transition)(broadcast, qid, "approve", actor=staff("mod"), version=1)
        db.session.rollback()
        db.session.expire_all()
        row = db.session.get(Question, qid)
        assert (row.status, row.version) == ("rejected", 2)


def test_an_appeal_changed_meanwhile_by_another_officer_is_not_overwritten(pg_app):
    qid = ask(pg_app)
    with pg_app.test_request_context("/"):
        appeal_id = db.session.execute(select(Appeal.id).where(Appeal.question_id == qid)).scalar_one()
        version = db.session.get(Appeal, appeal_id).version
        appeal = appeals.get_appeal(appeal_id, user=staff("head"), version=version)  # the page's check passed
        another_screen(pg_app, "UPDATE appeal SET answer = 'Освещение починили 3 декабря.', version = version + 1 "
                               "WHERE id = %s", appeal_id)  # another officer answered it meanwhile
        with pytest.raises(StaleVersion):
            resilient(appeals.add_comment)(appeal, "Передано в ГКП", actor=staff("head"))
        db.session.rollback()
        db.session.expire_all()
        row = db.session.get(Appeal, appeal_id)
        assert (row.answer, row.version) == ("Освещение починили 3 декабря.", version + 1)
