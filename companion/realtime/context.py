"""The request context of Socket.IO events: Flask's, built without URL matching."""
from __future__ import annotations

from functools import cache

SOCKETIO_PATH = "/socket.io/"


@cache
def app_class():
    """Flask, with the request context of Socket.IO events built without URL matching (and, after
    the first event, without decoding the session cookie).

    Flask-SocketIO runs every Socket.IO event in a request context built from its connection's
    handshake request (/socket.io/...). Pushing it matches that path against the URL map, for no
    use (the Socket.IO middleware answers the path before Flask), and werkzeug's matcher leaves a
    reference cycle per match (a recursive closure) for the cyclic collector, tens of thousands of
    objects a second under a flood of questions. The URL adapter is still bound, so url_for works."""
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
