"""A burst of Telegram and WhatsApp messages while a broadcast is live (issue 21's benchmark): 500 messages in
10 s, half to the Telegram webhook and half to the WhatsApp webhook, an open-loop offer whatever the answers
do, from 500 residents who gave their consent in the chat earlier. The real pieces: the serving process
(`python -m companion serve`, eventlet) with a moderator's desk connected over Socket.IO, and the channel
adapters (companion/channels/telegram.py and whatsapp.py on real ports, as `python -m companion channels`
runs them) on the same database. LOCAL STAND-INS of Telegram's Bot API and Meta's Graph API
(companion/testing/telegram.py, whatsapp.py) take the replies: this machine cannot reach either platform.

Reported, per channel and together: the webhook's answer time (p50/p99; the platforms want it within a
second), how soon each question is on the moderator's desk after its message was sent (p50/p99/max), every
message stored exactly once, and every reply (the tracking number) sent, none lost.

    python bench/channels.py [--messages 500] [--seconds 10] [--database sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from companion import create_app  # noqa: E402
from companion.channels.telegram import SECRET_HEADER, TelegramChannel  # noqa: E402
from companion.channels.telegram import WEBHOOK_PATH as TELEGRAM_PATH  # noqa: E402
from companion.channels.whatsapp import SIGNATURE_HEADER, WhatsAppChannel  # noqa: E402
from companion.channels.whatsapp import WEBHOOK_PATH as WHATSAPP_PATH  # noqa: E402
from companion.extensions import db  # noqa: E402
from companion.models import ChannelChat, ChannelUpdate, OutboxMessage, Question, utcnow  # noqa: E402
from companion.testing.liveserver import LiveServer, Recorder  # noqa: E402
from companion.testing.setup import test_config  # noqa: E402
from companion.testing import telegram as tg  # noqa: E402
from companion.testing import whatsapp as wa  # noqa: E402

MARK = re.compile(r"\(#(\d{5})\)")


def pct(values, q):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * q))], 1) if values else None


def _chat(i: int) -> tuple[str, str]:
    """Message i's channel and chat: even ones on Telegram, odd ones on WhatsApp, one resident each."""
    return ("telegram", str(900_000 + i)) if i % 2 == 0 else ("whatsapp", f"7701{i:07d}")


def consented(app, messages: int) -> None:
    """Each resident gave consent in the chat before the broadcast (the first exchange of a chat)."""
    with app.app_context():
        for i in range(messages):
            channel, chat = _chat(i)
            db.session.add(ChannelChat(channel=channel, chat=chat, language="ru", consent="given", consent_at=utcnow(),
                                       updated_at=utcnow()))
        db.session.commit()


async def burst(app, bot_api, graph, messages: int, seconds: float) -> dict:
    from aiohttp import ClientSession, TCPConnector, web
    telegram, sites = TelegramChannel(app), []
    async with telegram.bot, WhatsAppChannel(app) as whatsapp:
        for application, path in ((await telegram.webhook_app(), TELEGRAM_PATH), (await whatsapp.webhook_app(), WHATSAPP_PATH)):
            runner = web.AppRunner(application)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            sites.append((runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}{path}"))
        telegram_url, whatsapp_url = sites[0][1], sites[1][1]
        # each channel's outbox sender, as the channels process runs it: the tracking number goes out at once
        senders = [asyncio.create_task(telegram.send_outbox(idle_seconds=0.5)),
                   asyncio.create_task(whatsapp.send_outbox(idle_seconds=0.5))]
        sent_at: dict[int, float] = {}
        answers: dict[str, list[float]] = {"telegram": [], "whatsapp": []}
        statuses: list[int] = []
        async with ClientSession(connector=TCPConnector(limit=0)) as http:
            async def one(i: int):
                channel, chat = _chat(i)
                text = f"Когда отремонтируют двор на Кенесары, дом {i % 90 + 1}? (#{i:05d})"
                if channel == "telegram":
                    body = json.dumps(tg.message_update(10_000 + i, int(chat), text), ensure_ascii=False).encode()
                    url, headers = telegram_url, {SECRET_HEADER: tg.SECRET}
                else:
                    body = json.dumps(wa.webhook(wa.text(f"wamid.burst{i:06d}", text, wa_id=chat), wa_id=chat),
                                      ensure_ascii=False).encode()
                    url, headers = whatsapp_url, {SIGNATURE_HEADER: wa.sign(body)}
                sent_at[i] = time.monotonic()
                async with http.post(url, data=body, headers={"Content-Type": "application/json", **headers}) as response:
                    statuses.append(response.status)
                answers[channel].append((time.monotonic() - sent_at[i]) * 1000)
            started, tasks = time.monotonic(), []
            for i in range(messages):
                delay = started + seconds * i / messages - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(one(i)))
            await asyncio.gather(*tasks)
            offered_s = time.monotonic() - started
            await whatsapp.drain()
            replied_by = time.monotonic() + 30  # the senders finish what is due
            while time.monotonic() < replied_by and (await asyncio.to_thread(_unsent, app)):
                await asyncio.sleep(0.2)
        for task in senders:
            task.cancel()
        for runner, _url in sites:
            await runner.cleanup()
    return {"sent_at": sent_at, "answers": answers, "statuses": statuses, "offered_s": offered_s}


def _unsent(app) -> int:
    """Notices in the outbox still to send (pending, or failed and to be retried)."""
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.state.in_(("pending", "failed"))))
        db.session.remove()
        return n


def desk_arrivals(desk: Recorder) -> dict[int, float]:
    """When each marked question first reached the moderator's desk (monotonic)."""
    seen: dict[int, float] = {}
    with desk.cond:
        events = list(zip(desk.events, desk.arrivals))
    for (event, data), at in events:
        if event != "desk_changed":
            continue
        for q in data.get("questions", []):
            found = MARK.search(q.get("text", ""))
            if found and int(found.group(1)) not in seen:
                seen[int(found.group(1))] = at
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    bot_api, graph = tg.BotApiStandIn(), wa.GraphApiStandIn()
    name = admin = None
    with tempfile.TemporaryDirectory() as folder:
        settings = {}
        if args.database == "postgresql":
            import psycopg2
            name = f"companion_bench_{uuid.uuid4().hex[:10]}"
            admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/test")
            admin.autocommit = True
            admin.cursor().execute(f"CREATE DATABASE {name}")
            settings["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{name}"
        server = LiveServer(Path(folder), **settings).start()
        try:
            app = create_app(test_config(
                Path(folder), DATABASE_URL=server.env["COMPANION_DATABASE_URL"], SECRET_KEY=server.env["COMPANION_SECRET_KEY"],
                INTERNAL_URL=server.url, TELEGRAM_TOKEN=tg.TOKEN, TELEGRAM_API_URL=bot_api.base_url,
                TELEGRAM_WEBHOOK_SECRET=tg.SECRET, WHATSAPP_TOKEN=wa.TOKEN, WHATSAPP_PHONE_NUMBER_ID=wa.PHONE_ID,
                WHATSAPP_VERIFY_TOKEN=wa.VERIFY, WHATSAPP_APP_SECRET=wa.APP_SECRET, WHATSAPP_API_URL=graph.base_url,
                MESSAGE_QUEUE=""))
            consented(app, args.messages)
            desk = Recorder(server.url, "/staff", cookie=server.login("mod"))
            run = asyncio.run(burst(app, bot_api, graph, args.messages, args.seconds))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(desk_arrivals(desk)) < args.messages:
                time.sleep(0.2)
            arrived = desk_arrivals(desk)
            desk.close()
            with app.app_context():
                stored = db.session.scalar(select(func.count()).select_from(ChannelUpdate))
                questions = db.session.scalar(select(func.count()).select_from(Question).where(
                    Question.channel.in_(("telegram", "whatsapp"))))
                db.session.remove()
                db.engine.dispose()
        finally:
            server.stop()
            if name:
                admin.cursor().execute(f"DROP DATABASE {name} WITH (FORCE)")
    numbers = re.compile(r"SRK-\d{4}-\d{6}")
    telegram_replied = {int(p["chat_id"]) for m, p in bot_api.calls if m == "sendMessage" and numbers.search(p["text"])}
    whatsapp_replied = {b["to"] for b in graph.bodies if b["type"] == "text" and numbers.search(b["text"]["body"])}
    to_desk = {i: (arrived[i] - run["sent_at"][i]) * 1000 for i in arrived}
    by_channel = {}
    for channel in ("telegram", "whatsapp"):
        mine = [ms for i, ms in to_desk.items() if _chat(i)[0] == channel]
        by_channel[channel] = {"webhook_p50_ms": pct(run["answers"][channel], 0.5), "webhook_p99_ms": pct(run["answers"][channel], 0.99),
                               "to_desk_p50_ms": pct(mine, 0.5), "to_desk_p99_ms": pct(mine, 0.99)}
    bot_api.close()
    graph.close()
    print(json.dumps({
        "database": args.database, "messages": args.messages, "seconds": args.seconds,
        "offered_in_s": round(run["offered_s"], 2), "ok": sum(s == 200 for s in run["statuses"]),
        "webhook_p50_ms": pct(run["answers"]["telegram"] + run["answers"]["whatsapp"], 0.5),
        "webhook_p99_ms": pct(run["answers"]["telegram"] + run["answers"]["whatsapp"], 0.99),
        "to_desk_p50_ms": pct(list(to_desk.values()), 0.5), "to_desk_p99_ms": pct(list(to_desk.values()), 0.99),
        "to_desk_max_ms": pct(list(to_desk.values()), 1.0), "on_desk": len(arrived),
        "stored": stored, "questions": questions,
        "replied_with_number": len(telegram_replied) + len(whatsapp_replied),
        "lost": args.messages - min(stored, questions, len(arrived), len(telegram_replied) + len(whatsapp_replied)),
        "by_channel": by_channel, "load_average": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
