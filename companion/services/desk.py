"""Read models of the live desk: what each screen loads as its snapshot."""
from __future__ import annotations

from sqlalchemy import case, inspect, select
from sqlalchemy.orm import joinedload, selectinload

from ..extensions import db
from ..models import PUBLIC_STATUSES, Broadcast, Category, Question, QuestionStatus

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
        .options(joinedload(Question.appeal)).order_by(Question.id.desc())).scalars())


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
