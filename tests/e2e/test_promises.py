"""Promises in real Chromium: a moderator marks one on the desk by mouse and by keyboard during the live
broadcast (the database is checked after each), the head publishes it, and a resident reads it on the
roadmap on a 360 px phone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .test_desk import LAPTOP, api_key, ask, database, desk, pick, row
from .test_rehearsal import SCREENSHOTS, browser, signed_in  # noqa: F401 - fixtures

PHONE = {"width": 360, "height": 740}


def promises(server) -> list[dict]:
    with database(server) as db:
        return [dict(r) for r in db.execute("SELECT * FROM promise ORDER BY id")]


def went_live(server, seconds_ago: int) -> None:
    """The demo broadcast started `seconds_ago` (it is seeded live with no start recorded)."""
    start = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    with database(server) as db:
        db.execute("UPDATE broadcast SET started_at = ? WHERE slug = 'demo'", (start.strftime("%Y-%m-%d %H:%M:%S.%f"),))


def test_a_promise_marked_on_the_desk_by_mouse_and_by_keyboard_is_published_on_the_roadmap(browser, server):  # noqa: F811
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    key = api_key(server)
    first, second = ask(server, key, "Когда заасфальтируют двор на Кенесары, 40?",
                        "Когда починят освещение на улице Абая?")
    went_live(server, 15 * 60)
    page = desk(browser, server)

    # by mouse: the selected question's panel, "Mark a promise", the small form, the button
    pick(page, first)
    page.click("#insp-actions [data-action=mark_promise]")
    page.wait_for_selector("#promise-form")
    page.fill("#promise-text", "Двор на Кенесары, 40 заасфальтируют к июню")
    page.select_option("#promise-department", index=1)
    page.fill("#promise-due", "2027-06-01")
    page.screenshot(path=str(SCREENSHOTS / "promise-desk-form.png"))
    page.click("#promise-form button[type=submit]")
    page.wait_for_selector("#promise-form", state="detached")
    page.wait_for_selector("#toast:not([hidden])")
    assert "15:" in page.text_content("#toast-text")  # the moment in the stream, 15 minutes in
    [marked] = promises(server)
    assert marked["text"] == "Двор на Кенесары, 40 заасфальтируют к июню" and marked["question_id"] == first
    assert marked["department_id"] == 1 and marked["due_date"] == "2027-06-01" and marked["published"] == 0
    assert 15 * 60 <= marked["stream_offset"] <= 15 * 60 + 30
    assert row(server, first)["status"] == "pending"

    # by keyboard: p opens the form; the desk's single keys (a approves, q queues, r rejects) stay out of it;
    # Tab goes through the fields; Enter submits this form once, and nothing else
    pick(page, second)
    page.keyboard.press("p")
    page.wait_for_selector("#promise-text:focus")
    page.keyboard.type("Освещение на Абая восстановят: a q r x d")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "promise-department"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.type("ГКП «Астана Жарық»")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "promise-due"
    page.keyboard.type("03152027")  # the en-US date field: mm dd yyyy
    page.keyboard.press("Enter")
    page.wait_for_selector("#promise-form", state="detached")
    page.wait_for_timeout(300)
    marked, by_keys = promises(server)
    assert by_keys["text"] == "Освещение на Абая восстановят: a q r x d" and by_keys["question_id"] == second
    assert by_keys["department_id"] == 1 and by_keys["responsible"] == "ГКП «Астана Жарық»"
    assert by_keys["due_date"] == "2027-03-15" and by_keys["stream_offset"] >= 15 * 60
    assert row(server, second)["status"] == "pending"  # no shortcut fired while typing
    # Escape leaves an open form without marking anything
    page.wait_for_selector("#insp-actions:not(.settling)", state="attached")  # keys wait a moment after a form
    page.keyboard.press("p")
    page.wait_for_selector("#promise-text:focus")
    page.keyboard.type("not said")
    page.keyboard.press("Escape")
    page.wait_for_selector("#promise-form", state="detached")
    assert len(promises(server)) == 2
    assert not page.errors, page.errors

    # an empty form is refused with the field's reason, on the form
    page.keyboard.press("p")
    page.wait_for_selector("#promise-text:focus")
    page.keyboard.press("Enter")
    page.wait_for_selector("#promise-form .conflict:not([hidden])")
    assert "required" in page.text_content("#promise-form .conflict")
    assert len(promises(server)) == 2
    page.keyboard.press("Escape")
    page.wait_for_selector("#promise-form", state="detached")

    # marked by mistake: the toast's Undo takes it back (nobody has worked on it yet)
    page.wait_for_selector("#insp-actions:not(.settling)", state="attached")
    page.keyboard.press("p")
    page.wait_for_selector("#promise-text:focus")
    page.keyboard.type("Не обещание, а ошибка модератора")
    page.fill("#promise-due", "2027-06-01")
    page.select_option("#promise-department", index=1)
    page.click("#promise-form button[type=submit]")
    page.wait_for_selector("#promise-form", state="detached")
    assert len(promises(server)) == 3
    page.click("#toast-undo")
    page.wait_for_function("() => document.getElementById('toast-text').textContent.includes('taken back')")
    assert [p["text"] for p in promises(server)] == [marked["text"], by_keys["text"]]
    assert not page.errors, page.errors

    # the officer of its department publishes the first one in the back office; a resident reads it on a phone
    head = signed_in(browser, server, "officer", f"/promises/{marked['id']}", viewport=LAPTOP)
    head.screenshot(path=str(SCREENSHOTS / "promise-back-office.png"), full_page=True)
    head.click("#form-publish button[type=submit]")
    head.wait_for_selector("#form-unpublish")
    assert promises(server)[0]["published"] == 1
    phone = browser.new_context(locale="ru-RU", viewport=PHONE).new_page()
    phone.goto(server.url + "/lang/ru")
    phone.goto(server.url + "/roadmap")
    item = phone.locator("#promises .promise", has_text="Кенесары, 40")
    item.wait_for()
    assert phone.locator("#promises .promise").count() == 1  # the unpublished one is not there
    assert "запланировано" in item.text_content()
    assert "Когда заасфальтируют" not in phone.content()  # the resident's question never
    item.scroll_into_view_if_needed()
    phone.screenshot(path=str(SCREENSHOTS / "promise-roadmap-360.png"), full_page=True)
    # legible on the phone: nothing wider than the screen, no text under 12 px in the promises
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    smallest = phone.evaluate("""() => Math.min(...[...document.querySelectorAll('#promises *')]
        .filter((el) => el.textContent.trim()).map((el) => parseFloat(getComputedStyle(el).fontSize)))""")
    assert smallest >= 12
    box = item.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]

    # the next broadcast's present view and overlay: last broadcast's promises
    next_key = next_broadcast(server)
    screen = browser.new_context(locale="en-US", viewport=LAPTOP).new_page()
    screen.goto(server.url + "/present/next")
    section = screen.locator("#last-promises")
    section.wait_for()
    assert "Planned: 1" in section.text_content() and "Кенесары, 40" in section.text_content()
    assert "Освещение на Абая" not in section.text_content()  # not published
    screen.screenshot(path=str(SCREENSHOTS / "promise-present-1366.png"))
    box = section.bounding_box()
    assert box["y"] + box["height"] <= LAPTOP["height"] + 200  # on the projector's screen, not far below
    screen.goto(server.url + f"/overlay/next?mode=promises&key={next_key}")
    screen.locator(".promises-card[data-state=in]").wait_for()
    screen.screenshot(path=str(SCREENSHOTS / "promise-overlay-1366.png"))


def next_broadcast(server) -> str:
    """A broadcast a week later (made through the model, as an admin's form would); its overlay key."""
    from companion import create_app
    from companion.config import Config
    from companion.extensions import db
    from companion.models import Broadcast
    app = create_app(Config.from_env({"COMPANION_DATABASE_URL": server.env["COMPANION_DATABASE_URL"],
                                      "COMPANION_SECRET_KEY": "x"}))
    with app.app_context():
        broadcast = Broadcast(slug="next", title_en="Next week's Q&A", status="scheduled",
                              starts_at=datetime.now(timezone.utc) + timedelta(days=7))
        db.session.add(broadcast)
        db.session.commit()
        key = broadcast.overlay_key
        db.session.remove()
        db.engine.dispose()
    return key


def test_enter_pressed_twice_to_mark_a_promise_never_sends_the_question_to_air(browser, server):  # noqa: F811
    """The form closes on the first Enter and the card gets the focus back; the second Enter, a
    moment later, is the card's "send to air" key. It must do nothing."""
    key = api_key(server)
    [qid] = ask(server, key, "Когда отремонтируют лифт в доме Сарайшық, 5?")
    page = desk(browser, server)
    pick(page, qid)
    page.click("#insp-actions [data-action=approve]")
    page.wait_for_function(f"() => document.querySelector(\".qcard[data-id='{qid}']\")?.dataset.status === 'approved'")
    page.wait_for_selector("#insp-actions:not(.settling)", state="attached")
    page.keyboard.press("p")
    page.wait_for_selector("#promise-text:focus")
    page.keyboard.type("Лифт на Сарайшық, 5 заменят")
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("06012027")
    page.keyboard.press("Enter")
    page.wait_for_timeout(150)
    page.keyboard.press("Enter")
    page.wait_for_timeout(1000)
    assert len(promises(server)) == 1
    assert row(server, qid)["status"] == "approved" and row(server, qid)["aired_at"] is None
    assert not page.locator("#confirm[open]").count()


def test_the_promises_list_fits_a_phone(browser, server):  # noqa: F811
    """A fresh-eyes review found the six-column list 775 px wide on a 360 px phone: the page scrolled sideways."""
    with database(server) as db:
        db.execute("INSERT INTO promise (broadcast_id, text, department_id, responsible, due_date, status, evidence_url, "
                   "evidence_note, published, created_at, updated_at, version) VALUES (1, ?, 1, 'ГКП «Астана Жарық»', "
                   "'2027-06-01', 'planned', '', '', 0, '2026-12-01 10:00:00.000000', '2026-12-01 10:00:00.000000', 1)",
                   ("Освещение на улице Бейбітшілік восстановят до конца месяца, все фонари заменят",))
    page = signed_in(browser, server, "officer", "/promises", viewport=PHONE)
    page.wait_for_selector(".promise-row")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(SCREENSHOTS / "promise-list-phone.png"), full_page=True)


def test_the_back_office_withdraws_a_promise_marked_by_mistake_and_restores_it_by_keyboard(browser, server):  # noqa: F811
    """After the back office has worked on a promise the desk may no longer take it back: its officer withdraws
    it with a reason (by mouse), finds it under "withdrawn", and restores it (by keyboard)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with database(server) as db:
        cursor = db.execute(
            "INSERT INTO promise (broadcast_id, text, department_id, responsible, due_date, status, evidence_url, "
            "evidence_note, published, created_at, updated_at, version) VALUES (1, ?, 1, '', '2026-01-10', 'planned', "
            "'', '', 0, '2026-12-01 10:00:00.000000', '2026-12-01 10:00:00.000000', 2)",
            ("Остановку на Сарыарке перенесут до весны",))
        pid = cursor.lastrowid
        db.execute("INSERT INTO promise_note (promise_id, kind, text, detail, at) VALUES (?, 'note', "
                   "'Позвонили подрядчику', '{}', '2026-12-01 11:00:00.000000')", (pid,))
    page = signed_in(browser, server, "officer", f"/promises/{pid}", viewport=LAPTOP)
    assert "late" in page.text_content(".promise-state")  # past its date: late, until withdrawn
    page.click("details.withdraw summary")
    page.click("#form-withdraw button[type=submit]")  # no reason: the browser asks for one, nothing is sent
    assert page.evaluate("document.activeElement.id") == "p-reason"
    assert promises(server)[-1]["status"] == "planned"
    page.fill("#p-reason", "Отмечено дважды: то же, что обещание №1")
    page.screenshot(path=str(SCREENSHOTS / "promise-withdraw-1366.png"), full_page=True)
    page.click("#form-withdraw button[type=submit]")
    page.wait_for_selector("#withdrawn-note")
    withdrawn = promises(server)[-1]
    assert (withdrawn["status"], withdrawn["published"]) == ("withdrawn", 0)
    assert "withdrawn" in page.text_content(".promise-state") and "overdue" not in page.text_content(".receipt")
    assert "Отмечено дважды" in page.text_content(".history")
    assert page.locator("#form-publish").count() == 0 and page.locator("details.withdraw").count() == 0

    # the list: not among the late ones, found under "withdrawn"
    page.goto(server.url + "/promises?state=late")
    assert page.locator(f".promise-row[data-id='{pid}']").count() == 0
    page.select_option("#f-state", "withdrawn")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**state=withdrawn")
    assert page.locator(".promise-row").count() == 1
    page.click(f".promise-row[data-id='{pid}'] a")

    # restored by keyboard: the status list, Tab to its button, Enter
    page.wait_for_selector("#withdrawn-note")
    page.focus("#p-status")
    page.keyboard.press("ArrowDown")  # planned -> being carried out
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Restore with this status"
    page.keyboard.press("Enter")
    page.wait_for_selector("details.withdraw")
    assert promises(server)[-1]["status"] == "in_progress"

    phone = signed_in(browser, server, "officer", f"/promises/{pid}", viewport=PHONE)
    phone.click("details.withdraw summary")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(SCREENSHOTS / "promise-withdraw-360.png"), full_page=True)
