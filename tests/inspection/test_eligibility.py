"""Who may inspect a visit, the reason named for everyone else, and the date stage."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inspection.dating import spread
from inspection.eligibility import InspectorFacts, ItemFacts, VisitFacts, eligibility, explain, refusal
from inspection.validate import Rules, validate

DAY = dt.date(2026, 12, 8)
VISIT = VisitFacts(
    id=1, uscc="91500106MA0AR1874P", district="500106", station="井口所", day=DAY,
    items={"SCJG": (ItemFacts("SCJG-01", "企业信息公示"), ItemFacts("SCJG-03", "登记事项监管"))},
    previous=frozenset({9}),
)
OK = InspectorFacts(
    id=2, department="SCJG", district="500106", station="童家桥所", active=True,
    certificate_expires=dt.date(2030, 1, 1), qualifications=frozenset({"SCJG-01", "登记事项监管"}),
)


class TestRefusal:
    """Each rule, alone, keeps an otherwise eligible inspector off the visit, and says so."""

    def test_eligible_by_code_or_category(self) -> None:
        assert refusal(VISIT, OK, cross_station=True) is None

    @pytest.mark.parametrize(("change", "reason"), [
        ({"active": False}, "inactive"),
        ({"district": "500107"}, "other_district"),
        ({"qualifications": frozenset({"SCJG-01"})}, "not_qualified"),
        ({"department": "WJW"}, "not_qualified"),
        ({"certificate_expires": None}, "certificate"),
        ({"certificate_expires": DAY - dt.timedelta(days=1)}, "certificate"),
        ({"leave": ((DAY, DAY),)}, "leave"),
        ({"leave": ((DAY - dt.timedelta(days=3), DAY + dt.timedelta(days=3)),)}, "leave"),
        ({"conflicts": frozenset({VISIT.uscc})}, "conflict"),
        ({"id": 9}, "previous_visit"),
        ({"station": "井口所"}, "own_station"),
    ])
    def test_each_rule(self, change: dict, reason: str) -> None:
        assert refusal(VISIT, replace(OK, **change), cross_station=True) == reason

    def test_certificate_valid_on_its_last_day_and_leave_ending_the_day_before(self) -> None:
        inspector = replace(OK, certificate_expires=DAY, leave=((DAY - dt.timedelta(days=5), DAY - dt.timedelta(days=1)),))
        assert refusal(VISIT, inspector, cross_station=True) is None

    def test_own_station_only_in_cross_station_mode(self) -> None:
        same = replace(OK, station="井口所")
        assert refusal(VISIT, same, cross_station=False) is None


class TestEligibility:
    """Per (visit, department): the eligible ids and a count of every refusal's reason."""

    def test_counts_reasons_including_other_districts(self) -> None:
        inspectors = [OK, replace(OK, id=3, leave=((DAY, DAY),)), replace(OK, id=4, district="500107"), replace(OK, id=5, department="WJW")]
        result = eligibility([VISIT], inspectors, cross_station=True)
        assert result.eligible[(1, "SCJG")] == [2]
        assert dict(result.refused[(1, "SCJG")]) == {"leave": 1, "other_district": 1}
        assert (1, "WJW") not in result.eligible

    def test_explain_names_the_reasons(self) -> None:
        text = explain("SCJG", 2, 1, {"leave": 3, "conflict": 1})
        assert text == "needs 2 SCJG inspector(s); 1 eligible; of the others: 3 on leave that day, 1 declared conflict (回避)"
        assert "caps" in explain("SCJG", 2, 5, {})
        assert explain("WJW", 1, 0, {}).endswith("the department has no inspectors here")


class TestSpread:
    """Each district's visits are spread evenly over the working days, and so is each kind of
    visit (its set of departments) inside the district, in rank order."""

    def test_even_and_in_rank_order(self) -> None:
        days = [dt.date(2026, 12, d) for d in (1, 2, 3)]
        visits = [(v, "500106", "SCJG", rank) for v, rank in ((10, 3), (11, 1), (12, 2), (13, 6), (14, 5), (15, 4))]
        dates = spread(visits, days)
        assert [dates[v] for v in (11, 12, 10, 15, 14, 13)] == [days[0], days[0], days[1], days[1], days[2], days[2]]

    def test_a_late_kind_is_not_piled_at_the_end(self) -> None:
        """Ranks 1-6 drew SCJG only, ranks 7-12 SCJG and YJJ (a higher-ratio item): by rank alone
        every YJJ visit would fall in the last half of the window."""
        days = [dt.date(2026, 12, d) for d in (1, 2, 3)]
        visits = [(r, "500106", "SCJG" if r <= 6 else "SCJG,YJJ", r) for r in range(1, 13)]
        dates = spread(visits, days)
        assert [sum(dates[r] == day for r in range(7, 13)) for day in days] == [2, 2, 2]
        assert [sum(dates[r] == day for r in range(1, 13)) for day in days] == [4, 4, 4]

    @given(st.lists(st.tuples(st.sampled_from(["500106", "500107", "500108"]), st.sampled_from(["A", "A,B", "B", "C"]), st.integers(0, 10_000)),
                    max_size=120, unique_by=lambda t: t[2]),
           st.integers(1, 25))
    def test_every_district_and_kind_uses_the_days_evenly(self, rows: list[tuple[str, str, int]], n_days: int) -> None:
        days = [dt.date(2026, 12, 1) + dt.timedelta(days=d) for d in range(n_days)]
        visits = [(n, district, kind, rank) for n, (district, kind, rank) in enumerate(rows)]
        dates = spread(visits, days)
        assert set(dates) == {v for v, _, _, _ in visits}
        for district in {d for d, _, _ in rows}:
            counts = [sum(1 for v, dd, _, _ in visits if dd == district and dates[v] == day) for day in days]
            assert max(counts) - min(counts) <= 1
            for kind in {k for d, k, _ in rows if d == district}:
                mine = [v for v, dd, kk, _ in visits if dd == district and kk == kind]
                per_day = [sum(dates[v] == day for v in mine) for day in days]
                # Within two of the even share: dealt out with the district's other kinds.
                assert max(per_day) <= -(-len(mine) // n_days) + 1, (per_day, len(mine))
                ranks = sorted((r, dates[v]) for v, dd, kk, r in visits if v in mine)
                assert [d for _, d in ranks] == sorted(d for _, d in ranks)  # rank order kept inside a kind

    def test_no_working_day_is_refused(self) -> None:
        with pytest.raises(ValueError):
            spread([(1, "500106", "SCJG", 1)], [])


def test_pure_modules_do_not_import_sqlalchemy() -> None:
    code = ("import sys, inspection.eligibility, inspection.dating, inspection.validate, inspection.matching, inspection.grouping,"
            " inspection.staffing, inspection.inputs, inspection.workdays, inspection.publication_pages,"
            " inspection.result_rules; assert 'sqlalchemy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


class TestValidator:
    """The validator names every broken rule, and accepts a team that holds them all."""

    @staticmethod
    def rules(**change: object) -> Rules:
        base = {"team_size": 2, "window": (dt.date(2026, 12, 1), dt.date(2026, 12, 31)),
                "working_days": {DAY}, "per_day": 1, "per_task": 5, "cross_station": True}
        return Rules(**{**base, **change})  # type: ignore[arg-type]

    def test_a_good_team_passes(self) -> None:
        second = replace(OK, id=3)
        assert validate([VISIT], [OK, second], {1: [2, 3]}, self.rules()) == []

    @pytest.mark.parametrize(("inspector_change", "rule"), [
        ({"active": False}, "active"),
        ({"district": "500107"}, "territory"),
        ({"qualifications": frozenset({"SCJG-01"})}, "qualification"),
        ({"certificate_expires": DAY - dt.timedelta(days=1)}, "certificate"),
        ({"leave": ((DAY, DAY),)}, "leave"),
        ({"conflicts": frozenset({VISIT.uscc})}, "recusal"),
        ({"station": "井口所"}, "recusal"),
        ({"department": "WJW"}, "department"),
    ])
    def test_each_member_rule(self, inspector_change: dict, rule: str) -> None:
        bad = replace(OK, id=3, **inspector_change)
        found = validate([VISIT], [OK, bad], {1: [2, 3]}, self.rules())
        assert rule in {v.rule for v in found if v.inspector == 3}

    def test_team_day_and_caps(self) -> None:
        other = replace(VISIT, id=2, uscc="91500106MA0AR1875P")
        second = replace(OK, id=3)
        found = validate([VISIT, other], [OK, second], {1: [2, 3], 2: [2]}, self.rules(per_task=1))
        rules = {(v.visit, v.inspector, v.rule) for v in found}
        assert (2, None, "team") in rules
        assert (None, 2, "per_day") in rules and (None, 2, "per_task") in rules
        found = validate([replace(VISIT, day=dt.date(2026, 12, 6))], [OK, second], {1: [2, 3]}, self.rules())
        assert {v.rule for v in found} == {"working_day"}
        found = validate([replace(VISIT, previous=frozenset({3}))], [OK, second], {1: [2, 3]}, self.rules())
        assert [str(v) for v in found] == ["visit 1 inspector 3: recusal: inspected the enterprise's previous visit"]
