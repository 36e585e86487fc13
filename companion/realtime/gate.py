"""The gate every Socket.IO packet from a client passes before python-socketio reads it.

- Every packet takes a token from the connection's bucket (connect, disconnect, acks and events
  to namespaces it never joined included): beyond the allowance an event with an acknowledgement
  is answered `rate_limited`, anything else is dropped, and a connection that keeps flooding is
  closed. Events named like Socket.IO's own (`connect`, `disconnect`, ...) would have run the
  connect handler again or raised a traceback per packet: they are dropped.
- Binary packets and attachments are refused by closing the connection: the app sends and accepts
  only JSON, and python-socketio keeps every announced attachment until the last arrives (one
  viewer announcing a million would grow the process without bound).
- Long-polling POSTs larger than a message may be, get 413 at once, before their body is read
  (`guard_polling_posts`).
"""
from __future__ import annotations

import json
import logging
import time

from flask import Flask
from socketio import packet as sio_packet

from ..services.limits import RateLimited

log = logging.getLogger(__name__)

FLOOD_DISCONNECT = 5.0  # seconds of packets beyond the allowance before the connection is closed
RESERVED = frozenset({"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"})
BINARY = (str(sio_packet.BINARY_EVENT), str(sio_packet.BINARY_ACK))
EVENT = str(sio_packet.EVENT)


# The staff's events that read much more than others cost more of the allowance: the desk's whole state
# (a long broadcast's is 300 ms of the server's work), a page of a column, the duplicate groups. A desk asks
# for them a few times a minute; one socket asking twenty times a second held up every other moderator for
# seconds. (A viewer's snapshot is the broadcast's recent copy, as cheap as any event.)
COSTLY = {"get_snapshot": 10, "desk_page": 5, "desk_insights": 5, "desk_questions": 5}
STAFF_EVENT = EVENT + "/staff,"


def take_token(environ: dict, rate: float, cost: int = 1) -> str:
    """`cost` tokens from the connection's bucket: "ok", "limited", or "flood" (close it)."""
    now = time.monotonic()
    bucket = environ.get("companion.bucket")
    if bucket is None:
        bucket = environ["companion.bucket"] = {"tokens": 2.0 * rate, "at": now, "debt": 0.0}
    bucket["tokens"] = min(2.0 * rate, bucket["tokens"] + (now - bucket["at"]) * rate)
    bucket["at"] = now
    if bucket["tokens"] >= cost:
        bucket["tokens"] -= cost
        bucket["debt"] = max(0.0, bucket["debt"] - 1.0 / rate)
        return "ok"
    bucket["debt"] += 1.0 / rate
    return "flood" if bucket["debt"] > FLOOD_DISCONNECT else "limited"


def close(server, eio_sid: str, why: str) -> None:
    """End the Engine.IO session at once (never waiting for a poll that may not come)."""
    log.info("closed a connection: %s", why)
    for namespace in list(server.manager.get_namespaces()):
        sid = server.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid:
            server.disconnect(sid, namespace=namespace, ignore_queue=True)
    socket = server.eio.sockets.get(eio_sid)
    if socket is not None:
        socket.close(wait=False, abort=True, reason=server.eio.reason.TRANSPORT_ERROR)
    server._binary_packet.pop(eio_sid, None)


def event_name(data: str) -> tuple[str | None, int | None, object]:
    """An EVENT packet's namespace, acknowledgement id and name, or raise ValueError."""
    pkt = sio_packet.Packet(encoded_packet=data)
    name = pkt.data[0] if isinstance(pkt.data, list) and pkt.data else None
    return pkt.namespace, pkt.id, name


def quick_name(data: str) -> str | None:
    """An EVENT packet's name read without decoding its JSON, when it is a plain string (no escapes);
    None when only a full decode can tell."""
    start = data.find("[", data.find(",") + 1 if data[1:2] == "/" else 1)  # after the namespace, if any
    if start < 0 or data[start + 1:start + 2] != '"':
        return None
    end = data.find('"', start + 2)
    name = data[start + 2:end] if end > 0 else "\\"
    return None if "\\" in name else name


def install(server, app: Flask) -> None:
    """Put the gate in front of python-socketio's packet handler on `server`."""
    dispatch = server._handle_eio_message

    def gated(eio_sid, data):
        if not isinstance(data, str) or data[:1] in BINARY:
            return close(server, eio_sid, "binary data")
        environ = server.environ.get(eio_sid)
        if environ is None:
            return None
        verdict = take_token(environ, app.config["EVENTS_PER_SECOND_PER_CONNECTION"])
        if verdict == "flood":
            return close(server, eio_sid, "event flood")
        is_event = data[:1] == EVENT
        if is_event and verdict == "ok":
            name = quick_name(data)
            if name in COSTLY and data.startswith(STAFF_EVENT):  # the rest of its cost (the packet took one token)
                verdict = take_token(environ, app.config["EVENTS_PER_SECOND_PER_CONNECTION"], COSTLY[name] - 1)
                verdict = "limited" if verdict == "flood" else verdict  # refused, not yet a flood
            elif name is not None:  # the common case: one decode, python-socketio's
                return None if name in RESERVED else checked(eio_sid, data)
        if verdict == "limited" or is_event:
            try:
                namespace, ack_id, name = event_name(data) if is_event else (None, None, None)
            except (ValueError, TypeError, IndexError, json.JSONDecodeError):
                return close(server, eio_sid, "a malformed packet")
            if is_event and (not isinstance(name, str) or name in RESERVED):
                return None  # dropped: no handler is meant for it
            if verdict == "limited":
                if ack_id is not None and server.manager.sid_from_eio_sid(eio_sid, namespace or "/"):
                    answer = {"ok": False, "error": RateLimited(retry_after=1).to_dict()}
                    server._send_packet(eio_sid, server.packet_class(
                        sio_packet.ACK, namespace=namespace or "/", data=[answer], id=ack_id))
                return None
        return checked(eio_sid, data)

    def checked(eio_sid, data):
        # python-socketio decodes the packet here (the handlers run in green threads of their own, so
        # what is raised is the packet's fault): one line, and the connection ends, instead of a
        # traceback per malformed packet
        try:
            return dispatch(eio_sid, data)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
            return close(server, eio_sid, "a malformed packet")

    server._handle_eio_message = gated  # what Flask-SocketIO's test client calls
    server.eio.on("message", gated)  # what python-engineio calls


def guard_polling_posts(wsgi_app, limit: int):
    """A long-polling POST whose body would be over `limit` (or does not say its size) is answered
    413 at once: python-engineio answered 400 and then waited forever for the client's next poll.
    A request python-engineio fails on (a POST to a session that just closed raises KeyError) is the
    client's error: 400, not a 500."""
    def guarded(environ, start_response):
        if not environ.get("PATH_INFO", "").startswith("/socket.io"):
            return wsgi_app(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST":
            length = environ.get("CONTENT_LENGTH") or ""
            if not length.isascii() or not length.isdigit() or int(length) > limit:
                start_response("413 Request Entity Too Large", [("Content-Type", "text/plain"), ("Connection", "close")])
                return [b"Payload too large"]
        try:
            return wsgi_app(environ, start_response)
        except (KeyError, ValueError) as exc:
            log.info("refused a Socket.IO request: %s", type(exc).__name__)
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"Bad request"]
    return guarded
