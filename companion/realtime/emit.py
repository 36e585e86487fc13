"""The one module that emits: turns service Changes into versioned Socket.IO events."""
from __future__ import annotations

import queue

from ..extensions import socketio
from ..models import Broadcast, Question
from ..presenters import (backstage_state, broadcast_settings, own_question, prompter_state, public_question,
                          staff_question)
from ..services import backstage, desk
from ..services.changes import Change
from ..runtime import runtime

VIEWER_NS = "/"
STAFF_NS = "/staff"


def room(kind: str, key: str) -> str:
    """Room names: pub:<slug> (audience), mod:<slug> (moderators), prompter:<slug>, viewer:<token>."""
    return f"{kind}:{key}"


def publish(change: Change | None) -> None:
    """Send one committed Change to every screen that should see it."""
    if change is None:
        return
    desk.reload_changed(change.questions)
    b = change.broadcast
    settings = broadcast_settings(b) if change.settings else None
    desk_event = {"version": b.version, "event": change.event, "settings": settings,
                  "questions": [_with_before(staff_question(q), change) for q in change.questions]}
    if change.backstage:
        desk_event["backstage"] = backstage_state(b, backstage.latest_message(b))
    socketio.emit("desk_changed", desk_event, to=room("mod", b.slug), namespace=STAFF_NS)
    # the studio's few screens first: each recipient's packet is queued in this order, so the
    # teleprompter would otherwise wait behind the whole audience's fan-out
    if change.event != "question_submitted":
        publish_prompter(b)
    if change.public:
        to_audience("feed_changed", {"version": b.public_version, "event": change.event, "settings": settings,
                                     "questions": [public_question(q, b) for q in change.questions]}, room("pub", b.slug))
    for q in change.questions:
        if q.viewer_token:
            to_audience("my_question_changed", own_question(q), room("viewer", q.viewer_token))


def _with_before(payload: dict, change: Change) -> dict:
    """A desk's question with the status it had before the change (None: new to the desk), from which the
    desk keeps its columns' counts whether or not it holds the question."""
    payload["was"] = change.before.get(payload["id"]) if change.event == "question_submitted" else \
        change.before.get(payload["id"], payload["status"])
    return payload


def to_audience(event: str, payload: dict, to: str) -> None:
    """Send an event to viewers (namespace "/"): through the outbox when the sender task runs.

    The payload is made now, from the committed state; one task sends the outbox in order, so
    viewers get events in commit order while the handler that queued them returns at once: a
    moderator's action reaches the teleprompter and the moderators without waiting for the
    fan-out to thousands of viewers (as it does across processes through the message queue)."""
    outbox = runtime().audience  # None: emit at once, as in tests and the CLI
    if outbox is None:
        socketio.emit(event, payload, to=to, namespace=VIEWER_NS)
    else:
        outbox.put((event, payload, to))


def audience_sender(app) -> None:
    """Background task of a serving process: send the audience outbox, in order."""
    outbox: queue.Queue = queue.Queue()
    runtime(app).audience = outbox
    while True:
        event, payload, to = outbox.get()
        socketio.emit(event, payload, to=to, namespace=VIEWER_NS)


def publish_prompter(broadcast: Broadcast) -> None:
    """Send the teleprompter its current state."""
    on_air, upcoming = desk.prompter_questions(broadcast)
    socketio.emit("prompter_changed", prompter_state(broadcast, on_air, upcoming, backstage.latest_message(broadcast)),
                  to=room("prompter", broadcast.slug), namespace=STAFF_NS)


VOTE_FLUSH_SECONDS = 0.25
# Vote counts waiting for the next flush: {slug: {question id: votes}}. This is an outbox of the
# emitter, not screen state (the counts live in the database); a serving process empties it four
# times a second, so a thousand votes a second become at most four broadcasts per broadcast.


def publish_votes(broadcast: Broadcast, question: Question) -> None:
    """Send a question's new vote count: at once, or coalesced when the flusher runs."""
    state = runtime()
    if state.coalescing_votes:
        state.pending_votes.setdefault(broadcast.slug, {})[question.id] = question.votes
    else:
        _emit_votes(broadcast.slug, {question.id: question.votes})


def _emit_votes(slug: str, counts: dict[int, int]) -> None:
    payload = {"votes": {str(qid): votes for qid, votes in counts.items()}}  # absolute counts: order is moot
    to_audience("votes_changed", payload, room("pub", slug))
    socketio.emit("votes_changed", payload, to=room("mod", slug), namespace=STAFF_NS)


def flush_votes() -> int:
    """Send every pending count, one event per broadcast; returns how many events went out."""
    state = runtime()
    pending, state.pending_votes = state.pending_votes, {}
    for slug, counts in pending.items():
        _emit_votes(slug, counts)
    return len(pending)


def vote_flusher(app) -> None:
    """Background task of a serving process: coalesce vote updates (at most 4 a second)."""
    runtime(app).coalescing_votes = True
    while True:
        socketio.sleep(VOTE_FLUSH_SECONDS)
        with app.app_context():  # the counts go through the audience outbox, this app's
            flush_votes()
