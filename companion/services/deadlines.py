"""The statutory clock: working days on the Kazakhstan calendar, due dates, extension limits."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta
from flask import current_app
from flask_babel import format_date, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..models import CalendarDay, utcnow
from .errors import ValidationError
from .fields import storable

DAY_OFF = "day_off"
WORKING_DAY = "working_day"


@lru_cache(maxsize=32)
def holiday_dates(year: int) -> frozenset[date]:
    """Kazakhstan's public holidays (and their observed days) in `year`, from the `holidays` package.

    Kept per year for every request: building the calendar anew cost about 2 ms per registered
    appeal, a quarter of a question's whole server time. This is the law's calendar, not screen
    state; the office's own corrections are read from the database every time (office_calendar)."""
    return frozenset(holidays.country_holidays("KZ", years=year).keys())


class WorkCalendar:
    """Kazakhstan's public holidays (the `holidays` package) corrected by the office's own table:
    extra days off, and weekend days the government made working days."""

    def __init__(self, days_off=(), working_days=()):
        self.days_off = set(days_off)
        self.working_days = set(working_days)
        self._added: dict[tuple[date, int], date] = {}

    def is_working_day(self, day: date) -> bool:
        """True when offices work on `day`."""
        if day in self.working_days:
            return True
        if day in self.days_off or day.weekday() >= 5:
            return False
        return day not in holiday_dates(day.year)

    def add_working_days(self, start: date, count: int) -> date:
        """The `count`-th working day after `start` (the day of receipt itself is not counted)."""
        key = (start, count)
        if key not in self._added:  # remembered: every appeal of a day has the same due date
            day = start
            while count > 0:
                day += timedelta(days=1)
                if self.is_working_day(day):
                    count -= 1
            self._added[key] = day
        return self._added[key]

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (negative when end is earlier)."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(self.is_working_day(start + timedelta(days=i)) for i in range(1, (end - start).days + 1))


def office_calendar() -> WorkCalendar:
    """The calendar with the corrections an admin entered."""
    rows = db.session.execute(select(CalendarDay)).scalars().all()
    return WorkCalendar(days_off=[r.day for r in rows if r.kind == DAY_OFF],
                        working_days=[r.day for r in rows if r.kind == WORKING_DAY])


def local_date(moment: datetime | None = None) -> date:
    """The office's calendar date at `moment` (now by default)."""
    moment = moment or utcnow()
    return moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()


def answer_due(received: date, calendar: WorkCalendar) -> date:
    """Received + 15 working days (the setting ANSWER_WORKING_DAYS)."""
    return calendar.add_working_days(received, current_app.config["ANSWER_WORKING_DAYS"])


def forward_due(received: date, calendar: WorkCalendar) -> date:
    """The last day to forward an appeal outside the office's competence."""
    return calendar.add_working_days(received, current_app.config["FORWARD_WORKING_DAYS"])


def notice_due(decided: date, calendar: WorkCalendar) -> date:
    """The last day to tell the applicant of an extension decided on `decided`."""
    return calendar.add_working_days(decided, current_app.config["NOTICE_WORKING_DAYS"])


def extension_limit(received: date) -> date:
    """The latest due date an extension may set: two months from receipt."""
    return received + relativedelta(months=current_app.config["EXTENSION_MAX_MONTHS"])


def check_extension(received: date, current_due: date, new_due: date) -> None:
    """Refuse an extended due date that is not later than the current one or past the limit."""
    limit = extension_limit(received)
    if new_due <= current_due:
        raise ValidationError(fields={"due_date": _l("The new due date must be later than the current one (%(d)s).",
                                                     d=format_date(current_due, "long"))})
    if new_due > limit:
        months = current_app.config["EXTENSION_MAX_MONTHS"]
        raise ValidationError(fields={"due_date": ngettext(
            "An appeal may be extended to at most %(months)s month from receipt: the latest due date is %(d)s.",
            "An appeal may be extended to at most %(months)s months from receipt: the latest due date is %(d)s.",
            months, months=months, d=format_date(limit, "long"))}, limit=limit.isoformat())


def urgency(due: date | None, is_open: bool, today: date | None = None) -> str | None:
    """"overdue" (red), "due_soon" (amber) or None for an appeal's due date."""
    if not is_open or due is None:
        return None
    today = today or local_date()
    if due < today:
        return "overdue"
    if due <= today + timedelta(days=current_app.config["DUE_SOON_DAYS"]):
        return "due_soon"
    return None


def parse_day(value: str, field: str) -> date:
    """A YYYY-MM-DD date, or ValidationError naming `field`."""
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise ValidationError(fields={field: _l("Enter a date as YYYY-MM-DD.")}) from None


def set_calendar_day(day: date, kind: str | None, note: str = "") -> None:
    """Mark `day` as an extra day off or a working day; kind None removes the correction."""
    if not storable(note or ""):
        raise ValidationError(fields={"note": _l("This text contains characters that cannot be stored. Please remove them.")})
    row = db.session.get(CalendarDay, day)
    if kind is None:
        if row is not None:
            db.session.delete(row)
    elif kind not in (DAY_OFF, WORKING_DAY):
        raise ValidationError(fields={"kind": _l("Choose a day off or a working day.")})
    elif row is None:
        db.session.add(CalendarDay(day=day, kind=kind, note=note.strip()[:200]))
    else:
        row.kind, row.note = kind, note.strip()[:200]
    db.session.commit()


def calendar_days() -> list[CalendarDay]:
    """The office's calendar corrections, by date."""
    return list(db.session.execute(select(CalendarDay).order_by(CalendarDay.day)).scalars())
