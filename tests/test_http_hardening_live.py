"""HTTP hardening on the real server (issue 19, items 8, 13, 14): a large export does not hold the
event loop, and odd inputs get 4xx, never 5xx, on SQLite and PostgreSQL."""
from __future__ import annotations

import io
import json
import re
import sqlite3
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from openpyxl import load_workbook

from companion.testing.liveserver import PASSWORD, LiveServer, Recorder

EXPORT_ROWS = 11_000  # the size the issue measured (an XLSX of ~11,000 appeals held every ack for 1.1 s)


def fill_appeals(path: str, rows: int) -> None:
    """`rows` generated appeals straight into the server's SQLite file (WAL: the server keeps running)."""
    conn = sqlite3.connect(path, timeout=30)
    conn.execute(f"""
        WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < {rows - 1})
        INSERT INTO appeal (tracking_code, channel, language, text, author_name, district, address, contact,
                            category_id, department_id, status, follow_up, clock_running, received_at, due_date,
                            original_due_date, forward_due_date, extension_reason, forwarded_to, answer, updated_at,
                            version)
        SELECT 'BIG-' || x, 'web', 'ru', 'Appeal number ' || x || ' about the heating in block ' || (x % 90),
               '', 'Almaly', '', '', 1 + x % 6, 1 + x % 6, 'registered', 0, 1,
               datetime('now', '-' || (x % 30) || ' days') || '.000000', date('now', '+' || (x % 20) || ' days'),
               date('now', '+' || (x % 20) || ' days'), date('now', '+3 days'), '', '', '',
               datetime('now') || '.000000', 1
        FROM n""")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_a_large_export_does_not_hold_the_event_loop(tmp_path, mode):
    """While an XLSX (and then a CSV) of 11,000 appeals is built, a viewer's acknowledgement plus a
    /healthz request stay fast. Measured on the development host (2 cores, shared with other test
    runs) before the fix: one probe waited 2.3-4.6 s behind the XLSX (all of its build); after: the
    slowest of 50-150 probes took 25-180 ms (a baseline probe 5-60 ms), under eventlet and gevent
    alike. The bound, 0.5 s, leaves room for a loaded host and is far below the old stall."""
    # probing every few ms is not a flood: no token bucket in the way
    server = LiveServer(tmp_path, ASYNC_MODE=mode, EVENTS_PER_SECOND_PER_CONNECTION=10_000).start()
    try:
        fill_appeals(str(tmp_path / "live.db"), EXPORT_ROWS)
        server.cli("create-user", "boss", "--role", "admin", "--password", PASSWORD)
        cookie = server.login("boss")
        viewer = Recorder(server.url, "/", server.viewer_cookie())
        for fmt in ("xlsx", "csv"):
            baseline = []
            for _ in range(10):
                start = time.monotonic()
                assert viewer.call("get_snapshot", {})["ok"]
                baseline.append(time.monotonic() - start)
            done = threading.Event()
            result = {}

            def export():
                started = time.monotonic()
                response = requests.get(f"{server.url}/appeals/export.{fmt}", headers={"Cookie": cookie}, timeout=120)
                result.update(status=response.status_code, size=len(response.content),
                              seconds=time.monotonic() - started, content=response.content)
                done.set()
            thread = threading.Thread(target=export)
            thread.start()
            probes = []
            while not done.is_set():
                start = time.monotonic()
                assert viewer.call("get_snapshot", {})["ok"]
                assert requests.get(server.url + "/healthz", timeout=30).status_code == 200
                probes.append(time.monotonic() - start)
                time.sleep(0.01)
            thread.join(10)
            content = result.pop("content")
            assert result["status"] == 200, result
            if fmt == "xlsx":  # built in another thread, and still a whole workbook
                sheet = load_workbook(io.BytesIO(content), read_only=True).active
                rows = sum(1 for row in sheet.iter_rows(values_only=True) if str(row[0]).startswith("BIG-"))
            else:
                rows = content.count(b"BIG-")
            assert rows == EXPORT_ROWS, result
            worst = max(probes)
            print(f"{fmt}: export {result['seconds']:.2f} s, {result['size']} bytes; probes {len(probes)}, "
                  f"worst {worst * 1000:.0f} ms, baseline worst {max(baseline) * 1000:.0f} ms")
            assert worst < 0.5, (fmt, worst, result)  # before: the whole build, 2.3 s and more
            assert len(probes) >= 5, (fmt, result, probes)  # the export took long enough to be probed
        viewer.close()
    finally:
        server.stop()


# --- odd inputs: 4xx, never 5xx ------------------------------------------------------------------

HOSTILE_NEXT = ["//evil.example", "/\\evil.example", "/\t/evil.example", "\t//evil.example", "https://evil.example",
                "http:evil.example", "/\r\nLocation: https://evil.example", "/%0d%0aSet-Cookie:x=1", "javascript:alert(1)",
                " //evil.example", "\\\\evil.example", "/\\/evil.example", "///evil.example", "/\x00/evil.example",
                "/\u0085/evil.example", "https:/\\evil.example", "//evil.example@127.0.0.1"]

DEEP = "[" * 50_000 + "]" * 50_000
DEEP_OBJECT = '{"a":' * 20_000 + "1" + "}" * 20_000


def odd_requests(key: str) -> list[tuple]:
    """(method, path, keyword arguments for requests) with inputs that once gave 500s."""
    weird = ["é", "²", "٣", "\x00", "x\x00y", "\ud800", "99999999999999999999999", "-1", "0", "1e3", "\x1b[31m",
             "%", "%00", "..", "\u202e", "🙂"]
    cases = [("GET", "/overlay/demo", {"params": {"key": value}}) for value in weird]
    cases += [("GET", f"/lang/en?next={value}", {}) for value in ("/%0d%0aX:1", "/%09/evil", "/%00", "/%C2%85")]
    cases += [("GET", "/lang/en", {"params": {"next": value}}) for value in HOSTILE_NEXT]
    cases += [("GET", "/login", {"params": {"next": value}}) for value in HOSTILE_NEXT]
    for value in weird:
        cases += [("GET", "/open311/v2/services/{}.json".format(requests.utils.quote(value.encode("utf-8", "surrogatepass"))), {}),
                  ("GET", "/open311/v2/requests.json", {"params": {"service_code": value, "api_key": key}}),
                  ("GET", "/open311/v2/requests.json", {"params": {"service_request_id": value, "api_key": key}}),
                  ("GET", "/open311/v2/requests.json", {"params": {"start_date": value, "api_key": key}}),
                  ("GET", "/open311/v2/requests.json", {"params": {"api_key": value}}),
                  ("GET", "/track", {"params": {"code": value}}),
                  ("GET", "/api/v1/appeals/" + requests.utils.quote(value.encode("utf-8", "surrogatepass")), {}),
                  ("GET", "/track/" + requests.utils.quote(value.encode("utf-8", "surrogatepass")), {}),
                  ("GET", "/b/" + requests.utils.quote(value.encode("utf-8", "surrogatepass")), {}),
                  ("POST", "/api/v1/broadcasts/demo/questions", {"json": {"text": "Is " + value + " stored?"}}),
                  ("POST", "/api/v1/broadcasts/demo/questions", {"json": {"text": "Fine", "author_name": value}}),
                  ("POST", "/api/v1/broadcasts/demo/questions", {"json": {"text": "Fine", "client_id": value}}),
                  ("POST", "/open311/v2/requests.json", {"json": {"api_key": key, "description": "Text " + value}}),
                  ("POST", "/open311/v2/requests.json", {"json": {"api_key": key, "description": "ok",
                                                                  "address_string": value, "first_name": value}}),
                  ("POST", "/open311/v2/requests.json", {"json": {"api_key": key, "description": "ok",
                                                                  "client_id": "abcdefgh" + value}}),
                  ("POST", "/open311/v2/requests.json", {"json": {"api_key": key, "description": "ok",
                                                                  "service_code": value}}),
                  ("POST", "/open311/v2/requests.json", {"json": {"api_key": value, "description": "ok"}})]
    for value in ("inf", "-inf", "nan", "Infinity", "1e400", "91", "-181", True, [1], {"a": 1}):
        cases += [("POST", "/open311/v2/requests.json", {"json": {"api_key": key, "description": "at", "lat": value}}),
                  ("POST", "/open311/v2/requests.json", {"json": {"api_key": key, "description": "at", "long": value}}),
                  ("POST", "/open311/v2/requests.json", {"data": {"api_key": key, "description": "at", "long": str(value)}})]
    for body in (DEEP, DEEP_OBJECT, '{"text": "x"' + "\x00" + "}", "\ud800", "[]", "null", '"text"', "1e999"):
        for path in ("/api/v1/broadcasts/demo/questions", "/open311/v2/requests.json"):
            cases.append(("POST", path, {"data": body.encode("utf-8", "surrogatepass"),
                                         "headers": {"Content-Type": "application/json"}}))
    return cases


def staff_requests() -> list[tuple]:
    weird = ["²", "٣", "\x00", "99999999999999999999999", "-1", "1.5", "é"]
    cases = []
    for value in weird:
        q = requests.utils.quote(value)
        cases += [("GET", "/appeals", {"params": {name: value}}) for name in
                  ("department_id", "category_id", "broadcast_id", "q", "status", "received_from", "after")]
        cases += [("GET", "/appeals", {"params": {"after": "2026-01-01_" + value}}),
                  ("GET", "/appeals/export.csv", {"params": {"category_id": value}}),
                  ("GET", "/appeals/export.xlsx", {"params": {"q": value}}),
                  ("GET", f"/appeals/{q}", {}), ("GET", f"/admin/broadcasts/{q}", {}),
                  ("GET", "/admin/audit", {"params": {"before": value, "actor": value, "ip": value}})]
    return cases


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request, tmp_path):
    settings = {"QUESTIONS_PER_MINUTE_PER_ADDRESS": 10**6}  # fuzzing is not abuse
    if request.param == "postgresql":
        postgres = request.getfixturevalue("postgres")
        name = f"companion_live_{uuid.uuid4().hex[:10]}"
        settings["DATABASE_URL"] = postgres.create(name)
        request.addfinalizer(lambda: postgres.drop(name))
    server = LiveServer(tmp_path, **settings).start()
    yield server
    server.stop()


@pytest.mark.anywhere  # what each input answers, no timing
def test_odd_inputs_never_give_a_server_error(live):
    """About a dozen inputs gave HTTP 500 (issue 19, item 14); every one of these gets a 4xx or a 2xx/3xx."""
    from companion import create_app
    from companion.extensions import db
    from companion.services import apikeys
    from .conftest import test_config
    app = create_app(test_config(live.log.parent, DATABASE_URL=live.env["COMPANION_DATABASE_URL"]))
    with app.app_context():
        _row, key = apikeys.create_key("fuzz", actor=None)
        db.session.remove()
        db.engine.dispose()
    live.cli("create-user", "boss", "--role", "admin", "--password", PASSWORD)
    admin = live.login("boss")
    failures = []
    for method, path, kwargs in odd_requests(key) + [(m, p, {**k, "headers": {"Cookie": admin}})
                                                     for m, p, k in staff_requests()]:
        if "params" in kwargs:  # as UTF-8 bytes, lone surrogates included (requests refuses to encode them)
            kwargs = {**kwargs, "params": {k: v.encode("utf-8", "surrogatepass") for k, v in kwargs["params"].items()}}
        response = requests.request(method, live.url + path, allow_redirects=False, timeout=30, **kwargs)
        if response.status_code >= 500:
            failures.append((method, path, str(kwargs)[:120], response.status_code))
        location = response.headers.get("Location")
        if location:
            parts = urlsplit(location)
            if parts.netloc not in ("", f"127.0.0.1:{live.port}") or any(c in location for c in "\\\t\r\n"):
                failures.append((method, path, "Location: " + location))
        if response.headers.get("Content-Type", "").startswith("application/json") and response.content:
            try:
                strict_json(response.content)
            except ValueError as exc:
                failures.append((method, path, f"invalid JSON: {exc}"))
    for target in HOSTILE_NEXT:  # signing in honours ?next= too
        if "\x00" in target:
            continue  # no address with a NUL reaches a page (400)
        http = requests.Session()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', http.get(live.url + "/login").text).group(1)
        response = http.post(live.url + "/login", params={"next": target}, allow_redirects=False, timeout=30,
                             data={"username": "mod", "password": PASSWORD, "csrf_token": token})
        location = response.headers.get("Location", "")
        if (response.status_code != 302 or urlsplit(location).netloc not in ("", f"127.0.0.1:{live.port}")
                or not location.startswith("/") or location.startswith("//")
                or any(c in location for c in "\\\t\r\n")):
            failures.append(("POST", "/login", target, response.status_code, location))
    assert not failures, "\n".join(map(str, failures))
    listing = requests.get(live.url + "/open311/v2/requests.json", params={"api_key": key}, timeout=30)
    assert listing.status_code == 200
    strict_json(listing.content)
    assert requests.get(live.url + "/healthz", timeout=10).status_code == 200


def strict_json(data: bytes):
    """JSON as the standard has it: Infinity and NaN are errors (Python's parser takes them)."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(data, parse_constant=refuse)
