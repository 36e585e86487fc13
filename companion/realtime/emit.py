"""The one module that emits: turns service Changes into versioned Socket.IO events."""
from __future__ import annotations

from ..extensions import socketio
from ..models import Broadcast, Question
from ..presenters import (broadcast_settings, own_question, prompter_state, public_question,
                          staff_question)
from ..services import desk
from ..services.changes import Change

VIEWER_NS = "/"
STAFF_NS = "/staff"


def room(kind: str, key: str) -> str:
    """Room names: pub:<slug> (audience), mod:<slug> (moderators), prompter:<slug>, viewer:<token>."""
    return f"{kind}:{key}"


def publish(change: Change | None) -> None:
    """Send one committed Change to every screen that should see it."""
    if change is None:
        return
    b = change.broadcast
    settings = broadcast_settings(b) if change.settings else None
    socketio.emit("desk_changed", {"version": b.version, "event": change.event, "settings": settings,
                                   "questions": [staff_question(q) for q in change.questions]},
                  to=room("mod", b.slug), namespace=STAFF_NS)
    if change.public:
        socketio.emit("feed_changed", {"version": b.public_version, "event": change.event, "settings": settings,
                                       "questions": [public_question(q, b) for q in change.questions]},
                      to=room("pub", b.slug), namespace=VIEWER_NS)
    if change.event != "question_submitted":
        publish_prompter(b)
    for q in change.questions:
        if q.viewer_token:
            socketio.emit("my_question_changed", own_question(q), to=room("viewer", q.viewer_token),
                          namespace=VIEWER_NS)


def publish_prompter(broadcast: Broadcast) -> None:
    """Send the teleprompter its current state."""
    on_air, upcoming = desk.prompter_questions(broadcast)
    socketio.emit("prompter_changed", prompter_state(broadcast, on_air, upcoming),
                  to=room("prompter", broadcast.slug), namespace=STAFF_NS)


def publish_votes(broadcast: Broadcast, question: Question) -> None:
    """Send a question's new vote count (absolute, so order and repeats do not matter)."""
    payload = {"id": question.id, "votes": question.votes}
    socketio.emit("votes_changed", payload, to=room("pub", broadcast.slug), namespace=VIEWER_NS)
    socketio.emit("votes_changed", payload, to=room("mod", broadcast.slug), namespace=STAFF_NS)
