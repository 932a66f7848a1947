"""Deadlines in working days (工作日): "results are published within 20 working days of the check"
(国市监信〔2019〕38号) and the follow-up deadlines, counted with the statutory holidays and the
make-up working days (调休上班) of the State Council schedules.

Every expected date below is worked out twice: recounted here day by day with
``chinese_calendar.is_workday`` (the library's own answer), and hard-coded as the value that was
counted by hand against the State Council 2026 schedule. A change of the library's data
breaks the hard-coded check; a bug in ``Workdays`` breaks both.
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit.policy import load_policy
from inspection.workdays import Workdays, add_working_days, library_knows, parse_schedule, working_days
from tests.schedules import SCHEDULE_2027

D = dt.date.fromisoformat
ONE = dt.timedelta(days=1)

SCHEDULES = {2027: parse_schedule("calendar-2027.toml", SCHEDULE_2027)}
OFF_2027 = {D("2027-01-01"), D("2027-01-02"), D("2027-01-03"), D("2027-03-02"), D("2027-03-03")}
WORKED_2027 = {D("2027-03-06")}


def is_workday(day: dt.date) -> bool:
    """The reference: chinese-calendar up to 2026, the made-up schedule (read by hand) for 2027."""
    if day.year == 2027:
        return day in WORKED_2027 or (day.weekday() < 5 and day not in OFF_2027)
    return chinese_calendar.is_workday(day)


def count(after: dt.date, upto: dt.date) -> int:
    """Working days in (after, upto]."""
    return sum(is_workday(after + ONE * k) for k in range(1, (upto - after).days + 1))


def nth_after(start: dt.date, n: int) -> dt.date:
    day = start
    while n > 0:
        day += ONE
        n -= is_workday(day)
    return day


def deadline(start: str, n: int, expected: str, schedules: dict | None = None) -> None:
    """The n-th working day after start is expected: by the reference and by Workdays."""
    assert nth_after(D(start), n) == D(expected), "the reference (chinese-calendar) disagrees with the hand count"
    assert Workdays(schedules or {}).add(D(start), n) == D(expected)
    assert Workdays(schedules or {}).left(D(start), D(expected)) == n


def test_the_publication_deadline_is_20_working_days() -> None:
    assert load_policy().publish_working_days == 20


def test_the_library_knows_2026_but_not_2027() -> None:
    assert library_knows(2025) and library_knows(2026) and not library_knows(2027)
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D("2027-03-01"))


def test_every_day_of_2025_and_2026_agrees_with_the_library() -> None:
    days = Workdays({})
    day = D("2025-01-01")
    while day.year < 2027:
        assert days.is_workday(day) == chinese_calendar.is_workday(day), day
        day += ONE
    assert len(working_days(D("2026-01-01"), D("2026-12-31"), {})) == sum(
        chinese_calendar.is_workday(D("2026-01-01") + ONE * k) for k in range(365))


class TestNationalDay2026:
    """国庆节 2026: 1–7 October off, Sunday 20 September and Saturday 10 October worked; 中秋节
    25–27 September (Friday to Sunday) off just before."""

    def test_the_schedule(self) -> None:
        for k in range(1, 8):
            assert chinese_calendar.is_holiday(dt.date(2026, 10, k))
        for day in ("2026-09-25", "2026-09-26", "2026-09-27"):
            assert chinese_calendar.get_holiday_detail(D(day)) == (True, "Mid-autumn Festival")
        for day in ("2026-09-20", "2026-10-10"):
            assert D(day).weekday() >= 5 and chinese_calendar.get_holiday_detail(D(day)) == (False, "National Day")
        days = Workdays({})
        assert [days.is_workday(D(d)) for d in ("2026-09-19", "2026-09-20", "2026-09-25", "2026-10-01", "2026-10-07",
                                                "2026-10-08", "2026-10-10", "2026-10-11")] == [
            False, True, False, False, False, True, True, False]

    def test_20_working_days_after_a_check_before_both_holidays(self) -> None:
        # 28–30 Sep (3), 8–10 Oct (6), 12–16 (11), 19–23 (16), 26–29 (20).
        deadline("2026-09-24", 20, "2026-10-29")

    def test_a_check_on_the_last_day_before_the_holiday(self) -> None:
        deadline("2026-09-30", 1, "2026-10-08")
        # 8–10 Oct (3), 12–16 (8), 19–23 (13), 26–30 (18), 2–3 Nov (20).
        deadline("2026-09-30", 20, "2026-11-03")

    def test_the_make_up_sunday_counts(self) -> None:
        deadline("2026-09-18", 1, "2026-09-20")  # Friday → the make-up Sunday, not Monday 21
        # 20–24 Sep (5), 28–30 (8), 8–10 Oct (11), 12–16 (16), 19–22 (20).
        deadline("2026-09-18", 20, "2026-10-22")

    def test_a_check_on_a_holiday(self) -> None:
        deadline("2026-10-03", 1, "2026-10-08")
        deadline("2026-10-03", 20, "2026-11-03")
        deadline("2026-09-26", 1, "2026-09-28")  # 中秋, a Saturday


class TestSpringFestival2026:
    """春节 2026: 15–23 February off, Saturdays 14 and 28 February worked."""

    def test_the_schedule(self) -> None:
        for k in range(15, 24):
            assert not chinese_calendar.is_workday(dt.date(2026, 2, k))
        for day in ("2026-02-14", "2026-02-28"):
            assert D(day).weekday() == 5 and chinese_calendar.get_holiday_detail(D(day)) == (False, "Spring Festival")
        assert chinese_calendar.is_workday(D("2026-02-13")) and chinese_calendar.is_workday(D("2026-02-24"))

    def test_20_working_days_across_the_festival(self) -> None:
        # 11–14 Feb (4), 24–28 (9), 2–6 Mar (14), 9–13 (19), 16 (20).
        deadline("2026-02-10", 20, "2026-03-16")
        # 14 Feb (1), 24–28 (6), 2–6 Mar (11), 9–13 (16), 16–19 (20).
        deadline("2026-02-13", 20, "2026-03-19")

    def test_the_make_up_saturdays_count(self) -> None:
        deadline("2026-02-13", 1, "2026-02-14")
        deadline("2026-02-14", 1, "2026-02-24")
        deadline("2026-02-27", 1, "2026-02-28")

    def test_a_check_on_a_holiday(self) -> None:
        deadline("2026-02-16", 1, "2026-02-24")
        deadline("2026-02-16", 5, "2026-02-28")
        deadline("2026-02-15", 20, "2026-03-20")


class TestWeekends:
    def test_a_make_up_saturday_is_a_working_day_an_ordinary_one_is_not(self) -> None:
        days = Workdays({})
        assert days.is_workday(D("2026-10-10")) and not days.is_workday(D("2026-10-17"))
        deadline("2026-10-09", 1, "2026-10-10")  # Friday → make-up Saturday
        deadline("2026-10-16", 1, "2026-10-19")  # Friday → Monday over an ordinary weekend
        deadline("2026-10-16", 5, "2026-10-23")

    def test_the_make_up_sunday_after_new_year(self) -> None:
        # 元旦 2026: 1–3 January off, Sunday 4 January worked.
        deadline("2025-12-31", 1, "2026-01-04")
        deadline("2025-12-31", 20, "2026-01-29")

    @pytest.mark.parametrize("start", ["2026-09-24", "2026-10-03", "2026-10-10", "2026-10-17", "2026-02-16", "2027-01-01"])
    def test_zero_working_days_is_the_start(self, start: str) -> None:
        assert Workdays(SCHEDULES).add(D(start), 0) == D(start)
        assert add_working_days(D(start), 0, {}) == D(start)  # nothing is looked up, so no year is needed
        assert Workdays(SCHEDULES).left(D(start), D(start)) == 0


class TestLeft:
    """Working days left to the publication deadline of a check on 24 September 2026 (29 October)."""

    DEADLINE = D("2026-10-29")

    @pytest.mark.parametrize(("today", "left"), [
        ("2026-09-24", 20),
        ("2026-09-25", 20),   # 中秋: nothing has been used up
        ("2026-09-30", 17),
        ("2026-10-01", 17), ("2026-10-07", 17),  # the holiday does not count down
        ("2026-10-08", 16),
        ("2026-10-28", 1),
        ("2026-10-29", 0),    # the deadline itself
        ("2026-10-30", -1),   # the day after, a Friday
        ("2026-10-31", -1), ("2026-11-01", -1),  # a weekend adds nothing
        ("2026-11-02", -2),
    ])
    def test_left(self, today: str, left: int) -> None:
        expected = count(D(today), self.DEADLINE) if D(today) <= self.DEADLINE else -count(self.DEADLINE, D(today))
        assert expected == left
        assert Workdays({}).left(D(today), self.DEADLINE) == left

    def test_across_a_holiday(self) -> None:
        days = Workdays({})
        assert days.left(D("2026-09-30"), D("2026-10-08")) == 1
        assert days.left(D("2026-10-08"), D("2026-09-30")) == -1
        assert days.left(D("2026-02-13"), D("2026-02-24")) == 2  # 14 Feb (make-up) and 24 Feb
        assert days.left(D("2026-02-24"), D("2026-02-13")) == -2


class TestYearEnd:
    def test_an_unknown_year_is_never_guessed(self) -> None:
        days = Workdays({})
        with pytest.raises(LookupError) as exc:
            days.add(D("2026-12-30"), 5)
        assert exc.value.args == (2027,)
        with pytest.raises(LookupError):
            days.left(D("2026-12-30"), D("2027-01-04"))
        with pytest.raises(LookupError):
            days.left(D("2027-01-04"), D("2026-12-30"))
        with pytest.raises(LookupError):
            days.is_workday(D("2027-06-01"))
        with pytest.raises(LookupError):
            working_days(D("2026-12-31"), D("2027-01-01"), {})
        # What stays inside 2026 needs no 2027 schedule.
        assert days.add(D("2026-12-30"), 1) == D("2026-12-31")
        assert days.left(D("2026-12-29"), D("2026-12-31")) == 2

    def test_the_loaded_schedule_continues_the_count(self) -> None:
        deadline("2026-12-30", 1, "2026-12-31", SCHEDULES)
        deadline("2026-12-30", 2, "2027-01-04", SCHEDULES)  # over 元旦 1–3 January 2027
        deadline("2026-12-30", 5, "2027-01-07", SCHEDULES)
        # 31 Dec (1), 4–8 Jan (6), 11–15 (11), 18–22 (16), 25–28 (20).
        deadline("2026-12-30", 20, "2027-01-28", SCHEDULES)
        assert Workdays(SCHEDULES).left(D("2027-01-04"), D("2026-12-30")) == -2

    def test_the_loaded_schedule_inside_its_year(self) -> None:
        # 1 Mar (Mon), 2–3 off, 4 (1), 5 (2), 6 the make-up Saturday (3), 8 (4).
        deadline("2027-03-01", 3, "2027-03-06", SCHEDULES)
        deadline("2027-03-01", 4, "2027-03-08", SCHEDULES)
        assert not Workdays(SCHEDULES).is_workday(D("2027-03-07")) and not Workdays(SCHEDULES).is_workday(D("2027-03-13"))

    def test_a_year_the_library_knows_follows_the_library(self) -> None:
        # A schedule for 2026 that made 29 October a day off is not consulted: the library knows 2026.
        odd = parse_schedule("odd.toml", 'year = 2026\nsource = "x"\n[[holiday]]\nname = "x"\nfrom = 2026-10-29\n')
        assert Workdays({2026: odd}).add(D("2026-09-24"), 20) == D("2026-10-29")


@settings(max_examples=200, deadline=None)
@given(st.dates(D("2025-01-01"), D("2026-12-31")), st.integers(0, 60))
def test_add_and_left_agree_with_the_calendar(start: dt.date, n: int) -> None:
    days = Workdays(SCHEDULES)
    end = days.add(start, n)
    if n > 0:
        assert is_workday(end)
    else:
        assert end == start
    assert count(start, end) == n
    assert end == nth_after(start, n)
    assert days.left(start, end) == n
    assert days.left(end, start) == -n
    assert days.add(start, n + 1) > end
    assert len(working_days(start + ONE, end, SCHEDULES)) == n


@settings(max_examples=50, deadline=None)
@given(st.dates(D("2025-01-01"), D("2026-12-31")))
def test_add_is_increasing_in_n(start: dt.date) -> None:
    days = Workdays(SCHEDULES)
    ends = [days.add(start, n) for n in range(61)]
    assert all(a < b for a, b in zip(ends, ends[1:]))
    assert [days.left(start, e) for e in ends] == list(range(61))
