"""The phone operator's screen (/operator): only the operator reaches it; a caller's appeals are found by the number
in any format; a status is read back with the residents' wording; lookups are limited and audited; the operator
lists no appeal it has not found; a call goes through intake (the broadcast's moderation, or the back office)."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from companion import permissions
from companion.extensions import db
from companion.models import Appeal, AuditEvent, Broadcast, Question, User
from companion.services import appeal_list, appeals

from .conftest import csrf_token

API = "/api/v1/broadcasts/demo/questions"
OTHER_ROLES = ("admin", "mod", "mod2", "speaker", "officer", "head")


def lookup(client, phone):
    """The caller's appeals, as the screen's form posts it (never in the address)."""
    return client.post("/operator/lookup", data={"phone": phone, "csrf_token": csrf_token(client, "/operator")})


def status(client, code):
    """One appeal's status by number, as the screen's form posts it."""
    return client.post("/operator/status", data={"code": code, "csrf_token": csrf_token(client, "/operator")})


def ask(app, contact: str, text: str = "Не горит фонарь во дворе", **extra) -> str:
    response = app.test_client().post(API, json={"text": text, "author_name": "Aigerim", "contact": contact,
                                                 "consent": True, "language": "ru", **extra})
    assert response.status_code == 201, response.json
    return response.json["tracking_code"]


def end_broadcast(app) -> None:
    with app.app_context():
        db.session.execute(select(Broadcast).where(Broadcast.slug == "demo")).scalar_one().status = "ended"
        db.session.commit()


def codes_on(html: str) -> set[str]:
    found = html.split('id="found"', 1)[1].split("</section>", 1)[0] if 'id="found"' in html else ""
    return set(re.findall(r"[A-Z]{3}-\d{4}-\d{6}", found))


def call_form(client) -> dict:
    html = client.get("/operator").get_data(as_text=True)
    return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
            "client_id": re.search(r'name="client_id" value="([^"]+)"', html).group(1)}


@pytest.mark.parametrize("path", ["/operator", "/operator/queue"])
def test_anonymous_is_sent_to_sign_in_and_every_other_role_refused(app, staff_client, path):
    response = app.test_client().get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    for name in OTHER_ROLES:
        assert staff_client(name).get(path).status_code == 403, name
    assert staff_client("operator").get(path).status_code == 200


def test_posts_are_refused_to_other_roles_and_without_the_form_token(app, staff_client):
    for name in OTHER_ROLES:
        client = staff_client(name)
        token = csrf_token(client, "/track")  # any page's token: the role is refused first
        for path in ("/operator/calls", "/operator/suggest"):
            assert client.post(path, data={"csrf_token": token, "text": "x"}).status_code == 403, (name, path)
    operator = staff_client("operator")
    assert operator.post("/operator/calls", data={"text": "Без токена"}).status_code == 400
    assert operator.post("/operator/queue").status_code == 405  # the queue is read-only
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.channel == "phone")) == 0


def test_the_operator_signs_in_to_the_screen_and_reaches_nothing_else(app, staff_client):
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": "operator", "password": "correct-horse-battery",
                                           "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/operator")
    code = ask(app, "+77011234567")
    with app.app_context():
        appeal_id = appeals.by_code(code).id
    for path in ("/appeals", f"/appeals/{appeal_id}", "/appeals/export.csv", "/appeals/export.xlsx",
                 "/moderate/demo", "/admin/broadcasts", "/admin/blocked", "/appeals/undelivered"):
        assert client.get(path).status_code == 403, path


def test_the_operator_cannot_list_appeals_it_has_not_found(app, ctx):
    ask(app, "+77011234567")
    operator = db.session.execute(select(User).where(User.username == "operator")).scalar_one()
    f = appeal_list.AppealFilter()
    assert appeal_list.page(operator, f)[0] == [] and appeal_list.count(operator, f) == (0, False)
    assert appeal_list.count_by_channel(operator, f) == ({}, False)
    assert list(appeal_list.export_rows(operator, f, "en"))[1:] == []  # the header only
    appeal = db.session.scalars(select(Appeal)).first()
    assert permissions.may_see_appeal(operator, appeal) is False
    with pytest.raises(Exception) as refused:
        appeals.get_appeal(appeal.id, user=operator)
    assert getattr(refused.value, "status", None) == 403


def test_a_callers_appeals_are_found_by_the_number_in_any_format(app, staff_client):
    mine = {ask(app, "+77011234567"), ask(app, "8 701 123 45 67", text="Яма на дороге у школы")}
    other = ask(app, "+77017654321", text="Чужое обращение")
    with app.app_context():  # the same number's WhatsApp appeal (its contact is the chat)
        whatsapp = appeals.by_code(ask(app, "+77019990000", text="Через WhatsApp"))
        whatsapp.contact = "whatsapp:77011234567"
        db.session.commit()
        mine.add(whatsapp.tracking_code)
    operator = staff_client("operator")
    for typed in ("+77011234567", "8 701 123 45 67", "+7 (701) 123-45-67", "87011234567", "7011234567",
                  " 8-701-123-45-67 "):
        html = lookup(operator, typed).get_data(as_text=True)
        assert codes_on(html) == mine, typed
        assert other not in html and "Чужое обращение" not in html
    html = lookup(operator, "+77015550000").get_data(as_text=True)
    assert codes_on(html) == set() and "No appeals from this number." in html


def test_no_lookup_puts_a_number_in_the_address_or_shows_what_an_appeal_says(app, staff_client):
    """A caller's number or tracking number in a URL lands in nginx's and the server's access logs and in the
    browser's history; and a number alone proves nothing about who calls, so the list of what that number sent
    shows codes, dates, categories and statuses to tell them apart by, never the text of an appeal."""
    code = ask(app, "+77011234567", text="Соседи шумят по ночам в квартире 12")
    operator = staff_client("operator")
    page = operator.get("/operator").get_data(as_text=True)
    forms = re.findall(r'<form [^>]*id="(lookup-form|status-form)"[^>]*>', page) and re.findall(
        r'<form method="(\w+)" action="([^"]+)"[^>]*id="(lookup-form|status-form)"', page)
    assert sorted(forms) == [("post", "/operator/lookup", "lookup-form"), ("post", "/operator/status", "status-form")]
    assert 'type="hidden" name="phone"' not in page
    # an address that still carries a number looks nothing up
    html = operator.get("/operator", query_string={"phone": "+77011234567", "code": code}).get_data(as_text=True)
    assert 'id="found"' not in html and 'id="by-number"' not in html
    found = lookup(operator, "+77011234567").get_data(as_text=True)
    assert code in found and "Соседи шумят" not in found
    checked = status(operator, code).get_data(as_text=True)
    assert 'id="by-number"' in checked and "Соседи шумят" not in checked
    with app.app_context():
        kinds = [e.detail["by"] for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "operator_lookup").order_by(AuditEvent.id))]
    assert kinds == ["phone", "number"]  # a status check is one lookup, not the phone's again
    # the lookups are forms of this site: without the CSRF token they are refused
    assert operator.post("/operator/lookup", data={"phone": "+77011234567"}).status_code == 400
    mod = staff_client("mod")
    assert mod.post("/operator/lookup", data={"phone": "+77011234567",
                                              "csrf_token": csrf_token(mod, "/moderate/demo")}).status_code == 403


@pytest.mark.parametrize("typed", ["12", "abc", "a@b.kz", "+7" + "1" * 60, "8 701 123\u202e45 67"])
def test_a_number_that_is_not_one_is_a_400_and_finds_nothing(app, staff_client, typed):
    code = ask(app, "+77011234567")
    response = lookup(staff_client("operator"), typed)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="lookup-error"' in html
    assert codes_on(html) == set() and code not in html


def test_a_status_is_read_with_the_residents_wording_and_without_the_text(app, staff_client):
    code = ask(app, "+77011234567", text="Секретный текст обращения")
    operator = staff_client("operator")
    operator.get("/lang/ru")
    html = status(operator, code.lower()).get_data(as_text=True)
    block = html.split('id="by-number"', 1)[1].split("</section>", 1)[0]
    assert code.upper() in block
    with app.app_context():
        track = app.test_client()
        track.get("/lang/ru")
        public = track.get(f"/track/{code}").get_data(as_text=True)
    label = re.search(r'class="status status-registered"><strong>([^<]+)</strong>', public).group(1)
    assert label in block  # the very words of the resident's track page
    assert "Секретный текст" not in block and "+7701" not in block
    missing = status(operator, "SRK-2026-999999").get_data(as_text=True)
    assert 'id="number-none"' in missing
    assert status(operator, "x" * 41).status_code == 400


def test_lookups_are_limited_per_operator_and_every_one_audited(app, staff_client, monkeypatch):
    app.config["OPERATOR_LOOKUPS_PER_MINUTE"] = 5
    from datetime import datetime, timezone

    from companion.services import limits
    noon = datetime.now(timezone.utc).replace(second=20, microsecond=0)  # not across a minute (it failed so once)
    monkeypatch.setattr(limits, "utcnow", lambda: noon)
    operator = staff_client("operator")
    statuses = [status(operator, f"SRK-2026-{n:06d}").status_code for n in range(1, 8)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]  # walking the numbers stops
    refused = lookup(operator, "+77011234567")
    assert refused.status_code == 429  # one allowance
    assert 1 <= int(refused.headers["Retry-After"]) <= 60  # and when to try again (found by a fresh-eyes review)
    assert 1 <= int(status(operator, "SRK-2026-000001").headers["Retry-After"]) <= 60
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "operator_lookup")).all()
        assert len(events) == 5 and all(e.actor == "operator" for e in events)
        assert [e.detail["code"] for e in events] == [f"SRK-2026-{n:06d}" for n in range(1, 6)]
    lookup(operator, "+77011234567")
    with app.app_context():
        phone_events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "operator_lookup",
                                                                   AuditEvent.detail["by"].as_string() == "phone")).all()
        assert all("+77011234567" not in str(e.detail) for e in phone_events)  # masked in the log


def test_the_lookup_limit_counts_the_last_minute_too_not_only_the_clock_minute(app, monkeypatch):
    """Fixed clock minutes let five lookups at 12:00:59 and five more at 12:01:01 (the test above once
    failed so, across a minute); the last minute's hits still count, for the part of it within 60 s
    (a sliding window counter), so one more gets through there, not five."""
    from datetime import datetime, timedelta, timezone

    from companion.services import limits
    app.config["OPERATOR_LOOKUPS_PER_MINUTE"] = 5
    start = datetime(2026, 12, 2, 12, 1, 1, tzinfo=timezone.utc)
    clock = {"now": start - timedelta(seconds=2)}
    monkeypatch.setattr(limits, "utcnow", lambda: clock["now"])
    with app.test_request_context():
        for _ in range(5):
            limits.count_operator_lookup(7)
        clock["now"] = start
        limits.count_operator_lookup(7)
        with pytest.raises(limits.RateLimited) as refused:
            limits.count_operator_lookup(7)
        wait = refused.value.detail["retry_after"]
        assert 1 <= wait <= 60
        clock["now"] = start + timedelta(seconds=wait - 1.5)
        with pytest.raises(limits.RateLimited):  # still refused before the time it named
            limits.count_operator_lookup(7)
        clock["now"] = start + timedelta(seconds=wait)
        limits.count_operator_lookup(7)  # and let through at it
        limits.count_operator_lookup(8)  # another operator has an allowance of their own


def test_a_refused_call_keeps_the_operators_choice_of_the_back_office(app, staff_client):
    """Unticked "for the live broadcast", a refusal (no question typed) must not tick it again below the fold:
    the next Enter would send a back-office call to the live queue."""
    operator = staff_client("operator")
    refused = operator.post("/operator/calls", data={"csrf_token": csrf_token(operator, "/operator"), "text": "",
                                                      "phone": "+77011234567", "client_id": "call-refused-0001"})
    assert refused.status_code == 400
    box = re.search(r'<input type="checkbox" id="o-broadcast"[^>]*>', refused.get_data(as_text=True)).group(0)
    assert "checked" not in box
    fresh = re.search(r'<input type="checkbox" id="o-broadcast"[^>]*>', operator.get("/operator").get_data(as_text=True)).group(0)
    assert "checked" in fresh  # a new call starts ticked, as before


def test_a_call_outside_a_broadcast_is_an_oral_appeal_accepted_by_the_operator_once(app, staff_client):
    end_broadcast(app)
    operator = staff_client("operator")
    form = {**call_form(operator), "phone": "8 701 123 45 67", "author_name": "Айгерим Садыкова",
            "district": "Самал", "text": "Не работает лифт в доме 12, третий день", "category_id": "2", "consent": "1"}
    first = operator.post("/operator/calls", data=form)
    assert first.status_code == 302
    again = operator.post("/operator/calls", data=form)  # a double Enter: the same client_id
    assert again.status_code == 302
    with app.app_context():
        rows = db.session.scalars(select(Appeal).where(Appeal.channel == "phone")).all()
        assert len(rows) == 1
        appeal = rows[0]
        assert appeal.question_id is None and appeal.contact == "+77011234567" and appeal.form == "oral"
        assert appeal.consent_form == "oral" and appeal.statutory and appeal.accepted_by.username == "operator"
        assert appeal.category_id == 2 and appeal.department_id is not None  # routed by its category
        code = appeal.tracking_code
    page = operator.get(first.headers["Location"]).get_data(as_text=True)
    assert code in page  # read out to the caller
    # and the screen is clean for the next call: the last caller's number and appeals are not on it (a
    # fresh-eyes review found the next caller's appeal stored under the previous caller's number)
    assert "+77011234567" not in page and "8 701 123 45 67" not in page and code not in codes_on(page)
    assert first.headers["Location"].endswith("/operator")


def test_a_call_during_the_broadcast_waits_for_the_moderators(app, staff_client):
    operator = staff_client("operator")
    operator.post("/operator/calls", data={**call_form(operator), "phone": "+77011234567", "text": "Когда откроют школу?",
                                           "to_broadcast": "1"})
    with app.app_context():
        question = db.session.execute(select(Question).where(Question.channel == "phone")).scalar_one()
        assert question.status == "pending" and question.broadcast.slug == "demo"  # the broadcast's pre-moderation
        assert question.contact == "" and question.author_name == ""  # no consent: the number is not kept
        assert question.appeal.channel == "phone" and question.appeal.accepted_by.username == "operator"
        assert not question.appeal.statutory
    queue = operator.get("/operator/queue").json
    assert queue["live"] is True and queue["pending"] == 1 and queue["queued"] == []


@pytest.mark.parametrize("field, value, error_field", [
    ("text", "", "text"), ("text", "я" * 5000, "text"), ("author_name", "Имя без согласия", "consent"),
    ("phone", "123", "phone"), ("category_id", "999", "category_id"), ("category_id", "abc", "category_id"),
    ("district", "Самал\u202e", "district"),
])
def test_a_bad_call_is_refused_with_the_field_named_and_nothing_stored(app, staff_client, field, value, error_field):
    end_broadcast(app)
    operator = staff_client("operator")
    data = {**call_form(operator), "phone": "+77011234567", "text": "Вопрос оператору", field: value}
    response = operator.post("/operator/calls", data=data)
    assert response.status_code == 400, response.status_code
    assert 'role="alert"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.channel == "phone")) == 0


def test_one_callers_calls_are_limited_per_minute(app, staff_client):
    end_broadcast(app)
    operator = staff_client("operator")
    limit = app.config["QUESTIONS_PER_MINUTE_PER_VIEWER"]
    statuses = [operator.post("/operator/calls", data={**call_form(operator), "phone": "+77011234567",
                                                       "text": f"Вопрос {i}"}).status_code for i in range(limit + 1)]
    assert statuses == [302] * limit + [429]
    other = operator.post("/operator/calls", data={**call_form(operator), "phone": "+77017654321", "text": "Другой"})
    assert other.status_code == 302


def test_the_category_is_suggested_by_the_questions_words(app, staff_client):
    operator = staff_client("operator")
    token = call_form(operator)["csrf_token"]
    headers = {"X-CSRFToken": token}
    assert operator.post("/operator/suggest", json={"text": "Во дворе нет освещения, фонари не горят"},
                         headers=headers).json["category_id"] == 3
    assert operator.post("/operator/suggest", json={"text": "zzz"}, headers=headers).json["category_id"] is None
    assert operator.post("/operator/suggest", json=["not", "an", "object"], headers=headers).json["category_id"] is None
    assert operator.post("/operator/suggest", json={"text": "яма " * 100_000}, headers=headers).status_code in (200, 413)


def test_the_screen_offers_districts_and_categories_in_a_keyboard_order(app, staff_client):
    ask(app, "+77011234567", district="Нурсат")
    html = lookup(staff_client("operator"), "+77011234567").get_data(as_text=True)
    assert '<option value="Нурсат">' in html
    form = html.split('id="call-form"', 1)[1].split("</form>", 1)[0]
    order = re.findall(r'<(?:input|select|textarea|button) [^>]*id="(o-[a-z-]+)"', form)
    assert order == ["o-call-phone", "o-name", "o-text", "o-district", "o-category", "o-consent", "o-show-name",
                     "o-broadcast", "o-submit"]
    assert 'autofocus' in html.split('id="o-name"', 1)[1][:300]  # after a lookup, the name is next
    assert "tabindex" not in form  # the document's order is the Tab order


def test_where_each_appeal_came_from_is_counted_filtered_and_exported(app, staff_client):
    """Item 5: the channel and, for an integrator, its API key; the list's counts by channel; the export's columns."""
    from companion.services import apikeys
    with app.app_context():
        _row, key = apikeys.create_key("City 109 centre", actor=None)
        key_id = _row.id
    keyed = app.test_client().post(API, headers={"Authorization": f"Bearer {key}"},
                                   json={"text": "Из колл-центра", "author_name": "A", "contact": "+77011112233",
                                         "consent": True, "external_id": "109-77"})
    assert keyed.status_code == 201
    ask(app, "+77011234567")
    end_broadcast(app)
    operator = staff_client("operator")
    operator.post("/operator/calls", data={**call_form(operator), "phone": "+77015556677", "text": "По телефону"})
    with app.app_context():
        appeal = appeals.by_code(keyed.json["tracking_code"])
        assert appeal.channel == "api" and appeal.api_key_id == key_id and appeal.source_system == "City 109 centre"
    admin = staff_client("admin")
    html = admin.get("/appeals").get_data(as_text=True)
    counts = dict(re.findall(r'data-channel="(\w+)"[^>]*>[^<:]+: (\d+)</a>', html))
    assert counts == {"phone": "1", "api": "2"}, counts
    filtered = admin.get("/appeals?channel=phone").get_data(as_text=True)
    assert "Matching appeals: 1" in filtered
    assert dict(re.findall(r'data-channel="(\w+)"[^>]*>[^<:]+: (\d+)</a>', filtered)) == counts  # every channel still shows
    assert admin.get("/appeals?channel=fax").status_code == 400
    text = admin.get("/appeals/export.csv?sep=comma").get_data(as_text=True)
    header, *lines = [line.split(",") for line in text.lstrip("\ufeff").strip().splitlines()]
    assert header[7] == "Channel" and header[19] == "Sending system"
    assert sorted(line[7] for line in lines) == ["API", "API", "phone"]
    assert sorted(line[19] for line in lines) == ["", "", "City 109 centre"]


@pytest.mark.parametrize("to_broadcast", [False, True])
def test_a_caller_who_refused_consent_can_still_be_blocked_on_every_channel(app, staff_client, to_broadcast):
    """Found by a fresh-eyes review: without the caller's consent the number is not kept, so the appeal (or the
    live question) had no sender to block ("no sender to block"). A keyed hash of the number is kept for
    blocks only (as the blocked senders' table keeps it): the number itself is never stored."""
    if not to_broadcast:
        end_broadcast(app)
    operator = staff_client("operator")
    form = {**call_form(operator), "phone": "8 701 555 12 34", "text": "Ругательства в адрес акима"}
    if to_broadcast:
        form["to_broadcast"] = "1"
    assert operator.post("/operator/calls", data=form).status_code == 302
    with app.app_context():
        appeal = db.session.execute(select(Appeal).where(Appeal.channel == "phone").order_by(Appeal.id.desc())).scalars().first()
        assert appeal.contact == "" and "5551234" not in str(appeal.attachments)
        appeal_id = appeal.id
    admin = staff_client("admin")
    page = admin.get(f"/appeals/{appeal_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert admin.post(f"/appeals/{appeal_id}/block", data={"csrf_token": token, "reason": "abuse"}).status_code == 302
    with app.app_context():
        from companion.models import BlockedSender
        (row,) = db.session.scalars(select(BlockedSender)).all()
        assert "5551234" not in row.label
        from companion.services import blocking
        assert blocking.is_blocked([blocking.contact_identity("+77015551234")])  # the number, whatever channel
        assert blocking.is_blocked([blocking.chat_identity("whatsapp", "77015551234")])
    again = {**call_form(operator), "phone": "+77015551234", "text": "Снова", "to_broadcast": "1"}
    if to_broadcast:
        assert operator.post("/operator/calls", data=again).status_code == 403  # kept off the live broadcast
