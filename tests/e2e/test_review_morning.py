"""The morning after, as a reviewer read it in real Chromium: the public roadmap's figures on a 360 px phone in
Russian, chosen by the header's language link (a long word, "зарегистрировано", ran out of its card)."""
from __future__ import annotations

from .test_rehearsal import SCREENSHOTS, browser  # noqa: F401 - fixtures

PHONE = {"width": 360, "height": 740}

OVERFLOWING = """() => [...document.querySelectorAll('.stat')].flatMap(card => {
  const box = card.getBoundingClientRect();
  return [...card.children].filter(e => e.getBoundingClientRect().right > box.right + 0.5
                                      || e.scrollWidth > e.clientWidth + 1).map(e => e.textContent);
})"""


def test_roadmap_figures_stay_in_their_cards_on_a_phone_in_every_language(browser, server):  # noqa: F811
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_context(viewport=PHONE, locale="en-US").new_page()
    page.goto(server.url + "/roadmap")
    for name, lang in (("Русский", "ru"), ("Қазақша", "kk"), ("English", "en")):
        page.get_by_role("link", name=name).click()
        # the click navigates: between the two documents there is no documentElement for a moment
        page.wait_for_function(f"() => document.documentElement?.lang === '{lang}'")
        page.wait_for_load_state()
        page.screenshot(path=str(SCREENSHOTS / f"review-roadmap-360-{lang}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.evaluate(OVERFLOWING) == [], lang
    page.context.close()
