"""The WhatsApp channel against a LOCAL STAND-IN of Meta's Graph API.

This machine cannot reach Meta, so the test runs an HTTP server that answers the one Graph API call the channel
makes, POST /{phone-number-id}/messages (with a bearer token), and points the channel at it with
COMPANION_WHATSAPP_API_URL. The webhook payloads are shaped as in Meta's WhatsApp Cloud API documentation
(entry → changes → value with metadata, contacts and messages of type text, image, location, interactive),
signed as Meta signs them (X-Hub-Signature-256: HMAC-SHA256 of the raw body with the app secret). The channel
(companion/channels/whatsapp.py) runs unchanged: its webhook on a real port and its outbox sender."""
from __future__ import annotations

import asyncio
import json
import shutil
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from companion import create_app
from companion.channels.whatsapp import SIGNATURE_HEADER, WEBHOOK_PATH, WhatsAppChannel
from companion.extensions import db
from companion.models import (
    Appeal,
    ChannelChat,
    ChannelUpdate,
    OutboxMessage,
    Question,
    User,
    utcnow,
)
from companion.services import appeals, outbox

from companion.testing.whatsapp import (APP_SECRET, PHONE_ID, TOKEN, VERIFY, GraphApiStandIn,  # noqa: F401
                                       button, image, location, sign, text, webhook)

from .conftest import postgres_copy, test_config
from .test_telegram import end_broadcast  # one way to end the demo broadcast for both channels

@pytest.fixture
def graph():
    stand_in = GraphApiStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def wa_app(request, tmp_path, seeded_db, graph):
    """The app with WhatsApp set, on SQLite and on PostgreSQL (whose BIGINT keeps the 63-bit message keys)."""
    settings = {"WHATSAPP_TOKEN": TOKEN, "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID, "WHATSAPP_VERIFY_TOKEN": VERIFY,
                "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_API_URL": graph.base_url, "OUTBOX_BACKOFF_SECONDS": 0,
                "OUTBOX_MAX_ATTEMPTS": 5, "PUBLIC_URL": "https://akimat.example.kz"}
    if request.param == "sqlite":
        shutil.copy(seeded_db, tmp_path / "test.db")
        app = create_app(test_config(tmp_path, **settings))
    else:
        app = create_app(test_config(tmp_path, DATABASE_URL=postgres_copy(request), **settings))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class Webhook:
    """The channel's webhook served on a real port, and an HTTP client to call it as Meta does."""

    def __init__(self, channel, http, url):
        self.channel, self.http, self.url = channel, http, url

    async def post(self, payload: dict, signature: str | None = "good", raw: bytes | None = None) -> int:
        body = raw if raw is not None else json.dumps(payload, ensure_ascii=False, indent=1).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "good":
            headers[SIGNATURE_HEADER] = sign(body)
        elif signature is not None:
            headers[SIGNATURE_HEADER] = signature
        async with self.http.post(self.url, data=body, headers=headers) as response:
            status = response.status
        await self.channel.drain()
        await self.channel.send_outbox_once()
        return status


def run(app, *steps):
    """Run the channel's webhook and the steps (coroutine functions of a Webhook) in one event loop."""
    async def main():
        from aiohttp import ClientSession, web
        async with WhatsAppChannel(app) as channel:
            runner = web.AppRunner(await channel.webhook_app())
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            try:
                async with ClientSession() as http:
                    hook = Webhook(channel, http, f"http://127.0.0.1:{port}{WEBHOOK_PATH}")
                    return [await step(hook) for step in steps]
            finally:
                await runner.cleanup()
    return asyncio.run(main())


def deliver(payload: dict, signature: str | None = "good"):
    async def step(hook):
        return await hook.post(payload, signature)
    return step


def test_the_verification_handshake_echoes_the_challenge_only_for_the_right_token(wa_app, graph):
    async def handshake(hook):
        answers = []
        for token in (VERIFY, "wrong", ""):
            params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
            async with hook.http.get(hook.url, params=params) as response:
                answers.append((response.status, await response.text()))
        return answers
    (answers,) = run(wa_app, handshake)
    assert answers[0] == (200, "1158201444")
    assert [status for status, _body in answers[1:]] == [403, 403]
    assert "1158201444" not in answers[1][1]


def test_during_a_broadcast_a_signed_message_reaches_the_desk_and_the_number_comes_back(wa_app, graph):
    statuses = run(wa_app, deliver(webhook(image("wamid.A1", "MEDIA-778", "Когда отремонтируют дорогу на Абая?"))),
                   deliver(webhook(button("wamid.A2", "consent:yes"))))
    assert statuses == [200, 200]
    with wa_app.app_context():
        question = db.session.execute(select(Question).where(Question.channel == "whatsapp")).scalar_one()
        assert question.broadcast.slug == "demo" and question.status == "pending"
        assert question.author_name == "Aigerim Sadykova" and question.contact == "whatsapp:77011234567"
        assert question.consent_form == "whatsapp"
        appeal = question.appeal
        assert appeal.channel == "whatsapp" and appeal.statutory
        assert appeal.attachments == {"channel": "whatsapp", "photos": ["MEDIA-778"]}
        code = appeal.tracking_code
    consent_ask = next(b for b in graph.bodies if b["type"] == "interactive")
    number = graph.bodies[-1]
    # the consent question, longer than a button message's 1,024-character body, goes whole as a text first
    # (it was cut mid-sentence, losing what "I agree" means), then the buttons under its last paragraph
    whole = graph.bodies[0]
    assert whole["type"] == "text" and len(whole["text"]["body"]) > 1024 and graph.bodies[1] is consent_ask
    assert len(consent_ask["interactive"]["body"]["text"]) <= 1024
    assert whole["text"]["body"].rstrip().endswith(consent_ask["interactive"]["body"]["text"])
    assert [b["reply"]["id"] for b in consent_ask["interactive"]["action"]["buttons"]] == ["consent:yes", "consent:no"]
    assert all(len(b["reply"]["title"]) <= 20 for b in consent_ask["interactive"]["action"]["buttons"])
    assert number["type"] == "text" and code in number["text"]["body"] and "/talon" in number["text"]["body"]


def test_after_the_broadcast_a_message_becomes_an_appeal_with_its_location(wa_app, graph):
    end_broadcast(wa_app)
    run(wa_app, deliver(webhook(location("wamid.B1", 51.128, 71.43))),
        deliver(webhook(text("wamid.B2", "Не работает уличное освещение во дворе"))),
        deliver(webhook(button("wamid.B3", "consent:yes"))))
    with wa_app.app_context():
        appeal = db.session.execute(select(Appeal).where(Appeal.channel == "whatsapp")).scalar_one()
        assert appeal.question_id is None and appeal.broadcast_id is None
        assert (appeal.lat, appeal.long) == (51.128, 71.43)
        assert appeal.statutory and appeal.clock_running and appeal.contact == "whatsapp:77011234567"
        code = appeal.tracking_code
    assert any(code in t for t in graph.texts("77011234567"))


def test_a_bad_or_missing_signature_is_refused_and_stores_nothing(wa_app, graph):
    end_broadcast(wa_app)
    payload = webhook(text("wamid.C1", "Подделка"))
    body = json.dumps(payload).encode()

    async def forged(hook):
        return [await hook.post(payload, signature=None),
                await hook.post(payload, signature=sign(body, "not-the-app-secret")),
                await hook.post(payload, signature="sha256=" + "0" * 64),
                await hook.post(payload, signature="md5=abc"),
                # signed over the re-serialised JSON, not the bytes sent: refused
                await hook.post(payload, signature=sign(json.dumps(payload, separators=(",", ":")).encode()),
                                raw=json.dumps(payload, indent=2).encode())]
    (statuses,) = run(wa_app, forged)
    assert statuses == [403] * 5
    with wa_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ChannelUpdate)) == 0
        assert db.session.scalar(select(func.count()).select_from(ChannelChat)) == 0
    assert graph.bodies == []


def test_a_webhook_delivered_twice_makes_one_question(wa_app, graph):
    payload = webhook(text("wamid.D1", "Повторная доставка"))
    run(wa_app, deliver(payload), deliver(webhook(button("wamid.D2", "consent:yes"))), deliver(payload),
        deliver(payload))
    with wa_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Question).where(Question.channel == "whatsapp")) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert sum("SRK-" in t for t in graph.texts("77011234567")) == 1


def _answer(app, wa_id: str, text_: str) -> None:
    with app.test_request_context("/"):
        appeal = db.session.execute(select(Appeal).where(Appeal.contact == f"whatsapp:{wa_id}")).scalar_one()
        officer = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        appeals.assign(appeal, 1, actor=officer)
        appeals.answer(appeal, text_, actor=officer)


def test_a_notice_outside_the_24_hour_window_goes_as_the_template(wa_app, graph):
    end_broadcast(wa_app)
    run(wa_app, deliver(webhook(text("wamid.E1", "Нет воды в доме"))), deliver(webhook(button("wamid.E2", "consent:yes"))))
    with wa_app.app_context():  # the resident last wrote 25 hours ago
        chat = db.session.get(ChannelChat, ("whatsapp", "77011234567"))
        chat.updated_at = utcnow() - timedelta(hours=25)
        db.session.commit()
    _answer(wa_app, "77011234567", "Воду дадут завтра.")

    async def send(hook):
        await hook.channel.send_outbox_once()
    run(wa_app, send)
    template = graph.bodies[-1]
    assert template["type"] == "template" and template["template"]["name"] == "appeal_answered"
    assert template["template"]["language"] == {"code": "ru"}
    with wa_app.app_context():
        answer = db.session.execute(select(OutboxMessage).where(OutboxMessage.kind == "answer")).scalar_one()
        register = db.session.execute(select(OutboxMessage).where(OutboxMessage.kind == "register")).scalar_one()
        assert answer.state == "sent" and answer.sent_as == "template:appeal_answered"
        assert register.sent_as == "text"  # inside the window: the text itself
        params = [p["text"] for p in template["template"]["components"][0]["parameters"]]
        assert params[0] == answer.appeal.tracking_code and "/talon" in params[1]


def test_a_send_that_fails_three_times_then_succeeds(wa_app, graph):
    end_broadcast(wa_app)

    async def fail_three_times(hook):
        graph.failures["77011234567"] = 3

    async def retry(hook):
        await hook.channel.send_outbox_once()
    run(wa_app, deliver(webhook(text("wamid.F1", "Вопрос"))), fail_three_times,
        deliver(webhook(button("wamid.F2", "consent:yes"))), retry, retry, retry)
    with wa_app.app_context():
        message = db.session.execute(select(OutboxMessage)).scalar_one()
        assert message.state == "sent" and message.attempts == 4 and message.sent_as == "text"
        assert [e.action for e in message.appeal.events].count("channel_notice_sent") == 1
    assert sum("SRK-" in b.get("text", {}).get("body", "") for b in graph.bodies) == 4  # three refused, the fourth taken


def test_a_send_that_always_fails_is_dead_lettered(wa_app, graph):
    end_broadcast(wa_app)
    graph.failures["77011234567"] = -1

    async def retry(hook):
        await hook.channel.send_outbox_once()
    run(wa_app, deliver(webhook(text("wamid.G1", "Вопрос"))), deliver(webhook(button("wamid.G2", "consent:yes"))),
        retry, retry, retry, retry)
    with wa_app.app_context():
        message = db.session.execute(select(OutboxMessage)).scalar_one()
        assert message.state == "dead" and message.attempts == 5 and "temporarily unavailable" in message.last_error
        assert [e.action for e in message.appeal.events].count("channel_notice_dead") == 1


def test_a_text_refused_as_outside_the_window_goes_again_as_the_template_at_once(wa_app, graph):
    end_broadcast(wa_app)
    run(wa_app, deliver(webhook(text("wamid.H1", "Яма на дороге"))), deliver(webhook(button("wamid.H2", "consent:yes"))))
    graph.window_closed.add("77011234567")  # our clock says inside the window, WhatsApp's says outside
    _answer(wa_app, "77011234567", "Яму заделают.")

    async def send(hook):
        await hook.channel.send_outbox_once()
    run(wa_app, send)
    assert [b["type"] for b in graph.bodies[-2:]] == ["text", "template"]
    with wa_app.app_context():
        answer = db.session.execute(select(OutboxMessage).where(OutboxMessage.kind == "answer")).scalar_one()
        assert answer.state == "sent" and answer.attempts == 1 and answer.sent_as == "template:appeal_answered"


def test_a_webhook_for_another_number_or_with_delivery_receipts_only_stores_nothing(wa_app, graph):
    other = webhook(text("wamid.I1", "Не нам"))
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    receipts = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_ID},
        "statuses": [{"id": "wamid.out1", "status": "delivered", "timestamp": "1", "recipient_id": "77011234567"}]}}]}]}

    async def bad_json(hook):
        return await hook.post({}, raw=b"not json")
    statuses = run(wa_app, deliver(other), deliver(receipts), bad_json)
    assert statuses == [200, 200, 400]
    with wa_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ChannelUpdate)) == 0


def test_whatsapp_alone_is_a_channel_to_run_and_needs_its_secrets():
    from companion.channels import ChannelsNotConfigured, check
    from companion.config import Config
    cfg = Config(WHATSAPP_TOKEN=TOKEN, WHATSAPP_PHONE_NUMBER_ID=PHONE_ID, WHATSAPP_VERIFY_TOKEN=VERIFY,
                 WHATSAPP_APP_SECRET=APP_SECRET).flask_settings()
    check(cfg)  # no Telegram token: WhatsApp alone runs
    with pytest.raises(ChannelsNotConfigured, match="WHATSAPP_APP_SECRET"):
        check({**cfg, "WHATSAPP_APP_SECRET": ""})
    with pytest.raises(ChannelsNotConfigured, match="no channel"):
        check({**cfg, "WHATSAPP_TOKEN": ""})


def test_two_messages_in_one_webhook_out_of_order_make_one_appeal_each_once(wa_app, graph):
    end_broadcast(wa_app)
    # Meta batches and may deliver late: the consent press first, then a payload with two texts, then that again
    later = webhook(text("wamid.J3", "Второй вопрос: мусор не вывозят"), text("wamid.J2", "Первый вопрос: нет света"))
    run(wa_app, deliver(webhook(button("wamid.J1", "consent:yes"))), deliver(later), deliver(later))
    with wa_app.app_context():
        texts = list(db.session.scalars(select(Appeal.text).where(Appeal.channel == "whatsapp").order_by(Appeal.id)))
        assert texts == ["Второй вопрос: мусор не вывозят", "Первый вопрос: нет света"]
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    assert sum("SRK-" in t for t in graph.texts("77011234567")) == 2


def test_a_burst_of_webhooks_at_once_stores_every_message_once(wa_app, graph):
    """60 webhooks posted at the same instant (Meta delivers in parallel): each message stored, each
    number answered. Storing each in its own thread at once made SQLite refuse a third of them
    ("database is locked") while the webhook still answered 200, so Meta never sent them again."""
    async def step(hook):
        async def one(i: int):
            wa_id = f"7702{i:07d}"
            body = json.dumps(webhook(text(f"wamid.burst{i:04d}", f"Двор на Кенесары, {i}", wa_id=wa_id), wa_id=wa_id)).encode()
            async with hook.http.post(hook.url, data=body, headers={"Content-Type": "application/json",
                                                                     SIGNATURE_HEADER: sign(body)}) as response:
                return response.status
        statuses = await asyncio.gather(*(one(i) for i in range(60)))
        await hook.channel.drain()
        return statuses
    [statuses] = run(wa_app, step)
    assert statuses == [200] * 60
    with wa_app.app_context():
        assert db.session.execute(select(func.count()).select_from(ChannelUpdate)).scalar_one() == 60
    assert len({b["to"] for b in graph.bodies}) == 60


def test_a_write_lock_the_serving_process_holds_a_moment_is_waited_out_not_a_lost_message(wa_app, graph):
    """The serving process writes the same SQLite file: a store that meets its lock waits (services.channels.receive
    is resilient) instead of answering 503 (found by the burst benchmark: 1 of 40 failed so)."""
    url = wa_app.config["DATABASE_URL"]
    if not url.startswith("sqlite"):
        pytest.skip("a lock of SQLite's file")
    import sqlite3
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
    threading.Timer(0.6, holder.rollback).start()
    payload = webhook(button("wamid.L1", "consent:yes"), text("wamid.L2", "Когда отремонтируют двор на Кенесары 40?"))
    [status] = run(wa_app, deliver(payload))
    holder.close()
    assert status == 200
    with wa_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ChannelUpdate)) == 2


def test_a_sent_notice_is_recorded_sent_even_when_the_database_is_busy_so_it_goes_once(wa_app, graph):
    """The channel sent it; recording that met a lock the serving process held, the row stayed pending and the
    next round sent the notice again (found by a fresh-eyes review: 80 receipts for 60 messages)."""
    url = wa_app.config["DATABASE_URL"]
    if not url.startswith("sqlite"):
        pytest.skip("a lock of SQLite's file")
    import sqlite3
    from companion.models import utcnow
    with wa_app.app_context():
        row = outbox.enqueue("whatsapp", "77011234567", "answer", "Your appeal has been answered")
        db.session.commit()
        message_id = row.id
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.6, holder.rollback).start()
    with wa_app.app_context():
        outbox.mark(message_id, None, sent_as="text")
        assert db.session.get(OutboxMessage, message_id).state == "sent"
        outbox.mark(message_id, "late failure")  # a second record of the same send changes nothing
        assert db.session.get(OutboxMessage, message_id).state == "sent"
        assert utcnow()
    holder.close()


def test_the_channels_process_keeps_tokens_out_of_its_log():
    import logging
    from companion.channels import NOISY_LOGGERS, quiet_loggers
    quiet_loggers()
    assert all(logging.getLogger(name).getEffectiveLevel() >= logging.WARNING for name in NOISY_LOGGERS)


def test_a_message_that_cannot_be_stored_is_answered_503_and_stored_once_when_delivered_again(wa_app, graph):
    """The database refuses the write (its table is away for a moment): the webhook must not say 200, or
    Meta would never deliver it again and the message would be lost."""
    payload = webhook(text("wamid.retry0001", "Когда уберут снег во дворе Самал 5?"))

    def table(name_from: str, name_to: str):
        with wa_app.app_context():
            db.session.execute(db.text(f"ALTER TABLE {name_from} RENAME TO {name_to}"))
            db.session.commit()
    table("channel_update", "channel_update_away")
    try:
        [status] = run(wa_app, deliver(payload))
    finally:
        table("channel_update_away", "channel_update")
    assert status == 503
    assert run(wa_app, deliver(payload), deliver(payload)) == [200, 200]  # Meta's redelivery, twice
    with wa_app.app_context():
        assert db.session.execute(select(func.count()).select_from(ChannelUpdate)).scalar_one() == 1


def test_nothing_of_the_person_is_kept_before_consent(wa_app, graph):
    """The message waiting for the resident's answer to the consent question holds its words, not the profile
    name (found by a fresh-eyes review); the name comes with "I agree", and "Without my name" keeps none."""
    run(wa_app, deliver(webhook(text("wamid.N1", "Когда починят свет во дворе?"), name="Aigerim Sadykova")))
    with wa_app.app_context():
        waiting = db.session.scalars(select(ChannelUpdate).where(ChannelUpdate.state == "held")).one()
        assert waiting.held["name"] == "" and "Aigerim" not in json.dumps(waiting.held, ensure_ascii=False)
    run(wa_app, deliver(webhook(button("wamid.N2", "consent:yes"), name="Aigerim Sadykova")))
    with wa_app.app_context():
        assert db.session.scalars(select(Appeal).where(Appeal.channel == "whatsapp")).one().author_name == "Aigerim Sadykova"


@pytest.mark.parametrize("live", [True, False])
def test_a_sender_who_refused_consent_is_blocked_on_every_channel(wa_app, graph, live):
    """A chat that answered "Without my name" keeps no contact; its sender can still be blocked from the appeal's
    page, and the block holds on WhatsApp and for a call from the same number."""
    if not live:
        end_broadcast(wa_app)
    number = "77015559876"
    run(wa_app, deliver(webhook(text("wamid.R1", "Оскорбительное сообщение без имени", number), wa_id=number)),
        deliver(webhook(button("wamid.R2", "consent:no", number), wa_id=number)))
    with wa_app.test_request_context("/"):
        from companion.services import blocking
        appeal = db.session.execute(select(Appeal).where(Appeal.channel == "whatsapp")).scalar_one()
        assert appeal.contact == ""
        admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        assert blocking.block_appeal_sender(appeal, actor=admin, reason="abuse")
        assert blocking.is_blocked([blocking.contact_identity("8 701 555 98 76")])
    run(wa_app, deliver(webhook(text("wamid.R3", "Ещё одно", number), wa_id=number)))
    assert "не можем" in graph.texts(number)[-1].lower()
    with wa_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.channel == "whatsapp")) == 1


def test_without_a_public_address_the_template_names_the_status_word_not_a_local_link(wa_app, graph):
    """The template's second parameter is the talon's link; without COMPANION_PUBLIC_URL (found by a fresh-eyes
    review: http://localhost/...) it tells the resident to send "status" in the chat."""
    wa_app.config["PUBLIC_URL"] = ""
    end_broadcast(wa_app)
    run(wa_app, deliver(webhook(text("wamid.P1", "Нет воды в доме"))), deliver(webhook(button("wamid.P2", "consent:yes"))))
    with wa_app.app_context():
        chat = db.session.get(ChannelChat, ("whatsapp", "77011234567"))
        chat.updated_at = utcnow() - timedelta(hours=25)
        db.session.commit()
    _answer(wa_app, "77011234567", "Воду дадут завтра.")

    async def send(hook):
        await hook.channel.send_outbox_once()
    run(wa_app, send)
    params = [p["text"] for p in graph.bodies[-1]["template"]["components"][0]["parameters"]]
    assert params[0].startswith("SRK-") and "статус" in params[1] and "http" not in params[1]
    assert not any("http" in t for t in graph.texts("77011234567"))


def test_an_attached_image_is_fetched_by_its_media_url_and_kept_with_the_appeal(wa_app, graph):
    """The Graph API's GET /{media-id} gives the image's URL and size; the URL, with the token, its bytes (both
    served by the stand-in). The image is kept with the appeal within CHANNEL_PHOTO_MAX_BYTES; the webhook is
    answered before it is fetched."""
    from companion.models import AppealFile
    from .test_telegram import JPEG
    end_broadcast(wa_app)
    graph.media["1234567890"] = JPEG
    graph.media["999"] = JPEG + bytes(wa_app.config["CHANNEL_PHOTO_MAX_BYTES"])  # too large: never downloaded
    run(wa_app, deliver(webhook(image("wamid.I1", "1234567890", "Разбитый фонарь во дворе"))),
        deliver(webhook(button("wamid.I2", "consent:yes"))),
        deliver(webhook(image("wamid.I3", "999", "Ещё один фонарь"))))
    with wa_app.app_context():
        (kept,) = db.session.scalars(select(AppealFile)).all()
        appeal = db.session.get(Appeal, kept.appeal_id)
        assert appeal.text == "Разбитый фонарь во дворе" and kept.data == JPEG and kept.channel == "whatsapp"
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.channel == "whatsapp")) == 2
    assert graph.downloads == ["1234567890"]


def _message(wamid: str, kind: str, body: dict, wa_id: str = "77011234567") -> dict:
    return {"from": wa_id, "id": wamid, "timestamp": "1764672000", "type": kind, kind: body}


def test_a_sticker_a_voice_message_or_a_file_is_answered_and_a_photo_sent_as_a_file_is_kept(wa_app, graph):
    """Found by a review of the channels: a sticker, a voice message or a document got no answer at all (the
    resident waited for one that never came), and a photo sent "as a file" was lost. A sticker gets the
    greeting's reply, a voice message is said not to be kept, an image document is a photo."""
    from companion.models import AppealFile
    from .test_telegram import JPEG
    end_broadcast(wa_app)
    graph.media["55501"] = JPEG
    run(wa_app, deliver(webhook(button("wamid.S0", "consent:yes"))),
        deliver(webhook(_message("wamid.S1", "sticker", {"id": "777", "mime_type": "image/webp", "animated": False}))),
        deliver(webhook(_message("wamid.S2", "audio", {"id": "778", "mime_type": "audio/ogg; codecs=opus", "voice": True}))),
        deliver(webhook(_message("wamid.S3", "document", {"id": "55501", "mime_type": "image/jpeg", "filename": "IMG.jpg",
                                                          "caption": "Разбитый тротуар у остановки"}))))
    texts = graph.texts("77011234567")  # no words yet to tell the language by, and WhatsApp gives none: the office's
    assert any(t.startswith("Hello! Write your question") for t in texts)  # the sticker
    assert any(t.startswith("Voice messages, videos and files are not kept here") for t in texts)  # the voice message
    assert not any("Attached" in t for t in texts)
    with wa_app.app_context():
        appeal = db.session.scalars(select(Appeal).where(Appeal.channel == "whatsapp")).one()
        assert appeal.text == "Разбитый тротуар у остановки" and appeal.attachments["photos"] == ["55501"]
        assert [f.data for f in db.session.scalars(select(AppealFile))] == [JPEG]
    assert appeal.tracking_code in texts[-1]
