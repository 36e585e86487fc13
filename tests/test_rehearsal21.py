"""Found in rehearsal 21 (the Telegram and WhatsApp channels run against their stand-ins)."""
from __future__ import annotations

from companion.services.channels import AUTO_REPLIES_PER_MINUTE

from .test_telegram import api, consent, run, send, tg_app  # noqa: F401 - the fixtures and steps
from companion.testing.telegram import message_update


def test_a_flood_of_questions_past_the_limit_gets_a_few_refusals_not_one_each(tg_app, api):
    """A resident sending 30 questions in a minute: the first few are registered (the per-sender limit), the rest
    refused; the bot answered each refusal ("Too many requests"), 26 messages into Telegram's per-chat limits."""
    chat = 7301
    steps = [send(message_update(1, chat, "Когда отремонтируют дорогу на улице Абая?")), consent(chat, 2)]
    steps += [send(message_update(10 + i, chat, f"Вопрос {i}: когда починят подъезд дома {i}?")) for i in range(30)]
    run(tg_app, *steps)
    sent = api.sent(chat)
    numbers = [t for t in sent if "SRK-" in t]
    refusals = [t for t in sent if "SRK-" not in t and t != sent[0]]
    limit = tg_app.config["QUESTIONS_PER_MINUTE_PER_VIEWER"]
    assert len(numbers) == limit  # every registered question still gets its number
    assert 1 <= len(refusals) <= AUTO_REPLIES_PER_MINUTE, refusals



def test_a_refused_message_is_recorded_so_a_redelivery_is_not_taken_again(tg_app, api):
    """A message refused past the per-sender limit was rolled back with its record (a flushed row kept its id,
    `_again` found it gone and returned the detached row): nothing was recorded, so Telegram's redelivery of it
    was taken anew, refused again, or registered once the minute had passed."""
    from sqlalchemy import select

    from companion.extensions import db
    from companion.models import ChannelUpdate
    chat = 7302
    limit = tg_app.config["QUESTIONS_PER_MINUTE_PER_VIEWER"]
    steps = [send(message_update(1, chat, "Когда отремонтируют дорогу на улице Абая?")), consent(chat, 2)]
    steps += [send(message_update(10 + i, chat, f"Вопрос {i}: когда починят подъезд дома {i}?")) for i in range(limit + 2)]
    run(tg_app, *steps)
    with tg_app.app_context():
        recorded = set(db.session.scalars(select(ChannelUpdate.update_id).where(ChannelUpdate.chat == str(chat))))
        assert recorded == {1, 2, *range(10, 10 + limit + 2)}
    # delivered again (Telegram retries a webhook it thinks failed): taken once, not answered again
    before = len(api.sent(chat))
    run(tg_app, send(message_update(10 + limit + 1, chat, f"Вопрос {limit + 1}: когда починят подъезд дома {limit + 1}?")))
    assert len(api.sent(chat)) == before
