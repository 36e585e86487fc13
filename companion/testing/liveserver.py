"""Run the real server (`python -m companion serve`, eventlet) in a subprocess on a free port."""
from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import socketio

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"


# A seeded SQLite file, made once per test session by the CLI's commands
# and copied for every later server.
_TEMPLATES: dict[str, Path | str] = {}  # "sqlite": a seeded file; "postgresql": a template database
_TEMPLATE_DIR = Path(tempfile.mkdtemp(prefix="companion-live-templates-"))
atexit.register(shutil.rmtree, _TEMPLATE_DIR, True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A seeded database and a server process; `url` is its base address."""

    def __init__(self, tmp_path: Path, seed: bool = True, wrap: tuple[str, ...] = (), seed_url: str | None = None,
                 **settings):
        self.seed = seed
        self.seed_url = seed_url  # the database to seed, when the server reaches it another way (a proxy)
        self.wrap = wrap  # a command the server runs under (strace, to slow the disk down)
        # Every test stops its servers with SIGTERM, the drain included: a shorter grace for
        # acknowledgements in flight (none are, at the end of a test) saves a second per server.
        settings = {"DRAIN_GRACE_MS": 200, **settings}
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "COMPANION_DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}",
                    "COMPANION_SECRET_KEY": "live-test-secret", "COMPANION_ASYNC_MODE": "eventlet",
                    "PYTHONUNBUFFERED": "1", **{f"COMPANION_{k}": str(v) for k, v in settings.items()}}
        self.log = tmp_path / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "companion", *args], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def _seed(self) -> None:
        """The CLI's own commands, run one after another in one interpreter (each start costs seconds)."""
        commands = [["init-db"], ["seed-demo"],
                    *(["create-user", name, "--role", role, "--password", PASSWORD]
                      for name, role in (("mod", "moderator"), ("speaker", "speaker"), ("operator", "operator"))),
                    ["create-user", "officer", "--role", "officer", "--department", "1", "--password", PASSWORD]]
        script = f"from companion.__main__ import main\nfor argv in {commands!r}:\n    main(argv)\n"
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=self.env, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr

    def _seed_postgres(self, url: str) -> None:
        """The first database on the tests' PostgreSQL server is seeded by the CLI and kept as a template;
        later ones are made from it (CREATE DATABASE ... TEMPLATE), which takes a moment instead of seeding
        again. Any other server (a proxy in front of it) is seeded by the CLI."""
        from sqlalchemy.engine import make_url

        from .setup import Postgres
        postgres, target = Postgres(), make_url(url)
        if target.set(database=postgres.base.database) != postgres.base:
            self._seed()
            return
        if "postgresql" not in _TEMPLATES:
            self._seed()
            name = f"companion_live_template_{os.getpid()}"
            postgres.create(name, target.database)  # the CLI's connections have closed
            atexit.register(postgres.drop, name)
            _TEMPLATES["postgresql"] = name
        else:
            postgres.create(target.database, _TEMPLATES["postgresql"])

    def start(self) -> "LiveServer":
        if self.seed:
            url = self.env["COMPANION_DATABASE_URL"]
            if not url.startswith("sqlite:///"):
                self._seed_postgres(self.seed_url or url)
            else:
                path = Path(url.removeprefix("sqlite:///"))
                key = "sqlite"  # seeding reads no setting but the database address
                if key not in _TEMPLATES:
                    self._seed()
                    template = _TEMPLATE_DIR / f"{len(_TEMPLATES)}.db"
                    shutil.copy(path, template)  # the CLI's last connection closed: no WAL left
                    _TEMPLATES[key] = template
                else:
                    shutil.copy(_TEMPLATES[key], path)
            self.seed = False  # a restart keeps the data
        self.proc = subprocess.Popen([*self.wrap, sys.executable, "-m", "companion", "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
            assert self.proc.poll() is None, self.log.read_text()
        raise AssertionError("server did not start: " + self.log.read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self._terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def _terminate(self) -> None:
        """SIGTERM to the server, which may run under a wrapping command (it then ends with it)."""
        if not self.wrap:
            self.proc.terminate()
            return
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        for pid in children.read_text().split() if children.exists() else ():
            os.kill(int(pid), signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash."""
        self.proc.kill()
        self.proc.wait(5)

    def health(self) -> dict:
        """What /healthz reports (connections; live green threads and hub timers with DIAGNOSTICS on)."""
        return requests.get(self.url + "/healthz", timeout=10).json()

    def login(self, username: str) -> str:
        """Sign in through the login form; returns the Cookie header value."""
        http = requests.Session()
        html = http.get(self.url + "/login").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        response = http.post(self.url + "/login", data={"username": username, "password": PASSWORD,
                                                        "csrf_token": token}, allow_redirects=False)
        assert response.status_code == 302, f"sign-in answered {response.status_code}; the server's log ends:\n" + \
            self.log.read_text()[-4000:]
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())

    def viewer_cookie(self, slug: str = "demo") -> str:
        """The signed viewer cookie the viewer page sets."""
        http = requests.Session()
        assert http.get(f"{self.url}/b/{slug}").status_code == 200
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


class Recorder:
    """A python-socketio client that records events and lets a test wait for one."""

    def __init__(self, url: str, namespace: str, cookie: str | None = None):
        self.client = socketio.Client(reconnection=False)
        # python-engineio's client hands each message to a new thread, so events could be recorded
        # out of the order they arrived in; handle them in the read loop instead, in order (as a
        # browser's socket.io client does): tests assert the order the server sends in.
        eio = self.client.eio
        trigger = eio._trigger_event
        eio._trigger_event = lambda event, *args, run_async=False, **kw: trigger(event, *args, run_async=False, **kw)
        self.namespace = namespace
        self.events: list[tuple[str, dict]] = []
        self.arrivals: list[float] = []
        self.cond = threading.Condition()
        self.client.on("*", self._record, namespace=namespace)
        self.client.connect(url, namespaces=[namespace], auth={"slug": "demo"}, transports=["websocket"],
                            headers={"Cookie": cookie} if cookie else {}, wait_timeout=10)

    def _record(self, event, data):
        with self.cond:
            self.events.append((event, data))
            self.arrivals.append(time.monotonic())
            self.cond.notify_all()

    def wait_for(self, event: str, predicate=lambda data: True, timeout: float = 10) -> dict:
        return self.wait_for_timed(event, predicate, timeout)[0]

    def wait_for_timed(self, event: str, predicate=lambda data: True, timeout: float = 10) -> tuple[dict, float]:
        """The first matching event and the monotonic time it arrived."""
        with self.cond:
            ok = self.cond.wait_for(lambda: any(e == event and predicate(d) for e, d in self.events), timeout)
            assert ok, f"no {event} within {timeout}s; got {[e for e, _ in self.events]}"
            i = next(i for i, (e, d) in enumerate(self.events) if e == event and predicate(d))
            return self.events[i][1], self.arrivals[i]

    def call(self, event: str, data: dict) -> dict:
        return self.client.call(event, data, namespace=self.namespace, timeout=10)

    def close(self):
        self.client.disconnect()


def api_key(server: LiveServer) -> str:
    """An integrator's key for `server` (keyed requests are not limited per address), made through the service."""
    from companion import create_app
    from companion.config import Config
    from companion.services import apikeys
    app = create_app(Config.from_env({"COMPANION_DATABASE_URL": server.env["COMPANION_DATABASE_URL"],
                                      "COMPANION_SECRET_KEY": "x"}))
    with app.app_context():
        from companion.extensions import db
        _, key = apikeys.create_key("desk test", actor=None)
        db.session.remove()
        db.engine.dispose()
    return key


def seed_questions(server: LiveServer, n: int) -> None:
    """Many questions written straight into the live server's SQLite file (WAL: the server keeps serving)."""
    import sqlite3
    db = sqlite3.connect(server.env["COMPANION_DATABASE_URL"].removeprefix("sqlite:///"))
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    statuses = ["pending"] * 5 + ["approved"] * 3 + ["answered", "rejected"]
    db.executemany(
        "INSERT INTO question (broadcast_id, tracking_code, text, author_name, district, contact, contact_consent, "
        "language, channel, client_id, source_hash, status, votes, asker_count, reject_reason, created_at, "
        "updated_at, version) VALUES (1, ?, ?, '', 'Almaly', '', 0, 'ru', 'web', ?, '', ?, ?, 1, '', ?, ?, 1)",
        [(f"SRK-2026-9{i:06d}", f"Seeded question number {i} about the district", f"seed-{i:08d}",
          statuses[i % len(statuses)], i % 7, now, now) for i in range(n)])
    db.commit()
    db.close()
