"""Engine.IO's WebSocket transport under eventlet, with no green thread, queue or timer per viewer: once
the handshake is answered the connection is held by the hub (as Node.js holds its sockets). The hub
reads and parses frames (wsproto, `frames.Reader`) when the socket is readable; a sender writes its
frame at once (a slow viewer's excess goes to a backlog sent in order); pings are hub timers; a room's
message is framed once per slice (`send_packet_to_many`). Design: docs/realtime.md, "The WebSocket
transport (eventlet)". Import only after eventlet's monkey patch (`companion.serve` does), then `install`.
"""
from __future__ import annotations

import collections
import io
import random
import socket as stdlib_socket
import time

import engineio.exceptions
import engineio.packet
import engineio.server
import engineio.socket
from eventlet import Timeout, spawn_n
from eventlet.hubs import get_hub
from eventlet.websocket import RFC6455WebSocket

from . import versions
from .frames import BINARY, TEXT, Closed, Reader, close_frame, encode

READ_BYTES = 16384  # read per hub callback: bounds the work one client's bytes cause at a time
# Engine.IO packets other than messages (pongs, and what a client has no reason to send once the
# hub holds it: pings, noops, upgrades): a few a second are plenty (a pong every ping interval)
OTHER_PACKETS_PER_SECOND = 5.0
OTHER_PACKETS_BURST = 20.0
PONG_SLACK = 0.05  # seconds past the ping timeout before a missing pong ends the connection
POST_BODY_SECONDS = 10  # a long-polling POST's body must arrive within this (then the session ends)
NO_BODY = io.BytesIO()  # what a handed-over request's environ keeps as its input
PING, PONG, MESSAGE = engineio.packet.PING, engineio.packet.PONG, engineio.packet.MESSAGE
MESSAGE_CHAR, PONG_CHAR, CLOSE_CHAR = str(MESSAGE), str(PONG), str(engineio.packet.CLOSE)


class Link:
    """One WebSocket held by the hub. `count` is how many are open in this process, `limit` the cap."""
    __slots__ = ("socket", "sock", "fd", "listener", "reader", "backlog", "closing", "closed", "allowance", "at")
    count = 0
    limit = 10_000

    def __init__(self, socket, sock):
        self.socket, self.sock, self.fd = socket, sock, sock.fd  # eventlet's socket and the OS one
        self.reader: Reader | None = None  # made at the first bytes a viewer sends (most send few)
        self.backlog: collections.deque | None = None  # frames waiting for the socket to drain
        self.closing = self.closed = False
        self.allowance, self.at = OTHER_PACKETS_BURST, time.monotonic()  # for packets other than messages
        hub = get_hub()
        self.listener = hub.add(hub.READ, sock.fileno(), self._readable, self._lost, self._lost)
        Link.count += 1

    # Writing: never waits, so no other green thread runs in between.
    def write(self, message) -> None:
        if isinstance(message, str):
            self._send(encode(TEXT, message.encode()))
        else:
            self._send(encode(BINARY, message))

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
            data = self.fd.recv(READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return self._lost()
        try:
            if self.reader is None:
                self.reader = Reader(self.socket.server.max_http_buffer_size)
            messages, replies = self.reader.feed(data)
            for reply in replies:
                if self.backlog is None:  # a pong is dropped rather than queued behind a slow reader
                    self._send(reply)
            for message in messages:
                if self.closed:
                    return
                self._packet(message)
        except Closed as closed:
            self._send(close_frame(closed.code))
            self._lost()
        except engineio.exceptions.SocketIsClosedError:
            self._lost()
        except Exception:  # a bad Engine.IO packet: nothing may reach the hub
            self._send(close_frame(1002))
            self._lost()

    def _packet(self, message: str) -> None:
        socket = self.socket
        kind = message[:1]
        if kind == MESSAGE_CHAR:  # the Socket.IO packet gate (`realtime.gate`) counts these
            pkt = engineio.packet.Packet(encoded_packet=message)
            if socket.server.async_handlers:
                socket.receive(pkt)  # returns at once: a green thread runs the handler
            else:
                spawn_n(self._receive, socket, pkt)
            return
        now = time.monotonic()
        self.allowance = min(OTHER_PACKETS_BURST, self.allowance + (now - self.at) * OTHER_PACKETS_PER_SECOND)
        self.at = now
        if self.allowance < 1:
            raise Closed(1008, "too many Engine.IO packets")
        self.allowance -= 1
        if kind == PONG_CHAR:
            socket.receive(engineio.packet.Packet(encoded_packet=message))  # returns at once: a timer
        elif kind == CLOSE_CHAR:
            raise Closed(1000, "closed by the client")
        # anything else (ping, noop, upgrade, unknown) means nothing here: dropped

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
                self.fd.send(encode(0x8, close_payload))  # if there is room; the close follows anyway
            except OSError:
                pass
        try:
            self.fd.shutdown(stdlib_socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.socket = None  # the engineio socket refers to this link: no cycle is left
        self.reader = None


class Socket(engineio.socket.Socket):
    """python-engineio's socket, sending through its Link once the hub holds the WebSocket."""
    link: Link | None = None
    pinged = False
    ping_timer = None  # the hub timer of the next ping, cancelled when the socket closes
    Link = Link

    def handle_post_request(self, environ):
        try:
            with Timeout(POST_BODY_SECONDS):
                return super().handle_post_request(environ)
        except Timeout:
            raise engineio.exceptions.ContentTooLongError("the request's body did not arrive in time") from None

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
            # keep the socket until then: after an audience leaves, work for no one.
            self.ping_timer.cancel()
            self.ping_timer = None
        # python-engineio forgets a socket when its handler returns; this one returned long ago
        self.server.sockets.pop(self.sid, None)

    def schedule_ping(self):
        if self.last_ping:
            self.last_ping = None
            if self.ping_timer is not None:  # the pong came: its deadline is void
                self.ping_timer.cancel()
            delay = self.server.ping_interval
            if not self.pinged:
                # The first ping comes at a random point of the interval's second half (early is
                # allowed: the client only counts the time since the last one), so viewers who
                # joined together, as after a restart, do not all answer in the same instant.
                self.pinged = True
                delay *= random.uniform(0.5, 1.0)
            self.ping_timer = get_hub().schedule_call_global(delay, spawn_n, self._ping)

    def _ping(self):
        self.ping_timer = None
        if not self.closing and not self.closed:
            self.last_ping = sent = time.time()
            self.send(engineio.packet.Packet(PING))
            # The pong is due within the ping timeout. python-engineio's own sweep visits each
            # socket once per ping timeout, so a silent client lived up to twice as long; the
            # timer ends it on time.
            if not self.closed:
                self.ping_timer = get_hub().schedule_call_global(self.server.ping_timeout + PONG_SLACK, spawn_n,
                                                                 self._pong_overdue, sent)

    def _pong_overdue(self, sent: float):
        self.ping_timer = None
        if self.last_ping == sent and not self.closed:
            self.check_ping_timeout()  # closes it, with the reason "ping timeout"

    def _websocket_handler(self, ws):
        if self.connected or not isinstance(ws, RFC6455WebSocket):
            # an upgrade from long-polling, read by python-engineio's own handling: the server's
            # socket timeout (for requests) would end it between two pongs
            getattr(ws, "socket", None) and ws.socket.settimeout(self.server.ping_interval + self.server.ping_timeout)
            return super()._websocket_handler(ws)
        ws.websocket_closed = True  # eventlet sends no closing frame when this returns
        if Link.count >= Link.limit:
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
        # thread ends (see `serve.Protocol.finish` and `serve.pool_class`), and what the Socket.IO
        # session keeps of the request must not keep that green thread's objects.
        sock.handed_to_hub = True
        environ = ws.environ
        environ["wsgi.input"] = environ["eventlet.input"] = NO_BODY
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
            data = encode(TEXT, pkt.encode().encode())
        link._send(data)


def install(max_connections: int) -> type:
    """Put this transport in python-engineio's place (after checking the libraries' versions)."""
    versions.check()
    Link.limit = max_connections
    engineio.server.Server.send_packet_to_many = send_packet_to_many
    engineio.socket.Socket = Socket
    return Socket
