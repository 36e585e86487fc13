"""The public roadmap of requests: counts by category, district and status, answers on time, median days.

Only statutory appeals under consideration count: not questions only (no name or no contact:
they have no term to be answered on time), not those of questions rejected on the desk (spam, abuse),
nor of questions still waiting for a moderator that nobody in the office has acted on yet. No free text is published: districts are the office's own list
(COMPANION_DISTRICTS), whatever else residents typed is counted as "other".

Counting a million appeals takes a moment, so the figures are kept in `report_cache` for
ROADMAP_CACHE_SECONDS (in the database, so every process shares them) and recounted after that."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Appeal, AppealStatus, Question, QuestionStatus, ReportCache, utcnow
from .appeal_list import open_condition
from .appeals import NOT_FOR_BROADCAST

A = AppealStatus
ANSWERED = (A.ANSWERED.value, A.ANSWERED_ON_AIR.value, A.CLOSED.value)
TOP_DISTRICTS = 12
OTHER_DISTRICT = "other"  # the key of the bucket of districts outside the office's list
UNMODERATED = (QuestionStatus.SUBMITTED.value, QuestionStatus.PENDING.value)


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
                            or_(Question.status.not_in(UNMODERATED), Appeal.status != AppealStatus.REGISTERED.value)))))


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
    for status, category_id, n in db.session.execute(_considered(
            select(Appeal.status, Appeal.category_id, func.count())).group_by(Appeal.status, Appeal.category_id)):
        by_status[status] = by_status.get(status, 0) + n
        row = by_category.setdefault(str(category_id or ""), {"total": 0, "answered": 0})
        row["total"] += n
        if status in ANSWERED:
            row["answered"] += n
    open_count = db.session.execute(_considered(select(func.count()).select_from(Appeal))
                                    .where(open_condition())).scalar_one()
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
            .where(Appeal.days_to_answer.is_not(None)).group_by(Appeal.days_to_answer, Appeal.answered_on_time)):
        histogram[days] = histogram.get(days, 0) + n
        if timely:
            on_time += n
        else:
            late += n
    total = sum(by_status.values())
    return {"total": total, "open": open_count, "by_status": by_status, "by_category": by_category,
            "by_district": districts, "answered": on_time + late,
            "on_time_share": round(on_time / (on_time + late), 4) if on_time + late else None,
            "median_days_to_answer": _median(histogram), "computed_at": utcnow().isoformat()}


def roadmap() -> dict:
    """The roadmap's figures, recounted at most every ROADMAP_CACHE_SECONDS."""
    ttl = current_app.config["ROADMAP_CACHE_SECONDS"]
    row = db.session.get(ReportCache, "roadmap")
    if row is not None and ttl > 0 and row.computed_at > utcnow() - timedelta(seconds=ttl):
        return row.payload
    payload = compute_roadmap()
    try:
        if row is None:
            db.session.add(ReportCache(key="roadmap", payload=payload, computed_at=utcnow()))
        else:
            row.payload, row.computed_at = payload, utcnow()
        db.session.commit()
    except IntegrityError:  # another process stored it first: theirs is as fresh
        db.session.rollback()
    return payload
