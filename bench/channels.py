"""A burst of WhatsApp messages into the channels process (issue 21's benchmark): 500 signed first
messages from 500 numbers in 10 s, an open-loop offer whatever the answers do, against the real
webhook (companion/channels/whatsapp.py on a real port) and a LOCAL STAND-IN of Meta's Graph API
(tests/test_whatsapp.py's: this machine cannot reach Meta). Reported: the webhook's answer time
(p50/p99; the platform wants it within a second), every message stored exactly once, and every reply
the channel owes (the consent question to a new number) sent, none lost.

    python bench/channels.py [--messages 500] [--seconds 10] [--database sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from companion import create_app  # noqa: E402
from companion.channels.whatsapp import SIGNATURE_HEADER, WEBHOOK_PATH, WhatsAppChannel  # noqa: E402
from companion.extensions import db  # noqa: E402
from companion.models import ChannelUpdate  # noqa: E402
from companion.testing.setup import seed, test_config  # noqa: E402
from companion.testing.whatsapp import APP_SECRET, PHONE_ID, TOKEN, VERIFY, GraphApiStandIn, sign, text, webhook  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


async def burst(app, graph, messages: int, seconds: float) -> dict:
    from aiohttp import ClientSession, TCPConnector, web
    async with WhatsAppChannel(app) as channel:
        runner = web.AppRunner(await channel.webhook_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}{WEBHOOK_PATH}"
        latencies, statuses = [], []
        async with ClientSession(connector=TCPConnector(limit=0)) as http:
            async def one(i: int):
                wa_id = f"7701{i:07d}"
                body = json.dumps(webhook(text(f"wamid.burst{i:06d}", f"Когда отремонтируют двор на Кенесары, {i}?",
                                               wa_id=wa_id), wa_id=wa_id), ensure_ascii=False).encode()
                t0 = time.perf_counter()
                async with http.post(url, data=body, headers={"Content-Type": "application/json",
                                                              SIGNATURE_HEADER: sign(body)}) as response:
                    statuses.append(response.status)
                latencies.append((time.perf_counter() - t0) * 1000)
            started, tasks = time.perf_counter(), []
            for i in range(messages):
                delay = started + seconds * i / messages - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(one(i)))
            await asyncio.gather(*tasks)
            offered_s = time.perf_counter() - started
            await channel.drain()
            sent_started = time.perf_counter()
            while await channel.send_outbox_once():
                pass
            outbox_s = time.perf_counter() - sent_started
        await runner.cleanup()
    with app.app_context():
        stored = db.session.execute(select(func.count()).select_from(ChannelUpdate)).scalar_one()
    replied = len({b["to"] for b in graph.bodies})
    return {"messages": messages, "seconds": seconds, "offered_in_s": round(offered_s, 2),
            "ok": sum(s == 200 for s in statuses), "webhook_p50_ms": round(pct(latencies, 0.5), 1),
            "webhook_p99_ms": round(pct(latencies, 0.99), 1), "webhook_max_ms": round(max(latencies), 1),
            "stored": stored, "numbers_replied_to": replied, "replies_sent": len(graph.bodies),
            "outbox_drain_s": round(outbox_s, 2), "lost": messages - min(stored, replied),
            "load_average": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    graph = GraphApiStandIn()
    with tempfile.TemporaryDirectory() as folder:
        settings = {"WHATSAPP_TOKEN": TOKEN, "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID, "WHATSAPP_VERIFY_TOKEN": VERIFY,
                    "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_API_URL": graph.base_url, "OUTBOX_BACKOFF_SECONDS": 0}
        name = None
        if args.database == "postgresql":
            import psycopg2
            name = f"companion_bench_{uuid.uuid4().hex[:10]}"
            admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/test")
            admin.autocommit = True
            admin.cursor().execute(f"CREATE DATABASE {name}")
            settings["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{name}"
        app = create_app(test_config(Path(folder), **settings))
        seed(app)
        try:
            result = asyncio.run(burst(app, graph, args.messages, args.seconds))
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            if name:
                admin.cursor().execute(f"DROP DATABASE {name}")
    graph.close()
    print(json.dumps({"database": args.database, **result}))


if __name__ == "__main__":
    main()
