"""Read models of the live desk: what each screen loads as its snapshot."""
from __future__ import annotations

import functools

from sqlalchemy import bindparam, case, inspect, select
from sqlalchemy.orm import joinedload, selectinload

from ..extensions import db
from ..permissions import audience_questions as _audience
from ..models import Broadcast, Category, Question, QuestionStatus

S = QuestionStatus


def all_questions(broadcast: Broadcast) -> list[Question]:
    """Every question of the broadcast, oldest first (the moderator's snapshot)."""
    return list(db.session.execute(select(Question).where(Question.broadcast_id == broadcast.id)
                                   .options(selectinload(Question.appeal)).order_by(Question.id)).scalars())


def reload_changed(questions: list[Question]) -> None:
    """Load again, in one query, what a commit expired of these questions, their appeals and their
    broadcast, before the screens' payloads read them: otherwise each object reloads on its first
    read, one query apiece, between a moderator's action and the audience hearing of it."""
    ids = [inspect(q).identity[0] for q in questions if inspect(q).expired_attributes]
    if ids:
        db.session.execute(select(Question).where(Question.id.in_(ids))
                           .options(joinedload(Question.appeal), joinedload(Question.broadcast))
                           .execution_options(populate_existing=True)).scalars().all()


# The viewers' statements, built once (a reconnect storm runs them thousands of times a second; building
# a statement and its cache key cost more than running it). Keyed by the broadcast's public_feed setting.
_AUDIENCE_QUESTIONS = {feed: _audience(select(Question), feed).order_by(Question.id) for feed in (True, False)}
_AUDIENCE_VOTES = {feed: _audience(select(Question.id, Question.votes), feed) for feed in (True, False)}


@functools.cache
def _viewer_questions():  # built on first use: Question.appeal exists once every model is imported
    return (select(Question).where(Question.broadcast_id == bindparam("broadcast_id"),
                                   Question.viewer_token == bindparam("token"))
            .options(joinedload(Question.appeal)).order_by(Question.id.desc()))


def audience_questions(broadcast: Broadcast) -> list[Question]:
    """The questions viewers may see now."""
    return list(db.session.execute(_AUDIENCE_QUESTIONS[bool(broadcast.public_feed)],
                                   {"broadcast_id": broadcast.id}).scalars())


def audience_votes(broadcast: Broadcast) -> list[tuple[int, int]]:
    """(id, votes) of the questions viewers may see now: what a screen that missed nothing else needs."""
    return [tuple(row) for row in db.session.execute(_AUDIENCE_VOTES[bool(broadcast.public_feed)],
                                                     {"broadcast_id": broadcast.id})]


def viewer_questions(broadcast: Broadcast, viewer_token: str | None) -> list[Question]:
    """The questions this viewer asked, newest first."""
    if not viewer_token:
        return []
    return list(db.session.execute(_viewer_questions(), {"broadcast_id": broadcast.id, "token": viewer_token}).scalars())


def prompter_questions(broadcast: Broadcast, upcoming: int = 2) -> tuple[Question | None, list[Question]]:
    """The question on air and the next `upcoming` in the speaker's queue. One query: it runs
    after every moderator action, before the audience hears of it. (There is at most one
    question on air: `moderation.transition` sees to it.)"""
    rows = list(db.session.execute(select(Question).where(
        Question.broadcast_id == broadcast.id, Question.status.in_([S.ON_AIR, S.QUEUED]))
        .order_by(case((Question.status == S.ON_AIR, 0), else_=1), Question.position, Question.id)
        .limit(upcoming + 1)).scalars())
    on_air = rows[0] if rows and rows[0].status == S.ON_AIR else None
    return on_air, [q for q in rows if q.status == S.QUEUED][:upcoming]


def categories() -> list[Category]:
    """All categories, by id."""
    return list(db.session.execute(select(Category).order_by(Category.id)).scalars())


def tracked_question(code: str) -> Question | None:
    """The question with this tracking code (case-insensitive)."""
    return db.session.execute(select(Question).where(Question.tracking_code == code.strip().upper())).scalar_one_or_none()


def belongs(broadcast: Broadcast, question_id: int) -> bool:
    """True when the question is one of this broadcast's."""
    return db.session.execute(select(Question.id).where(Question.id == question_id,
                                                        Question.broadcast_id == broadcast.id)).first() is not None
