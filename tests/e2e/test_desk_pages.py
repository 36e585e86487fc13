"""The desk of a long broadcast in Chromium (issue 27): it opens with each column's first pages and the
server's counts, "show more" fetches the rest with no gap in a column, a change to a question the desk
does not hold still moves the counts, and a merge target typed by number is fetched."""
from __future__ import annotations

import socketio

from companion.services.desk import PAGE
from companion.testing.liveserver import seed_questions

from .test_desk import database, desk, pick, row, wait_status
from .test_rehearsal import browser  # noqa: F401 - fixture

N = 1400  # seed_questions: half pending (700), 0.3 approved (420), 0.2 answered or rejected (280)


def ids(server, statuses, order) -> list[int]:
    with database(server) as db:
        marks = ",".join("?" * len(statuses))
        return [r[0] for r in db.execute(f"SELECT id FROM question WHERE status IN ({marks}) ORDER BY {order}", statuses)]


def shown(page, column: str) -> list[int]:
    return page.eval_on_selector_all(f"#list-{column} > .qcard", "els => els.map(e => +e.dataset.id)")


def count(page, column: str) -> int:
    return int(page.inner_text(f"[data-count={column}]"))


def show_all(page, column: str) -> int:
    """Click the column's "show more" until it is gone, as a moderator scrolling to the end does; how many clicks."""
    clicks = 0
    more = page.locator(f"#list-{column} > li.more button")
    while more.count():
        before = len(shown(page, column))
        more.click()
        page.wait_for_function(f"() => document.querySelectorAll('#list-{column} > .qcard').length > {before}")
        clicks += 1
        assert clicks < 20
    return clicks


def test_a_long_broadcast_opens_in_pages_and_shows_every_question_in_order(browser, server):  # noqa: F811
    seed_questions(server, N)
    pending = ids(server, ["pending"], "id DESC")
    approved = ids(server, ["approved"], "votes DESC, id")
    assert len(pending) == 700 and len(approved) == 420 and len(pending) > 2 * PAGE
    page = desk(browser, server)
    page.wait_for_selector("#list-incoming .qcard")
    # the server's counts, though the desk holds only the first pages
    assert (count(page, "incoming"), count(page, "approved"), count(page, "done")) == (700, 420, 280)
    assert page.inner_text("#count-waiting") == "700"
    held = page.evaluate("() => document.querySelectorAll('.qcard').length")
    assert held < 700
    assert shown(page, "incoming") == pending[:150]  # newest first, no gap

    # another screen (a second moderator's laptop) approves a question in the middle of Incoming, which this desk does not hold
    middle = pending[350]
    other = socketio.Client(reconnection=False)
    other.connect(server.url, namespaces=["/staff"], auth={"slug": "demo"}, transports=["websocket"],
                  headers={"Cookie": server.login("mod")}, wait_timeout=10)
    assert other.call("approve", {"id": middle, "version": 1}, namespace="/staff", timeout=10)["ok"]
    other.disconnect()
    page.wait_for_function("() => document.querySelector('[data-count=incoming]').textContent === '699'")
    assert count(page, "approved") == 421 and page.inner_text("#count-waiting") == "699"

    # to the end of Incoming: every pending question once, newest first, in pages from the server
    assert show_all(page, "incoming") >= 2
    assert shown(page, "incoming") == [i for i in pending if i != middle]
    # the other order: the oldest first, whole
    page.click("#incoming-order")
    page.wait_for_function(f"() => +document.querySelector('#list-incoming .qcard').dataset.id === {pending[-1]}")
    show_all(page, "incoming")
    assert shown(page, "incoming") == [i for i in reversed(pending) if i != middle]
    # Approved, by votes: the question approved meanwhile among them, in its place
    show_all(page, "approved")
    assert shown(page, "approved") == ids(server, ["approved"], "votes DESC, id")
    assert page.errors == []


def test_a_merge_target_typed_by_number_is_fetched_when_the_desk_does_not_hold_it(browser, server):  # noqa: F811
    seed_questions(server, N)
    done = ids(server, ["answered", "rejected"], "id DESC")
    pending = ids(server, ["pending"], "id DESC")
    page = desk(browser, server)
    page.wait_for_selector("#list-incoming .qcard")
    target = pending[350]  # beyond the newest page, and not in the oldest one either
    assert page.locator(f".qcard[data-id='{target}']").count() == 0
    source = pending[0]
    pick(page, source)
    page.keyboard.press("m")
    page.wait_for_selector("#merge-search:focus")
    page.keyboard.type(f"#{target}")
    page.wait_for_selector(f"#merge-candidates button[data-target='{target}']")
    page.keyboard.press("Enter")
    wait_status(page, source, "merged")
    assert row(server, source)["merged_into_id"] == target and row(server, target)["asker_count"] == 2
    # a number of a question that is not this broadcast's is no candidate
    pick(page, pending[1])
    page.keyboard.press("m")
    page.keyboard.type("#987654321")
    page.wait_for_timeout(600)
    assert page.locator("#merge-candidates button.candidate").count() == 0
    assert count(page, "done") == len(done) + 1 and page.errors == []
