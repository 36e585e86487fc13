"""Back office at scale: a million appeals, the first filtered page and the public roadmap.

    python bench/appeals.py                       # 1,000,000 rows, PostgreSQL and SQLite
    python bench/appeals.py --rows 20000 --db sqlite --rounds 1 --requests 10   # a quick look

Fills a fresh database (migrated by Alembic, as in production) with generated appeals spread
over three years (80% finished, the rest open, some overdue), then times whole HTTP requests
through the app (Flask test client: routing, login check, queries, template) for:

  - the back office's first page for several filters (admin, an officer's department, overdue,
    status + category, text search), sorted by due date, with the capped match count;
  - /roadmap served from its cache (the normal case) and the cold recount behind it;
  - /healthz, measured in the same run as the baseline that the ratios are given against.

Each scenario: `--rounds` rounds of `--requests` requests after a warm-up; reported are the
median of the rounds' p95 with its min and max. Writes bench/results/appeals.json.
Targets (issue 3): first page and roadmap p95 < 100 ms on PostgreSQL, < 300 ms on SQLite.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from companion import create_app, migrate  # noqa: E402
from companion.config import Config  # noqa: E402
from companion.extensions import db  # noqa: E402
from companion.services import accounts, broadcasts  # noqa: E402

PASSWORD = "bench-password-1"
STATUSES = ["closed"] * 60 + ["answered"] * 10 + ["forwarded"] * 3 + ["left_without_consideration"] * 2 + \
    ["answered_on_air"] * 5 + ["registered"] * 5 + ["assigned"] * 5 + ["in_progress"] * 7 + ["extended"] * 3
DISTRICTS = ["Almaly", "Auezov", "Bostandyk", "Zhetysu", "Medeu", "Nauryzbay", "Turksib", "Alatau",
             "Samal", "Orbita", "Aksai", "Shanyrak"]

# One INSERT ... SELECT over a numbers source: x is 0 .. rows-1. The expressions are chosen to give
# realistic spreads (statuses by the weights above, 6 departments/categories, 12 districts,
# received over the last three years, due 21 days later, open ones due from 30 days ago on).
COLUMNS = ("tracking_code, channel, language, text, author_name, district, address, contact, category_id, "
           "department_id, status, follow_up, clock_running, received_at, due_date, original_due_date, forward_due_date, "
           "extension_reason, forwarded_to, answer, answered_at, days_to_answer, answered_on_time, updated_at, version")


def _status_case(x: str) -> str:
    cases, start = [], 0
    for status in dict.fromkeys(STATUSES):
        n = STATUSES.count(status)
        cases.append(f"WHEN ({x} % 100) < {start + n} THEN '{status}'")
        start += n
    return "CASE " + " ".join(cases) + " END"


def fill_postgres(rows: int) -> None:
    status = _status_case("x")
    received = "(now() - ((x % 1095) || ' days')::interval - ((x % 86400) || ' seconds')::interval)"
    is_open = f"(({status}) IN ('registered','assigned','in_progress','extended'))"
    due = f"(CASE WHEN {is_open} THEN (current_date - 30 + (x % 60)) ELSE ({received})::date + 21 END)"
    db.session.execute(text(f"""
        INSERT INTO appeal ({COLUMNS})
        SELECT 'BEN-' || x, (ARRAY['web','phone','api','open311'])[1 + x % 4], (ARRAY['kk','ru','en'])[1 + x % 3],
               'Appeal number ' || x || ' about ' || (ARRAY['roads','heating','lighting','schools','clinics','benefits'])[1 + x % 6],
               '', (ARRAY{DISTRICTS!r})[1 + x % 12], '', '', 1 + x % 6, 1 + (x / 7) % 6, {status}, false, {is_open},
               {received}, {due}, {due}, ({received})::date + 3, '', '',
               CASE WHEN NOT {is_open} THEN 'Answer ' || x ELSE '' END,
               CASE WHEN NOT {is_open} THEN {received} + interval '9 days' END,
               CASE WHEN NOT {is_open} THEN 5 + x % 20 END,
               CASE WHEN NOT {is_open} THEN (x % 10) <> 0 END,
               {received}, 1
        FROM generate_series(0, {rows - 1}) AS x"""))
    db.session.commit()
    db.session.execute(text("ANALYZE appeal"))
    db.session.commit()


def fill_sqlite(rows: int) -> None:
    status = _status_case("x")
    received = "datetime('now', '-' || (x % 1095) || ' days', '-' || (x % 86400) || ' seconds')"
    is_open = f"(({status}) IN ('registered','assigned','in_progress','extended'))"
    due = f"(CASE WHEN {is_open} THEN date('now', '-30 days', '+' || (x % 60) || ' days') ELSE date({received}, '+21 days') END)"
    pick = lambda values, n: "CASE x % {} {} END".format(n, " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values)))  # noqa: E731
    db.session.execute(text(f"""
        WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < {rows - 1})
        INSERT INTO appeal ({COLUMNS})
        SELECT 'BEN-' || x, {pick(['web', 'phone', 'api', 'open311'], 4)}, {pick(['kk', 'ru', 'en'], 3)},
               'Appeal number ' || x || ' about ' || {pick(['roads', 'heating', 'lighting', 'schools', 'clinics', 'benefits'], 6)},
               '', {pick(DISTRICTS, 12)}, '', '', 1 + x % 6, 1 + (x / 7) % 6, {status}, 0, CASE WHEN {is_open} THEN 1 ELSE 0 END,
               {received} || '.000000', {due}, {due}, date({received}, '+3 days'), '', '',
               CASE WHEN NOT {is_open} THEN 'Answer ' || x ELSE '' END,
               CASE WHEN NOT {is_open} THEN datetime({received}, '+9 days') || '.000000' END,
               CASE WHEN NOT {is_open} THEN 5 + x % 20 END,
               CASE WHEN NOT {is_open} THEN (x % 10) <> 0 END,
               {received} || '.000000', 1
        FROM n"""))
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def timed(client, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def summary(rounds: list[list[float]]) -> dict:
    p95s = [p95(r) for r in rounds]
    return {"p95_ms": round(statistics.median(p95s), 2), "p95_min_ms": round(min(p95s), 2),
            "p95_max_ms": round(max(p95s), 2), "p50_ms": round(statistics.median([statistics.median(r) for r in rounds]), 2)}


def run(url: str, label: str, rows: int, rounds: int, requests: int) -> dict:
    cfg = Config.from_env({})
    cfg.DATABASE_URL, cfg.SECRET_KEY, cfg.ASYNC_MODE, cfg.TESTING = url, "bench", "threading", True
    cfg.WTF_CSRF_ENABLED = False
    app = create_app(cfg)
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        migrate.upgrade()
        broadcasts.seed_demo()
        accounts.create_user("admin", "admin", PASSWORD)
        accounts.create_user("officer", "officer", PASSWORD, department_id=3)
        t0 = time.perf_counter()
        (fill_postgres if label == "postgresql" else fill_sqlite)(rows)
        fill_s = time.perf_counter() - t0
        count = db.session.execute(text("SELECT count(*) FROM appeal")).scalar_one()
        db.session.remove()
    print(f"[{label}] {count:,} appeals in {fill_s:.1f} s", flush=True)

    clients = {}
    for user in ("admin", "officer"):
        client = app.test_client()
        r = client.post("/login", data={"username": user, "password": PASSWORD})
        assert r.status_code == 302, r.status_code
        clients[user] = client
    public = app.test_client()
    scenarios = {
        "first_page_admin": ("admin", "/appeals"),
        "first_page_officer_department": ("officer", "/appeals"),
        "first_page_overdue": ("admin", "/appeals?overdue=1"),
        "first_page_status_category": ("admin", "/appeals?status=in_progress&category_id=2"),
        "first_page_text_search": ("admin", "/appeals?q=heating"),
        "tenth_page_admin": ("admin", None),  # filled below: keyset marker of page 10
    }
    # find page 10's marker by walking the pages
    import re
    url10 = "/appeals"
    for _ in range(9):
        html = clients["admin"].get(url10).get_data(as_text=True)
        url10 = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    scenarios["tenth_page_admin"] = ("admin", url10)

    results: dict = {"rows": count, "fill_seconds": round(fill_s, 1)}
    timed(public, "/healthz", 10)
    results["baseline_healthz"] = summary([timed(public, "/healthz", requests) for _ in range(rounds)])
    for name, (user, path) in scenarios.items():
        timed(clients[user], path, 3)
        results[name] = summary([timed(clients[user], path, requests) for _ in range(rounds)])
        print(f"[{label}] {name}: {results[name]}", flush=True)
    with app.app_context():
        from companion.services import reports
        cold = []
        for _ in range(max(rounds, 3)):
            t0 = time.perf_counter()
            reports.compute_roadmap()
            cold.append((time.perf_counter() - t0) * 1000)
        results["roadmap_recount_ms"] = {"median": round(statistics.median(cold), 1), "min": round(min(cold), 1),
                                         "max": round(max(cold), 1)}
    public.get("/roadmap")  # fills the cache
    results["roadmap_cached"] = summary([timed(public, "/roadmap", requests) for _ in range(rounds)])
    print(f"[{label}] roadmap: cached {results['roadmap_cached']}, recount {results['roadmap_recount_ms']}", flush=True)
    base = results["baseline_healthz"]["p95_ms"]
    for key, value in list(results.items()):
        if isinstance(value, dict) and "p95_ms" in value and key != "baseline_healthz":
            value["ratio_to_healthz"] = round(value["p95_ms"] / base, 1)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--postgres", default=os.environ.get("COMPANION_TEST_POSTGRES_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "appeals.json"))
    args = parser.parse_args()
    out: dict = {"rows": args.rows, "rounds": args.rounds, "requests_per_round": args.requests,
                 "machine": f"{os.cpu_count()} cores", "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if args.db in ("postgresql", "both"):
        import psycopg2
        from sqlalchemy.engine import make_url
        name = f"companion_bench_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(args.postgres)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        try:
            out["postgresql"] = run(make_url(args.postgres).set(database=name).render_as_string(hide_password=False),
                                    "postgresql", args.rows, args.rounds, args.requests)
        finally:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            out["sqlite"] = run(f"sqlite:///{folder}/bench.db", "sqlite", args.rows, args.rounds, args.requests)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
