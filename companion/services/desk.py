"""Read models of the live desk: what each screen loads as its snapshot."""
from __future__ import annotations

import functools

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, case, func, inspect, or_, select
from sqlalchemy.orm import joinedload, selectinload

from ..extensions import db
from ..errors import ValidationError
from ..permissions import audience_questions as _audience
from ..models import Broadcast, Category, Question, QuestionStatus
from .fields import MAX_ID, parse_id
from .moderation import DESK_COLUMNS

S = QuestionStatus

# The moderator's snapshot carries each column's first PAGE cards (both ends of Incoming, which the
# moderator reads newest or oldest first) and every status's count; "show more" at a column's end asks
# for the next PAGE (`desk_page`). A broadcast of 150,000 questions opens in well under a second, and a
# broadcast of a few hundred, as today, arrives whole.
PAGE = 300
COLUMN_STATUSES = {column: [s.value for s, c in DESK_COLUMNS.items() if c == column]
                   for column in ("incoming", "approved", "queue", "onair")}
COLUMN_STATUSES["done"] = [s.value for s in S if s not in DESK_COLUMNS]
# Each column's order on the desk and how a page's cursor (the last card the desk holds) continues it.
ORDERS = {("incoming", "newest"), ("incoming", "oldest"), ("approved", "votes"), ("queue", "position"),
          ("onair", "id"), ("done", "newest")}


def status_column(status: str) -> str:
    """The desk's column of a status (what services.moderation.desk_column says of a question)."""
    return DESK_COLUMNS.get(status, "done") if status in set(S) else "done"


def _page_statement(broadcast: Broadcast, status: str, order: str, cursor, limit: int):
    """One status's part of a column's page. By id, a range of the (broadcast, status, id) index read in its
    order; by votes or position, sorted (the approved and the queued are the fewer)."""
    stmt = (select(Question).where(Question.broadcast_id == broadcast.id, Question.status == status)
            .options(selectinload(Question.appeal)).limit(limit))
    if order == "oldest":
        return stmt.where(Question.id > cursor[0] if cursor else True).order_by(Question.id)
    if order == "newest":
        return stmt.where(Question.id < cursor[0] if cursor else True).order_by(Question.id.desc())
    if order == "votes":  # most voted first, then the oldest (desk-board.js sorts the same way)
        if cursor:
            stmt = stmt.where(or_(Question.votes < cursor[0], and_(Question.votes == cursor[0], Question.id > cursor[1])))
        return stmt.order_by(Question.votes.desc(), Question.id)
    if order == "position":
        position = func.coalesce(Question.position, 0)
        if cursor:
            stmt = stmt.where(or_(position > cursor[0], and_(position == cursor[0], Question.id > cursor[1])))
        return stmt.order_by(position, Question.id)
    return stmt.where(Question.id > cursor[0] if cursor else True).order_by(Question.id)


def _sort_key(order: str):
    return {"newest": lambda q: -q.id, "votes": lambda q: (-q.votes, q.id),
            "position": lambda q: (q.position or 0, q.id)}.get(order, lambda q: q.id)


def _cursor(order: str, q: Question) -> list[int]:
    if order == "votes":
        return [q.votes, q.id]
    if order == "position":
        return [q.position or 0, q.id]
    return [q.id]


def page(broadcast: Broadcast, column, order, cursor=None, limit: int = PAGE) -> tuple[list[Question], list[int] | None]:
    """The next `limit` questions of a desk column in its order, after the card `cursor` names (None: from the
    start), and the cursor to continue from (None: the column ends here)."""
    if not isinstance(column, str) or not isinstance(order, str) or (column, order) not in ORDERS:
        raise ValidationError(_l("The desk has no such column or order."))
    if cursor is not None:
        if not isinstance(cursor, list) or len(cursor) != (2 if order in ("votes", "position") else 1) or \
                not all(isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_ID for v in cursor):
            raise ValidationError(_l("The desk asked for a page of its column in a way it cannot be read."))
    rows = []
    for status in COLUMN_STATUSES[column]:  # each status a range of its own, merged in the column's order
        rows += db.session.execute(_page_statement(broadcast, status, order, cursor, limit + 1)).scalars()
    rows.sort(key=_sort_key(order))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_cursor(order, rows[-1]) if more and rows else None)


def status_counts(broadcast: Broadcast) -> dict[str, int]:
    """How many of the broadcast's questions are in each status (every status named, 0 included)."""
    counts = {s.value: 0 for s in S}
    for status, n in db.session.execute(select(Question.status, func.count()).where(
            Question.broadcast_id == broadcast.id).group_by(Question.status)):
        counts[status] = n
    return counts


def snapshot_questions(broadcast: Broadcast) -> tuple[list[Question], dict]:
    """The questions of the moderator's snapshot, oldest first, and where each column's pages continue
    ({column: {order: cursor or None}})."""
    found: dict[int, Question] = {}
    pages: dict[str, dict] = {}
    for column, order in sorted(ORDERS):
        rows, cursor = page(broadcast, column, order)
        pages.setdefault(column, {})[order] = cursor
        for q in rows:
            found.setdefault(q.id, q)
    for q in merged_into(broadcast, list(found)):
        found.setdefault(q.id, q)
    return [found[i] for i in sorted(found)], pages


def merged_into(broadcast: Broadcast, ids: list[int]) -> list[Question]:
    """The questions merged into these (the desk lists them under their target, each to unmerge; on a long
    broadcast they are mostly older than the pages of Done it holds)."""
    if not ids:
        return []
    return list(db.session.execute(select(Question).where(
        Question.broadcast_id == broadcast.id, Question.status == S.MERGED.value, Question.merged_into_id.in_(ids))
        .options(selectinload(Question.appeal)).order_by(Question.id)).scalars())


def question_ids(value) -> list[int]:
    """A desk's list of question numbers (at most a PAGE of them), or a ValidationError."""
    ids = [parse_id(v) for v in value] if isinstance(value, list) and len(value) <= PAGE else [None]
    if None in ids:
        raise ValidationError(_l("The desk asked for questions in a way it cannot be read."))
    return ids


def questions_by_id(broadcast: Broadcast, ids: list[int]) -> list[Question]:
    """These questions of the broadcast (the others are left out), by id."""
    if not ids:
        return []
    return list(db.session.execute(select(Question).where(Question.broadcast_id == broadcast.id, Question.id.in_(ids))
                                   .options(selectinload(Question.appeal)).order_by(Question.id)).scalars())


def all_questions(broadcast: Broadcast) -> list[Question]:
    """Every question of the broadcast, oldest first."""
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
