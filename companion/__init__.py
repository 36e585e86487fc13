"""Companion: the live-broadcast question desk and follow-up appeal tracker."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from .config import INSTANCE, ROOT, Config

if TYPE_CHECKING:  # heavy imports wait for create_app, so `serve` can monkey-patch first
    from flask import Flask

LOCALES = ("kk", "ru", "en")


def select_locale() -> str:
    """`?lang=` if given (a studio screen in OBS has no language switch), else the `lang` cookie,
    else the browser's best match, else the default."""
    from flask import current_app, has_request_context, request
    if not has_request_context():  # services called from the CLI or tests
        return current_app.config["DEFAULT_LOCALE"]
    if request.path.startswith("/open311/"):  # an integrator's program: its Accept-Language, else its own default
        chosen = request.args.get("lang")
        return (chosen if chosen in LOCALES else None) or request.accept_languages.best_match(LOCALES) \
            or current_app.config["OPEN311_LOCALE"]
    for chosen in (request.args.get("lang"), request.cookies.get("lang")):
        if chosen in LOCALES:
            return chosen
    return request.accept_languages.best_match(LOCALES) or current_app.config["DEFAULT_LOCALE"]


def _sqlite_pragmas(engine) -> None:
    """WAL (readers never wait), commits durable before they return (`durability`: the log is synced
    off the event loop), foreign keys, and a short busy wait: a lock held by another process
    freezes an async server for at most 50 ms per try; the caller retries (services.database)."""
    from sqlalchemy import event

    from .durability import configure

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={configure(dbapi_connection)}")
        cursor.execute("PRAGMA busy_timeout=50")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        conn.exec_driver_sql("BEGIN")


SOCKETIO_PATH = "/socket.io/"


@cache
def _app_class():
    """Flask, with the request context of Socket.IO events built without URL matching (and, after
    the first event, without decoding the session cookie).

    Flask-SocketIO runs every Socket.IO event in a request context built from its connection's
    handshake request (/socket.io/...). Pushing it matches that path against the URL map, for no
    use (the Socket.IO middleware answers the path before Flask), and werkzeug's matcher leaves a
    reference cycle per match (a recursive closure) for the cyclic collector: at 500 questions a
    second that was some 40,000 objects a second. The URL adapter is still bound, so url_for works."""
    from flask import Flask
    from flask.ctx import RequestContext

    class SocketEventContext(RequestContext):
        def __init__(self, app, environ: dict):
            # Flask-SocketIO keeps the connection's own copy of the session (manage_session) and
            # puts it in the context after pushing it: once it exists, the signed cookie need not
            # be verified and decoded again for every event, only to be replaced.
            super().__init__(app, environ, session=environ.get("saved_session"))

        def match_request(self) -> None:
            """No URL matching: the context serves a Socket.IO event, not a view."""

    class CompanionFlask(Flask):
        def request_context(self, environ: dict) -> RequestContext:
            # /socket.io/ from a server; Flask-SocketIO's test client says /socket.io
            if (environ.get("PATH_INFO", "") + "/").startswith(SOCKETIO_PATH):
                return SocketEventContext(self, environ)
            return super().request_context(environ)
    return CompanionFlask


def create_app(config: Config | dict | None = None) -> "Flask":
    """Build the application: configuration, extensions, blueprints and socket handlers."""
    from .extensions import babel, csrf, db, login_manager, socketio

    if isinstance(config, dict):  # create_app({"TESTING": True, ...}) as in Flask's tutorial
        cfg = Config.from_env()
        for key, value in config.items():
            if key in Config.__dataclass_fields__:
                setattr(cfg, key, value)
            else:
                cfg.extra[key] = value
    else:
        cfg = config or Config.from_env()
    app = _app_class()(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                       instance_path=str(INSTANCE))
    app.config.update(cfg.flask_settings())
    from .services.deadlines import check_settings
    check_settings(app.config)
    if cfg.DATABASE_URL.startswith("sqlite"):
        from .durability import DurableConnection
        app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] = {"factory": DurableConnection}

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_pragmas(db.engine)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)

    from . import realtime
    realtime.register()  # handlers register before init_app, so every app built gets them
    origins = [o.strip() for o in app.config["ALLOWED_ORIGINS"].split(",") if o.strip()] or None
    if origins and "*" in origins:
        raise ValueError("COMPANION_ALLOWED_ORIGINS may not be '*': list the origins that may connect")
    queue = app.config["MESSAGE_QUEUE"] or None
    from .realtime.fanout import client_manager  # sends to large rooms in slices (see there)
    socketio.init_app(app, async_mode=app.config["ASYNC_MODE"], message_queue=queue,
                      client_manager=client_manager(queue, app.config["MESSAGE_QUEUE_CHANNEL"]),
                      cors_allowed_origins=origins, manage_session=True,
                      max_http_buffer_size=app.config["MAX_MESSAGE_BYTES"], ping_interval=app.config["PING_INTERVAL_SECONDS"],
                      ping_timeout=app.config["PING_TIMEOUT_SECONDS"])
    from .realtime import gate  # every packet a client sends is checked first
    from .transport import polling
    polling.install()
    gate.install(socketio.server, app)
    app.wsgi_app = gate.guard_polling_posts(app.wsgi_app, app.config["MAX_MESSAGE_BYTES"])
    if app.config["PROXY_HOPS"]:
        # outermost, so that Socket.IO handshakes see the client's address and scheme too
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from .web import register_web
    register_web(app)
    from .api import bp as api_bp
    from .api.open311 import bp as open311_bp
    app.register_blueprint(api_bp)
    app.register_blueprint(open311_bp)
    csrf.exempt(api_bp)
    csrf.exempt(open311_bp)
    return app
