"""The report of one broadcast, the morning after: its audience, what was asked through which channel,
what the desk did with each question, how long a question waited for the air, the topics and districts,
the follow-up appeals (who owes what by when), and what became of every question not reached on air.

Definitions (docs/appeals.md, "The broadcast report"):
- received: every question of the broadcast, merged ones included (each asker once);
- approved: passed the desk and stands on its own now (approved, queued, on air, answered, deferred);
- not reached on air: approved or queued but never answered, deferred, or never reviewed (pending);
- time to air: from the question's arrival to its last time on air, for those that went on air;
  median and 90th percentile by the nearest-rank method (the value at rank ceil(0.9 n));
- follow-up appeals: the appeals of questions answered on air that still owe (or have had) a written answer.

One read of the broadcast's questions with their appeals (plain columns, no ORM objects); its cost is in
docs/performance.md."""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import aliased

from .. import durability
from ..extensions import db
from ..models import (UNMODERATED_QUESTION_STATUSES, Appeal, AppealTopic, appeal_open, Broadcast, Category, Channel,
                      Department, Question, QuestionStatus, Topic, TopicState, User, utcnow)
from . import appeal_list, deadlines, topics
from .appeals import channel_label, status_label
from .moderation import REJECT_GROUND_NAMES, STATUS_LABELS, WITHDRAWN, WITHDRAWN_LABEL
from .reports import OTHER_DISTRICT, TOP_DISTRICTS, known_districts

S = QuestionStatus
APPROVED = frozenset({S.APPROVED, S.QUEUED, S.ON_AIR, S.ANSWERED, S.DEFERRED})
NOT_REACHED = (S.SUBMITTED, S.PENDING, S.APPROVED, S.QUEUED, S.DEFERRED)
NO_DISTRICT = ""  # the key of the bar of questions that named no district
OUTCOMES = (S.ANSWERED, S.ON_AIR, S.DEFERRED, S.APPROVED, S.QUEUED, S.PENDING, S.REJECTED, S.MERGED)
OUTCOME_LABELS = {S.ANSWERED: _l("answered on air"), S.ON_AIR: _l("on air when the broadcast ended"),
                  S.DEFERRED: _l("deferred"), S.APPROVED: _l("approved, not reached on air"),
                  S.QUEUED: _l("in the queue, not reached on air"), S.PENDING: _l("never reviewed"),
                  S.REJECTED: _l("rejected"), S.MERGED: _l("merged into another question")}


@dataclass
class Bar:
    """One bar of a chart: what it counts, how many, and its length as a share of the longest bar (0-100)."""

    key: str
    label: str
    count: int
    width: float = 0.0
    extra: dict = field(default_factory=dict)


def bars(items: list[tuple[str, str, int]], **extra_of) -> list[Bar]:
    """Bars for (key, label, count) items, each as long as its share of the largest count."""
    top = max((n for _k, _l, n in items), default=0)
    return [Bar(key, label, n, round(100 * n / top, 1) if top else 0.0, extra_of.get(key, {})) for key, label, n in items]


def median(values: list[float]) -> float | None:
    """The median (the mean of the two middle values of an even count); None for no values."""
    if not values:
        return None
    ordered, n = sorted(values), len(values)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile: the value at rank ceil(share * n) of the sorted values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def promises(broadcast: Broadcast, departments: dict) -> list[dict]:
    """The promises made on air during the broadcast, in stream order: what, who, by when, its state,
    the moment in the stream and the question it answers (published or not: the report is for staff)."""
    from . import promises as promise_service  # the promises' own rules: state, moment
    return [{"text": p.text, "who": ", ".join(x for x in (departments.get(p.department_id, ""), p.responsible) if x),
             "due_date": p.due_date, "state": promise_service.state_of(p),
             "state_label": str(promise_service.STATE_LABELS[promise_service.state_of(p)]),
             "moment": promise_service.format_offset(p.stream_offset),
             "question": p.question.tracking_code if p.question else "", "published": bool(p.published)}
            for p in promise_service.promises_of_broadcast(broadcast)]


def _topic_tags(broadcast: Broadcast) -> dict[int, list[int]]:
    """Each question's topic tags (suggested or confirmed; not those staff removed), by question id."""
    query = (select(Appeal.question_id, AppealTopic.topic_id).join(AppealTopic, AppealTopic.appeal_id == Appeal.id)
             .join(Question, Question.id == Appeal.question_id)
             .where(Question.broadcast_id == broadcast.id, AppealTopic.state != TopicState.REMOVED.value))
    tags: dict[int, list[int]] = {}
    for question_id, topic_id in db.session.execute(query):
        tags.setdefault(question_id, []).append(topic_id)
    return tags


def _person(user_row) -> str:
    return (user_row.display_name or user_row.username) if user_row is not None else ""


def _rows(broadcast: Broadcast):
    """The broadcast's questions with their appeals' columns, as plain rows, oldest first."""
    target = aliased(Question)
    query = (select(Question.id, Question.tracking_code, Question.text, Question.status, Question.reject_ground,
                    Question.channel, Question.language, Question.district, Question.category_id, Question.votes,
                    Question.asker_count, Question.created_at, Question.aired_at, Question.answered_at,
                    target.tracking_code.label("merged_into"),
                    Appeal.id.label("appeal_id"), Appeal.status.label("appeal_status"), Appeal.follow_up,
                    Appeal.statutory, Appeal.due_date,
                    Appeal.department_id, Appeal.officer_id, Appeal.category_id.label("appeal_category_id"))
             .outerjoin(Appeal, Appeal.question_id == Question.id)
             .outerjoin(target, target.id == Question.merged_into_id)
             .where(Question.broadcast_id == broadcast.id).order_by(Question.created_at, Question.id))
    return db.session.execute(query).all()


def _district_key(typed: str, known: dict[str, str], typed_districts: bool = True) -> str:
    typed = (typed or "").strip()
    if not typed:
        return NO_DISTRICT
    if known or not typed_districts:
        return known.get(typed.casefold(), OTHER_DISTRICT)
    return typed


def _appeal_open(row) -> bool:
    """Appeal.is_open for a plain row of the appeal's status and follow-up flag."""
    return appeal_open(row.appeal_status, row.follow_up)


class Labels(dict):
    """Labels in the current language, each looked up once (a translation lookup costs more than a row's figures)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key):
        value = self[key] = self.make(*key) if isinstance(key, tuple) else self.make(key)
        return value


def _appeal_labels() -> Labels:
    return Labels(lambda status, follow_up: status_label(status, follow_up) if status else "")


def compute(broadcast: Broadcast, locale: str, typed_districts: bool = True) -> dict:
    """Every figure of the broadcast's report, with its labels in the current language; without
    `typed_districts` (the e-mailed copy) a district not on the office's list counts as "other districts"."""
    rows = _rows(broadcast)
    appeal_labels, desk_labels = _appeal_labels(), Labels(lambda status: str(STATUS_LABELS[S(status)]))
    categories = {c.id: c.name(locale) for c in db.session.execute(select(Category)).scalars()}
    departments = {d.id: d.name(locale) for d in db.session.execute(select(Department)).scalars()}
    officer_ids = {r.officer_id for r in rows if r.officer_id}
    officers = {u.id: _person(u) for u in db.session.execute(
        select(User).where(User.id.in_(officer_ids))).scalars()} if officer_ids else {}
    known = known_districts()
    today = deadlines.local_date()
    tags_of = _topic_tags(broadcast)
    topic_names = {t.id: t.name(locale) for t in db.session.execute(select(Topic)).scalars()}

    by_channel = {c.value: 0 for c in Channel}
    by_outcome = {s.value: 0 for s in OUTCOMES}
    by_ground: dict[str, int] = {}
    by_topic: dict[int | None, list[int]] = {}  # by category (the one that routes the appeal)
    by_tag: dict[int | None, list[int]] = {}  # by topic tag (services/topics.py): a question may have several
    by_district: dict[str, int] = {}
    by_fate: dict[str, int] = {}
    waits: list[float] = []
    answered, follow_ups, not_reached = [], [], []
    votes = askers_answered = approved = 0
    for r in rows:
        status = r.status
        by_channel[r.channel] = by_channel.get(r.channel, 0) + 1
        outcome = S.PENDING.value if status in UNMODERATED_QUESTION_STATUSES else status
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        votes += r.votes or 0
        if status in APPROVED:
            approved += 1
        if status == S.REJECTED:
            by_ground[r.reject_ground or ""] = by_ground.get(r.reject_ground or "", 0) + 1
        if status != S.MERGED:  # a merged question's topic and place are its target's
            topic = by_topic.setdefault(r.category_id or r.appeal_category_id, [0, 0])
            topic[0] += 1
            topic[1] += status == S.ANSWERED
            for tag_id in tags_of.get(r.id) or [None]:
                tag = by_tag.setdefault(tag_id, [0, 0])
                tag[0] += 1
                tag[1] += status == S.ANSWERED
            key = _district_key(r.district, known, typed_districts)
            by_district[key] = by_district.get(key, 0) + 1
        wait = (r.aired_at - r.created_at).total_seconds() if r.aired_at and status != S.MERGED else None
        if wait is not None:
            waits.append(max(0.0, wait))
        appeal = {"status": appeal_labels[r.appeal_status, bool(r.follow_up)],
                  "status_key": r.appeal_status or "", "department": departments.get(r.department_id, ""),
                  "officer": officers.get(r.officer_id, ""), "due_date": r.due_date if r.statutory else None,
                  "overdue": bool(r.statutory and _appeal_open(r) and r.due_date and r.due_date < today),
                  "statutory": bool(r.statutory)}
        item = {"id": r.id, "code": r.tracking_code or "", "text": r.text, "askers": r.asker_count or 1,
                "votes": r.votes or 0, "status": desk_labels[status], "wait": wait, "appeal": appeal}
        if status == S.ANSWERED:
            answered.append(item)
            askers_answered += item["askers"]
            if r.follow_up and r.appeal_status is not None:
                follow_ups.append(item)
        if status in NOT_REACHED:
            not_reached.append(item)
            fate = r.appeal_status or ""
            by_fate[fate] = by_fate.get(fate, 0) + 1

    ground_labels = {**{k: str(v) for k, v in REJECT_GROUND_NAMES.items()}, WITHDRAWN: str(WITHDRAWN_LABEL),
                     "": str(_l("no ground recorded"))}
    topics = sorted(by_topic.items(), key=lambda item: (item[0] is None, -item[1][0], categories.get(item[0], "")))
    tags = sorted(by_tag.items(), key=lambda item: (item[0] is None, -item[1][0], topic_names.get(item[0], "")))
    districts = sorted(by_district.items(), key=lambda item: (item[0] in (OTHER_DISTRICT, NO_DISTRICT), -item[1], item[0]))
    if len(districts) > TOP_DISTRICTS:  # the rest in one bar, so a phone shows a dozen bars, not hundreds
        rest = sum(n for _k, n in districts[TOP_DISTRICTS - 1:] if _k != NO_DISTRICT)
        unnamed = by_district.get(NO_DISTRICT, 0)
        districts = [d for d in districts[:TOP_DISTRICTS - 1] if d[0] not in (OTHER_DISTRICT, NO_DISTRICT)]
        districts += [(OTHER_DISTRICT, rest)] + ([(NO_DISTRICT, unnamed)] if unnamed else [])
    district_labels = {OTHER_DISTRICT: str(_l("other districts")), NO_DISTRICT: str(_l("no district given"))}
    answered.sort(key=lambda item: (-item["askers"], -item["votes"], item["id"]))
    follow_ups.sort(key=lambda item: (-item["askers"], -item["votes"], item["id"]))
    return {
        "broadcast": broadcast, "generated_at": utcnow(),
        "audience": {"peak": broadcast.peak_viewers or 0, "at": broadcast.peak_viewers_at},
        "received": len(rows), "approved": approved, "votes": votes,
        "answered_count": by_outcome[S.ANSWERED.value], "deferred_count": by_outcome[S.DEFERRED.value],
        "rejected_count": by_outcome[S.REJECTED.value], "merged_count": by_outcome[S.MERGED.value],
        "not_reached_count": len(not_reached), "askers_answered": askers_answered,
        "channels": bars([(c, channel_label(c), n) for c, n in by_channel.items()]),
        "outcomes": bars([(s, str(OUTCOME_LABELS[S(s)]), n) for s, n in by_outcome.items()]),
        "grounds": bars([(g, ground_labels.get(g, g), n) for g, n in sorted(by_ground.items(), key=lambda i: -i[1])]),
        "topics": bars([(str(cid or ""), categories.get(cid, "") or str(_l("Not categorised yet")), total)
                        for cid, (total, _a) in topics],
                       **{str(cid or ""): {"answered": done} for cid, (_t, done) in topics}),
        "topic_tags": bars([(str(tid or ""), topic_names.get(tid, "") or str(_l("no topic set")), total)
                            for tid, (total, _a) in tags],
                           **{str(tid or ""): {"answered": done} for tid, (_t, done) in tags}),
        "districts": bars([(k, district_labels.get(k, k), n) for k, n in districts]),
        "fates": bars([(k, status_label(k) if k else str(_l("no appeal")), n)
                       for k, n in sorted(by_fate.items(), key=lambda i: -i[1])]),
        "time_to_air": {"count": len(waits), "median": median(waits), "p90": percentile(waits, 0.9)},
        "answered": answered, "follow_ups": follow_ups, "not_reached": not_reached,
        # for a list that shows only some (the PDF): the most asked first
        "most_wanted_not_reached": sorted(not_reached, key=lambda item: (-item["askers"], -item["votes"], item["id"])),
        "promises": promises(broadcast, departments),
    }


def minutes(seconds: float | None) -> str:
    """A wait as whole minutes and seconds ("12:05"), or "—"."""
    if seconds is None:
        return "—"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# --- the broadcast's questions as a spreadsheet ------------------------------------------------
# The back office's export helpers (services/appeal_list.py): typed values, CSV cells a spreadsheet never
# runs as formulas, the workbook built in a real thread. No names or contacts: as the appeals' export.

COLUMNS = [
    _l("Number"), _l("Received"), _l("Question"), _l("Votes"), _l("Askers"), _l("Outcome"), _l("Ground of rejection"),
    _l("Merged into"), _l("Category"), _l("District"), _l("Channel"), _l("Language"), _l("On air"),
    _l("Minutes to air"), _l("Appeal status"), _l("Department"), _l("Officer"), _l("Due date"), _l("Topics"),
]
DATE_COLUMNS = {1: 16, 12: 16, 17: 11}  # column -> width: the moments and dates fit their cells


def question_rows(broadcast: Broadcast, locale: str) -> list[list]:
    """The header, then one typed row per question of the broadcast (text, numbers, dates, naive local moments)."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) if moment else None
    categories = {c.id: c.name(locale) for c in db.session.execute(select(Category)).scalars()}
    departments = {d.id: d.name(locale) for d in db.session.execute(select(Department)).scalars()}
    officers = {u.id: _person(u) for u in db.session.execute(select(User)).scalars()}
    grounds = {**{k: str(v) for k, v in REJECT_GROUND_NAMES.items()}, WITHDRAWN: str(WITHDRAWN_LABEL)}
    outcomes = {s.value: str(OUTCOME_LABELS[s]) for s in OUTCOMES}
    outcomes[S.SUBMITTED.value] = outcomes[S.PENDING.value]
    rows: list[list] = [[str(label) for label in COLUMNS]]
    appeal_labels, channels = _appeal_labels(), Labels(channel_label)
    questions = _rows(broadcast)
    # each appeal's topic tags as the appeals' export writes them ("Roads, Heating (suggested)")
    names, appeal_ids, tags = topics.topic_names(locale), [r.appeal_id for r in questions if r.appeal_id], {}
    for start in range(0, len(appeal_ids), 500):  # a bounded IN list: SQLite limits a statement's parameters
        tags.update(topics.names_by_appeal(appeal_ids[start:start + 500], names))
    for r in questions:
        wait = (r.aired_at - r.created_at).total_seconds() if r.aired_at and r.status != S.MERGED else None
        rows.append([
            r.tracking_code or "", local(r.created_at), r.text or "", r.votes or 0, r.asker_count or 1,
            outcomes.get(r.status, r.status), grounds.get(r.reject_ground, r.reject_ground or "") if r.status == S.REJECTED else "",
            r.merged_into or "", categories.get(r.category_id or r.appeal_category_id, ""), (r.district or "").strip(),
            channels[r.channel], r.language, local(r.aired_at),
            round(max(0.0, wait) / 60, 1) if wait is not None else None,
            appeal_labels[r.appeal_status, bool(r.follow_up)],
            departments.get(r.department_id, ""), officers.get(r.officer_id, ""),
            r.due_date if r.statutory and r.due_date else None, tags.get(r.appeal_id, "")])
    return rows


def export_csv(broadcast: Broadcast, locale: str, separator: str) -> str:
    """The broadcast's questions as CSV text (UTF-8 with a BOM, the separator Excel expects)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=separator)
    writer.writerows([[appeal_list.csv_text(value, separator) for value in row] for row in question_rows(broadcast, locale)])
    return buffer.getvalue()


def export_xlsx(broadcast: Broadcast, locale: str) -> bytes:
    """The broadcast's questions as an XLSX workbook: rows read here, the workbook built in a real thread."""
    with appeal_list.export_slot():
        rows = question_rows(broadcast, locale)
        db.session.rollback()  # no transaction stays open while the workbook is built
        sheet = str(_l("Questions"))
        return durability.run_blocking(lambda: appeal_list.build_xlsx(rows, sheet, widths=DATE_COLUMNS))


def file_name(broadcast: Broadcast, extension: str) -> str:
    """The download's file name: the broadcast's address and the day it started (or was made)."""
    moment = broadcast.started_at or broadcast.starts_at or broadcast.created_at
    day = deadlines.local_date(moment) if moment else deadlines.local_date()
    return f"report-{broadcast.slug}-{day.isoformat()}.{extension}"

