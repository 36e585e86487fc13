"""The server entry point: the one seam where the async library (eventlet or gevent) is imported.

`COMPANION_ASYNC_MODE` picks it (eventlet by default). The module patches the standard library
and the PostgreSQL driver (eventlet's own psycopg patch, psycogreen under gevent) so that a slow query yields instead of blocking every
connection, raises the file-descriptor limit, serves, and on SIGTERM drains: it stops accepting,
lets acknowledgements in flight finish, then closes the clients' transports so that they
reconnect to another process. Under eventlet it also replaces python-engineio's WebSocket
transport: once the handshake is answered a WebSocket is held by eventlet's hub, with no green
thread of its own (`_hub_websockets`; docs/realtime.md, The WebSocket transport).
"""
from __future__ import annotations

import gc
import os
import resource
import signal
import sys
import warnings

CONNECTION_BUFFER_BYTES = 2048
WEBSOCKET_BUFFER_BYTES = 128  # a WebSocket's request buffers, once its handshake is read
GC_THRESHOLDS = (20_000, 2, 10)  # gen-0 allocations, then gen-0 and gen-1 collections (defaults 700, 10, 10)
SWITCH_INTERVAL_SECONDS = 0.0005  # how soon the event loop hands the GIL to the log's sync thread


def _raise_fd_limit(wanted: int) -> None:
    """Let the process hold `wanted` sockets (each connection is one file descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _patch(mode: str, database_url: str, max_connections: int) -> None:
    """Make blocking I/O cooperative before the app (and its drivers) is imported."""
    postgres = database_url.startswith("postgresql")
    if mode == "eventlet":
        with warnings.catch_warnings():
            # Known and accepted: eventlet is in bugfix-only mode upstream, which is why it stays here.
            warnings.filterwarnings("ignore", message="(?s).*Eventlet is deprecated")
            import eventlet
        # Everything, psycopg2 included: its waits go through eventlet's hub, so a slow query yields.
        # (Naming one module, e.g. psycopg=True, would patch only that one.)
        eventlet.monkey_patch()
        _hub_websockets(max_connections)
    elif mode == "gevent":
        from gevent import monkey
        monkey.patch_all()
        if postgres:
            from psycogreen.gevent import patch_psycopg
            patch_psycopg()
    if mode in ("eventlet", "gevent"):
        _decline_websocket_compression(mode)
        _sync_in_threads(mode)


def _sync_in_threads(mode: str) -> None:
    """SQLite's log is synced in a real thread, so the event loop goes on meanwhile (`durability`)."""
    from .durability import run_blocking_with
    # The sync's thread needs the GIL for a moment before and after the system call. A busy event
    # loop gives it up only when asked and after the switch interval: 5 ms by default, which a
    # sync then waited two or three times under load. Nothing else runs in threads here.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    if mode == "eventlet":
        from eventlet import tpool
        tpool.set_num_threads(2)  # syncs of one database take turns (eventlet's default: 20 threads)
        run_blocking_with(tpool.execute)
    else:
        import gevent
        run_blocking_with(lambda function: gevent.get_hub().threadpool.apply(function))


def _decline_websocket_compression(mode: str) -> None:
    """Engine.IO's WebSocket handshake, made to decline permessage-deflate.

    Socket.IO's own server declines it by default; eventlet and simple-websocket (under gevent)
    accept it. Browsers offer it, and accepting kept a zlib compressor per viewer for the
    connection's life (162 KB per viewer held against 62 without, measured with 1,000 viewers under
    eventlet) and compressed every broadcast once per viewer. Socket.IO's messages are short: there
    is little to gain. The offer is taken out of the request before the handshake reads it."""
    import importlib
    driver = importlib.import_module(f"engineio.async_drivers.{mode}")
    base = driver._async["websocket"]

    class WebSocket(base):
        def __call__(self, environ, start_response):
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
            return super().__call__(environ, start_response)
    driver._async["websocket"] = WebSocket


def _hub_websockets(max_connections: int) -> type:
    """Engine.IO's WebSocket transport under eventlet, with no green thread, queue or timer per viewer.

    python-engineio gives each WebSocket three green threads: the connection's, which reads it; a
    writer waiting on a queue (with a 45-second timer re-armed after every packet); and one asleep
    until the next ping. A broadcast to 3,000 viewers was 3,000 queue hand-overs, 6,000 switches
    and 6,000 timers, and the green threads' saved C stacks and Python frame stacks were half of a
    viewer's memory. Here, once the handshake is answered, the connection is handed to the hub (as
    Node.js holds its sockets) and its HTTP green thread ends:
    - reading: the hub calls back when the socket is readable; the frames are parsed there and
      each Engine.IO packet goes to python-engineio as before (which runs the Socket.IO handler in
      a green thread of its own; anything that could wait runs in one too);
    - writing: whoever sends packs the frame and writes it to the non-blocking socket at once, so
      frames leave in the order they were sent. What does not fit in the kernel's buffer (a slow
      viewer) goes to a backlog that a green thread of that connection sends in order, and ends;
    - pinging: hub timers, the first at a random point of the interval's second half;
    - broadcasting: `send_packet_to_many` frames a room's message once for a slice of viewers and
      writes it to each socket, without python-engineio's per-recipient lookups and encoding.
    A connection that began as long-polling and upgrades keeps python-engineio's own handling (the
    page tries WebSocket first, so these are few). Past `max_connections` handed-over WebSockets a
    new one is closed at once (the client retries later), as eventlet's cap would hold it back."""
    import collections
    import io
    import random
    import socket as stdlib_socket
    import struct
    import time

    import engineio.exceptions
    import engineio.packet
    import engineio.socket
    from eventlet import spawn_n
    from eventlet.hubs import get_hub
    from eventlet.websocket import RFC6455WebSocket

    no_body = io.BytesIO()  # what a handed-over request's environ keeps as its input
    PING, PONG, MESSAGE = engineio.packet.PING, engineio.packet.PONG, engineio.packet.MESSAGE

    def frame(opcode: int, payload: bytes) -> bytes:
        """An unmasked, final frame (RFC 6455, 5.2): what a server sends."""
        n = len(payload)
        if n < 126:
            return bytes((0x80 | opcode, n)) + payload
        if n < 65536:
            return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
        return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload

    def unmask(payload: bytes, mask: bytes) -> bytes:
        n = len(payload)
        key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
        return (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")

    class ProtocolError(ValueError):
        """The viewer broke RFC 6455 (or sent more than the size limit): the connection is closed."""

    class Link:
        """One WebSocket held by the hub. `count` is how many are open in this process."""
        __slots__ = ("socket", "sock", "fd", "listener", "inbox", "fragments", "backlog", "closing", "closed")
        count = 0

        def __init__(self, socket, sock):
            self.socket, self.sock, self.fd = socket, sock, sock.fd  # eventlet's socket and the OS one
            self.inbox = bytearray()  # bytes read and not yet a whole frame
            self.fragments: list | None = None  # a fragmented message's opcode and parts so far
            self.backlog: collections.deque | None = None  # frames waiting for the socket to drain
            self.closing = self.closed = False
            hub = get_hub()
            self.listener = hub.add(hub.READ, sock.fileno(), self._readable, self._lost, self._lost)
            Link.count += 1

        # Writing: never waits, so no other green thread runs in between.
        def write(self, message) -> None:
            if isinstance(message, str):
                self._send(frame(0x1, message.encode()))
            else:
                self._send(frame(0x2, message))

        def _send(self, data: bytes) -> None:
            if self.closed:
                return
            if self.backlog is not None:
                self.backlog.append(data)
                return
            try:
                sent = self.fd.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:  # the viewer is gone: the hub reports it to `_readable` as well
                return
            if sent < len(data):
                self.backlog = collections.deque([data[sent:]])
                spawn_n(self._drain)

        def _drain(self) -> None:
            try:
                while self.backlog:
                    data = b"".join(self.backlog)
                    self.backlog.clear()
                    self.sock.sendall(data)  # waits for the viewer (the socket's timeout bounds it)
            except OSError:  # the viewer is gone, or took longer than the ping timeout to read
                self.backlog = None
                self._lost()
                return
            self.backlog = None
            if self.closing:
                self._close(b"")

        # Reading: in the hub, so nothing here waits.
        def _readable(self, fileno) -> None:
            try:
                data = self.fd.recv(16384)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                return self._lost()
            self.inbox += data
            try:
                self._parse()
            except engineio.exceptions.SocketIsClosedError:
                self._lost()
            except Exception as e:  # a broken frame, bad UTF-8, a bad packet: nothing may reach the hub
                code = 1009 if "too large" in str(e) else 1002
                self._send(frame(0x8, struct.pack("!H", code)))
                self._lost()

        def _parse(self) -> None:
            buf = self.inbox
            limit = self.socket.server.max_http_buffer_size
            while len(buf) >= 2 and not self.closed:
                first, second = buf[0], buf[1]
                length, start = second & 0x7F, 2
                if length == 126:
                    if len(buf) < 4:
                        return
                    length, start = int.from_bytes(buf[2:4], "big"), 4
                elif length == 127:
                    if len(buf) < 10:
                        return
                    length, start = int.from_bytes(buf[2:10], "big"), 10
                if not second & 0x80:
                    raise ProtocolError("an unmasked frame from a client")
                if first & 0x70:
                    raise ProtocolError("reserved bits set: no extension was agreed")
                if length > limit:
                    raise ProtocolError("message too large")
                end = start + 4 + length
                if len(buf) < end:
                    return
                payload = unmask(bytes(buf[start + 4:end]), bytes(buf[start:start + 4])) if length else b""
                del buf[:end]
                self._frame(first & 0x80, first & 0x0F, payload, limit)

        def _frame(self, final: int, opcode: int, payload: bytes, limit: int) -> None:
            if opcode & 0x8:  # control frames: never fragmented, at most 125 bytes
                if not final or len(payload) > 125:
                    raise ProtocolError("bad control frame")
                if opcode == 0x8:  # the viewer closes: answer with its code, and end
                    self._send(frame(0x8, payload[:2]))
                    self._lost()
                elif opcode == 0x9:
                    self._send(frame(0xA, payload))
                elif opcode != 0xA:
                    raise ProtocolError("unknown control opcode")
                return
            if opcode == 0x0:
                if self.fragments is None:
                    raise ProtocolError("a continuation with nothing to continue")
                self.fragments.append(payload)
                if sum(len(p) for p in self.fragments[1:]) > limit:
                    raise ProtocolError("message too large")
                if not final:
                    return
                opcode, payload = self.fragments[0], b"".join(self.fragments[1:])
                self.fragments = None
            elif opcode in (0x1, 0x2):
                if self.fragments is not None:
                    raise ProtocolError("a new message inside a fragmented one")
                if not final:
                    self.fragments = [opcode, payload]
                    return
            else:
                raise ProtocolError("unknown opcode")
            pkt = engineio.packet.Packet(encoded_packet=payload.decode() if opcode == 0x1 else payload)
            socket = self.socket
            if pkt.packet_type == PONG or (pkt.packet_type == MESSAGE and socket.server.async_handlers):
                try:
                    socket.receive(pkt)  # both return at once: a timer, or a green thread for the handler
                except engineio.exceptions.UnknownPacketError:
                    pass
            else:
                spawn_n(self._receive, socket, pkt)

        @staticmethod
        def _receive(socket, pkt) -> None:
            try:
                socket.receive(pkt)
            except (engineio.exceptions.UnknownPacketError, engineio.exceptions.SocketIsClosedError):
                pass

        # Closing.
        def _lost(self, *_) -> None:
            """The viewer left, broke the protocol, or its socket failed: the session ends."""
            socket = self.socket
            if self.closed or socket is None:
                return
            self._close(None)
            spawn_n(socket.close, False, True, socket.server.reason.TRANSPORT_CLOSE)

        def close(self) -> None:
            if self.backlog is not None:
                self.closing = True  # after the backlog
            else:
                self._close(b"")

        def _close(self, close_payload: bytes | None) -> None:
            if self.closed:
                return
            self.closed = True
            Link.count -= 1
            get_hub().remove(self.listener)
            if close_payload is not None:
                try:
                    self.fd.send(frame(0x8, close_payload))  # if there is room; the close follows anyway
                except OSError:
                    pass
            try:
                self.fd.shutdown(stdlib_socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.socket = None  # the engineio socket refers to this link: no cycle is left

    class Socket(engineio.socket.Socket):
        link: Link | None = None
        pinged = False
        ping_timer = None  # the hub timer of the next ping, cancelled when the socket closes

        def send(self, pkt):
            link = self.link
            if link is None:
                return super().send(pkt)
            if self.check_ping_timeout():
                link.write(pkt.encode())

        def close(self, wait=True, abort=False, reason=None):
            link = self.link
            if link is None:
                return super().close(wait=wait, abort=abort, reason=reason)
            super().close(wait=False, abort=abort, reason=reason)  # nothing reads the queue
            link.close()
            if self.ping_timer is not None:
                # A departed viewer's timer would still wake the hub and start a green thread, and
                # keep the socket until then: when 10,000 viewers left, that was 500 a second for
                # the next 20 s, 5 % of a core with no one connected.
                self.ping_timer.cancel()
                self.ping_timer = None
            # python-engineio forgets a socket when its handler returns; this one returned long ago
            self.server.sockets.pop(self.sid, None)

        def schedule_ping(self):
            if self.last_ping:
                self.last_ping = None
                delay = self.server.ping_interval
                if not self.pinged:
                    # The first ping comes at a random point of the interval's second half (early is
                    # allowed: the client only counts the time since the last one). Viewers who
                    # joined together, thousands in seconds after a restart, were all pinged in the
                    # same instant, and their answers stalled the loop: 135-238 ms of a broadcast's
                    # latency at 3,000 viewers, every interval. Later pings follow the answers.
                    self.pinged = True
                    delay *= random.uniform(0.5, 1.0)
                self.ping_timer = get_hub().schedule_call_global(delay, spawn_n, self._ping)

        def _ping(self):
            self.ping_timer = None
            if not self.closing and not self.closed:
                self.last_ping = time.time()
                self.send(engineio.packet.Packet(PING))

        def _websocket_handler(self, ws):
            if self.connected or not isinstance(ws, RFC6455WebSocket):
                return super()._websocket_handler(ws)  # an upgrade from long-polling
            ws.websocket_closed = True  # eventlet sends no closing frame when this returns
            if Link.count >= max_connections:
                ws.socket.close()
                self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
                return []
            self.connected = self.upgraded = True
            sock = ws.socket
            sock.settimeout(self.server.ping_interval + self.server.ping_timeout)  # bounds a backlog's wait
            link = Link(self, sock)
            queue_empty = self.server.get_queue_empty_exception()
            while True:  # what was sent before the handshake (the open packet) goes first
                try:
                    pkt = self.queue.get(block=False)
                except queue_empty:
                    break
                self.queue.task_done()
                if pkt is not None:
                    link.write(pkt.encode())
            self.link = link
            # The HTTP side lets go: eventlet's server must not close the socket when the green
            # thread ends (see `Protocol.finish` and `Pool`), and what the Socket.IO session keeps
            # of the request must not keep that green thread's objects.
            sock.handed_to_hub = True
            environ = ws.environ
            environ["wsgi.input"] = environ["eventlet.input"] = no_body
            environ.pop("eventlet.set_idle", None)
            environ.pop("eventlet.posthooks", None)
            return []

    def send_packet_to_many(server, sids, pkt) -> None:
        """python-engineio's `send_packet` to each of `sids`, the frame made once: a viewer held by
        the hub gets it written at once; any other (long-polling, upgraded, past its ping timeout,
        gone) goes through `send_packet` as before."""
        data = None
        now, timeout, sockets = time.time(), server.ping_timeout, server.sockets
        for sid in sids:
            socket = sockets.get(sid)
            link = getattr(socket, "link", None)
            last = socket.last_ping if link is not None else None
            if link is None or socket.closed or (last and now - last > timeout):
                server.send_packet(sid, pkt)
                continue
            if data is None:
                data = frame(0x1, pkt.encode().encode())
            link._send(data)

    import engineio.server
    engineio.server.Server.send_packet_to_many = send_packet_to_many
    Socket.Link = Link
    engineio.socket.Socket = Socket
    return Socket


def _tune_gc() -> None:
    """Keep the cyclic garbage collector's pauses off the fan-out path.

    CPython's collector walks every tracked object of the generations it collects: with thousands
    of connections a full collection stops the event loop for hundreds of milliseconds, and the
    default gen-0 threshold (700 allocations) runs the young collection hundreds of times a second
    under load. After start-up the modules, the app and the caches are frozen (moved out of the
    collector's view: they live as long as the process), and the young generation is collected
    less often. The middle generation is collected every second young collection, not every
    20th: it holds what survived since, so when thousands of viewers connect their connections
    pass through it in pieces of 10-25 ms rather than in one pause of 170-230 ms a few seconds
    later (measured at 2,000 viewers). Reference counting still frees everything acyclic at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLDS[0], GC_THRESHOLDS[1], GC_THRESHOLDS[2])


def _warm_up() -> None:
    """Build what the first question would otherwise wait for (the holiday calendar: about 0.1 s),
    before the start-up objects are frozen."""
    from datetime import date

    from .services.deadlines import holiday_dates
    for year in (date.today().year, date.today().year + 1):
        holiday_dates(year)


def _on_sigterm(flag: list) -> None:
    # The handler only sets a flag; a green thread acts on it (no hub calls from a signal handler).
    signal.signal(signal.SIGTERM, lambda *_: flag.append(True))


def protocol_class():
    """eventlet's HTTP protocol, with small buffers and no reference cycle per connection."""
    import eventlet.wsgi

    class Protocol(eventlet.wsgi.HttpProtocol):
        # Each connection keeps its read and write buffers for its whole life, a WebSocket's too
        # (eventlet's defaults: 8 KB and 16 KB). Request headers and page writes fit smaller ones.
        rbufsize = wbufsize = CONNECTION_BUFFER_BYTES

        def handle_one_response(self):
            if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                self._shrink_buffers()
            return super().handle_one_response()

        def _shrink_buffers(self):
            # A WebSocket reads and writes the socket itself for the rest of the connection, so the
            # request's buffers would sit idle for hours: 4.5 KB per viewer. (One handed to the hub
            # closes them when this green thread ends; one left to eventlet's own handling, an
            # upgrade from long-polling, keeps them as long as it lives.) Its head has been read,
            # and a client sends no frame before the handshake's answer (RFC 6455, 4.1). Small ones
            # stay for a refused handshake's answer and for closing.
            for name, mode in (("rfile", "rb"), ("wfile", "wb")):
                getattr(self, name).close()
                setattr(self, name, self.connection.makefile(mode, WEBSOCKET_BUFFER_BYTES))
            self.environ["eventlet.input"].rfile = self.rfile

        def finish(self):
            if getattr(self.connection, "handed_to_hub", False):
                # A WebSocket the hub now holds (`_hub_websockets`): only the request's files close.
                for stream in (self.wfile, self.rfile):
                    stream.close()
                return
            super().finish()

        def handle_one_request(self):
            try:
                super().handle_one_request()
            finally:
                # The request's environ names this protocol (its `eventlet.set_idle` closure) and
                # the protocol keeps the environ: a reference cycle per connection, so a closed
                # connection waited for a full collection (some 300,000 objects, a 1 s pause, after
                # 10,000 viewers left). Dropped once the request is answered; nothing reads it later.
                self.environ = None
    return Protocol


def pool_class():
    """eventlet's green pool for the server's connections, which lets a WebSocket outlive its
    green thread: eventlet's server shuts a connection's socket down when the thread ends, except
    for a socket handed to the hub (`_hub_websockets`), which it only forgets."""
    import eventlet

    class Forgotten:
        """Stands for a handed-over socket in eventlet's clean-up, which then closes nothing."""
        @staticmethod
        def shutdown(*_):
            pass

        close = shutdown

    class Thread:
        __slots__ = ("thread",)

        def __init__(self, thread):
            self.thread = thread

        def link(self, clean_up, connection, *args):
            def clean(thread, connection, *args):
                if getattr(connection[1], "handed_to_hub", False):
                    connection = [connection[0], Forgotten, *connection[2:]]
                clean_up(thread, connection, *args)
            self.thread.link(clean, connection, *args)

    class Pool(eventlet.GreenPool):
        def spawn(self, function, *args, **kwargs):
            return Thread(super().spawn(function, *args, **kwargs))
    return Pool


def _close_transports() -> None:
    """Close every client's transport, so that it reconnects to another process, waiting for none.
    python-engineio's `disconnect()` waits until each long-polling client has fetched its close
    packet; one that went away (a tab closed mid-handshake) never does, and the drain hung until
    the process was killed. A poll that is waiting gets the packet at once; the server's own wait
    for its connections (10 s at most) follows."""
    from .extensions import socketio
    eio = socketio.server.eio
    for client in list(eio.sockets.values()):
        client.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
    eio.sockets = {}


def _serve_eventlet(app, host: str, port: int, max_connections: int) -> None:
    import eventlet
    import eventlet.wsgi

    listener = eventlet.listen((host, port), backlog=2048)
    server = eventlet.spawn(eventlet.wsgi.server, listener, app, log_output=False, protocol=protocol_class(),
                            custom_pool=pool_class()(max_connections))
    stopping: list = []
    _on_sigterm(stopping)
    while not stopping and not server.dead:
        eventlet.sleep(0.2)
    if server.dead:
        return
    server.kill(SystemExit)  # stop accepting
    listener.close()
    eventlet.sleep(app.config["DRAIN_GRACE_MS"] / 1000)  # acknowledgements in flight finish
    _close_transports()  # clients reconnect elsewhere
    with eventlet.Timeout(10, False):
        server.wait()


def _serve_gevent(app, host: str, port: int, max_connections: int) -> None:
    import gevent
    from gevent.pool import Pool
    from gevent.pywsgi import WSGIServer

    server = WSGIServer((host, port), app, spawn=Pool(max_connections), log=None)
    server.start()
    stopping: list = []
    _on_sigterm(stopping)
    while not stopping:
        gevent.sleep(0.2)
    server.close()
    gevent.sleep(app.config["DRAIN_GRACE_MS"] / 1000)
    _close_transports()
    server.stop(timeout=10)


def serve(host: str | None = None, port: int | None = None, banner=None) -> None:
    """Run the app on the configured async server until stopped (SIGTERM drains)."""
    from .config import Config, check_public_url
    cfg = Config.from_env()
    host = host or cfg.HOST
    port = port or cfg.PORT
    check_public_url(cfg, host)
    cfg.HOST, cfg.PORT = host, port  # links fall back to the address served on (`links.base_url`)
    _patch(cfg.ASYNC_MODE, cfg.DATABASE_URL, cfg.MAX_CONNECTIONS)
    from . import create_app
    app = create_app(cfg)
    _raise_fd_limit(cfg.MAX_CONNECTIONS + 256)
    if banner:
        banner(app, host, port)
    if cfg.ASYNC_MODE == "eventlet":  # for /healthz with COMPANION_DIAGNOSTICS on
        from eventlet.hubs import get_hub
        app.extensions["companion.diagnostics"] = {
            "hub_timers": lambda: sum(not timer.called for _, timer in get_hub().timers + get_hub().next_timers)}
    from .extensions import socketio
    from .realtime.emit import audience_sender, vote_flusher
    from .realtime.sessions import watch_sessions
    from .realtime.writer import group_committer
    socketio.start_background_task(watch_sessions, app)
    socketio.start_background_task(group_committer, app)
    socketio.start_background_task(vote_flusher)
    socketio.start_background_task(audience_sender)
    _warm_up()
    if os.environ.get("COMPANION_GC_DEFAULTS") != "1":  # the benchmarks' before/after switch
        _tune_gc()
    if cfg.ASYNC_MODE == "eventlet":
        _serve_eventlet(app, host, port, cfg.MAX_CONNECTIONS)
    elif cfg.ASYNC_MODE == "gevent":
        _serve_gevent(app, host, port, cfg.MAX_CONNECTIONS)
    else:
        from .extensions import socketio
        socketio.run(app, host=host, port=port, log_output=False, allow_unsafe_werkzeug=True)
    sys.stdout.flush()
