"""The benchmark's peers (`bench/peers/`): each starts, and a fan-out round reaches every viewer, so a
ratio against a peer is a ratio against a working server. The raw `ws` peer writes its own
Engine.IO / Socket.IO framing, so a real socket.io client (python-socketio) must get through it too,
and a malformed packet must not stop it."""
from __future__ import annotations

import asyncio
import json
import shutil
import sys

import pytest

from companion.testing.liveserver import ROOT, Recorder

sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="the peers run on Node.js")


@pytest.fixture(scope="module", autouse=True)
def peers_installed():
    run.install_peers()


@pytest.fixture(params=sorted(run.PEERS))
def peer(request, tmp_path):
    target = run.Target(request.param, tmp_path).start()
    yield target
    target.stop()
    assert target.proc.returncode is not None


def test_every_peer_delivers_each_round_to_every_viewer(peer):
    (result,) = asyncio.run(run.fanout([peer], viewers=10, rounds=2, processes=1))
    assert result["connected"] == 10
    assert result["all_received_rounds"] == result["rounds"] == 2
    # the first viewer's copy came before the last's (p50_ms is rounded to 0.1 ms, first_p50_ms to 0.01)
    assert 0 < result["first_p50_ms"] <= result["p50_ms"] + 0.05


def test_a_socketio_client_asks_and_hears_the_question_on_air_from_every_peer(peer):
    moderator, viewer = Recorder(peer.url, "/staff"), Recorder(peer.url, "/")
    try:
        ack = viewer.call("submit_question", {"text": "Қашан жөнделеді?", "client_id": "peer-test-0001"})
        assert ack["ok"] and ack["created"]
        assert viewer.call("submit_question", {"text": "Қашан жөнделеді?", "client_id": "peer-test-0001"})["created"] is False
        assert viewer.call("submit_question", {"text": "  ", "client_id": "peer-test-0002"}) == {
            "ok": False, "error": {"code": "invalid"}}
        qid = ack["question"]["id"]
        assert moderator.wait_for("desk_changed", lambda d: d["event"] == "question_submitted")["questions"][0]["id"] == qid
        assert moderator.call("approve", {"id": qid})["ok"]
        assert moderator.call("send_to_air", {"id": qid})["ok"]
        feed = viewer.wait_for("feed_changed")
        assert feed["questions"] == [{"id": qid, "visible": True, "text": "Қашан жөнделеді?", "status": "on_air", "votes": 0,
                                      "asker_count": 1, "author_name": "", "district": ""}]
        assert moderator.wait_for("prompter_changed")["on_air"]["id"] == qid
        assert moderator.call("send_to_air", {"id": 10**6}) == {"ok": False, "error": {"code": "not_found"}}
    finally:
        moderator.close()
        viewer.close()


def test_the_ws_peer_survives_malformed_packets_and_refuses_unknown_namespaces(tmp_path):
    target = run.Target("ws", tmp_path).start()

    async def attack() -> tuple[list[str], str]:
        async with run.session() as http:
            url = target.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
            ws = await http.ws_connect(url)
            opened = json.loads((await ws.receive()).data[1:])
            assert opened["upgrades"] == [] and opened["pingInterval"] == 25000 and opened["sid"]
            for junk in ("42[", "42", "4", "421x[", '42["no_such_event"]', '42["__proto__",{}]', '421["constructor"]',
                         '42/staff,["send_to_air",{"id":1}]', '42{"not":"an array"}', "\x00\xff", "9"):
                await ws.send_str(junk)
            for packet in ("2", "40/nowhere,{}", "40"):  # a ping, a namespace that is not there, the main one
                await ws.send_str(packet)
            replies = [(await ws.receive(timeout=5)).data for _ in range(3)]
            await ws.close()
            big = await http.ws_connect(url)  # over maxPayload: the library closes that one connection
            await big.receive()
            await big.send_str("42" + "x" * 70_000)
            closed = await big.receive(timeout=5)
            return replies, closed.type.name
    try:
        replies, closed = asyncio.run(attack())
        assert replies[:2] == ["3", '44/nowhere,{"message":"Invalid namespace"}'], replies  # nothing else came back
        assert json.loads(replies[2][2:])["sid"], replies
        assert closed in ("CLOSE", "CLOSED", "CLOSING"), closed
        assert target.proc.poll() is None, "a malformed packet stopped the peer"
        viewer = Recorder(target.url, "/")
        try:
            assert viewer.call("submit_question", {"text": "still up", "client_id": "peer-after-attack"})["ok"]
        finally:
            viewer.close()
    finally:
        target.stop()
