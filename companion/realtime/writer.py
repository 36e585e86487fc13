"""Group commit of the viewers' questions: one transaction, one durable commit, for every question
that arrived while the previous batch was being written.

A serving process runs `group_committer` as a background task. A handler hands its validated
Submission to the queue and waits; the writer takes everything queued (at most BATCH_MAX), stores
it with one flush per table, one version bump and one commit (one fsync on SQLite), publishes one
`desk_changed` for the batch, and only then wakes each handler to acknowledge: every acknowledged
question is committed, and durability costs one fsync per batch instead of one per question.
There is no timer: an idle desk writes a lone question at once, a busy one batches by itself.

Without the task (tests, the CLI) `store` writes the submission in the caller's own transaction
through the same code.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import replace

from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Broadcast, Question
from ..services import intake
from ..services.database import Unavailable, resilient
from ..services.errors import ServiceError
from .emit import publish

BATCH_MAX = 200
WAIT_SECONDS = 30.0  # beyond the database's own lock retries: then the sender is told to retry
log = logging.getLogger(__name__)

# The serving process's queue of waiting submissions (None: write in the caller's transaction).
_writer: dict[str, queue.Queue | None] = {"queue": None}


class _Job:
    __slots__ = ("submission", "broadcast_id", "done", "outcome")

    def __init__(self, submission: intake.Submission):
        self.submission = submission
        self.broadcast_id = submission.broadcast.id
        self.done = threading.Event()  # green under eventlet/gevent (the standard library is patched)
        self.outcome: tuple[Question, bool] | ServiceError = Unavailable()


@resilient
def _store(submissions: list[intake.Submission]):
    """Store a batch; if another process stored one of its client_ids meanwhile, store them one by one."""
    try:
        return intake.store_submissions(submissions)
    except IntegrityError:
        db.session.rollback()
    outcomes, changes = [], []
    for submission in submissions:
        try:
            question, change = intake.store_one(submission)
        except ServiceError as exc:
            outcomes.append(exc)
            continue
        outcomes.append((question, change is not None))
        changes += [change] if change else []
    return outcomes, changes


def store(submission: intake.Submission) -> tuple[Question, bool]:
    """Store a viewer's question durably and publish it; (question, created) or raise its refusal."""
    jobs = _writer["queue"]
    if jobs is None:
        (outcome,), changes = _store([submission])
        for change in changes:
            publish(change)
    else:
        job = _Job(submission)
        db.session.close()  # give the connection back while waiting (the writer uses its own)
        jobs.put(job)
        if not job.done.wait(WAIT_SECONDS):
            raise Unavailable()
        outcome = job.outcome
    if isinstance(outcome, ServiceError):
        raise outcome
    return outcome


def write_batch(jobs: list[_Job]) -> None:
    """Store, publish and wake a batch of jobs (inside an app context)."""
    session = db.session()
    session.expire_on_commit = False  # the writer made every value: publishing needs no reload
    try:
        broadcasts = {bid: db.session.get(Broadcast, bid) for bid in {job.broadcast_id for job in jobs}}
        outcomes, changes = _store([replace(job.submission, broadcast=broadcasts[job.broadcast_id]) for job in jobs])
        for job, outcome in zip(jobs, outcomes):
            job.outcome = outcome
        for change in changes:
            publish(change)
    except ServiceError as exc:  # the database is unavailable: every sender is told to retry
        for job in jobs:
            job.outcome = exc
    except Exception as exc:  # never let the writer die: the senders retry; only the error's type is logged
        # (a database error's message would carry the questions' text and contacts)
        log.error("group commit of %d questions failed: %s", len(jobs), type(exc).__name__)
        db.session.rollback()
    finally:
        for job in jobs:
            job.done.set()


def group_committer(app) -> None:
    """Background task of a serving process: write the queued questions, a batch at a time."""
    jobs: queue.Queue = queue.Queue()
    _writer["queue"] = jobs
    while True:
        batch = [jobs.get()]
        while len(batch) < BATCH_MAX:
            try:
                batch.append(jobs.get_nowait())
            except queue.Empty:
                break
        with app.app_context():
            write_batch(batch)
