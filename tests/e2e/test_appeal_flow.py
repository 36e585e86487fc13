"""After the broadcast, in real Chromium: a resident's question becomes an appeal that an officer answers."""
from __future__ import annotations

import re

from .test_rehearsal import SCREENSHOTS, browser, card, signed_in  # noqa: F401 - fixtures


def test_question_asked_on_air_is_answered_by_an_officer_and_read_at_track(browser, server):  # noqa: F811
    errors = []
    viewer_context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844}, is_mobile=True)
    viewer = viewer_context.new_page()
    viewer.on("console", lambda m: m.type == "error" and errors.append(m.text))
    viewer.on("response", lambda r: r.status >= 400 and errors.append(r.url))
    viewer.goto(server.url + "/b/demo")
    viewer.wait_for_selector("#conn[data-state=online]")
    viewer.fill("#q-text", "The bus stop on Abay street has no shelter. When will one be built?")
    viewer.fill("#q-district", "Almaly")
    viewer.fill("#q-name", "Aigerim")  # a name and a contact: an appeal with a due date on the receipt
    viewer.fill("#q-contact", "+7 701 234 5678")
    viewer.check("#q-consent")
    viewer.click("#q-submit")
    viewer.wait_for_selector("#form-status[data-kind=ok]")
    code = re.search(r"SRK-\d{4}-\d{6}", viewer.inner_text("#form-status")).group(0)

    # The talon, one tap away: number, time received, registration date, office, due date.
    viewer.click("#form-status a.receipt-link")
    viewer.wait_for_url(re.compile(f"/track/{code}/[a-z0-9]{{4}}(-[a-z0-9]{{4}}){{3}}/talon$"))
    receipt = viewer.inner_text("main")
    assert code in receipt and "Registration slip (talon)" in receipt and "Registration date" in receipt
    assert "Answer due" in receipt and "District akimat" in receipt and "Access code" in receipt
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=str(SCREENSHOTS / "receipt.png"), full_page=True)

    # The moderator files it under "Transport and roads": the appeal goes to that department.
    moderator = signed_in(browser, server, "mod", "/moderate/demo", viewport={"width": 1440, "height": 900})
    question = card(moderator, "incoming", "bus stop on Abay")
    question.wait_for()
    question.locator(".text").click()
    moderator.wait_for_selector("#insp-category-select")
    # as a keyboard user does: the list takes the focus first (a panel redrawn meanwhile, by the likely duplicates
    # arriving, keeps a focused list as it is; Playwright's select_option alone does not focus it)
    moderator.focus("#insp-category-select")
    moderator.select_option("#insp-category-select", label="Transport and roads")
    moderator.press("#insp-category-select", "Enter")  # a choice made with the keys is applied with Enter
    moderator.wait_for_selector("#list-incoming .qcard .badge.cat:not(.suggested):has-text('Transport and roads')")

    # The officer of that department finds it, takes it into work and answers in the appeal's language.
    officer = signed_in(browser, server, "officer", "/appeals", viewport={"width": 1366, "height": 900})
    officer.wait_for_selector(f"text={code}")
    officer.screenshot(path=str(SCREENSHOTS / "appeals.png"), full_page=True)
    officer.click(f"text={code}")
    officer.wait_for_selector("h1.code")
    assert "Almaly" in officer.inner_text("main")
    officer.click("button:has-text('Start work')")
    officer.wait_for_selector(".badge.status-in_progress")
    officer.fill("#a-answer", "A shelter will be installed by 1 May; the contractor is chosen.")
    officer.click("button:has-text('Send the answer')")
    officer.wait_for_selector(".badge.status-answered")
    officer.screenshot(path=str(SCREENSHOTS / "appeal-detail.png"), full_page=True)

    # The resident reads the answer at the private address from "My questions", with the timeline and
    # no personal data.
    viewer.goto(f"{server.url}/b/demo")
    viewer.click(f"#mine a.code:has-text('{code}')")
    viewer.wait_for_selector(".answer")
    assert viewer.inner_text(".answer") == "A shelter will be installed by 1 May; the contractor is chosen."
    timeline = viewer.inner_text(".timeline")
    for step in ("Registered", "Routed by category", "Work started", "Answered"):
        assert step in timeline
    assert "officer" not in timeline  # staff names are not shown to the public
    viewer.screenshot(path=str(SCREENSHOTS / "track.png"), full_page=True)

    roadmap = browser.new_page(viewport={"width": 1280, "height": 900})
    roadmap.goto(server.url + "/roadmap")
    roadmap.wait_for_selector(".hbars")
    assert "Transport and roads" in roadmap.inner_text("main")
    roadmap.screenshot(path=str(SCREENSHOTS / "roadmap.png"), full_page=True)
    assert errors == []
    viewer_context.close()
