"""A blocked sender is blocked on every channel: the web page's socket, the JSON API, Telegram, WhatsApp and the phone
operator's screen. Telegram and WhatsApp run against the LOCAL STAND-INS of their APIs from tests/test_telegram.py and
tests/test_whatsapp.py (this machine cannot reach the platforms)."""
from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from companion.extensions import db
from companion.models import Appeal, AuditEvent, BlockedSender, Question, User
from companion.services import blocking

from .conftest import csrf_token
from .test_telegram import api, consent, end_broadcast, message_update, run as tg_run, send, tg_app  # noqa: F401
from .test_whatsapp import button, deliver, graph, run as wa_run, text, wa_app, webhook  # noqa: F401

API = "/api/v1/broadcasts/demo/questions"
BLOCKED = "We cannot take messages from you here"
# the chats are answered in the chat's language (the stand-ins' residents write Russian)
IN_ANY_LANGUAGE = (BLOCKED, "Мы не можем принимать ваши сообщения здесь", "Бұл жерде хабарламаларыңызды қабылдай алмаймыз")


def refused_text(text: str) -> bool:
    return any(words in text for words in IN_ANY_LANGUAGE)


def user(name: str) -> User:
    return db.session.execute(select(User).where(User.username == name)).scalar_one()


def block_number(app, number: str, reason: str = "spam") -> None:
    with app.app_context():
        blocking.block_contact(number, actor=user("admin"), reason=reason)


def questions(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Question))


def ask_socket(viewer, text="Когда починят дорогу?", **fields):
    return viewer.emit("submit_question", {"text": text, "client_id": uuid.uuid4().hex, **fields}, namespace="/",
                       callback=True)


def test_identities_are_normalised_across_channels(ctx):
    same = {blocking.contact_identity("8 701 123 45 67"), blocking.contact_identity("+7 (701) 123-45-67"),
            blocking.contact_identity("87011234567"), blocking.contact_identity("whatsapp:77011234567"),
            blocking.chat_identity("whatsapp", "77011234567"), blocking.token_identity("wa:77011234567")}
    assert same == {("phone", "+77011234567")}
    assert blocking.contact_identity("Some.One@Mail.KZ") == ("email", "some.one@mail.kz")
    assert blocking.token_identity("tg:501") == blocking.contact_identity("telegram:501") == ("telegram", "501")
    assert blocking.contact_identity("not a number") is None and blocking.contact_identity("7" * 400) is None


def test_a_viewer_blocked_from_the_desk_is_refused_on_the_socket_and_by_number_on_the_api(app, viewer_socket, staff_socket):
    viewer = viewer_socket()
    first = ask_socket(viewer, author_name="Spammer", contact="+77015550011", consent=True)
    assert first["ok"], first
    mod = staff_socket("mod")
    ack = mod.emit("block_sender", {"id": first["question"]["id"], "reason": "реклама"}, namespace="/staff", callback=True)
    # the viewer's token only: the phone was typed, and could be anyone's (a troll typing a victim's number
    # would have the victim blocked on WhatsApp and the phone line)
    assert ack["ok"] and ack["blocked"] == 1, ack
    again = mod.emit("block_sender", {"id": first["question"]["id"]}, namespace="/staff", callback=True)
    assert again["ok"] and again["blocked"] == 0  # blocked already: nothing doubled
    before = questions(app)
    refused = ask_socket(viewer)
    assert not refused["ok"] and refused["error"]["code"] == "blocked"
    # the message says what to do, and nothing of why, by whom, or which identity matched
    assert BLOCKED in refused["error"]["message"] and "реклама" not in refused["error"]["message"]
    assert "+7701" not in refused["error"]["message"]
    assert questions(app) == before
    # the number typed with it is not blocked: someone else sending it through the API is taken
    response = app.test_client().post(API, json={"text": "Вопрос о лифте", "author_name": "X", "contact": "8 701 555 00 11",
                                                 "consent": True})
    assert response.status_code in (200, 201), response.json
    # another viewer is not touched
    assert ask_socket(viewer_socket())["ok"]
    with app.app_context():
        rows = db.session.scalars(select(BlockedSender)).all()
        assert {r.kind for r in rows} == {"viewer"}
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "sender_blocked")) == 1


def test_only_moderators_and_admins_block_and_only_a_question_of_the_broadcast(app, viewer_socket, staff_socket):
    viewer = viewer_socket()
    question = ask_socket(viewer)["question"]
    speaker = staff_socket("speaker")
    refused = speaker.emit("block_sender", {"id": question["id"]}, namespace="/staff", callback=True)
    assert not refused["ok"] and refused["error"]["code"] == "forbidden"
    mod = staff_socket("mod")
    for bad in ({"id": 10 ** 30}, {"id": "abc"}, {}, {"id": question["id"] + 999}):
        ack = mod.emit("block_sender", bad, namespace="/staff", callback=True)
        assert not ack["ok"] and ack["error"]["code"] == "not_found", bad
    long = mod.emit("block_sender", {"id": question["id"], "reason": "x" * 301}, namespace="/staff", callback=True)
    assert not long["ok"] and long["error"]["code"] == "invalid"
    assert ask_socket(viewer)["ok"]  # nothing was blocked by the refused attempts


def test_the_admin_lists_blocks_lifts_one_and_the_sender_is_taken_again(app, staff_client):
    block_number(app, "+77015550022")
    client = app.test_client()
    body = {"text": "Вопрос", "author_name": "A", "contact": "+77015550022", "consent": True}
    assert client.post(API, json=body).status_code == 403
    admin = staff_client("admin")
    page = admin.get("/admin/blocked").get_data(as_text=True)
    assert "+7701*****22" in page and "+77015550022" not in page  # masked for staff too
    block_id = re.search(r'/admin/blocked/(\d+)/unblock', page).group(1)
    for name in ("mod", "officer", "head", "speaker", "operator"):
        assert staff_client(name).get("/admin/blocked").status_code == 403, name
    token = csrf_token(admin, "/admin/blocked")
    assert admin.post(f"/admin/blocked/{block_id}/unblock", data={"csrf_token": token}).status_code == 302
    assert "+7701*****22" not in admin.get("/admin/blocked").get_data(as_text=True)
    assert client.post(API, json=body).status_code == 201
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "sender_unblocked")) == 1
    # a typed number that is not one is refused, and nothing is blocked
    assert admin.post("/admin/blocked", data={"csrf_token": token, "contact": "12"}).status_code == 302
    with app.app_context():
        assert blocking.active_blocks() == []


def test_an_admin_blocks_from_the_appeal_page_and_an_officer_cannot(app, staff_client):
    client = app.test_client()
    receipt = client.post(API, json={"text": "Реклама", "author_name": "A", "contact": "+77015550033",
                                     "consent": True}).json
    with app.app_context():  # as if it came by phone: the caller's line is the sender's own (caller ID)
        appeal = db.session.execute(select(Appeal).where(Appeal.tracking_code == receipt["tracking_code"])).scalar_one()
        appeal.channel = appeal.question.channel = "phone"
        appeal_id = appeal.id
        db.session.commit()
    head = staff_client("head")
    token = csrf_token(head, f"/appeals/{appeal_id}")
    assert head.post(f"/appeals/{appeal_id}/block", data={"csrf_token": token}).status_code == 403
    admin = staff_client("admin")
    token = csrf_token(admin, f"/appeals/{appeal_id}")
    assert admin.post(f"/appeals/{appeal_id}/block", data={"csrf_token": token, "reason": "spam"}).status_code == 302
    assert "blocked on every channel" in admin.get(f"/appeals/{appeal_id}").get_data(as_text=True)
    assert client.post(API, json={"text": "Снова", "author_name": "A", "contact": "+77015550033",
                                  "consent": True}).status_code == 403


def test_a_number_blocked_is_refused_on_the_operators_screen(app, staff_client):
    block_number(app, "+77015550044")
    operator = staff_client("operator")
    html = operator.get("/operator").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    # the caller gave no consent: the number is not kept, but it is checked; the operator is told what to do
    response = operator.post("/operator/calls", data={"csrf_token": token, "phone": "8 (701) 555-00-44",
                                                      "text": "Звоню снова", "to_broadcast": "1"})
    assert response.status_code == 403 and "blocked from the live broadcast" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Question).where(Question.channel == "phone")) == 0
    # the office still registers the call for the back office: refusing to accept an appeal is prohibited
    # (APPK art. 64(1)); a block keeps a sender off the broadcast, not away from the office
    response = operator.post("/operator/calls", data={"csrf_token": token, "phone": "8 (701) 555-00-44",
                                                      "author_name": "Серик", "consent": "1",
                                                      "text": "Звоню снова, лифт не работает", "to_broadcast": ""})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.channel == "phone")) == 1


def test_a_telegram_chat_blocked_from_its_question_gets_the_message_and_nothing_is_stored(tg_app, api):  # noqa: F811
    tg_run(tg_app, send(message_update(1, 601, "Реклама: купите окна")), consent(601, 2))
    with tg_app.app_context():
        question = db.session.execute(select(Question).where(Question.channel == "telegram")).scalar_one()
        rows = blocking.block_question_sender(question.id, actor=user("mod"), reason="spam")
        assert {r.kind for r in rows} == {"telegram"}
    tg_run(tg_app, send(message_update(3, 601, "Ещё реклама")), send(message_update(4, 601, "status")))
    with tg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Question).where(Question.channel == "telegram")) == 1
    assert sum(refused_text(t) for t in api.sent(601)) == 2
    # after the broadcast too (the back office's path), and another chat is served as before
    end_broadcast(tg_app)
    tg_run(tg_app, send(message_update(5, 601, "Снова")), send(message_update(6, 602, "Не горит фонарь")), consent(602, 7))
    with tg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.channel == "telegram")) == 2
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(
            Appeal.channel == "telegram", Appeal.question_id.is_(None))) == 1  # 602's only
    assert sum(refused_text(t) for t in api.sent(601)) == 3
    assert any("SRK-" in t for t in api.sent(602))


def test_a_telegram_chat_is_limited_outside_a_broadcast_too(tg_app, api):  # noqa: F811
    end_broadcast(tg_app)
    steps = [send(message_update(10, 603, "Первое")), consent(603, 11)]
    steps += [send(message_update(12 + i, 603, f"Сообщение {i}")) for i in range(6)]
    tg_run(tg_app, *steps)
    with tg_app.app_context():
        made = db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.channel == "telegram"))
    assert made == tg_app.config["QUESTIONS_PER_MINUTE_PER_VIEWER"]
    assert any("Слишком много запросов" in t for t in api.sent(603))  # in the chat's language


def test_a_number_blocked_by_an_operator_typing_it_is_blocked_on_whatsapp(wa_app, graph):  # noqa: F811
    block_number(wa_app, "8 701 123 45 67")  # WhatsApp's wa_id 77011234567 is that number
    statuses = wa_run(wa_app, deliver(webhook(text("wamid.Z1", "Реклама"))), deliver(webhook(button("wamid.Z2", "consent:yes"))))
    assert statuses == [200, 200]  # the platform's delivery is acknowledged: it is not retried
    with wa_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Question)) == 0
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.channel == "whatsapp")) == 0
    texts = graph.texts("77011234567")
    assert texts and all(refused_text(t) for t in texts)
    # another number still reaches the desk
    wa_run(wa_app, deliver(webhook(text("wamid.Z3", "Не вывозят мусор", wa_id="77017654321"), wa_id="77017654321")))
    other = graph.texts("77017654321")
    assert other and not any(refused_text(t) for t in other)  # asked for consent, as usual


def test_a_redelivered_update_of_a_blocked_chat_is_answered_once(tg_app, api):  # noqa: F811
    with tg_app.app_context():
        blocking.block([("telegram", "604")], actor=user("admin"))
    update = message_update(20, 604, "Реклама")
    tg_run(tg_app, send(update), send(update))
    assert sum(refused_text(t) for t in api.sent(604)) == 1


def test_an_open311_request_from_a_blocked_contact_is_refused_in_georeports_format(app):
    from .test_open311 import BASE, key_of
    import xml.etree.ElementTree as ET
    block_number(app, "dana@example.kz")
    key, client = key_of(app), app.test_client()
    form = {"api_key": key, "service_code": "1", "lat": "43.2", "long": "76.9", "description": "Broken light",
            "email": "Dana@Example.kz"}
    response = client.post(f"{BASE}/requests.xml", data=form)
    assert response.status_code == 403
    assert ET.fromstring(response.data).tag == "errors"
    assert client.post(f"{BASE}/requests.xml", data={**form, "email": "other@example.kz"}).status_code == 201
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.channel == "open311")) == 1
