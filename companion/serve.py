"""The server entry point: the one seam where the async library (eventlet or gevent) is imported.

`COMPANION_ASYNC_MODE` picks it (eventlet by default). The module patches the standard library
and the PostgreSQL driver (eventlet's own psycopg patch, psycogreen under gevent) so that a slow query yields instead of blocking every
connection, raises the file-descriptor limit, serves, and on SIGTERM drains: it stops accepting,
lets acknowledgements in flight finish, then closes the clients' transports so that they
reconnect to another process.
"""
from __future__ import annotations

import gc
import os
import resource
import signal
import sys
import warnings

DRAIN_GRACE_SECONDS = 1.0
CONNECTION_BUFFER_BYTES = 2048
WEBSOCKET_BUFFER_BYTES = 128  # a WebSocket's request buffers, once its handshake is read
GC_THRESHOLDS = (20_000, 2, 10)  # gen-0 allocations, then gen-0 and gen-1 collections (defaults 700, 10, 10)


def _raise_fd_limit(wanted: int) -> None:
    """Let the process hold `wanted` sockets (each connection is one file descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _patch(mode: str, database_url: str) -> None:
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
        _direct_websockets()
    elif mode == "gevent":
        from gevent import monkey
        monkey.patch_all()
        if postgres:
            from psycogreen.gevent import patch_psycopg
            patch_psycopg()
    if mode in ("eventlet", "gevent"):
        _decline_websocket_compression(mode)


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


def _direct_websockets() -> type:
    """Engine.IO's WebSocket transport under eventlet, without a writer task per viewer.

    python-engineio gives each WebSocket a queue and a green thread that waits on it (with a
    45-second timer re-armed after every packet) and writes what arrives; a broadcast to 3,000
    viewers was 3,000 queue hand-overs, 6,000 switches and 6,000 timers. And every viewer had a third
    green thread asleep until its next ping. Here the sender writes the frame to the connection
    itself, without waiting: the OS socket is non-blocking, and whatever does not fit in its buffer
    (a slow viewer) goes to a backlog that a green thread of that connection's own sends in order,
    and ends. Pings are hub timers. A connection that began as long-polling and upgrades keeps
    engineio's own handling (the page tries WebSocket first, so these are few)."""
    import collections
    import random
    import time

    import engineio.exceptions
    import engineio.packet
    import engineio.socket
    from eventlet import spawn_n
    from eventlet.hubs import get_hub
    from eventlet.websocket import RFC6455WebSocket

    class Link:
        """One WebSocket, written to by whoever sends. Writes never wait, so no other green thread
        runs in between: frames leave in the order they were sent."""
        __slots__ = ("ws", "fd", "backlog", "closing", "closed")

        def __init__(self, ws):
            self.ws, self.fd = ws, ws.socket.fd  # eventlet's green socket and the OS socket beneath
            self.backlog: collections.deque | None = None  # frames waiting for the socket to drain
            self.closing = self.closed = False

        def write(self, message) -> None:
            if self.closed:
                return
            frame = self.ws._pack_message(message)
            if self.backlog is not None:
                self.backlog.append(frame)
                return
            try:
                sent = self.fd.send(frame)
            except BlockingIOError:
                sent = 0
            except OSError:  # the viewer is gone: its reader sees that and closes the socket
                return
            if sent < len(frame):
                self.backlog = collections.deque([frame[sent:]])
                spawn_n(self._drain)

        def _drain(self) -> None:
            try:
                while self.backlog:
                    data = b"".join(self.backlog)
                    self.backlog.clear()
                    self.ws.socket.sendall(data)  # waits for the viewer (the socket's timeout bounds it)
            except OSError:
                self.closing = True
            finally:
                self.backlog = None
            if self.closing:
                self._close()

        def close(self) -> None:
            if self.backlog is not None:
                self.closing = True  # after the backlog
            else:
                self._close()

        def _close(self) -> None:
            if self.closed:
                return
            self.closed = True
            ws = self.ws
            try:
                self.fd.send(ws._pack_message(b"", control_code=8))  # close frame, if there is room
            except OSError:
                pass
            ws.websocket_closed = True  # so that ws.close() does not wait to send it again
            ws.close()

    class Socket(engineio.socket.Socket):
        link: Link | None = None

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

        pinged = False

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
                get_hub().schedule_call_global(delay, spawn_n, self._ping)

        def _ping(self):
            if not self.closing and not self.closed:
                self.last_ping = time.time()
                self.send(engineio.packet.Packet(engineio.packet.PING))

        def _websocket_handler(self, ws):
            if self.connected or not isinstance(ws, RFC6455WebSocket):
                return super()._websocket_handler(ws)  # an upgrade from long-polling
            self.connected = self.upgraded = True
            server = self.server
            ws.socket.settimeout(server.ping_interval + server.ping_timeout)
            link = Link(ws)
            queue_empty = server.get_queue_empty_exception()
            while True:  # what was sent before the handshake (the open packet) goes first
                try:
                    pkt = self.queue.get(block=False)
                except queue_empty:
                    break
                self.queue.task_done()
                if pkt is not None:
                    link.write(pkt.encode())
            self.link = link
            while True:
                try:
                    message = ws.wait()
                    if message is None:  # closed by the viewer
                        break
                    if len(message) > server.max_http_buffer_size:
                        break
                    self.receive(engineio.packet.Packet(encoded_packet=message))
                except engineio.exceptions.UnknownPacketError:
                    continue
                except Exception as e:  # a broken connection, a closed socket, a bad packet
                    if not self.closed and not isinstance(e, (OSError, engineio.exceptions.SocketIsClosedError)):
                        server.logger.exception("Unknown receive error")
                    break
            self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
            link.close()
            return []

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
            # A WebSocket reads and writes the socket itself (eventlet.websocket) for the rest of
            # the connection, so the request's buffers would sit idle for hours: 4.5 KB per viewer.
            # Its head has been read, and a client sends no frame before the handshake's answer
            # (RFC 6455, 4.1). Small ones stay for a refused handshake's answer and for closing.
            for name, mode in (("rfile", "rb"), ("wfile", "wb")):
                getattr(self, name).close()
                setattr(self, name, self.connection.makefile(mode, WEBSOCKET_BUFFER_BYTES))
            self.environ["eventlet.input"].rfile = self.rfile

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


def _serve_eventlet(app, host: str, port: int, max_connections: int) -> None:
    import eventlet
    import eventlet.wsgi

    from .extensions import socketio

    listener = eventlet.listen((host, port), backlog=2048)
    server = eventlet.spawn(eventlet.wsgi.server, listener, app, max_size=max_connections, log_output=False,
                            protocol=protocol_class())
    stopping: list = []
    _on_sigterm(stopping)
    while not stopping and not server.dead:
        eventlet.sleep(0.2)
    if server.dead:
        return
    server.kill(SystemExit)  # stop accepting
    listener.close()
    eventlet.sleep(DRAIN_GRACE_SECONDS)  # acknowledgements in flight finish
    socketio.server.eio.disconnect()  # transport close: clients reconnect elsewhere
    with eventlet.Timeout(10, False):
        server.wait()


def _serve_gevent(app, host: str, port: int, max_connections: int) -> None:
    import gevent
    from gevent.pool import Pool
    from gevent.pywsgi import WSGIServer

    from .extensions import socketio
    server = WSGIServer((host, port), app, spawn=Pool(max_connections), log=None)
    server.start()
    stopping: list = []
    _on_sigterm(stopping)
    while not stopping:
        gevent.sleep(0.2)
    server.close()
    gevent.sleep(DRAIN_GRACE_SECONDS)
    socketio.server.eio.disconnect()
    server.stop(timeout=10)


def serve(host: str | None = None, port: int | None = None, banner=None) -> None:
    """Run the app on the configured async server until stopped (SIGTERM drains)."""
    from .config import Config
    cfg = Config.from_env()
    _patch(cfg.ASYNC_MODE, cfg.DATABASE_URL)
    from . import create_app
    app = create_app(cfg)
    host = host or cfg.HOST
    port = port or cfg.PORT
    _raise_fd_limit(cfg.MAX_CONNECTIONS + 256)
    if banner:
        banner(app, host, port)
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
