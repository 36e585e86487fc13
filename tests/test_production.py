"""Production shape: PostgreSQL, the Redis message queue, two processes, failover, drain, no blocking."""
from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid

import psycopg2
import pytest
import requests

from .conftest import need
from companion.testing.liveserver import LiveServer, Recorder, free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_available(url: str = REDIS_URL) -> bool:
    try:
        import redis
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture
def pg_url(postgres):
    name = f"companion_live_{uuid.uuid4().hex[:10]}"
    url = postgres.create(name)
    yield url
    postgres.drop(name)


@pytest.fixture
def redis_url():
    need(redis_available(), f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


def on_air(data: dict, question_id: int | None = None) -> bool:
    """True for a feed event that puts a question (this one, if given) on air."""
    return any(q.get("status") == "on_air" and question_id in (None, q["id"]) for q in data["questions"])


def submit(client: Recorder, text: str, client_id: str) -> dict:
    return client.call("submit_question", {"text": text, "client_id": client_id})


@pytest.mark.anywhere  # counts what was lost and answered, times nothing: beside the other tests
def test_two_processes_share_one_broadcast_through_redis(tmp_path, pg_url, redis_url):
    channel = f"companion-test-{uuid.uuid4().hex[:8]}"
    a = LiveServer(tmp_path, DATABASE_URL=pg_url, MESSAGE_QUEUE=redis_url, MESSAGE_QUEUE_CHANNEL=channel).start()
    b = LiveServer(tmp_path, seed=False, DATABASE_URL=pg_url, MESSAGE_QUEUE=redis_url,
                   MESSAGE_QUEUE_CHANNEL=channel).start()
    clients = []
    try:
        moderator_a = Recorder(a.url, "/staff", a.login("mod"))
        speaker_b = Recorder(b.url, "/staff", b.login("speaker"))
        viewer_a = Recorder(a.url, "/", a.viewer_cookie())
        viewer_b = Recorder(b.url, "/", b.viewer_cookie())
        clients = [moderator_a, speaker_b, viewer_a, viewer_b]
        ack = submit(viewer_b, "Asked through process B", "two-proc-0001")
        assert ack["ok"]
        q = moderator_a.wait_for("desk_changed", lambda d: d["event"] == "question_submitted")["questions"][0]
        assert q["id"] == ack["question"]["id"]
        assert moderator_a.call("send_to_air", {"id": q["id"], "version": q["version"], "confirm": True})["ok"]
        prompter = speaker_b.wait_for("prompter_changed", lambda d: d["on_air"] is not None)
        assert prompter["on_air"]["text"] == "Asked through process B"
        feeds = [v.wait_for("feed_changed", on_air)
                 for v in (viewer_a, viewer_b)]
        assert feeds[0]["version"] == feeds[1]["version"]
        versions = [d["version"] for n, d in moderator_a.events if n == "desk_changed"]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        assert prompter["version"] == versions[-1]
        mine = viewer_b.wait_for("my_question_changed", lambda d: d["status"] == "on_air")
        assert mine["tracking_code"] == ack["question"]["tracking_code"]
    finally:
        for c in clients:
            c.close()
        a.stop()
        b.stop()


@pytest.mark.anywhere  # counts what was lost and answered, times nothing: beside the other tests
def test_killed_process_loses_no_acknowledged_question(tmp_path, pg_url, redis_url):
    """500 viewers submit to process A, which is SIGKILLed mid-burst; their outboxes resend to B (1,000 through
    nginx: tests/test_nginx.py)."""
    # All simulated viewers share 127.0.0.1, like a carrier's NAT: lift the per-address limit for them.
    settings = dict(DATABASE_URL=pg_url, MESSAGE_QUEUE=redis_url, QUESTIONS_PER_MINUTE_PER_ADDRESS=100_000,
                    MESSAGE_QUEUE_CHANNEL=f"companion-test-{uuid.uuid4().hex[:8]}")
    a = LiveServer(tmp_path, **settings).start()
    b = LiveServer(tmp_path, seed=False, **settings).start()
    try:
        acked, resent, snapshot_ok = asyncio.run(_burst_with_kill(a, b, viewers=500))
        assert 0 < len(acked) < 500, "the kill must land mid-burst"
        assert resent == 500 - len(acked) + min(20, len(acked))
        assert snapshot_ok
        with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT client_id, tracking_code FROM question")
            stored = dict(cur.fetchall())
        assert len(stored) == 500  # zero lost, zero duplicated
        assert all(stored[cid] == code for cid, code in acked.items())  # every ack is in the database
    finally:
        a.stop()
        b.stop()


async def _burst_with_kill(a: LiveServer, b: LiveServer, viewers: int):
    import socketio as sio
    acked: dict[str, str] = {}
    sem = asyncio.Semaphore(200)

    async def connect(url):
        client = sio.AsyncClient(reconnection=False)
        async with sem:
            await client.connect(url, auth={"slug": "demo"}, transports=["websocket"], wait_timeout=20)
        return client

    clients = await asyncio.gather(*(connect(a.url) for _ in range(viewers)))
    outbox = {f"burst-{i:05d}": f"Question {i} from the burst" for i in range(viewers)}

    async def send(client, client_id):
        try:
            ack = await client.call("submit_question", {"text": outbox[client_id], "client_id": client_id},
                                    timeout=10)
        except Exception:  # noqa: BLE001 - the process died under this viewer: it stays in the outbox
            return
        if ack.get("ok"):
            acked[client_id] = ack["question"]["tracking_code"]

    async def killer():
        deadline = time.monotonic() + 60
        while len(acked) < viewers * 0.3 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        a.kill()
    await asyncio.gather(killer(), *(send(c, cid) for c, cid in zip(clients, outbox)))
    await asyncio.gather(*(asyncio.wait_for(c.disconnect(), 5) for c in clients), return_exceptions=True)
    # Each page reconnects (to B) and resends what its outbox still holds: everything not acknowledged,
    # and, as a page cannot be sure, a few acknowledged ones too; those must come back unchanged.
    survivors = [cid for cid in outbox if cid not in acked] + list(acked)[:20]
    resent = 0
    again = await asyncio.gather(*(connect(b.url) for _ in range(10)))
    for i, client_id in enumerate(survivors):
        ack = await again[i % 10].call("submit_question", {"text": outbox[client_id], "client_id": client_id},
                                       timeout=10)
        assert ack["ok"], ack
        if client_id in acked:
            assert ack["question"]["tracking_code"] == acked[client_id] and not ack["created"]
        resent += 1
    snapshot = await again[0].call("get_snapshot", {}, timeout=10)
    for c in again:
        await c.disconnect()
    return acked, resent, snapshot.get("ok", False)


class RedisServer:
    """A private redis-server on a free port, so the test may restart it."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tmp_path
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not redis_available(self.url):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait(5)


@pytest.mark.anywhere  # counts what was lost and answered, times nothing: beside the other tests
def test_fan_out_resumes_after_a_redis_restart(tmp_path, pg_url):
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    redis_server = RedisServer(tmp_path).start()
    a = LiveServer(tmp_path, DATABASE_URL=pg_url, MESSAGE_QUEUE=redis_server.url).start()
    b = LiveServer(tmp_path, seed=False, DATABASE_URL=pg_url, MESSAGE_QUEUE=redis_server.url).start()
    try:
        moderator = Recorder(a.url, "/staff", a.login("mod"))
        viewer_b = Recorder(b.url, "/", b.viewer_cookie())
        redis_server.stop()
        time.sleep(1)
        redis_server.start()
        restarted = time.monotonic()
        # Until both processes have resubscribed, a broadcast may be missed; screens resync on a gap.
        received_at = None
        attempt = 0
        while time.monotonic() - restarted < 30 and received_at is None:
            attempt += 1
            q = moderator.call("add_phone_question", {"text": f"After the restart {attempt}",
                                                       "client_id": f"redis-restart-{attempt:04d}"})["question"]
            moderator.call("send_to_air", {"id": q["id"], "version": q["version"], "finish_current": "mark_answered"})
            try:
                viewer_b.wait_for("feed_changed", lambda d, i=q["id"]: on_air(d, i), timeout=2)
                received_at = time.monotonic()
            except AssertionError:
                continue
        assert received_at is not None and received_at - restarted < 30
        # and the other direction: B publishes, A's moderator receives (B's own publishing connection may come
        # back later than its subscription: a broadcast missed meanwhile is a gap the screens resync on)
        event = None
        for attempt in range(1, 6):  # a viewer may ask five a minute
            ack = submit(viewer_b, f"Asked on B after the restart {attempt}", f"redis-restart-b-{attempt}")
            assert ack["ok"], ack
            try:
                event = moderator.wait_for("desk_changed", lambda d, i=ack["question"]["id"]: d["event"] == "question_submitted"
                                           and d["questions"][0]["id"] == i, timeout=5)
                break
            except AssertionError:
                continue
        assert event is not None and event["questions"][0]["text"].startswith("Asked on B after the restart")
        assert time.monotonic() - restarted < 60
        moderator.close()
        viewer_b.close()
    finally:
        a.stop()
        b.stop()
        redis_server.stop()


class TcpProxy:
    """A TCP proxy in front of PostgreSQL that the test can cut and restore, as an outage would."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.listener = None
        self.conns: list[socket.socket] = []

    def start(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()
        return self

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close() alone would not
        except OSError:
            pass
        self.listener.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.conns.clear()


@pytest.mark.anywhere  # counts what was lost and answered, times nothing: beside the other tests
def test_database_outage_gives_a_retryable_error_never_a_false_receipt(tmp_path, pg_url):
    proxy = TcpProxy(("127.0.0.1", 5432)).start()
    proxied = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    server = LiveServer(tmp_path, seed_url=pg_url, DATABASE_URL=proxied).start()
    try:
        viewer = Recorder(server.url, "/", server.viewer_cookie())
        assert submit(viewer, "Before the outage", "outage-0001")["ok"]
        proxy.cut()
        down = submit(viewer, "During the outage", "outage-0002")
        assert not down["ok"] and down["error"]["code"] == "unavailable" and down["error"]["retryable"]
        assert requests.get(server.url + "/readyz", timeout=10).status_code == 503
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200  # alive: not restarted
        api = requests.post(server.url + "/api/v1/broadcasts/demo/questions",
                            json={"text": "API during the outage", "client_id": "outage-api-1"}, timeout=10)
        assert api.status_code == 503 and api.json()["error"]["retryable"]
        proxy.start()  # the database is back, the app was not restarted
        again = submit(viewer, "During the outage", "outage-0002")
        assert again["ok"] and again["created"]
        deadline = time.monotonic() + 5  # readiness is re-checked at most once a second
        while requests.get(server.url + "/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "not ready again after the outage"
            time.sleep(0.2)
        with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT client_id FROM question ORDER BY id")
            assert [r[0] for r in cur.fetchall()] == ["outage-0001", "outage-0002"]
        viewer.close()
    finally:
        server.stop()
        proxy.cut()


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_slow_postgres_query_does_not_block_other_connections(tmp_path, pg_url, mode):
    """Fails when the driver blocks the event loop (checked: eventlet.monkey_patch(psycopg=False))."""
    server = LiveServer(tmp_path, DATABASE_URL=pg_url, ASYNC_MODE=mode).start()
    try:
        moderator = Recorder(server.url, "/staff", server.login("mod"))
        voter = Recorder(server.url, "/", server.viewer_cookie())
        watcher = Recorder(server.url, "/", server.viewer_cookie())
        moderator.call("update_settings", {"settings": {"pre_moderation": False}})
        first = submit(voter, "Vote for me", "slow-pg-0001")["question"]
        second = moderator.call("add_phone_question", {"text": "Next on air", "client_id": "slow-pg-0002"})["question"]
        lock = psycopg2.connect(pg_url)
        with lock.cursor() as cur:
            cur.execute("LOCK TABLE vote IN ACCESS EXCLUSIVE MODE")  # the voter's query now waits 2 s
            blocked = threading.Thread(target=voter.call, args=("vote", {"question_id": first["id"]}))
            blocked.start()
            time.sleep(0.3)
            start = time.monotonic()
            assert moderator.call("send_to_air", {"id": second["id"], "version": second["version"]})["ok"]
            _, arrived = watcher.wait_for_timed("feed_changed", on_air)
            fan_out = arrived - start
            time.sleep(max(0, 2 - (time.monotonic() - start)))
        lock.rollback()
        lock.close()
        blocked.join(10)
        # A blocked loop would hold the fan-out for the rest of the 2 s wait (about 1.7 s); an
        # unblocked one takes 30-50 ms here, and a loaded CI machine has shown 104 ms: the bound
        # is a quarter of the wait, far from both.
        assert fan_out < 0.5, f"on-air fan-out took {fan_out * 1000:.0f} ms while another query waited"
        assert watcher.wait_for("votes_changed")["votes"] == {str(first["id"]): 1}
        for c in (moderator, voter, watcher):
            c.close()
    finally:
        server.stop()


def test_sqlite_lock_wait_does_not_freeze_the_process(tmp_path):
    server = LiveServer(tmp_path).start()
    try:
        asker = Recorder(server.url, "/", server.viewer_cookie())
        reader = Recorder(server.url, "/", server.viewer_cookie())
        holder = sqlite3.connect(tmp_path / "live.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock for 2 s
        result = {}
        pending = threading.Thread(target=lambda: result.update(
            ack=submit(asker, "Written while the file is locked", "sqlite-lock-0001")))
        pending.start()
        slowest = 0.0
        started = time.monotonic()
        while time.monotonic() - started < 2:
            t = time.monotonic()
            assert reader.call("get_snapshot", {})["ok"]
            assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
            slowest = max(slowest, time.monotonic() - t)
            time.sleep(0.05)
        holder.execute("COMMIT")
        holder.close()
        pending.join(15)
        assert slowest < 0.15, f"a read waited {slowest * 1000:.0f} ms behind the lock"
        assert result["ack"]["ok"]
    finally:
        server.stop()


def test_sigterm_drains_at_once_past_a_long_polling_client_that_went_away(any_server):
    """A browser that opened a long-polling session and vanished (a tab closed mid-handshake) never
    fetches its close packet. python-engineio's disconnect() waited for it, so the drain hung
    until the process was killed (20 s here, after every test that left such a session)."""
    server = any_server
    polling = server.url + "/socket.io/?EIO=4&transport=polling"
    assert requests.get(polling, headers={"Origin": server.url}, timeout=5).text.startswith('0{"sid"')  # open
    viewer = Recorder(server.url, "/", server.viewer_cookie())
    disconnected = threading.Event()
    viewer.client.on("disconnect", lambda *a: disconnected.set(), namespace="/")
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0
    assert time.monotonic() - started < 6, "the drain waited for the vanished client"
    assert disconnected.wait(5), "a connected viewer was not told to reconnect elsewhere"
    assert "Traceback" not in server.log.read_text()


def test_sigterm_drains_then_exits(tmp_path):
    """SIGTERM: acknowledgements in flight get COMPANION_DRAIN_GRACE_MS, then the transports close
    (clients reconnect elsewhere) and the process exits cleanly."""
    server = LiveServer(tmp_path, DRAIN_GRACE_MS=1500).start()
    viewer = Recorder(server.url, "/", server.viewer_cookie())
    assert submit(viewer, "Before the drain", "drain-0001")["ok"]
    disconnected = threading.Event()
    viewer.client.on("disconnect", lambda *a: disconnected.set(), namespace="/")
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0
    assert disconnected.wait(5)
    assert time.monotonic() - started >= 1.4, "the transports closed before the grace was over"
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/healthz", timeout=2)
    assert "Traceback" not in server.log.read_text()
