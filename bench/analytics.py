"""Staff analytics and the public roadmap at a million appeals on PostgreSQL: cached, stale, and the recount.

    python bench/analytics.py                     # 1,000,000 rows on PostgreSQL
    python bench/analytics.py --rows 50000 --rounds 1 --requests 10   # a quick look

Seeds a fresh, migrated database with bench/appeals.py's generator (the same spreads), then times whole
HTTP requests through the app (Flask test client: routing, login check, cache read, tables, template):

  - /analytics for the head (every department) and an officer (one department), and /roadmap, from a
    fresh cache (the normal case);
  - the same while the cache is stale: each round first marks the figures an hour old, so the first
    request of the round claims the recount and starts it in a background task, and the rest run while
    it counts (the request's own time never includes the recount);
  - the recount itself (outside any request), per scope.

Each scenario: `--rounds` rounds of `--requests` requests after a warm-up; reported are the median of the
rounds' p95 with its min and max. Writes bench/results/analytics.json. Target (issue 22): /analytics
p95 < 300 ms at 1,000,000 appeals on PostgreSQL.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import text, update  # noqa: E402

from appeals import PASSWORD, fill_postgres, summary, timed  # noqa: E402
from companion import create_app, migrate  # noqa: E402
from companion.config import Config  # noqa: E402
from companion.extensions import db  # noqa: E402
from companion.models import ReportCache, utcnow  # noqa: E402
from companion.runtime import runtime  # noqa: E402
from companion.services import accounts, analytics, broadcasts, reports  # noqa: E402


def make_stale(app, key: str) -> None:
    with app.app_context():
        db.session.execute(update(ReportCache).where(ReportCache.key == key)
                           .values(computed_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        db.session.remove()


def wait_recount(app) -> None:
    state = runtime(app)
    task, state.last_recount = state.last_recount, None
    if task is not None:
        task.join(120)


def run(url: str, rows: int, rounds: int, requests: int) -> dict:
    cfg = Config.from_env({})
    cfg.DATABASE_URL, cfg.SECRET_KEY, cfg.ASYNC_MODE, cfg.TESTING = url, "bench", "threading", True
    cfg.WTF_CSRF_ENABLED = False
    app = create_app(cfg)
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        migrate.upgrade()
        broadcasts.seed_demo()
        accounts.create_user("head", "head", PASSWORD)
        accounts.create_user("officer", "officer", PASSWORD, department_id=3)
        t0 = time.perf_counter()
        fill_postgres(rows)
        fill_s = time.perf_counter() - t0
        count = db.session.execute(text("SELECT count(*) FROM appeal")).scalar_one()
        db.session.remove()
    print(f"{count:,} appeals in {fill_s:.1f} s", flush=True)
    clients = {}
    for user in ("head", "officer"):
        client = app.test_client()
        assert client.post("/login", data={"username": user, "password": PASSWORD}).status_code == 302
        clients[user] = client
    clients["public"] = app.test_client()
    scenarios = {"analytics_head": ("head", "/analytics", "analytics:all"),
                 "analytics_officer": ("officer", "/analytics", "analytics:department:3"),
                 "roadmap": ("public", "/roadmap", "roadmap")}
    results: dict = {"rows": count, "fill_seconds": round(fill_s, 1)}
    timed(clients["public"], "/healthz", 10)
    results["baseline_healthz"] = summary([timed(clients["public"], "/healthz", requests) for _ in range(rounds)])
    for name, (user, path, key) in scenarios.items():
        client = clients[user]
        t0 = time.perf_counter()
        client.get(path)  # nothing stored yet: the one request that counts
        first = (time.perf_counter() - t0) * 1000
        timed(client, path, 3)
        fresh = summary([timed(client, path, requests) for _ in range(rounds)])
        stale_rounds, claiming = [], []
        for _ in range(rounds):
            make_stale(app, key)
            t0 = time.perf_counter()
            assert client.get(path).status_code == 200  # claims the recount, starts it, answers
            claiming.append((time.perf_counter() - t0) * 1000)
            stale_rounds.append(timed(client, path, requests))  # while the recount runs (or just ran)
            wait_recount(app)
        results[name] = {"first_request_counting_ms": round(first, 1), "fresh": fresh,
                         "stale_claiming_request_ms": [round(c, 1) for c in claiming],
                         "during_recount": summary(stale_rounds)}
        print(f"{name}: {results[name]}", flush=True)
    with app.app_context():
        for name, count_it in (("analytics_all", lambda: analytics.compute(None, True)),
                               ("analytics_department", lambda: analytics.compute(3, False)),
                               ("roadmap", reports.compute_roadmap)):
            times = []
            for _ in range(max(rounds, 3)):
                t0 = time.perf_counter()
                count_it()
                times.append((time.perf_counter() - t0) * 1000)
            results[f"recount_{name}_ms"] = {"median": round(statistics.median(times), 1),
                                             "min": round(min(times), 1), "max": round(max(times), 1)}
            print(f"recount {name}: {results[f'recount_{name}_ms']}", flush=True)
        db.session.remove()
        db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--postgres", default=os.environ.get("COMPANION_TEST_POSTGRES_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "analytics.json"))
    args = parser.parse_args()
    out: dict = {"rows": args.rows, "rounds": args.rounds, "requests_per_round": args.requests,
                 "machine": f"{os.cpu_count()} cores", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "loadavg_before": Path("/proc/loadavg").read_text().strip()}
    import psycopg2
    from sqlalchemy.engine import make_url
    name = f"companion_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(args.postgres)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        out["postgresql"] = run(make_url(args.postgres).set(database=name).render_as_string(hide_password=False),
                                args.rows, args.rounds, args.requests)
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    out["loadavg_after"] = Path("/proc/loadavg").read_text().strip()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"loadavg before {out['loadavg_before']} after {out['loadavg_after']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
