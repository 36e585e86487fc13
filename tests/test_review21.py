"""Review of issue 21 (channels): what a fresh-eyes review found, each pinned by a test. The platforms cannot be
reached from this machine: the Bot API is companion/testing/telegram.py's stand-in, which speaks the real HTTP API."""
from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from companion.channels.telegram import TelegramChannel
from companion.extensions import db
from companion.models import Appeal, OutboxMessage, User
from companion.services import appeals, channels, outbox
from companion.testing import telegram as tg

CHAT = 4242


@pytest.fixture
def bot_api():
    stand_in = tg.BotApiStandIn()  # a stand-in: this machine cannot reach Telegram
    yield stand_in
    stand_in.close()


def _channel(app, bot_api) -> TelegramChannel:
    app.config.update(TELEGRAM_TOKEN=tg.TOKEN, TELEGRAM_API_URL=bot_api.base_url, OUTBOX_BACKOFF_SECONDS=1)
    return TelegramChannel(app)


def _appeal_from_chat(channel: TelegramChannel, text: str) -> Appeal:
    """A resident consents and writes (through the channel's own intake)."""
    channel._in_app(channels.receive, channels.Incoming("telegram", 1, str(CHAT), button="consent:yes", name="Aigerim"))
    channel._in_app(channels.receive, channels.Incoming("telegram", 2, str(CHAT), 2, text=text, name="Aigerim",
                                                        language_hint="en"))
    with channel.app.app_context():
        return db.session.scalars(select(Appeal).where(Appeal.contact == f"telegram:{CHAT}")).one().id


def _send_round(channel: TelegramChannel) -> None:
    async def once():
        async with channel.bot:
            await channel.send_outbox_once()
    asyncio.run(once())


def test_a_failed_notice_is_not_overtaken_by_a_later_one_to_the_same_chat(app, bot_api):
    """The registration's send fails; the forwarding notice made meanwhile must wait for it, so the resident
    reads the number first and the forwarding after, as the steps happened."""
    channel = _channel(app, bot_api)
    appeal_id = _appeal_from_chat(channel, "The street lamp on Abay street has been broken for a week")
    bot_api.failures[CHAT] = 1
    _send_round(channel)  # the registration fails: retried after the backoff
    with app.test_request_context("/"):
        admin = db.session.scalars(select(User).where(User.username == "admin")).one()
        appeals.forward(db.session.get(Appeal, appeal_id), "the regional police department", actor=admin)
    _send_round(channel)  # the registration is not yet due again: the forwarding must not go before it
    time.sleep(1.2)
    _send_round(channel)
    _send_round(channel)
    sent = bot_api.sent(CHAT)  # every send tried, the refused one too
    assert "Received" in sent[-2] and "forwarded" in sent[-1], sent
    with app.app_context():
        states = [m.state for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.chat == str(CHAT))
                                                       .order_by(OutboxMessage.id))]
    assert states == ["sent", "sent"]


def test_a_failure_holds_back_the_rest_of_that_chat_in_the_same_round(app, bot_api):
    """A long answer goes in several messages; when one of them fails, the next parts wait for it."""
    channel = _channel(app, bot_api)
    appeal_id = _appeal_from_chat(channel, "Please tell me the schedule of the district's garbage collection")
    _send_round(channel)
    assert len(bot_api.sent(CHAT)) == 1
    with app.test_request_context("/"):
        appeal = db.session.get(Appeal, appeal_id)
        for kind in ("answer", "extend"):  # two notices due at once
            outbox.enqueue("telegram", CHAT, kind, f"notice {kind}", appeal)
        db.session.commit()
    bot_api.failures[CHAT] = 1
    _send_round(channel)  # the first fails: the second must not go before it
    time.sleep(1.2)
    _send_round(channel)
    assert bot_api.sent(CHAT)[1:] == ["notice answer", "notice answer", "notice extend"]  # the refused one, then both


@pytest.mark.parametrize("body", [
    b'{"object":"whatsapp_business_account","entry":[1,"x",{"changes":[null,5,{"field":"messages","value":[]}]}]}',
    b'{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"contacts":'
    b'[{"wa_id":"77011234567","profile":"x"},7],"messages":[{"from":"77011234567","id":"w9","type":"text",'
    b'"text":"not an object"}]}}]}]}',
    b"[" * 100_000,  # nested deeper than the JSON reader goes (found by the channels review: a 500 with a traceback)
])
def test_a_signed_webhook_of_odd_shapes_is_answered_not_crashed(app, body):
    """A signed body whose parts are not the documented objects (Meta's own oddity, or a future field) is answered,
    never a 500 with a traceback that Meta would deliver again and again."""
    from aiohttp.test_utils import TestClient, TestServer

    from companion.channels.whatsapp import WhatsAppChannel
    from companion.testing import whatsapp as wa
    app.config.update(WHATSAPP_TOKEN=wa.TOKEN, WHATSAPP_PHONE_NUMBER_ID=wa.PHONE_ID, WHATSAPP_VERIFY_TOKEN=wa.VERIFY,
                      WHATSAPP_APP_SECRET=wa.APP_SECRET)

    async def post() -> int:
        async with WhatsAppChannel(app) as channel:
            async with TestClient(TestServer(await channel.webhook_app())) as client:
                response = await client.post("/whatsapp", data=body, headers={"X-Hub-Signature-256": wa.sign(body)})
                return response.status
    assert asyncio.run(post()) in (200, 400)


def test_the_resident_is_told_in_the_chat_when_the_appeal_is_sent_to_a_department(app, bot_api):
    """Issue 21's notices include "sent to a department": the first assignment (by hand, or routed by the
    category) tells the chat where the appeal went, in the appeal's language, once; a reassignment does not."""
    channel = _channel(app, bot_api)
    appeal_id = _appeal_from_chat(channel, "The bus stop shelter near school number 12 is broken")
    with app.test_request_context("/"):
        admin = db.session.scalars(select(User).where(User.username == "admin")).one()
        appeal = db.session.get(Appeal, appeal_id)
        appeals.assign(appeal, 1, actor=admin)
        department = appeal.department.name("en")
        appeals.assign(appeal, 2, actor=admin)  # a reassignment: no second notice
    _send_round(channel)
    sent = bot_api.sent(CHAT)
    assert len(sent) == 2, sent
    assert "Received" in sent[0]
    assert department in sent[1] and "SRK-" in sent[1], sent
    with app.app_context():
        history = [e.action for e in db.session.get(Appeal, appeal_id).events]
    assert history.count("channel_notice_sent") == 2
