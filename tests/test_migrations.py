"""Alembic migrations: the migrated schema is exactly the models', on SQLite and PostgreSQL."""
from __future__ import annotations

import sqlite3

from sqlalchemy import inspect

from companion import migrate
from companion.extensions import db

from .test_cli import run


def test_models_and_migration_head_agree(app):
    with app.app_context():
        assert migrate.pending_differences() == []


def test_screen_queries_have_their_indexes(app):
    with app.app_context():
        indexes = {tuple(i["column_names"]) for i in inspect(db.engine).get_indexes("question")}
        assert ("broadcast_id", "status", "id") in indexes
        assert ("viewer_token", "created_at") in indexes and ("source_hash", "created_at") in indexes
        assert ("merged_into_id",) in indexes


def test_db_upgrade_downgrade_round_trip_from_the_cli(tmp_path):
    run(tmp_path, "db", "upgrade")
    tables = {r[0] for r in sqlite3.connect(tmp_path / "cli.db").execute("SELECT name FROM sqlite_master")}
    assert {"broadcast", "question", "vote", "user", "category", "audit_event", "alembic_version"} <= tables
    run(tmp_path, "db", "downgrade", "base")
    tables = {r[0] for r in sqlite3.connect(tmp_path / "cli.db").execute("SELECT name FROM sqlite_master "
                                                                          "WHERE type='table'")}
    assert tables == {"alembic_version"}
    run(tmp_path, "db", "upgrade")
    assert "(head)" in run(tmp_path, "db", "current").stdout


def test_questions_from_before_appeals_become_appeals_with_their_numbers(app):
    from sqlalchemy import select, text

    from companion.models import Appeal
    from companion.services import intake
    with app.app_context():
        migrate.downgrade("0003")
        with db.engine.begin() as conn:
            for qid, status in ((1, "answered"), (2, "pending"), (5, "rejected")):  # 3 and 4: burnt ids
                conn.execute(text(
                    "INSERT INTO question (id, broadcast_id, tracking_code, text, author_name, district, contact, "
                    "contact_consent, language, channel, client_id, source_hash, status, votes, asker_count, "
                    "reject_reason, created_at, updated_at, version) VALUES (:id, 1, :code, 'old question', '', '', "
                    "'', false, 'ru', 'web', :client, '', :status, 0, 1, '', :at, :at, 1)"),
                    {"id": qid, "code": f"SRK-2026-{qid:06d}", "client": f"old-client-{qid}", "status": status,
                     "at": "2026-03-19 05:00:00"})
            if conn.dialect.name == "postgresql":  # as if ids 1-5 had been taken by the sequence
                conn.execute(text("SELECT setval(pg_get_serial_sequence('question', 'id'), 5)"))
        db.session.remove()
        migrate.upgrade()
        rows = {a.id: a for a in db.session.execute(select(Appeal)).scalars()}
        assert sorted(rows) == [1, 2, 5]
        assert rows[2].tracking_code == "SRK-2026-000002" and rows[2].question_id == 2
        assert (rows[1].status, rows[2].status, rows[5].status) == ("closed", "registered", "left_without_consideration")
        assert rows[2].due_date.isoformat() == "2026-04-14" and rows[2].clock_running  # 15 working days over Nauryz
        assert [e.action for e in rows[2].events] == ["register"]
        fresh, _ = intake.submit_question(intake.get_broadcast("demo"), {"text": "new", "client_id": "new-client-1"})
        assert fresh.appeal.id > 5 and fresh.tracking_code not in {a.tracking_code for a in rows.values()}


def test_appeals_from_before_access_codes_get_one_and_desk_reasons_become_internal(app):
    from sqlalchemy import select, text

    from companion.models import Appeal, AppealEvent, Question
    from companion.services import intake, moderation
    with app.app_context():
        demo = intake.get_broadcast("demo")
        kept, _ = intake.submit_question(demo, {"text": "kept", "client_id": "before-0001"}, viewer_token="tok-a")
        spam, _ = intake.submit_question(demo, {"text": "spam", "client_id": "before-0002"}, viewer_token="tok-a")
        moderation.transition(demo, spam.id, "reject", actor=None, version=spam.version, ground="spam",
                              note="Desk reason")
        kept_id = kept.id
        db.session.remove()
        migrate.downgrade("0006")
        with db.engine.begin() as conn:  # as 0006 stored a rejection: the reason on the public step
            conn.execute(text("DELETE FROM appeal_event WHERE action = 'comment'"))
            conn.execute(text("UPDATE appeal_event SET note = 'Desk reason' WHERE action = 'leave'"))
        db.session.remove()
        migrate.upgrade()
        rows = list(db.session.execute(select(Appeal).order_by(Appeal.id)).scalars())
        codes = [a.access_code for a in rows]
        assert len(codes) == 2 and all(len(c) == 16 for c in codes) and codes[0] != codes[1]
        leave = db.session.execute(select(AppealEvent).where(AppealEvent.action == "leave")).scalar_one()
        comment = db.session.execute(select(AppealEvent).where(AppealEvent.action == "comment")).scalar_one()
        assert leave.public and leave.note == "" and not comment.public and comment.note == "Desk reason"
        assert {q.client_scope for q in db.session.execute(select(Question)).scalars()} == {"v:tok-a"}
        retry, change = intake.submit_question(intake.get_broadcast("demo"), {"text": "kept", "client_id": "before-0001"},
                                               viewer_token="tok-a")
        assert retry.id == kept_id and change is None  # a retry across the upgrade still finds its question


def test_messages_taken_before_the_fix_lose_their_copy_of_the_residents_words(app):
    """Messages held for consent kept the resident's words and name in `channel_update.held` after they became
    appeals (found by the channels review); migration 0026 clears them, keeping an album's id only."""
    import json

    from sqlalchemy import text
    with app.app_context():
        migrate.downgrade("0025")
        with db.engine.begin() as conn:
            for update_id, state, held in ((1, "done", {"text": "Фонари не горят", "name": "Айгерим", "photo": ""}),
                                           (2, "done", {"album": "1357", "text": "", "photo": "AgAD"}),
                                           (3, "held", {"text": "Ждёт согласия", "name": ""})):
                conn.execute(text("INSERT INTO channel_update (channel, update_id, chat, state, held, created_at) "
                                  "VALUES ('telegram', :u, '77', :s, :h, CURRENT_TIMESTAMP)"),
                             {"u": update_id, "s": state, "h": json.dumps(held, ensure_ascii=False)})
        db.session.remove()
        migrate.upgrade()
        with db.engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT update_id, held FROM channel_update ORDER BY update_id")).all())
        held = {k: json.loads(v) if isinstance(v, str) else v for k, v in rows.items()}
        assert held[1] is None and held[2] == {"album": "1357"}
        assert held[3]["text"] == "Ждёт согласия"  # still waiting for the resident's answer: kept
