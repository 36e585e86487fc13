"""Benchmarks of the live desk, side by side with three Node.js peers (`make bench`, `make bench-smoke`).

    python bench/run.py            # full: 10,000 viewers, fan-out at 1,000 and 3,000, ingest, votes, ... (~20 min)
    python bench/run.py --smoke    # a few hundred clients, one run each, under a minute (CI)

Starts the real server as production does (`python -m companion serve`, eventlet, SQLite in a
temporary folder) and the peers (`PEERS`: socket.io 4.8 on Node's http server, socket.io 4.8 on
uWebSockets.js, a raw `ws` broadcaster; same events, no database), and drives them all with the
same load generator: asyncio clients speaking Engine.IO 4 / Socket.IO 5,
written for the purpose (a full python-socketio client per viewer would make the generator the
bottleneck): staff and askers over aiohttp WebSockets (`Client`), the fan-out and teleprompter
metrics' viewers as lean protocol objects (`viewer.py`) on uvloop, spread over several generator
processes (`--generators`, one per core by default; see `Audience`). Writes
bench/results/latest.json (smoke: bench/results/smoke.json).

Every figure is the median of `--runs` runs (3 in full mode) with min and max; timings are also
given as ratios against each peer measured in the same run. Each run starts every server; the
fan-out to 1,000 and to 3,000 viewers is measured on all of them at once, rounds alternating
(`fanout`), and each round times the first viewer's copy as well as the last's (the server's own
path before the fan-out). Then ours across processes: three `serve` processes on PostgreSQL and
the Redis message queue, `sizes.redis` viewers on each (`redis_fanout`). The generator's own CPU time is reported per metric so a reader can tell when the
generator, not the server, was the bottleneck.

Clients carry what a browser carries: `Origin` and a phone's `User-Agent` on every handshake, and
askers are viewers with their own viewer cookie from `/b/demo`, each asking at most the per-viewer
limit as served (`Askers`); only the per-address limit is raised (one generator address stands for
a carrier's many users). `storm` connects 10,000 such viewers at once and has each ask for its state
as a reconnecting page does.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import math
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from companion.testing.liveserver import LiveServer, free_port  # noqa: E402  (the harness the tests use)

KEYS = ["viewers_held", "rss_kb_per_viewer", "fanout_p99_ms_1000", "fanout_p99_ms_3000", "fanout_ratio_vs_node_3000",
        "fanout_ratio_vs_uws_1000", "fanout_ratio_vs_uws_3000", "fanout_ratio_vs_ws_1000", "fanout_ratio_vs_ws_3000",
        "first_viewer_p50_ms_1000", "first_viewer_p99_ms_1000", "fanout_p99_ms_3x3000_redis",
        "ingest_qps", "ingest_ack_p99_ms", "ingest_lost", "prompter_p99_ms_under_load",
        "vote_broadcasts_per_s_at_1000_votes_per_s", "moderator_render_ms_10k", "moderator_update_ms_10k",
        "appeals_page_p95_ms_1m_pg", "storm_handshakes_per_s", "storm_back_with_state_s"]


def cpu_seconds() -> float:
    """This process's CPU time (user + system): the load generator's own cost."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu_seconds(pid: int) -> float:
    """The server process's CPU time (user + system) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stolen_seconds() -> float:
    """CPU time the machine's host gave to others so far (steal, all cores, from /proc/stat): on a
    shared virtual machine a figure taken while it grew was slowed by a neighbour, not by the
    servers under test."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def host_reference_ms() -> float:
    """This host's speed for work like the server's: the median time, of 5 tries, of a fixed mix of
    pure Python (objects made, functions called, dicts and strings built, JSON in and out).
    Machines of one kind here differ: the same server code gave 1,364 questions/s on one and
    650/s on another. Absolute figures are comparable only at a similar reference; the ratios to
    the peer, measured on the same host, are comparable anyway."""
    class Item:
        def __init__(self, n: int):
            self.id, self.text, self.votes = n, f"question {n} " * 4, n % 7

        def payload(self) -> dict:
            return {"id": self.id, "text": self.text, "votes": self.votes, "tags": [self.id % 3, self.votes]}
    times = []
    for _ in range(5):
        started = time.perf_counter()
        for n in range(20_000):
            json.loads(json.dumps(Item(n).payload()))
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def session() -> aiohttp.ClientSession:
    """An HTTP session without aiohttp's default cap of 100 connections (each viewer holds one)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


class Counter:
    """Counts the viewers that received the current round's event, and when the first and the last one did."""

    def __init__(self):
        self.expected, self.received, self.first, self.last = 0, 0, 0.0, 0.0
        self.done = asyncio.Event()

    def reset(self, expected: int) -> None:
        self.expected, self.received, self.first, self.last = expected, 0, 0.0, 0.0
        self.done = asyncio.Event()

    def hit(self) -> None:
        self.received += 1
        self.last = time.perf_counter()
        if self.received == 1:
            self.first = self.last
        if self.received >= self.expected:
            self.done.set()


# What a phone's browser sends with the WebSocket handshake besides its cookie (the server checks the Origin).
USER_AGENT = "Mozilla/5.0 (Linux; Android 14; SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"


def browser_headers(url: str) -> dict:
    return {"Origin": url, "User-Agent": USER_AGENT}


async def viewer_cookies(http, url: str, n: int) -> list[str | None]:
    """`n` viewer cookies as the viewer page sets them (`/b/demo`); None where the server sets none (the peer)."""
    cookies = []
    for _ in range(n):
        async with http.get(url + "/b/demo", headers=browser_headers(url)) as response:
            cookie = response.cookies.get("session")
            cookies.append(f"session={cookie.value}" if cookie else None)
    return cookies


class Client:
    """A Socket.IO client over one Engine.IO WebSocket: connects a namespace, answers pings,
    calls events with acknowledgements, and hands chosen events to callbacks by prefix (no JSON
    parsing for the events it only counts). It offers WebSocket compression as browsers do: what
    the server agrees to here, it agrees to for every real viewer."""

    def __init__(self, http: aiohttp.ClientSession, url: str, namespace: str = "/", auth: dict | None = None,
                 cookie: str | None = None):
        self.http, self.url, self.ns = http, url, namespace
        self.auth = auth or {"slug": "demo"}
        self.cookie = cookie
        self.prefix = "" if namespace == "/" else f"{namespace},"
        self.watch: dict[str, callable] = {}
        self.acks: dict[int, asyncio.Future] = {}
        self.ids = itertools.count(1)
        self.ws = None
        self.task = None

    async def connect(self) -> "Client":
        headers = {**browser_headers(self.url), **({"Cookie": self.cookie} if self.cookie else {})}
        self.ws = await self.http.ws_connect(self.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket",
                                             headers=headers, heartbeat=None, compress=15, max_msg_size=0)
        await self.ws.receive()  # Engine.IO open
        await self.ws.send_str(f"40{self.prefix}{json.dumps(self.auth)}")
        reply = (await self.ws.receive()).data
        if not reply.startswith(f"40{self.prefix}"):
            raise ConnectionError(f"namespace refused: {reply[:120]}")
        self.task = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        async for message in self.ws:
            data = message.data
            if data == "2":
                await self.ws.send_str("3")
                continue
            if not isinstance(data, str) or not data.startswith("4"):
                continue
            body = data[2 + len(self.prefix):] if data[2:].startswith(self.prefix) else data[2:]
            if data[1] == "3":  # an acknowledgement: <id>[payload]
                split = body.index("[")
                future = self.acks.pop(int(body[:split]), None)
                if future and not future.done():
                    future.set_result(json.loads(body[split:])[0])
            elif data[1] == "2":
                for prefix, callback in self.watch.items():
                    if body.startswith(prefix):
                        callback(body)

    def on(self, event: str, callback) -> None:
        self.watch[f'["{event}"'] = callback

    async def call(self, event: str, payload: dict, timeout: float = 10):
        ack = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.acks[ack] = future
        await self.ws.send_str(f"42{self.prefix}{ack}{json.dumps([event, payload])}")
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.ws is not None:
            await self.ws.close()


# Raised for the generator: the per-address limit (one generator address stands for the many
# carriers' users behind one address), votes per viewer and events per connection (the vote
# metric's 100 voters stand for thousands). Questions per viewer stay as served: askers are
# browser-like viewers, each asking at most that many a minute (`Askers`).
LIMITS = {"MAX_CONNECTIONS": 30000, "QUESTIONS_PER_MINUTE_PER_ADDRESS": 10**9,
          "VOTES_PER_MINUTE_PER_VIEWER": 10**9, "EVENTS_PER_SECOND_PER_CONNECTION": 10**6}
REDIS_URL = "redis://127.0.0.1:6379/0"

# The peers, each `node bench/peers/<script> <port>` with the same events and no database (desk.js):
# socket.io 4.8 on Node's http server, socket.io 4.8 attached to uWebSockets.js, and a raw `ws`
# broadcaster writing one pre-encoded frame to every viewer.
PEERS = {"node": "server.js", "uws": "server-uws.js", "ws": "server-ws.js"}


def install_peers() -> None:
    """The peers' packages as package-lock.json pins them (`npm ci`, from the npm registry), unless installed."""
    if not (ROOT / "bench" / "peers" / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=ROOT / "bench" / "peers", check=True)


class Target:
    """One server under test: ours (eventlet, SQLite) or one of the PEERS."""

    def __init__(self, kind: str, tmp: Path):
        self.kind, self.tmp = kind, tmp
        self.server = None
        self.proc = None

    def start(self) -> "Target":
        if self.kind == "companion":
            self.server = LiveServer(self.tmp, **LIMITS).start()
            self.url, self.pid = self.server.url, self.server.proc.pid
        else:
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            self.proc = subprocess.Popen(["node", str(ROOT / "bench" / "peers" / PEERS[self.kind]), str(port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            import requests
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if requests.get(self.url + "/healthz", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            else:
                self.proc.kill()
                raise RuntimeError(f"the {self.kind} peer did not answer /healthz within 20 s")
            self.pid = self.proc.pid
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)

    def cookie(self, username: str) -> str | None:
        return self.server.login(username) if self.server else None

    def rows(self) -> int:
        if not self.server:
            return -1
        db = sqlite3.connect(self.server.env["COMPANION_DATABASE_URL"].removeprefix("sqlite:///"))
        try:
            return db.execute("SELECT count(*) FROM question WHERE client_id LIKE 'ingest-%' "
                              "OR client_id LIKE 'steady-%'").fetchone()[0]
        finally:
            db.close()


class Cluster:
    """Ours across processes, as production runs it: `processes` `serve` processes on one PostgreSQL
    database and the Redis message queue. It stands in for a Target: `url`, `pid` and `cookie` are
    the first process's (the moderator's), `urls` and `pids` every process's (the audience's)."""

    kind = "redis"

    def __init__(self, tmp: Path, processes: int = 3):
        import uuid
        self.tmp, self.processes = tmp, processes
        self.database, self.channel = f"companion_bench_{uuid.uuid4().hex[:10]}", f"companion-bench-{uuid.uuid4().hex[:8]}"
        self.servers: list[LiveServer] = []
        self.pg = None

    def start(self) -> "Cluster":
        from companion import create_app
        from companion.testing.setup import Postgres, seed, test_config
        self.pg = Postgres()
        url = self.pg.create(self.database)
        seed(create_app(test_config(self.tmp, DATABASE_URL=url)))  # in this process: five CLI starts took 17 s
        settings = {**LIMITS, "DATABASE_URL": url, "MESSAGE_QUEUE": REDIS_URL, "MESSAGE_QUEUE_CHANNEL": self.channel}
        self.servers = [LiveServer(self.tmp, seed=False, **settings) for _ in range(self.processes)]
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(self.processes) as pool:  # started side by side: each waits for its /healthz
            list(pool.map(LiveServer.start, self.servers))
        self.url, self.pid = self.servers[0].url, self.servers[0].proc.pid
        self.urls, self.pids = [s.url for s in self.servers], [s.proc.pid for s in self.servers]
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        if self.pg:
            self.pg.drop(self.database)

    def cookie(self, username: str) -> str:
        return self.servers[0].login(username)


class Publishes:
    """Counts what the processes publish on the message queue's channel, by event, while it runs: a
    subscriber of its own gets one message per PUBLISH (python-socketio's RedisManager encodes each
    emit into one). The audience's size must not change the count: one publish per change."""

    def __init__(self, channel: str):
        import redis
        self.pubsub = redis.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)
        self.pubsub.get_message(timeout=1)  # the subscription's confirmation
        self.bytes = 0  # what was published, all messages together

    def count(self) -> dict[str, int]:
        """The events published since the last call: {event name: publishes}."""
        counts: dict[str, int] = {}
        while (message := self.pubsub.get_message(timeout=0.5)) is not None:
            self.bytes += len(message["data"])
            try:  # python-socketio's managers send JSON (pickle in older versions: not unpickled, counted)
                data = json.loads(message["data"])
            except ValueError:
                data = {}
            name = data.get("event") or data.get("method", "?")
            counts[name] = counts.get(name, 0) + 1
        return counts

    def close(self) -> None:
        self.pubsub.close()


async def gathered(connect, n: int) -> list:
    """`n` connections made by `connect()`, 100 at a time, each tried up to three times. The
    generator's own garbage collector is kept off the measurements: with thousands of clients a
    full collection paused it for 100-250 ms, which showed as fan-out latency (found at 3,000
    viewers). Earlier waves are collected before connecting; the new clients are then frozen, out
    of the collector's view, until the next wave."""
    gc.unfreeze()
    gc.collect()
    sem = asyncio.Semaphore(100)

    async def one():
        async with sem:
            for attempt in range(3):
                try:
                    return await connect()
                except (aiohttp.ClientError, ConnectionError, OSError, asyncio.TimeoutError):
                    await asyncio.sleep(0.5 * (attempt + 1))
            return None
    clients = await asyncio.gather(*(one() for _ in range(n)))
    gc.collect()
    gc.freeze()
    return [c for c in clients if c is not None]


async def connect_many(http, url: str, n: int, **kwargs) -> list[Client]:
    """`n` aiohttp clients (see `gathered`)."""
    return await gathered(lambda: Client(http, url, **kwargs).connect(), n)


async def staff(http, target: Target, user: str = "mod") -> Client:
    return await Client(http, target.url, "/staff", cookie=target.cookie(user)).connect()


async def approved_questions(http, target: Target, moderator: Client, n: int, tag: str) -> list[int]:
    asker = await Client(http, target.url).connect()
    ids = []
    for i in range(n):
        ack = await asker.call("submit_question", {"text": f"Bench question {tag} {i}", "client_id": f"bench-{tag}-{i:06d}"})
        assert ack.get("ok"), ack
        ids.append(ack["question"]["id"])
        await moderator.call("approve", {"id": ack["question"]["id"]})
    await asker.close()
    return ids


class Audience:
    """`n` viewers spread over `processes` generator processes (`bench/run.py --audience URL N`),
    for the fan-out and teleprompter metrics. One asyncio process cannot read thousands of viewers' copies of a
    broadcast as fast as a server sends them: at 3,000 viewers it took about 80 ms to read a round
    that the server had finished sending in 34 ms, so the figure measured the generator and how the
    server's pace happened to suit it. Each process reads its share with lean viewers on uvloop
    (`viewer.py`: 0.56-0.73 s of CPU for 20 rounds to 3,000, against 1.41-1.51 s through aiohttp),
    and they report over pipes (one JSON line per message). Times are compared on the machine's
    monotonic clock, which `time.perf_counter` reads in every process alike."""

    def __init__(self, url: str | list[str], n: int, processes: int):
        """`n` viewers on `url`, or `n` on each of several servers' `url`s (each its share of the processes)."""
        urls = [url] if isinstance(url, str) else list(url)
        per_url = max(1, min(processes // len(urls), n))
        self.shares = [(u, n // per_url + (i < n % per_url)) for u in urls for i in range(per_url)]
        self.n, self.processes = n * len(urls), len(self.shares)
        self.procs: list[asyncio.subprocess.Process] = []
        self.connected = 0

    async def __aenter__(self) -> "Audience":
        self.procs = [await asyncio.create_subprocess_exec(sys.executable, __file__, "--audience", url, str(k),
                                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                      for url, k in self.shares]
        self.connected = sum(m["connected"] for m in await asyncio.gather(*(self._read(p) for p in self.procs)))
        return self

    async def __aexit__(self, *exc) -> None:
        for p in self.procs:
            if p.returncode is None:
                p.stdin.close()  # the process closes its viewers and ends
        await asyncio.gather(*(p.wait() for p in self.procs))

    @staticmethod
    async def _read(p: asyncio.subprocess.Process) -> dict:
        line = await p.stdout.readline()
        if not line:
            raise RuntimeError(f"a generator process ended (exit code {await p.wait()})")
        return json.loads(line)

    @staticmethod
    async def _tell(p: asyncio.subprocess.Process, **command) -> None:
        p.stdin.write(json.dumps(command).encode() + b"\n")
        await p.stdin.drain()

    async def round(self, r: int, action, timeout: float = 30) -> tuple[float, int, float, float]:
        """Arm every process for round `r`, then run `action`; returns (when `action` started, how
        many viewers got the round's feed_changed, when the first of them did, when the last did)."""
        for p in self.procs:
            await self._tell(p, do="start", round=r)
        for p in self.procs:
            reply = await self._read(p)
            assert reply.get("started") == r, reply
        t0 = time.perf_counter()
        await action()
        waits = [asyncio.ensure_future(self._read(p)) for p in self.procs]
        _, late = await asyncio.wait(waits, timeout=timeout)
        for p, w in zip(self.procs, waits):
            if w in late:  # every process answers "end" with what it has, unless it just finished
                await self._tell(p, do="end", round=r)
        replies = await asyncio.gather(*waits)
        for reply in replies:
            assert reply.get("done") == r, reply
        firsts = [m["first"] for m in replies if m["received"]]
        return t0, sum(m["received"] for m in replies), min(firsts, default=0.0), max(m["last"] for m in replies)

    async def cpu_seconds(self) -> float:
        """The generator processes' CPU time so far, all together."""
        for p in self.procs:
            await self._tell(p, do="cpu")
        return sum([(await self._read(p))["cpu"] for p in self.procs])


async def audience_process(url: str, n: int) -> None:
    """One generator process of `Audience`: connects `n` lean viewers (`viewer.py`), then counts
    each round's feed_changed as the parent's commands on stdin say; replies one JSON line each on stdout."""
    import viewer
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)

    def say(**message) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def result(r: int) -> None:
        say(done=r, received=counter.received, first=counter.first, last=counter.last)

    async def report(r: int) -> None:
        await counter.done.wait()
        result(r)

    counter = Counter()
    audience = await gathered(lambda: viewer.connect(url, {"feed_changed": lambda _body: counter.hit()}), n)
    say(connected=len(audience))
    reporter = None
    while line := await commands.readline():
        command = json.loads(line)
        if command["do"] == "start":
            counter.reset(len(audience))
            reporter = asyncio.ensure_future(report(command["round"]))
            say(started=command["round"])
        elif command["do"] == "end" and reporter is not None and not reporter.done():
            reporter.cancel()
            result(command["round"])
        elif command["do"] == "cpu":
            say(cpu=time.process_time())
    for v in audience:
        v.close()
    await asyncio.sleep(0.1)  # the close frames go out


class FanoutRig:
    """One server's side of a fan-out measurement: a moderator, two approved questions to send to
    air in turn, and `viewers` viewers in generator processes (`Audience`). On a `Cluster`, the
    moderator is on the first process and `viewers` viewers on each."""

    def __init__(self, target: Target, viewers: int, processes: int):
        self.target, self.viewers, self.processes = target, viewers, processes
        self.urls, self.pids = getattr(target, "urls", [target.url]), getattr(target, "pids", [target.pid])
        self.latencies: list[float] = []
        self.firsts: list[float] = []  # the trigger to the first viewer's copy: the server's path before the fan-out
        self.complete, self.parent_cpu, self.server_cpu = 0, 0.0, 0.0

    async def __aenter__(self) -> "FanoutRig":
        self.stack = contextlib.AsyncExitStack()
        try:
            http = await self.stack.enter_async_context(session())
            self.moderator = await staff(http, self.target)
            self.stack.push_async_callback(self.moderator.close)
            self.ids = await approved_questions(http, self.target, self.moderator, 2, f"fan{self.viewers}")
            before = sum(map(rss_kb, self.pids))
            self.audience = await self.stack.enter_async_context(Audience(self.urls, self.viewers, self.processes))
            await asyncio.sleep(1)
            self.rss_kb_per_viewer = (sum(map(rss_kb, self.pids)) - before) / max(self.audience.connected, 1)
            self.audience_cpu0 = await self.audience.cpu_seconds()
        except BaseException:
            await self.stack.aclose()  # no generator process or connection outlives a failed start
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stack.aclose()

    async def round(self, r: int) -> None:
        """Send one question to air; time it until the first and the last viewer have it. The server's CPU time and
        the parent generator's are counted over the rounds only, not the pauses between them."""
        cpu0, server0 = cpu_seconds(), sum(map(server_cpu_seconds, self.pids))
        t0, received, first, last = await self.audience.round(r, lambda: self.moderator.call(
            "send_to_air", {"id": self.ids[r % 2], "finish_current": "defer"}))
        self.parent_cpu += cpu_seconds() - cpu0
        self.server_cpu += sum(map(server_cpu_seconds, self.pids)) - server0
        self.complete += received >= self.audience.connected
        self.latencies.append((last - t0) * 1000)
        if received:
            self.firsts.append((first - t0) * 1000)

    async def result(self, stolen_share: float) -> dict:
        cpu = self.parent_cpu + await self.audience.cpu_seconds() - self.audience_cpu0
        return {"connected": self.audience.connected, "all_received_rounds": self.complete,
                "rounds": len(self.latencies), "p50_ms": round(statistics.median(self.latencies), 1),
                "p99_ms": round(pct(self.latencies, 0.99), 1),
                "first_p50_ms": round(statistics.median(self.firsts), 2) if self.firsts else None,
                "first_p99_ms": round(pct(self.firsts, 0.99), 2) if self.firsts else None, "rss_kb_per_viewer": round(self.rss_kb_per_viewer, 1),
                "generator_processes": self.audience.processes, "generator_cpu_s": round(cpu, 2), "loadavg": loadavg(),
                "server_cpu_s": round(self.server_cpu, 2), "stolen_share": round(stolen_share, 3),
                "latencies_ms": [round(v, 1) for v in self.latencies],
                "first_ms": [round(v, 2) for v in self.firsts]}


async def fanout(targets: list[Target], viewers: int, rounds: int, processes: int) -> list[dict]:
    """Moderator "send to air" -> received by the last of `viewers` viewers, per round, on each of
    `targets` (one result each). With several servers every audience stays connected and the rounds
    go to each server in turn, the order reversed every other round: a slow spell of this shared machine
    (another tenant, the host) falls on both alike instead of on whichever ran at the time, so
    their ratio measures the servers. A server's idle audience costs it only pings."""
    async with contextlib.AsyncExitStack() as stack:
        rigs = [await stack.enter_async_context(FanoutRig(t, viewers, processes)) for t in targets]
        stolen0, started = stolen_seconds(), time.perf_counter()
        for r in range(rounds):
            for rig in rigs if r % 2 == 0 else rigs[::-1]:
                await rig.round(r)
                await asyncio.sleep(0.3)
        stolen = (stolen_seconds() - stolen0) / (time.perf_counter() - started) / (os.cpu_count() or 1)
        return [await rig.result(stolen) for rig in rigs]


async def redis_fanout(tmp: Path, viewers: int, rounds: int, processes: int, servers: int = 3) -> dict:
    """The fan-out across processes: `servers` `serve` processes on PostgreSQL and the Redis message
    queue (`Cluster`), `viewers` viewers on each, the moderator on the first; each round from the
    trigger to the last viewer on any process. Also what went over the queue per round (`Publishes`)."""
    cluster, publishes = Cluster(tmp, servers), None
    try:
        cluster.start()
        publishes = Publishes(cluster.channel)
        async with FanoutRig(cluster, viewers, processes) as rig:
            publishes.count()  # the set-up's (questions approved) are not the rounds'
            publishes.bytes = 0
            per_round = []
            stolen0, started = stolen_seconds(), time.perf_counter()
            for r in range(rounds):
                await rig.round(r)
                await asyncio.sleep(0.3)
                per_round.append(await asyncio.to_thread(publishes.count))
            stolen = (stolen_seconds() - stolen0) / (time.perf_counter() - started) / (os.cpu_count() or 1)
            result = await rig.result(stolen)
    finally:
        if publishes:
            publishes.close()
        cluster.stop()
    result.update(servers=servers, viewers_per_server=viewers,
                  publishes_per_round=statistics.median(sum(c.values()) for c in per_round),
                  publishes_by_event=per_round[-1], published_bytes_per_round=round(publishes.bytes / max(rounds, 1)))
    return result


async def connect_storm(target: Target, n: int, concurrency: int = 500) -> dict:
    """A reconnect storm: `n` viewers (browser-like: a viewer cookie, Origin, User-Agent) connect as fast
    as the generator can, `concurrency` at a time. Handshakes a second (WebSocket upgrade, Engine.IO
    open, the namespace's connect), the server's CPU per handshake, then each screen asks for its state
    as the page does after a reconnect (`get_snapshot` with the version it held: ours only)."""
    async with session() as http:
        cookies = await viewer_cookies(http, target.url, 200)  # tabs of 200 viewers: the cookie is checked each time
        sem, failed = asyncio.Semaphore(concurrency), 0

        async def one(i: int):
            nonlocal failed
            async with sem:
                try:
                    return await Client(http, target.url, cookie=cookies[i % len(cookies)]).connect()
                except (aiohttp.ClientError, ConnectionError, OSError, asyncio.TimeoutError):
                    failed += 1
                    return None
        gc.collect()
        cpu0, started = server_cpu_seconds(target.pid), time.perf_counter()
        clients = [c for c in await asyncio.gather(*(one(i) for i in range(n))) if c is not None]
        elapsed = time.perf_counter() - started
        cpu = server_cpu_seconds(target.pid) - cpu0
        result = {"viewers": n, "connected": len(clients), "failed": failed, "seconds": round(elapsed, 2),
                  "handshakes_per_s": round(len(clients) / elapsed), "server_cpu_ms_per_handshake":
                  round(cpu * 1000 / max(1, len(clients)), 3)}
        if target.kind == "companion" and clients:
            version = (await clients[0].call("get_snapshot", {}))["version"]
            resumed = time.perf_counter()
            acks = await asyncio.gather(*(c.call("get_snapshot", {"since": version}, timeout=60) for c in clients),
                                        return_exceptions=True)
            result["resumed_s"] = round(time.perf_counter() - resumed, 2)
            result["resumed_unchanged"] = sum(1 for a in acks if isinstance(a, dict) and a.get("unchanged"))
            result["back_with_state_s"] = round(elapsed + result["resumed_s"], 2)
        await asyncio.gather(*(c.close() for c in clients))
    return result


QUESTIONS_PER_VIEWER = 5  # a minute, as served (config QUESTIONS_PER_MINUTE_PER_VIEWER's default)


class Askers:
    """Browser-like askers: viewers with their own viewer cookie from `/b/demo`, asking in turn, each at
    most QUESTIONS_PER_VIEWER questions (the per-viewer limit as served; a run lasts under a minute), as
    a real audience's many askers do."""

    def __init__(self, clients: list):
        self.clients, self.asked = clients, 0

    @classmethod
    async def connect(cls, http, url: str, n: int) -> "Askers":
        cookies = await viewer_cookies(http, url, n)
        return cls(await gathered(lambda c=iter(cookies): Client(http, url, cookie=next(c)).connect(), n))

    def take(self) -> "Client | None":
        """The asker for the next question (in turn, so no two questions in flight share one), or None
        when every one has asked its share."""
        if not self.clients or self.asked >= len(self.clients) * QUESTIONS_PER_VIEWER:
            return None
        self.asked += 1
        return self.clients[(self.asked - 1) % len(self.clients)]


async def steady_asking(askers: Askers, rate: float, seconds: float, tag: str) -> list[float]:
    """Open loop: one question every 1/rate s, whatever the acks do; each ack's latency (ms), or inf if refused
    or lost. The latency at an offered rate, which a closed loop cannot show (its latency is its own
    concurrency divided by the throughput)."""
    latencies: list[float] = []

    async def ask(n: int) -> None:
        t0 = time.perf_counter()
        asker = askers.take()
        if asker is None:
            raise RuntimeError("the steady offer ran out of askers: connect more")
        try:
            ack = await asker.call("submit_question", {"text": f"Steady {n}", "client_id": f"steady-{tag}-{n:08d}"})
        except asyncio.TimeoutError:
            ack = {}
        latencies.append((time.perf_counter() - t0) * 1000 if ack.get("ok") else math.inf)
    start, sent, pending = time.perf_counter(), 0, []
    while (now := time.perf_counter()) - start < seconds:
        due = int((now - start) * rate) + 1  # catch up after a late wake-up: the offer stays `rate`
        pending += [asyncio.ensure_future(ask(n)) for n in range(sent, due)]
        sent = due
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*pending)
    return latencies


async def ingest(target: Target, viewers: int, seconds: float, concurrency: int, tag: str, rate: float,
                 askers_n: int) -> dict:
    """Questions submitted, committed and acknowledged per second while `viewers` are connected
    (closed loop: `concurrency` at a time, each sending the next question on its ack), then the ack
    latency at a steady offer of `rate` questions a second (open loop) for half as long. The askers are
    `askers_n` browser-like viewers (`Askers`), each asking its share and no more."""
    async with session() as http:
        audience = await connect_many(http, target.url, viewers)
        pool = await Askers.connect(http, target.url, askers_n)
        # the steady offer's askers are set apart first, so the closed loop cannot use them up
        steady_n = int(rate * seconds / 2 / QUESTIONS_PER_VIEWER) + 2
        steady_askers, askers = Askers(pool.clients[:steady_n]), Askers(pool.clients[steady_n:])
        latencies, acks, failures = [], 0, 0
        counter = itertools.count()
        stop = time.perf_counter() + seconds
        cpu0, server0 = cpu_seconds(), server_cpu_seconds(target.pid)

        exhausted = False

        async def loop():
            nonlocal acks, failures, exhausted
            while time.perf_counter() < stop:
                client = askers.take()
                if client is None:
                    exhausted = True
                    return
                n = next(counter)
                t0 = time.perf_counter()
                try:
                    ack = await client.call("submit_question", {"text": f"Ingest {n}", "client_id": f"ingest-{tag}-{n:08d}"})
                except asyncio.TimeoutError:
                    failures += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if ack.get("ok"):
                    acks += 1
                else:
                    failures += 1
        started, stolen0 = time.perf_counter(), stolen_seconds()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu, server_cpu = cpu_seconds() - cpu0, server_cpu_seconds(target.pid) - server0
        # then the steady offer, on the same connections (the viewers' connect burst is behind us)
        steady = await steady_asking(steady_askers, rate, seconds / 2, tag)
        stolen = (stolen_seconds() - stolen0) / (time.perf_counter() - started) / (os.cpu_count() or 1)
        await asyncio.gather(*(c.close() for c in audience + pool.clients))
    if exhausted:
        raise RuntimeError(f"the closed loop ran out of askers after {acks} acks: raise ingest_askers")
    rows = target.rows()
    steady_acks = sum(1 for v in steady if v != math.inf)
    return {"qps": round(acks / elapsed, 1), "saturated_ack_p50_ms": round(statistics.median(latencies), 1),
            "saturated_ack_p99_ms": round(pct(latencies, 0.99), 1), "steady_rate": rate,
            "ack_p50_ms": round(statistics.median(steady), 1), "ack_p99_ms": round(pct(steady, 0.99), 1),
            "acks": acks + steady_acks, "refused": failures + len(steady) - steady_acks,
            "rows": rows, "lost": (acks + steady_acks - rows) if rows >= 0 else None,
            "askers": askers_n, "questions_per_asker": QUESTIONS_PER_VIEWER,
            "generator_cpu_s": round(cpu, 2), "server_cpu_share": round(server_cpu / elapsed, 2),
            "stolen_share": round(stolen, 3)}


async def prompter_under_load(target: Target, viewers: int, qps: float, rounds: int, processes: int) -> dict:
    """Moderator -> teleprompter latency while `viewers` are connected and `qps` questions a second
    arrive. The viewers are read by `processes` generator processes (`Audience`): in this process,
    reading their copies of each round's broadcast held up the speaker's event in 3 rounds of 20
    by 19-41 ms, after the server had sent it 6-8 ms from the moderator's action."""
    async with session() as http, Audience(target.url, viewers, processes) as audience:
        moderator = await staff(http, target)
        speaker = await staff(http, target, "speaker")
        ids = await approved_questions(http, target, moderator, 2, "prompt")
        # browser-like askers for the run's length (about 0.5 s a round), each asking its share
        askers = await Askers.connect(http, target.url, int(qps * (rounds * 0.5 + 3) / QUESTIONS_PER_VIEWER) + 10)
        arrived = asyncio.Event()
        speaker.on("prompter_changed", lambda _body: arrived.set())
        running = True
        acks: list[float] = []

        async def ask(n: int):
            asker = askers.take()
            if asker is None:
                return  # the run outlasted its askers: the offer stops (questions_acked says so)
            t0 = time.perf_counter()
            await asker.call("submit_question", {"text": f"Load {n}", "client_id": f"load-{n:08d}"}, timeout=30)
            acks.append((time.perf_counter() - t0) * 1000)

        async def background():
            n = 0
            while running:
                n += 1
                asyncio.ensure_future(ask(n))
                await asyncio.sleep(1 / qps)
        feeder = asyncio.ensure_future(background())
        await asyncio.sleep(1)
        latencies, cpu0 = [], cpu_seconds() + await audience.cpu_seconds()
        for r in range(rounds):
            arrived.clear()
            t0 = time.perf_counter()
            asyncio.ensure_future(moderator.call("send_to_air", {"id": ids[r % 2], "finish_current": "defer"}))
            # several prompter updates may be in flight (questions arriving): wait for the one after t0
            await asyncio.wait_for(arrived.wait(), 30)
            latencies.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.3)
        running = False
        feeder.cancel()
        cpu = cpu_seconds() + await audience.cpu_seconds() - cpu0
        await asyncio.gather(*(c.close() for c in askers.clients + [moderator, speaker]))
    # the background questions' acks: ingest latency at a steady offer (open loop), not at saturation
    return {"p50_ms": round(statistics.median(latencies), 1), "p99_ms": round(pct(latencies, 0.99), 1),
            "rounds": rounds, "question_ack_p50_ms": round(statistics.median(acks), 1) if acks else None,
            "question_ack_p99_ms": round(pct(acks, 0.99), 1) if acks else None, "questions_acked": len(acks),
            "generator_cpu_s": round(cpu, 2)}


async def votes(target: Target, viewers: int, rate: float, seconds: float) -> dict:
    """Vote-count broadcasts a viewer receives while `rate` votes a second arrive; final counts exact."""
    async with session() as http:
        moderator = await staff(http, target)
        questions = await approved_questions(http, target, moderator, 50, "votes")
        cookies = []
        voters_n = int(rate * seconds / len(questions)) + 1
        for _ in range(voters_n):
            async with http.get(target.url + "/b/demo") as response:
                cookie = response.cookies.get("session")
                cookies.append(f"session={cookie.value}" if cookie else None)
        voters = [await Client(http, target.url, cookie=c).connect() for c in cookies]
        audience = await connect_many(http, target.url, viewers)
        observer = audience[0]
        events, final = [], {}

        def on_votes(body: str):
            events.append(time.perf_counter())
            final.update(json.loads(body)[1]["votes"])
        observer.on("votes_changed", on_votes)
        pairs = [(v, q) for v in voters for q in questions][: int(rate * seconds)]
        ok = 0
        cpu0 = cpu_seconds()
        started = time.perf_counter()

        async def cast(i: int, voter: Client, qid: int):
            nonlocal ok
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            ack = await voter.call("vote", {"question_id": qid}, timeout=30)
            ok += bool(ack.get("ok"))
        await asyncio.gather(*(cast(i, v, q) for i, (v, q) in enumerate(pairs)))
        elapsed = time.perf_counter() - started
        await asyncio.sleep(1)  # the last coalesced update
        cpu = cpu_seconds() - cpu0
        await asyncio.gather(*(c.close() for c in audience + voters + [moderator]))
    window = [t for t in events if started <= t <= started + elapsed]
    return {"broadcasts_per_s": round(len(window) / elapsed, 2), "votes_per_s": round(len(pairs) / elapsed, 1),
            "votes_ok": ok, "final_count_sum": sum(final.values()), "exact": sum(final.values()) == ok,
            "generator_cpu_s": round(cpu, 2)}


def moderator_desk(target: Target, n: int) -> dict:
    """In Chromium: the moderator screen with `n` questions, first render and one new question."""
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from companion.testing.setup import chromium_path
    from companion.testing.liveserver import seed_questions
    seed_questions(target.server, n)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        name, value = target.cookie("mod").split("=", 1)
        context.add_cookies([{"name": name, "value": value, "url": target.url}])
        page = context.new_page()
        page.goto(target.url + "/moderate/demo")
        page.wait_for_function("() => document.documentElement.dataset.renderMs !== undefined", timeout=120_000)
        render = float(page.evaluate("document.documentElement.dataset.renderMs"))
        updates = []
        import requests
        for i in range(5):
            count = int(page.inner_text("[data-count=incoming]"))
            requests.post(f"{target.url}/api/v1/broadcasts/demo/questions", json={"text": f"Live {i}"}, timeout=10)
            page.wait_for_function(f"() => +document.querySelector('[data-count=incoming]').textContent === {count + 1}")
            updates.append(float(page.evaluate("document.documentElement.dataset.updateMs")))
        browser.close()
    return {"render_ms": render, "update_ms": round(statistics.median(updates), 2)}


NETWORK = ("held", "f1", "f3", "ingest", "prompter", "votes", "storm")  # in the order a run measures them
# after them, on servers of their own: "redis" (ours across processes, `redis_fanout`), "desk" (Chromium)
PAIRED = ("f1", "f3")  # on both servers at once, rounds alternating (see `fanout`)


@contextlib.contextmanager
def servers(kinds: list[str]):
    """Fresh servers of these kinds ("companion" or one of PEERS), each in a temporary folder: {kind: Target}."""
    targets: dict[str, Target] = {}
    try:
        for kind in kinds:
            targets[kind] = Target(kind, Path(tempfile.mkdtemp(prefix=f"companion-bench-{kind}-"))).start()
        yield targets
    finally:
        for target in targets.values():
            target.stop()
            shutil.rmtree(target.tmp, ignore_errors=True)


async def measure(name: str, targets: dict[str, Target], size: dict, tag: str) -> dict[str, dict]:
    """One of the NETWORK metrics at this mode's sizes, on each of `targets` it applies to (the
    peers have the fan-out and the connect storm only): {kind: result}. `tag` keeps each run's questions apart."""
    if name in ("held", "f1", "f3"):
        rounds, n, processes = 3 if name == "held" else size["rounds"], size[name], size["generators"]
        if name in PAIRED:
            return dict(zip(targets, await fanout(list(targets.values()), n, rounds, processes)))
        return {kind: (await fanout([target], n, rounds, processes))[0] for kind, target in targets.items()}
    if name == "storm":
        return {kind: await connect_storm(target, size["storm"]) for kind, target in targets.items()}
    ours = targets.get("companion")
    if ours is None:
        return {}
    if name == "ingest":
        return {"companion": await ingest(ours, size["ingest_viewers"], size["ingest_s"], 50, tag, size["ingest_rate"],
                                          size["ingest_askers"])}
    if name == "prompter":
        return {"companion": await prompter_under_load(ours, size["prompter_viewers"], size["prompter_qps"],
                                                       size["rounds"], size["generators"])}
    if name == "votes":
        return {"companion": await votes(ours, size["vote_viewers"], size["vote_rate"], size["vote_s"])}
    raise ValueError(f"unknown metric {name!r}")


def run_network(names, kinds: list[str], size: dict, tag: str, raw: dict) -> None:
    """One run: fresh servers of `kinds`, the named metrics in NETWORK order (and the moderator
    screen, "desk", last: it seeds 10,000 questions); results appended to raw[kind][metric]."""
    with servers(kinds) as targets:
        async def network():
            for name in NETWORK:
                if name in names:
                    for kind, result in (await measure(name, targets, size, tag)).items():
                        raw.setdefault(kind, {}).setdefault(name, []).append(result)
        asyncio.run(network())
        if "desk" in names and "companion" in targets:
            raw["companion"].setdefault("desk", []).append(moderator_desk(targets["companion"], size["desk"]))
    if "redis" in names and "companion" in kinds:  # once the single-process servers have stopped
        tmp = Path(tempfile.mkdtemp(prefix="companion-bench-redis-"))
        try:
            raw.setdefault("companion", {}).setdefault("redis", []).append(
                asyncio.run(redis_fanout(tmp, size["redis"], size["rounds"], size["generators"])))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    for kind in kinds:
        print(kind, json.dumps({k: v[-1] for k, v in raw.get(kind, {}).items()}), flush=True)


def summarise(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2),
            "runs": len(values)}


def ratio(ours: list[dict], peer: list[dict], key: str = "p99_ms") -> dict:
    """Ours over the peer's, run by run (both measured in the same run), summarised."""
    return summarise([a[key] / max(b[key], 0.1) for a, b in zip(ours, peer)])


def loadavg() -> str:
    """The machine's load average (1, 5, 15 minutes) as /proc/loadavg gives it: the figures of a shared
    machine come with how busy it was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def peer_figures(raw: dict, peers: list[str]) -> dict:
    """Per kind (ours and each peer): the fan-out p99 at each size measured (10,000 from `held`), the
    first viewer's latency, the ratio of ours to the peer run by run, the storm; whatever `raw` has."""
    sizes = {"f1": "1000", "f3": "3000", "held": "10000"}
    figures = {}
    for kind in ["companion", *peers]:
        runs, mine = raw.get(kind, {}), {}
        for name, n in sizes.items():
            if runs.get(name):
                mine[f"fanout_p99_ms_{n}"] = summarise([f["p99_ms"] for f in runs[name]])
                mine[f"fanout_p50_ms_{n}"] = summarise([f["p50_ms"] for f in runs[name]])
                mine[f"first_viewer_p50_ms_{n}"] = summarise([f["first_p50_ms"] for f in runs[name]])
                mine[f"first_viewer_p99_ms_{n}"] = summarise([f["first_p99_ms"] for f in runs[name]])
                if name == "held":
                    mine["viewers_held"] = summarise([h["connected"] if h["all_received_rounds"] == h["rounds"] else 0
                                                      for h in runs[name]])
                    mine["rss_kb_per_viewer"] = summarise([h["rss_kb_per_viewer"] for h in runs[name]])
                ours = raw.get("companion", {}).get(name)
                if kind != "companion" and ours and name in PAIRED:  # paired: the same runs, rounds alternating
                    mine[f"fanout_ratio_vs_{kind}_{n}"] = ratio(ours, runs[name])
                    mine[f"fanout_p50_ratio_vs_{kind}_{n}"] = ratio(ours, runs[name], "p50_ms")
        if runs.get("redis"):  # ours across processes (`redis_fanout`)
            mine["fanout_p99_ms_3x3000_redis"] = summarise([f["p99_ms"] for f in runs["redis"]])
            mine["fanout_p50_ms_3x3000_redis"] = summarise([f["p50_ms"] for f in runs["redis"]])
            mine["first_viewer_p50_ms_3x3000_redis"] = summarise([f["first_p50_ms"] for f in runs["redis"]])
            mine["redis_publishes_per_on_air"] = summarise([f["publishes_per_round"] for f in runs["redis"]])
        if runs.get("storm"):
            mine["storm_handshakes_per_s"] = summarise([x["handshakes_per_s"] for x in runs["storm"]])
            mine["storm_server_cpu_ms_per_handshake"] = summarise([x["server_cpu_ms_per_handshake"] for x in runs["storm"]])
        figures[kind] = mine
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few hundred clients, one run each (CI)")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--only", default=None,
                        help="comma-separated subset of held,f1,f3,ingest,prompter,votes,storm,desk,redis (ours, unless --peer "
                             "or --with-peer; a quick re-run while working, printed, not written to latest.json)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per timed metric (default 20; smoke 3)")
    parser.add_argument("--peer", action="store_true", help="with --only: measure the peers instead (fan-out "
                                                                "metrics and the storm; the peers have no database)")
    parser.add_argument("--with-peer", action="store_true", help="with --only: measure ours and the peers "
                                                                     "(f1 and f3 with rounds alternating, as full runs do)")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated peers to measure beside ours (default {','.join(PEERS)})")
    parser.add_argument("--generators", type=int, default=min(os.cpu_count() or 1, 4),
                        help="processes that read the fan-out and teleprompter metrics' viewers (default: one per "
                             "core, at most 4)")
    parser.add_argument("--audience", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)  # one of them
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 10,000 sockets on each side
    if args.audience:
        import uvloop  # the event loop of libuv, as Node's: the generator's cost per message down again by a third
        uvloop.run(audience_process(args.audience[0], int(args.audience[1])))
        return
    smoke = args.smoke
    runs = args.runs or (1 if smoke else 3)
    size = {"held": 200 if smoke else 10_000, "f1": 100 if smoke else 1000, "f3": 200 if smoke else 3000,
            "rounds": 3 if smoke else 20, "ingest_viewers": 50 if smoke else 1000, "ingest_s": 2 if smoke else 10,
            "ingest_rate": 50 if smoke else 500, "ingest_askers": 1000 if smoke else 4000,
            "prompter_viewers": 100 if smoke else 2000, "prompter_qps": 10 if smoke else 100,
            "vote_viewers": 50 if smoke else 1000, "vote_rate": 100 if smoke else 1000, "vote_s": 1 if smoke else 5,
            "desk": 500 if smoke else 10_000, "redis": 20 if smoke else 3000, "storm": 300 if smoke else 10_000, "appeals_rows": 1000 if smoke else 1_000_000,
            "generators": args.generators}
    if args.rounds:
        size["rounds"] = args.rounds
    install_peers()
    results: dict = {"mode": "smoke" if smoke else "full", "runs": runs, "sizes": size,
                     "machine": f"{os.cpu_count()} cores", "host_reference_ms": host_reference_ms(),
                     "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    raw: dict = {}

    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    if args.only:
        kinds = ["companion", *peers] if args.with_peer else peers if args.peer else ["companion"]
        for r in range(runs):
            run_network(args.only.split(","), kinds, size, f"o{r}", raw)
        if args.out:  # a partial run's figures, for docs/performance.md (never latest.json unless asked)
            results.update(raw=raw, peers=peer_figures(raw, peers), loadavg=loadavg())
            Path(args.out).write_text(json.dumps(results, indent=2))
            print(json.dumps(results["peers"], indent=2))
            print(f"wrote {args.out}")
        return
    for r in range(runs):
        print(f"run {r + 1}/{runs}", flush=True)
        run_network(NETWORK + ("desk", "redis"), ["companion", *peers], size, f"r{r}", raw)

    ours, node = raw["companion"], raw["node"]
    held_ok = [h["connected"] if h["all_received_rounds"] == h["rounds"] else 0 for h in ours["held"]]
    metrics = {
        "viewers_held": summarise(held_ok),
        "rss_kb_per_viewer": summarise([h["rss_kb_per_viewer"] for h in ours["held"]]),
        "fanout_p99_ms_1000": summarise([f["p99_ms"] for f in ours["f1"]]),
        "fanout_p99_ms_3000": summarise([f["p99_ms"] for f in ours["f3"]]),
        "fanout_ratio_vs_node_3000": ratio(ours["f3"], node["f3"]),
        # across processes: 3 `serve` processes, the Redis message queue, `sizes.redis` viewers on each
        "fanout_p99_ms_3x3000_redis": summarise([f["p99_ms"] for f in ours["redis"]]),
        "fanout_p50_ms_3x3000_redis": summarise([f["p50_ms"] for f in ours["redis"]]),
        "redis_publishes_per_on_air": summarise([f["publishes_per_round"] for f in ours["redis"]]),
        "ingest_qps": summarise([i["qps"] for i in ours["ingest"]]),
        "ingest_ack_p99_ms": summarise([i["ack_p99_ms"] for i in ours["ingest"]]),
        "ingest_lost": summarise([i["lost"] for i in ours["ingest"]]),
        "prompter_p99_ms_under_load": summarise([p["p99_ms"] for p in ours["prompter"]]),
        # not a target key: ack latency at the prompter metric's steady offer (sizes.prompter_qps), open loop
        "ingest_ack_p99_ms_open_loop": summarise([p["question_ack_p99_ms"] for p in ours["prompter"]]),
        "vote_broadcasts_per_s_at_1000_votes_per_s": summarise([v["broadcasts_per_s"] for v in ours["votes"]]),
        "storm_handshakes_per_s": summarise([x["handshakes_per_s"] for x in ours["storm"]]),
        "storm_server_cpu_ms_per_handshake": summarise([x["server_cpu_ms_per_handshake"] for x in ours["storm"]]),
        "storm_back_with_state_s": summarise([x["back_with_state_s"] for x in ours["storm"]]),
        "moderator_render_ms_10k": summarise([d["render_ms"] for d in ours["desk"]]),
        "moderator_update_ms_10k": summarise([d["update_ms"] for d in ours["desk"]]),
    }
    sys.argv = [sys.argv[0], "--db", "postgresql", "--rows", str(size["appeals_rows"]), "--rounds", str(runs),
                "--requests", "5" if smoke else "50", "--out", str(Path(tempfile.mkdtemp()) / "appeals.json")]
    import appeals as appeals_bench  # bench/appeals.py
    appeals_out = Path(sys.argv[-1])
    appeals_bench.main()
    pg = json.loads(appeals_out.read_text())["postgresql"]
    metrics["appeals_page_p95_ms_1m_pg"] = {"median": pg["first_page_officer_department"]["p95_ms"],
                                            "min": pg["first_page_officer_department"]["p95_min_ms"],
                                            "max": pg["first_page_officer_department"]["p95_max_ms"], "runs": runs}
    results["metrics"] = metrics
    results["peers"] = peer_figures(raw, peers)
    results["node_peer"] = results["peers"]["node"]  # as earlier results files have it
    for kind in peers:  # the ratios to every peer and their first viewers, next to ours
        metrics.update({k: v for k, v in results["peers"][kind].items() if k.startswith("fanout_ratio")})
    metrics.update({k: v for k, v in results["peers"]["companion"].items() if k.startswith("first_viewer")})
    results["loadavg"] = loadavg()
    results["raw"] = raw
    for key in KEYS:
        results[key] = metrics[key]["median"]
    out = Path(args.out or ROOT / "bench" / "results" / ("smoke.json" if smoke else "latest.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: results[k] for k in KEYS}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "bench"))
    main()
