"""Loading holiday schedules and counting working days against the database's schedules."""

from __future__ import annotations

import datetime as dt
import hashlib
from importlib import metadata

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import audit
from credit.errors import SpotcheckError
from inspection import workdays
from inspection.models import HolidaySchedule


def load_schedule(session: Session, name: str, text: str, operator: str) -> tuple[workdays.Schedule, str]:
    """Store a schedule file; returns it and what happened: "loaded", or "unchanged" when the
    same file was loaded before. A different file for a loaded year is refused (deadlines were
    counted with the first), and so is a file that contradicts chinese-calendar for a year the
    library knows."""
    try:
        schedule = workdays.parse_schedule(name, text)
    except workdays.ScheduleError as exc:
        raise SpotcheckError(str(exc)) from None
    if workdays.library_knows(schedule.year):
        day = dt.date(schedule.year, 1, 1)
        while day.year == schedule.year:
            if schedule.is_workday(day) != chinese_calendar.is_workday(day):
                said = "a working day" if schedule.is_workday(day) else "a day off"
                raise SpotcheckError(f"{name}: chinese-calendar {metadata.version('chinese-calendar')} knows {schedule.year} and disagrees: "
                                     f"the file makes {day} {said}; the library's schedule is used for {schedule.year}")
            day += dt.timedelta(days=1)
    digest = hashlib.sha256(text.encode()).hexdigest()
    stored = session.get(HolidaySchedule, schedule.year)
    if stored is not None:
        if stored.sha256 == digest:
            return schedule, "unchanged"
        raise SpotcheckError(f"{name}: a different schedule for {schedule.year} was loaded on {stored.loaded_at:%Y-%m-%d} ({stored.source}); "
                             "a loaded schedule is never changed, because deadlines were counted with it")
    session.add(HolidaySchedule(year=schedule.year, source=schedule.source, text=text, sha256=digest, operator=operator))
    audit.record(session, "calendar.load", f"holiday schedule {schedule.year} loaded from {schedule.source}", subject=name, detail={"year": schedule.year, "sha256": digest})
    return schedule, "loaded"


def loaded_schedules(session: Session) -> dict[int, workdays.Schedule]:
    return {row.year: workdays.parse_schedule(f"schedule {row.year}", row.text) for row in session.scalars(select(HolidaySchedule))}


def _refusal(year: int, needed: str) -> SpotcheckError:
    return SpotcheckError(
        f"no holiday schedule for {year} (needed for {needed}): chinese-calendar {metadata.version('chinese-calendar')} "
        f"does not know it; load the State Council's schedule with `spotcheck calendar load FILE`"
    )


def working_days(session: Session, start: dt.date, end: dt.date) -> list[dt.date]:
    """The working days of ``start``–``end``; a year neither chinese-calendar nor a loaded
    schedule knows is refused with what to do, never guessed."""
    try:
        return workdays.working_days(start, end, loaded_schedules(session))
    except LookupError as exc:
        raise _refusal(exc.args[0], f"{start}–{end}") from None


class Workdays:
    """Deadlines in working days against the database's schedules (statutory holidays and
    make-up working days); an uncovered year is refused with what to do, never guessed."""

    def __init__(self, session: Session) -> None:
        self._days = workdays.Workdays(loaded_schedules(session))

    def add(self, start: dt.date, count: int, what: str = "a deadline") -> dt.date:
        try:
            return self._days.add(start, count)
        except LookupError as exc:
            raise _refusal(exc.args[0], f"{what}: {count} working days after {start}") from None

    def left(self, today: dt.date, deadline: dt.date) -> int | None:
        """Working days left (negative: overdue). None when the deadline has passed for certain but
        the working days since cannot be counted: a year after it has no schedule yet. Being
        overdue needs no guess; the count would."""
        try:
            return self._days.left(today, deadline)
        except LookupError as exc:
            if deadline < today:
                return None
            raise _refusal(exc.args[0], f"the working days between {today} and {deadline}") from None
