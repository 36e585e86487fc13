"""`python -m companion backup` and `restore`, run as an operator would, while the real server takes
questions: every appeal acknowledged before the backup began is in the restored database, on
SQLite (online backup API) and PostgreSQL (pg_dump / pg_restore)."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from companion.backup import _pg_command
from sqlalchemy.engine import make_url
from companion.testing.liveserver import ROOT, LiveServer, Recorder
from tests.test_production import pg_url  # noqa: F401 - the fixture


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "companion", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def tracking_codes(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text("SELECT tracking_code FROM appeal"))}
    finally:
        engine.dispose()


def backup_while_asking(server: LiveServer, folder: Path) -> tuple[Path, set[str]]:
    """Viewers keep asking while the backup runs; returns the backup and the codes acknowledged before it began."""
    viewer = Recorder(server.url, "/", server.viewer_cookie())
    acknowledged: list[str] = []
    stop = threading.Event()

    def ask():
        n = 0
        while not stop.is_set() and n < 400:
            ack = viewer.call("submit_question", {"text": f"Вопрос номер {n} про отопление", "client_id": uuid.uuid4().hex})
            if ack.get("ok"):
                acknowledged.append(ack["question"]["tracking_code"])
            n += 1
    try:
        for n in range(5):  # the per-viewer limit: a few from this viewer before, the rest during
            assert viewer.call("submit_question", {"text": f"До копии {n}", "client_id": uuid.uuid4().hex})["ok"]
        worker = threading.Thread(target=ask)
        worker.start()
        before = set(tracking_codes(server.env["COMPANION_DATABASE_URL"]))
        done = cli({**server.env, "COMPANION_BACKUP_DIR": str(folder)}, "backup")
        stop.set()
        worker.join(30)
    finally:
        viewer.close()
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip().rsplit(" ", 1)[-1])
    assert path.parent == folder and path.is_file()
    return path, before


def test_sqlite_backup_while_serving_restores_every_appeal(tmp_path):
    server = LiveServer(tmp_path, QUESTIONS_PER_MINUTE_PER_VIEWER=1000).start()
    try:
        path, before = backup_while_asking(server, tmp_path / "backups")
    finally:
        server.stop()
    assert len(before) >= 5
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert path.stat().st_mode & 0o077 == 0  # personal data: not readable by other accounts
    fresh = f"sqlite:///{tmp_path / 'restored.db'}"
    env = {**server.env, "COMPANION_DATABASE_URL": fresh}
    done = cli(env, "restore", str(path))
    assert done.returncode == 0, done.stderr
    assert before <= tracking_codes(fresh)
    assert cli(env, "init-db").returncode == 0  # the restored database is usable by the app
    # a second restore into the now non-empty database is refused without --force, and nothing changes
    again = cli(env, "restore", str(path))
    assert again.returncode != 0 and "not empty" in again.stderr
    assert cli(env, "restore", str(path), "--force").returncode == 0


def test_postgres_backup_while_serving_restores_every_appeal(tmp_path, pg_url, postgres):  # noqa: F811
    server = LiveServer(tmp_path, DATABASE_URL=pg_url, QUESTIONS_PER_MINUTE_PER_VIEWER=1000).start()
    try:
        path, before = backup_while_asking(server, tmp_path / "backups")
    finally:
        server.stop()
    assert path.suffix == ".dump" and len(before) >= 5
    name = f"companion_restore_{uuid.uuid4().hex[:10]}"
    fresh = postgres.create(name)
    try:
        done = cli({**server.env, "COMPANION_DATABASE_URL": fresh}, "restore", str(path))
        assert done.returncode == 0, done.stderr
        assert before <= tracking_codes(fresh)
        assert tracking_codes(fresh) <= tracking_codes(pg_url)  # nothing invented
    finally:
        postgres.drop(name)


def test_backups_beyond_the_retention_are_deleted_and_bad_restores_are_refused(tmp_path, seeded_db):
    env = {"PATH": "/usr/bin:/bin", "COMPANION_DATABASE_URL": f"sqlite:///{seeded_db}",
           "COMPANION_BACKUP_DIR": str(tmp_path / "b"), "COMPANION_BACKUP_KEEP": "2"}
    made = []
    for _ in range(3):
        done = cli(env, "backup")
        assert done.returncode == 0, done.stderr
        made.append(Path(done.stdout.strip().rsplit(" ", 1)[-1]))
        (tmp_path / "b" / made[-1].name).rename(tmp_path / "b" / f"companion-0000{len(made)}.sqlite3")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["companion-00002.sqlite3", "companion-00003.sqlite3"]
    target = {**env, "COMPANION_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    missing = cli(target, "restore", str(tmp_path / "nope.sqlite3"))
    assert missing.returncode != 0 and "no backup file" in missing.stderr
    wrong = tmp_path / "b" / "companion-1.dump"
    wrong.write_bytes(b"PGDMP")
    refused = cli(target, "restore", str(wrong))
    assert refused.returncode != 0 and "not a SQLite backup" in refused.stderr


def test_the_postgres_password_goes_to_the_tools_in_the_environment_not_the_command_line():
    options, env = _pg_command(make_url("postgresql+psycopg2://office:s3cret-pass@db.local:5432/companion"))
    assert env["PGPASSWORD"] == "s3cret-pass"
    assert "s3cret-pass" not in " ".join(options) and options == ["--dbname=postgresql://office@db.local:5432/companion"]
