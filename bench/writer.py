"""The group-commit writer's own cost per question, inside one process (no sockets): batches of 50 viewers'
questions through `writer.write_batch`, as the serving process stores them, on a seeded SQLite file.

    python bench/writer.py                      # 8,000 questions; writes bench/results/writer.json
    python bench/writer.py --questions 2000     # a quick look
    python bench/writer.py --against <folder>   # also time another checkout (e.g. a git worktree of an
                                                # older commit), interleaved run by run with this one

The baseline, measured in the same run: the same number of rows written by the standard library's sqlite3
(one executemany of the question's columns and one commit per batch, on the same kind of file), so the ratio
says how far above the database's own cost the writer's Python is. With --against, each checkout runs in
its own interpreter, alternately, `--runs` times: on a shared machine only paired runs compare.
Reported: the median milliseconds per question over the batches, and its last quarter (the lookups that
grow with the broadcast show there).
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 50


def measure(root: Path, questions: int) -> dict:
    """Run in this interpreter with `root` first on the path: the writer's ms per question."""
    sys.path.insert(0, str(root))
    from companion import create_app
    from companion.extensions import db
    from companion.models import Broadcast, Channel
    from companion.realtime import writer
    from companion.services import intake, limits
    from companion.testing.setup import seed, test_config

    tmp = Path(tempfile.mkdtemp())
    app = create_app(test_config(tmp, QUESTIONS_PER_MINUTE_PER_ADDRESS=10**9, DEFAULT_LOCALE="ru"))
    seed(app)
    per_question = []
    with app.app_context():
        broadcast_id = db.session.query(Broadcast.id).filter_by(slug="demo").scalar()
        source = limits.source_hash("10.0.0.1")  # one carrier's address for everyone, as on a phone network
        for b in range(questions // BATCH):
            broadcast = db.session.get(Broadcast, broadcast_id)
            items = [intake.prepare_submission(broadcast, {"text": f"Когда дадут отопление в доме {b}-{i}?",
                                                           "client_id": f"w-{b:05d}-{i:03d}"},
                                               channel=Channel.WEB, viewer_token=f"tok{b:05d}{i:03d}",
                                               default_language="ru", source=source) for i in range(BATCH)]
            db.session.close()
            jobs = [writer._Job(item) for item in items]
            started = time.perf_counter()
            writer.write_batch(jobs)
            per_question.append((time.perf_counter() - started) / BATCH * 1000)
            assert all(isinstance(job.outcome, tuple) and job.outcome[1] for job in jobs), jobs[0].outcome
            db.session.remove()
    quarter = per_question[-max(1, len(per_question) // 4):]
    return {"ms_per_question": round(statistics.median(per_question), 3),
            "last_quarter_ms": round(statistics.median(quarter), 3)}


def baseline(questions: int) -> dict:
    """The same rows through sqlite3 alone: one executemany and one commit per batch (WAL, synchronous=FULL)."""
    path = Path(tempfile.mkdtemp()) / "raw.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, broadcast_id INT, client_scope TEXT, client_id TEXT, text TEXT,"
                " created_at TEXT, UNIQUE (broadcast_id, client_scope, client_id))")
    per_question = []
    for b in range(questions // BATCH):
        rows = [(1, f"v:tok{b:05d}{i:03d}", f"w-{b:05d}-{i:03d}", f"Когда дадут отопление в доме {b}-{i}?",
                 "2026-12-03 12:00:00") for i in range(BATCH)]
        started = time.perf_counter()
        con.execute("BEGIN")
        con.executemany("INSERT INTO q (broadcast_id, client_scope, client_id, text, created_at) VALUES (?, ?, ?, ?, ?)", rows)
        con.execute("COMMIT")
        per_question.append((time.perf_counter() - started) / BATCH * 1000)
    return {"ms_per_question": round(statistics.median(per_question), 3)}


def child(root: Path, questions: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(root), "--questions", str(questions)],
                         capture_output=True, text=True, check=True, cwd=root, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=8000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout to time, run by run with this one")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "writer.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.questions)))
        return
    runs = []
    for _ in range(args.runs):
        run = {"ours": child(ROOT, args.questions), "sqlite3": baseline(args.questions)}
        if args.against:
            run["against"] = child(args.against.resolve(), args.questions)
        runs.append(run)
        print(json.dumps(run), flush=True)
    result = {"questions": args.questions, "batch": BATCH, "runs": runs, "load": os.getloadavg()[0],
              "ratio_to_sqlite3": round(statistics.median(r["ours"]["ms_per_question"] / r["sqlite3"]["ms_per_question"]
                                                          for r in runs), 2)}
    if args.against:
        result["against"] = str(args.against)
        result["ratio_to_against"] = round(statistics.median(r["ours"]["ms_per_question"] / r["against"]["ms_per_question"]
                                                             for r in runs), 2)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))


if __name__ == "__main__":
    main()
