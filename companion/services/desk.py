"""Read models of the live desk: what each screen loads as its snapshot."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import PUBLIC_STATUSES, Broadcast, Category, Question, QuestionStatus
from .moderation import on_air_question

S = QuestionStatus


def all_questions(broadcast: Broadcast) -> list[Question]:
    """Every question of the broadcast, oldest first (the moderator's snapshot)."""
    return list(db.session.execute(select(Question).where(Question.broadcast_id == broadcast.id)
                                   .options(selectinload(Question.appeal)).order_by(Question.id)).scalars())


def audience_questions(broadcast: Broadcast) -> list[Question]:
    """The questions viewers may see now."""
    stmt = select(Question).where(Question.broadcast_id == broadcast.id)
    if broadcast.public_feed:
        stmt = stmt.where(Question.status.in_([s.value for s in PUBLIC_STATUSES]))
    else:
        stmt = stmt.where(Question.status == S.ON_AIR)
    return list(db.session.execute(stmt.order_by(Question.id)).scalars())


def viewer_questions(broadcast: Broadcast, viewer_token: str | None) -> list[Question]:
    """The questions this viewer asked, newest first."""
    if not viewer_token:
        return []
    return list(db.session.execute(select(Question).where(
        Question.broadcast_id == broadcast.id, Question.viewer_token == viewer_token)
        .order_by(Question.id.desc())).scalars())


def prompter_questions(broadcast: Broadcast, upcoming: int = 2) -> tuple[Question | None, list[Question]]:
    """The question on air and the next `upcoming` in the speaker's queue."""
    on_air = on_air_question(broadcast)
    following = list(db.session.execute(select(Question).where(
        Question.broadcast_id == broadcast.id, Question.status == S.QUEUED)
        .order_by(Question.position, Question.id).limit(upcoming)).scalars())
    return on_air, following


def categories() -> list[Category]:
    """All categories, by id."""
    return list(db.session.execute(select(Category).order_by(Category.id)).scalars())


def tracked_question(code: str) -> Question | None:
    """The question with this tracking code (case-insensitive)."""
    return db.session.execute(select(Question).where(Question.tracking_code == code.strip().upper())).scalar_one_or_none()
