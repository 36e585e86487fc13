"""A rehearsal broadcast in real Chromium: viewer, moderator and speaker through the real pages."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import requests

from ..conftest import chromium_path, need
from companion.testing.liveserver import PASSWORD

# the browser tests' screenshots go to an ignored folder; `make screenshots` points them at the README's
SCREENSHOTS = Path(os.environ.get("COMPANION_SCREENSHOTS")
                   or Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    need(path is not None, "Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def signed_in(browser, server, username: str, path: str, **context_args):
    context = browser.new_context(locale="en-US", **context_args)
    page = context.new_page()
    page.goto(server.url + "/login?next=" + path)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    return page


def card(page, column: str, text: str):
    return page.locator(f"#list-{column} .qcard", has_text=text)


def act(page, column: str, text: str, action: str):
    """Select the card by a click on its text, then press the action's button in the selected question's panel."""
    target = card(page, column, text)
    target.locator(".text").click()
    qid = target.get_attribute("data-id")
    page.wait_for_function(f"() => document.getElementById('insp-head').textContent.startsWith('#{qid}')")
    page.wait_for_selector("#insp-actions:not(.settling)", state="attached")  # buttons just redrawn wait 0.5 s
    page.click(f"#insp-actions [data-action={action}]")


def test_rehearsal_broadcast_end_to_end(browser, server):
    dialogs = []
    moderator = signed_in(browser, server, "mod", "/moderate/demo", viewport={"width": 1440, "height": 900})
    speaker = signed_in(browser, server, "speaker", "/prompter/demo", viewport={"width": 1280, "height": 720})
    viewer_context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844}, is_mobile=True,
                                         has_touch=True)
    viewer = viewer_context.new_page()
    console_errors = []
    for page in (moderator, speaker, viewer):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
    viewer.goto(server.url + "/b/demo")
    for page in (moderator, speaker, viewer):
        page.wait_for_selector("#conn[data-state=online]")

    # A resident asks; the receipt shows the tracking number.
    viewer.fill("#q-text", "When will the playground in Samal-2 be repaired?")
    viewer.fill("#q-name", "Aigerim")
    viewer.fill("#q-district", "Samal-2")
    viewer.click("#q-submit")  # a name is personal data: not sent without consent
    viewer.wait_for_selector("#q-consent-error:not(:empty)")
    viewer.check("#q-consent")
    viewer.click("#q-submit")
    viewer.wait_for_selector("#form-status[data-kind=ok]")
    receipt = viewer.inner_text("#form-status")
    code = re.search(r"SRK-\d{4}-\d{6}", receipt).group(0)
    assert viewer.input_value("#q-text") == ""
    assert code in viewer.inner_text("#mine")

    # Bad input keeps the typed text and says what is wrong.
    viewer.fill("#q-text", "Please call me back about the heating")
    viewer.fill("#q-contact", "12345")
    viewer.check("#q-consent")
    viewer.click("#q-submit")
    viewer.wait_for_selector("#q-contact-error:has-text('not valid')")
    assert viewer.input_value("#q-text") == "Please call me back about the heating"
    viewer.fill("#q-contact", "+7 701 234 5678")
    viewer.dblclick("#q-submit")  # a double click still makes one question
    viewer.wait_for_selector("#form-status[data-kind=ok]")

    # A hostile-looking question is shown as inert text everywhere.
    viewer.fill("#q-text", "<img src=x onerror=alert(1)> <script>alert(2)</script>")
    viewer.click("#q-submit")
    viewer.wait_for_selector("#form-status[data-kind=ok]")

    # The moderator sees all three, live, and runs the question through its life.
    question = card(moderator, "incoming", "playground in Samal-2")
    question.wait_for()
    assert card(moderator, "incoming", "heating").count() == 1
    hostile = card(moderator, "incoming", "<img src=x onerror=alert(1)>")
    hostile.wait_for()
    act(moderator, "incoming", "playground in Samal-2", "approve")
    act(moderator, "approved", "playground in Samal-2", "queue")
    queued = card(moderator, "queue", "playground in Samal-2")
    queued.wait_for()
    act(moderator, "incoming", "<img src=x onerror=alert(1)>", "queue")
    card(moderator, "queue", "onerror").wait_for()
    speaker.wait_for_selector("#next li:has-text('playground in Samal-2')")
    act(moderator, "queue", "playground in Samal-2", "send_to_air")
    card(moderator, "onair", "playground in Samal-2").wait_for()

    # The speaker and the audience see it on air.
    speaker.wait_for_selector("#now-text:has-text('playground in Samal-2')")
    assert "Aigerim · Samal-2" in speaker.inner_text("#now-meta")
    viewer.wait_for_selector("#on-air-text:has-text('playground in Samal-2')")
    viewer.wait_for_selector(f"#mine li:has-text('{code}'):has-text('on air now')")

    # (the README's screenshots come from the five-screen studio rehearsal in test_studio.py)

    # Answered and next: the hostile one goes on air as plain text.
    act(moderator, "queue", "onerror", "send_to_air")
    moderator.click("#confirm-buttons button[value=mark_answered]")  # what happened to the one on air
    speaker.wait_for_selector("#now-text:has-text('<script>alert(2)</script>')")
    card(moderator, "done", "playground in Samal-2").wait_for()
    viewer.wait_for_selector(f"#mine li:has-text('{code}'):has-text('answered on air')")
    assert dialogs == []  # no script from user text ran on any screen
    assert console_errors == []  # no Content-Security-Policy violation, no script error
    assert speaker.locator("#now-text img").count() == 0

    own = viewer.get_attribute(f"#mine a.code:has-text('{code}')", "href")  # /track/<code>/<access code>
    status = requests.get(f"{server.url}/api/v1/appeals/{own.removeprefix('/track/')}", timeout=5).json()
    assert status["question_status"] == "answered" and status["status"] == "closed"  # answered on air, no follow-up
    viewer_context.close()


def test_offline_question_waits_in_the_outbox_and_is_sent_once(browser, server):
    context = browser.new_context(locale="en-US", viewport={"width": 360, "height": 640})
    viewer = context.new_page()
    viewer.goto(server.url + "/b/demo")
    viewer.wait_for_selector("#conn[data-state=online]")
    context.set_offline(True)  # Chromium drops the WebSocket as a lost network would
    viewer.fill("#q-text", "Asked in the metro without signal")
    viewer.wait_for_selector("#conn[data-state=offline]", timeout=60_000)
    viewer.click("#q-submit")
    viewer.wait_for_selector("#form-status[data-kind=offline]")
    assert "waiting to be sent" in viewer.inner_text("#mine")
    # A reload while offline keeps the question in the outbox.
    context.set_offline(False)
    viewer.reload()
    viewer.wait_for_selector("#mine li:has-text('SRK-')")
    viewer.reload()
    viewer.wait_for_selector("#mine li:has-text('SRK-')")
    mine = viewer.locator("#mine li")
    assert mine.count() == 1
    assert viewer.evaluate("() => localStorage.getItem('companion:outbox:demo')") == "[]"
    own = viewer.get_attribute("#mine a.code", "href")  # /track/<code>/<access code>
    assert requests.get(f"{server.url}/api/v1/appeals/{own.removeprefix('/track/')}", timeout=5).json()["text"] == (
        "Asked in the metro without signal")
    context.close()


def column_ids(page) -> dict[str, list[str]]:
    return {c: page.eval_on_selector_all(f"#list-{c} .qcard", "els => els.map(e => e.dataset.id + ':' + e.dataset.status)")
            for c in ("incoming", "approved", "queue", "onair", "done")}


# The server forgets a silent connection after a ping interval and a timeout (20 s + 20 s by default); with
# 5 s + 5 s, a cut of 15 s outlasts the server's memory of the screens as a minute does in production.
PINGS = {"PING_INTERVAL_SECONDS": 5, "PING_TIMEOUT_SECONDS": 5}
CUT_SECONDS = 15


@pytest.fixture
def quick_pings_server(tmp_path):
    from companion.testing.liveserver import LiveServer
    live = LiveServer(tmp_path, **PINGS).start()
    yield live
    live.stop()


def test_screens_cut_off_for_a_minute_come_back_to_the_servers_state(browser, quick_pings_server):
    """A moderator and a teleprompter lose the network for longer than the server remembers them (a minute in
    production; CUT_SECONDS here, with the pings shortened to match) while another moderator works."""
    server = quick_pings_server
    away = signed_in(browser, server, "mod", "/moderate/demo", viewport={"width": 1440, "height": 900})
    prompter = signed_in(browser, server, "speaker", "/prompter/demo")
    working = signed_in(browser, server, "mod", "/moderate/demo", viewport={"width": 1440, "height": 900})
    working.click("#tab-phone")
    for i in range(3):
        working.fill("#p-text", f"Caller question number {i}")
        working.click("#phone-form button[type=submit]")
        card(working, "approved", f"Caller question number {i}").wait_for()
    held = server.health()["connections"]
    for page in (away, prompter):
        page.context.set_offline(True)
    for page in (away, prompter):
        page.wait_for_selector("#conn[data-state=offline]", timeout=60_000)
    started = time.monotonic()
    # Meanwhile the other moderator queues, reorders, sends to air and answers.
    for i in range(3):
        act(working, "approved", f"Caller question number {i}", "queue")
        card(working, "queue", f"Caller question number {i}").wait_for()
    working.locator("#list-queue .qcard").nth(2).locator(".text").click()  # the text, not a button
    working.keyboard.press("Alt+ArrowUp")
    working.wait_for_function("() => document.querySelectorAll('#list-queue .qcard')[1].textContent.includes('number 2')")
    act(working, "queue", "number 0", "send_to_air")
    card(working, "onair", "number 0").wait_for()
    working.wait_for_selector("#onair-actions:not(.settling)", state="attached")  # new buttons wait 0.5 s
    working.click("#onair-actions [data-action=mark_answered]")
    card(working, "done", "number 0").wait_for()
    act(working, "queue", "number 2", "send_to_air")
    card(working, "onair", "number 2").wait_for()
    time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - started)))
    assert server.health()["connections"] == held - 2  # the server has let both screens go: no resuming
    for page in (away, prompter):
        page.context.set_offline(False)
    for page in (away, prompter):
        page.wait_for_selector("#conn[data-state=online]", timeout=60_000)
    server_version = working.evaluate("() => document.documentElement.dataset.version")
    for page in (away, prompter):
        page.wait_for_function(f"() => document.documentElement.dataset.version === '{server_version}'")
    assert column_ids(away) == column_ids(working)
    assert "Caller question number 2" in prompter.inner_text("#now-text")
    assert "number 1" in prompter.inner_text("#next")


def test_a_viewer_back_from_a_dropped_network_resumes_without_every_question_again(browser, server):
    """The viewer page says which version it holds when it reconnects: with nothing public missed the
    server sends only the vote counts (a restart's reconnect storm stays cheap); behind, the full state."""
    import socketio
    staff = socketio.Client(reconnection=False)
    staff.connect(server.url, namespaces=["/staff"], auth={"slug": "demo"}, transports=["websocket"],
                  headers={"Cookie": server.login("mod")}, wait_timeout=10)
    assert staff.call("update_settings", {"settings": {"pre_moderation": False}}, namespace="/staff")["ok"]
    voter = socketio.Client(reconnection=False)
    voter.connect(server.url, namespaces=["/"], auth={"slug": "demo"}, transports=["websocket"],
                  headers={"Cookie": server.viewer_cookie()}, wait_timeout=10)
    context = browser.new_context(locale="en-US", viewport={"width": 360, "height": 640})
    page = context.new_page()
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda data: frames.append(data)))
    page.goto(server.url + "/b/demo")
    page.wait_for_selector("#conn[data-state=online]")
    page.fill("#q-text", "Will the skating rink in Samal park open in December?")
    page.click("#q-submit")
    feed_item = page.locator("#feed li", has_text="skating rink")
    feed_item.wait_for()
    qid = int(page.get_attribute("#mine li[data-id]", "data-id"))
    context.set_offline(True)
    page.wait_for_selector("#conn[data-state=offline]", timeout=60_000)
    assert voter.call("vote", {"question_id": qid}, namespace="/")["votes"] == 1  # missed by the page
    frames.clear()
    context.set_offline(False)
    page.wait_for_selector("#conn[data-state=online]", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#feed li .vote .count')?.textContent === '1'")
    assert any('"unchanged":true' in str(f) for f in frames)
    # a question asked while the page was away moves the version: the full state comes back
    context.set_offline(True)
    page.wait_for_selector("#conn[data-state=offline]", timeout=60_000)
    assert voter.call("submit_question", {"text": "When will the lift at Turan 37 be repaired?",
                                          "client_id": "resume-test-0001"}, namespace="/")["ok"]
    frames.clear()
    context.set_offline(False)
    page.locator("#feed li", has_text="lift at Turan 37").wait_for(timeout=30_000)
    assert not any('"unchanged":true' in str(f) for f in frames)
    assert page.locator("#feed li", has_text="skating rink").count() == 1
    staff.disconnect()
    voter.disconnect()
    context.close()
