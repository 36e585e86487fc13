"""Durable commits off the event loop (companion.durability), on a disk made slow on purpose.

The disk is slowed by strace, which delays every fdatasync of the process it runs: the real
server, or a script using the real connection class. Nothing of ours is stubbed."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time

import requests

from .conftest import need
from companion.testing.liveserver import ROOT, LiveServer, Recorder

DELAY = 0.4  # seconds each fdatasync of the log takes


def _strace_works() -> bool:
    if not shutil.which("strace"):
        return False
    return subprocess.run(["strace", "--seccomp-bpf", "-f", "-o", "/dev/null", "-e", "trace=fdatasync", "true"],
                          capture_output=True, timeout=30).returncode == 0


def slow_disk(trace: str = "/dev/null") -> tuple[str, ...]:
    """A command prefix that runs a process with every fdatasync taking DELAY (and records them)."""
    need(_strace_works(), "strace (apt-get install strace), allowed to trace, slows the disk's sync down")
    # --seccomp-bpf: the process stops only for fdatasync, not for every system call
    return ("strace", "--seccomp-bpf", "-f", "-y", "-o", trace, "-e", "trace=fdatasync",
            "-e", f"inject=fdatasync:delay_enter={int(DELAY * 1_000_000)}")


def test_a_slow_sync_holds_the_acknowledgement_but_not_the_server(tmp_path):
    """A moderator's action is announced once committed and acknowledged only after the log's sync
    (durable), while the same process keeps answering everyone else during that sync."""
    server = LiveServer(tmp_path, wrap=slow_disk()).start()
    moderator = Recorder(server.url, "/staff", server.login("mod"))
    viewer = Recorder(server.url, "/", server.viewer_cookie())
    try:
        added = moderator.call("add_phone_question", {"text": "Is the bridge open?", "client_id": "durable-0001"})
        assert added["ok"]
        acked: dict = {}

        def act():
            acked["ack"] = moderator.call("send_to_air", {"id": added["question"]["id"]})
            acked["at"] = time.monotonic()
        sent = time.monotonic()
        action = threading.Thread(target=act)
        action.start()
        time.sleep(DELAY / 4)  # the action's commit is now waiting for its sync
        asked = time.monotonic()
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
        answered = time.monotonic() - asked
        snapshot = viewer.call("get_snapshot", {})  # a socket event of another client: a read
        read = time.monotonic() - asked
        action.join(10)
        _, heard = viewer.wait_for_timed("feed_changed", lambda d: d["questions"][0]["status"] == "on_air")
        assert acked["ack"]["ok"]
        assert acked["at"] - sent >= DELAY, "acknowledged before the log was on disk"
        assert heard - sent < DELAY / 2, "the audience waited for the disk"
        assert answered < DELAY / 2 and read < DELAY / 2, f"the server stood still for the sync: {answered:.3f} s"
        assert snapshot["ok"]
    finally:
        for client in (moderator, viewer):
            client.close()
        server.stop()


def test_a_viewers_question_is_on_disk_before_it_is_acknowledged(tmp_path):
    """The group-commit writer's acknowledgement waits for the sync too (the moderators see the
    question as soon as it is committed); the row is then stored."""
    import sqlite3
    server = LiveServer(tmp_path, wrap=slow_disk()).start()
    viewer = Recorder(server.url, "/", server.viewer_cookie())
    moderator = Recorder(server.url, "/staff", server.login("mod"))
    try:
        # The first write to a new log also syncs the log's header, inside SQLite: that one is not timed.
        assert viewer.call("submit_question", {"text": "Is the park open?", "client_id": "durable-0001"})["ok"]
        sent = time.monotonic()
        ack = viewer.call("submit_question", {"text": "When is the water back?", "client_id": "durable-0002"})
        assert ack["ok"] and ack["created"]
        assert time.monotonic() - sent >= DELAY
        _, seen = moderator.wait_for_timed("desk_changed", lambda d: any(
            q["id"] == ack["question"]["id"] for q in d["questions"]))
        assert seen - sent < DELAY / 2, "the moderators waited for the disk"
        # outside a socket event (HTTP, the CLI) a commit returns only once it is on disk
        posted = time.monotonic()
        response = requests.post(f"{server.url}/api/v1/broadcasts/demo/questions", timeout=10,
                                 json={"text": "Is the clinic open on Sunday?", "client_id": "durable-0003"})
        assert response.status_code == 201 and time.monotonic() - posted >= DELAY
        database = server.env["COMPANION_DATABASE_URL"].removeprefix("sqlite:///")
        with sqlite3.connect(database) as conn:
            assert conn.execute("SELECT tracking_code FROM question WHERE client_id = 'durable-0002'").fetchone()[0] \
                == ack["question"]["tracking_code"]
    finally:
        viewer.close()
        moderator.close()
        server.stop()


GROUP_SCRIPT = r"""
import os, sqlite3, sys, threading, time
from companion import durability
from companion.runtime import Runtime

def mark(name):  # a line in the trace: an fdatasync of a file named after the moment
    fd = os.open(os.path.join(os.path.dirname(path), name), os.O_WRONLY | os.O_CREAT)
    os.fdatasync(fd)
    os.close(fd)

path = sys.argv[1]
setup = sqlite3.connect(path)
setup.execute("PRAGMA journal_mode=WAL")
setup.execute("CREATE TABLE t (x INTEGER)")
setup.commit()

state = Runtime()  # one app's: its connections share one group commit

def connect():
    conn = sqlite3.connect(path, factory=durability.DurableConnection, check_same_thread=False, timeout=30)
    conn.isolation_level = None
    conn.execute(f"PRAGMA synchronous={durability.configure(conn, state)}")
    return conn

first, others = connect(), [connect() for _ in range(5)]
print("synchronous", first.execute("PRAGMA synchronous").fetchone()[0], flush=True)
reader = connect()
mark("mark-read")
reader.execute("BEGIN"); reader.execute("SELECT count(*) FROM t").fetchone(); reader.commit()
mark("mark-write")

def write(conn, x):
    conn.execute("BEGIN IMMEDIATE"); conn.execute("INSERT INTO t VALUES (?)", (x,)); conn.commit()

start = time.monotonic()
leader = threading.Thread(target=write, args=(first, 0))
leader.start()
time.sleep(0.1)  # the first commit's sync is under way: the next five commit meanwhile
threads = [threading.Thread(target=write, args=(c, i + 1)) for i, c in enumerate(others)]
for t in threads: t.start()
for t in threads + [leader]: t.join()
print("elapsed", time.monotonic() - start, flush=True)
mark("mark-end")
print("rows", setup.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
"""


def test_commits_during_a_sync_share_the_next_one_and_reads_never_sync(tmp_path):
    """Six writers on the real connection class: the first commit's sync runs, the five that commit
    meanwhile are made durable by one more sync (group commit), not five; a read syncs nothing."""
    trace = tmp_path / "trace.txt"
    database = tmp_path / "group.db"
    out = subprocess.run([*slow_disk(str(trace)), sys.executable, "-c", GROUP_SCRIPT, str(database)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "synchronous 1" in lines  # NORMAL: SQLite leaves the sync to us
    elapsed = float(next(line for line in lines if line.startswith("elapsed")).split()[1])
    assert 2 * DELAY <= elapsed < 3.5 * DELAY  # two syncs in a row; one per commit would take six
    assert "rows 6" in lines
    text = trace.read_text()
    read, write, end = (text.index(f"/mark-{name}>") for name in ("read", "write", "end"))
    # one line per sync call: a call strace prints as `<unfinished ...>` (another thread wrote to the
    # trace meanwhile) and later `<... fdatasync resumed>` is counted once, by its first line
    log = r"fdatasync\(\d+<[^>]*group\.db-wal>"
    assert re.findall(log, text[read:write]) == [], "a read synced the log"
    assert len(re.findall(log, text[write:end])) == 2, text[write:end]
