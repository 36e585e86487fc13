"""Liveness and readiness: /healthz says the process answers, /readyz whether it can store questions."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import requests

from companion import create_app

from .conftest import test_config
from companion.testing.liveserver import _TEMPLATES, LiveServer, free_port

NOBODY = 65534
AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


def wait_for_status(url: str, status: int, timeout: float = 10) -> requests.Response:
    """Poll `url` until it answers `status` (readiness is re-checked at most once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url, timeout=10)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_a_read_only_database_file_makes_readiness_503_with_a_reason():
    """The server runs as an unprivileged user (root writes through any chmod), as in production."""
    folder = Path(tempfile.mkdtemp(prefix="companion-readonly-"))
    folder.chmod(0o777)  # SQLite makes its -wal and -shm files beside the database
    live = LiveServer(folder, wrap=AS_NOBODY)
    database = folder / "live.db"
    try:
        if "sqlite" in _TEMPLATES:
            shutil.copy(_TEMPLATES["sqlite"], database)
        else:
            live._seed()
        live.seed = False
        for path in folder.glob("live.db*"):
            os.chown(path, NOBODY, NOBODY)
        live.start()
        live.wrap = ()  # setpriv exec'd the server: stop it directly
        ready = requests.get(live.url + "/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["database"] == "ok", ready.text
        database.chmod(0o444)
        refused = wait_for_status(live.url + "/readyz", 503)
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["status"] == "error" and body["database"] == "error"
        assert "read-only" in body["reasons"]["database"], body
        assert requests.get(live.url + "/healthz", timeout=10).status_code == 200  # alive all the same
        database.chmod(0o644)
        again = wait_for_status(live.url + "/readyz", 200)
        assert again.status_code == 200, again.text
    finally:
        live.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_full_disk_makes_readiness_503(tmp_path, seeded_db):
    shutil.copy(seeded_db, tmp_path / "test.db")
    app = create_app(test_config(tmp_path, READY_MIN_FREE_MB=10**9))  # more than any disk has free
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["disk"] == "error"
    assert "MB free" in response.json["reasons"]["disk"] and response.json["database"] == "ok"
    assert app.test_client().get("/healthz").status_code == 200


def test_readiness_is_503_when_the_database_is_gone(tmp_path):
    app = create_app(test_config(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/x.db"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["database"] == "error"


def test_redis_down_is_reported_but_questions_are_still_stored(tmp_path):
    """Every process shares the one queue: 503 on all of them would stop a broadcast that still works."""
    live = LiveServer(tmp_path, MESSAGE_QUEUE=f"redis://127.0.0.1:{free_port()}/0").start()  # a closed port
    try:
        ready = requests.get(live.url + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["database"] == "ok" and body["message_queue"] == "error"
        assert body["degraded"] == ["message_queue"] and "unreachable" in body["reasons"]["message_queue"]
        stored = requests.post(live.url + "/api/v1/broadcasts/demo/questions",
                               json={"text": "Stored without the queue", "client_id": "no-redis-0001"}, timeout=10)
        assert stored.status_code == 201, stored.text
    finally:
        live.stop()
