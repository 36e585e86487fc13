"""Topic tags in real Chromium: an admin adds a topic by typing and clicking (a bad keyword line comes back with
its reason and nothing lost), an appeal arrives through Open311, the officer of its department confirms the
suggested topic on the appeal's page and finds it with the list's filter; the database is checked after each."""
from __future__ import annotations

import requests

from companion.testing.liveserver import PASSWORD, api_key

from .test_desk import LAPTOP, database
from .test_rehearsal import SCREENSHOTS, browser, signed_in  # noqa: F401 - fixtures


def topic_rows(server) -> list[dict]:
    with database(server) as db:
        return [dict(r) for r in db.execute("SELECT * FROM topic WHERE name_en = 'Icicles'")]


def test_an_admin_adds_a_topic_and_an_officer_confirms_it_on_an_arriving_appeal(browser, server):  # noqa: F811
    server.cli("create-user", "chief", "--role", "admin", "--password", PASSWORD)
    errors: list[str] = []
    admin = signed_in(browser, server, "chief", "/admin/topics", viewport=LAPTOP)

    # the new topic's form, typed as a person does; the second keyword line is too long
    form = admin.locator("#topic-form-new")
    form.locator("#tnew-name_kk").click()
    admin.keyboard.type("Сүңгілер")
    admin.keyboard.press("Tab")
    admin.keyboard.type("Сосульки")
    admin.keyboard.press("Tab")
    admin.keyboard.type("Icicles")
    form.locator("#tnew-keywords").click()
    admin.keyboard.type("сосулька\n" + "лёд" * 34 + "\nicicle")
    form.locator("button[type=submit]").click()
    admin.wait_for_selector("#tnew-keywords-error")
    assert admin.text_content("#tnew-keywords-error") == "Line 2: At most 100 characters."
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin.screenshot(path=str(SCREENSHOTS / "topics-admin-error.png"), full_page=True)
    assert admin.input_value("#tnew-name_ru") == "Сосульки"  # nothing typed is lost
    assert admin.input_value("#tnew-keywords") == "сосулька\n" + "лёд" * 34 + "\nicicle"
    assert topic_rows(server) == []
    admin.on("console", lambda m: m.type == "error" and errors.append(m.text))  # the 400 above was meant

    # the long line replaced, then Add topic
    admin.fill("#tnew-keywords", "")
    admin.locator("#tnew-keywords").click()
    admin.keyboard.type("сосулька\nсүңгі\nicicle")
    admin.click("#topic-form-new button[type=submit]")
    admin.wait_for_selector(".flash.ok")
    [topic] = topic_rows(server)
    assert (topic["name_kk"], topic["name_ru"], topic["keywords"], topic["active"]) == (
        "Сүңгілер", "Сосульки", "сосулька\nсүңгі\nicicle", 1)
    assert admin.locator(f"#topic-{topic['id']} h3").text_content().strip() == "Icicles"

    # an appeal arrives through Open311 in service 1 (Transport and roads: department 1, the officer's)
    reply = requests.post(f"{server.url}/open311/v2/requests.json", timeout=10, data={
        "api_key": api_key(server), "service_code": "1", "address_string": "Kenesary 40",
        "description": "Над входом в подъезд висят огромные сосульки, опасно ходить"})
    assert reply.status_code == 201, reply.text
    code = reply.json()[0]["service_request_id"]
    with database(server) as db:
        appeal_id, version = db.execute("SELECT id, version FROM appeal WHERE tracking_code = ?", (code,)).fetchone()
        assert tuple(db.execute("SELECT state FROM appeal_topic WHERE appeal_id = ? AND topic_id = ?",
                                (appeal_id, topic["id"])).fetchone()) == ("suggested",)

    # the officer confirms the suggestion on the appeal's page
    officer = signed_in(browser, server, "officer", f"/appeals/{appeal_id}", viewport=LAPTOP)
    officer.on("console", lambda m: m.type == "error" and errors.append(m.text))
    suggestion = officer.locator(f"#appeal-topics li[data-topic='{topic['id']}']")
    assert suggestion.get_attribute("data-state") == "suggested"
    suggestion.locator("button:has-text('Confirm')").click()
    officer.wait_for_selector(f"#appeal-topics li[data-topic='{topic['id']}'][data-state=confirmed]")
    assert "Topic confirmed: Icicles" in officer.inner_text(".timeline")
    officer.screenshot(path=str(SCREENSHOTS / "appeal-topics.png"), full_page=True)
    with database(server) as db:
        state, decided_by = db.execute("SELECT state, decided_by_id FROM appeal_topic WHERE appeal_id = ? AND topic_id = ?",
                                       (appeal_id, topic["id"])).fetchone()
        officer_id = db.execute("SELECT id FROM user WHERE username = 'officer'").fetchone()[0]
        assert (state, decided_by) == ("confirmed", officer_id)
        assert db.execute("SELECT version FROM appeal WHERE id = ?", (appeal_id,)).fetchone()[0] == version + 1
        assert [tuple(r) for r in db.execute("SELECT actor_id, public FROM appeal_event WHERE appeal_id = ? "
                                             "AND action = 'topic_confirmed'", (appeal_id,))] == [(officer_id, 0)]

    # the list's filter by topic, chosen and applied with clicks
    officer.goto(server.url + "/appeals")
    officer.select_option("#f-topic", label="Icicles")
    officer.click(".filters button[type=submit]")
    officer.wait_for_url(f"**topic_id={topic['id']}**")
    assert officer.locator("table.appeals tbody tr").count() == 1 and code in officer.inner_text("table.appeals")
    assert errors == []
