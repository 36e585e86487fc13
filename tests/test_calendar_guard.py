"""The law's calendar as the pinned `holidays` package knows it: the 2026 constitutional change is in.

`holidays` before 0.101 still lists 30-31 August (the old Constitution Day) and lacks 15 March
(the new one): due dates would be a day off in both years (docs/appeals.md)."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import holidays
import pytest

from companion.services.deadlines import WorkCalendar

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
OLDEST_HOLIDAYS = (0, 101)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def pinned_holidays() -> str:
    [pin] = re.findall(r"^holidays\s*==\s*([0-9.]+)\s*$", REQUIREMENTS.read_text(), re.MULTILINE)
    return pin


def test_31_august_2026_is_a_working_day():
    assert date(2026, 8, 31).weekday() == 0  # a Monday that older calendars took off
    assert WorkCalendar().is_working_day(date(2026, 8, 31))
    assert WorkCalendar().is_working_day(date(2027, 8, 30))


def test_15_march_2027_is_a_day_off():
    assert date(2027, 3, 15).weekday() == 0
    assert not WorkCalendar().is_working_day(date(2027, 3, 15))


def test_requirements_pin_holidays_at_0_101_or_later():
    assert version_tuple(pinned_holidays()) >= OLDEST_HOLIDAYS


def test_the_installed_holidays_is_the_pinned_one():
    assert version_tuple(holidays.__version__) == version_tuple(pinned_holidays())


@pytest.mark.parametrize("pin, ok", [("0.100", False), ("0.101", True), ("0.109", True), ("1.0", True)])
def test_the_version_comparison_is_numeric(pin, ok):
    assert (version_tuple(pin) >= OLDEST_HOLIDAYS) is ok
