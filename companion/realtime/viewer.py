"""Socket handlers for viewers (namespace "/"): no account, a signed cookie token."""
from __future__ import annotations

from flask import request, session
from flask_socketio import join_room

from ..extensions import socketio
from ..models import Channel, Question, utcnow
from ..presenters import broadcast_settings, iso, own_question, public_question
from ..services import desk, intake, limits
from ..services.language import current_language
from ..errors import Forbidden
from ..services.fields import parse_version
from .common import acknowledged, connect_broadcast, current_broadcast, payload
from . import writer
from .emit import VIEWER_NS, room


@socketio.on("connect", namespace=VIEWER_NS)
def viewer_connect(auth=None):
    """Join the broadcast's audience room and the viewer's own room."""
    broadcast = connect_broadcast(auth)
    join_room(room("pub", broadcast.slug))
    token = session.get("viewer")
    if token:
        join_room(room("viewer", token))


@socketio.on("get_snapshot", namespace=VIEWER_NS)
@acknowledged
def viewer_snapshot(data=None):
    """The audience's state now, with this viewer's own questions and votes. A screen that says which
    version it holds (`since`) and is not behind gets the vote counts instead of every question: after
    a process restarts, its thousands of viewers reconnect at once, most of them with nothing missed."""
    broadcast = current_broadcast()
    token = session.get("viewer")
    since = payload(data).get("since")
    state = {"version": broadcast.public_version, "settings": broadcast_settings(broadcast),
             "server_now": iso(utcnow()),
             "mine": [own_question(q) for q in desk.viewer_questions(broadcast, token)],
             "voted": intake.voted_ids(broadcast, token)}
    if isinstance(since, int) and parse_version(since) == broadcast.public_version:  # a number, not "5"
        return {**state, "unchanged": True, "votes": {str(qid): votes for qid, votes in desk.audience_votes(broadcast)}}
    return {**state, "questions": [public_question(q, broadcast) for q in desk.audience_questions(broadcast)]}


@socketio.on("submit_question", namespace=VIEWER_NS)
@acknowledged(queued=True)
def viewer_submit(data=None):
    """Store the question, then acknowledge: the ack is sent only after the commit."""
    broadcast = current_broadcast(recent=True)  # the writer checks "open" and pre-moderation again
    if not broadcast.accepting_questions:
        broadcast = current_broadcast()  # refuse only on the row as it is now
    prepared = intake.prepare_submission(broadcast, payload(data), channel=Channel.WEB,
                                         viewer_token=session.get("viewer"),
                                         default_language=current_language(),
                                         source=limits.source_hash(request.remote_addr))
    if isinstance(prepared, Question):  # a retry of a stored question
        return {"created": False, "question": own_question(prepared)}
    question, created = writer.store(prepared)  # group commit: acknowledged after its batch is committed
    return {"created": created, "question": own_question(question)}


@socketio.on("vote", namespace=VIEWER_NS)
@acknowledged(queued=True)
def viewer_vote(data=None):
    """Upvote (or withdraw the vote on) an audience question."""
    broadcast = current_broadcast(recent=True)  # the writer checks the vote on the row as it is now
    token = session.get("viewer")
    if not token:
        raise Forbidden()
    data = payload(data)
    question = writer.vote(intake.Ballot(broadcast, data.get("question_id"), token, up=data.get("up", True) is not False))
    return {"id": question.id, "votes": question.votes}


@socketio.on("*", namespace=VIEWER_NS)
@acknowledged
def viewer_other(event, data=None):
    """Any other event (e.g. a moderator action) from a viewer's socket is refused and audited."""
    raise Forbidden()
