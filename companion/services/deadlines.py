"""The statutory clock: working days on the Kazakhstan calendar, due dates, extension limits."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
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
from ..errors import ValidationError
from .fields import Limit, text

DAY_OFF = "day_off"
WORKING_DAY = "working_day"


@lru_cache(maxsize=32)
def holiday_dates(year: int) -> frozenset[date]:
    """Kazakhstan's public holidays (and their observed days) in `year`, from the `holidays` package.

    Kept per year for every request: building the calendar anew for each registered appeal was a
    large share of a question's server time (docs/performance.md). This is the law's calendar, not screen
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


TERM_FROM_CHOICES = ("receipt", "registration")


def check_settings(config) -> None:
    """Refuse at start-up a WORKING_HOURS or TERM_FROM setting the clock cannot use (ValueError)."""
    working_hours(config)
    if config["TERM_FROM"] not in TERM_FROM_CHOICES:
        raise ValueError(f"COMPANION_TERM_FROM must be receipt or registration, not {config['TERM_FROM']!r}")


def working_hours(config=None) -> tuple[time, time]:
    """The office's working hours (setting WORKING_HOURS, "09:00-18:30"), local time."""
    value = (config or current_app.config)["WORKING_HOURS"]
    try:
        start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
    except ValueError:
        raise ValueError(f"COMPANION_WORKING_HOURS must be HH:MM-HH:MM, not {value!r}") from None
    if not start < end:
        raise ValueError(f"COMPANION_WORKING_HOURS must end after it starts: {value!r}")
    return start, end


def local_moment(moment: datetime) -> datetime:
    """`moment` in the office's time zone."""
    return moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))


def registration_day(moment: datetime, calendar: WorkCalendar) -> date:
    """The legal registration date of an appeal received at `moment` (APPK art. 64(3)): the day of
    receipt on a working day before the end of working hours, else the next working day."""
    local = local_moment(moment)
    day = local.date()
    if calendar.is_working_day(day) and local.time() < working_hours()[1]:
        return day
    return calendar.add_working_days(day, 1)


def term_start(moment: datetime, calendar: WorkCalendar) -> date:
    """The day the terms count from (setting TERM_FROM): the day of receipt (the default, the earlier
    due date) or the registration date."""
    if current_app.config["TERM_FROM"] == "registration":
        return registration_day(moment, calendar)
    return local_moment(moment).date()


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


RECEIVED_AT_SKEW = timedelta(minutes=2)  # the sending system's clock may run a little ahead of ours


def parse_received_at(value, now: datetime | None = None) -> datetime:
    """An integrator's original time of receipt: ISO 8601 with a zone, not in the future, at most
    RECEIVED_AT_MAX_AGE_DAYS old; ValidationError naming `received_at` otherwise."""
    malformed = ValidationError(fields={"received_at": _l(
        "Give the time of receipt in ISO 8601 with its time zone, for example 2026-03-19T10:00:00+05:00.")})
    if not isinstance(value, str) or len(value) > Limit.MOMENT:
        raise malformed
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            raise ValueError(value)
        moment = moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+05:00 has no UTC time
        raise malformed from None
    now = now or utcnow()
    if moment > now + RECEIVED_AT_SKEW:
        raise ValidationError(fields={"received_at": _l("The time of receipt is in the future.")})
    days = current_app.config["RECEIVED_AT_MAX_AGE_DAYS"]
    if moment < now - timedelta(days=days):
        raise ValidationError(fields={"received_at": _l(
            "The time of receipt is too long ago: at most %(n)s days back are accepted.", n=days)})
    return moment


def parse_day(value: str, field: str) -> date:
    """A YYYY-MM-DD date, or ValidationError naming `field`."""
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise ValidationError(fields={field: _l("Enter a date as YYYY-MM-DD.")}) from None


def set_calendar_day(day: date, kind: str | None, note: str = "") -> None:
    """Mark `day` as an extra day off or a working day; kind None removes the correction."""
    note = text(note, "note", Limit.CALENDAR_NOTE)  # refused beyond the column, never cut
    row = db.session.get(CalendarDay, day)
    if kind is None:
        if row is not None:
            db.session.delete(row)
    elif kind not in (DAY_OFF, WORKING_DAY):
        raise ValidationError(fields={"kind": _l("Choose a day off or a working day.")})
    elif row is None:
        db.session.add(CalendarDay(day=day, kind=kind, note=note))
    else:
        row.kind, row.note = kind, note
    db.session.commit()


def calendar_days() -> list[CalendarDay]:
    """The office's calendar corrections, by date."""
    return list(db.session.execute(select(CalendarDay).order_by(CalendarDay.day)).scalars())
