"""The server entry point: the one seam where the async library (eventlet) is imported."""
from __future__ import annotations

import resource


def _raise_fd_limit(wanted: int) -> None:
    """Let the process hold `wanted` sockets (each connection is one file descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def serve(host: str | None = None, port: int | None = None, banner=None) -> None:
    """Run the app on the configured async server until stopped."""
    from .config import Config
    cfg = Config.from_env()
    if cfg.ASYNC_MODE == "eventlet":
        import warnings
        with warnings.catch_warnings():
            # Known and accepted: eventlet is in bugfix-only mode upstream, which is why it stays behind
            # this one module (COMPANION_ASYNC_MODE chooses another server without touching the app).
            warnings.simplefilter("ignore", DeprecationWarning)
            import eventlet
        eventlet.monkey_patch()
    from . import create_app
    from .extensions import socketio
    app = create_app(cfg)
    host = host or cfg.HOST
    port = port or cfg.PORT
    _raise_fd_limit(cfg.MAX_CONNECTIONS + 256)
    if banner:
        banner(app, host, port)
    kwargs = {}
    if cfg.ASYNC_MODE == "eventlet":
        # eventlet.wsgi accepts only 1,024 connections at once unless told otherwise
        kwargs["max_size"] = cfg.MAX_CONNECTIONS
    else:
        kwargs["allow_unsafe_werkzeug"] = True
    socketio.run(app, host=host, port=port, log_output=False, **kwargs)
