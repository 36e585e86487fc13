"""Group commit of the viewers' questions and votes: everything that arrived while the previous batch
was written (and in one more turn of the loop) is stored in one transaction with one durable commit,
published once, and each sender acknowledged once it is on disk. Without the task (tests, the CLI)
`store` writes in the caller's own transaction through the same code. Design: docs/realtime.md,
"Group commit of questions and votes"."""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import replace

from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from ..durability import deferred
from ..extensions import db, socketio
from ..models import Broadcast, Question
from ..services import intake
from ..services.database import Unavailable, kept_on_commit, resilient
from ..errors import ServiceError, ValidationError
from .emit import publish, publish_votes
from ..runtime import runtime

BATCH_MAX = 200
WAIT_SECONDS = 30.0  # beyond the database's own lock retries: then the sender is told to retry
log = logging.getLogger(__name__)

# The serving process's queue of waiting submissions (None: write in the caller's transaction).


class _Job:
    __slots__ = ("item", "broadcast_id", "done", "outcome")

    def __init__(self, item: intake.Submission | intake.Ballot):
        self.item = item
        self.broadcast_id = item.broadcast.id
        self.done = threading.Event()  # green under eventlet/gevent (the standard library is patched)
        self.outcome: object = None  # set by write_batch


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


@resilient
def _store_votes(ballots: list[intake.Ballot]):
    return intake.store_votes(ballots)


def _publish_changes(changes) -> None:
    for change in changes:
        publish(change)


def _publish_counts(voted: list[Question]) -> None:
    for question in voted:
        publish_votes(question.broadcast, question)


# What the writer does with each kind of item: store a batch of them, then publish what changed.
_KINDS = ((intake.Submission, _store, _publish_changes), (intake.Ballot, _store_votes, _publish_counts))


def _run(item: intake.Submission | intake.Ballot):
    """Store one item: in the writer's next batch when it runs, else in the caller's own transaction."""
    jobs = runtime().writer
    if jobs is None:  # errors propagate to the caller, as for any other write
        store_all, publish_all = next((store_all, publish_all) for kind, store_all, publish_all in _KINDS
                                      if isinstance(item, kind))
        (outcome,), changed = store_all([item])
        publish_all(changed)
    else:
        job = _Job(item)
        db.session.close()  # give the connection back while waiting (the writer uses its own)
        jobs.put(job)
        if not job.done.wait(WAIT_SECONDS):
            raise Unavailable()
        outcome = job.outcome
    if isinstance(outcome, ServiceError):
        raise outcome
    return outcome


def store(submission: intake.Submission) -> tuple[Question, bool]:
    """Store a viewer's question durably and publish it; (question, created) or raise its refusal."""
    return _run(submission)


def vote(ballot: intake.Ballot) -> Question:
    """Store a viewer's vote durably and publish the new count; the question, or raise the refusal."""
    return _run(ballot)


def write_batch(jobs: list[_Job]) -> None:
    """Store, publish and wake a batch of jobs (inside an app context): questions, then votes.

    A job's outcome is what its sender is told: (question, created), the question voted on, or
    the refusal. If the database fails, the jobs with no outcome yet get Unavailable (retry);
    an item already stored or refused in this batch keeps its answer. If the batch fails for any
    other reason (an item the driver cannot store), its items are written one by one, so only the
    bad one is refused (`invalid`: sending it again cannot help).
    """
    try:
        # the writer made every value: publishing needs no reload; published once committed, the
        # senders woken once it is on disk
        with kept_on_commit(), deferred():
            broadcasts = {bid: db.session.get(Broadcast, bid) for bid in {job.broadcast_id for job in jobs}}
            for kind, store_all, publish_all in _KINDS:
                mine = [job for job in jobs if isinstance(job.item, kind)]
                if mine:
                    outcomes, changed = store_all([replace(job.item, broadcast=broadcasts[job.broadcast_id])
                                                   for job in mine])
                    for job, outcome in zip(mine, outcomes):
                        job.outcome = outcome
                    publish_all(changed)
    except OSError as exc:  # the log could not be synced: what was stored may not be on disk
        log.error("group commit of %d items: the log's sync failed: %s", len(jobs), type(exc).__name__)
        for job in jobs:
            job.outcome = Unavailable()
    except Exception as exc:  # never let the writer die: the senders are told to retry
        cause = exc.__cause__ if isinstance(exc, Unavailable) and exc.__cause__ else exc
        if cause is not exc or not isinstance(exc, ServiceError):  # only the error's type is logged (a
            # database error's message would carry the questions' text and contacts)
            log.error("group commit of %d items failed: %s", len(jobs), type(cause).__name__)
            db.session.rollback()
        pending = [job for job in jobs if job.outcome is None]
        if not isinstance(cause, (OperationalError, ServiceError)):  # not the database's outage: an item's fault
            if len(pending) > 1:  # one bad item must not fail the others: each is tried on its own
                for job in pending:
                    write_batch([job])
                return
            exc = _refusal(cause)
        elif not isinstance(exc, ServiceError):
            exc = Unavailable()
        for job in pending:
            job.outcome = exc
    finally:
        for job in jobs:
            job.done.set()


def _refusal(exc: Exception) -> ServiceError:
    """What the sender of an item the database would not take is told: `invalid` when the item
    itself was at fault (a value the driver cannot encode: retrying cannot help), else `unavailable`."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(exc, DataError) or isinstance(cause, (ValueError, UnicodeError, OverflowError)):
        return ValidationError()
    return Unavailable()


def group_committer(app) -> None:
    """Background task of a serving process: write the queued questions, a batch at a time."""
    jobs: queue.Queue = queue.Queue()
    runtime(app).writer = jobs
    while True:
        batch = [jobs.get()]
        # One turn of the loop before taking the batch, so the events already read from the network
        # join it: batches of a few questions each kept the process busy with their fixed cost.
        socketio.sleep(0)
        while len(batch) < BATCH_MAX:
            try:
                batch.append(jobs.get_nowait())
            except queue.Empty:
                break
        with app.app_context():
            write_batch(batch)
