"""The resident's path in real Chromium on a 360 px phone: ask, open the appeal from "My questions",
then the same number without the access code shows only the status (issue 19, item 5)."""
from __future__ import annotations

import re

from .test_rehearsal import SCREENSHOTS, browser  # noqa: F401 - fixtures

QUESTION = "The lift in block 12 on Abay street has been broken for a week. IIN 900101300123."


def test_resident_opens_the_appeal_from_my_questions_and_the_bare_number_shows_only_the_status(browser, server):  # noqa: F811
    errors: list[str] = []
    context = browser.new_context(locale="en-US", viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(server.url + "/b/demo")
    page.wait_for_selector("#conn[data-state=online]")
    page.fill("#q-text", QUESTION)
    page.click("#q-submit")
    page.wait_for_selector("#form-status[data-kind=ok]")
    code = re.search(r"SRK-\d{4}-\d{6}", page.inner_text("#form-status")).group(0)

    link = page.locator(f"#mine a.code:has-text('{code}')")
    link.wait_for()
    assert re.fullmatch(f"/track/{code}/[a-z2-9]{{4}}(-[a-z2-9]{{4}}){{3}}", link.get_attribute("href"))
    link.tap()
    page.wait_for_selector("#appeal-title")
    own = page.inner_text("main")
    assert QUESTION in own and "waiting for moderation" in own and "History" in own
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "track-private-phone.png"), full_page=True)

    page.goto(f"{server.url}/track/{code}")
    page.wait_for_selector("#appeal-title")
    bare = page.inner_text("main")
    assert code in bare and "Received" in bare and "registered" in bare  # the status and the dates
    assert "lift" not in bare.lower() and "900101300123" not in bare and "History" not in bare
    assert "enter its access code" in bare
    page.screenshot(path=str(SCREENSHOTS / "track-number-only-phone.png"), full_page=True)
    # no sideways scrolling on the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert errors == []
    context.close()
