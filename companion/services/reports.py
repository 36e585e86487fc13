"""The public roadmap of requests: counts by category, district and status, answers on time, median days.

On time as city 311 services count it: answered on time / (answered + open and overdue).

Only statutory appeals under consideration count: not questions only (no name or no contact:
they have no term to be answered on time), not those of questions rejected on the desk (spam, abuse),
nor of questions still waiting for a moderator that nobody in the office has acted on yet. No free text is published: districts are the office's own list
(COMPANION_DISTRICTS), whatever else residents typed is counted as "other".

Counting a million appeals takes a moment, so the figures are kept in `report_cache` for
ROADMAP_CACHE_SECONDS (in the database, so every process shares them). After that a visitor still gets
the stored figures at once, and one process recounts them in a background task (cached_report)."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db, socketio
from ..runtime import runtime
from ..models import UNMODERATED_QUESTION_STATUSES, Appeal, AppealStatus, Question, QuestionStatus, ReportCache, utcnow
from .appeal_list import clock_runs_condition
from .appeals import NOT_FOR_BROADCAST
from .deadlines import local_date

A = AppealStatus
# The roadmap's one meaning of "answered", in the headline, the bars and the on-time share alike: the answer
# concluded the appeal (appeals._settle records its days), so an appeal answered on air whose written answer
# is still due is not answered yet.
CONCLUDED = Appeal.days_to_answer.is_not(None)
TOP_DISTRICTS = 12
OTHER_DISTRICT = "other"  # the key of the bucket of districts outside the office's list


def known_districts() -> dict[str, str]:
    """The office's districts from COMPANION_DISTRICTS: every spelling (case-folded) -> the name shown."""
    names: dict[str, str] = {}
    for entry in current_app.config["DISTRICTS"].split(";"):
        spellings = [s.strip() for s in entry.split("|") if s.strip()]
        for spelling in spellings:
            names[spelling.casefold()] = spellings[0]
    return names


def _considered(query):
    """Only statutory appeals under consideration: every appeal from another channel; a question's unless
    it was rejected on the desk on a statutory ground (one only not for the broadcast is considered as
    usual), or waits for a moderator while its appeal is still only registered."""
    return (query.outerjoin(Question, Question.id == Appeal.question_id)
            .where(Appeal.statutory.is_(True))
            .where(or_(Appeal.question_id.is_(None),
                       and_(or_(Question.status != QuestionStatus.REJECTED.value,
                                Question.reject_ground == NOT_FOR_BROADCAST),
                            or_(Question.status.not_in([s.value for s in UNMODERATED_QUESTION_STATUSES]), Appeal.status != AppealStatus.REGISTERED.value)))))


def _median(histogram: dict[int, int]) -> float | None:
    """The median of the values a histogram {value: count} describes."""
    total = sum(histogram.values())
    if not total:
        return None

    def nth(k: int) -> int:  # the k-th value (0-based) in sorted order
        seen = 0
        for value in sorted(histogram):
            seen += histogram[value]
            if seen > k:
                return value
        raise IndexError(k)

    return (nth((total - 1) // 2) + nth(total // 2)) / 2


def compute_roadmap() -> dict:
    """Count the appeals now (three grouped scans)."""
    by_status: dict[str, int] = {}
    by_category: dict[str, dict] = {}
    concluded = CONCLUDED.label("concluded")
    for status, category_id, done, n in db.session.execute(_considered(
            select(Appeal.status, Appeal.category_id, concluded, func.count()))
            .group_by(Appeal.status, Appeal.category_id, concluded)):
        by_status[status] = by_status.get(status, 0) + n
        row = by_category.setdefault(str(category_id or ""), {"total": 0, "answered": 0})
        row["total"] += n
        if done:
            row["answered"] += n
    open_count = db.session.execute(_considered(select(func.count()).select_from(Appeal))
                                    .where(clock_runs_condition())).scalar_one()
    known = known_districts()
    counts: dict[str, int] = {}
    for typed, n in db.session.execute(_considered(select(Appeal.district, func.count()))
                                       .where(Appeal.district != "").group_by(Appeal.district)):
        name = known.get(typed.strip().casefold(), OTHER_DISTRICT)  # casefold here: SQLite lowers ASCII only
        counts[name] = counts.get(name, 0) + n
    districts = [{"district": d, "total": n} for d, n in sorted(
        counts.items(), key=lambda item: (item[0] == OTHER_DISTRICT, -item[1], item[0]))[:TOP_DISTRICTS]]
    histogram: dict[int, int] = {}
    on_time = late = 0
    for days, timely, n in db.session.execute(
            _considered(select(Appeal.days_to_answer, Appeal.answered_on_time, func.count()))
            .where(CONCLUDED).group_by(Appeal.days_to_answer, Appeal.answered_on_time)):
        histogram[days] = histogram.get(days, 0) + n
        if timely:
            on_time += n
        else:
            late += n
    total = sum(by_status.values())
    # as city 311 services count it: an open appeal past its due date counts against the share at once
    open_overdue = db.session.execute(_considered(select(func.count()).select_from(Appeal))
                                      .where(clock_runs_condition()).where(Appeal.due_date < local_date())).scalar_one()
    answered = on_time + late
    return {"total": total, "open": open_count, "by_status": by_status, "by_category": by_category,
            "by_district": districts, "answered": answered, "answered_on_time": on_time, "open_overdue": open_overdue,
            "on_time_share": round(on_time / (answered + open_overdue), 4) if answered + open_overdue else None,
            "median_days_to_answer": _median(histogram), "computed_at": utcnow().isoformat()}


def _store(key: str, payload: dict) -> None:
    """Keep `payload` as the figures of `key`, counted now."""
    try:
        row = db.session.get(ReportCache, key)
        if row is None:
            db.session.add(ReportCache(key=key, payload=payload, computed_at=utcnow()))
        else:
            row.payload, row.computed_at = payload, utcnow()
        db.session.commit()
    except IntegrityError:  # another process stored it first: theirs is as fresh
        db.session.rollback()


def _recount(app, key: str, count) -> None:
    """The background task: count `key` again and store it (its own app context and session)."""
    with app.app_context():
        try:
            _store(key, count())
        except Exception:  # noqa: BLE001 - the stale figures stay; the next claim after the TTL tries again
            db.session.rollback()
            app.logger.exception("recount of %s failed", key)
        finally:
            db.session.remove()


def cached_report(key: str, count, ttl: int) -> dict:
    """The figures of `key`: counted in the request only when none are stored yet (or ttl <= 0); fresh ones as
    stored; stale ones as stored too, while one background task recounts them. The recount is claimed by
    moving the row's computed_at forward where it still holds the value read (one UPDATE): of several
    requests or processes that find it stale, exactly one wins and recounts; the others serve the old
    figures, as the winner does. A failed recount leaves them for the next claim, a TTL later."""
    row = db.session.get(ReportCache, key)
    if row is None or ttl <= 0:
        payload = count()
        _store(key, payload)
        return payload
    payload, seen = row.payload, row.computed_at
    if seen > utcnow() - timedelta(seconds=ttl):
        return payload
    claimed = db.session.execute(update(ReportCache).where(ReportCache.key == key, ReportCache.computed_at == seen)
                                 .values(computed_at=utcnow())).rowcount == 1
    db.session.commit()
    if claimed:
        app = current_app._get_current_object()
        task = socketio.start_background_task(_recount, app, key, count)
        runtime(app).last_recount = task  # tests join it
    return payload


def roadmap() -> dict:
    """The roadmap's figures, recounted off the request path every ROADMAP_CACHE_SECONDS."""
    return cached_report("roadmap", compute_roadmap, current_app.config["ROADMAP_CACHE_SECONDS"])
