"""A fresh pair of eyes on the desk, the viewer and the back office: each test is a finding that was fixed."""
from __future__ import annotations

import re
import sqlite3
import time

import requests

import pytest
from playwright.sync_api import sync_playwright

from companion.testing.liveserver import PASSWORD, LiveServer

from .test_rehearsal import SCREENSHOTS


@pytest.fixture(scope="module")
def eyes_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("eyes")).start()
    server.cli("create-user", "eyesadmin", "--role", "admin", "--password", PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def eyes_browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        yield browser
        browser.close()


def signed_in(browser, server, user, viewport=(1366, 768), init_script=None):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    if init_script:
        page.add_init_script(init_script)
    page.goto(server.url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    return page


def staff_session(server, user):
    """A requests session signed in through the login form, in English."""
    http = requests.Session()
    http.cookies.set("lang", "en")
    login = http.get(server.url + "/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    assert http.post(server.url + "/login", allow_redirects=False, data={
        "username": user, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return http


def rows(server, sql, *args):
    db = sqlite3.connect(server.env["COMPANION_DATABASE_URL"].removeprefix("sqlite:///"))
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


# The phone form's frames leave the page 0.8 s late, as on a slow network: the next caller is typed meanwhile.
SLOW_PHONE = """(() => { const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (d) {
  if (typeof d === "string" && d.includes("add_phone_question")) setTimeout(() => send.call(this, d), 800);
  else send.call(this, d);
}; })();"""


def test_phone_form_double_click_is_one_question_and_the_next_callers_typing_stays(eyes_server, eyes_browser):
    page = signed_in(eyes_browser, eyes_server, "mod", init_script=SLOW_PHONE)
    page.goto(eyes_server.url + "/moderate/demo")
    page.wait_for_selector("#conn[data-state=online]")
    page.click("#tab-phone")
    page.fill("#p-text", "Eyes caller one: when is the Abay street road repaired?")
    page.fill("#p-district", "Almaly")
    page.click("#phone-form button[type=submit]", click_count=2)  # a double click while the first is in flight
    # the next caller, typed before the first is confirmed: the same district, typed again
    page.fill("#p-text", "Eyes caller two: bus 32 no longer stops")
    page.fill("#p-district", "")
    page.type("#p-district", "Almaly")
    page.wait_for_selector("#phone-status:has-text(\"SRK-\")")
    time.sleep(1.5)  # the second click's answer too
    assert page.input_value("#p-text") == "Eyes caller two: bus 32 no longer stops"
    assert page.input_value("#p-district") == "Almaly"
    assert rows(eyes_server, "SELECT count(*) FROM question WHERE text LIKE 'Eyes caller one%'") == [(1,)]
    page.context.close()


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_viewer_opened_with_lang_keeps_it_on_the_appeal_pages(eyes_server, eyes_browser, lang):
    """A resident on /b/demo?lang=kk (no cookie: a QR code's link) follows "My questions" to the appeal's page
    and its withdraw link: both stay in the page's language (they fell back to the browser's English)."""
    context = eyes_browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True,
                                       locale="en-US")
    page = context.new_page()
    page.goto(f"{eyes_server.url}/b/demo?lang={lang}")
    page.wait_for_selector("#conn[data-state=online]")
    page.fill("#q-text", f"Eyes {lang}: the lights in the courtyard at Abay 10 are off for a week")
    page.tap("#q-submit")
    page.wait_for_selector("#mine a")
    page.tap("#mine a")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == lang
    page.tap("#withdraw-link")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == lang
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == lang
    context.close()


def test_department_and_category_errors_come_back_on_the_form_as_typed(eyes_server):
    """A department or category sent with a missing or over-long name: a 400 with the page again, each value as
    typed and the field named beside it; nothing saved (it was a flash over an emptied form, with the fields'
    keys: "name_ru: This field is required.")."""
    http = staff_session(eyes_server, "eyesadmin")
    page = http.get(eyes_server.url + "/admin/organisation").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    typed = "Жаңа бөлім <script>alert(1)</script> \"q\""
    response = http.post(eyes_server.url + "/admin/departments", allow_redirects=False, data={
        "csrf_token": token, "name_kk": typed, "name_ru": "", "name_en": "x" * 5000, "active": "1"})
    assert response.status_code == 400
    assert 'value="Жаңа бөлім &lt;script&gt;alert(1)&lt;/script&gt; &#34;q&#34;"' in response.text
    assert "Name in Russian: This field is required." in response.text
    assert "name_ru:" not in response.text
    assert "<script>alert(1)" not in response.text
    response = http.post(eyes_server.url + "/admin/categories", allow_redirects=False, data={
        "csrf_token": token, "name_kk": "Санат", "name_ru": "Категория", "name_en": "", "department_id": "2",
        "keywords": "жол\nдорога"})
    assert response.status_code == 400
    assert 'value="Категория"' in response.text
    assert re.search(r'<option value="2" selected>', response.text)
    assert "жол\nдорога</textarea>" in response.text
    assert rows(eyes_server, "SELECT count(*) FROM department WHERE name_kk LIKE 'Жаңа бөлім%'") == [(0,)]
    assert rows(eyes_server, "SELECT count(*) FROM category WHERE name_ru = 'Категория'") == [(0,)]


def test_an_officers_typed_answer_survives_a_refusal(eyes_server):
    """The officer writes a long answer while someone else adds a note to the appeal: the answer is refused as
    stale (409) and the page comes back with the answer still in its box (it came back empty); the same for an
    answer over the limit (400)."""
    created = requests.post(f"{eyes_server.url}/api/v1/broadcasts/demo/questions", json={
        "text": "Eyes appeal: the heating in school 12 is off", "client_id": "eyes-appeal-1"}).json()
    appeal_id = rows(eyes_server, "SELECT id FROM appeal WHERE tracking_code = ?", created["tracking_code"])[0][0]
    officer_id = rows(eyes_server, "SELECT id FROM user WHERE username = 'officer'")[0][0]
    admin = staff_session(eyes_server, "eyesadmin")

    def post(http, action, **data):
        page = http.get(f"{eyes_server.url}/appeals/{appeal_id}").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        version = re.search(r'name="version" value="(\d+)"', page).group(1)
        return http.post(f"{eyes_server.url}/appeals/{appeal_id}/{action}", allow_redirects=False,
                         data={"csrf_token": token, "version": data.pop("version", version), **data})

    assert post(admin, "assign", department_id="1", officer_id=str(officer_id)).status_code == 302
    officer = staff_session(eyes_server, "officer")
    page = officer.get(f"{eyes_server.url}/appeals/{appeal_id}").text
    seen = re.search(r'name="version" value="(\d+)"', page).group(1)
    assert post(admin, "comment", note="Called the school").status_code == 302
    answer = "Уважаемый житель, отопление в школе 12 включат в понедельник. " * 5
    refused = post(officer, "answer", answer=answer, version=seen)
    assert refused.status_code == 409
    assert answer + "</textarea>" in refused.text
    too_long = "Ответ " + "x" * 20000
    refused = post(officer, "answer", answer=too_long)
    assert refused.status_code == 400
    assert too_long + "</textarea>" in refused.text
    assert rows(eyes_server, "SELECT status FROM appeal WHERE id = ?", appeal_id) == [("assigned",)]


def test_an_ended_broadcast_can_be_scheduled_again_from_its_page(eyes_server, eyes_browser):
    """The service lets an ended broadcast be scheduled again (one ended by a slip of the mouse, live a moment
    ago), but its page offered no button for it: an ended broadcast had no way back from the screen."""
    page = signed_in(eyes_browser, eyes_server, "eyesadmin")
    broadcast_id = rows(eyes_server, "SELECT id FROM broadcast WHERE slug = 'demo'")[0][0]
    for lang, label in (("ru", "Запланировать снова"), ("kk", "Қайта жоспарлау"), ("en", "Schedule again")):
        page.goto(f"{eyes_server.url}/admin/broadcasts/{broadcast_id}?lang={lang}")
        if rows(eyes_server, "SELECT status FROM broadcast WHERE id = ?", broadcast_id) != [("ended",)]:
            page.click("main form button[value=ended]")
            with page.expect_navigation():
                page.click("#end-confirm button[value=yes]")
            page.goto(f"{eyes_server.url}/admin/broadcasts/{broadcast_id}?lang={lang}")
        assert rows(eyes_server, "SELECT status FROM broadcast WHERE id = ?", broadcast_id) == [("ended",)]
        page.click(f"main form button:has-text('{label}')")
        page.wait_for_load_state()
        assert rows(eyes_server, "SELECT status FROM broadcast WHERE id = ?", broadcast_id) == [("scheduled",)]
        page.click("main form button[value=live]")
        page.wait_for_load_state()
        assert rows(eyes_server, "SELECT status FROM broadcast WHERE id = ?", broadcast_id) == [("live",)]
    page.context.close()


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_phone_callers_form_fits_the_desks_side_panel_on_a_laptop(eyes_server, eyes_browser, lang):
    """1366×768: the phone caller's two-column fields ran past the side panel's right edge (the district field was
    cut off and the drawer scrolled sideways), and the last tab was clipped."""
    page = signed_in(eyes_browser, eyes_server, "mod")
    page.goto(f"{eyes_server.url}/moderate/demo?lang={lang}")
    page.wait_for_selector("#conn[data-state=online]")
    page.click("#tab-phone")
    drawer = page.locator(".drawer").bounding_box()
    for selector in ("#p-district", "#p-name", "#tab-invite"):
        box = page.locator(selector).bounding_box()
        assert box["x"] + box["width"] <= drawer["x"] + drawer["width"] + 0.5, selector
    assert page.evaluate("(() => { const d = document.querySelector('.drawer'); return d.scrollWidth <= d.clientWidth; })()")
    page.context.close()


@pytest.mark.parametrize("lang", ["ru", "kk", "en"])
def test_the_prompters_timer_is_not_under_its_controls(eyes_server, eyes_browser, lang):
    """1366×768 in Russian: the controls wrap to two rows and covered the timer while they showed."""
    page = signed_in(eyes_browser, eyes_server, "speaker")
    page.goto(f"{eyes_server.url}/prompter/demo?lang={lang}")
    page.wait_for_selector("#conn[data-state=online]")
    page.mouse.move(200, 300)  # the controls show
    controls = page.locator("#controls").bounding_box()
    timer = page.locator(".clocks").bounding_box() or page.locator("#now").bounding_box()  # the timer shows while a question is on air
    assert timer["y"] >= controls["y"] + controls["height"]
    page.context.close()


def make_live(server):
    """The demo broadcast live again (another test of this module may have ended it), through the admin's form."""
    broadcast_id = rows(server, "SELECT id FROM broadcast WHERE slug = 'demo'")[0][0]
    if rows(server, "SELECT status FROM broadcast WHERE id = ?", broadcast_id) == [("live",)]:
        return
    http = staff_session(server, "eyesadmin")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      http.get(f"{server.url}/admin/broadcasts/{broadcast_id}").text).group(1)
    for step in ("scheduled", "live"):  # an ended broadcast is scheduled again first
        http.post(f"{server.url}/admin/broadcasts/{broadcast_id}/status", data={"status": step, "csrf_token": token})
    assert rows(server, "SELECT status FROM broadcast WHERE id = ?", broadcast_id) == [("live",)]


def test_ending_a_broadcast_asks_first_and_a_stray_enter_or_escape_ends_nothing(eyes_server, eyes_browser):
    """"End broadcast" was one click away from closing the live show's questions and mailing the report.
    Now it asks, with Cancel focused: Enter, Escape and Cancel leave the broadcast live; only the dialog's
    own "End broadcast" ends it."""
    page = signed_in(eyes_browser, eyes_server, "eyesadmin")
    broadcast_id = rows(eyes_server, "SELECT id FROM broadcast WHERE slug = 'demo'")[0][0]
    status = lambda: rows(eyes_server, "SELECT status FROM broadcast WHERE id = ?", broadcast_id)[0][0]  # noqa: E731
    make_live(eyes_server)
    assert status() == "live"
    for lang, title in (("ru", "Завершить эфир сейчас?"), ("kk", "Эфирді қазір аяқтайсыз ба?"), ("en", "End the broadcast now?")):
        page.goto(f"{eyes_server.url}/admin/broadcasts/{broadcast_id}?lang={lang}")
        end = page.locator("main form button[value=ended]")
        for dismiss in ("Enter", "Escape", "cancel"):
            end.click()
            dialog = page.locator("#end-confirm")
            dialog.wait_for(state="visible")
            assert dialog.locator("h2").inner_text() == title
            if lang == "en":  # live, so started: ending it mails the report (a broadcast never started has none)
                assert "the report is e-mailed" in dialog.locator("#end-confirm-text").inner_text()
            assert page.evaluate("document.activeElement.classList.contains('cancel')")  # the safe choice
            if dismiss == "cancel":
                dialog.locator("button.cancel").click()
            else:
                page.keyboard.press(dismiss)
            dialog.wait_for(state="hidden")
            page.wait_for_timeout(300)  # a submission, had there been one, would have reached the server
            assert status() == "live", dismiss
            assert page.url.endswith(f"?lang={lang}")
        if lang == "kk":
            end.click()
            page.screenshot(path=str(SCREENSHOTS / "end-confirm-kk.png"))
            page.keyboard.press("Escape")
    end.click()
    with page.expect_navigation():
        page.locator("#end-confirm button[value=yes]").click()
    assert status() == "ended"
    assert page.locator("main form button[value=scheduled]").is_visible()
    page.context.close()


def test_the_phone_form_marks_the_fields_the_server_refuses_and_unmarks_them_as_they_are_fixed(eyes_server, eyes_browser):
    """The desk's phone form said "correct the highlighted fields" with nothing highlighted: a moderator on a
    call could not tell that the phone number was wrong or the consent not ticked. Each named field is now
    marked, with its message under it, the first one focused; fixing them sends the call's question once."""
    make_live(eyes_server)
    page = signed_in(eyes_browser, eyes_server, "mod")
    page.goto(f"{eyes_server.url}/moderate/demo?lang=ru")
    page.wait_for_selector("#conn[data-state=online]")
    page.click("#tab-phone")
    before = rows(eyes_server, "SELECT count(*) FROM question")[0][0]
    page.fill("#p-name", "Айгуль")
    page.fill("#p-contact", "not a phone")
    page.click("#phone-form button[type=submit]")
    page.wait_for_selector("#p-contact[aria-invalid=true]")
    assert page.get_attribute("#p-text", "aria-invalid") == "true"  # no question typed
    assert page.locator("#p-text-error").inner_text() == "Напишите ваш вопрос."
    assert page.locator("#p-contact-error").is_visible() and page.locator("#p-contact-error").inner_text()
    assert page.evaluate("document.activeElement.id") == "p-text"  # the first refused field, in the form's order
    page.keyboard.type("Когда починят лифт в доме 12?")
    assert page.get_attribute("#p-text", "aria-invalid") is None and page.locator("#p-text-error").count() == 0
    assert page.get_attribute("#p-contact", "aria-invalid") == "true"  # the other mark stays until fixed
    page.fill("#p-contact", "+7 701 234 56 78")
    page.click("#phone-form button[type=submit]")
    page.wait_for_selector("#p-consent[aria-invalid=true]")  # a name and a phone need the caller's consent
    assert page.locator("#p-consent-error").inner_text()
    page.check("#p-consent")
    page.click("#phone-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('phone-status').textContent.length > 0")
    assert page.locator("#phone-form [aria-invalid]").count() == 0 and page.locator("#phone-form .error").count() == 0
    assert rows(eyes_server, "SELECT count(*) FROM question")[0][0] == before + 1
    assert rows(eyes_server, "SELECT text, channel FROM question ORDER BY id DESC LIMIT 1") == [
        ("Когда починят лифт в доме 12?", "phone")]
    page.screenshot(path=str(SCREENSHOTS / "phone-form-marked-ru.png"))
    page.context.close()
