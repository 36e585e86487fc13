"""The Engine.IO WebSocket transport as served in production (eventlet), seen from a raw client:
the frames on the wire, not what a Socket.IO library makes of them."""
from __future__ import annotations

import base64
import json
import os
import socket
import struct

import pytest

from .liveserver import LiveServer

BROWSER_EXTENSIONS = "permessage-deflate; client_max_window_bits"  # what Chromium offers


class RawViewer:
    """A WebSocket client that shows each frame's header bits, and can stop reading."""

    def __init__(self, url: str, extensions: str | None = BROWSER_EXTENSIONS, cookie: str | None = None):
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", f"Host: {host}:{port}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if extensions:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        if cookie:
            lines.append(f"Cookie: {cookie}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        self.status, *headers = head.decode().split("\r\n")[:-2]
        self.headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in headers)}

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def frame(self) -> tuple[int, bytes]:
        """The next frame: (its first header byte, its payload)."""
        first, second = self._exact(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._exact(8))[0]
        return first, self._exact(length)

    def text(self) -> str:
        """The next text message, answering the server's pings on the way."""
        while True:
            first, payload = self.frame()
            message = payload.decode()
            if message == "2":
                self.send("3")
                continue
            return message

    def send(self, message: str) -> None:
        data, mask = message.encode(), os.urandom(4)
        header = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126 else
                                  bytes([0x80 | 126]) + struct.pack("!H", len(data)))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def join(self, auth: dict | None = None) -> None:
        assert self.text().startswith("0{")  # Engine.IO open
        self.send("40" + json.dumps(auth or {"slug": "demo"}))
        assert self.text().startswith("40")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server(tmp_path):
    live = LiveServer(tmp_path).start()
    yield live
    live.stop()


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_websocket_compression_is_declined_so_a_browser_viewer_costs_no_compressor(tmp_path, mode):
    """Browsers offer permessage-deflate. Accepting it (eventlet did) gave each viewer a zlib
    compressor of its own (100 KB more per viewer, measured) and compressed every broadcast once
    per viewer. The handshake declines it, and frames go out uncompressed (RSV1 clear)."""
    server = LiveServer(tmp_path, ASYNC_MODE=mode).start()
    viewer = RawViewer(server.url)
    try:
        assert viewer.status.startswith("HTTP/1.1 101")
        assert "sec-websocket-extensions" not in viewer.headers
        first, payload = viewer.frame()
        assert first == 0x81  # final text frame, no compression bit (0x40)
        assert payload.startswith(b'0{"sid"')
    finally:
        viewer.close()
        server.stop()
