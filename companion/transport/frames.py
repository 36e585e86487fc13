"""WebSocket frames (RFC 6455) without I/O: what clients send is parsed by wsproto, a maintained
sans-I/O implementation, with this app's limits applied as the bytes arrive; the server's own
frames (final, unmasked) are made by `encode`, which the tests check byte for byte against
wsproto's encoder."""
from __future__ import annotations

import struct

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
MAX_FRAGMENTS = 64  # frames in one message (browsers send one; an empty continuation flood is refused)
MAX_CONTROL_PER_READ = 64  # pings and pongs in one read of the socket


def encode(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked frame: what a server sends (RFC 6455, 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def close_frame(code: int) -> bytes:
    """The server's close frame with a status code."""
    return encode(CLOSE, struct.pack("!H", code))


class Closed(Exception):
    """The connection ends: `code` is the status the server's close frame carries (RFC 6455, 7.4)."""

    def __init__(self, code: int, reason: str = ""):
        super().__init__(f"{code} {reason}".strip())
        self.code = code
        self.reason = reason


class Reader:
    """A client's byte stream in, whole text messages out; one per connection.

    `feed` returns the messages completed by these bytes and the frames to answer with (pongs), or
    raises Closed. Linear in the bytes fed: wsproto hands payloads over as they arrive, and the
    message's size and number of fragments are checked then, never by re-reading what came before.
    Binary messages are refused (1003): this app sends and accepts only text."""

    __slots__ = ("connection", "decoder", "limit", "parts", "size", "fragments")

    def __init__(self, limit: int):
        self.connection = Connection(ConnectionType.SERVER)
        # wsproto's frame decoder, read (never changed) for the length a frame's header announces,
        # so an oversized message is refused before its payload is sent (`versions` pins wsproto)
        self.decoder = self.connection._proto._frame_decoder
        self.limit = limit  # bytes in one message
        self.parts: list[str] = []
        self.size = 0
        self.fragments = 0

    def feed(self, data: bytes) -> tuple[list[str], list[bytes]]:
        """Parse `data`; return (messages completed, frames to send back)."""
        connection = self.connection
        connection.receive_data(data)
        messages: list[str] = []
        replies: list[bytes] = []
        control = 0
        for event in connection.events():
            if isinstance(event, TextMessage):
                self._add(event.data, event.frame_finished)
                if event.message_finished:
                    messages.append("".join(self.parts) if len(self.parts) != 1 else self.parts[0])
                    self.parts, self.size, self.fragments = [], 0, 0
            elif isinstance(event, BytesMessage):
                raise Closed(CloseReason.UNSUPPORTED_DATA, "binary messages are not accepted")
            elif isinstance(event, CloseConnection):
                if event.code in (CloseReason.ABNORMAL_CLOSURE, CloseReason.NO_STATUS_RCVD):
                    raise Closed(CloseReason.NORMAL_CLOSURE, "closed by the client")
                # wsproto reports the client's close and a broken frame alike, with the code to send back
                raise Closed(event.code, event.reason or "")
            else:  # Ping or Pong
                control += 1
                if control > MAX_CONTROL_PER_READ:
                    raise Closed(CloseReason.POLICY_VIOLATION, "too many control frames")
                if isinstance(event, Ping):
                    replies.append(encode(PONG, bytes(event.payload)))
        header = self.decoder.header  # a frame whose payload has not all arrived yet
        if header is not None and header.opcode < CLOSE and \
                self.size + header.payload_len - self.decoder.payload_consumed > self.limit:
            raise Closed(CloseReason.MESSAGE_TOO_BIG, "message too large")
        return messages, replies

    def _add(self, text: str, frame_finished: bool) -> None:
        if text:
            self.size += len(text) if text.isascii() else len(text.encode())
            if self.size > self.limit:
                raise Closed(CloseReason.MESSAGE_TOO_BIG, "message too large")
            self.parts.append(text)
        if frame_finished:
            self.fragments += 1
            if self.fragments > MAX_FRAGMENTS:
                raise Closed(CloseReason.MESSAGE_TOO_BIG, "too many fragments")
