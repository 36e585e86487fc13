"""The production rehearsal: nginx with the shipped config (deploy/nginx/companion.conf) in front of
three `serve` processes on PostgreSQL, joined by a Redis message queue, COMPANION_PROXY_HOPS=1.

Every client reaches the processes through nginx only, over TLS (a certificate made for the run),
each from an address of its own on the loopback network (127.A.B.1: ip_hash keys on the first three
octets, so each of those is a different client to nginx, as different subscribers would be)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import random
import re
import shutil
import signal
import ssl
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import psycopg2
import pytest
import requests
import socketio

from .conftest import need
from companion.testing.liveserver import PASSWORD, ROOT, LiveServer, free_port
from .test_production import RedisServer

# losses and addresses through nginx, no timing: on a parallel worker (make test sends a file to one worker)
pytestmark = pytest.mark.anywhere

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = ROOT / "deploy" / "nginx" / "companion.conf"
SECRET = "live-test-secret"  # LiveServer's COMPANION_SECRET_KEY: the key of the addresses' hashes


def render(conf: str, ports: list[int], http_port: int, https_port: int, cert_dir: Path) -> str:
    """The shipped file for this run: the upstream's `server` lines name the test's processes, the two
    `listen` lines the test's ports on 127.0.0.1, and the certificate and static directories are the
    run's. Nothing else changes."""
    lines = re.search(r"(?:    server 127\.0\.0\.1:\d+[^;\n]*;\n)+", conf)
    assert lines, "the upstream's server lines moved: update render()"
    parameters = set(re.findall(r"server 127\.0\.0\.1:\d+([^;\n]*);", lines.group()))
    assert len(parameters) == 1, "the upstream's servers differ in their parameters: update render()"
    extra = parameters.pop()  # " max_fails=0": kept, only the ports change
    servers = "".join(f"    server 127.0.0.1:{port}{extra};\n" for port in ports)
    conf = conf[:lines.start()] + servers + conf[lines.end():]
    for old, new, times in (("listen 80;", f"listen 127.0.0.1:{http_port};", 1),
                            ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", 1),
                            ("/etc/ssl/companion/", f"{cert_dir}/", 2),  # the certificate and its key
                            ("/srv/companion/static/", f"{ROOT}/static/", 1)):
        assert conf.count(old) == times, f"{old!r} is not in the config {times} time(s): update render()"
        conf = conf.replace(old, new)
    return conf


class Nginx:
    """nginx in the foreground with everything it writes under `folder`, around the shipped config."""

    def __init__(self, folder: Path, ports: list[int]):
        self.folder = folder
        self.http_port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.ports = ports
        self.access_log = folder / "access.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        folder = self.folder
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", folder / "privkey.pem", "-out", folder / "fullchain.pem"],
                       check=True, capture_output=True)
        (folder / "companion.conf").write_text(render(CONF.read_text(), self.ports, self.http_port,
                                                      self.https_port, folder))
        temp = " ".join(f"{kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                           "uwsgi", "scgi"))
        # What deploy.md asks of nginx's own nginx.conf (worker_rlimit_nofile, worker_connections), Debian's
        # nginx.conf's types (mime.types: a stylesheet is text/css), and an access log naming the process that
        # served each request (the test reads it, see route()).
        (folder / "nginx.conf").write_text(f"""
daemon off;
{'user root;' if os.geteuid() == 0 else ''}
worker_processes 1;
worker_rlimit_nofile 65536;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    {temp}
    log_format rehearsal '$remote_addr $upstream_addr $status $request_uri';
    access_log {self.access_log} rehearsal;
    include {folder}/companion.conf;
}}
""")
        self.proc = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=(folder / "nginx.stderr").open("w"))
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"http://127.0.0.1:{self.http_port}/", timeout=1, allow_redirects=False)
                return self
            except requests.ConnectionError:
                assert self.proc.poll() is None, (folder / "nginx.stderr").read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Cluster:
    """The rehearsal: PostgreSQL, a private Redis, three processes, nginx."""

    def __init__(self, db_url: str, servers: list[LiveServer], nginx: Nginx):
        self.db_url, self.servers, self.nginx = db_url, servers, nginx
        self.url = nginx.url
        self.ssl = ssl.create_default_context(cafile=str(nginx.folder / "fullchain.pem"))

    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def connections(self) -> dict[int, int]:
        """Each process's open Engine.IO sessions, asked directly (not through nginx)."""
        return {s.port: s.health()["connections"] for s in self.servers}

    def revive(self) -> None:
        for server in self.servers:
            if server.proc.poll() is not None:
                server.start()

    def rows(self, prefix: str) -> tuple[dict[str, str], int]:
        """The stored questions whose client_id starts with `prefix`: {client_id: tracking code}, and their count."""
        with psycopg2.connect(self.db_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT client_id, tracking_code FROM question WHERE client_id LIKE %s", (prefix + "%",))
            rows = cur.fetchall()
        return dict(rows), len(rows)


@pytest.fixture(scope="module")
def cluster(postgres, tmp_path_factory):
    need(os.path.exists(NGINX), "nginx is not installed (apt-get install nginx)")
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    need(shutil.which("openssl") is not None, "openssl is not installed")
    folder = tmp_path_factory.mktemp("nginx")
    name = f"companion_nginx_{uuid.uuid4().hex[:10]}"
    db_url = postgres.create(name)
    redis = RedisServer(folder).start()
    servers, nginx = [], None
    try:
        ports = [free_port() for _ in range(3)]
        nginx = Nginx(folder, ports)
        # the production settings of docs/deploy.md, section 2; every simulated viewer of one /24 shares an
        # address, as behind a carrier's NAT: the per-address question limit is lifted for the load
        settings = dict(DATABASE_URL=db_url, MESSAGE_QUEUE=redis.url, PROXY_HOPS=1, PUBLIC_URL=nginx.url,
                        ALLOWED_ORIGINS=nginx.url, SESSION_COOKIE_SECURE="true", QUESTIONS_PER_MINUTE_PER_ADDRESS=100_000,
                        LOGIN_FAILURES_PER_MINUTE_PER_ADDRESS=3, DRAIN_GRACE_MS=1000)
        for i, port in enumerate(ports):
            server = LiveServer(folder, seed=i == 0, **settings)
            server.port, server.url = port, f"http://127.0.0.1:{port}"
            servers.append(server.start())
        nginx.start()
        yield Cluster(db_url, servers, nginx)
    finally:
        if nginx:
            nginx.stop()
        for server in servers:
            server.stop()
        redis.stop()
        postgres.drop(name)


@pytest.fixture
def rehearsal(cluster):
    """The cluster with all three processes up (a test before may have killed one)."""
    cluster.revive()
    return cluster


def source(i: int) -> str:
    """The i-th client address: a /24 of its own on the loopback network."""
    return f"127.{1 + i // 250}.{i % 250}.1"


class Net:
    """aiohttp sessions bound to client addresses, speaking TLS to nginx (one event loop's worth)."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.shared: dict[str, aiohttp.ClientSession] = {}
        self.own: list[aiohttp.ClientSession] = []

    def session(self, address: str, cookies: bool = False) -> aiohttp.ClientSession:
        """A session from `address`: cookie-less ones are shared by the viewers of that address."""
        if not cookies and address in self.shared:
            return self.shared[address]
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(address, 0), ssl=self.cluster.ssl, limit=0),
            cookie_jar=aiohttp.CookieJar(unsafe=True) if cookies else aiohttp.DummyCookieJar())
        if cookies:
            self.own.append(http)
        else:
            self.shared[address] = http
        return http

    async def close(self):
        for http in [*self.shared.values(), *self.own]:
            await http.close()

    async def route(self, address: str) -> int:
        """The port of the process nginx sends `address` to (from nginx's access log)."""
        probe = f"/healthz?probe={uuid.uuid4().hex}"
        async with self.session(address).get(self.cluster.url + probe) as response:
            assert response.status == 200
        for _ in range(50):  # nginx logs once the response is out: the line may lag the response a little
            for line in self.cluster.nginx.access_log.read_text().splitlines():
                remote, upstream, _, uri = line.split(" ", 3)
                if uri == probe:
                    assert remote == address
                    return int(upstream.rsplit(":", 1)[1])
            await asyncio.sleep(0.02)
        raise AssertionError(f"no access log line for {probe}")

    async def viewer(self, address: str, headers: dict | None = None) -> "Client":
        return await Client.connect(self, address, "/", self.session(address), headers)

    async def login(self, address: str, username: str, password: str = PASSWORD,
                    headers: dict | None = None) -> tuple[int, aiohttp.ClientSession]:
        """Sign in through nginx with the login form; the status and the session (with its cookie)."""
        http = self.session(address, cookies=True)
        async with http.get(self.cluster.url + "/login") as response:
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', await response.text()).group(1)
        # over HTTPS the CSRF check also wants the Referer of this origin, as a browser sends it
        headers = {"Referer": self.cluster.url + "/login", **(headers or {})}
        async with http.post(self.cluster.url + "/login", allow_redirects=False, headers=headers,
                             data={"username": username, "password": password, "csrf_token": token}) as response:
            return response.status, http

    async def staff(self, address: str, username: str) -> "Client":
        status, http = await self.login(address, username)
        assert status == 302
        return await Client.connect(self, address, "/staff", http)


class Client:
    """A python-socketio client (WebSocket only, through nginx) that records what it receives."""

    def __init__(self, namespace: str, http: aiohttp.ClientSession):
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False, http_session=http)
        self.events: list[tuple[str, object]] = []
        self.changed = asyncio.Condition()
        self.lost = asyncio.Event()

    @classmethod
    async def connect(cls, net: Net, address: str, namespace: str, http: aiohttp.ClientSession,
                      headers: dict | None = None) -> "Client":
        self = cls(namespace, http)
        self.sio.on("*", self._record, namespace=namespace)
        self.sio.on("disconnect", lambda *_: self.lost.set(), namespace=namespace)
        await self.sio.connect(net.cluster.url, namespaces=[namespace], auth={"slug": "demo"}, wait_timeout=20,
                               transports=["websocket"], headers={"Origin": net.cluster.url, **(headers or {})})
        return self

    async def _record(self, event, data):
        async with self.changed:
            self.events.append((event, data))
            self.changed.notify_all()

    async def wait_for(self, event: str, predicate=lambda data: True, timeout: float = 15):
        async with self.changed:
            ok = await asyncio.wait_for(self.changed.wait_for(
                lambda: any(e == event and predicate(d) for e, d in self.events)), timeout)
            assert ok
            return next(d for e, d in self.events if e == event and predicate(d))

    async def call(self, event: str, data: dict, timeout: float = 15):
        """The acknowledgement, or None when the connection went before it came."""
        call = asyncio.ensure_future(self.sio.call(event, data, namespace=self.namespace, timeout=timeout))
        lost = asyncio.ensure_future(self.lost.wait())
        done, _ = await asyncio.wait({call, lost}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        if call in done and call.exception() is None:
            return call.result()
        call.cancel()
        return None

    async def close(self):
        try:
            await asyncio.wait_for(self.sio.disconnect(), 5)
        except Exception:  # noqa: BLE001 - already gone
            pass


def on_air(question_id: int):
    return lambda data: any(q.get("status") == "on_air" and q["id"] == question_id for q in data["questions"])


def test_deploy_md_shows_the_tested_config_file():
    block = re.search(r"```nginx\n(.*?)```", (ROOT / "docs" / "deploy.md").read_text(), re.S)
    assert block and block.group(1) == CONF.read_text(), "copy deploy/nginx/companion.conf into docs/deploy.md"


def test_nginx_serves_static_files_and_sends_plain_http_to_https(rehearsal):
    response = requests.get(f"http://127.0.0.1:{rehearsal.nginx.http_port}/b/demo", allow_redirects=False, timeout=5)
    assert response.status_code == 301 and response.headers["Location"] == "https://127.0.0.1/b/demo"
    css = requests.get(rehearsal.url + "/static/css/app.css", verify=rehearsal.nginx.folder / "fullchain.pem",
                       timeout=5)
    assert css.status_code == 200 and css.text == (ROOT / "static/css/app.css").read_text()
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    # a script with Kazakh and Russian words in it reads as written (no charset: Latin-1 to a plain client)
    script = requests.get(rehearsal.url + "/static/js/viewer.js", verify=rehearsal.nginx.folder / "fullchain.pem",
                          timeout=5)
    assert "charset=utf-8" in script.headers["Content-Type"]
    assert script.text == (ROOT / "static/js/viewer.js").read_text(encoding="utf-8")
    assert "Expires" in css.headers and "max-age=604800" in css.headers["Cache-Control"]  # nginx's, not the app's
    page = requests.get(rehearsal.url + "/b/demo", verify=rehearsal.nginx.folder / "fullchain.pem", timeout=5)
    assert page.status_code == 200 and page.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_viewers_spread_over_the_processes_and_share_one_broadcast(rehearsal):
    asyncio.run(_spread_and_share(rehearsal))


async def _spread_and_share(cluster: Cluster):
    net = Net(cluster)
    viewers: list[Client] = []
    try:
        addresses = [source(i) for i in range(30)]
        routes = {a: await net.route(a) for a in addresses}
        assert set(routes.values()) == set(cluster.ports()), f"ip_hash left a process out: {routes}"
        viewers = list(await asyncio.gather(*(net.viewer(a) for a in addresses)))
        # each WebSocket is held by the process nginx routes its address to (sticky: every request of one
        # client reaches one process)
        expected = {port: sum(1 for p in routes.values() if p == port) for port in cluster.ports()}
        assert cluster.connections() == expected
        ports = cluster.ports()
        mod_address = next(a for a in addresses if routes[a] == ports[0])
        asker = next(v for a, v in zip(addresses, viewers) if routes[a] == ports[1])
        moderator = await net.staff(mod_address, "mod")  # its WebSocket and its sign-in: process 0
        ack = await asker.call("submit_question", {"text": "Asked through process 1", "client_id": "nginx-share-1"})
        assert ack["ok"], ack
        event = await moderator.wait_for("desk_changed", lambda d: d["event"] == "question_submitted" and
                                         d["questions"][0]["id"] == ack["question"]["id"])
        q = event["questions"][0]
        assert q["text"] == "Asked through process 1"
        assert (await moderator.call("send_to_air", {"id": q["id"], "version": q["version"], "confirm": True}))["ok"]
        feeds = await asyncio.gather(*(v.wait_for("feed_changed", on_air(q["id"])) for v in viewers))
        assert len({f["version"] for f in feeds}) == 1  # one change, the same version on every process
        await moderator.close()
    finally:
        for v in viewers:
            await v.close()
        await net.close()


def test_client_addresses_behind_nginx_are_the_real_ones(rehearsal):
    asyncio.run(_addresses(rehearsal))


async def _addresses(cluster: Cluster):
    net = Net(cluster)
    asker_address, wrong_address, right_address = "127.201.0.1", "127.202.0.1", "127.203.0.1"
    try:
        # a forged X-Forwarded-For changes nothing: nginx appends the address it saw, the app takes that one
        asker = await net.viewer(asker_address, headers={"X-Forwarded-For": "203.0.113.9"})
        ack = await asker.call("submit_question", {"text": "Where do I come from?", "client_id": "nginx-addr-1"})
        assert ack["ok"], ack
        await asker.close()
        # the limit per address on wrong passwords (3 here) holds one address and not the others
        for i in range(3):
            status, _ = await net.login(wrong_address, "mod", "not-the-password",
                                        headers={"X-Forwarded-For": f"198.51.100.{i}"})
            assert status == 400
        status, _ = await net.login(wrong_address, "mod", headers={"X-Forwarded-For": "198.51.100.9"})
        assert status == 429, "the address with three wrong passwords was let in"
        status, _ = await net.login(right_address, "mod")
        assert status == 302, "another address was held by the first one's wrong passwords"
    finally:
        await net.close()
    with psycopg2.connect(cluster.db_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT source_hash FROM question WHERE client_id = 'nginx-addr-1'")
        expected = hmac.new(SECRET.encode(), asker_address.encode(), hashlib.sha256).hexdigest()[:16]
        assert cur.fetchone()[0] == expected, "the question's address is not the asker's"
        cur.execute("SELECT action, ip FROM audit_event WHERE action IN ('login', 'login_failed', 'login_throttled') "
                    "AND ip IN %s ORDER BY id", ((wrong_address, right_address, "127.0.0.1"),))
        assert cur.fetchall() == [("login_failed", wrong_address)] * 3 + [("login", right_address)]


class Asker:
    """A viewer with an outbox, like the viewer page: it resends what was not acknowledged, on a new
    connection through nginx when the old one went."""

    def __init__(self, net: Net, address: str, log: "Receipts"):
        self.net, self.address, self.log = net, address, log
        self.client: Client | None = None
        self.outbox: list[tuple[str, str]] = []

    async def send_all(self, deadline: float) -> None:
        while self.outbox and time.monotonic() < deadline:
            if self.client is None:
                try:
                    self.client = await self.net.viewer(self.address)
                except Exception as exc:  # noqa: BLE001 - nginx had no process for us yet: try again
                    self.log.why.append(f"connect {exc!r}")
                    await asyncio.sleep(0.2)
                    continue
            client_id, text = self.outbox[0]
            ack = await self.client.call("submit_question", {"text": text, "client_id": client_id})
            if ack is None:  # the process went: reconnect and resend
                await self.client.close()
                self.client = None
                self.log.reconnects += 1
                continue
            if not ack.get("ok"):
                self.log.why.append(f"ack {ack}")
                assert ack["error"].get("retryable"), ack
                await asyncio.sleep(0.2)
                continue
            self.log.record(client_id, ack)
            self.outbox.pop(0)

    async def stay_connected(self) -> None:
        """As the page does: a connection that went is opened again, through nginx, to whichever process."""
        if self.client is not None and not self.client.lost.is_set():
            return
        if self.client is not None:
            await self.client.close()
            self.client = None
            self.log.reconnects += 1
        try:
            self.client = await self.net.viewer(self.address)
        except Exception:  # noqa: BLE001 - tried again on the next call
            pass

    async def close(self):
        if self.client:
            await self.client.close()


class Receipts:
    """What the askers were told: {client_id: tracking code}, and what must never happen."""

    def __init__(self):
        self.acked: dict[str, str] = {}
        self.changed_codes: list[str] = []
        self.reconnects = 0
        self.repeated = 0  # acknowledged again: stored before the connection went, resent after
        self.at_kill = 0
        self.why: list[str] = []

    def record(self, client_id: str, ack: dict) -> None:
        code = ack["question"]["tracking_code"]
        self.repeated += not ack["created"]
        if self.acked.setdefault(client_id, code) != code:
            self.changed_codes.append(client_id)


VIEWERS = int(os.environ.get("COMPANION_NGINX_VIEWERS", "1000"))


def test_a_killed_process_loses_no_acknowledged_question(rehearsal):
    """VIEWERS viewers submit at once; one process is SIGKILLed once 30% are acknowledged."""
    receipts, victim, before, after = asyncio.run(_burst_with_kill(rehearsal, VIEWERS))
    print(f"\n{VIEWERS} viewers, {before}: {receipts.at_kill} acknowledged at the kill, "
          f"{receipts.reconnects} reconnected, {receipts.repeated} acknowledged again")
    assert before[victim] > 0, "no viewer was on the killed process"
    assert receipts.at_kill < VIEWERS, "the kill must land mid-burst"
    assert receipts.reconnects > 0, "no viewer had to reconnect"
    assert sum(after.values()) == VIEWERS and victim not in after  # every viewer is on a survivor now
    assert not receipts.changed_codes
    stored, count = rehearsal.rows("kill-")
    assert len(receipts.acked) == VIEWERS, "a question was never acknowledged"
    assert count == len(stored) == VIEWERS  # one row per question: none lost, none twice
    assert stored == receipts.acked  # every acknowledgement names its row


async def _burst_with_kill(cluster: Cluster, viewers: int):
    net = Net(cluster)
    receipts = Receipts()
    askers = [Asker(net, source(i % (viewers // 10)), receipts) for i in range(viewers)]
    try:
        gate = asyncio.Semaphore(100)

        async def join(asker):
            async with gate:
                asker.client = await net.viewer(asker.address)
        await asyncio.gather(*(join(a) for a in askers))
        before = cluster.connections()
        victim = cluster.servers[max(range(3), key=lambda i: before[cluster.servers[i].port])]
        for i, asker in enumerate(askers):
            asker.outbox.append((f"kill-{i:05d}", f"Question {i} of the burst"))

        async def killer():
            while len(receipts.acked) < viewers * 0.3:
                await asyncio.sleep(0.005)
            receipts.at_kill = len(receipts.acked)
            victim.kill()
        deadline = time.monotonic() + 60
        await asyncio.gather(killer(), *(a.send_all(deadline) for a in askers))
        # viewers of the victim whose question was acknowledged before the kill reconnect too
        survivors = [s for s in cluster.servers if s is not victim]
        while True:
            await asyncio.gather(*(a.stay_connected() for a in askers))
            after = {s.port: s.health()["connections"] for s in survivors}
            if sum(after.values()) >= viewers or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        return receipts, victim.port, before, after
    finally:
        for a in askers:
            await a.close()
        await net.close()


def test_a_rolling_restart_under_load_loses_nothing(rehearsal):
    """Viewers keep asking while each process in turn gets SIGTERM (the drain) and is started again."""
    receipts, asked, exits = asyncio.run(_rolling_restart(rehearsal, viewers=VIEWERS // 2))
    print(f"\n{len(asked)} questions from {VIEWERS // 2} viewers, {receipts.reconnects} reconnections, "
          f"{receipts.repeated} acknowledged again")
    assert exits == [0, 0, 0], "a process did not drain cleanly"
    assert receipts.reconnects > 0, "the restarts moved no viewer"
    assert not receipts.changed_codes
    assert set(receipts.acked) == asked, f"never acknowledged; why: {Counter(w[:80] for w in receipts.why).most_common(3)}"
    stored, count = rehearsal.rows("roll-")
    assert count == len(stored) == len(asked)  # zero lost, none twice
    assert stored == receipts.acked  # zero false receipts


async def _rolling_restart(cluster: Cluster, viewers: int):
    net = Net(cluster)
    receipts = Receipts()
    askers = [Asker(net, source(500 + i % (viewers // 10)), receipts) for i in range(viewers)]
    asked: set[str] = set()
    restarting = True
    exits = []

    async def keep_asking(i: int, asker: Asker):
        n = 0
        await asyncio.sleep(random.uniform(0, 1))
        while restarting:
            client_id = f"roll-{i:04d}-{n:03d}"
            asked.add(client_id)
            asker.outbox.append((client_id, f"Question {n} of viewer {i}"))
            await asker.send_all(time.monotonic() + 60)
            n += 1
            await asyncio.sleep(random.uniform(0.5, 1.5))

    async def restart_each():
        nonlocal restarting
        await asyncio.sleep(2)
        for server in cluster.servers:
            server.proc.send_signal(signal.SIGTERM)
            exits.append(await asyncio.to_thread(server.proc.wait, 20))
            assert "Traceback" not in server.log.read_text()
            await asyncio.to_thread(server.start)
            await asyncio.sleep(2)
        restarting = False

    try:
        await asyncio.gather(restart_each(), *(keep_asking(i, a) for i, a in enumerate(askers)))
        return receipts, asked, exits
    finally:
        for a in askers:
            await a.close()
        await net.close()
