"""Fresh-eyes review findings: the live screens speak the page's language over the socket too."""
from __future__ import annotations

import pytest

from companion.testing.liveserver import LiveServer

playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("review1")).start()
    yield live
    live.stop()


def test_a_viewer_page_opened_with_lang_gets_the_servers_errors_in_that_language(server):
    """`?lang=kk` in an English browser (a studio PC, a shared link): an error the server sends over
    the socket is in Kazakh, like the page, not in the browser's language."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_context(locale="en-US").new_page()
        page.goto(server.url + "/b/demo?lang=kk")
        page.wait_for_selector("#conn[data-state=online]")
        page.fill("#q-text", "Аулада жарық жоқ, неге жөндемейсіздер?")
        page.fill("#q-contact", "not-a-phone")
        page.check("#q-consent")
        page.click("#q-submit")
        playwright.expect(page.locator("#q-contact-error")).not_to_be_empty()
        error = page.inner_text("#q-contact-error")
        browser.close()
    assert "This phone number" not in error
    assert any(ch in error for ch in "әғқңөұүһі"), error
