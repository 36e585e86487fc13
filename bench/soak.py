"""Soak run: N viewers connected for M minutes while questions and votes arrive at a steady rate.

    python bench/soak.py --minutes 30 --viewers 2000 --qps 20 --vps 50 --approvals 2

Pre-moderation stays on, as in a real broadcast: a moderator approves `--approvals` questions a
second (the audience sees those), the rest wait in the moderators' incoming column.

Starts the real server (`python -m companion serve`, eventlet, SQLite in a temporary folder),
drives it from this one process with `--active` python-socketio clients (they ask and vote) and
plain Engine.IO WebSocket clients for the rest of the audience (they join the broadcast, answer
pings and read every event without parsing it: a full client per viewer would make this load
generator, not the server, the bottleneck), samples the server's
memory, open file descriptors, OS threads and green threads every 30 s, measures submit ->
moderator screen latency, and writes bench/results/soak.json. Not part of CI (it takes the
minutes it is told to).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from companion.testing.liveserver import LiveServer  # noqa: E402  (the same harness the tests use)


def proc_stats(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    field = lambda name: int(next(l.split()[1] for l in status.splitlines() if l.startswith(name + ":")))  # noqa: E731
    return {"rss_kb": field("VmRSS"), "threads": field("Threads"), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


async def viewer_cookies(url: str, count: int) -> list[str]:
    cookies = []
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            async with http.get(f"{url}/b/demo") as response:
                cookie = response.cookies.get("session")
                cookies.append(f"session={cookie.value}")
    return cookies


async def passive_viewer(url: str, sem: asyncio.Semaphore):
    """A viewer that joins the broadcast over a raw Engine.IO WebSocket, answers pings, reads and drops events."""
    session = aiohttp.ClientSession()
    async with sem:
        ws = await session.ws_connect(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
        await ws.receive()  # the open packet
        await ws.send_str('40{"slug":"demo"}')
        await ws.receive()  # the namespace connect reply

    async def loop():
        async for message in ws:
            if message.data == "2":
                await ws.send_str("3")
    return asyncio.ensure_future(loop()), session


async def run(args) -> dict:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(65536, resource.getrlimit(resource.RLIMIT_NOFILE)[1]),) * 2)
    tmp = Path(tempfile.mkdtemp(prefix="companion-soak-"))
    # All simulated viewers share 127.0.0.1 (like a carrier's NAT): lift the per-address question limit.
    server = LiveServer(tmp, QUESTIONS_PER_MINUTE_PER_ADDRESS=10**6, DIAGNOSTICS="true").start()
    samples, latencies, errors = [], [], {"submit": 0, "vote": 0}
    sent_at: dict[str, float] = {}
    approved: list[int] = []
    pending: list[dict] = []
    try:
        cookies = await viewer_cookies(server.url, args.active)
        sem = asyncio.Semaphore(200)
        audience = await asyncio.gather(*(passive_viewer(server.url, sem) for _ in range(args.viewers - args.active)))

        async def connect(cookie):
            client = socketio.AsyncClient(reconnection=True)
            async with sem:
                await client.connect(server.url, auth={"slug": "demo"}, transports=["websocket"],
                                     headers={"Cookie": cookie}, wait_timeout=30)
            return client
        viewers = await asyncio.gather(*(connect(c) for c in cookies))
        moderator = socketio.AsyncClient()

        @moderator.on("desk_changed", namespace="/staff")
        async def on_desk(event):
            now = time.monotonic()
            if event["event"] == "question_submitted":
                for q in event["questions"]:
                    if q["text"] in sent_at:
                        latencies.append(now - sent_at.pop(q["text"]))
                    pending.append(q)
            elif event["event"] == "question_approved":
                approved.extend(q["id"] for q in event["questions"])
        await moderator.connect(server.url, namespaces=["/staff"], auth={"slug": "demo"}, transports=["websocket"],
                                headers={"Cookie": server.login("mod")})

        async def approvals():
            while True:
                if pending:
                    q = pending.pop()
                    await moderator.call("approve", {"id": q["id"], "version": q["version"]}, namespace="/staff")
                await asyncio.sleep(1 / args.approvals)

        async def questions():
            n = 0
            while True:
                n += 1
                text = f"soak question {n}"
                sent_at[text] = time.monotonic()
                asyncio.ensure_future(submit(random.choice(viewers), text, n))
                await asyncio.sleep(1 / args.qps)

        async def submit(client, text, n):
            try:
                ack = await client.call("submit_question", {"text": text, "client_id": f"soak-{n:08d}"}, timeout=10)
                errors["submit"] += not ack.get("ok")
            except Exception:  # noqa: BLE001
                errors["submit"] += 1

        async def votes():
            while True:
                if approved:
                    asyncio.ensure_future(vote(random.choice(viewers), random.choice(approved[-200:])))
                await asyncio.sleep(1 / args.vps)

        async def vote(client, qid):
            try:
                ack = await client.call("vote", {"question_id": qid}, timeout=10)
                errors["vote"] += not ack.get("ok")
            except Exception:  # noqa: BLE001
                errors["vote"] += 1

        async def sampler():
            started = time.monotonic()
            while True:
                async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as response:
                    health = await response.json()
                samples.append({"t_s": round(time.monotonic() - started), **proc_stats(server.proc.pid),
                                "green_threads": health.get("green_threads"),
                                "connections": health.get("connections"),
                                "load_generator_cpu_s": round(sum(os.times()[:2]), 1)})
                print(json.dumps(samples[-1]), flush=True)
                await asyncio.sleep(30)

        tasks = [asyncio.ensure_future(t()) for t in (questions, votes, approvals, sampler)]
        await asyncio.sleep(args.minutes * 60)
        for t in tasks:
            t.cancel()
        await asyncio.sleep(2)
        await asyncio.gather(*(v.disconnect() for v in viewers), moderator.disconnect(), return_exceptions=True)
        for task, session in audience:
            task.cancel()
            await session.close()
    finally:
        server.stop()
    latencies.sort()
    first, last = samples[1] if len(samples) > 2 else samples[0], samples[-1]
    return {
        "minutes": args.minutes, "viewers": args.viewers, "active_viewers": args.active, "qps": args.qps,
        "vps": args.vps,
        "approvals_per_s": args.approvals,
        "questions_measured": len(latencies), "errors": errors,
        "submit_to_moderator_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "submit_to_moderator_p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
        "rss_kb_first_last": [first["rss_kb"], last["rss_kb"]], "fds_first_last": [first["fds"], last["fds"]],
        "threads_first_last": [first["threads"], last["threads"]],
        "green_threads_first_last": [first["green_threads"], last["green_threads"]],
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--active", type=int, default=600, help="viewers that ask and vote (full clients)")
    parser.add_argument("--qps", type=float, default=20)
    parser.add_argument("--vps", type=float, default=50)
    parser.add_argument("--approvals", type=float, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak.json"))
    args = parser.parse_args()
    result = asyncio.run(run(args))
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
