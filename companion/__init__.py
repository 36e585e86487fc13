"""Companion: the live-broadcast question desk and follow-up appeal tracker."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .config import INSTANCE, LANGUAGES, ROOT, Config

if TYPE_CHECKING:  # heavy imports wait for create_app, so `serve` can monkey-patch first
    from flask import Flask

LOCALES = LANGUAGES


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
    # A Socket.IO event's request is made from its connection's handshake, whose environ every event
    # shares: the choice is made once per connection (parsing the query, the cookies and the header
    # again was 3 % of a flood of questions' time).
    chosen = request.environ.get(_CHOSEN)
    if chosen is None:
        chosen = next((c for c in (request.args.get("lang"), request.cookies.get("lang")) if c in LOCALES), None) \
            or request.accept_languages.best_match(LOCALES) or current_app.config["DEFAULT_LOCALE"]
        request.environ[_CHOSEN] = chosen
    return chosen


_CHOSEN = "companion.locale"


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
    from .realtime.context import app_class
    app = app_class()(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
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
            from .durability import sqlite_pragmas
            from .runtime import runtime
            sqlite_pragmas(db.engine, runtime(app))
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
