"""The Engine.IO WebSocket transport as served in production (eventlet), seen from a raw client:
the frames on the wire, not what a Socket.IO library makes of them."""
from __future__ import annotations

import base64
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from companion.testing.liveserver import ROOT, LiveServer, Recorder

BROWSER_EXTENSIONS = "permessage-deflate; client_max_window_bits"  # what Chromium offers


class RawViewer:
    """A WebSocket client that shows each frame's header bits, and can stop reading."""

    def __init__(self, url: str, extensions: str | None = BROWSER_EXTENSIONS, cookie: str | None = None,
                 receive_buffer: int | None = None):
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.socket()
        if receive_buffer:  # set before connecting: it bounds the window the server may fill
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", f"Host: {host}:{port}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if extensions:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        if cookie:
            lines.append(f"Cookie: {cookie}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        self.status, *headers = head.decode().split("\r\n")[:-2]
        self.headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in headers)}

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def frame(self) -> tuple[int, bytes]:
        """The next frame: (its first header byte, its payload)."""
        first, second = self._exact(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._exact(8))[0]
        return first, self._exact(length)

    def text(self) -> str:
        """The next text message, answering the server's pings on the way."""
        while True:
            first, payload = self.frame()
            message = payload.decode()
            if message == "2":
                self.send("3")
                continue
            return message

    def messages_until(self, seconds: float, answer_pings: bool) -> tuple[list[str], bool]:
        """Every text message for `seconds` (pings included) and whether the server closed meanwhile."""
        deadline, seen = time.monotonic() + seconds, []
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                try:
                    first, payload = self.frame()
                except socket.timeout:
                    break
                if first & 0x0F == 0x8:  # a close frame
                    return seen, True
                seen.append(payload.decode())
                if answer_pings and seen[-1] == "2":
                    self.send("3")
        except (ConnectionError, OSError):
            return seen, True
        finally:
            self.sock.settimeout(10)
        return seen, False

    def send(self, message: str) -> None:
        self.send_frame(0x1, message.encode())

    def send_frame(self, opcode: int, data: bytes, final: bool = True) -> None:
        mask = os.urandom(4)
        header = bytes([opcode | (0x80 if final else 0)]) + (
            bytes([0x80 | len(data)]) if len(data) < 126 else bytes([0x80 | 126]) + struct.pack("!H", len(data)))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def join(self, auth: dict | None = None) -> None:
        assert self.text().startswith("0{")  # Engine.IO open
        self.send("40" + json.dumps(auth or {"slug": "demo"}))
        assert self.text().startswith("40")

    def close(self) -> None:
        self.sock.close()


def test_websocket_compression_is_declined_so_a_browser_viewer_costs_no_compressor(any_server):
    """Browsers offer permessage-deflate. Accepting it (eventlet did) gave each viewer a zlib
    compressor of its own (100 KB more per viewer, measured) and compressed every broadcast once
    per viewer. The handshake declines it, and frames go out uncompressed (RSV1 clear)."""
    viewer = RawViewer(any_server.url)
    try:
        assert viewer.status.startswith("HTTP/1.1 101")
        assert "sec-websocket-extensions" not in viewer.headers
        first, payload = viewer.frame()
        assert first == 0x81  # final text frame, no compression bit (0x40)
        assert payload.startswith(b'0{"sid"')
    finally:
        viewer.close()


def test_a_viewer_that_stops_reading_holds_up_no_one_and_later_gets_every_event_in_order(tmp_path):
    """Broadcasts are written to each connection without waiting. A viewer whose connection is full
    (a 2 KB receive window, not read: a phone in a tunnel) gets the rest queued for it, in order; the
    other viewers get each event meanwhile; once it reads again, nothing is missing or reordered."""
    server = LiveServer(tmp_path, QUESTIONS_PER_MINUTE_PER_VIEWER=10_000, QUESTIONS_PER_MINUTE_PER_ADDRESS=10_000,
                        EVENTS_PER_SECOND_PER_CONNECTION=10_000).start()
    moderator = Recorder(server.url, "/staff", server.login("mod"))
    asker = Recorder(server.url, "/", server.viewer_cookie())
    fast = Recorder(server.url, "/", server.viewer_cookie())
    slow = RawViewer(server.url, receive_buffer=2048)
    try:
        slow.join()
        words = random.Random(7).choices("road school water bus light park clinic heating yard snow".split(), k=20_000)
        ids = []
        for i in range(120):  # each approval's event carries the question's ~900 characters: 110 KB in all
            text = f"{i:03d} " + " ".join(words[i * 150:(i + 1) * 150])[:900]
            ack = asker.call("submit_question", {"text": text, "client_id": f"slow-{i:04d}"})
            assert ack["ok"], ack
            ids.append(ack["question"]["id"])
        start = fast.call("get_snapshot", {})["version"]
        for qid in ids:
            assert moderator.call("approve", {"id": qid})["ok"]
        fast.wait_for("feed_changed", lambda d: d["version"] == start + len(ids), timeout=15)
        assert [d["version"] for e, d in list(fast.events) if e == "feed_changed"] == \
            list(range(start + 1, start + len(ids) + 1))

        events, deadline = [], time.monotonic() + 30
        while len(events) < len(ids) and time.monotonic() < deadline:
            message = slow.text()
            if message.startswith('42["feed_changed",'):
                body = json.loads(message[2:])[1]
                if body["version"] > start:
                    events.append(body)
        assert [e["version"] for e in events] == list(range(start + 1, start + len(ids) + 1))
        assert [e["questions"][0]["id"] for e in events] == ids
        assert all(len(e["questions"][0]["text"]) > 800 for e in events)
    finally:
        for client in (moderator, asker, fast):
            client.close()
        slow.close()
        server.stop()


def test_pings_keep_an_answering_viewer_and_close_a_silent_one(tmp_path):
    """The server pings every connection (timers, not a sleeping task per viewer). A viewer that
    answers stays connected; one that stops answering is closed after the ping timeout."""
    server = LiveServer(tmp_path, PING_INTERVAL_SECONDS=1, PING_TIMEOUT_SECONDS=1).start()
    answering, silent = RawViewer(server.url), RawViewer(server.url)
    try:
        answering.join()
        silent.join()
        with ThreadPoolExecutor(2) as pool:
            kept = pool.submit(answering.messages_until, 6, answer_pings=True)
            dropped = pool.submit(silent.messages_until, 6, answer_pings=False)
            (kept_seen, kept_closed), (dropped_seen, dropped_closed) = kept.result(), dropped.result()
        assert not kept_closed and kept_seen.count("2") >= 4, kept_seen
        assert dropped_seen[:1] == ["2"] and dropped_closed, dropped_seen
    finally:
        answering.close()
        silent.close()
        server.stop()



def test_a_silent_client_is_closed_when_its_pong_is_overdue_not_a_sweep_later(tmp_path):
    """The pong is due within the ping timeout after each ping. python-engineio's own sweep looks at
    each socket once per ping timeout, so a silent client lived up to twice the timeout (37 s of a
    documented 20 were seen); each of four silent viewers must be closed within half a second of it."""
    server = LiveServer(tmp_path, PING_INTERVAL_SECONDS=1, PING_TIMEOUT_SECONDS=2).start()
    viewers = [RawViewer(server.url) for _ in range(4)]

    def ping_to_close(viewer: RawViewer) -> float:
        viewer.join()
        viewer.sock.settimeout(10)
        pinged = None
        try:
            while True:
                first, payload = viewer.frame()
                if first & 0x0F == 0x8:
                    break
                if payload == b"2" and pinged is None:
                    pinged = time.monotonic()
        except (ConnectionError, OSError):
            pass
        return time.monotonic() - pinged
    try:
        with ThreadPoolExecutor(4) as pool:
            lived = list(pool.map(ping_to_close, viewers))
        assert all(2.0 <= seconds < 4 for seconds in lived), lived  # closed on time: not early, and not never
    finally:
        for viewer in viewers:
            viewer.close()
        server.stop()


def test_on_sigterm_every_transport_gets_the_drain_grace_an_upgraded_one_too(tmp_path):
    """Connections that upgraded from long-polling are served by eventlet's own WebSocket handling,
    which flagged them idle, and a stopping eventlet server shuts idle connections at once: they
    were closed 0.2 s after SIGTERM while the others had the grace to finish acknowledgements."""
    import signal
    import socketio

    server = LiveServer(tmp_path, DRAIN_GRACE_MS=1000).start()
    cookie, closed, clients = server.viewer_cookie(), {}, {}
    for name, transports in (("websocket", ["websocket"]), ("upgraded", ["polling", "websocket"]),
                             ("polling", ["polling"])):
        client = socketio.Client(reconnection=False)
        client.on("disconnect", lambda *_, name=name: closed.setdefault(name, time.monotonic()))
        client.connect(server.url, headers={"Cookie": cookie}, auth={"slug": "demo"}, transports=transports)
        clients[name] = client
    try:
        deadline = time.monotonic() + 10
        while clients["upgraded"].transport() != "websocket" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert clients["upgraded"].transport() == "websocket"
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(15)
        time.sleep(0.5)
        after = {name: closed.get(name, float("inf")) - signalled for name in clients}
        assert all(0.8 <= seconds < 5 for seconds in after.values()), after
    finally:
        for client in clients.values():
            client.disconnect()
        server.stop()


BACKLOG_SCRIPT = r"""
import eventlet
eventlet.monkey_patch()
import socket
import struct
from companion.serve import _hub_websockets

Link = _hub_websockets(100).Link
server_side, viewer_side = eventlet.green.socket.socketpair()
server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
viewer_side.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
link = Link(None, server_side)  # no engineio socket: this viewer only reads
messages = [f"4{i:05d}" + "x" * 1000 for i in range(300)]
queued = []
for message in messages:  # no green thread runs in between: the viewer reads nothing yet
    link.write(message)
    queued.append(link.backlog is not None)
link.close()  # waits for the backlog, then the close frame

def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = viewer_side.recv(n - len(data))
        assert chunk, "closed early"
        data += chunk
    return data

received = []
while True:
    first, second = read_exact(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", read_exact(2))[0]
    payload = read_exact(length)
    if first & 0x0F == 0x8:
        break
    received.append(payload.decode())
print(queued.index(True), received == messages, link.backlog is None, link.closed)
"""


def test_frames_that_do_not_fit_wait_in_a_backlog_and_leave_in_order():
    """The writer behind every viewer, on a real socket pair under eventlet: 300 frames of 1 KB to a
    viewer that reads nothing yet. The first few fit the kernel's buffers, the rest wait in the
    connection's backlog; a green thread sends them once the viewer reads, all in order, then the
    close frame asked for meanwhile."""
    out = subprocess.run([sys.executable, "-c", BACKLOG_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    first_queued, in_order, drained, closed = out.stdout.split()
    assert 0 < int(first_queued) < 300  # some were written at once, the rest waited
    assert (in_order, drained, closed) == ("True", "True", "True")


BUFFERS_SCRIPT = r"""
import eventlet
eventlet.monkey_patch()
import json
import sys
import eventlet.websocket
import eventlet.wsgi
import websocket  # websocket-client, green under the patch
from companion.serve import protocol_class

seen = {}

@eventlet.websocket.WebSocketWSGI
def echo(ws):
    seen["websocket"] = sys.getsizeof(ws.environ["eventlet.input"].rfile)  # includes its buffer
    ws.send(ws.wait())

def app(environ, start_response):
    if environ.get("HTTP_UPGRADE"):
        return echo(environ, start_response)
    seen["page"] = sys.getsizeof(environ["eventlet.input"].rfile)
    body = b"x" * 50_000
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]

listener = eventlet.listen(("127.0.0.1", 0))
eventlet.spawn(eventlet.wsgi.server, listener, app, log_output=False, protocol=protocol_class())
port = listener.getsockname()[1]
ws = websocket.create_connection(f"ws://127.0.0.1:{port}/")
ws.send("hello")
seen["echo"] = ws.recv()
ws.close()
refused = eventlet.connect(("127.0.0.1", port))  # an upgrade without a key: refused with a 400
refused.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n")
seen["refused"] = refused.recv(100).split(b"\r\n")[0].decode()
page = eventlet.connect(("127.0.0.1", port))
page.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
answer = b""
while chunk := page.recv(65536):
    answer += chunk
seen["page_body"] = len(answer.split(b"\r\n\r\n", 1)[1])
print(json.dumps(seen))
"""


def test_a_websocket_gives_back_its_request_buffers_after_the_handshake():
    """Each connection has 2 KB read and write buffers for requests. A WebSocket needs them only
    for its handshake, then reads and writes the socket itself for hours: they are swapped for
    small ones (4.5 KB less per viewer). Pages keep theirs; the echo works; a refused handshake
    still gets its answer."""
    out = subprocess.run([sys.executable, "-c", BUFFERS_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["websocket"] < 512 < 2048 <= seen["page"], seen
    assert seen["echo"] == "hello"
    assert seen["refused"].startswith("HTTP/1.1 400"), seen
    assert seen["page_body"] == 50_000


def test_viewers_who_join_together_are_not_pinged_in_the_same_instant(tmp_path):
    """Thousands of viewers join within seconds (a broadcast starts, a process restarts). Their
    first pings are spread over the second half of the interval, so their answers do not arrive in
    one burst; none comes later than the interval the client was promised."""
    server = LiveServer(tmp_path, PING_INTERVAL_SECONDS=4, PING_TIMEOUT_SECONDS=4).start()
    viewers = [RawViewer(server.url) for _ in range(12)]
    try:
        joined = time.monotonic()
        for viewer in viewers:
            viewer.join()

        def first_ping(viewer: RawViewer) -> float:
            assert viewer.frame()[1] == b"2"  # nothing else is sent to a viewer who only listens
            return time.monotonic() - joined
        with ThreadPoolExecutor(len(viewers)) as pool:
            delays = sorted(pool.map(first_ping, viewers))
        assert 1.5 < delays[0] and delays[-1] < 4.5, delays
        assert delays[-1] - delays[0] > 0.4, delays  # 12 uniform draws over 2 s: all within 0.4 s has odds of ~1e-6
    finally:
        for viewer in viewers:
            viewer.close()
        server.stop()


def test_a_viewer_holds_no_green_thread_and_leaving_ends_its_session(tmp_path):
    """Once its handshake is answered a WebSocket is held by the hub: 60 viewers add no green
    thread (python-engineio's own transport held three per viewer: reader, writer, pinger). When
    they leave, their sessions end (the server's connection count is back where it was), and so
    do their ping timers: a departed viewer's timer used to wake the hub and start a green thread
    when it came due (when 10,000 viewers left, 5 % of a core for the next 20 s)."""
    server = LiveServer(tmp_path, DIAGNOSTICS="true").start()
    viewers = []
    try:
        before = server.health()
        for _ in range(60):
            viewers.append(RawViewer(server.url))
            viewers[-1].join()
        during = server.health()
        assert during["connections"] == before["connections"] + 60
        assert during["green_threads"] - before["green_threads"] < 10, (before, during)
        assert during["hub_timers"] >= before["hub_timers"] + 60, (before, during)  # one ping timer each
        for viewer in viewers:
            viewer.close()
        deadline = time.monotonic() + 10
        while server.health()["connections"] != before["connections"] and time.monotonic() < deadline:
            time.sleep(0.1)
        after = server.health()
        assert after["connections"] == before["connections"]
        assert after["hub_timers"] - before["hub_timers"] < 5, (before, after)
    finally:
        for viewer in viewers:
            viewer.close()
        server.stop()


def test_the_hub_reads_fragments_answers_pings_and_closes_on_broken_frames(server):
    """RFC 6455 as the hub reads it: a WebSocket ping gets its pong, an event split over two frames
    is answered, and a frame a client may not send (unmasked), or one over the size limit, closes
    the connection with the matching code at once (the oversized payload is never sent)."""
    viewer, big = RawViewer(server.url), RawViewer(server.url)
    try:
        viewer.join()
        viewer.send_frame(0x9, b"hi")
        assert viewer.frame() == (0x8A, b"hi")
        message = b'421["get_snapshot",{}]'
        viewer.send_frame(0x1, message[:7], final=False)
        viewer.send_frame(0x0, message[7:])
        assert viewer.text().startswith("431[{")
        viewer.sock.sendall(bytes([0x81, 2]) + b"42")  # not masked
        first, payload = viewer.frame()
        assert first == 0x88 and payload[:2] == struct.pack("!H", 1002)
        assert viewer.sock.recv(10) == b""

        big.join()
        big.sock.sendall(bytes([0x81, 0xFF]) + struct.pack("!Q", 2_000_000) + os.urandom(4))
        first, payload = big.frame()
        assert first == 0x88 and payload[:2] == struct.pack("!H", 1009)
        assert big.sock.recv(10) == b""
    finally:
        viewer.close()
        big.close()


def probe_latencies(url: str, seconds: float) -> list[float]:
    """How long /healthz takes, asked again and again for `seconds`."""
    import requests
    latencies, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            requests.get(url + "/healthz", timeout=15)
        except requests.RequestException:
            pass
        latencies.append(time.monotonic() - started)
        time.sleep(0.02)
    return latencies


def test_empty_continuation_frames_from_anonymous_sockets_do_not_stall_the_server(server):
    """Issue 19, item 1: 60,000 empty non-final continuation frames (360 KB) from one socket stalled
    /healthz up to 7.2 s; four froze the server. Now each socket is closed (1009) after 64 fragments,
    and a probe asked meanwhile answers at once."""
    floods = [RawViewer(server.url) for _ in range(4)]
    for flood in floods:
        flood.join()
    mask = os.urandom(4)
    empty = bytes([0x00, 0x80]) + mask  # a masked, empty, non-final continuation frame
    with ThreadPoolExecutor(5) as pool:
        probe = pool.submit(probe_latencies, server.url, 4.0)
        time.sleep(0.3)
        sent = []
        for flood in floods:
            flood.send_frame(0x1, b"4", final=False)
            sent.append(pool.submit(lambda f: f.sock.sendall(empty * 60_000), flood))
        latencies = probe.result()
    closes = []
    for flood in floods:
        try:
            first, payload = flood.frame()
            closes.append((first, payload[:2]))
        except (ConnectionError, OSError):
            closes.append(None)
        flood.close()
    assert closes == [(0x88, struct.pack("!H", 1009))] * 4
    assert max(latencies) < 0.5, sorted(latencies)[-5:]


def test_binary_frames_and_attachments_are_refused_and_hold_no_memory(server):
    """Issue 19, item 2: a binary event announcing 999,999,999,999 attachments, then 65,000-byte
    binary frames: python-socketio kept every one (802 MB in 9.4 s). The app uses no binary data:
    the announcement ends the connection, and so does any binary frame."""
    def rss() -> int:
        status = open(f"/proc/{server.proc.pid}/status").read()
        return int(status.split("VmRSS:")[1].split()[0]) * 1024

    before = rss()
    attacker, binary = RawViewer(server.url), RawViewer(server.url)
    attacker.join()
    attacker.send('451999999999-["submit_question",{"_placeholder":true,"num":0}]')
    seen, closed = attacker.messages_until(3, answer_pings=True)
    assert closed, seen  # the announcement alone ends the session
    assert rss() - before < 8 * 1024 * 1024
    binary.join()
    binary.send_frame(0x2, b"\x04" + b"x" * 100)
    first, payload = binary.frame()
    assert first == 0x88 and payload[:2] == struct.pack("!H", 1003)
    attacker.close()
    binary.close()


def test_long_polling_viewers_hear_a_broadcast_with_the_websocket_ones(server):
    """A broadcast goes to viewers held by the hub in one pass and to a long-polling viewer through
    python-engineio's own queue: both hear it, once."""
    import socketio
    polling = socketio.Client(reconnection=False)
    pushed = []
    polling.on("feed_changed", pushed.append)
    moderator = Recorder(server.url, "/staff", server.login("mod"))
    viewers = [Recorder(server.url, "/", server.viewer_cookie()) for _ in range(3)]
    try:
        polling.connect(server.url, auth={"slug": "demo"}, transports=["polling"], wait_timeout=10)
        assert polling.transport() == "polling"
        ack = moderator.call("add_phone_question", {"text": "Heard on every transport?", "client_id": "transport-0001"})
        assert moderator.call("send_to_air", {"id": ack["question"]["id"]})["ok"]
        for viewer in viewers:
            viewer.wait_for("feed_changed", lambda d: d["questions"][0]["status"] == "on_air")
        deadline = time.monotonic() + 10
        while not pushed and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a second copy would have come by now
        assert [d["questions"][0]["id"] for d in pushed if d["questions"][0]["status"] == "on_air"] == [ack["question"]["id"]]
        assert all(sum(e == "feed_changed" and d["questions"][0]["status"] == "on_air" for e, d in v.events) == 1
                   for v in viewers)
    finally:
        polling.disconnect()
        for client in viewers + [moderator]:
            client.close()


def test_a_viewer_that_starts_on_long_polling_upgrades_and_keeps_working(server):
    """A client that starts on long-polling and upgrades (a network that held WebSockets back at
    first) keeps python-engineio's own WebSocket handling: acknowledgements and pushes still arrive."""
    import socketio
    viewer = socketio.Client(reconnection=False)
    pushed = []
    viewer.on("feed_changed", pushed.append)
    moderator = Recorder(server.url, "/staff", server.login("mod"))
    asker = Recorder(server.url, "/", server.viewer_cookie())
    try:
        viewer.connect(server.url, auth={"slug": "demo"}, transports=["polling", "websocket"], wait_timeout=10)
        deadline = time.monotonic() + 10
        while viewer.transport() != "websocket" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert viewer.transport() == "websocket"
        assert "version" in viewer.call("get_snapshot", {}, timeout=10)
        ack = asker.call("submit_question", {"text": "Upgraded viewers still hear this?", "client_id": "upgrade-0001"})
        assert moderator.call("approve", {"id": ack["question"]["id"]})["ok"]
        deadline = time.monotonic() + 10
        while not pushed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pushed and pushed[-1]["questions"][0]["id"] == ack["question"]["id"]
    finally:
        viewer.disconnect()
        moderator.close()
        asker.close()


def test_the_connection_cap_counts_the_websockets_held_and_frees_a_place_when_one_leaves(tmp_path):
    """WebSockets held by the hub count against COMPANION_MAX_CONNECTIONS (eventlet's own cap
    counts green threads, which they no longer have). A viewer that leaves, with a close frame or by
    dropping the connection, frees its place: three waves of 30 fit under a cap of 40, then a full
    house of 40 is served and the 41st is turned away at once."""
    server = LiveServer(tmp_path, MAX_CONNECTIONS=40).start()
    connections = lambda: server.health()["connections"]  # noqa: E731
    held = []
    try:
        for wave in range(3):
            viewers = [RawViewer(server.url) for _ in range(30)]
            for viewer in viewers:
                viewer.join()
            for i, viewer in enumerate(viewers):
                if i % 2:
                    viewer.send_frame(0x8, struct.pack("!H", 1000))  # a proper close; the others just drop
                viewer.close()
            deadline = time.monotonic() + 10
            while connections() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert connections() == 0, f"wave {wave}"
        for _ in range(40):
            held.append(RawViewer(server.url))
            held[-1].join()
        extra = RawViewer(server.url)
        with pytest.raises(ConnectionError):
            extra.join()
        extra.close()
        assert connections() == 40
    finally:
        for viewer in held:
            viewer.close()
        server.stop()


VANISHING_SCRIPT = r"""
import eventlet
eventlet.monkey_patch()
import socket
from companion.serve import _hub_websockets

Link = _hub_websockets(100).Link

class Session:  # stands in for python-engineio's socket (a library class): records how it was ended
    class server:
        class reason:
            TRANSPORT_CLOSE = "transport close"
    ended = []

    def close(self, wait, abort, reason):
        self.ended.append((wait, abort, reason))

server_side, viewer_side = eventlet.green.socket.socketpair()
server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
viewer_side.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
before = Link.count
link = Link(Session(), server_side)
for i in range(300):
    link.write("4" + "x" * 1000)
waiting = link.backlog is not None
viewer_side.close()  # the phone in the tunnel never comes back
eventlet.sleep(0.5)
print(waiting, link.closed, Session.ended == [(False, True, "transport close")], Link.count == before)
"""


def test_a_viewer_that_vanishes_with_a_backlog_ends_its_session_and_frees_its_place():
    """A viewer whose frames wait in a backlog, and who then vanishes: the connection is closed,
    the Engine.IO session is ended once (in a green thread of its own: its handlers may wait), and
    the connection no longer counts against the cap."""
    out = subprocess.run([sys.executable, "-c", VANISHING_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True", "True"], out.stdout
