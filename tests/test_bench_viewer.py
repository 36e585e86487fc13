"""The load generator's lean viewer (`bench/viewer.py`): the fan-out figures count what it reads,
so it must join, stay (answer pings), and see every copy, whole, however the bytes arrive."""
from __future__ import annotations

import asyncio
import json
import sys
import time

import pytest

from companion.testing.liveserver import ROOT, LiveServer, Recorder

sys.path.insert(0, str(ROOT / "bench"))
import viewer  # noqa: E402


def test_the_lean_viewer_stays_through_pings_and_hears_every_send_to_air(tmp_path):
    server = LiveServer(tmp_path, PING_INTERVAL_SECONDS=1, PING_TIMEOUT_SECONDS=1).start()
    moderator = Recorder(server.url, "/staff", server.login("mod"))
    asker = Recorder(server.url, "/", server.viewer_cookie())
    try:
        ids = []
        for i in range(2):
            ack = asker.call("submit_question", {"text": f"Lean viewer question {i}", "client_id": f"lean-viewer-{i:04d}"})
            assert ack.get("ok"), ack
            ids.append(ack["question"]["id"])
            assert moderator.call("approve", {"id": ids[-1]})["ok"]

        async def watch() -> list[dict]:
            heard: list[bytes] = []
            lean = await viewer.connect(server.url, {"feed_changed": heard.append})
            await asyncio.sleep(3.5)  # three pings or more, each to be answered within a second
            for qid in ids:
                await asyncio.to_thread(moderator.call, "send_to_air", {"id": qid, "finish_current": "defer"})
            deadline = time.monotonic() + 10
            while len([h for h in heard if b'"on_air"' in h]) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not lean.transport.is_closing(), "the server dropped the viewer: pings unanswered?"
            lean.close()
            return [json.loads(h[2:])[1] for h in heard]

        feeds = asyncio.run(watch())
        on_air = [q["id"] for f in feeds for q in f["questions"] if q.get("status") == "on_air"]
        assert on_air == ids
    finally:
        moderator.close()
        asker.close()
        server.stop()


def test_the_lean_viewer_refuses_a_server_that_does_not_join_it(tmp_path):
    server = LiveServer(tmp_path).start()
    try:
        async def join():
            return await viewer.connect(server.url, {}, auth={"slug": "no-such-broadcast"}, timeout=10)
        with pytest.raises(ConnectionError, match="refused"):
            asyncio.run(join())
    finally:
        server.stop()


HANDSHAKE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


async def stub_server(reply: bytes, chunk: int) -> tuple[asyncio.AbstractServer, str]:
    """A local stub of a WebSocket server (neither real server sends these bytes on demand): it
    answers the handshake with `reply`, `chunk` bytes per write."""
    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        for i in range(0, len(reply), chunk):
            writer.write(reply[i:i + chunk])
            await writer.drain()
            await asyncio.sleep(0)
        await reader.read()  # until the viewer hangs up
        writer.close()
    stub = await asyncio.start_server(serve, "127.0.0.1", 0)
    return stub, f"http://127.0.0.1:{stub.sockets[0].getsockname()[1]}"


def server_frame(payload: bytes, opcode: int = 1, final: bool = True) -> bytes:
    first = (0x80 if final else 0) | opcode
    n = len(payload)
    if n < 126:
        return bytes([first, n]) + payload
    if n < 65536:
        return bytes([first, 126]) + n.to_bytes(2, "big") + payload
    return bytes([first, 127]) + n.to_bytes(8, "big") + payload


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_the_lean_viewer_reads_frames_however_the_bytes_are_split(chunk):
    big = b'42["feed_changed",{"text":"' + b"x" * 70_000 + b'"}]'
    medium = b'42["feed_changed",{"text":"' + b"y" * 300 + b'"}]'
    reply = (HANDSHAKE + b"\r\n" + server_frame(b'0{"sid":"s"}') + server_frame(b'40{"sid":"n"}')
             + server_frame(medium) + server_frame(big[:1000], final=False) + server_frame(big[1000:], opcode=0)
             + server_frame(b'42["other",{}]') + server_frame(b'42["feed_changed",{}]'))

    async def run() -> list[bytes]:
        stub, url = await stub_server(reply, chunk)
        heard: list[bytes] = []
        lean = await viewer.connect(url, {"feed_changed": heard.append}, timeout=10)
        deadline = time.monotonic() + 10
        while len(heard) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        lean.close()
        stub.close()
        return heard

    assert asyncio.run(run()) == [medium, big, b'42["feed_changed",{}]']


def test_the_lean_viewer_refuses_a_server_that_accepts_compression():
    """Browsers offer permessage-deflate and so does the viewer; it cannot inflate, so a server
    that accepted would have its compressed copies miscounted: the viewer refuses it instead."""
    reply = HANDSHAKE + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n" + server_frame(b'0{"sid":"s"}')

    async def run():
        stub, url = await stub_server(reply, 4096)
        try:
            await viewer.connect(url, {}, timeout=10)
        finally:
            stub.close()
    with pytest.raises(ConnectionError, match="compression"):
        asyncio.run(run())


def test_a_client_frame_is_masked_and_unmasks_to_the_text():
    for text in ("3", "40" + "é" * 100, "x" * 70_000):
        data = viewer.frame(text)
        n = len(text.encode())
        assert data[0] == 0x81 and data[1] & 0x80  # final text frame, masked
        start = 2 if n < 126 else 4 if n < 65536 else 10
        mask, body = data[start:start + 4], data[start + 4:]
        assert len(body) == n
        assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)).decode() == text
