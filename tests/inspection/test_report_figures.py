"""The arithmetic of the oversight reports (inspection/reports/figures.py), on small hand-built
facts whose figures are worked out by hand in each test; sums that must hold for any instance
are checked with hypothesis."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspection.matching import team_slots
from inspection.reports import figures as f

D = dt.date


def line(lines: list[f.CoverageLine], key: str) -> tuple[int, int, int, int, int]:
    c = next(x for x in lines if x.key == key).counts
    return (c.planned, c.drawn, c.visited, c.published, c.visits)


# Coverage -------------------------------------------------------------------------------------

T1 = f.TaskFacts(
    "T1", "一号任务", "drawn",
    strata=(f.StratumTarget("A", "SCJG", 1), f.StratumTarget("B", "SCJG", 3), f.StratumTarget("D", "SCJG", 1), f.StratumTarget("B", "YJJ", 2)),
    matters=(
        f.Matter(1, "A", "SCJG", True, True),
        f.Matter(2, "B", "SCJG", True, True), f.Matter(2, "B", "YJJ", True, False),
        f.Matter(3, "B", "SCJG", True, False), f.Matter(3, "B", "YJJ", True, True),
        f.Matter(4, "B", "SCJG", False, False),
        f.Matter(5, "D", "SCJG", True, True),
    ),
)
# A replaced draw: listed, never counted.
T0 = f.TaskFacts("T0", "被替换的任务", "replaced", strata=(f.StratumTarget("B", "SCJG", 2),),
                 matters=(f.Matter(10, "B", "SCJG", False, False), f.Matter(11, "B", "SCJG", False, False)))
NAMES = {"SCJG": "市场监督管理局", "YJJ": "应急管理局"}


def test_coverage_by_task_tier_and_department() -> None:
    c = f.coverage([T0, T1], NAMES)
    assert [(t.key, t.status) for t in c.tasks] == [("T0", "replaced"), ("T1", "drawn")]
    assert line(c.tasks, "T0") == (2, 2, 0, 0, 2)
    # T1: planned 1 + 3 + 1 + 2 = 7; 7 matters on 5 visits; v4 not visited (6); published:
    # v1, v2 and v5 for SCJG, v3 for YJJ (4).
    assert (c.total.planned, c.total.drawn, c.total.visited, c.total.published, c.total.visits) == (7, 7, 6, 4, 5)
    assert c.total.as_dict()["visited_share"] == round(6 / 7, 4) and c.total.as_dict()["published_share"] == round(4 / 7, 4)
    assert [t.key for t in c.by_tier] == ["A", "B", "C", "D"]  # C has nothing and still appears
    assert line(c.by_tier, "A") == (1, 1, 1, 1, 1)
    assert line(c.by_tier, "B") == (5, 5, 4, 2, 3)
    assert line(c.by_tier, "C") == (0, 0, 0, 0, 0)
    assert line(c.by_tier, "D") == (1, 1, 1, 1, 1)
    assert [(d.key, d.label) for d in c.by_department] == [("SCJG", "市场监督管理局"), ("YJJ", "应急管理局")]
    assert line(c.by_department, "SCJG") == (5, 5, 4, 3, 5)
    assert line(c.by_department, "YJJ") == (2, 2, 2, 1, 2)
    assert c.by_tier[2].as_dict()["visited_share"] is None  # nothing drawn: no share, not 0


def test_coverage_without_visits_and_a_task_target() -> None:
    empty = f.coverage([], {})
    assert (empty.total.drawn, empty.tasks, empty.by_department) == (0, [], [])
    assert [(t.key, t.counts.drawn) for t in empty.by_tier] == [("A", 0), ("B", 0), ("C", 0), ("D", 0)]
    created = f.TaskFacts("T2", "未抽取", "created")
    assert f.coverage([created], {}).total == f.Counts()
    # A task that states its own target count is planned by it, not by the strata.
    targeted = f.TaskFacts("T3", "有目标数", "drawn", strata=(f.StratumTarget("B", "SCJG", 3),), target=10)
    assert f.task_planned(targeted) == 10 and f.task_planned(T1) == 7


# Joint visits -------------------------------------------------------------------------------------


def test_joint_visits_and_visits_saved() -> None:
    visits = [
        f.VisitItems(1, ("SCJG",)),
        f.VisitItems(2, ("SCJG", "YJJ")),
        f.VisitItems(3, ("SCJG", "SCJG")),  # two items of one department: not joint
        f.VisitItems(4, ("SCJG", "YJJ", "WJW")),
    ]
    j = f.joint(visits, [f.DrawCounts("T1", 4, 8, 7)])
    got = j.as_dict()
    assert (got["visits"], got["matters"], got["matters_per_visit"]) == (4, 8, {"1": 1, "2": 2, "3": 1})
    assert (got["joint_visits"], got["joint_share"], got["mean_matters_per_visit"]) == (2, 0.5, 2.0)
    assert (got["separate_visits"], got["drawn_visits"], got["visits_saved"], got["saved_share"]) == (7, 4, 3, round(3 / 7, 4))
    none = f.joint([], []).as_dict()
    assert (none["joint_share"], none["saved_share"], none["mean_matters_per_visit"], none["visits_saved"]) == (None, None, None, 0)


# Timeliness -------------------------------------------------------------------------------------


def test_timeliness_per_department() -> None:
    dues = [
        *(f.Due(f"T1/{n}", "SCJG", "published_on_time") for n in (1, 2, 3)),
        f.Due("T1/4", "SCJG", "published_late"),
        f.Due("T1/10", "SCJG", "overdue"), f.Due("T1/9", "SCJG", "overdue"),
        f.Due("T1/9", "YJJ", "due_soon"),
    ]
    t = f.timeliness(dues, {**NAMES, "WJW": "卫生健康委员会"}, 20)
    lines = {x.key: x.as_dict() for x in t.departments}
    assert list(lines) == ["SCJG", "WJW", "YJJ"]  # a department with nothing due still shows, with zeros
    assert [lines["SCJG"][k] for k in f.TIMELINESS] == [3, 1, 0, 0, 2]
    assert (lines["SCJG"]["published"], lines["SCJG"]["open"], lines["SCJG"]["on_time_share"]) == (4, 2, 0.75)
    assert [lines["YJJ"][k] for k in f.TIMELINESS] == [0, 0, 0, 1, 0] and lines["YJJ"]["on_time_share"] is None
    assert lines["WJW"]["total"] == 0
    assert [t.total.counts[k] for k in f.TIMELINESS] == [3, 1, 0, 1, 2] and t.total.total == 7
    assert [d.visit for d in t.overdue] == ["T1/9", "T1/10"]  # by rank as a number
    with pytest.raises(ValueError, match="unknown timeliness"):
        f.timeliness([f.Due("T1/1", "SCJG", "late")], {}, 20)


# Closure ------------------------------------------------------------------------------------------


def case(n: int, phase: str, light: str, closed: dt.date | None = None, days: int | None = None, deadline: dt.date = D(2026, 3, 30)) -> f.Case:
    return f.Case(n, f"T1/{n}", "企业", "市场监督管理局", "责令改正", phase, light, D(2026, 3, 2), deadline, closed, None if closed else -2, days)


def test_closure_median_weeks_and_overdue() -> None:
    cases = [
        case(1, "已完结", "closed", D(2026, 3, 20), 14),  # a Friday: week of 03-16
        case(2, "已完结", "closed", D(2026, 3, 24), 15),  # week of 03-23
        case(3, "已完结", "closed", D(2026, 4, 10), 20),  # week of 04-06; the week of 03-30 closed none
        case(4, "待反馈", "red", deadline=D(2026, 3, 31)),
        case(5, "责令改正", "red", deadline=D(2026, 3, 27)),
        case(6, "责令改正", "yellow"),
    ]
    c = f.closure(cases)
    got = c.as_dict()
    assert (got["cases"], got["closed"], got["open"], got["closed_share"]) == (6, 3, 3, 0.5)
    assert got["median_working_days_to_close"] == 15.0  # median of 14, 15, 20
    assert got["by_phase"] == {"责令改正": 2, "复查": 0, "待反馈": 1, "待决定": 0, "处置中": 0, "已完结": 3}
    assert got["by_light"] == {"red": 2, "yellow": 1, "green": 0, "closed": 3}
    assert [x["id"] for x in got["overdue"]] == [5, 4]  # the older deadline first
    assert got["weekly"] == [
        {"week": "2026-03-16", "closed": 1, "cumulative": 1}, {"week": "2026-03-23", "closed": 1, "cumulative": 2},
        {"week": "2026-03-30", "closed": 0, "cumulative": 2}, {"week": "2026-04-06", "closed": 1, "cumulative": 3},
    ]
    # An even count takes the mean of the middle two; a closure whose days were not counted
    # (a year without a holiday schedule) is left out of the median only.
    assert f.closure(cases[:2] + [case(7, "已完结", "closed", D(2026, 3, 25), None)]).median_days_to_close == 14.5


def test_closure_when_all_cases_are_open_or_there_are_none() -> None:
    open_only = f.closure([case(1, "责令改正", "green"), case(2, "待反馈", "red")])
    assert (open_only.closed, open_only.median_days_to_close, open_only.weekly) == (0, None, [])
    assert open_only.as_dict()["closed_share"] == 0.0
    nothing = f.closure([]).as_dict()
    assert (nothing["cases"], nothing["closed_share"], nothing["overdue"]) == (0, None, [])
    assert set(nothing["by_phase"].values()) == {0} and len(nothing["by_phase"]) == 6


# Fairness ------------------------------------------------------------------------------------------


def test_expected_visits_from_eligibility() -> None:
    slots = [
        f.Slot(1, "SCJG", 2, ("a", "b", "c")),  # 2/3 each
        f.Slot(2, "SCJG", 2, ("a", "b", "c", "d")),  # 2/4 each
        f.Slot(3, "SCJG", 1, ("a", "d")),  # a joint visit: one SCJG seat among two, 1/2 each
        f.Slot(3, "YJJ", 1, ("y",)),  # and the only YJJ inspector surely
    ]
    expected = f.expected_loads(slots)
    assert expected == {"a": Fraction(2, 3) + Fraction(2, 4) + Fraction(1, 2), "b": Fraction(2, 3) + Fraction(2, 4),
                        "c": Fraction(2, 3) + Fraction(2, 4), "d": Fraction(2, 4) + Fraction(1, 2), "y": Fraction(1)}
    assert expected["a"] == Fraction(5, 3) and sum(expected.values()) == 6  # 2 seats × 3 visits
    info = {n: f.InspectorInfo(n, f"检查员{n}", "YJJ" if n in "yz" else "SCJG") for n in "abcdyz"}
    lines = {x.number: x for x in f.inspector_lines(slots, {"a": 2, "b": 1, "c": 1, "d": 1, "y": 1, "z": 1}, info)}
    assert list(lines) == ["a", "b", "c", "d", "y", "z"]
    assert (lines["a"].ratio, lines["b"].ratio, lines["d"].ratio, lines["y"].ratio) == (1.2, round(6 / 7, 4), 1.0, 1.0)
    # z took a seat by 递补 without being eligible in the recorded facts: no expectation, no ratio.
    assert (lines["z"].expected, lines["z"].ratio) == (0, None)
    assert lines["a"].as_dict() == {"number": "a", "name": "检查员a", "department": "SCJG", "assigned": 2,
                                    "expected": 1.6667, "expected_exact": "5/3", "ratio": 1.2}
    fairness = f.Fairness(list(lines.values()), f.yearly_checks([], 4), [], 12).as_dict()
    assert (fairness["assigned"], fairness["expected"], fairness["ratio_min"], fairness["ratio_max"]) == (7, 6.0, round(6 / 7, 4), 1.2)
    # More seats than eligible inspectors: each of them surely, never more than once.
    assert f.expected_loads([f.Slot(1, "SCJG", 3, ("a", "b"))]) == {"a": 1, "b": 1}


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 4).flatmap(lambda size: st.tuples(
    st.just(size),
    st.lists(st.tuples(st.sets(st.sampled_from(["SCJG", "YJJ", "WJW"]), min_size=1, max_size=size), st.integers(0, 3), st.randoms()),
             min_size=0, max_size=12),
)))
def test_expectations_sum_to_team_size_times_visits(instance: tuple[int, list]) -> None:
    """Whoever is eligible, the expectations add up to the seats: team size × visits."""
    size, visits = instance
    pool = {d: [f"{d}-{k}" for k in range(8)] for d in ("SCJG", "YJJ", "WJW")}
    slots = []
    for v, (departments, spare, rng) in enumerate(visits):
        for department, seats in team_slots(sorted(departments), size, "SCJG"):
            slots.append(f.Slot(v, department, seats, tuple(rng.sample(pool[department], min(8, seats + spare)))))
    expected = f.expected_loads(slots)
    assert sum(expected.values(), Fraction(0)) == size * len(visits)
    for number, value in expected.items():  # nobody is expected on more visits than they are eligible for
        assert value <= sum(number in s.eligible for s in slots)


def test_checks_per_year_against_the_cap() -> None:
    checks = [
        f.Check("U1", "甲", 2026, "T1"), f.Check("U1", "甲", 2026, "T2"), f.Check("U1", "甲", 2025, "T0"),
        *(f.Check("U2", "乙", 2026, s) for s in ("SC-1", "SC-2", "SC-3", "T1")),
        *(f.Check("U3", "丙", 2026, s) for s in ("T1", "T2", "SC-9", "SC-8", "T3")),
    ]
    y = f.yearly_checks(checks, 4)
    assert y.distribution == {2025: {1: 1}, 2026: {2: 1, 4: 1, 5: 1}}
    assert [(e.uscc, e.checks) for e in y.at_cap] == [("U2", 4)]
    assert [(e.uscc, e.year, e.checks, e.sources) for e in y.over_cap] == [("U3", 2026, 5, ("SC-8", "SC-9", "T1", "T2", "T3"))]
    assert y.as_dict()["max"] == 5 and y.as_dict()["at_cap"] == 1
    assert f.yearly_checks([], 4).as_dict() == {"cap": 4, "distribution": {}, "max": 0, "at_cap": 0, "over_cap": []}


def test_same_item_within_twelve_months() -> None:
    def check(uscc: str, item: str, task: str, on: dt.date, opens: dt.date) -> f.ItemCheck:
        return f.ItemCheck(uscc, "企业", item, task, on, opens)

    checks = [
        # Exactly twelve months apart is allowed (the draw excludes strictly inside the period) ...
        check("U1", "K-01", "T1", D(2025, 3, 1), D(2024, 3, 1)), check("U1", "K-01", "T2", D(2026, 3, 1), D(2025, 3, 1)),
        # ... three months later is a repeat of T2,
        check("U1", "K-01", "T3", D(2026, 6, 1), D(2025, 6, 1)),
        # another item is not,
        check("U2", "K-02", "T1", D(2025, 3, 1), D(2024, 3, 1)), check("U2", "K-01", "T2", D(2026, 1, 1), D(2025, 1, 1)),
        # and a leap day: 2024-02-29 is inside the twelve months before 2025-02-28 (which opens on 2024-02-28).
        check("U3", "K-01", "T4", D(2024, 2, 29), D(2023, 2, 28)), check("U3", "K-01", "T5", D(2025, 2, 28), D(2024, 2, 28)),
    ]
    repeats = f.repeated_checks(checks)
    assert [(r.uscc, r.item, r.first, r.second) for r in repeats] == [("U1", "K-01", "T2", "T3"), ("U3", "K-01", "T4", "T5")]
    assert f.repeated_checks(checks[:2] + checks[3:5]) == []
    note = f.Fairness([], f.yearly_checks([], 4), [], 12).as_dict()["repeated_checks_note"]
    assert note == "no enterprise was checked twice on the same item within 12 months"


# Credit ----------------------------------------------------------------------------------------------


def test_tier_shares_and_drift_summary() -> None:
    run = f.run_line(f.RunFacts(1, D(2026, 2, 1), {"A": 2, "B": 5, "C": 2, "D": 1}))
    assert (run["enterprises"], run["shares"]) == (10, {"A": 0.2, "B": 0.5, "C": 0.2, "D": 0.1})
    assert f.run_line(f.RunFacts(2, D(2026, 3, 1), {}))["shares"] == dict.fromkeys("ABCD")
    matrix = {"A": {"A": 2}, "B": {"A": 1, "B": 3, "C": 1}, "C": {"C": 1, "D": 1}, "D": {"D": 1}}
    d = f.drift_line(f.DriftFacts(1, 2, matrix, 0, 3, 0.0123456789, "stable"))
    assert (d["stayed"], d["riskier"], d["safer"], d["only_b"], d["psi"]) == (7, 2, 1, 3, 0.012346)
    assert d["matrix"]["A"] == {"A": 2, "B": 0, "C": 0, "D": 0}  # every cell, zeros included


def test_report_json_is_one_section_or_all_keyed_by_kind() -> None:
    report = f.Report(D(2026, 4, 2), None, 2026, ["T1"], [
        f.Section("joint", f.joint([], [])), f.Section("credit", f.Credit([], []), "no grading runs in 2026")])
    one = report.as_dict("credit")
    assert (one["kind"], one["title"], one["message"], one["tasks"], one["year"]) == ("credit", "信用风险分类", "no grading runs in 2026", ["T1"], 2026)
    assert list(report.as_dict("all")) == ["joint", "credit"]


def test_the_figures_need_no_database() -> None:
    code = "import sys, inspection.reports.figures; assert 'sqlalchemy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# Charts --------------------------------------------------------------------------------------------


def test_charts_are_png_and_never_warn_about_glyphs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under filterwarnings=error: English labels without a CJK font, and a font that lacks the
    glyphs (DejaVu Sans posing as one) draws boxes, not a failure. Many inspectors: the widest 60."""
    from inspection.reports import charts

    many = [f.InspectorLine(f"JC{n:04d}", "", "SCJG", n % 3, Fraction(1)) for n in range(70)]
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    assert charts.inspector_load(many).startswith(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setattr(charts, "cjk_font", lambda: "DejaVu Sans")
    assert charts.coverage_by_tier(f.coverage([T1], NAMES)).startswith(b"\x89PNG")
    assert charts.closure_over_time(f.closure([])).startswith(b"\x89PNG")  # no data: says so
