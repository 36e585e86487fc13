"""What other processes of this office tell the serving process: a change to show on the screens.

Without the Redis message queue (the embedded default: one machine, no other service), the channels
process (`python -m companion channels`) cannot emit to the server's sockets; it posts the ids of the
questions it stored here instead, signed with the app's SECRET_KEY, and the server publishes them
as its own change. With the message queue it emits through Redis and never calls this."""
from __future__ import annotations

import hashlib
import hmac
import json

from flask import Blueprint, abort, current_app, request
from sqlalchemy import select

from ..extensions import db
from ..models import Broadcast, Question, QuestionStatus
from ..realtime.emit import publish
from ..permissions import audience_sees
from ..services.changes import Change
from ..services.fields import parse_id

bp = Blueprint("internal", __name__, url_prefix="/internal")
SIGNATURE_HEADER = "X-Companion-Signature"
MAX_QUESTIONS = 500


def signature(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of the raw body with the app's secret key."""
    return hmac.new(secret.encode(), b"internal-changed\0" + body, hashlib.sha256).hexdigest()  # this use only


@bp.post("/changed")
def changed():
    """Publish questions another process stored: 204, or 403 for a wrong signature, 400 for a bad body."""
    body = request.get_data(cache=False)
    given = request.headers.get(SIGNATURE_HEADER, "").encode("latin-1", "replace")
    expected = signature(current_app.config["SECRET_KEY"], body).encode()
    if len(body) > 64_000 or not hmac.compare_digest(given, expected):
        abort(403)
    try:
        data = json.loads(body)
        slug, ids, event = data["broadcast"], data["questions"], data.get("event") or "question_submitted"
        assert isinstance(slug, str) and isinstance(event, str) and isinstance(ids, list) and len(ids) <= MAX_QUESTIONS
        ids = [parse_id(i) for i in ids]
        assert None not in ids
        before = data.get("before") or {}  # the statuses the questions had (the desk's counts)
        assert isinstance(before, dict) and all(v in set(QuestionStatus) for v in before.values())
        before = {parse_id(k): v for k, v in before.items()}
    except (ValueError, KeyError, TypeError, AssertionError):
        abort(400)
    broadcast = db.session.execute(select(Broadcast).where(Broadcast.slug == slug)).scalar_one_or_none()
    if broadcast is None:
        abort(400)
    questions = list(db.session.execute(select(Question).where(
        Question.id.in_(ids), Question.broadcast_id == broadcast.id)).scalars())
    change = Change(event=event[:40], broadcast=broadcast)
    change.questions.extend(questions)
    change.before = {k: v for k, v in before.items() if k is not None}
    change.public = any(audience_sees(q, broadcast) for q in questions)
    if questions:
        publish(change)
    return "", 204
