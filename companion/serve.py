"""The server entry point: the one seam where the async library (eventlet or gevent) is imported.

`COMPANION_ASYNC_MODE` picks it (eventlet by default). The module patches the standard library
and the PostgreSQL driver (eventlet's own psycopg patch, psycogreen under gevent) so that a slow query yields instead of blocking every
connection, raises the file-descriptor limit, serves, and on SIGTERM drains: it stops accepting,
lets acknowledgements in flight finish, then closes the clients' transports so that they
reconnect to another process. Under eventlet it also replaces python-engineio's WebSocket
transport: once the handshake is answered a WebSocket is held by eventlet's hub, with no green
thread of its own (`companion.transport`; docs/realtime.md, The WebSocket transport).
"""
from __future__ import annotations

import gc
import resource
import signal
import sys
import warnings

CONNECTION_BUFFER_BYTES = 2048
WEBSOCKET_BUFFER_BYTES = 128  # a WebSocket's request buffers, once its handshake is read
GC_THRESHOLDS = (20_000, 2, 10)  # gen-0 allocations, then gen-0 and gen-1 collections (defaults 700, 10, 10)
REQUEST_TIMEOUT_SECONDS = 15  # a request's head or body must keep arriving (eventlet)
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


def _sync_in_threads(app, mode: str) -> None:
    """SQLite's log is synced in a real thread, so the event loop goes on meanwhile (`durability`)."""
    from .durability import run_blocking_with
    # The sync's thread needs the GIL for a moment before and after the system call, and a busy
    # event loop gives it up only after the switch interval: a shorter one lets the sync through.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    if mode == "eventlet":
        from eventlet import tpool
        # one thread each for the log's syncs (they take turns), a password hash, an export and the
        # duplicate index (each one at a time per process: `passwords.turn`, `appeal_list.export_slot`,
        # `similarity.similarity_turn`); eventlet's default: 20
        tpool.set_num_threads(4)
        run_blocking_with(tpool.execute, app)
    else:
        import gevent
        run_blocking_with(lambda function: gevent.get_hub().threadpool.apply(function), app)


def _decline_websocket_compression(mode: str) -> None:
    """Engine.IO's WebSocket handshake, made to decline permessage-deflate.

    Socket.IO's own server declines it by default; eventlet and simple-websocket (under gevent)
    accept it. Browsers offer it, and accepting kept a zlib compressor per viewer for the
    connection's life (more than twice a viewer's memory, docs/performance.md) and compressed every
    broadcast once per viewer. Socket.IO's messages are short: there
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
    """Engine.IO's WebSocket transport held by eventlet's hub (`companion.transport.hub`)."""
    from .transport import hub
    return hub.install(max_connections)


def _tune_gc() -> None:
    """Keep the cyclic garbage collector's pauses off the fan-out path: after start-up what lives as long
    as the process is frozen out of the collector's view, and the young and middle generations are
    collected so that thousands of new connections pass through in small pieces, not one long pause
    (docs/realtime.md, "The garbage collector")."""
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
                # eventlet's WebSocket handling flags the connection idle, and a stopping server
                # shuts idle connections at once: an upgrade from long-polling missed the drain's
                # grace (closed 0.2 s after SIGTERM, not after DRAIN_GRACE_MS). The drain closes
                # every transport itself (`_close_transports`).
                self.environ.pop("eventlet.set_idle", None)
            return super().handle_one_response()

        def _shrink_buffers(self):
            # A WebSocket reads and writes the socket itself for the rest of the connection, so the
            # request's buffers would sit idle for hours. (One handed to the hub
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
                # the protocol keeps the environ: a reference cycle per connection, left for a full
                # collection's long pause. Dropped once the request is answered; nothing reads it later.
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
    # debug=False: eventlet's default answers an unhandled error with its traceback, to the client.
    # socket_timeout: a request's head or body that stops arriving (slowloris), or an idle
    # keep-alive connection, frees its slot; WebSockets set their own, longer than a ping cycle.
    server = eventlet.spawn(eventlet.wsgi.server, listener, app, log_output=False, protocol=protocol_class(),
                            custom_pool=pool_class()(max_connections), debug=False,
                            socket_timeout=REQUEST_TIMEOUT_SECONDS)
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
    from .runtime import runtime
    app = create_app(cfg)
    if cfg.ASYNC_MODE in ("eventlet", "gevent"):
        _sync_in_threads(app, cfg.ASYNC_MODE)
    _raise_fd_limit(cfg.MAX_CONNECTIONS + 256)
    if banner:
        banner(app, host, port)
    if cfg.ASYNC_MODE == "eventlet":  # for /healthz with COMPANION_DIAGNOSTICS on
        from eventlet.hubs import get_hub
        runtime(app).diagnostics = {
            "hub_timers": lambda: sum(not timer.called for _, timer in get_hub().timers + get_hub().next_timers)}
    from .extensions import socketio
    from .realtime.emit import audience_sender, vote_flusher
    from .realtime.sessions import watch_sessions
    from .realtime.writer import group_committer
    socketio.start_background_task(watch_sessions, app)
    socketio.start_background_task(group_committer, app)
    socketio.start_background_task(vote_flusher, app)
    socketio.start_background_task(audience_sender, app)
    from .realtime.audience import audience_sampler
    from .services.report_mail import mail_forever
    from .web.reports import mailed_pdf
    socketio.start_background_task(audience_sampler, app)
    socketio.start_background_task(mail_forever, app, socketio.sleep, mailed_pdf)
    from .services.topics import retag_forever
    socketio.start_background_task(retag_forever, app, socketio.sleep)
    _warm_up()
    if not cfg.GC_DEFAULTS:
        _tune_gc()
    if cfg.ASYNC_MODE == "eventlet":
        _serve_eventlet(app, host, port, cfg.MAX_CONNECTIONS)
    elif cfg.ASYNC_MODE == "gevent":
        _serve_gevent(app, host, port, cfg.MAX_CONNECTIONS)
    else:
        from .extensions import socketio
        socketio.run(app, host=host, port=port, log_output=False, allow_unsafe_werkzeug=True)
    sys.stdout.flush()
