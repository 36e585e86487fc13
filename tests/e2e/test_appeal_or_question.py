"""On a 360 px phone: the viewer form says, before sending, whether the question will be an official
appeal (a name and a contact) or a question for the broadcast only, and the server agrees."""
from __future__ import annotations

import re
import sqlite3

from .test_rehearsal import browser  # noqa: F401 - fixture


def test_the_form_says_appeal_once_a_name_and_a_phone_are_typed_and_the_appeal_is_on_the_clock(browser, server):  # noqa: F811
    context = browser.new_context(locale="en-US", viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server.url + "/b/demo")
    page.wait_for_selector("#conn[data-state=online]")
    assert page.is_visible("#q-kind-question") and not page.is_visible("#q-kind-appeal")
    assert "not an official appeal" in page.inner_text("#q-kind")
    page.fill("#q-text", "The heating in block 7 has been off for three days.")
    page.fill("#q-name", "Aigerim")
    assert page.is_visible("#q-kind-question")  # a name alone is not enough
    page.fill("#q-contact", "+7 701 234 5678")
    page.wait_for_selector("#q-kind-appeal", state="visible")
    assert "within 15 working days" in page.inner_text("#q-kind") and not page.is_visible("#q-kind-question")
    page.check("#q-consent")
    page.click("#q-submit")
    page.wait_for_selector("#form-status[data-kind=ok]")
    code = re.search(r"SRK-\d{4}-\d{6}", page.inner_text("#form-status")).group(0)
    assert page.is_visible("#q-kind-question")  # the emptied form starts over
    database = server.env["COMPANION_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        row = conn.execute("SELECT statutory, clock_running, follow_up FROM appeal WHERE tracking_code = ?",
                           (code,)).fetchone()
    assert row == (1, 1, 1)
    context.close()
