"""The moderator's desk in Chromium with 10,000 questions: the first render and one live update."""
from __future__ import annotations

import time

import requests

from companion.testing.liveserver import seed_questions

from .test_rehearsal import browser, signed_in  # noqa: F401 - fixtures

N = 10_000


def test_desk_with_ten_thousand_questions_renders_and_updates_fast(browser, server):  # noqa: F811
    seed_questions(server, N)
    started = time.monotonic()
    mod = signed_in(browser, server, "mod", "/moderate/demo", viewport={"width": 1440, "height": 900})
    mod.wait_for_function("() => document.documentElement.dataset.renderMs !== undefined", timeout=60_000)
    to_screen = time.monotonic() - started
    render_ms = float(mod.evaluate("document.documentElement.dataset.renderMs"))
    counts = mod.evaluate("[...document.querySelectorAll('[data-count]')].map(e => +e.textContent)")
    assert sum(counts) == N  # every question is counted in its column ...
    assert mod.locator(".qcard").count() < 1000  # ... while only a window of each long column is in the page
    incoming = int(mod.inner_text("[data-count=incoming]"))
    requests.post(f"{server.url}/api/v1/broadcasts/demo/questions", json={"text": "One more, live"}, timeout=5)
    mod.wait_for_function(f"() => +document.querySelector('[data-count=incoming]').textContent === {incoming + 1}")
    arrival_ms = float(mod.evaluate("document.documentElement.dataset.updateMs"))
    first = mod.locator("#list-incoming .qcard").first
    first_id = first.get_attribute("data-id")
    first.click()
    mod.wait_for_function(f"() => document.getElementById('insp-head').textContent.startsWith('#{first_id}')")
    mod.wait_for_selector("#insp-actions:not(.settling)", state="attached")
    mod.click("#insp-actions [data-action=approve]")  # leaves the window: the next incoming card moves in
    mod.wait_for_function(f"() => !document.querySelector('#list-incoming .qcard[data-id=\"{first_id}\"]')")
    approve_ms = float(mod.evaluate("document.documentElement.dataset.updateMs"))
    assert mod.locator("#list-incoming .qcard").count() == 150  # the window stays full
    update_ms = max(arrival_ms, approve_ms)
    print(f"moderator desk with {N} questions: render {render_ms:.0f} ms (page to screen {to_screen:.1f} s), "
          f"a new question applied in {arrival_ms:.2f} ms, an approval in {approve_ms:.2f} ms")
    assert render_ms < 3000 and update_ms < 50  # targets (issue 7): 1,000 ms and 16 ms; headroom for a busy CI machine
    # search reaches a question beyond the window
    mod.fill("#f-text", "Seeded question number 9990")
    mod.wait_for_selector(".qcard:has-text('Seeded question number 9990')")
    assert mod.locator(".qcard").count() == 1
