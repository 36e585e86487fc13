"""The phone operator's screen driven by the keyboard alone, in real Chromium against the served app: type the
caller's number and Enter, Tab through the call form typing, Space on the checkboxes, Enter to register; then the
status by number; at 1366x768 and at 360 px. The database is checked after each call."""
from __future__ import annotations

import sqlite3

import pytest

from .test_rehearsal import SCREENSHOTS, browser, signed_in  # noqa: F401 - fixtures

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from companion.testing.liveserver import LiveServer
    server = LiveServer(tmp_path_factory.mktemp("operator")).start()
    yield server
    server.stop()


def rows(server, sql: str, *args) -> list[sqlite3.Row]:
    db = sqlite3.connect(server.env["COMPANION_DATABASE_URL"].removeprefix("sqlite:///"))
    db.row_factory = sqlite3.Row
    with db:
        return db.execute(sql, args).fetchall()


def focused(page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.id")


def tab_to(page, element_id: str, limit: int = 40) -> None:
    """Press Tab until the element has the focus, as a person does (failing if it never comes)."""
    for _ in range(limit):
        if focused(page) == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}; focus is on #{focused(page)}")


def take_call(page, *, phone: str, name: str, text: str, district: str, to_broadcast: bool) -> None:
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'o-phone'")
    page.keyboard.type(phone)
    page.keyboard.press("Enter")  # find the caller's appeals
    page.wait_for_selector("#found")
    # after the lookup the name is next; the number went along into the call form
    assert focused(page) == "o-name" and page.input_value("#o-call-phone") == page.input_value("#o-phone")
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    assert focused(page) == "o-text"
    page.keyboard.type(text)
    page.keyboard.press("Tab")
    assert focused(page) == "o-district"
    page.keyboard.type(district)
    page.keyboard.press("Tab")
    assert focused(page) == "o-category"
    # the question's words chose the category while the operator typed on
    page.wait_for_function("() => document.getElementById('o-category').value === '3'")
    page.keyboard.press("Tab")
    assert focused(page) == "o-consent"
    page.keyboard.press("Space")  # the caller agreed orally
    page.keyboard.press("Tab")
    assert focused(page) == "o-show-name"
    page.keyboard.press("Tab")
    assert focused(page) == "o-broadcast" and page.is_checked("#o-broadcast")
    if not to_broadcast:
        page.keyboard.press("Space")
    page.keyboard.press("Enter")  # registers
    page.wait_for_selector(".flash.ok")


@pytest.mark.parametrize("viewport, phone, to_broadcast", [(LAPTOP, "8 701 123 45 67", True),
                                                           (PHONE, "+7 (702) 765-43-21", False)])
def test_the_operator_takes_a_call_and_reads_a_status_by_keyboard_alone(browser, live, viewport, phone, to_broadcast):  # noqa: F811
    page = signed_in(browser, live, "operator", "/operator", viewport=viewport)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    name = "Айгерим Садыкова" if to_broadcast else "Ерлан Нурланов"
    take_call(page, phone=phone, name=name, text="Во дворе не горят фонари, темно вечером",
              district="Самал", to_broadcast=to_broadcast)
    tag = f"{viewport['width']}"
    page.screenshot(path=str(SCREENSHOTS / f"operator-{tag}-taken.png"), full_page=True)
    flash = page.text_content(".flash.ok")
    appeal = rows(live, "SELECT * FROM appeal WHERE author_name = ?", name)
    assert len(appeal) == 1
    appeal = appeal[0]
    assert appeal["tracking_code"] in flash  # the number to read out
    assert appeal["channel"] == "phone" and appeal["form"] == "oral" and appeal["consent_form"] == "oral"
    assert appeal["contact"].startswith("+7") and appeal["category_id"] == 3 and appeal["district"] == "Самал"
    operator_id = rows(live, "SELECT id FROM user WHERE username = 'operator'")[0]["id"]
    assert appeal["accepted_by_id"] == operator_id
    if to_broadcast:
        question = rows(live, "SELECT * FROM question WHERE id = ?", appeal["question_id"])[0]
        assert question["channel"] == "phone" and question["status"] == "pending"  # the moderators decide
        assert page.is_visible("#queue-summary")
    else:
        assert appeal["question_id"] is None and appeal["broadcast_id"] is None
    # the page came back clean for the next call: no caller's number, no caller's appeals
    assert not page.locator("#found").count() and page.input_value("#o-phone") == "" and page.input_value("#o-call-phone") == ""
    # the status of an appeal by its number, read back with the residents' wording
    tab_to(page, "o-code")
    page.keyboard.type(appeal["tracking_code"].lower())
    page.keyboard.press("Enter")
    page.wait_for_selector("#by-number")
    block = page.text_content("#by-number")
    assert appeal["tracking_code"] in block and ("assigned to a department" in block or "registered" in block)
    assert "фонари" not in block  # the number alone reads no text
    page.screenshot(path=str(SCREENSHOTS / f"operator-{tag}-status.png"), full_page=True)
    # nothing wider than the screen (a phone's 360 px)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    assert errors == []
    lookups = rows(live, "SELECT count(*) AS n FROM audit_event WHERE action = 'operator_lookup' AND actor = 'operator'")
    assert lookups[0]["n"] >= 2
    page.context.close()


def test_a_second_enter_while_registering_makes_one_appeal(browser, live):  # noqa: F811
    page = signed_in(browser, live, "operator", "/operator", viewport=LAPTOP)
    before = rows(live, "SELECT count(*) AS n FROM appeal WHERE channel = 'phone'")[0]["n"]
    tab_to(page, "o-text")
    page.keyboard.type("Яма на дороге у остановки")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    page.wait_for_selector(".flash.ok")
    after = rows(live, "SELECT count(*) AS n FROM appeal WHERE channel = 'phone'")[0]["n"]
    assert after == before + 1
    page.context.close()


def test_a_moderator_blocks_a_sender_from_the_desk_and_every_channel_refuses_them(browser, live):  # noqa: F811
    import socketio
    viewer = socketio.Client(reconnection=False)
    viewer.connect(live.url, namespaces=["/"], auth={"slug": "demo"}, transports=["websocket"],
                   headers={"Cookie": live.viewer_cookie()}, wait_timeout=10)
    ask = {"text": "Купите пластиковые окна недорого", "author_name": "Реклама", "contact": "+77015550099",
           "consent": True, "client_id": "block-e2e-000001"}
    qid = viewer.call("submit_question", ask, namespace="/")["question"]["id"]
    page = signed_in(browser, live, "mod", "/moderate/demo", viewport=LAPTOP)
    page.wait_for_selector("#conn[data-state=online]", timeout=90_000)  # a loaded CI machine: Chromium and two workers
    page.click(f".qcard[data-id='{qid}']")
    page.wait_for_function(f"() => document.getElementById('insp-head').textContent.startsWith('#{qid}')")
    page.click("#insp-actions [data-action=block_sender]")
    page.wait_for_selector("#confirm[open]")
    page.screenshot(path=str(SCREENSHOTS / "desk-block-confirm.png"))
    page.click("#confirm-buttons button.danger")
    page.wait_for_function("() => !document.querySelector('#confirm[open]')")
    for _ in range(50):
        if rows(live, "SELECT count(*) AS n FROM blocked_sender WHERE unblocked_at IS NULL")[0]["n"]:
            break
        page.wait_for_timeout(100)
    blocked = rows(live, "SELECT kind, label, question_id FROM blocked_sender")
    # the viewer (the page's own token), not the number typed: that could be anyone's
    assert [(r["kind"], r["question_id"]) for r in blocked] == [("viewer", qid)]
    refused = viewer.call("submit_question", {**ask, "client_id": "block-e2e-000002", "text": "Снова реклама"},
                          namespace="/")
    assert not refused["ok"] and refused["error"]["code"] == "blocked"
    viewer.disconnect()
    page.context.close()
