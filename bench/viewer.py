"""A lean audience viewer for the load generator: Engine.IO 4 / Socket.IO 5 over a WebSocket, on a
plain asyncio Protocol.

The fan-out metrics' viewers only connect, answer pings and count one event. Through aiohttp each
message woke the viewer's reading task and passed a queue and a future: about 19 us of the
generator's CPU per message, more than the server under test spent sending it (the generator used
1.4 s of CPU for 20 rounds to 3,000 viewers, the server 1.1 s, on a machine of two cores). Here a
message is one `data_received` call that parses the frame in place, so the figure measures the
server rather than the generator. Staff and askers, who call events and wait for
acknowledgements, keep the aiohttp client (`run.Client`).

Like a browser, the viewer offers WebSocket compression; both servers under test decline it, and a
server that accepted it is refused here (this viewer does not inflate), so it cannot pass unseen.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from urllib.parse import urlsplit

def frame(text: str) -> bytes:
    """One masked text frame from a client (RFC 6455 5.3)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    mask = os.urandom(4)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return head + mask + (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


PONG = frame("3")  # Engine.IO's answer to a ping, framed once for every viewer


class Viewer(asyncio.Protocol):
    """One viewer: the WebSocket handshake, Engine.IO's open, Socket.IO's namespace connect, pings
    answered; every text message that starts with one of `watch`'s prefixes goes to its callback."""

    def __init__(self, host: str, path: str, auth: dict, watch: dict[bytes, callable]):
        self.host, self.path, self.auth, self.watch = host, path, auth, watch
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments: bytearray | None = None
        self.connected = asyncio.get_running_loop().create_future()
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode())

    def connection_lost(self, exc) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(f"connection lost: {exc}"))

    def fail(self, why: str) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(why))
        self.transport.abort()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).decode("latin-1").lower()
            del buffer[:end + 4]
            if not head.startswith("http/1.1 101"):
                return self.fail(f"no upgrade: {head.splitlines()[0]}")
            if "permessage-deflate" in head:
                return self.fail("the server accepted compression, which this viewer does not inflate")
            self.upgraded = True
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            n, start = second & 0x7F, 2
            if n == 126:
                if len(buffer) < 4:
                    return
                n, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif n == 127:
                if len(buffer) < 10:
                    return
                n, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if second & 0x80 or first & 0x70:
                return self.fail("a masked or compressed frame from the server")
            if len(buffer) < start + n:
                return
            payload = bytes(buffer[start:start + n])
            del buffer[:start + n]
            opcode = first & 0x0F
            if opcode == 0:  # a continuation
                if self.fragments is None:
                    return self.fail("a continuation without a first fragment")
                self.fragments += payload
                if first & 0x80:
                    payload, self.fragments = bytes(self.fragments), None
                    self.message(payload)
            elif opcode == 1:
                if first & 0x80:
                    self.message(payload)
                else:
                    self.fragments = bytearray(payload)
            elif opcode == 8:
                self.transport.close()
                return
            elif opcode == 9:  # a WebSocket ping (at most 125 bytes): the pong, masked with zeros
                self.transport.write(bytes([0x8A, 0x80 | n]) + b"\0\0\0\0" + payload)

    def message(self, data: bytes) -> None:
        if data == b"2":  # Engine.IO ping
            self.transport.write(PONG)
            return
        for prefix, callback in self.watch.items():
            if data.startswith(prefix):
                callback(data)
                return
        if data.startswith(b"0{"):  # Engine.IO open: connect the namespace
            self.transport.write(frame("40" + json.dumps(self.auth)))
        elif data.startswith(b"40") and not self.connected.done():
            self.connected.set_result(self)
        elif data.startswith(b"44") and not self.connected.done():
            self.fail(f"namespace refused: {data[:120]!r}")

    def close(self) -> None:
        if self.transport and not self.transport.is_closing():
            self.transport.write(b"\x88\x80\0\0\0\0")  # a close frame (empty, masked with zeros)
            self.transport.close()


async def connect(url: str, watch: dict[str, callable], auth: dict | None = None, timeout: float = 30) -> Viewer:
    """A viewer connected to the default namespace of the server at `url` (http://host:port);
    `watch` maps event names to callbacks that get the raw message."""
    parts = urlsplit(url)
    prefixes = {f'42["{event}"'.encode(): callback for event, callback in watch.items()}
    _, viewer = await asyncio.get_running_loop().create_connection(
        lambda: Viewer(parts.netloc, "/socket.io/?EIO=4&transport=websocket", auth or {"slug": "demo"}, prefixes),
        parts.hostname, parts.port)
    try:
        return await asyncio.wait_for(asyncio.shield(viewer.connected), timeout)
    except BaseException:
        viewer.transport.abort()
        raise
