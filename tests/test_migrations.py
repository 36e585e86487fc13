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
        assert ("broadcast_id", "status", "position") in indexes
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
