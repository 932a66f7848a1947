"""The grading core: every rule and override, period boundaries, monotonicity and determinism."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit.policy import CODE, TIERS, Policy, default_policy_text, load_policy, parse_policy
from credit.scoring import (
    ABNORMAL_LIST, COUNTS, EXPIRED, FIRST_OFFENCE, NO_DATE, NO_RECORDS, REPAIRED, SECTORS, SERIOUS_LIST, STATUS,
    TOLERANCE, Records, add_months, add_months_to, day_number, grade,
)

AS_OF = dt.date(2026, 6, 30)
POLICY = load_policy()


class R(NamedTuple):
    """One record for a test: enterprise index, category, date, and the optional rest."""

    enterprise: int
    category: str
    occurred: dt.date
    until: dt.date | None = None
    sector: str = ""
    repaired: bool = False


def records(rows: list[R]) -> Records:
    return Records(
        enterprise=np.array([r.enterprise for r in rows], np.int64),
        category=np.array([CODE[r.category] for r in rows], np.int64),
        sector=np.array([SECTORS.index(r.sector or ("other" if r.category.startswith("penalty") else "")) for r in rows], np.int64),
        occurred=np.array([day_number(r.occurred) for r in rows], np.int64),
        until=np.array([day_number(r.until) if r.until else NO_DATE for r in rows], np.int64),
        repaired=np.array([r.repaired for r in rows], bool),
    )


def run(rows: list[R], *, n: int | None = None, as_of: dt.date = AS_OF, policy: Policy = POLICY, since: list[dt.date | None] | None = None):
    n = n if n is not None else max((r.enterprise for r in rows), default=0) + 1
    new_economy = np.array([day_number(d) if d else NO_DATE for d in (since or [None] * n)], np.int64)
    return grade(records(rows), new_economy, policy, day_number(as_of))


def tier(rows: list[R], **kw) -> str:
    return TIERS[run(rows, **kw).tier[0]]


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


class TestPeriods:
    def test_civil_code_month_arithmetic(self) -> None:
        assert add_months_to(dt.date(2023, 1, 15), 36) == dt.date(2026, 1, 15)
        assert add_months_to(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
        assert add_months_to(dt.date(2023, 1, 31), 1) == dt.date(2023, 2, 28)
        assert add_months_to(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
        assert add_months_to(dt.date(2023, 12, 31), 2) == dt.date(2024, 2, 29)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31)), st.sampled_from([0, 1, 6, 12, 36, 1200])), min_size=1, max_size=30),
           st.booleans())
    def test_vectorised_month_arithmetic_matches_the_calendar(self, pairs: list[tuple[dt.date, int]], table: bool) -> None:
        """Each element its own period; through the lookup table, or one period at a time (the
        way for a span of centuries)."""
        import credit.scoring

        expected = []
        for d, months in pairs:
            year, month = divmod(d.month - 1 + months, 12)
            year, month = d.year + year, month + 1
            expected.append(day_number(dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))))
        limit = credit.scoring.TABLE_LIMIT
        credit.scoring.TABLE_LIMIT = limit if table else 0
        try:
            got = add_months(np.array([day_number(d) for d, _ in pairs]), np.array([m for _, m in pairs]))
        finally:
            credit.scoring.TABLE_LIMIT = limit
        assert got.tolist() == expected
        if len({m for _, m in pairs}) == 1:  # one period for all: given as a number too
            assert add_months(np.array([day_number(d) for d, _ in pairs]), pairs[0][1]).tolist() == expected

    def test_penalty_counts_through_its_last_day_only(self) -> None:
        rows = [R(0, "penalty.major", dt.date(2023, 6, 30))]  # 36 months: last day 2026-06-30
        last = dt.date(2026, 6, 30)
        assert run(rows, as_of=last - days(1)).status[0] == COUNTS
        assert run(rows, as_of=last).status[0] == COUNTS
        assert run(rows, as_of=last).score[0] == 3000
        after = run(rows, as_of=last + days(1))
        assert after.status[0] == EXPIRED and after.score[0] == 0
        assert after.flags[0] & NO_RECORDS and TIERS[after.tier[0]] == "B"

    def test_own_effective_until_wins(self) -> None:
        rows = [R(0, "penalty.major", dt.date(2026, 1, 1), until=dt.date(2026, 3, 31))]
        assert run(rows, as_of=dt.date(2026, 3, 31)).status[0] == COUNTS
        assert run(rows, as_of=dt.date(2026, 4, 1)).status[0] == EXPIRED

    def test_record_after_the_grading_date_is_ignored(self) -> None:
        result = run([R(0, "penalty.severe", AS_OF + days(1))])
        assert STATUS[result.status[0]] == "future" and result.score[0] == 0 and TIERS[result.tier[0]] == "B"


class TestTiers:
    def test_thresholds_and_default(self) -> None:
        assert tier([R(0, "commendation", dt.date(2026, 1, 1))]) == "A"
        assert tier([R(0, "spot_check.clean", dt.date(2026, 1, 1))]) == "A"
        assert tier([], n=1) == "B"
        assert tier([R(0, "penalty.general", dt.date(2024, 1, 1)), R(0, "penalty.general", dt.date(2025, 1, 1))]) == "B"  # 0 + 10
        assert tier([R(0, "penalty.major", dt.date(2026, 1, 1))]) == "C"  # 30
        assert tier([R(0, "penalty.severe", dt.date(2026, 1, 1)), R(0, "commitment_breach", dt.date(2026, 1, 1))]) == "D"  # 90

    def test_serious_list_is_d_whatever_the_score(self) -> None:
        rows = [R(0, "serious_in", dt.date(2026, 1, 1)), R(0, "commendation", dt.date(2026, 1, 1)), R(0, "commendation", dt.date(2026, 2, 1))]
        result = run(rows, policy=parse_policy(default_policy_text().replace("serious_in = 60 ", "serious_in = 0 "), "x"))
        assert TIERS[result.tier[0]] == "D" and result.flags[0] & SERIOUS_LIST
        assert result.reasons(0).startswith("serious_list;")

    def test_serious_list_ends_on_removal_or_after_three_years(self) -> None:
        entry = R(0, "serious_in", dt.date(2024, 1, 10))
        assert tier([entry, R(0, "serious_out", dt.date(2026, 6, 30))]) == "B"  # removed that day
        assert tier([entry, R(0, "serious_out", dt.date(2026, 7, 1))], as_of=AS_OF) == "D"  # removal later
        assert tier([entry], as_of=dt.date(2027, 1, 10)) == "D"
        assert tier([entry], as_of=dt.date(2027, 1, 11)) == "B"

    def test_abnormal_list_is_at_least_c_until_removed(self) -> None:
        entry = R(0, "abnormal_in", dt.date(2020, 1, 1))  # no time limit: until removed
        result = run([entry])
        assert TIERS[result.tier[0]] == "C" and result.flags[0] & ABNORMAL_LIST and result.score[0] == 2000
        assert tier([entry, R(0, "abnormal_out", dt.date(2026, 5, 1))]) == "B"
        # A removal before the entry does not end it; one of another enterprise does not either.
        assert tier([R(0, "abnormal_out", dt.date(2019, 1, 1)), entry, R(1, "abnormal_out", dt.date(2026, 1, 1))]) == "C"

    def test_repaired_record_does_not_count(self) -> None:
        result = run([R(0, "penalty.severe", dt.date(2026, 1, 1), repaired=True)])
        assert result.status[0] == REPAIRED and result.score[0] == 0 and TIERS[result.tier[0]] == "B"

    def test_unsubstantiated_complaints_and_removals_never_count(self) -> None:
        result = run([R(0, "complaint.unsubstantiated", dt.date(2026, 1, 1)), R(0, "abnormal_out", dt.date(2026, 1, 1))])
        assert result.score[0] == 0 and result.flags[0] & NO_RECORDS


class TestFirstOffence:
    def test_first_minor_violation_earns_no_points_but_stays_visible(self) -> None:
        result = run([R(0, "penalty.general", dt.date(2026, 1, 1))])
        assert result.status[0] == FIRST_OFFENCE and result.score[0] == 0
        assert not result.flags[0] & NO_RECORDS  # it is a record in force

    def test_second_of_the_same_kind_within_two_years_counts(self) -> None:
        rows = [R(0, "penalty.general", dt.date(2024, 7, 1)), R(0, "penalty.general", dt.date(2026, 6, 1))]
        result = run(rows)
        assert list(result.status) == [FIRST_OFFENCE, COUNTS] and result.score[0] == 1000

    def test_window_boundary(self) -> None:
        first = R(0, "penalty.general", dt.date(2024, 6, 1))  # window's last day: 2026-06-01
        assert run([first, R(0, "penalty.general", dt.date(2026, 6, 1))]).status[1] == COUNTS
        assert run([first, R(0, "penalty.general", dt.date(2026, 6, 2))], as_of=dt.date(2026, 6, 30)).status[1] == FIRST_OFFENCE

    def test_other_sector_or_enterprise_is_another_kind(self) -> None:
        rows = [R(0, "penalty.general", dt.date(2026, 1, 1), sector="food"), R(0, "penalty.general", dt.date(2026, 2, 1), sector="drug"),
                R(1, "penalty.general", dt.date(2026, 3, 1), sector="food")]
        assert list(run(rows).status) == [FIRST_OFFENCE] * 3

    def test_an_earlier_major_penalty_is_a_prior_violation(self) -> None:
        rows = [R(0, "penalty.major", dt.date(2025, 1, 1)), R(0, "penalty.general", dt.date(2026, 1, 1))]
        assert list(run(rows).status) == [COUNTS, COUNTS]

    def test_two_on_one_day_are_not_first_offences(self) -> None:
        """Order-independent: neither of two same-day violations of one kind is the first."""
        rows = [R(0, "penalty.general", dt.date(2026, 1, 1)), R(0, "penalty.major", dt.date(2026, 1, 1))]
        for ordered in (rows, rows[::-1]):
            result = run(ordered)
            assert list(result.status) == [COUNTS, COUNTS] and result.score[0] == 4000

    def test_disabled(self) -> None:
        policy = parse_policy(default_policy_text().replace("enabled = true", "enabled = false"), "x")
        assert run([R(0, "penalty.general", dt.date(2026, 1, 1))], policy=policy).score[0] == 1000


class TestTolerance:
    MINOR = [R(0, "complaint", dt.date(2026, m, 1)) for m in range(1, 8) if dt.date(2026, m, 1) <= AS_OF]  # 6 × 5 = 30

    def test_minor_records_capped_at_b_inside_the_period(self) -> None:
        assert tier(self.MINOR) == "C"
        inside = run(self.MINOR, since=[dt.date(2025, 7, 1)])  # period's last day: 2026-07-01
        assert TIERS[inside.tier[0]] == "B" and inside.flags[0] & TOLERANCE and inside.score[0] == 3000
        assert tier(self.MINOR, since=[dt.date(2025, 6, 30)]) == "B"  # last day 2026-06-30 = as-of
        assert tier(self.MINOR, since=[dt.date(2025, 6, 29)]) == "C"  # period over

    def test_other_records_count_in_full(self) -> None:
        assert tier([R(0, "penalty.major", dt.date(2026, 1, 1))], since=[dt.date(2026, 1, 1)]) == "C"
        assert tier([R(0, "abnormal_in", dt.date(2026, 1, 1))], since=[dt.date(2026, 1, 1)]) == "C"


def test_linear_decay_halves_points_half_way() -> None:
    policy = parse_policy(default_policy_text().replace('decay = "none"', 'decay = "linear"'), "x")
    rows = [R(0, "penalty.major", dt.date(2026, 1, 1), until=dt.date(2026, 1, 10))]  # 10 days
    assert run(rows, policy=policy, as_of=dt.date(2026, 1, 1)).score[0] == 3000
    assert run(rows, policy=policy, as_of=dt.date(2026, 1, 6)).score[0] == 1500  # 5 of 10 days left
    assert run(rows, policy=policy, as_of=dt.date(2026, 1, 10)).score[0] == 300
    assert run(rows, policy=policy, as_of=dt.date(2026, 1, 11)).score[0] == 0


def test_reasons_rank_kinds_by_points() -> None:
    rows = [R(0, "complaint", dt.date(2026, 1, 1)), R(0, "penalty.major", dt.date(2026, 1, 1)), R(0, "penalty.major", dt.date(2026, 2, 1)),
            R(0, "abnormal_in", dt.date(2026, 3, 1)), R(0, "commendation", dt.date(2026, 3, 1))]
    assert run(rows).reasons(0) == "abnormal_list;penalty:2:60;abnormal_in:1:20;complaint:1:5"


# Property-based: random histories of a few enterprises.
ADVERSE = [c for c in CODE if c not in ("spot_check.clean", "commendation", "abnormal_out", "serious_out", "complaint.unsubstantiated")]
ALL = list(CODE)
dates = st.dates(dt.date(2022, 1, 1), AS_OF)
record = st.builds(
    R, enterprise=st.integers(0, 3), category=st.sampled_from(ALL), occurred=dates,
    until=st.none() | dates, sector=st.sampled_from(["food", "drug", "other"]), repaired=st.booleans(),
)
adverse = st.builds(R, enterprise=st.integers(0, 3), category=st.sampled_from(ADVERSE), occurred=dates, until=st.none(), sector=st.sampled_from(["food", "drug", "other"]))
histories = st.lists(record, max_size=25)
since = st.lists(st.none() | st.dates(dt.date(2025, 1, 1), AS_OF), min_size=4, max_size=4)


def _clean(rows: list[R]) -> list[R]:
    # A record's own 影响期截止 is never before its date (the import refuses that).
    return [r._replace(until=r.until if r.until is None or r.until >= r.occurred else None) for r in rows]


@settings(max_examples=300, deadline=None)
@given(histories, adverse, since)
def test_another_adverse_record_never_improves_a_tier(rows: list[R], extra: R, new_economy: list) -> None:
    rows = _clean(rows)
    before = run(rows, n=4, since=new_economy).tier
    after = run([*rows, extra], n=4, since=new_economy).tier
    assert (after >= before).all()


@settings(max_examples=300, deadline=None)
@given(histories, st.integers(0, 24), since)
def test_worse_severity_never_improves_a_tier(rows: list[R], pick: int, new_economy: list) -> None:
    rows = _clean(rows)
    penalties = [i for i, r in enumerate(rows) if r.category in ("penalty.general", "penalty.major")]
    if not penalties:
        return
    i = penalties[pick % len(penalties)]
    worse = list(rows)
    worse[i] = rows[i]._replace(category="penalty.major" if rows[i].category == "penalty.general" else "penalty.severe")
    assert (run(worse, n=4, since=new_economy).tier >= run(rows, n=4, since=new_economy).tier).all()


@settings(max_examples=300, deadline=None)
@given(histories, st.integers(0, 24), since)
def test_an_expired_adverse_record_never_makes_it_worse(rows: list[R], pick: int, new_economy: list) -> None:
    rows = _clean(rows)
    candidates = [i for i, r in enumerate(rows) if r.category in ADVERSE]
    if not candidates:
        return
    i = candidates[pick % len(candidates)]
    expired = list(rows)
    expired[i] = rows[i]._replace(until=rows[i].occurred) if rows[i].occurred < AS_OF else rows[i]
    if rows[i].category in ("abnormal_in", "serious_in"):  # lists end by removal
        expired.append(R(rows[i].enterprise, rows[i].category.replace("_in", "_out"), rows[i].occurred))
    assert (run(expired, n=4, since=new_economy).tier <= run(rows, n=4, since=new_economy).tier).all()


@settings(max_examples=200, deadline=None)
@given(histories, since, st.randoms(use_true_random=False))
def test_row_order_does_not_matter(rows: list[R], new_economy: list, rnd) -> None:
    rows = _clean(rows)
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    a, b = run(rows, n=4, since=new_economy), run(shuffled, n=4, since=new_economy)
    assert (a.score == b.score).all() and (a.tier == b.tier).all() and (a.flags == b.flags).all()
    assert [a.reasons(i) for i in range(4)] == [b.reasons(i) for i in range(4)]


def test_result_codes_the_grading_sql_matches_as_substrings() -> None:
    """credit.grading_columns reads a spot check's category from its stored ``A;2;B`` text by substring:
    exact only while no other code contains 8, A, E or F, and 1 (inside 10, 11, 12) stands alone."""
    from credit.grading_columns import MATCHED_CODES
    from credit.result_codes import parse_result_codes, result_codes

    codes = list(result_codes())
    for code in MATCHED_CODES:
        assert [c for c in codes if code in c] == [code]
    assert [c for c in codes if "1" in c] == ["1", "10", "11", "12"]
    with pytest.raises(ValueError, match="cannot be combined"):
        parse_result_codes("1;A")


@settings(max_examples=200, deadline=None)
@given(histories, since)
def test_the_stored_column_types_grade_as_int64_does(rows: list[R], new_economy: list) -> None:
    """The grader hands the core its columns as stored (credit.grading_columns: uint8 codes,
    int32 days) and the enterprise index as int64: the same grading as all-int64 arrays."""
    rows = _clean(rows)
    wide = records(rows)
    narrow = Records(enterprise=wide.enterprise, category=wide.category.astype(np.uint8), sector=wide.sector.astype(np.uint8),
                     occurred=wide.occurred.astype(np.int32), until=wide.until.astype(np.int32), repaired=wide.repaired)
    since_days = np.array([day_number(d) if d else NO_DATE for d in new_economy], np.int64)
    a, b = grade(wide, since_days, POLICY, day_number(AS_OF)), grade(narrow, since_days, POLICY, day_number(AS_OF))
    for name in ("score", "tier", "flags", "family_points", "family_counts", "status", "points", "last_day"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.reason_table()[1] == b.reason_table()[1] and np.array_equal(a.reason_table()[0], b.reason_table()[0])
