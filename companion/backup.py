"""Backups of the database while the server runs, and their restore.

SQLite through its online backup API (a consistent copy while writers go on, checked with
`PRAGMA integrity_check`); PostgreSQL through `pg_dump --format=custom` (one snapshot transaction,
checked with `pg_restore --list`). The password of a PostgreSQL URL goes to the tools in the
environment, never on a command line that `ps` shows. Old backups beyond the retention are deleted.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, make_url

SQLITE_SUFFIX = ".sqlite3"
POSTGRES_SUFFIX = ".dump"


class BackupError(Exception):
    """A backup or a restore that could not be done; the message says why."""


def _sqlite_path(url) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _pg_command(url) -> tuple[list[str], dict]:
    """The connection options of libpq's tools for `url`, and an environment with its password."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    bare = URL.create("postgresql", username=url.username, host=url.host, port=url.port, database=url.database,
                      query=url.query)
    options = [f"--dbname={bare.render_as_string(hide_password=False)}"]
    return options, env


def _run(command: list[str], env: dict | None = None) -> str:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError as exc:
        raise BackupError(f"{command[0]} is not installed (Debian: postgresql-client)") from exc
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def backup(database_url: str, folder: Path, keep: int) -> Path:
    """Write a consistent backup of `database_url` into `folder`, check it, and keep the newest `keep`."""
    url = make_url(database_url)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.umask(0o077)  # a backup holds residents' personal data: readable by the office's account only
    if url.get_backend_name() == "sqlite":
        target = folder / f"companion-{_stamp()}{SQLITE_SUFFIX}"
        partial = target.with_suffix(".partial")
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # page by page; writers of the live database go on meanwhile
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            copy.close()
            source.close()
        if verdict != "ok":
            partial.unlink(missing_ok=True)
            raise BackupError(f"the copy failed its integrity check: {verdict}")
    elif url.get_backend_name() == "postgresql":
        target = folder / f"companion-{_stamp()}{POSTGRES_SUFFIX}"
        partial = target.with_suffix(".partial")
        options, env = _pg_command(url)
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={partial}", *options], env)
        _run(["pg_restore", "--list", str(partial)], env)  # readable from end to end
    else:
        raise BackupError(f"no backup for {url.get_backend_name()} databases")
    partial.rename(target)
    _prune(folder, target.suffix, keep)
    return target


def _prune(folder: Path, suffix: str, keep: int) -> None:
    backups = sorted(folder.glob(f"companion-*{suffix}"))
    for old in backups[:-keep] if keep > 0 else []:
        old.unlink()


def _is_empty(database_url: str) -> bool:
    engine = create_engine(database_url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def restore(backup_file: Path, database_url: str, *, force: bool = False) -> None:
    """Restore `backup_file` into `database_url`; refused into a database that has tables unless `force`."""
    if not backup_file.is_file():
        raise BackupError(f"no backup file {backup_file}")
    url = make_url(database_url)
    if not force and not _is_empty(database_url):
        raise BackupError("the target database is not empty (use --force to replace it)")
    if url.get_backend_name() == "sqlite":
        if backup_file.suffix != SQLITE_SUFFIX:
            raise BackupError("this is not a SQLite backup")
        source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        target = sqlite3.connect(_sqlite_path(url))
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    elif url.get_backend_name() == "postgresql":
        if backup_file.suffix != POSTGRES_SUFFIX:
            raise BackupError("this is not a PostgreSQL backup")
        options, env = _pg_command(url)
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", *options,
              str(backup_file)], env)
    else:
        raise BackupError(f"no restore for {url.get_backend_name()} databases")
