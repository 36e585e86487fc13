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
