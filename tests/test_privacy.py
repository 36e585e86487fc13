"""Appeals are private to the resident (issue 19, items 5, 11 and 12): harvesting by number, lookups
rate-limited, Open311 reads behind the filing key, idempotency keys scoped to their sender, the roadmap."""
from __future__ import annotations

import hashlib
import secrets
import sqlite3

import pytest
import requests

from companion.testing.liveserver import LiveServer, Recorder

# what a harvester came back with, word for word: an IIN, a phone number and a flat number
PLANTED = "My IIN is 900101300123, call +77015550123, flat 47: the heating is off"
REASON = "Spam from the 87019998877 campaign"


@pytest.fixture
def live(tmp_path):
    server = LiveServer(tmp_path, TRACKING_LOOKUPS_PER_MINUTE_PER_ADDRESS=1000).start()
    yield server
    server.stop()


def add_key(server: LiveServer, name: str) -> str:
    """An integrator's API key, written to the served database as the admin screen stores it (hashed)."""
    key = "ck_" + secrets.token_urlsafe(32)
    path = server.env["COMPANION_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO api_key (name, prefix, key_hash, created_at) VALUES (?, ?, ?, ?)",
                     (name, key[:10], hashlib.sha256(key.encode()).hexdigest(), "2026-01-01 00:00:00.000000"))
    return key


def public_bodies(url: str, code: str) -> list[requests.Response]:
    """Everything an anonymous harvester can ask about one number."""
    return [requests.get(f"{url}{path}", timeout=10) for path in (
        f"/track/{code}", f"/api/v1/appeals/{code}", f"/open311/v2/requests/{code}.json",
        f"/open311/v2/requests.json?service_request_id={code}", "/open311/v2/requests.json",
        f"/track/{code}/receipt", f"/track/{code}/qr.svg")]


def test_harvesting_by_number_alone_reveals_no_text_of_pending_or_rejected_questions(live):
    viewer = Recorder(live.url, "/", live.viewer_cookie())
    moderator = Recorder(live.url, "/staff", live.login("mod"))
    try:
        pending = viewer.call("submit_question", {"text": PLANTED, "client_id": "harvest-0001"})["question"]
        spam = viewer.call("submit_question", {"text": "Buy cheap flats at 87019998877", "district": "SPAM-DISTRICT-X",
                                               "client_id": "harvest-0002"})["question"]
        seen = moderator.wait_for("desk_changed", lambda d: any(q["id"] == spam["id"] for q in d["questions"]))
        version = next(q["version"] for q in seen["questions"] if q["id"] == spam["id"])
        assert moderator.call("reject", {"id": spam["id"], "version": version, "ground": "spam", "note": REASON})["ok"]
    finally:
        viewer.close()
        moderator.close()
    for question in (pending, spam):
        code = question["tracking_code"]
        responses = public_bodies(live.url, code)
        bare_page, bare_api, open311_one, open311_by_id, open311_all, *_ = responses
        for response in responses:
            body = response.text
            assert "900101300123" not in body and "+77015550123" not in body and "flat 47" not in body
            assert "87019998877" not in body and "SPAM-DISTRICT" not in body and "campaign" not in body
        # by number alone: the status and the dates, nothing else
        assert bare_page.status_code == 200 and code in bare_page.text
        assert set(bare_api.json()) == {"tracking_code", "status", "status_label", "registered_at",
                                        "registration_date", "due_date", "statutory", "answered_at", "closed_at", "full"}
        [minimum] = open311_one.json()
        assert minimum["status"] in ("open", "closed") and minimum["requested_datetime"]
        assert all(minimum[k] is None for k in ("description", "service_notice", "address", "lat", "long", "status_notes"))
        assert open311_by_id.status_code == open311_all.status_code == 403  # listing needs a key
        # a guessed access code is refused like an unknown number
        for wrong in ("aaaa-bbbb-cccc-dddd", question["access_code"][:-1] + ("z" if question["access_code"][-1] != "z" else "y"), "x" * 500):
            assert requests.get(f"{live.url}/track/{code}/{wrong}", timeout=10).status_code == 404
            assert requests.get(f"{live.url}/api/v1/appeals/{code}/{wrong}", timeout=10).status_code == 404
    assert spam["status"] == "pending" and requests.get(
        f"{live.url}/api/v1/appeals/{spam['tracking_code']}", timeout=10).json()["status"] == "left_without_consideration"
    # the resident's own address shows their question; the desk's reason for rejecting stays internal
    own = requests.get(f"{live.url}/track/{pending['tracking_code']}/{pending['access_code']}", timeout=10)
    assert own.status_code == 200 and "900101300123" in own.text and own.headers["Cache-Control"] == "no-store"
    rejected = requests.get(f"{live.url}/api/v1/appeals/{spam['tracking_code']}/{spam['access_code']}", timeout=10)
    assert rejected.status_code == 200 and REASON not in rejected.text and "campaign" not in rejected.text
    assert requests.get(f"{live.url}/roadmap", timeout=10).text.count("SPAM-DISTRICT") == 0


def test_lookups_by_number_are_rate_limited_per_address(tmp_path):
    server = LiveServer(tmp_path, TRACKING_LOOKUPS_PER_MINUTE_PER_ADDRESS=5).start()
    try:
        viewer = Recorder(server.url, "/", server.viewer_cookie())
        mine = viewer.call("submit_question", {"text": "Is the school open?", "client_id": "limit-0001"})["question"]
        viewer.close()
        paths = [f"/track/SRK-2026-{n:06d}" for n in range(1, 4)] + [f"/api/v1/appeals/SRK-2026-{n:06d}" for n in range(1, 4)]
        statuses = [requests.get(server.url + paths[i % len(paths)], timeout=10).status_code for i in range(11)]
        # a minute boundary may reset the count once: within 11 lookups the limit of 5 must have bitten
        assert 429 in statuses and statuses.index(429) <= 10, statuses
        limited = requests.get(server.url + "/open311/v2/requests/SRK-2026-000001.json", timeout=10)
        if limited.status_code != 429:  # the minute turned over: use up the new one
            for _ in range(6):
                limited = requests.get(server.url + "/track/SRK-2026-000001", timeout=10)
        assert limited.status_code == 429 and 0 < int(limited.headers["Retry-After"]) <= 60
        wrong = requests.get(f"{server.url}/track/{mine['tracking_code']}/aaaa-bbbb-cccc-dddd", timeout=10)
        assert wrong.status_code == 429  # guessing access codes counts too
        # the resident with the access code is never held back by what others on the address did
        own = requests.get(f"{server.url}/track/{mine['tracking_code']}/{mine['access_code']}", timeout=10)
        assert own.status_code == 200 and "Is the school open?" in own.text
    finally:
        server.stop()


def test_open311_reads_need_the_key_that_filed_the_request_and_client_ids_are_per_key(live):
    a, b = add_key(live, "City 109 centre"), add_key(live, "e-Otinish")
    form = {"service_code": "1", "description": "Broken street light at Abay 10", "address_string": "Abay 10",
            "lat": "43.238", "long": "76.945", "client_id": "request-00000001"}
    first = requests.post(f"{live.url}/open311/v2/requests.json", data={**form, "api_key": a}, timeout=10)
    theirs = requests.post(f"{live.url}/open311/v2/requests.json",
                           data={**form, "api_key": b, "description": "Pothole on Tole bi"}, timeout=10)
    again = requests.post(f"{live.url}/open311/v2/requests.json", data={**form, "api_key": a}, timeout=10)
    assert (first.status_code, theirs.status_code, again.status_code) == (201, 201, 200)
    ids = first.json()[0]["service_request_id"], theirs.json()[0]["service_request_id"]
    assert ids[0] != ids[1] and again.json()[0]["service_request_id"] == ids[0]  # B's appeal was not dropped
    assert requests.get(f"{live.url}/open311/v2/requests.json", timeout=10).status_code == 403
    assert requests.get(f"{live.url}/open311/v2/requests.json?api_key=wrong", timeout=10).status_code == 403
    mine = requests.get(f"{live.url}/open311/v2/requests.json?api_key={a}", timeout=10).json()
    assert [r["service_request_id"] for r in mine] == [ids[0]] and mine[0]["description"].startswith("Broken")
    bearer = requests.get(f"{live.url}/open311/v2/requests.json", headers={"Authorization": f"Bearer {b}"}, timeout=10)
    assert [r["description"] for r in bearer.json()] == ["Pothole on Tole bi"]
    [full] = requests.get(f"{live.url}/open311/v2/requests/{ids[0]}.json?api_key={a}", timeout=10).json()
    assert (full["address"], full["lat"]) == ("Abay 10", 43.238)
    [other] = requests.get(f"{live.url}/open311/v2/requests/{ids[0]}.json?api_key={b}", timeout=10).json()
    assert other["description"] is None and other["address"] is None and other["lat"] is None
    # the applicant reads it with the access code the integrator handed on
    access = first.json()[0]["access_code"]
    assert requests.get(f"{live.url}/api/v1/appeals/{ids[0]}/{access}", timeout=10).json()["text"].startswith("Broken")


def test_a_client_id_from_another_sender_never_returns_their_question(live):
    alice = Recorder(live.url, "/", live.viewer_cookie())
    bob = Recorder(live.url, "/", live.viewer_cookie())
    try:
        hers = alice.call("submit_question", {"text": "Alice's private question", "client_id": "shared-client-01"})
        his = bob.call("submit_question", {"text": "Bob's question", "client_id": "shared-client-01"})
        retry = alice.call("submit_question", {"text": "Alice's private question", "client_id": "shared-client-01"})
    finally:
        alice.close()
        bob.close()
    assert hers["created"] and his["created"] and not retry["created"]
    assert his["question"]["text"] == "Bob's question" and his["question"]["id"] != hers["question"]["id"]
    assert "Alice" not in str(his) and retry["question"]["id"] == hers["question"]["id"]
    # the API: two integrators' keys reusing one client_id make two questions
    a, b = add_key(live, "Call centre"), add_key(live, "Chat bot")
    url = f"{live.url}/api/v1/broadcasts/demo/questions"
    one = requests.post(url, json={"text": "Via the call centre", "client_id": "shared-client-01"},
                        headers={"Authorization": f"Bearer {a}"}, timeout=10)
    two = requests.post(url, json={"text": "Via the chat bot", "client_id": "shared-client-01"},
                        headers={"Authorization": f"Bearer {b}"}, timeout=10)
    assert (one.status_code, two.status_code) == (201, 201)
    assert two.json()["text"] == "Via the chat bot" and one.json()["id"] != two.json()["id"]
    again = requests.post(url, json={"text": "Via the call centre", "client_id": "shared-client-01"},
                          headers={"Authorization": f"Bearer {a}"}, timeout=10)
    assert again.status_code == 200 and again.json()["id"] == one.json()["id"]


def test_roadmap_counts_only_appeals_under_consideration_and_publishes_no_free_text(app, viewer_socket):
    from companion.services import intake, moderation, reports
    app.config.update(ROADMAP_CACHE_SECONDS=0, DISTRICTS="Almaly|Алмалы;Medeu|Медеу")
    viewer = viewer_socket()
    # with a name and a contact: appeals (a question only is never in the roadmap)
    asked = [viewer.emit("submit_question", {"text": text, "district": district, "client_id": f"roadmap-{i:04d}",
                                             "author_name": "Aigerim", "contact": "+77011234567", "consent": True},
                         namespace="/", callback=True)["question"]
             for i, (text, district) in enumerate([
                 ("Heating is off", "алмалы"), ("Lift broken", "Medeu"), ("Bus stop", "My yard by the blue kiosk"),
                 ("Buy followers", "CALL 87019998877 NOW"), ("Not moderated yet", "PENDING-DISTRICT-Z")])]
    with app.app_context():
        for question in asked[:4]:
            q = moderation.get_question(intake.get_broadcast("demo"), question["id"])
            moderation.transition(intake.get_broadcast("demo"), q.id, "approve", actor=None, version=q.version)
        q = moderation.get_question(intake.get_broadcast("demo"), asked[3]["id"])
        moderation.transition(intake.get_broadcast("demo"), q.id, "reject", actor=None, version=q.version,
                              ground="spam")
        figures = reports.roadmap()
    assert figures["total"] == 3 and figures["open"] == 3  # neither the rejected nor the unmoderated one
    assert figures["by_district"] == [{"district": "Almaly", "total": 1}, {"district": "Medeu", "total": 1},
                                      {"district": "other", "total": 1}]
    page = app.test_client().get("/roadmap").get_data(as_text=True)
    assert "Almaly" in page and "Medeu" in page and "Other districts" in page
    for text in ("87019998877", "CALL", "PENDING-DISTRICT", "blue kiosk", "Buy followers", "Heating"):
        assert text not in page


def test_openapi_describes_the_private_address_and_the_key_scoped_reads(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    assert "/api/v1/appeals/{tracking_code}/{access_code}" in paths
    by_number = paths["/api/v1/appeals/{tracking_code}"]["get"]["responses"]
    assert by_number["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/AppealStatus")
    assert "429" in by_number and "text" not in schemas["AppealStatus"]["properties"]
    listing = paths["/open311/v2/requests.json"]["get"]
    assert "api_key" in [p["name"] for p in listing["parameters"]] and "403" in listing["responses"]
    assert "access_code" in schemas["Receipt"]["properties"] and "access_code" in schemas["ServiceRequestReceipt"]["properties"]
