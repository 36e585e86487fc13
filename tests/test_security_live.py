"""Security on the real server: sockets closed at logout, origins, oversized frames, floods, logs."""
from __future__ import annotations

import re
import statistics
import threading
import time

import pytest
import requests
import socketio
import websocket

from .liveserver import LiveServer, Recorder


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def wait_until(predicate, timeout: float) -> float:
    """Seconds until `predicate()` held; fails after `timeout`."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not met in time"
        time.sleep(0.05)
    return time.monotonic() - start


def test_logout_closes_that_users_sockets_within_five_seconds(server):
    http = requests.Session()
    html = http.get(server.url + "/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    http.post(server.url + "/login", data={"username": "mod", "password": "correct-horse-battery",
                                           "csrf_token": token}, allow_redirects=False)
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    moderator = Recorder(server.url, "/staff", cookie)
    other_device = Recorder(server.url, "/staff", server.login("mod"))  # another sign-in stays
    page = http.get(server.url + "/admin/broadcasts").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    http.post(server.url + "/logout", data={"csrf_token": token}, allow_redirects=False)
    took = wait_until(lambda: not moderator.client.connected, 5)
    assert took < 5
    assert other_device.client.connected
    with pytest.raises(socketio.exceptions.ConnectionError):
        Recorder(server.url, "/staff", cookie)  # the old cookie cannot reconnect
    other_device.close()


@pytest.mark.parametrize("configured", [None, "https://ask.example.kz"])
def test_foreign_origin_is_refused_on_polling_and_websocket(tmp_path, configured):
    """Same origin only by default; with COMPANION_ALLOWED_ORIGINS, exactly the listed origins."""
    live = LiveServer(tmp_path, **({"ALLOWED_ORIGINS": configured} if configured else {})).start()
    allowed = configured or live.url
    try:
        polling = live.url + "/socket.io/?EIO=4&transport=polling"
        assert requests.get(polling, headers={"Origin": "https://evil.example"}, timeout=5).status_code == 400
        assert requests.get(polling, headers={"Origin": allowed}, timeout=5).status_code == 200
        ws_url = live.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        with pytest.raises(websocket.WebSocketBadStatusException):
            websocket.create_connection(ws_url, origin="https://evil.example", timeout=5)
        ok = websocket.create_connection(ws_url, origin=allowed, timeout=5)
        assert ok.recv().startswith("0{")  # the Engine.IO open packet
        ok.close()
    finally:
        live.stop()


def test_oversized_frames_are_refused_without_memory_growth(server):
    ws_url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    payload = '421["submit_question",{"text":"' + "x" * (2 * 1024 * 1024) + '"}]'  # with an ack id
    baseline = None
    closed = 0
    for i in range(12):
        ws = websocket.create_connection(ws_url, timeout=10)
        ws.recv()
        ws.send('40{"slug":"demo"}')
        ws.recv()
        try:
            ws.send(payload)
            reply = ws.recv()  # the server closes the connection instead of answering
            closed += reply == ""  # a close frame
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            closed += 1
        finally:
            ws.close()
        if i == 1:
            baseline = rss_kb(server.proc.pid)
    assert closed == 12  # never an acknowledgement: the frame was refused, not parsed
    growth = rss_kb(server.proc.pid) - baseline
    assert growth < 8 * 1024, f"RSS grew {growth} KB over 10 frames of 2 MB"
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_one_flooding_connection_does_not_slow_other_viewers(server):
    flooder = Recorder(server.url, "/", server.viewer_cookie())
    calm = Recorder(server.url, "/", server.viewer_cookie())
    baseline = []
    for _ in range(20):
        t = time.monotonic()
        calm.call("get_snapshot", {})
        baseline.append(time.monotonic() - t)
    stop = threading.Event()

    def flood():
        while not stop.is_set() and flooder.client.connected:
            try:
                flooder.client.emit("get_snapshot", {}, namespace="/")
            except Exception:  # noqa: BLE001 - dropped by the server
                return
            time.sleep(0.002)  # about 500 events per second
    thread = threading.Thread(target=flood)
    thread.start()
    during = []
    for _ in range(40):
        t = time.monotonic()
        assert calm.call("get_snapshot", {})["ok"]
        during.append(time.monotonic() - t)
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    assert not flooder.client.connected  # the flood was dropped
    p95 = sorted(during)[int(len(during) * 0.95)]
    assert p95 < max(0.1, 5 * statistics.median(baseline)), (p95, statistics.median(baseline))
    calm.close()


def test_personal_data_never_reaches_the_logs(tmp_path):
    live = LiveServer(tmp_path).start()
    phone, email, name = "+77015550123", "aliya.secret@mail.kz", "Aliya Secretova"
    try:
        viewer = Recorder(live.url, "/", live.viewer_cookie())
        viewer.call("submit_question", {"text": "Heating", "client_id": "pii-log-0001", "author_name": name,
                                        "contact": phone, "consent": True})
        viewer.call("submit_question", {"text": "Water", "client_id": "pii-log-0002", "author_name": name,
                                        "contact": email, "consent": True})
        viewer.call("submit_question", {"text": "", "client_id": "pii-log-0003", "contact": "+7701555012"})
        requests.post(live.url + "/api/v1/broadcasts/demo/questions",
                      json={"text": "x", "contact": email, "author_name": name}, timeout=5)
        requests.post(live.url + "/api/v1/broadcasts/demo/questions", data="{broken", timeout=5,
                      headers={"Content-Type": "application/json"})
        moderator = Recorder(live.url, "/staff", live.login("mod"))
        moderator.call("get_snapshot", {})
        viewer.close()
        moderator.close()
    finally:
        live.stop()
    log = live.log.read_text()
    assert "Companion is serving" in log  # the log was captured
    for secret in (phone, "7015550123", email, name):
        assert secret not in log
