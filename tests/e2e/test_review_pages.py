"""A long broadcast's desk in pages, as a moderator finds it: votes that lift a question the desk does not
hold into the part of Approved it shows, and a search that reads on past the pages the desk holds."""
from __future__ import annotations

import sqlite3
import time

import pytest
import socketio

from companion.testing.liveserver import PASSWORD, LiveServer, seed_questions

pytest.importorskip("playwright")
from playwright.sync_api import sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def long_broadcast(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("review-pages")).start()
    seed_questions(server, 5000)  # 2,500 waiting, 1,500 approved, 1,000 done: every column in pages
    yield server
    server.stop()


@pytest.fixture
def desk(long_broadcast):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-US").new_page()
        page.goto(long_broadcast.url + "/login")
        page.fill("#username", "mod")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.goto(long_broadcast.url + "/moderate/demo?lang=en")
        page.locator("#list-incoming > li.qcard").first.wait_for()
        yield page
        browser.close()


def database(server):
    return sqlite3.connect(server.env["COMPANION_DATABASE_URL"].removeprefix("sqlite:///"))


def column_ids(page, name):
    return [int(x) for x in page.locator(f"#list-{name} > li.qcard").evaluate_all("els => els.map(e => e.dataset.id)")]


def test_a_question_voted_up_from_beyond_the_desks_pages_appears_in_approved(long_broadcast, desk):
    db = database(long_broadcast)
    # the most voted approved question with five votes that is not among Approved's first page
    held = set(column_ids(desk, "approved"))
    qid = next(i for (i,) in db.execute("SELECT id FROM question WHERE status = 'approved' AND votes = 5 ORDER BY id DESC")
               if i not in held)
    viewer = socketio.Client()
    viewer.connect(long_broadcast.url, namespaces=["/"], auth={"slug": "demo"}, transports=["websocket"],
                   headers={"Cookie": long_broadcast.viewer_cookie()})
    try:
        assert viewer.call("vote", {"question_id": qid}, timeout=10)["votes"] == 6
    finally:
        viewer.disconnect()
    # six votes: within the cards Approved shows (most voted first), where the server's order puts it
    want = [i for (i,) in db.execute("SELECT id FROM question WHERE status = 'approved' ORDER BY votes DESC, id")]
    place = want.index(qid)
    assert place < 300
    while len(column_ids(desk, "approved")) <= place:
        desk.click("#list-approved > li.more button")
        desk.wait_for_timeout(300)
    deadline = time.monotonic() + 10
    while qid not in column_ids(desk, "approved") and time.monotonic() < deadline:
        desk.wait_for_timeout(200)
    shown = column_ids(desk, "approved")
    assert shown == want[:len(shown)]


def test_a_search_reads_on_past_the_pages_the_desk_holds(long_broadcast, desk):
    db = database(long_broadcast)
    want = [i for (i,) in db.execute("SELECT id FROM question WHERE status IN ('pending', 'submitted') "
                                     "AND text LIKE '%number 12%' ORDER BY id DESC")]
    desk.fill("#f-text", "number 12")
    more = desk.locator("#list-incoming > li.more button")
    # the first pages hold few of them: the column's end offers the rest of the column, which the desk lacks
    more.wait_for()
    assert "not on this desk" in more.text_content()
    for _ in range(20):
        if not more.count():
            break
        more.click()
        desk.wait_for_timeout(400)
    assert column_ids(desk, "incoming") == want
    # the column's count and the filter line count what the search found now
    assert desk.locator('[data-count="incoming"]').text_content() == str(len(want))
    assert desk.locator("#f-shown").text_content().startswith(f"{len(want) + len(column_ids(desk, 'approved'))} of")


def test_desk_questions_gives_this_broadcasts_questions_and_refuses_what_it_cannot_read(long_broadcast):
    client = socketio.Client()
    client.connect(long_broadcast.url, namespaces=["/staff"], auth={"slug": "demo"}, transports=["websocket"],
                   headers={"Cookie": long_broadcast.login("mod")})
    try:
        ack = client.call("desk_questions", {"ids": [3, "4", 10 ** 9]}, namespace="/staff", timeout=10)
        assert ack["ok"] and [q["id"] for q in ack["questions"]] == [3, 4]  # a number of no question is left out
        for bad in [None, {}, {"ids": 5}, {"ids": [1.0]}, {"ids": [True]}, {"ids": [-1]}, {"ids": [[1]]},
                    {"ids": [2 ** 64]}, {"ids": list(range(1, 302))}, {"ids": "1,2"}]:
            time.sleep(0.3)  # a desk_questions costs 5 of the connection's 20 events a second (realtime/gate.py)
            ack = client.call("desk_questions", bad, namespace="/staff", timeout=10)
            assert not ack["ok"] and ack["error"]["code"] == "invalid", bad
    finally:
        client.disconnect()
    speaker = socketio.Client()
    speaker.connect(long_broadcast.url, namespaces=["/staff"], auth={"slug": "demo"}, transports=["websocket"],
                    headers={"Cookie": long_broadcast.login("speaker")})
    try:
        ack = speaker.call("desk_questions", {"ids": [3]}, namespace="/staff", timeout=10)
        assert not ack["ok"] and ack["error"]["code"] == "forbidden"
    finally:
        speaker.disconnect()


def test_the_questions_merged_into_a_held_one_come_with_it_however_old(long_broadcast, desk):
    client = socketio.Client()
    client.connect(long_broadcast.url, namespaces=["/staff"], auth={"slug": "demo"}, transports=["websocket"],
                   headers={"Cookie": long_broadcast.login("mod")})
    try:
        def merge(source, target):
            q = client.call("desk_question", {"id": source}, namespace="/staff", timeout=10)["question"]
            assert client.call("merge_question", {"id": source, "version": q["version"], "target_id": target},
                               namespace="/staff", timeout=10)["ok"]
        merge(2, 4995)
        merge(3, 4995)  # the newest waiting: in the snapshot; its sources far older than Done's first page
        merge(12, 1501)  # a waiting question a few pages down Incoming
        snapshot = client.call("get_snapshot", {}, namespace="/staff", timeout=30)
        assert {2, 3} <= {q["id"] for q in snapshot["questions"]}
        page = client.call("desk_page", {"column": "incoming", "order": "newest", "cursor": [1502]},
                           namespace="/staff", timeout=30)
        assert page["questions"][0]["id"] == 1501 and 12 in {q["id"] for q in page["questions"]}
    finally:
        client.disconnect()
    # the desk lists them under the target, each with its Unmerge
    desk.reload()
    desk.locator("#list-incoming > li.qcard[data-id='4995']").click()
    desk.locator("#merged-list [data-unmerge='2']").click()
    deadline = time.monotonic() + 10
    while database(long_broadcast).execute("SELECT status FROM question WHERE id = 2").fetchone()[0] == "merged":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    desk.wait_for_function("() => document.querySelectorAll('#merged-list li').length === 1")  # the desk hears of it
