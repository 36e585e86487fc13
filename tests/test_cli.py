"""The command line a new user meets: init-db, seed-demo, create-user, reset-password."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(tmp_path, *args, check=True):
    env = {**os.environ, "COMPANION_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "COMPANION_SECRET_KEY": "cli-test"}
    out = subprocess.run([sys.executable, "-m", "companion", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_init_db_creates_a_wal_mode_sqlite_database(tmp_path):
    assert "Database ready" in run(tmp_path, "init-db").stdout
    mode = sqlite3.connect(tmp_path / "cli.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_seed_demo_prints_the_admin_password_once(tmp_path):
    run(tmp_path, "init-db")
    first = run(tmp_path, "seed-demo").stdout
    password = re.search(r"Password:\s+(\S+)", first).group(1)
    assert len(password) >= 16
    second = run(tmp_path, "seed-demo").stdout
    assert password not in second and "exist already" in second
    db = sqlite3.connect(tmp_path / "cli.db")
    assert db.execute("SELECT slug, status FROM broadcast").fetchall() == [("demo", "live")]
    assert db.execute("SELECT count(*) FROM category").fetchone()[0] == 6


def test_create_user_and_reset_password(tmp_path):
    run(tmp_path, "init-db")
    out = run(tmp_path, "create-user", "dana", "--role", "speaker").stdout
    assert "Created speaker 'dana'" in out
    duplicate = run(tmp_path, "create-user", "dana", check=False)
    assert duplicate.returncode != 0 and "taken" in duplicate.stderr
    assert "New password for 'dana'" in run(tmp_path, "reset-password", "dana").stdout
    assert run(tmp_path, "reset-password", "nobody", check=False).returncode != 0


def test_only_the_serve_entry_point_imports_eventlet():
    """eventlet stays behind the server seam: serve.py, and the hub transport that only serve.py imports."""
    seam = {"companion/serve.py", "companion/transport/hub.py"}
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "companion").rglob("*.py")
                 if str(p.relative_to(ROOT)) not in seam
                 and re.search(r"^\s*(import|from)\s+eventlet", p.read_text(), re.M)]
    assert offenders == []
    importers = [str(p.relative_to(ROOT)) for p in (ROOT / "companion").rglob("*.py")
                 if re.search(r"transport import hub|transport\.hub", p.read_text())]
    assert importers == ["companion/serve.py"]


def test_the_server_refuses_to_start_on_library_versions_its_transport_was_not_written_for():
    from companion.transport import versions
    versions.check()  # what requirements.txt installs
    wrong = {name: series + "0" for name, series in versions.SUPPORTED.items()} | {"python-engineio": "4.16.0"}
    with pytest.raises(versions.UnsupportedLibrary, match=r"python-engineio 4\.16\.0 \(supported: 4\.15\.x\)"):
        versions.check(wrong)
    with pytest.raises(versions.UnsupportedLibrary, match="wsproto is not installed"):
        versions.check({k: v for k, v in wrong.items() if k != "wsproto"} | {"python-engineio": "4.15.1"})


def test_the_docs_document_every_setting_and_the_readme_both_commands():
    from companion.config import SETTINGS_DOC, Config
    readme = (ROOT / "README.md").read_text()
    settings = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(SETTINGS_DOC)
    assert documented == {f for f in Config.__dataclass_fields__ if f not in ("extra", "TESTING")}
    for name in documented:
        assert f"| `COMPANION_{name}` | {SETTINGS_DOC[name]} |" in settings  # the page says what config.py says
    assert "make run" in readme and "make test" in readme and "docs/configuration.md" in readme
