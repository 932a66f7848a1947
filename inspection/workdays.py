"""Working days (工作日): chinese-calendar for the years it knows, a loaded State Council schedule
(国务院办公厅关于部分节假日安排的通知) for the others, and a refusal, never a guess, for a year
neither covers. Pure: the loaded schedules come in from the caller.

A schedule file (TOML)::

    year = 2027
    source = "国办发明电〔2026〕N号"        # the notice it copies
    workdays = [2027-02-14]                  # 调休上班: weekend days that are working days
    [[holiday]]                              # one per festival (放假), first and last day off
    name = "春节"
    from = 2027-02-06
    to = 2027-02-13

A day is a working day when it is a make-up working day, or a Monday to Friday outside every
holiday.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

import chinese_calendar


class ScheduleError(ValueError):
    """A schedule file that cannot be used; the message names the line or key."""


@dataclass(frozen=True)
class Schedule:
    year: int
    source: str
    holidays: tuple[tuple[str, dt.date, dt.date], ...]  # (name, first day, last day)
    workdays: tuple[dt.date, ...]

    def days_off(self) -> dict[dt.date, str]:
        return {start + dt.timedelta(days=k): name for name, start, end in self.holidays for k in range((end - start).days + 1)}

    def is_workday(self, day: dt.date) -> bool:
        if day.year != self.year:
            raise ValueError(f"{day} is not in {self.year}")
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.days_off()


def library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def parse_schedule(name: str, text: str) -> Schedule:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{name}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"year", "source", "holiday", "workdays"})
    if unknown:
        raise ScheduleError(f"{name}: {unknown[0]}: unknown key")
    year = data.get("year")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ScheduleError(f"{name}: year: expected a year such as 2027, got {year!r}")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ScheduleError(f"{name}: source: name the State Council notice the schedule copies")
    holidays = []
    entries = data.get("holiday", [])
    if not isinstance(entries, list) or not entries:
        raise ScheduleError(f"{name}: holiday: at least one [[holiday]] is needed")
    for n, entry in enumerate(entries, 1):
        where = f"{name}: holiday[{n}]"
        if not isinstance(entry, dict):
            raise ScheduleError(f"{where}: expected a table with name, from and to")
        extra = sorted(set(entry) - {"name", "from", "to"})
        if extra:
            raise ScheduleError(f"{where}: {extra[0]}: unknown key (year, source and workdays go before the first [[holiday]])")
        title, start, end = entry.get("name"), entry.get("from"), entry.get("to", entry.get("from"))
        if not isinstance(title, str) or not title.strip():
            raise ScheduleError(f"{where}: name: the festival's name, e.g. 春节")
        if not _is_date(start) or not _is_date(end):
            raise ScheduleError(f"{where}: from and to must be dates such as 2027-02-06")
        if end < start:
            raise ScheduleError(f"{where}: to {end} is before from {start}")
        if start.year != year or end.year != year:
            raise ScheduleError(f"{where}: {start}–{end} is not inside {year}")
        holidays.append((title.strip(), start, end))
    workdays = data.get("workdays", [])
    if not isinstance(workdays, list) or not all(_is_date(d) for d in workdays):
        raise ScheduleError(f"{name}: workdays: expected a list of dates such as [2027-02-14]")
    schedule = Schedule(year, source.strip(), tuple(sorted(holidays, key=lambda h: h[1])), tuple(sorted(workdays)))
    off = schedule.days_off()
    for day in schedule.workdays:
        if day.year != year:
            raise ScheduleError(f"{name}: workdays: {day} is not inside {year}")
        if day.weekday() < 5:
            raise ScheduleError(f"{name}: workdays: {day} is a {day.strftime('%A')}: a make-up working day (调休上班) falls on a weekend")
        if day in off:
            raise ScheduleError(f"{name}: workdays: {day} is inside the holiday {off[day]}")
    return schedule


def _is_date(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def working_days(start: dt.date, end: dt.date, schedules: Mapping[int, Schedule]) -> list[dt.date]:
    """The working days from ``start`` to ``end``. Raises LookupError naming the first year that
    neither chinese-calendar nor a loaded schedule covers."""
    out = []
    day = start
    known: dict[int, bool] = {}
    while day <= end:
        year = day.year
        if year not in known:
            known[year] = library_knows(year)
            if not known[year] and year not in schedules:
                raise LookupError(year)
        if known[year]:
            if chinese_calendar.is_workday(day):
                out.append(day)
        elif schedules[year].is_workday(day):
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def add_working_days(start: dt.date, count: int, schedules: Mapping[int, Schedule]) -> dt.date:
    """The ``count``-th working day after ``start`` (start itself not counted): a deadline of
    "20 working days after the visit"."""
    return Workdays(schedules).add(start, count)


class Workdays:
    """Working days for many deadlines at once: each day is looked up once. Raises LookupError
    (the year) for a year neither chinese-calendar nor a loaded schedule covers."""

    def __init__(self, schedules: Mapping[int, Schedule]) -> None:
        self.schedules = schedules
        self._days: dict[dt.date, bool] = {}

    def is_workday(self, day: dt.date) -> bool:
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = bool(working_days(day, day, self.schedules))
        return known

    def add(self, start: dt.date, count: int) -> dt.date:
        """The ``count``-th working day after ``start``."""
        day, left = start, count
        while left > 0:
            day += dt.timedelta(days=1)
            left -= self.is_workday(day)
        return day

    def left(self, today: dt.date, deadline: dt.date) -> int:
        """Working days after ``today`` up to the deadline (0 on the deadline itself); negative
        when the deadline has passed: minus the working days since."""
        if deadline >= today:
            return sum(self.is_workday(today + dt.timedelta(days=k)) for k in range(1, (deadline - today).days + 1))
        return -sum(self.is_workday(deadline + dt.timedelta(days=k)) for k in range(1, (today - deadline).days + 1))
