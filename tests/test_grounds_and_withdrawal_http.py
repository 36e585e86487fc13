"""Rejection grounds, the appeal's record and withdrawal over HTTP and the desk's socket: what the resident
sees (HTML and JSON), what staff see, the notice, and the refusals."""
from __future__ import annotations

import csv
import email
import email.policy
import io
import re
import time

import pytest
from sqlalchemy import select

from companion.extensions import db
from companion.models import Appeal, AppealEvent, User
from companion.services import appeals

from .test_appeals_http import Inbox, act, appeal_id, ask, assign, send_mail

NOTE = "Рекламщик с Сайрана, третий раз за вечер"  # a moderator's own words: never shown to the resident
PLAIN = {"spam": "advertising or a mass mailing", "abuse": "obscene or abusive language",
         "no_essence": "no substance, or its meaning cannot be understood"}


def desk_reject(mod, app, code: str, ground, note: str = NOTE) -> dict:
    """Reject the question of appeal `code` on the desk (the socket event the desk sends)."""
    with app.app_context():
        question = appeals.by_code(code).question
        data = {"id": question.id, "version": question.version, "ground": ground, "note": note}
    return mod.emit("reject", data, namespace="/staff", callback=True)


def desk_restore(mod, app, code: str) -> dict:
    with app.app_context():
        question = appeals.by_code(code).question
        data = {"id": question.id, "version": question.version}
    return mod.emit("restore", data, namespace="/staff", callback=True)


def resident_views(app, receipt: dict) -> tuple[str, dict, str, dict]:
    """The private page and JSON, and the number-only page and JSON."""
    code, access = receipt["tracking_code"], receipt["access_code"]
    client = app.test_client()
    return (client.get(f"/track/{code}/{access}").get_data(as_text=True), client.get(f"/api/v1/appeals/{code}/{access}").json,
            client.get(f"/track/{code}").get_data(as_text=True), client.get(f"/api/v1/appeals/{code}").json)


@pytest.mark.parametrize("ground", ["spam", "abuse", "no_essence"])
def test_a_statutory_ground_shows_in_plain_words_and_the_note_never(app, staff_socket, ground):
    receipt = ask(app, "Окна недорого, звоните")
    mod = staff_socket("mod")
    assert desk_reject(mod, app, receipt["tracking_code"], ground)["ok"]
    page, api, bare_page, bare_api = resident_views(app, receipt)
    assert api["status"] == "left_without_consideration" and PLAIN[ground] in api["ground"]
    leave = next(h for h in api["history"] if h["action"] == "leave")
    assert PLAIN[ground] in leave["ground"] and leave["note"] == ""
    assert PLAIN[ground] in page and "left without consideration" in page
    for shown in (page, str(api), bare_page, str(bare_api)):
        assert NOTE not in shown and "Сайран" not in shown
    assert bare_api["status"] == "left_without_consideration"
    staff = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)
    question = next(q for q in staff["questions"] if q["tracking_code"] == receipt["tracking_code"])
    assert (question["reject_ground"], question["reject_reason"]) == (ground, NOTE)  # staff see their note


def test_not_for_this_broadcast_keeps_the_appeal_open_and_says_so_without_the_note(app, staff_socket):
    receipt = ask(app, "Когда починят лифт в поликлинике?")
    assign(app, receipt["tracking_code"])
    mod = staff_socket("mod")
    assert desk_reject(mod, app, receipt["tracking_code"], "not_for_broadcast")["ok"]
    page, api, _bare_page, bare_api = resident_views(app, receipt)
    assert api["status"] == bare_api["status"] == "assigned" and api["ground"] is None and api["due_date"]
    assert [h["action"] for h in api["history"]][-1] == "not_for_broadcast"
    assert (api["question_status"], api["question_status_label"]) == ("rejected", "not taken on air")
    assert "considered in the usual way" in page and "Answer due" in page
    assert NOTE not in page and NOTE not in str(api)


def test_not_for_this_broadcast_promises_no_consideration_to_a_question_only(app, staff_socket):
    receipt = ask(app, "Анонимно: когда починят лифт?", author_name="", contact="", consent=False)
    mod = staff_socket("mod")
    assert desk_reject(mod, app, receipt["tracking_code"], "not_for_broadcast")["ok"]
    page, api, _bare_page, _bare_api = resident_views(app, receipt)
    label = [h["label"] for h in api["history"] if h["action"] == "not_for_broadcast"]
    assert label == ["Not taken on air: kept on record; a question only, so no official answer is due"]
    assert "considered in the usual way" not in page


@pytest.mark.parametrize("ground", ["offtopic", "Спам", "", None, 7, "duplicate"])
def test_the_desk_refuses_an_unknown_ground_and_nothing_changes(app, staff_socket, ground):
    receipt = ask(app, "Просто вопрос")
    ack = desk_reject(staff_socket("mod"), app, receipt["tracking_code"], ground)
    assert not ack["ok"] and ack["error"]["code"] == "invalid" and "ground" in ack["error"]["fields"]
    with app.app_context():
        appeal = appeals.by_code(receipt["tracking_code"])
        assert (appeal.status, appeal.question.status, appeal.question.reject_reason) == ("registered", "pending", "")


def test_the_desk_gets_the_grounds_from_the_server(app, staff_client):
    page = staff_client("mod").get("/moderate/demo").get_data(as_text=True)
    data = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page, re.S).group(1)
    import json
    grounds = json.loads(data)["grounds"]
    assert [g["ground"] for g in grounds] == ["spam", "abuse", "no_essence", "not_for_broadcast"]
    assert [g["statutory"] for g in grounds] == [True, True, True, False]


@pytest.mark.parametrize("ground", ["spam", "not_for_broadcast"])
def test_restoring_on_the_desk_undoes_the_ground(app, staff_socket, ground):
    receipt = ask(app, "Вопрос, отклонённый по ошибке")
    mod = staff_socket("mod")
    assert desk_reject(mod, app, receipt["tracking_code"], ground)["ok"]
    assert desk_restore(mod, app, receipt["tracking_code"])["ok"]
    _page, api, _bare, _bare_api = resident_views(app, receipt)
    assert api["status"] == "registered" and api["ground"] is None
    assert api["history"][-1]["action"] == ("reopen" if ground == "spam" else "desk_restored")


def test_the_applicant_is_e_mailed_the_ground_only_when_they_left_an_address(app, staff_socket):
    with_mail = ask(app, "Купите квартиру", contact="resident@example.kz", consent=True, language="ru")
    by_phone = ask(app, "Купите дачу", contact="+77012345678", consent=True, language="ru")
    off_topic = ask(app, "Про пенсию", contact="other@example.kz", consent=True, language="ru")
    mod = staff_socket("mod")
    with Inbox() as inbox:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port, MAIL_FROM="akimat@example.kz")
        for receipt, ground in ((with_mail, "spam"), (by_phone, "spam"), (off_topic, "not_for_broadcast")):
            assert desk_reject(mod, app, receipt["tracking_code"], ground)["ok"]
        send_mail(app)
        messages = inbox.wait(1)
        time.sleep(0.2)
    assert len(messages) == 1 and messages[0].rcpt_tos == ["resident@example.kz"]
    body = email.message_from_bytes(messages[0].content, policy=email.policy.default).get_content()
    assert "оставлено без рассмотрения" in body and "реклама или массовая рассылка" in body
    assert NOTE not in body and f"/track/{with_mail['tracking_code']}/{with_mail['access_code']}" in body
    with app.app_context():
        sent = db.session.execute(select(AppealEvent.appeal_id).where(AppealEvent.action == "notice_sent")).scalars().all()
        assert sent == [appeal_id(app, with_mail["tracking_code"])]


# --- the back office ---------------------------------------------------------------------------

def test_back_office_leave_needs_a_statutory_ground_and_tells_the_applicant(app, staff_client):
    receipt = ask(app, "ааааа ббббб", contact="resident@example.kz", consent=True, language="ru")
    code = receipt["tracking_code"]
    assign(app, code)
    officer = staff_client("officer")
    for form in ({"reason": "Бессмыслица"}, {"ground": "offtopic"}, {"ground": "not_for_broadcast"}):
        refused = act(officer, app, code, "leave", **form)
        assert refused.status_code == 400 and "ground" in refused.get_data(as_text=True)
    with Inbox() as inbox:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port)
        assert act(officer, app, code, "leave", ground="no_essence", note="Набор букв, перезвонить").status_code == 302
        assert send_mail(app) == 1 and len(inbox.wait(1)) == 1
    page, api, _bare, _bare_api = resident_views(app, receipt)
    assert "Набор букв" not in page and "перезвонить" not in str(api) and PLAIN["no_essence"] in page
    detail = officer.get(f"/appeals/{appeal_id(app, code)}").get_data(as_text=True)
    assert "Набор букв, перезвонить" in detail and "No substance" in detail


def test_back_office_shows_sets_filters_and_exports_the_record(app, staff_client):
    complaint = ask(app, "Жалоба на управляющую компанию")["tracking_code"]
    plain = ask(app, "Когда откроют каток?")["tracking_code"]
    for code in (complaint, plain):
        assign(app, code)
    officer = staff_client("officer")
    detail = officer.get(f"/appeals/{appeal_id(app, complaint)}").get_data(as_text=True)
    assert re.search(r'id="record-type">statement<', detail) and re.search(r'id="record-form">electronic<', detail)
    assert act(officer, app, complaint, "record", appeal_type="complaint", form="written", collective="1").status_code == 302
    detail = officer.get(f"/appeals/{appeal_id(app, complaint)}").get_data(as_text=True)
    assert re.search(r'id="record-type">complaint<', detail) and re.search(r'id="record-collective">yes<', detail)
    assert act(officer, app, complaint, "record", appeal_type="petition", form="written").status_code == 400
    listed = officer.get("/appeals?appeal_type=complaint").get_data(as_text=True)
    assert complaint in listed and plain not in listed
    assert officer.get("/appeals?appeal_type=petition").status_code == 400
    rows = list(csv.reader(io.StringIO(officer.get("/appeals/export.csv").get_data(as_text=True).lstrip("\ufeff"))))
    header = rows[0]
    by_code = {r[0]: dict(zip(header, r)) for r in rows[1:]}
    # then latitude, longitude, the sending system and the topics
    assert header[-8:-4] == ["Type of appeal", "Form", "Repeat", "Collective"]
    assert [by_code[complaint][k] for k in header[-8:-4]] == ["complaint", "written", "no", "yes"]
    assert [by_code[plain][k] for k in header[-8:-4]] == ["statement", "electronic", "no", "no"]


# --- withdrawal by the applicant -------------------------------------------------------------

def _withdraw_token(client, receipt: dict) -> str:
    page = client.get(f"/track/{receipt['tracking_code']}/{receipt['access_code']}/withdraw")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_the_resident_withdraws_from_the_status_page_after_a_confirm_step(app):
    receipt = ask(app, "Уже не нужно: сосед починил")
    code, access = receipt["tracking_code"], receipt["access_code"]
    client = app.test_client()
    assert 'id="withdraw-link"' in client.get(f"/track/{code}/{access}").get_data(as_text=True)
    token = _withdraw_token(client, receipt)
    with app.app_context():
        assert appeals.by_code(code).status == "registered"  # the confirm page alone changes nothing
    done = client.post(f"/track/{code}/{access}/withdraw", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/track/{code}/{access}")
    _page, api, _bare, bare_api = resident_views(app, receipt)
    assert api["status"] == bare_api["status"] == "withdrawn" and api["history"][-1]["action"] == "withdraw"
    assert bare_api["due_date"] is None and api["closed_at"]
    with app.app_context():
        appeal = appeals.by_code(code)
        assert not appeal.clock_running and appeal.events[-1].actor_id is None
    page = client.get(f"/track/{code}/{access}").get_data(as_text=True)
    assert "Withdrawn by the applicant" in page and 'id="withdraw-link"' not in page
    again = client.post(f"/track/{code}/{access}/withdraw", data={"csrf_token": token})
    assert again.status_code == 409


def test_withdrawal_without_csrf_or_with_a_wrong_or_missing_access_code_is_refused(app):
    receipt = ask(app, "Не отзывайте меня")
    code, access = receipt["tracking_code"], receipt["access_code"]
    client = app.test_client()
    token = _withdraw_token(client, receipt)
    wrong = "aaaa-bbbb-cccc-dddd" if access != "aaaa-bbbb-cccc-dddd" else "eeee-ffff-gggg-hhhh"
    assert client.post(f"/track/{code}/{access}/withdraw").status_code == 400  # no CSRF token
    assert client.post(f"/track/{code}/{access}/withdraw", data={"csrf_token": "forged"}).status_code == 400
    assert client.post(f"/track/{code}/{wrong}/withdraw", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/track/{code}//withdraw", data={"csrf_token": token}).status_code in (404, 405)
    assert client.post(f"/track/{code}/withdraw", data={"csrf_token": token}).status_code in (404, 405)
    assert client.get(f"/track/{code}/{wrong}/withdraw").status_code == 404
    with app.app_context():
        appeal = appeals.by_code(code)
        assert appeal.status == "registered" and appeal.clock_running


def test_staff_record_a_withdrawal_by_phone(app, staff_client):
    receipt = ask(app, "Позвоню и отзову")
    code = receipt["tracking_code"]
    assign(app, code)
    officer = staff_client("officer")
    assert act(officer, app, code, "withdraw", means="web").status_code == 400  # the web is the resident's own
    assert act(officer, app, code, "withdraw", means="phone", note="Звонок 12.12, 10:40").status_code == 302
    _page, api, _bare, _bare_api = resident_views(app, receipt)
    assert api["status"] == "withdrawn" and "10:40" not in str(api)
    with app.app_context():
        appeal = appeals.by_code(code)
        officer_id = db.session.execute(select(User.id).where(User.username == "officer")).scalar_one()
        assert appeal.events[-2].detail == {"means": "phone"} and appeal.events[-2].actor_id == officer_id
        assert db.session.get(Appeal, appeal.id).closed_at is not None


# --- a withdrawn appeal's question leaves the live desk -------------------------------------------

def _desk(mod, action: str, app, code: str, **extra) -> dict:
    with app.app_context():
        question = appeals.by_code(code).question
        data = {"id": question.id, "version": question.version, **extra}
    return mod.emit(action, data, namespace="/staff", callback=True)


def _withdraw(app, receipt: dict):
    client = app.test_client()
    token = _withdraw_token(client, receipt)
    return client.post(f"/track/{receipt['tracking_code']}/{receipt['access_code']}/withdraw", data={"csrf_token": token})


def _events(client, name: str, namespace: str) -> list[dict]:
    return [e["args"][0] for e in client.get_received(namespace) if e["name"] == name]


@pytest.mark.parametrize("before", [[], ["approve"], ["queue"], ["approve", "defer"]])
def test_a_withdrawn_appeal_takes_its_question_off_the_desk_the_feed_and_the_prompter(app, staff_socket, viewer_socket,
                                                                                     before):
    receipt = ask(app, "Уже не нужно: отзываю, пока не взяли в эфир")
    code = receipt["tracking_code"]
    mod, other = staff_socket("mod"), staff_socket("mod")
    for action in before:
        if action == "defer":
            assert _desk(mod, "queue", app, code)["ok"]
        assert _desk(mod, action, app, code)["ok"]
    viewer = viewer_socket()
    for client, namespace in ((mod, "/staff"), (other, "/staff"), (viewer, "/")):
        client.get_received(namespace)
    assert _withdraw(app, receipt).status_code == 303
    # every moderator's screen is told at once, without a reload
    for client in (mod, other):
        seen = [q for e in _events(client, "desk_changed", "/staff") for q in e["questions"] if q["tracking_code"] == code]
        assert seen and seen[-1]["status"] == "rejected" and seen[-1]["reject_ground"] == "withdrawn"
        assert seen[-1]["appeal"]["status"] == "withdrawn"
        assert not {"approve", "queue", "send_to_air", "restore", "edit", "merge"} & set(seen[-1]["actions"])
    if before and before != ["approve", "defer"]:  # it was public: the audience's screens drop it
        dropped = [q for e in _events(viewer, "feed_changed", "/") for q in e["questions"]]
        assert {"id": seen[-1]["id"], "visible": False} in dropped
    # nothing sends it on air any more, by any event, even one that names the current version
    for action, extra in (("send_to_air", {"confirmed": True}), ("approve", {}), ("queue", {}), ("restore", {})):
        refused = _desk(mod, action, app, code, **extra)
        assert refused["ok"] is False, (action, refused)
    prompter = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)
    assert all(q["tracking_code"] != code or q["status"] == "rejected" for q in prompter["questions"])
    with app.app_context():
        question = appeals.by_code(code).question
        assert (question.status, question.position, question.aired_at) == ("rejected", None, None)
        assert appeals.by_code(code).status == "withdrawn"
    # the resident reads it in their own words under "my questions" and on the status page
    api = app.test_client().get(f"/api/v1/appeals/{code}/{receipt['access_code']}").json
    assert api["question_status_label"] == "withdrawn by you"


def test_a_question_on_air_stays_for_the_speaker_and_answering_it_leaves_the_withdrawal(app, staff_socket):
    receipt = ask(app, "Отзываю прямо во время ответа")
    code = receipt["tracking_code"]
    mod = staff_socket("mod")
    sent = _desk(mod, "send_to_air", app, code, confirm=True)
    assert sent["ok"], sent
    mod.get_received("/staff")
    assert _withdraw(app, receipt).status_code == 303
    seen = [q for e in _events(mod, "desk_changed", "/staff") for q in e["questions"] if q["tracking_code"] == code]
    assert seen[-1]["status"] == "on_air" and seen[-1]["appeal"]["status"] == "withdrawn"
    assert seen[-1]["appeal"]["follow_up"] is False  # it ended: no written answer is due
    assert set(seen[-1]["actions"]) == {"mark_answered", "defer"}  # the desk may only finish it
    for action in ("take_off_air", "edit_question", "flag_follow_up", "categorize_question"):
        assert _desk(mod, action, app, code, text="x", on=True, category_id=1)["ok"] is False, action
    assert _desk(mod, "mark_answered", app, code)["ok"]
    for action in ("reopen", "queue", "send_to_air"):  # never back on air
        assert _desk(mod, action, app, code, confirm=True)["ok"] is False, action
    with app.app_context():
        appeal = appeals.by_code(code)
        assert appeal.question.status == "answered" and appeal.status == "withdrawn"
        assert [e.action for e in appeal.events][-1] == "withdraw"


def test_a_withdrawn_question_on_air_cannot_be_put_back_by_taking_it_off_for_another(app, staff_socket):
    receipt = ask(app, "Отзываю, пока говорят")
    other = ask(app, "Следующий вопрос про парк")
    mod = staff_socket("mod")
    assert _desk(mod, "send_to_air", app, receipt["tracking_code"], confirm=True)["ok"]
    assert _withdraw(app, receipt).status_code == 303
    with app.app_context():
        current = appeals.by_code(receipt["tracking_code"]).question.id
    # sending the next one while taking the withdrawn one off air to the queue is refused ...
    refused = _desk(mod, "send_to_air", app, other["tracking_code"], confirm=True, finish_current="take_off_air",
                    current_id=current)
    assert refused["ok"] is False
    # ... finishing it as not reached is allowed, and then nothing brings it back
    assert _desk(mod, "send_to_air", app, other["tracking_code"], confirm=True, finish_current="defer",
                 current_id=current)["ok"]
    for action in ("approve", "queue", "send_to_air", "reject"):
        assert _desk(mod, action, app, receipt["tracking_code"], confirm=True, ground="spam")["ok"] is False, action
    with app.app_context():
        assert appeals.by_code(receipt["tracking_code"]).question.status == "deferred"


def test_a_withdrawal_recorded_by_staff_takes_the_question_off_the_desk_too(app, staff_client, staff_socket):
    receipt = ask(app, "Отзову по телефону")
    code = receipt["tracking_code"]
    mod = staff_socket("mod")
    assert _desk(mod, "queue", app, code)["ok"]
    mod.get_received("/staff")
    officer = staff_client("admin")
    assert act(officer, app, code, "withdraw", means="phone").status_code == 302
    seen = [q for e in _events(mod, "desk_changed", "/staff") for q in e["questions"] if q["tracking_code"] == code]
    assert seen[-1]["status"] == "rejected" and seen[-1]["reject_ground"] == "withdrawn"
    # a refused withdrawal (already withdrawn) changes nothing on the desk
    mod.get_received("/staff")
    assert act(officer, app, code, "withdraw", means="phone").status_code == 409
    assert _events(mod, "desk_changed", "/staff") == []


def test_a_question_others_were_merged_into_stays_on_the_desk_when_its_asker_withdraws(app, staff_socket):
    first = ask(app, "Когда починят дорогу на Абая?")
    second = ask(app, "Дорога на Абая вся в ямах, когда ремонт?")
    mod = staff_socket("mod")
    with app.app_context():
        target_id = appeals.by_code(first["tracking_code"]).question.id
    assert _desk(mod, "merge_question", app, second["tracking_code"], target_id=target_id)["ok"]
    assert _withdraw(app, first).status_code == 303
    with app.app_context():
        question = appeals.by_code(first["tracking_code"]).question
        assert question.status == "pending" and appeals.by_code(second["tracking_code"]).status == "registered"
        assert appeals.by_code(first["tracking_code"]).status == "withdrawn"


def test_withdrawal_keeps_the_residents_language_and_a_stale_form_says_what_to_do(app):
    receipt = ask(app, "Отзову по-русски")
    code, access = receipt["tracking_code"], receipt["access_code"]
    client = app.test_client()
    form = client.get(f"/track/{code}/{access}/withdraw?lang=ru").get_data(as_text=True)
    assert f'action="/track/{code}/{access}/withdraw?lang=ru"' in form
    stale = client.post(f"/track/{code}/{access}/withdraw?lang=ru", data={"csrf_token": "expired"})
    assert stale.status_code == 400 and "обновите страницу" in stale.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    done = client.post(f"/track/{code}/{access}/withdraw?lang=ru", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/track/{code}/{access}?lang=ru")
    assert client.get(f"/track/{code}/{access}/withdraw?lang=<x>").status_code == 200  # an odd lang is dropped


def test_a_question_only_is_withdrawn_as_a_question(app):
    receipt = ask(app, "Анонимно", author_name="", contact="", consent=False)
    page = app.test_client().get(f"/track/{receipt['tracking_code']}/{receipt['access_code']}").get_data(as_text=True)
    assert "Withdraw my question" in page and "Withdraw my appeal" not in page
