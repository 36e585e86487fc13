"""The broadcast report at 5,000 questions: the page and the PDF (issue 22's targets: page < 1 s, PDF < 10 s).

    python bench/report.py                              # 5,000 questions, SQLite and PostgreSQL
    python bench/report.py --questions 1000 --db sqlite --rounds 2   # a quick look

Fills a fresh database (migrated by Alembic) with one ended broadcast whose questions went through the
desk as a large rehearsal's do: about 3% answered on air (a third of them with merged askers and a written
answer due), 2% deferred, 5% merged, 8% rejected, 10% never reviewed, the rest approved or queued and not
reached; their appeals spread over departments and officers. Every question is stored through the intake
service (its appeal registered as in production); the desk's outcomes are then written in bulk.

Times whole HTTP requests (the page as opened, with 500 rows of each list, and with ?all=1 every row) through the app (Flask test client: routing, sign-in check, queries, template,
and for the PDF WeasyPrint's layout): `--rounds` of each after a warm-up; prints the median and the
slowest, and writes bench/results/report.json."""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402

from companion import create_app, migrate  # noqa: E402
from companion.config import Config  # noqa: E402
from companion.extensions import db  # noqa: E402
from companion.models import Appeal, Channel, Question, QuestionStatus  # noqa: E402
from companion.services import accounts, broadcasts, intake, moderation  # noqa: E402

PASSWORD = "correct-horse-battery"
S = QuestionStatus
WORDS = ("Когда отремонтируют дорогу на улице Абая", "Қабанбай батыр көшесіндегі аулада жарық жоқ",
         "Почему не вывозят мусор во дворе дома", "Балабақшаға кезек қашан жылжиды",
         "When will the bus route 32 come back", "Отопление в подъезде не работает с октября")


def build(url: str, questions: int) -> tuple:
    cfg = Config.from_env({})
    cfg.DATABASE_URL, cfg.SECRET_KEY, cfg.ASYNC_MODE, cfg.TESTING = url, "bench", "threading", True
    cfg.DISTRICTS = "Almaly|Алмалы;Medeu|Медеу;Bostandyk|Бостандық;Auezov|Әуезов"
    app = create_app(cfg)
    with app.app_context():
        migrate.upgrade()
        broadcasts.seed_demo()
        accounts.create_user("mod", "moderator", PASSWORD)
        officer, _ = accounts.create_user("officer", "officer", PASSWORD)
        b = broadcasts.save_broadcast({"slug": "rehearsal", "title_kk": "Әкіммен кездесу", "title_ru": "Встреча с акимом"})
        moderation.set_broadcast_status(b, "live", actor=None)
        rng = random.Random(22)
        channels = [c.value for c in Channel]
        started = time.perf_counter()
        batch = []
        for n in range(questions):
            named = rng.random() < 0.4
            data = {"text": f"{rng.choice(WORDS)} ({n})", "language": rng.choice(("kk", "ru", "ru", "en")),
                    "district": rng.choice(("Almaly", "Медеу", "Bostandyk", "Әуезов", "", "Somewhere")),
                    "client_id": uuid.uuid4().hex}
            if named:
                data.update(author_name="Айгерим", contact=f"+7701{rng.randrange(10**7):07d}", consent=True)
            batch.append(intake.prepare_submission(b, data, channel=rng.choice(channels), rate_limited=False))
            if len(batch) == 200 or n == questions - 1:
                intake.store_submissions(batch)
                batch = []
        stored = time.perf_counter() - started
        ids = list(db.session.execute(select(Question.id).where(Question.broadcast_id == b.id).order_by(Question.id)).scalars())
        start = b.started_at
        plan = []
        for i, qid in enumerate(ids):
            roll = rng.random()
            status = (S.ANSWERED if roll < .03 else S.DEFERRED if roll < .05 else S.MERGED if roll < .10
                      else S.REJECTED if roll < .18 else S.PENDING if roll < .28 else S.QUEUED if roll < .35 else S.APPROVED)
            plan.append((qid, status))
        answered = [qid for qid, s in plan if s == S.ANSWERED]
        for qid, status in plan:
            values = {"status": status.value, "created_at": start + timedelta(seconds=qid % 3600),
                      "category_id": rng.choice((1, 2, 3, 4, 5, 6, None))}
            if status == S.ANSWERED:
                values.update(aired_at=start + timedelta(seconds=qid % 3600 + rng.randrange(60, 3000)),
                              asker_count=rng.choice((1, 1, 2, 5)), votes=rng.randrange(0, 80))
            if status == S.MERGED:
                values["merged_into_id"] = rng.choice(answered)
            if status == S.REJECTED:
                values["reject_ground"] = rng.choice(("spam", "abuse", "no_essence", "not_for_broadcast"))
            db.session.execute(update(Question).where(Question.id == qid).values(**values))
        for appeal_id, qid in db.session.execute(select(Appeal.id, Appeal.question_id).where(Appeal.broadcast_id == b.id)):
            if rng.random() < .5:
                db.session.execute(update(Appeal).where(Appeal.id == appeal_id).values(
                    status="assigned", department_id=rng.randrange(1, 7), officer_id=officer.id if rng.random() < .3 else None))
        b.status, b.ended_at, b.peak_viewers, b.peak_viewers_at = "ended", start + timedelta(hours=1), 2314, start
        db.session.commit()
        db.session.remove()
    return app, stored


def timed(client, path: str, rounds: int) -> dict:
    response = client.get(path)  # warm-up: templates compiled, fonts loaded
    assert response.status_code == 200, (path, response.status_code)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3), "bytes": len(response.data)}


def run(db_kind: str, questions: int, rounds: int) -> dict:
    if db_kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='report-bench-')}/bench.db"
        drop = None
    else:
        import psycopg2
        base = "postgresql://postgres@127.0.0.1:5432"
        name = f"report_bench_{uuid.uuid4().hex[:8]}"
        conn = psycopg2.connect(base + "/test")
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
        url = f"{base}/{name}"

        def drop():
            with app.app_context():
                db.engine.dispose()
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    app, stored = build(url, questions)
    try:
        client = app.test_client()
        html = client.get("/login").get_data(as_text=True)
        import re
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        assert client.post("/login", data={"username": "mod", "password": PASSWORD, "csrf_token": token}).status_code == 302
        result = {"db": db_kind, "questions": questions, "stored_s": round(stored, 1),
                  "page": timed(client, "/broadcasts/rehearsal/report?lang=ru", rounds),
                  "page_all": timed(client, "/broadcasts/rehearsal/report?lang=ru&all=1", rounds),
                  "pdf": timed(client, "/broadcasts/rehearsal/report.pdf?lang=kk", rounds),
                  "xlsx": timed(client, "/broadcasts/rehearsal/report.xlsx?lang=ru", rounds)}
        with app.app_context():
            from pypdf import PdfReader
            import io
            pages = len(PdfReader(io.BytesIO(client.get("/broadcasts/rehearsal/report.pdf?lang=kk").data)).pages)
            result["pdf"]["pages"] = pages
        return result
    finally:
        if drop:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=5000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = []
    for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        result = run(kind, args.questions, args.rounds)
        print(json.dumps(result))
        results.append(result)
    out = ROOT / "bench" / "results" / "report.json"
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
