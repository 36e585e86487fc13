"""The back office's list of appeals: filters, keyset pages by due date, exports."""
from __future__ import annotations

import csv
import io
import time as clock
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select, tuple_
from sqlalchemy.orm import selectinload

from .. import durability
from ..extensions import db
from ..runtime import runtime
from ..models import (LANGUAGES, Appeal, AppealStatus, appeal_open,
                      AppealType, Category, Channel, Department, User)
from ..permissions import appeal_scope, appeals_visible
from . import deadlines, topics
from .appeals import FORM_LABELS, TYPE_LABELS, channel_label, status_label
from ..errors import ValidationError
from .fields import parse_id
from .notices import pending_condition

A = AppealStatus
STATUSES = [s.value for s in A]
CHANNELS = [c.value for c in Channel]
TYPES = [t.value for t in AppealType]
KINDS = {"appeal": _l("Appeals"), "question": _l("Questions only")}


def clock_runs_condition():
    """SQL: the appeal's statutory clock runs (an indexed column the services keep in step with the status)."""
    return Appeal.clock_running.is_(True)


def unfinished_condition():
    """SQL: still waiting for its answer by its status, a question only included (Appeal.is_open)."""
    return Appeal.is_open


def _int(value, name: str, errors: dict) -> int | None:
    if value in (None, ""):
        return None
    number = parse_id(value)  # ASCII digits, 63 bits: "²" or 10**30 is a bad field, not a driver error
    if number is None:
        errors[name] = _l("Enter a number.")
    return number


def _day(value, name: str, errors: dict) -> date | None:
    if value in (None, ""):
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        day = None
    if day is None or not 1900 <= day.year <= 2999:  # what the office's records can hold (and UTC can shift)
        errors[name] = _l("Enter a date as YYYY-MM-DD.")
        return None
    return day


@dataclass
class AppealFilter:
    """What the officer asked to see; built from query arguments, bad ones named in a 400."""

    status: list[str] = field(default_factory=list)
    department_id: int | None = None
    category_id: int | None = None
    topic_id: int | None = None  # suggested or confirmed (services.topics)
    broadcast_id: int | None = None
    channel: str = ""
    language: str = ""
    appeal_type: str = ""
    overdue: bool = False
    due_soon: bool = False
    received_from: date | None = None
    received_to: date | None = None
    q: str = ""
    kind: str = ""  # "appeal" (statutory), "question" (question only) or "" (both)
    to_tell: bool = False  # a notice is due that could not be e-mailed (services.notices.pending)
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
        appeal_type = args.get("appeal_type", "")
        if appeal_type and appeal_type not in TYPES:
            errors["appeal_type"] = _l("Unknown type of appeal.")
        kind = args.get("kind", "")
        if kind and kind not in KINDS:
            errors["kind"] = _l("Unknown kind.")
        f = cls(status=statuses, channel=channel, language=language, appeal_type=appeal_type, kind=kind,
                department_id=_int(args.get("department_id"), "department_id", errors),
                category_id=_int(args.get("category_id"), "category_id", errors),
                topic_id=_int(args.get("topic_id"), "topic_id", errors),
                broadcast_id=_int(args.get("broadcast_id"), "broadcast_id", errors),
                overdue=args.get("overdue") in ("1", "on", "true"),
                due_soon=args.get("due_soon") in ("1", "on", "true"),
                to_tell=args.get("to_tell") in ("1", "on", "true"),
                received_from=_day(args.get("received_from"), "received_from", errors),
                received_to=_day(args.get("received_to"), "received_to", errors),
                q=(args.get("q") or "").strip()[:200])
        after = args.get("after", "")
        if after:
            day, _, ident = after.partition("_")
            try:
                marker = (date.fromisoformat(day), parse_id(ident))
            except ValueError:
                marker = (None, None)
            if None in marker:
                errors["after"] = _l("Invalid page marker.")
            else:
                f.after = marker
        if f.received_from and f.received_to and f.received_to < f.received_from:
            errors["received_to"] = _l("The end of the range is before its start.")
        if errors:
            raise ValidationError(fields=errors)
        return f

    def args(self, **override) -> dict:
        """The filter as query arguments (for links to the next page and the exports)."""
        values = {"status": self.status, "department_id": self.department_id, "category_id": self.category_id,
                  "topic_id": self.topic_id,
                  "broadcast_id": self.broadcast_id, "channel": self.channel, "language": self.language,
                  "appeal_type": self.appeal_type,
                  "overdue": "1" if self.overdue else None, "due_soon": "1" if self.due_soon else None,
                  "to_tell": "1" if self.to_tell else None,
                  "received_from": self.received_from.isoformat() if self.received_from else None,
                  "received_to": self.received_to.isoformat() if self.received_to else None, "q": self.q,
                  "kind": self.kind}
        values.update(override)
        return {k: v for k, v in values.items() if v not in (None, "", [])}


def _local_midnight_utc(day: date) -> datetime:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return datetime.combine(day, time.min, tzinfo=zone)


def filtered(user: User, f: AppealFilter) -> Select:
    """SELECT of the appeals `user` may see that match `f`, by due date then id."""
    query = select(Appeal)
    query = query.where(appeals_visible(appeal_scope(user)))  # the rule in permissions.py
    if f.status:
        query = query.where(Appeal.status.in_(f.status))
    for column, value in ((Appeal.department_id, f.department_id), (Appeal.category_id, f.category_id),
                          (Appeal.broadcast_id, f.broadcast_id)):
        if value is not None:
            query = query.where(column == value)
    if f.topic_id is not None:
        query = query.where(topics.condition(f.topic_id))
    if f.channel:
        query = query.where(Appeal.channel == f.channel)
    if f.language:
        query = query.where(Appeal.language == f.language)
    if f.appeal_type:
        query = query.where(Appeal.appeal_type == f.appeal_type)
    if f.kind:
        query = query.where(Appeal.statutory.is_(f.kind == "appeal"))
    if f.to_tell:
        query = query.where(pending_condition())
    today = deadlines.local_date()
    if f.overdue or f.due_soon:
        query = query.where(clock_runs_condition())
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


def count_by_channel(user: User, f: AppealFilter, cap: int = 1_000) -> tuple[dict[str, int], bool]:
    """How many of the matching appeals came by each channel (the channel filter left out, so every channel
    shows), counted among the first `cap` + 1 like `count`; True when there were more."""
    from dataclasses import replace
    sub = (filtered(user, replace(f, channel="", after=None)).with_only_columns(Appeal.channel).order_by(None)
           .limit(cap + 1).subquery())
    rows = db.session.execute(select(sub.c.channel, func.count()).group_by(sub.c.channel)).all()
    counts = {channel: n for channel, n in rows}
    return {c: counts[c] for c in CHANNELS if counts.get(c)}, sum(counts.values()) > cap


# --- exports ---------------------------------------------------------------------------------
#
# A large export held the event loop, and every viewer's acknowledgement waited behind it
# (docs/performance.md, "Behind the code's comments"). Now the rows are read as plain columns, a batch at a time with a yield to the
# other connections in between; the CSV is written and sent batch by batch, and the XLSX workbook is
# built from the finished rows in a real OS thread (`durability.run_blocking`: eventlet's tpool,
# gevent's thread pool) and sent in slices. The database session stays in the request: sessions are
# not thread-safe, and the thread gets nothing but lists of strings.
#
# Spreadsheet programs run what looks like a formula: a resident's "=HYPERLINK(...)" would become a
# live link on an officer's PC. The workbook writes every value as a string (no formulas, no links,
# no numbers guessed), and a CSV cell that begins like a formula is prefixed with an apostrophe.

COLUMNS = [
    ("tracking_code", _l("Number")), ("received", _l("Registered")), ("status", _l("Status")),
    ("due_date", _l("Due date")), ("urgency", _l("Deadline")), ("department", _l("Department")),
    ("category", _l("Category")), ("channel", _l("Channel")), ("language", _l("Language")),
    ("district", _l("District")), ("text", _l("Appeal")), ("answer", _l("Answer")), ("answered", _l("Answered")),
    ("appeal_type", _l("Type of appeal")), ("form", _l("Form")), ("repeat", _l("Repeat")), ("collective", _l("Collective")),
    ("lat", _l("Latitude")), ("long", _l("Longitude")), ("source_system", _l("Sending system")),
    ("topics", _l("Topics")),
]
# CSV's list separator: Excel reads a CSV with the regional settings' list separator, which is ";" in
# Russian and Kazakh (where "," is the decimal mark) and "," in English.
CSV_SEPARATORS = {"semicolon": ";", "comma": ","}


def csv_separator(name: str | None, locale: str) -> str:
    """The CSV separator the export asked for (`sep=semicolon|comma`), by default the page language's."""
    if not name:
        return "," if locale == "en" else ";"
    if name not in CSV_SEPARATORS:
        raise ValidationError(fields={"sep": _l("Unknown separator: use semicolon or comma.")})
    return CSV_SEPARATORS[name]
URGENCY = {"overdue": _l("overdue"), "due_soon": _l("due soon")}
EXPORT_BATCH = 100  # rows read and formatted between two yields to the event loop (a few ms)
XLSX_MAX_ROWS = 1_048_576  # a sheet's rows, the header included
# What makes a spreadsheet program read a cell as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
WORKBOOK_OPTIONS = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                    "strings_to_numbers": False}
# One export at a time per process: the workbook takes one of the real threads (`serve` keeps one
# each for the SQLite log's syncs, a password hash and an export). Others wait their turn, for at
# most EXPORT_WAIT_SECONDS.
EXPORT_WAIT_SECONDS = 60


class ExportBusy(Exception):
    """Another export held the process's export slot for EXPORT_WAIT_SECONDS."""


def csv_cell(value: str) -> str:
    """The cell as text a spreadsheet program will not run: a leading apostrophe before = + - @, tab or CR."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _yield_to_others() -> None:
    """Let the other connections run: time.sleep is the event loop's under eventlet and gevent, and
    a wait longer than zero lets the loop poll the sockets too (gevent's sleep(0) does not)."""
    clock.sleep(0.0001)


def clock_runs(row) -> bool:
    """Appeal.clock_runs applied to a plain row of .statutory, .status and .follow_up."""
    return row.statutory is not False and appeal_open(row.status, row.follow_up)


def export_batches(user: User, f: AppealFilter, locale: str, batch: int = EXPORT_BATCH):
    """The header row, then the matching appeals as rows, a batch (a list of rows) at a time; between
    batches the other connections run. Values keep their types for the spreadsheet: text, a date, a moment
    in the office's time (naive: spreadsheets have no time zones), a number, or None for an empty cell."""
    yield [[str(label) for _key, label in COLUMNS]]
    zone = ZoneInfo(current_app.config["TIMEZONE"])

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) if moment else None
    today = deadlines.local_date()
    statuses = {s: status_label(s) for s in STATUSES}
    channels = {c: channel_label(c) for c in CHANNELS}
    question_only = str(_l("question only"))
    urgency = {key: str(label) for key, label in URGENCY.items()}
    types = {key.value: str(label) for key, label in TYPE_LABELS.items()}
    forms = {key.value: str(label) for key, label in FORM_LABELS.items()}
    yes, no = str(_l("yes")), str(_l("no"))
    departments = {d.id: d.name(locale) for d in db.session.execute(select(Department)).scalars()}
    categories = {c.id: c.name(locale) for c in db.session.execute(select(Category)).scalars()}
    topic_names = topics.topic_names(locale)
    query = filtered(user, f).with_only_columns(
        Appeal.tracking_code, Appeal.received_at, Appeal.status, Appeal.follow_up, Appeal.statutory, Appeal.due_date,
        Appeal.department_id, Appeal.category_id, Appeal.channel, Appeal.language, Appeal.district, Appeal.text,
        Appeal.answer, Appeal.answered_at, Appeal.appeal_type, Appeal.form, Appeal.repeat, Appeal.collective,
        Appeal.lat, Appeal.long, Appeal.source_system, Appeal.id)
    result = db.session.execute(query.execution_options(yield_per=batch))
    for part in result.partitions():
        _yield_to_others()
        tags = topics.names_by_appeal([a.id for a in part], topic_names)
        # Appeal.clock_runs reads only .statutory, .status and .follow_up: the rule applied to a plain row
        yield [[a.tracking_code, local(a.received_at),
                statuses[a.status] if a.statutory else f"{statuses[a.status]} ({question_only})",
                a.due_date if a.statutory else None,
                urgency.get(deadlines.urgency(a.due_date, clock_runs(a), today), ""),
                departments.get(a.department_id, ""), categories.get(a.category_id, ""),
                channels.get(a.channel, a.channel), a.language,
                a.district or "", a.text or "", a.answer or "",
                local(a.answered_at),
                types.get(a.appeal_type, a.appeal_type), forms.get(a.form, a.form), yes if a.repeat else no,
                yes if a.collective else no, a.lat, a.long, a.source_system or "", tags.get(a.id, "")]
               for a in part]


def export_rows(user: User, f: AppealFilter, locale: str):
    """Header, then one row per matching appeal."""
    for rows in export_batches(user, f, locale):
        yield from rows


def export_semaphore():
    """The process's export slot (made in the app, after the server patched threading: a green one)."""
    return runtime().export_slot


@contextmanager
def export_slot():
    """Hold the process's export slot (ExportBusy after EXPORT_WAIT_SECONDS of waiting)."""
    slot = export_semaphore()
    if not slot.acquire(timeout=EXPORT_WAIT_SECONDS):
        raise ExportBusy()
    try:
        yield
    finally:
        slot.release()


def csv_text(value, separator: str) -> str:
    """A typed export value as CSV text: moments to the minute, ISO dates, and numbers with the decimal
    mark that goes with the separator (a comma with ";", as Excel in Russian and Kazakh reads them)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        text = repr(value)
        return text.replace(".", ",") if separator == ";" else text
    return csv_cell(value)


def export_csv(user: User, f: AppealFilter, locale: str, separator: str = ","):
    """The filtered list as CSV text chunks (UTF-8 with a BOM so spreadsheet programs read Cyrillic),
    written and sent a batch at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator)
    yield "\ufeff"
    for rows in export_batches(user, f, locale):
        writer.writerows([[csv_text(value, separator) for value in row] for row in rows])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


APPEAL_WIDTHS = {1: 16, 3: 11, 12: 16}  # the appeals' export: its moments and dates fit their cells


def build_xlsx(rows: list[list], sheet_name: str, widths: dict[int, int] | None = None) -> bytes:
    """A workbook of `rows` (the first in bold, and frozen): text as text (never a formula or a link),
    dates and moments as date cells with a date format, numbers as numbers. Pure: safe in another thread."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, WORKBOOK_OPTIONS)
    sheet = workbook.add_worksheet(sheet_name[:31])
    bold = workbook.add_format({"bold": True})
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for r, row in enumerate(rows[:XLSX_MAX_ROWS]):
        for c, value in enumerate(row):
            if value is None:
                continue
            if r == 0:
                sheet.write_string(r, c, value, bold)
            elif isinstance(value, datetime):
                sheet.write_datetime(r, c, value, moment)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, value, day)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    for column, width in (APPEAL_WIDTHS if widths is None else widths).items():
        sheet.set_column(column, column, width)
    sheet.freeze_panes(1, 0)
    workbook.close()
    return output.getvalue()


def export_xlsx(user: User, f: AppealFilter, locale: str) -> bytes:
    """The filtered list as an XLSX workbook: rows read here, the workbook built in a real thread."""
    with export_slot():
        rows: list[list] = []
        for batch in export_batches(user, f, locale):
            rows.extend(batch)
            if len(rows) >= XLSX_MAX_ROWS:
                break
        db.session.rollback()  # the read is over: no transaction stays open while the workbook is built
        sheet_name = str(_l("Appeals"))
        return durability.run_blocking(lambda: build_xlsx(rows, sheet_name))
