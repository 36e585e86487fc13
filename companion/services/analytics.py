"""Analytics of appeals for staff: over time, by topic tag, on time, days to answer, overdue backlog, repeat topics.

The same appeals as the public roadmap count (statutory, under consideration: reports._considered),
limited to what the reader may see (an officer: their department, as appeal_list.filtered). Counting a
million appeals takes a moment, so the figures are kept in `report_cache` per scope and recounted off
the request path (reports.cached_report).

On time, as city 311 services count it: answered on time / (answered + open and overdue). An open
appeal past its due date counts against the share at once, not only when it is finally answered late."""
from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from ..extensions import db
from ..models import Appeal, AppealTopic, Category, Department, User, utcnow
from ..permissions import PERMISSIONS, AppealScope, appeal_scope, appeals_visible
from . import deadlines, reports, topics
from .language import LANGUAGE_NAMES
from .appeal_list import csv_text, clock_runs_condition
from .appeals import channel_label

WEEKS = 12  # weeks shown over time: this one (begun) and the eleven before
OTHER = reports.OTHER_DISTRICT
NONE_KEY = ""  # no category / department / officer

TABLES = ("weekly", "category", "topic", "district", "channel", "language", "on_time", "days", "backlog_department",
          "backlog_officer", "repeat")


def scope_key(user: User) -> str:
    """The cache key of what `user` may see: everything, or one department's appeals."""
    return f"analytics:{appeal_scope(user).key}"


def _visible(query, department_id: int | None, everything: bool):
    """The back office's visibility rule (permissions.appeals_visible), on analytics queries."""
    return query.where(appeals_visible(AppealScope(everything, department_id)))


def on_time_share(on_time: int, answered: int, open_overdue: int) -> float | None:
    """Answered on time / (answered + open and overdue); None when there is nothing to divide by."""
    denominator = answered + open_overdue
    return round(on_time / denominator, 4) if denominator else None


def percentile(histogram: dict[int, int], share: float) -> int | None:
    """The nearest-rank percentile of the values a histogram {value: count} describes: the smallest value
    with at least `share` of all values at or below it."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, math.ceil(share * total - 1e-9))  # 1e-9: 0.9 * 10 is 9.000000000000002 in floating point
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)


def week_starts(today: date, weeks: int = WEEKS) -> list[date]:
    """Mondays of the last `weeks` weeks, oldest first; the last one is this week's."""
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def compute(department_id: int | None = None, everything: bool = True) -> dict:
    """Count the analytics of one scope now (a few grouped scans), as a JSON-able payload."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    today = deadlines.local_date()
    mondays = week_starts(today)
    bounds = [datetime.combine(m, time.min, tzinfo=zone) for m in mondays]
    week = case(*[(Appeal.received_at >= b, i) for i, b in reversed(list(enumerate(bounds)))], else_=-1)
    known = reports.known_districts()

    def scoped(query):
        return _visible(reports._considered(query), department_id, everything)

    # 1. over time: one grouped scan of the last WEEKS weeks (ix_appeal_received)
    dims = {name: {} for name in ("category", "district", "channel", "language")}
    weekly = [0] * WEEKS
    repeats = [0] * WEEKS
    rows = db.session.execute(scoped(select(week.label("w"), Appeal.category_id, Appeal.district, Appeal.channel,
                                            Appeal.language, Appeal.repeat, func.count()))
                              .where(Appeal.received_at >= bounds[0])
                              .group_by(week, Appeal.category_id, Appeal.district, Appeal.channel, Appeal.language,
                                        Appeal.repeat))
    for w, category_id, district, channel, language, repeat, n in rows:
        if w < 0:
            continue
        weekly[w] += n
        if repeat:
            repeats[w] += n
        district_key = known.get(district.strip().casefold(), OTHER) if district and district.strip() else NONE_KEY
        for name, key in (("category", str(category_id or NONE_KEY)), ("district", district_key),
                          ("channel", channel), ("language", language)):
            dims[name].setdefault(key, [0] * WEEKS)[w] += n

    # 1b. by topic tag (suggested or confirmed; an appeal with two topics counts under each)
    dims["topic"] = {}
    for w, topic_id, n in db.session.execute(scoped(
            select(week.label("w"), AppealTopic.topic_id, func.count()).select_from(Appeal)
            .join(AppealTopic, AppealTopic.appeal_id == Appeal.id))
            .where(Appeal.received_at >= bounds[0], AppealTopic.state.in_(topics.SHOWN))
            .group_by(week, AppealTopic.topic_id)):
        if w >= 0:
            dims["topic"].setdefault(str(topic_id), [0] * WEEKS)[w] += n

    # 2. on time and days to answer, by department (all time)
    departments: dict[str, dict] = {}
    all_hist: dict[int, int] = {}

    def dept(key) -> dict:
        return departments.setdefault(str(key or NONE_KEY), {"on_time": 0, "answered": 0, "open_overdue": 0,
                                                             "histogram": {}})
    for department, days, timely, n in db.session.execute(scoped(
            select(Appeal.department_id, Appeal.days_to_answer, Appeal.answered_on_time, func.count()))
            .where(Appeal.days_to_answer.is_not(None))
            .group_by(Appeal.department_id, Appeal.days_to_answer, Appeal.answered_on_time)):
        row = dept(department)
        row["answered"] += n
        if timely:
            row["on_time"] += n
        row["histogram"][days] = row["histogram"].get(days, 0) + n
        all_hist[days] = all_hist.get(days, 0) + n

    # 3. the overdue backlog by department and officer (ix_appeal_running_due)
    officers: dict[str, dict] = {}
    for department, officer, n in db.session.execute(scoped(
            select(Appeal.department_id, Appeal.officer_id, func.count()))
            .where(clock_runs_condition()).where(Appeal.due_date < today)
            .group_by(Appeal.department_id, Appeal.officer_id)):
        dept(department)["open_overdue"] += n
        entry = officers.setdefault(str(officer or NONE_KEY), {"department": str(department or NONE_KEY), "overdue": 0})
        entry["overdue"] += n

    result_departments = {}
    for key, row in departments.items():
        hist = row.pop("histogram")
        result_departments[key] = {**row, "share": on_time_share(row["on_time"], row["answered"], row["open_overdue"]),
                                   "median": reports._median(hist), "p90": percentile(hist, 0.9)}
    totals = {k: sum(r[k] for r in result_departments.values()) for k in ("on_time", "answered", "open_overdue")}
    totals.update(share=on_time_share(totals["on_time"], totals["answered"], totals["open_overdue"]),
                  median=reports._median(all_hist), p90=percentile(all_hist, 0.9))
    return {"weeks": [m.isoformat() for m in mondays], "weekly": weekly, "repeats": repeats, "dims": dims,
            "departments": result_departments, "officers": officers, "totals": totals,
            "today": today.isoformat(), "computed_at": utcnow().isoformat()}


def analytics_for(user: User) -> dict:
    """The analytics `user` may see, from the cache (recounted off the request path when stale)."""
    scope = appeal_scope(user)
    everything, department_id = scope.everything, scope.department_id

    def count() -> dict:
        return compute(department_id, everything)
    return reports.cached_report(scope_key(user), count, current_app.config["ANALYTICS_CACHE_SECONDS"])


# ---- tables: what each chart shows, and its CSV -------------------------------------------------

def _names(locale: str) -> tuple[dict, dict, dict]:
    categories = {str(c.id): c.name(locale) for c in db.session.execute(select(Category)).scalars()}
    departments = {str(d.id): d.name(locale) for d in db.session.execute(select(Department)).scalars()}
    users = {str(u.id): (u.display_name or u.username) for u in db.session.execute(
        select(User).where(User.role.in_(PERMISSIONS["appeals"]))).scalars()}
    return categories, departments, users


def tables(payload: dict, locale: str, everything: bool = True) -> dict[str, dict]:
    """Every chart's table: {name: {"title", "header", "rows", "bar" (the column drawn), "format"}};
    `everything`: the figures are every department's (else one department's, with no "All departments" row)."""
    categories, departments, users = _names(locale)
    topic_names = {str(topic_id): name for topic_id, name in topics.topic_names(locale).items()}
    weeks = [date.fromisoformat(w) for w in payload["weeks"]]
    week_labels = [w.isoformat() for w in weeks]
    no_category, no_department = str(_l("Not categorised yet")), str(_l("No department"))
    labels = {
        "category": lambda k: categories.get(k, no_category) if k else no_category,
        "topic": lambda k: topic_names.get(k, k),
        "district": lambda k: str(_l("Other districts")) if k == OTHER else (k or str(_l("No district given"))),
        "channel": lambda k: str(channel_label(k)),
        "language": lambda k: str(LANGUAGE_NAMES.get(k, k)),
    }
    titles = {"category": _l("By category"), "topic": _l("By topic"), "district": _l("By district"),
              "channel": _l("By channel"), "language": _l("By language")}
    out: dict[str, dict] = {}
    out["weekly"] = {"title": _l("Appeals by week"),
                     "header": [str(_l("Week from")), str(_l("Appeals")), str(_l("Repeat appeals"))],
                     "rows": [[label, n, r] for label, n, r in zip(week_labels, payload["weekly"], payload["repeats"])],
                     "bar": 1}
    for name, title in titles.items():
        rows = []
        for key, counts in payload["dims"].get(name, {}).items():  # "topic": none in figures counted before topics
            rows.append([labels[name](key), sum(counts), counts[-2] if len(counts) > 1 else 0, counts[-1]] + counts)
        rows.sort(key=lambda r: (-r[1], r[0]))
        out[name] = {"title": title,
                     "header": [str(title), str(_l("Last 12 weeks")), str(_l("Last week")), str(_l("This week"))]
                     + week_labels, "rows": rows, "bar": 1, "short": 4}
    dept_rows = []
    for key, row in payload["departments"].items():
        dept_rows.append([departments.get(key, no_department) if key else no_department, row["share"], row["on_time"],
                          row["answered"], row["open_overdue"], row["median"], row["p90"]])
    dept_rows.sort(key=lambda r: r[0])
    t = payload["totals"]
    total_row = [str(_l("All departments")), t["share"], t["on_time"], t["answered"], t["open_overdue"],
                 t["median"], t["p90"]]
    # an officer's figures are their department's: a total called "All departments" would say otherwise
    with_total = [total_row] + dept_rows if everything else dept_rows
    out["on_time"] = {"title": _l("Answered on time"),
                      "header": [str(_l("Department")), str(_l("On time, share")), str(_l("Answered on time")),
                                 str(_l("Answered")), str(_l("Open and overdue"))],
                      "rows": [r[:5] for r in with_total], "bar": 1, "percent": True}
    out["days"] = {"title": _l("Days to answer"),
                   "header": [str(_l("Department")), str(_l("Median, days")), str(_l("90th percentile, days")),
                              str(_l("Answered"))],
                   "rows": [[r[0], r[5], r[6], r[3]] for r in with_total], "bar": 2}
    backlog = sorted(([departments.get(k, no_department) if k else no_department, r["open_overdue"]]
                      for k, r in payload["departments"].items() if r["open_overdue"]), key=lambda r: (-r[1], r[0]))
    out["backlog_department"] = {"title": _l("Overdue backlog by department"),
                                 "header": [str(_l("Department")), str(_l("Open and overdue"))], "rows": backlog,
                                 "bar": 1}
    officer_rows = sorted(([users.get(k, str(_l("Not assigned"))) if k else str(_l("Not assigned")),
                            departments.get(r["department"], no_department) if r["department"] else no_department,
                            r["overdue"]] for k, r in payload["officers"].items()), key=lambda r: (-r[2], r[0]))
    out["backlog_officer"] = {"title": _l("Overdue backlog by officer"),
                              "header": [str(_l("Officer")), str(_l("Department")), str(_l("Open and overdue"))],
                              "rows": officer_rows, "bar": 2}
    # repeat topics: the categories asked about in both of the last two full weeks, with the change
    repeat_rows = []
    for key, counts in payload["dims"]["category"].items():
        before, last = counts[-3], counts[-2]
        if before and last:
            streak = 0
            for n in reversed(counts[:-1]):
                if not n:
                    break
                streak += 1
            repeat_rows.append([labels["category"](key), before, last, last - before, streak])
    repeat_rows.sort(key=lambda r: (-r[2], r[0]))
    out["repeat"] = {"title": _l("Repeat topics week over week"),
                     "header": [str(_l("Category")), str(_l("Week before last")), str(_l("Last week")),
                                str(_l("Change")), str(_l("Weeks in a row"))],
                     "rows": repeat_rows, "bar": 2}
    return out


def table_csv(table: dict, separator: str) -> str:
    """One table as CSV text (a BOM for spreadsheet programs; values as the back office's exports write them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator)
    writer.writerow([csv_text(h, separator) for h in table["header"]])
    writer.writerows([[csv_text(v, separator) for v in row] for row in table["rows"]])
    return "\ufeff" + buffer.getvalue()
