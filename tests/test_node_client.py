"""The official Node `socket.io-client` (4.8, pinned in tests/node/package-lock.json, installed with
`npm ci` into test-artifacts/) drives the viewer's and the moderator's flows against the served
app, on WebSocket only, long-polling only, and polling upgraded to WebSocket."""
from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import uuid

import pytest

from tests.conftest import need
from companion.testing.liveserver import ROOT, LiveServer

SOURCE = ROOT / "tests" / "node"
FOLDER = ROOT / "test-artifacts" / "node-client"


@pytest.fixture(scope="module")
def node_client():
    need(shutil.which("node") and shutil.which("npm"), "Node.js and npm are not installed")
    lock = (SOURCE / "package-lock.json").read_bytes()
    FOLDER.mkdir(parents=True, exist_ok=True)
    with (FOLDER / ".lock").open("w") as held:  # one installer at a time (pytest-xdist workers)
        fcntl.flock(held, fcntl.LOCK_EX)
        _install(lock)
    shutil.copy(SOURCE / "client.mjs", FOLDER / "client.mjs")
    return FOLDER / "client.mjs"


def _install(lock: bytes) -> None:
    if not (FOLDER / "node_modules").is_dir() or (FOLDER / "package-lock.json").read_bytes() != lock:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SOURCE / name, FOLDER / name)
        done = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=FOLDER,
                              capture_output=True, text=True, timeout=300)
        need(done.returncode == 0, f"npm ci failed: {done.stderr[-500:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("node")).start()
    yield live
    live.stop()


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], ["polling", "websocket"]],
                         ids=["websocket", "polling", "upgrade"])
def test_the_node_client_runs_the_viewer_and_desk_flows(node_client, server, transports):
    text = f"Node client on {'+'.join(transports)}: когда починят лифт?"
    config = {"url": server.url, "transports": transports, "viewerCookie": server.viewer_cookie(),
              "staffCookie": server.login("mod"), "clientId": uuid.uuid4().hex, "text": text}
    done = subprocess.run(["node", str(node_client), json.dumps(config)], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # a refusal carries its reason, so a client can tell "sign in again" from "no such broadcast"
    assert seen["staffWithoutSignIn"] == {"message": "unauthorized", "data": {"code": "unauthorized"}}
    assert seen["unknownBroadcast"] == {"message": "unknown_broadcast", "data": {"code": "unknown_broadcast"}}
    assert seen["submitted"]["ok"] and seen["submitted"]["created"]
    assert seen["approved"]["ok"] and seen["voted"] == {"ok": True, "id": seen["submitted"]["question"]["id"], "votes": 1}
    assert seen["sent"]["ok"] and seen["mine"]["status"] == "on_air"
    assert seen["mine"]["tracking_code"] == seen["submitted"]["question"]["tracking_code"]
    assert seen["unknownEvent"]["ok"] is False and seen["unknownEvent"]["error"]["code"] == "forbidden"
    assert seen["transport"] == transports[-1]
