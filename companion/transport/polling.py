"""python-engineio's long-polling, made safe against clients that misbehave.

A long-polling POST whose body does not decode (bad base64, bad UTF-8, too many packets, cut
short) is refused with 400 and ends the session, instead of a traceback in the log per request.

`Socket.close(wait=True)` waits until the client has fetched its close packet; a long-polling
client that went away (or posted a body too large and never polled again) never does, and the
green thread waited forever, holding its connection slot. Here it waits at most `WAIT_SECONDS`: a
polling client that is still there has a poll waiting, which takes the packet at once."""
from __future__ import annotations

import time

import engineio.exceptions
import engineio.socket

WAIT_SECONDS = 1.0  # a polling client always has its next poll on the way


def _library_socket() -> type:
    """python-engineio's own Socket class (the server seam may have put a subclass in its place)."""
    return next(c for c in engineio.socket.Socket.__mro__ if c.__module__ == "engineio.socket" and c.__name__ == "Socket")


_close = _library_socket().close
_handle_post_request = _library_socket().handle_post_request


def handle_post_request(self, environ):
    """python-engineio's, with a body that does not decode refused as the client's error."""
    try:
        return _handle_post_request(self, environ)
    except (ValueError, TypeError, KeyError, IndexError, UnicodeError, RecursionError) as exc:
        raise engineio.exceptions.EngineIOError(type(exc).__name__) from None


def close(self, wait=True, abort=False, reason=None):
    """Close the session; wait for the client to take the close packet, but not forever."""
    _close(self, wait=False, abort=abort, reason=reason)
    if wait:
        deadline = time.monotonic() + min(WAIT_SECONDS, self.server.ping_timeout)
        while getattr(self.queue, "unfinished_tasks", 0) and time.monotonic() < deadline:
            self.server.sleep(0.05)


def install() -> None:
    """Bound the wait of every Engine.IO session's close; refuse undecodable POSTs (idempotent)."""
    library = _library_socket()
    library.close = close
    library.handle_post_request = handle_post_request
