"""The back office's list of appeals: filters, keyset pages by due date, exports."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select, tuple_
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import LANGUAGES, Appeal, AppealStatus, Channel, Role, User
from . import deadlines
from .appeals import status_label
from .errors import ValidationError

A = AppealStatus
STATUSES = [s.value for s in A]
CHANNELS = [c.value for c in Channel]


def open_condition():
    """SQL: the appeal's statutory clock runs (an indexed column the services keep in step with the status)."""
    return Appeal.clock_running.is_(True)


def _int(value, name: str, errors: dict) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        errors[name] = _l("Enter a number.")
        return None


def _day(value, name: str, errors: dict) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors[name] = _l("Enter a date as YYYY-MM-DD.")
        return None


@dataclass
class AppealFilter:
    """What the officer asked to see; built from query arguments, bad ones named in a 400."""

    status: list[str] = field(default_factory=list)
    department_id: int | None = None
    category_id: int | None = None
    broadcast_id: int | None = None
    channel: str = ""
    language: str = ""
    overdue: bool = False
    due_soon: bool = False
    received_from: date | None = None
    received_to: date | None = None
    q: str = ""
    after: tuple[date, int] | None = None

    @classmethod
    def from_args(cls, args) -> "AppealFilter":
        """Parse request arguments (a MultiDict) or raise ValidationError naming each bad field."""
        errors: dict = {}
        statuses = [s for s in args.getlist("status") if s]
        if any(s not in STATUSES for s in statuses):
            errors["status"] = _l("Unknown status.")
        channel = args.get("channel", "")
        if channel and channel not in CHANNELS:
            errors["channel"] = _l("Unknown channel.")
        language = args.get("language", "")
        if language and language not in LANGUAGES:
            errors["language"] = _l("Unknown language.")
        f = cls(status=statuses, channel=channel, language=language,
                department_id=_int(args.get("department_id"), "department_id", errors),
                category_id=_int(args.get("category_id"), "category_id", errors),
                broadcast_id=_int(args.get("broadcast_id"), "broadcast_id", errors),
                overdue=args.get("overdue") in ("1", "on", "true"),
                due_soon=args.get("due_soon") in ("1", "on", "true"),
                received_from=_day(args.get("received_from"), "received_from", errors),
                received_to=_day(args.get("received_to"), "received_to", errors),
                q=(args.get("q") or "").strip()[:200])
        after = args.get("after", "")
        if after:
            day, _, ident = after.partition("_")
            try:
                f.after = (date.fromisoformat(day), int(ident))
            except ValueError:
                errors["after"] = _l("Invalid page marker.")
        if f.received_from and f.received_to and f.received_to < f.received_from:
            errors["received_to"] = _l("The end of the range is before its start.")
        if errors:
            raise ValidationError(fields=errors)
        return f

    def args(self, **override) -> dict:
        """The filter as query arguments (for links to the next page and the exports)."""
        values = {"status": self.status, "department_id": self.department_id, "category_id": self.category_id,
                  "broadcast_id": self.broadcast_id, "channel": self.channel, "language": self.language,
                  "overdue": "1" if self.overdue else None, "due_soon": "1" if self.due_soon else None,
                  "received_from": self.received_from.isoformat() if self.received_from else None,
                  "received_to": self.received_to.isoformat() if self.received_to else None, "q": self.q}
        values.update(override)
        return {k: v for k, v in values.items() if v not in (None, "", [])}


def _local_midnight_utc(day: date) -> datetime:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return datetime.combine(day, time.min, tzinfo=zone)


def filtered(user: User, f: AppealFilter) -> Select:
    """SELECT of the appeals `user` may see that match `f`, by due date then id."""
    query = select(Appeal)
    if user.role != Role.ADMIN:  # an officer sees their department only
        query = query.where(Appeal.department_id == (user.department_id or -1))
    if f.status:
        query = query.where(Appeal.status.in_(f.status))
    for column, value in ((Appeal.department_id, f.department_id), (Appeal.category_id, f.category_id),
                          (Appeal.broadcast_id, f.broadcast_id)):
        if value is not None:
            query = query.where(column == value)
    if f.channel:
        query = query.where(Appeal.channel == f.channel)
    if f.language:
        query = query.where(Appeal.language == f.language)
    today = deadlines.local_date()
    if f.overdue or f.due_soon:
        query = query.where(open_condition())
        if f.overdue and f.due_soon:
            query = query.where(Appeal.due_date <= today + timedelta(days=current_app.config["DUE_SOON_DAYS"]))
        elif f.overdue:
            query = query.where(Appeal.due_date < today)
        else:
            query = query.where(Appeal.due_date.between(today, today + timedelta(days=current_app.config["DUE_SOON_DAYS"])))
    if f.received_from:
        query = query.where(Appeal.received_at >= _local_midnight_utc(f.received_from))
    if f.received_to:
        query = query.where(Appeal.received_at < _local_midnight_utc(f.received_to + timedelta(days=1)))
    if f.q:
        pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Appeal.text.ilike(pattern, escape="\\"), Appeal.tracking_code == f.q.upper(),
                                Appeal.district.ilike(pattern, escape="\\")))
    return query.order_by(Appeal.due_date, Appeal.id)


def page(user: User, f: AppealFilter, size: int | None = None) -> tuple[list[Appeal], str | None]:
    """One page of the list after `f.after` (keyset: no OFFSET, as fast on page 1000 as on page 1)."""
    size = size or current_app.config["APPEALS_PAGE_SIZE"]
    query = filtered(user, f)
    if f.after:
        query = query.where(tuple_(Appeal.due_date, Appeal.id) > tuple_(*f.after))
    rows = list(db.session.execute(query.limit(size + 1).options(
        selectinload(Appeal.category), selectinload(Appeal.department), selectinload(Appeal.officer))).scalars())
    marker = None
    if len(rows) > size:
        rows = rows[:size]
        marker = f"{rows[-1].due_date.isoformat()}_{rows[-1].id}"
    return rows, marker


def count(user: User, f: AppealFilter, cap: int = 1_000) -> tuple[int, bool]:
    """How many appeals match, counted up to `cap` (a million-row count is not worth its time)."""
    sub = filtered(user, f).with_only_columns(Appeal.id).order_by(None).limit(cap + 1).subquery()
    n = db.session.execute(select(func.count()).select_from(sub)).scalar_one()
    return min(n, cap), n > cap


# --- exports ---------------------------------------------------------------------------------

COLUMNS = [
    ("tracking_code", _l("Number")), ("received", _l("Registered")), ("status", _l("Status")),
    ("due_date", _l("Due date")), ("urgency", _l("Deadline")), ("department", _l("Department")),
    ("category", _l("Category")), ("channel", _l("Channel")), ("language", _l("Language")),
    ("district", _l("District")), ("text", _l("Appeal")), ("answer", _l("Answer")), ("answered", _l("Answered")),
]
URGENCY = {"overdue": _l("overdue"), "due_soon": _l("due soon")}


def export_rows(user: User, f: AppealFilter, locale: str):
    """Header, then one row per matching appeal (streamed from the database in batches)."""
    yield [str(label) for _key, label in COLUMNS]
    today = deadlines.local_date()
    query = filtered(user, f).options(selectinload(Appeal.category), selectinload(Appeal.department))
    for appeal in db.session.execute(query.execution_options(yield_per=1000)).scalars():
        yield [appeal.tracking_code, format_datetime(appeal.received_at, "yyyy-MM-dd HH:mm"),
               status_label(appeal.status), appeal.due_date.isoformat(),
               str(URGENCY.get(deadlines.urgency(appeal.due_date, appeal.is_open, today), "")),
               appeal.department.name(locale) if appeal.department else "",
               appeal.category.name(locale) if appeal.category else "", appeal.channel, appeal.language,
               appeal.district, appeal.text, appeal.answer,
               format_datetime(appeal.answered_at, "yyyy-MM-dd HH:mm") if appeal.answered_at else ""]


def export_csv(user: User, f: AppealFilter, locale: str):
    """The filtered list as CSV text chunks (UTF-8 with a BOM so spreadsheet programs read Cyrillic)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    for row in export_rows(user, f, locale):
        writer.writerow(row)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_xlsx(user: User, f: AppealFilter, locale: str) -> bytes:
    """The filtered list as an XLSX workbook."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"constant_memory": True, "in_memory": True})
    sheet = workbook.add_worksheet(str(_l("Appeals"))[:31])
    bold = workbook.add_format({"bold": True})
    for r, row in enumerate(export_rows(user, f, locale)):
        if r >= 1_048_575:  # the sheet's row limit
            break
        sheet.write_row(r, 0, row, bold if r == 0 else None)
    sheet.freeze_panes(1, 0)
    workbook.close()
    return output.getvalue()
