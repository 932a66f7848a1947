"""`spotcheck calendar`: a year chinese-calendar does not know is refused until its State Council
schedule is loaded; a loaded schedule is never changed; the working days follow it."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from inspection import workdays
from tests.cli.test_assign import load_inspectors, inspector, teams
from tests.cli.test_task import STATION_A, USCC, create, draw, load_small, write
from tests.conftest import Env
from tests.schedules import SCHEDULE_2027



def schedule_of_library_year(year: int, flip: dt.date | None = None) -> str:
    """A schedule file for a year chinese-calendar knows, copied from it (``flip``: one day made a
    day off although the library says it is a working day)."""
    days = [dt.date(year, 1, 1) + dt.timedelta(days=k) for k in range(366 if year % 4 == 0 else 365)]
    off = [d for d in days if d.weekday() < 5 and not chinese_calendar.is_workday(d)] + ([flip] if flip else [])
    extra = [d for d in days if d.weekday() >= 5 and chinese_calendar.is_workday(d)]
    holidays = "".join(f'[[holiday]]\nname = "假日{n}"\nfrom = {d}\nto = {d}\n' for n, d in enumerate(off))
    return f'year = {year}\nsource = "chinese-calendar"\nworkdays = [{", ".join(map(str, extra))}]\n{holidays}'


class TestLoad:
    def test_load_list_and_reload(self, env: Env) -> None:
        path = write(env, "calendar-2027.toml", SCHEDULE_2027)
        got = env.json("calendar", "load", str(path))
        assert got == {"year": 2027, "status": "loaded", "source": "测试用安排（非真实通知）", "holiday_days": 5, "workdays": ["2027-03-06"]}
        assert env.json("calendar", "load", str(path))["status"] == "unchanged"
        listed = env.json("calendar", "list")
        assert listed["library_years"][1] == 2026 and [r["year"] for r in listed["loaded"]] == [2027]
        changed = write(env, "other.toml", SCHEDULE_2027.replace("to = 2027-03-03", "to = 2027-03-04"))
        assert "a loaded schedule is never changed" in env.run("calendar", "load", str(changed), expect=1).stderr

    @pytest.mark.parametrize(("change", "reason"), [
        (("year = 2027", "year = 2027\ncolour = 1"), "colour: unknown key"),
        (("workdays = [2027-03-06]", "workdays = [2027-03-05]"), "2027-03-05 is a Friday"),
        (("workdays = [2027-03-06]", "workdays = [2027-01-02]"), "inside the holiday 元旦"),
        (("to = 2027-03-03", "to = 2028-01-03"), "is not inside 2027"),
        (("to = 2027-03-03", "to = 2027-03-01"), "is before from"),
        (("to = 2027-03-03", "to = 2027-03-03\nworkdays = []"), "holiday[2]: workdays: unknown key (year, source and workdays go before"),
        (('source = "测试用安排（非真实通知）"', ""), "source: name the State Council notice"),
        (("[[holiday]]", "[[holiday"), "not valid TOML"),
    ])
    def test_bad_files_are_refused_with_the_reason(self, env: Env, change: tuple[str, str], reason: str) -> None:
        path = write(env, "bad.toml", SCHEDULE_2027.replace(*change, 1))
        result = env.run("calendar", "load", str(path), expect=1)
        assert reason in result.stderr and "Traceback" not in result.stderr
        assert env.scalar("SELECT count(*) FROM holiday_schedules") == 0

    def test_a_known_year_must_agree_with_the_library(self, env: Env) -> None:
        agreeing = write(env, "2025.toml", schedule_of_library_year(2025))
        assert env.json("calendar", "load", str(agreeing))["status"] == "loaded"
        wrong = write(env, "2024.toml", schedule_of_library_year(2024, flip=dt.date(2024, 3, 5)))
        result = env.run("calendar", "load", str(wrong), expect=1)
        assert "knows 2024 and disagrees: the file makes 2024-03-05 a day off" in result.stderr


def test_assignment_in_an_unknown_year_waits_for_the_schedule(env: Env, make_uscc: USCC) -> None:
    load_small(env, make_uscc)
    create(env, "T27", stations=[STATION_A], starts="2027-03-01", ends="2027-03-12")
    draw(env, "T27")
    load_inspectors(env, [inspector(n, expires="2031-12-31") for n in range(1, 7)])
    refused = env.run("task", "assign", "T27", expect=1).stderr
    assert "no holiday schedule for 2027" in refused and "spotcheck calendar load FILE" in refused
    assert env.scalar("SELECT count(*) FROM assignments") == 0
    env.run("calendar", "load", str(write(env, "calendar-2027.toml", SCHEDULE_2027)))
    env.run("task", "assign", "T27")
    assert len(teams(env, "T27")) > 0
    used = _dates(env)
    # Not on the loaded holiday (Tue-Wed), nor on a Sunday; the make-up Saturday counts.
    assert used and used <= {"2027-03-01", "2027-03-04", "2027-03-05", "2027-03-06", "2027-03-08", "2027-03-09", "2027-03-10", "2027-03-11", "2027-03-12"}
    assert env.json("task", "verify", "T27")["identical"]


def _dates(env: Env) -> set[str]:
    from tests.cli.test_task import rows

    return {str(d) for (d,) in rows(env, "SELECT DISTINCT scheduled_on FROM visits")}


class TestWorkdaysCore:
    def test_library_years_and_loaded_years_together(self) -> None:
        schedule = workdays.parse_schedule("s", SCHEDULE_2027)
        days = workdays.working_days(dt.date(2026, 12, 30), dt.date(2027, 1, 5), {2027: schedule})
        assert days == [dt.date(2026, 12, 30), dt.date(2026, 12, 31), dt.date(2027, 1, 4), dt.date(2027, 1, 5)]
        assert workdays.add_working_days(dt.date(2027, 3, 1), 3, {2027: schedule}) == dt.date(2027, 3, 6)

    def test_an_unknown_year_is_never_guessed(self) -> None:
        with pytest.raises(LookupError):
            workdays.working_days(dt.date(2026, 12, 31), dt.date(2027, 1, 4), {})
