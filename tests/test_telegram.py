"""The Telegram channel against a LOCAL STAND-IN of the Telegram Bot API.

This machine cannot reach Telegram, so the test runs an HTTP server that speaks the Bot API's methods the
bot uses (getMe, getUpdates, setWebhook, deleteWebhook, sendMessage, answerCallbackQuery) at
/bot<token>/<method>, and points python-telegram-bot at it with its base_url setting
(COMPANION_TELEGRAM_API_URL). The updates are shaped as in the Bot API's documentation (Update, Message,
CallbackQuery, PhotoSize, Location). The bot itself (companion/channels/telegram.py) runs unchanged: its
webhook server on a real port, its polling and its outbox sender."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil

import pytest
import requests
from sqlalchemy import func, select

from companion import create_app
from companion.channels.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from companion.extensions import db
from companion.models import Appeal, AppealEvent, Broadcast, OutboxMessage, Question, User
from companion.services import appeals

from companion.testing.telegram import SECRET, TOKEN, BotApiStandIn, button_update, message_update  # noqa: F401

from .conftest import test_config



@pytest.fixture
def api():
    stand_in = BotApiStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture
def tg_app(tmp_path, seeded_db, api):
    shutil.copy(seeded_db, tmp_path / "test.db")
    app = create_app(test_config(tmp_path, TELEGRAM_TOKEN=TOKEN, TELEGRAM_API_URL=api.base_url,
                                 TELEGRAM_WEBHOOK_SECRET=SECRET, OUTBOX_BACKOFF_SECONDS=0, OUTBOX_MAX_ATTEMPTS=4))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def run(app, *steps):
    """Run the bot's coroutines (each a function of the channel) in one event loop, as the process does."""
    async def main():
        channel = TelegramChannel(app)
        async with channel.bot:
            results = []
            for step in steps:
                results.append(await step(channel))
            return results
    return asyncio.run(main())


def send(update: dict):
    async def step(channel):
        await channel.handle_json(update)
        await channel.send_outbox_once()
    return step


def end_broadcast(app):
    with app.app_context():
        broadcast = db.session.execute(select(Broadcast).where(Broadcast.slug == "demo")).scalar_one()
        broadcast.status = "ended"
        db.session.commit()


def consent(chat: int, update_id: int, answer: str = "yes"):
    return send(button_update(update_id, chat, f"consent:{answer}"))


def test_during_a_broadcast_a_message_goes_to_the_desk_and_the_number_comes_back_at_once(tg_app, api):
    run(tg_app, send(message_update(1, 501, "Когда отремонтируют дорогу на улице Абая?", photo=True)),
        consent(501, 2))
    with tg_app.app_context():
        question = db.session.execute(select(Question).where(Question.channel == "telegram")).scalar_one()
        assert question.broadcast.slug == "demo" and question.status == "pending"  # the broadcast's pre-moderation
        assert question.author_name == "Aigerim Sadykova" and question.consent_form == "telegram"
        assert question.contact == "telegram:501" and question.language == "ru"
        appeal = question.appeal
        assert appeal.statutory and appeal.channel == "telegram"
        assert appeal.attachments == {"channel": "telegram", "photos": ["AgAD-large"]}
        code = appeal.tracking_code
    texts = api.sent(501)
    assert any("согласие" in t.lower() or "consent" in t.lower() for t in texts[:1])  # asked before the name is kept
    assert any(code in t and "/talon" in t for t in texts)  # the number and the talon's link
    assert [m for m, _p in api.calls].count("answerCallbackQuery") == 1


def test_after_the_broadcast_a_message_becomes_an_appeal_with_its_location(tg_app, api):
    end_broadcast(tg_app)
    run(tg_app, send(message_update(10, 502, location=(51.128, 71.43))),
        send(message_update(11, 502, "Не работает уличное освещение во дворе")), consent(502, 12))
    with tg_app.app_context():
        appeal = db.session.execute(select(Appeal).where(Appeal.channel == "telegram")).scalar_one()
        assert appeal.question_id is None and appeal.broadcast_id is None
        assert (appeal.lat, appeal.long) == (51.128, 71.43)
        assert appeal.statutory and appeal.clock_running and appeal.author_name == "Aigerim Sadykova"
        assert appeal.consent_form == "telegram"
        code = appeal.tracking_code
    assert any(code in t for t in api.sent(502))


def test_a_resident_who_refuses_consent_is_asked_without_a_name(tg_app, api):
    end_broadcast(tg_app)
    run(tg_app, send(message_update(20, 503, "Вопрос без имени")), consent(503, 21, "no"))
    with tg_app.app_context():
        appeal = db.session.execute(select(Appeal).where(Appeal.channel == "telegram")).scalar_one()
        assert appeal.author_name == "" and appeal.contact == "" and not appeal.statutory
    assert any(appeal.tracking_code in t for t in api.sent(503))  # still answered in the chat


def test_a_redelivered_update_makes_no_second_question(tg_app, api):
    update = message_update(30, 504, "Повторная доставка")
    run(tg_app, send(update), consent(504, 31), send(update), send(update))
    # the same message again under a new update_id (a client's retry) is recognised by its message id
    run(tg_app, send(message_update(32, 504, "Повторная доставка", message_id=30)))
    with tg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Question).where(Question.channel == "telegram")) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert sum("SRK-" in t for t in api.sent(504)) == 1


def test_polling_takes_updates_once_and_confirms_them_by_offset(tg_app, api):
    end_broadcast(tg_app)
    api.updates = [message_update(40, 505, "/start"), button_update(41, 505, "lang:kk"),
                   button_update(42, 505, "consent:yes"), message_update(43, 505, "Ауладағы жол жөнделмеген")]

    async def poll_twice(channel):
        offset = await channel.poll_once(None, timeout=0)
        offset = await channel.poll_once(None, timeout=0)  # the same updates again: taken once
        await channel.send_outbox_once()
        return offset
    (offset,) = run(tg_app, poll_twice)
    assert offset == 44
    with tg_app.app_context():
        appeal = db.session.execute(select(Appeal).where(Appeal.channel == "telegram")).scalar_one()
        assert appeal.language == "kk"
    texts = api.sent(505)
    assert sum(appeal.tracking_code in t for t in texts) == 1
    assert any("Өтінішіңіз" in t or "нөміріңіз" in t.lower() for t in texts)  # the notice in Kazakh


def test_status_by_number_shows_only_the_chats_own_appeals(tg_app, api):
    end_broadcast(tg_app)
    run(tg_app, send(message_update(50, 506, "Первое обращение")), consent(506, 51))
    with tg_app.app_context():
        code = db.session.execute(select(Appeal.tracking_code).where(Appeal.channel == "telegram")).scalar_one()
    run(tg_app, send(message_update(52, 506, code)), send(message_update(53, 507, code)),
        send(message_update(54, 506, "статус")))
    mine, other = api.sent(506), api.sent(507)
    with tg_app.test_request_context("/"):
        from flask_babel import force_locale
        with force_locale("ru"):  # the chat chose no language: its phone's (ru)
            status = appeals.status_label("registered")
    by_number, by_word = mine[-2], mine[-1]
    assert f"{code}: {status}" in by_number and f"{code}: {status}" in by_word and "/talon" in by_number
    assert not any(code in t for t in other) and "нет обращения" in other[-1]


def test_a_webhook_with_a_bad_secret_is_refused(tg_app, api):
    end_broadcast(tg_app)

    async def webhook(channel):
        from aiohttp import ClientSession, web
        runner = web.AppRunner(await channel.webhook_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        statuses = []
        async with ClientSession() as http:
            for headers in ({SECRET_HEADER: "wrong"}, {}, {SECRET_HEADER: SECRET}):
                async with http.post(url, json=message_update(60, 508, "/start"), headers=headers) as response:
                    statuses.append(response.status)
            async with http.post(url, data=b"not json", headers={SECRET_HEADER: SECRET}) as response:
                statuses.append(response.status)
        await runner.cleanup()
        await channel.register_webhook()
        return statuses
    (statuses,) = run(tg_app, webhook)
    assert statuses == [403, 403, 200, 400]
    with tg_app.app_context():
        from companion.models import ChannelUpdate
        assert db.session.scalar(select(func.count()).select_from(ChannelUpdate)) == 1  # only the signed one
    (method, params), = [c for c in api.calls if c[0] == "setWebhook"]
    assert params["secret_token"] == SECRET


def _answer(app, chat: int, text: str) -> Appeal:
    with app.test_request_context("/"):
        appeal = db.session.execute(select(Appeal).where(Appeal.contact == f"telegram:{chat}")).scalar_one()
        officer = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        appeals.assign(appeal, 1, actor=officer)
        appeals.answer(appeal, text, actor=officer)
        return appeal.id


def test_a_send_that_fails_three_times_then_succeeds(tg_app, api):
    end_broadcast(tg_app)

    async def fail_three_times(channel):
        api.failures[509] = 3  # from now on: the consent question before this went through

    async def retry(channel):
        await channel.send_outbox_once()
    run(tg_app, send(message_update(70, 509, "Вопрос")), fail_three_times, consent(509, 71), retry, retry, retry)
    with tg_app.app_context():
        message = db.session.execute(select(OutboxMessage)).scalar_one()
        assert message.state == "sent" and message.attempts == 4
        actions = [e.action for e in message.appeal.events]
        assert actions.count("channel_notice_sent") == 1
    assert sum("SRK-" in t for t in api.sent(509)) == 4  # three refused by the stand-in, the fourth taken


def test_a_send_that_always_fails_is_dead_lettered_and_shown_to_staff(tg_app, api, client_for_admin=None):
    end_broadcast(tg_app)
    api.failures[510] = -1

    async def retry(channel):
        await channel.send_outbox_once()
    run(tg_app, send(message_update(80, 510, "Вопрос")), consent(510, 81), retry, retry, retry, retry)
    with tg_app.app_context():
        message = db.session.execute(select(OutboxMessage)).scalar_one()
        assert message.state == "dead" and message.attempts == 4 and "Bad Gateway" in message.last_error
        appeal_id = message.appeal_id
        assert db.session.scalar(select(func.count()).select_from(AppealEvent).where(
            AppealEvent.action == "channel_notice_dead")) == 1
    client = tg_app.test_client()
    from .conftest import login
    login(client, "admin")
    page = client.get(f"/appeals/{appeal_id}").get_data(as_text=True)
    assert "Bad Gateway" in page
    listing = client.get("/appeals/undelivered").get_data(as_text=True)
    assert "Bad Gateway" in listing


def test_the_written_answer_reaches_the_chat_in_the_residents_language(tg_app, api):
    end_broadcast(tg_app)
    run(tg_app, send(message_update(90, 511, "/start")), send(button_update(91, 511, "lang:kk")),
        send(message_update(92, 511, "Көшеде жарық жоқ")), consent(511, 93))
    _answer(tg_app, 511, "Жарық ертең қосылады.")
    run(tg_app, lambda channel: channel.send_outbox_once())
    last = api.sent(511)[-1]
    assert "Жарық ертең қосылады." in last and "жауап" in last.lower()
    with tg_app.app_context():
        message = db.session.execute(select(OutboxMessage).where(OutboxMessage.kind == "answer")).scalar_one()
        assert message.state == "sent"


def test_without_a_message_queue_the_served_desk_shows_a_telegram_question_at_once(tmp_path, api):
    """The embedded default (SQLite, one machine, no Redis): the channels process tells the serving process
    of the new question (web/internal.py, signed with SECRET_KEY) and every moderator's desk shows it."""
    from companion.testing.liveserver import LiveServer, Recorder
    live = LiveServer(tmp_path).start()
    try:
        moderator = Recorder(live.url, "/staff", live.login("mod"))
        from companion.config import Config
        app = create_app(Config.from_env({
            "COMPANION_DATABASE_URL": live.env["COMPANION_DATABASE_URL"], "COMPANION_SECRET_KEY": live.env["COMPANION_SECRET_KEY"],
            "COMPANION_INTERNAL_URL": live.url, "COMPANION_TELEGRAM_TOKEN": TOKEN, "COMPANION_TELEGRAM_API_URL": api.base_url}))
        run(app, send(message_update(1, 777, "Когда почистят снег во дворе Самал-2?")), consent(777, 2))
        changed = moderator.wait_for("desk_changed", lambda d: any(
            q["channel"] == "telegram" for q in d["questions"]), timeout=5)
        assert [q["text"] for q in changed["questions"]] == ["Когда почистят снег во дворе Самал-2?"]
        # the note is refused without the right signature, and with a body that is not ours
        body = json.dumps({"broadcast": "demo", "questions": [1]}).encode()
        assert requests.post(live.url + "/internal/changed", data=body, timeout=5,
                             headers={"X-Companion-Signature": "0" * 64}).status_code == 403
        from companion.web.internal import signature
        assert requests.post(live.url + "/internal/changed", data=body, timeout=5,  # not ASCII: refused, no 500
                             headers={"X-Companion-Signature": "é".encode("latin-1")}).status_code == 403
        assert requests.post(live.url + "/internal/changed", data=body, timeout=5, headers={  # the session's key
            "X-Companion-Signature": hmac.new(live.env["COMPANION_SECRET_KEY"].encode(), body,
                                              hashlib.sha256).hexdigest()}).status_code == 403  # use is separate
        for bad in (b"{", b'{"broadcast": "demo", "questions": "all"}', b'{"broadcast": "nope", "questions": []}'):
            assert requests.post(live.url + "/internal/changed", data=bad, timeout=5, headers={
                "X-Companion-Signature": signature(live.env["COMPANION_SECRET_KEY"], bad)}).status_code == 400
        moderator.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        live.stop()


def test_a_group_chat_is_not_taken_and_nobody_consents_for_another(tg_app, api):
    """In a group every member shares one chat id: the bot takes private chats only."""
    group = message_update(1, -100500, "Когда починят лифт в доме 3?")
    group["message"]["chat"] = {"id": -100500, "type": "group", "title": "Дом 3"}
    strangers_button = button_update(2, 601, "consent:yes")
    strangers_button["callback_query"]["from"]["id"] = 602  # another person pressing under 601's message
    run(tg_app, send(message_update(3, 601, "Когда уберут снег во дворе?")), send(group), send(strangers_button))
    with tg_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Question)).scalar_one() == 0
    assert api.sent(-100500) == []
    run(tg_app, consent(601, 4))  # the resident's own press keeps the question
    with tg_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Question)).scalar_one() == 1


def test_the_outbox_loop_sends_what_comes_due_and_keeps_going(tg_app, api):
    """The sender the process runs (channels.send_outbox_forever), not one round of it."""
    async def step(channel):
        await channel.handle_json(message_update(1, 909, "Когда откроют каток?"))
        await channel.handle_json(button_update(2, 909, "consent:yes"))  # the number goes into the outbox
        try:
            await asyncio.wait_for(channel.send_outbox(idle_seconds=0.05), 1.0)
        except asyncio.TimeoutError:
            pass  # it runs until cancelled
    run(tg_app, step)
    with tg_app.app_context():
        code = db.session.execute(select(Appeal.tracking_code)).scalar_one()
    assert any(code in text for text in api.sent(909)), "the number reached the chat through the running sender"


def test_an_update_id_telegram_counts_again_never_drops_a_new_message(tg_app, api):
    """After a week without updates (or with a new bot token) Telegram starts update_id from a new value: an
    old number then names a new message, from another chat or the same one (found by a fresh-eyes review: it
    was answered ok and dropped). A redelivery of the same update within the day is still taken once."""
    from datetime import timedelta
    from companion.models import ChannelUpdate, utcnow
    first = message_update(70, 5070, "Первое обращение: яма у дома")
    run(tg_app, send(first), consent(5070, 71))
    with tg_app.app_context():  # a week and more ago
        for row in db.session.scalars(select(ChannelUpdate)):
            row.created_at = utcnow() - timedelta(days=9)
        db.session.commit()
    run(tg_app, send(message_update(70, 5071, "Новое обращение другого жителя", message_id=9)), consent(5071, 72),
        send(message_update(71, 5070, "Второе обращение того же жителя", message_id=40)))
    with tg_app.app_context():
        texts = set(db.session.scalars(select(Appeal.text).where(Appeal.channel == "telegram")))
    assert texts == {"Первое обращение: яма у дома", "Новое обращение другого жителя", "Второе обращение того же жителя"}
    again = message_update(73, 5071, "Третье", message_id=11)
    run(tg_app, send(again), send(again))
    with tg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appeal).where(Appeal.text == "Третье")) == 1
