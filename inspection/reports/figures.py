"""The arithmetic of the oversight reports: facts in (frozen dataclasses), figures out.
Pure: no SQLAlchemy, no I/O; queries.py reads the facts, page.py and the CLI show the figures.

Units. Coverage counts 事项户次, one enterprise to be checked on one item (a joint visit of three
items is three), because the draw's targets are per item and tier (stratum); it also gives the
visits (户, distinct enterprises) drawn. Timeliness counts one visit per department on it: each
department publishes its own result (谁检查、谁公开).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from credit.policy import TIERS
from inspection.enums import CasePhase

KINDS = ("coverage", "joint", "timeliness", "closure", "fairness", "credit")
TITLES = {
    "coverage": "抽查覆盖情况", "joint": "联合抽查", "timeliness": "公示及时性",
    "closure": "后续处置闭环", "fairness": "公平性", "credit": "信用风险分类",
}
# publication_status's timeliness, published first, then still open from least to most urgent.
TIMELINESS = ("published_on_time", "published_late", "on_time", "due_soon", "overdue")
TIMELINESS_LABELS = {
    "published_on_time": "按期公示", "published_late": "逾期公示", "on_time": "未公示（期限内）",
    "due_soon": "未公示（即将到期）", "overdue": "未公示（已逾期）",
}
TIER_LABELS = {"A": "A类（低风险）", "B": "B类（一般风险）", "C": "C类（较高风险）", "D": "D类（高风险）"}


def share(part: int | float, whole: int | float) -> float | None:
    """part / whole rounded to 4 places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def visit_order(ref: str) -> tuple[str, int, str]:
    """Sort key of a visit reference TASK/RANK: by task, then rank as a number (T1/4 before T1/10)."""
    task, _, rank = ref.rpartition("/")
    return (task, int(rank), "") if rank.isdigit() else (task, 0, rank)


# Coverage (抽查覆盖情况) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Matter:
    """One enterprise to be checked on one item of a task (事项户次)."""

    visit: int
    tier: str  # the tier the draw used
    department: str  # code of the department that checks the item
    visited: bool  # the visit has results (a check date)
    published: bool  # this department's result on the visit has been published


@dataclass(frozen=True)
class StratumTarget:
    """What the draw set out to take from one item × tier (round(ratio × size), at least 1)."""

    tier: str
    department: str
    target: int


@dataclass(frozen=True)
class TaskFacts:
    code: str
    name: str
    status: str  # created, drawn, replaced
    strata: tuple[StratumTarget, ...] = ()
    matters: tuple[Matter, ...] = ()
    target: int | None = None  # the task's own target count, when it defines one


@dataclass(frozen=True)
class Counts:
    planned: int = 0
    drawn: int = 0
    visited: int = 0
    published: int = 0
    visits: int = 0  # distinct enterprises drawn (户)

    def as_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned, "drawn": self.drawn, "visited": self.visited, "published": self.published,
            "visits": self.visits, "visited_share": share(self.visited, self.drawn), "published_share": share(self.published, self.drawn),
        }


def count(matters: Iterable[Matter], planned: int) -> Counts:
    """Drawn, visited and published matters, and the distinct visits among them."""
    listed = list(matters)
    return Counts(planned, len(listed), sum(m.visited for m in listed), sum(m.published for m in listed), len({m.visit for m in listed}))


@dataclass(frozen=True)
class CoverageLine:
    key: str  # task code, tier or department code
    label: str
    counts: Counts
    status: str | None = None  # tasks only

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **({"status": self.status} if self.status else {}), **self.counts.as_dict()}


@dataclass
class Coverage:
    tasks: list[CoverageLine]
    total: Counts
    by_tier: list[CoverageLine]
    by_department: list[CoverageLine]

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": "matters (事项户次): one enterprise checked on one item", "total": self.total.as_dict(),
            "by_task": [t.as_dict() for t in self.tasks], "by_tier": [t.as_dict() for t in self.by_tier],
            "by_department": [d.as_dict() for d in self.by_department],
        }


def task_planned(task: TaskFacts) -> int:
    """The task's own target count if it defines one, else the sum of the draw's stratum targets."""
    return task.target if task.target is not None else sum(s.target for s in task.strata)


def coverage(tasks: Sequence[TaskFacts], departments: Mapping[str, str]) -> Coverage:
    """Planned, drawn, visited and published per task, and over the tasks not replaced by tier
    (all four, zeros included) and by department (every department of a task)."""
    lines = [CoverageLine(t.code, t.name, count(t.matters, task_planned(t)), t.status) for t in tasks]
    counted = [t for t in tasks if t.status != "replaced"]  # a replaced draw's visits never happen
    strata = [s for t in counted for s in t.strata]
    matters = [m for t in counted for m in t.matters]
    total = count(matters, sum(task_planned(t) for t in counted))
    by_tier = [
        CoverageLine(tier, TIER_LABELS[tier], count((m for m in matters if m.tier == tier), sum(s.target for s in strata if s.tier == tier)))
        for tier in TIERS
    ]
    codes = sorted({s.department for s in strata} | {m.department for m in matters})
    by_department = [
        CoverageLine(code, departments.get(code, code),
                     count((m for m in matters if m.department == code), sum(s.target for s in strata if s.department == code)))
        for code in codes
    ]
    return Coverage(lines, total, by_tier, by_department)


# Joint visits (联合抽查: 进一次门、查多项事) ----------------------------------------------------------


@dataclass(frozen=True)
class VisitItems:
    """A visit and the department of each item it covers (one entry per item)."""

    visit: int
    departments: tuple[str, ...]


@dataclass(frozen=True)
class DrawCounts:
    """What a draw stored: its visits, matters, and the visits separate draws would have needed."""

    task: str
    visits: int
    matters: int
    separate_visits: int


@dataclass
class Joint:
    visits: int
    matters: int
    matters_per_visit: dict[int, int]  # items on a visit → visits
    joint_visits: int  # items of two or more departments
    separate_visits: int
    drawn_visits: int
    tasks: list[DrawCounts]

    @property
    def saved(self) -> int:
        return self.separate_visits - self.drawn_visits

    def as_dict(self) -> dict[str, Any]:
        return {
            "visits": self.visits, "matters": self.matters,
            "matters_per_visit": {str(k): v for k, v in sorted(self.matters_per_visit.items())},
            "mean_matters_per_visit": round(self.matters / self.visits, 4) if self.visits else None,
            "joint_visits": self.joint_visits, "joint_share": share(self.joint_visits, self.visits),
            "separate_visits": self.separate_visits, "drawn_visits": self.drawn_visits, "visits_saved": self.saved,
            "saved_share": share(self.saved, self.separate_visits),
            "by_task": [{"task": t.task, "visits": t.visits, "matters": t.matters, "separate_visits": t.separate_visits,
                       "visits_saved": t.separate_visits - t.visits} for t in self.tasks],
        }


def joint(visits: Sequence[VisitItems], draws: Sequence[DrawCounts]) -> Joint:
    """Matters per visit, the visits joint across departments, and the visits saved against
    separate draws (Σ separate_visits − Σ visits of the draws)."""
    per_visit = Counter(len(v.departments) for v in visits)
    return Joint(
        visits=len(visits), matters=sum(len(v.departments) for v in visits), matters_per_visit=dict(per_visit),
        joint_visits=sum(len(set(v.departments)) >= 2 for v in visits),
        separate_visits=sum(d.separate_visits for d in draws), drawn_visits=sum(d.visits for d in draws), tasks=list(draws),
    )


# Timeliness (公示及时性) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A visit's results for one department, judged by publication_status."""

    visit: str
    department: str
    timeliness: str  # one of TIMELINESS


@dataclass(frozen=True)
class TimelinessLine:
    key: str
    label: str
    counts: dict[str, int]  # every key of TIMELINESS

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def published(self) -> int:
        return self.counts["published_on_time"] + self.counts["published_late"]

    @property
    def open(self) -> int:
        return self.total - self.published

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **self.counts, "total": self.total, "published": self.published, "open": self.open,
                "on_time_share": share(self.counts["published_on_time"], self.published)}


@dataclass
class Timeliness:
    deadline_working_days: int
    departments: list[TimelinessLine]
    total: TimelinessLine
    overdue: list[Due]

    def as_dict(self) -> dict[str, Any]:
        return {"deadline_working_days": self.deadline_working_days, "total": self.total.as_dict(),
                "departments": [d.as_dict() for d in self.departments],
                "overdue": [{"visit": d.visit, "department": d.department} for d in self.overdue]}


def _timeliness_line(key: str, label: str, dues: Iterable[Due]) -> TimelinessLine:
    counts = Counter(d.timeliness for d in dues)
    return TimelinessLine(key, label, {t: counts.get(t, 0) for t in TIMELINESS})


def timeliness(dues: Sequence[Due], departments: Mapping[str, str], deadline_working_days: int) -> Timeliness:
    """Per department: published on time or late, and still open on time, due soon or overdue."""
    unknown = {d.timeliness for d in dues} - set(TIMELINESS)
    if unknown:
        raise ValueError(f"unknown timeliness {sorted(unknown)}")
    codes = sorted({d.department for d in dues} | set(departments))
    lines = [_timeliness_line(c, departments.get(c, c), (d for d in dues if d.department == c)) for c in codes]
    overdue = sorted((d for d in dues if d.timeliness == "overdue"), key=lambda d: (visit_order(d.visit), d.department))
    return Timeliness(deadline_working_days, lines, _timeliness_line("total", "合计", dues), overdue)


# Closure (后续处置闭环) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A follow-up case as followup.list_cases sees it, with its working days to closure."""

    id: int
    visit: str
    enterprise: str
    department: str
    kind: str
    phase: str  # CasePhase label
    light: str  # green, yellow, red; closed
    opened_on: dt.date
    deadline: dt.date
    closed_on: dt.date | None = None
    working_days_left: int | None = None
    days_to_close: int | None = None  # working days from opening to closure (Workdays)


@dataclass
class Closure:
    cases: int
    closed: int
    by_phase: dict[str, int]  # every phase label, zeros included
    by_light: dict[str, int]
    overdue: list[Case]
    median_days_to_close: float | None
    weekly: list[tuple[dt.date, int, int]]  # Monday of the week, closed that week, closed so far

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases, "closed": self.closed, "open": self.cases - self.closed, "closed_share": share(self.closed, self.cases),
            "by_phase": self.by_phase, "by_light": self.by_light, "median_working_days_to_close": self.median_days_to_close,
            "overdue": [{"id": c.id, "visit": c.visit, "enterprise": c.enterprise, "department": c.department, "kind": c.kind,
                         "phase": c.phase, "opened_on": c.opened_on.isoformat(), "deadline": c.deadline.isoformat(),
                         "working_days_left": c.working_days_left} for c in self.overdue],
            "weekly": [{"week": w.isoformat(), "closed": n, "cumulative": c} for w, n, c in self.weekly],
        }


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def weekly_closures(closed_on: Iterable[dt.date]) -> list[tuple[dt.date, int, int]]:
    """Cases closed per week (Monday first), every week from the first to the last, with the
    running total."""
    per_week = Counter(monday(d) for d in closed_on)
    if not per_week:
        return []
    out, total, week = [], 0, min(per_week)
    while week <= max(per_week):
        total += per_week[week]
        out.append((week, per_week[week], total))
        week += dt.timedelta(days=7)
    return out


def closure(cases: Sequence[Case]) -> Closure:
    """Cases by phase and light, the overdue list (red lights, the oldest deadline first), the
    median working days from opening to closure, and the closures per week."""
    phases = Counter(c.phase for c in cases)
    lights = Counter(c.light for c in cases)
    days = [c.days_to_close for c in cases if c.days_to_close is not None]
    return Closure(
        cases=len(cases), closed=sum(c.closed_on is not None for c in cases),
        by_phase={p.label: phases.get(p.label, 0) for p in CasePhase},
        by_light={light: lights.get(light, 0) for light in ("red", "yellow", "green", "closed")},
        overdue=sorted((c for c in cases if c.light == "red"), key=lambda c: (c.deadline, c.id)),
        median_days_to_close=float(statistics.median(days)) if days else None,
        weekly=weekly_closures(c.closed_on for c in cases if c.closed_on is not None),
    )


# Fairness (公平性) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """The seats one department fills on one visit, and the inspectors eligible for them."""

    visit: int
    department: str
    seats: int
    eligible: tuple[str, ...]  # inspector numbers


@dataclass(frozen=True)
class InspectorInfo:
    number: str
    name: str
    department: str


def expected_loads(slots: Iterable[Slot]) -> dict[str, Fraction]:
    """Each inspector's expected visits under a uniform lottery: on every slot, each of the n
    eligible is picked with chance seats / n (at most 1). Summed over slots, exactly."""
    expected: dict[str, Fraction] = defaultdict(Fraction)
    for slot in slots:
        n = len(slot.eligible)
        for number in slot.eligible:
            expected[number] += Fraction(min(slot.seats, n), n)
    return dict(expected)


@dataclass(frozen=True)
class InspectorLine:
    number: str
    name: str
    department: str
    assigned: int
    expected: Fraction

    @property
    def ratio(self) -> float | None:
        """assigned ÷ expected; None for someone no visit made eligible."""
        return round(self.assigned / float(self.expected), 4) if self.expected else None

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "name": self.name, "department": self.department, "assigned": self.assigned,
                "expected": round(float(self.expected), 4), "expected_exact": str(self.expected), "ratio": self.ratio}


def inspector_lines(slots: Sequence[Slot], assigned: Mapping[str, int], info: Mapping[str, InspectorInfo]) -> list[InspectorLine]:
    """Everyone eligible somewhere or assigned, by inspector number."""
    expected = expected_loads(slots)
    numbers = sorted(set(expected) | {n for n, k in assigned.items() if k})
    return [InspectorLine(n, info[n].name if n in info else "", info[n].department if n in info else "", assigned.get(n, 0), expected.get(n, Fraction(0)))
            for n in numbers]


@dataclass(frozen=True)
class Check:
    """One check of an enterprise that counts toward its yearly cap: a routine visit, or a
    spot-check record from outside."""

    uscc: str
    name: str
    year: int
    source: str  # the task code, or the record's document number


@dataclass(frozen=True)
class EnterpriseYear:
    uscc: str
    name: str
    year: int
    checks: int
    sources: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"uscc": self.uscc, "name": self.name, "year": self.year, "checks": self.checks, "sources": list(self.sources)}


@dataclass
class YearlyChecks:
    cap: int
    distribution: dict[int, dict[int, int]]  # year → checks → enterprises
    at_cap: list[EnterpriseYear]
    over_cap: list[EnterpriseYear]

    def as_dict(self) -> dict[str, Any]:
        return {"cap": self.cap,
                "distribution": {str(y): {str(k): v for k, v in sorted(d.items())} for y, d in sorted(self.distribution.items())},
                "max": max((k for d in self.distribution.values() for k in d), default=0),
                "at_cap": len(self.at_cap), "over_cap": [e.as_dict() for e in self.over_cap]}


def yearly_checks(checks: Iterable[Check], cap: int) -> YearlyChecks:
    """Checks per enterprise per calendar year against the yearly cap: how many enterprises had
    1, 2, … checks, how many reached the cap, and every one above it."""
    grouped: dict[tuple[str, int], list[Check]] = defaultdict(list)
    for check in checks:
        grouped[(check.uscc, check.year)].append(check)
    years = [EnterpriseYear(u, cs[0].name, y, len(cs), tuple(sorted(c.source for c in cs))) for (u, y), cs in sorted(grouped.items())]
    distribution: dict[int, dict[int, int]] = defaultdict(dict)
    for (year, n), enterprises in sorted(Counter((e.year, e.checks) for e in years).items()):
        distribution[year][n] = enterprises
    return YearlyChecks(cap, dict(distribution), [e for e in years if e.checks == cap], [e for e in years if e.checks > cap])


@dataclass(frozen=True)
class ItemCheck:
    """An enterprise checked on an item by a routine task, as the draw's exclusion sees it: on the
    task window's first day. ``window_opens``: the day ``recheck_months`` before it
    (frame.months_before); an earlier check of the item strictly after that day is a repeat."""

    uscc: str
    name: str
    item: str
    task: str
    on: dt.date
    window_opens: dt.date


@dataclass(frozen=True)
class Repeat:
    uscc: str
    name: str
    item: str
    first: str
    first_on: dt.date
    second: str
    second_on: dt.date

    def as_dict(self) -> dict[str, Any]:
        return {"uscc": self.uscc, "name": self.name, "item": self.item, "first_task": self.first, "first_on": self.first_on.isoformat(),
                "second_task": self.second, "second_on": self.second_on.isoformat()}


def repeated_checks(checks: Iterable[ItemCheck]) -> list[Repeat]:
    """Enterprises checked twice on the same item within the recheck period (12 months): each
    check against the one before it on that item. The draw's exclusion should leave none."""
    by_pair: dict[tuple[str, str], list[ItemCheck]] = defaultdict(list)
    for check in checks:
        by_pair[(check.uscc, check.item)].append(check)
    repeats = []
    for (uscc, item), listed in sorted(by_pair.items()):
        listed.sort(key=lambda c: (c.on, c.task))
        for before, after in zip(listed, listed[1:]):
            if before.task != after.task and before.on > after.window_opens:
                repeats.append(Repeat(uscc, after.name, item, before.task, before.on, after.task, after.on))
    return repeats


@dataclass
class Fairness:
    inspectors: list[InspectorLine]
    yearly: YearlyChecks
    repeats: list[Repeat]
    recheck_months: int
    unassigned_tasks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        ratios = [i.ratio for i in self.inspectors if i.ratio is not None]
        return {
            "inspectors": [i.as_dict() for i in self.inspectors],
            "assigned": sum(i.assigned for i in self.inspectors),
            "expected": round(float(sum((i.expected for i in self.inspectors), Fraction(0))), 4),
            "ratio_min": min(ratios, default=None), "ratio_max": max(ratios, default=None),
            "unassigned_tasks": self.unassigned_tasks, "yearly_checks": self.yearly.as_dict(),
            "recheck_months": self.recheck_months, "repeated_checks": [r.as_dict() for r in self.repeats],
            "repeated_checks_note": (f"no enterprise was checked twice on the same item within {self.recheck_months} months"
                                     if not self.repeats else f"{len(self.repeats)} repeated check(s) within {self.recheck_months} months"),
        }


# Credit (信用风险分类) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFacts:
    id: int
    as_of: dt.date
    counts: Mapping[str, int]  # tier → enterprises


@dataclass(frozen=True)
class DriftFacts:
    """credit.drift.Drift between two runs, as plain values."""

    run_a: int
    run_b: int
    matrix: Mapping[str, Mapping[str, int]]  # tier in a → tier in b → enterprises graded in both
    only_a: int
    only_b: int
    psi: float
    verdict: str


def run_line(run: RunFacts) -> dict[str, Any]:
    total = sum(run.counts.get(t, 0) for t in TIERS)
    return {"run": run.id, "as_of": run.as_of.isoformat(), "enterprises": total,
            "counts": {t: run.counts.get(t, 0) for t in TIERS}, "shares": {t: share(run.counts.get(t, 0), total) for t in TIERS}}


def drift_line(d: DriftFacts) -> dict[str, Any]:
    """The transition matrix summed: stayed in the tier, moved to a riskier or a safer one."""
    cells = [(TIERS.index(a), TIERS.index(b), n) for a, row in d.matrix.items() for b, n in row.items()]
    return {"run_a": d.run_a, "run_b": d.run_b, "stayed": sum(n for a, b, n in cells if a == b),
            "riskier": sum(n for a, b, n in cells if b > a), "safer": sum(n for a, b, n in cells if b < a),
            "only_a": d.only_a, "only_b": d.only_b, "psi": round(d.psi, 6), "verdict": d.verdict,
            "matrix": {a: {b: d.matrix.get(a, {}).get(b, 0) for b in TIERS} for a in TIERS}}


@dataclass
class Credit:
    runs: list[RunFacts]
    drifts: list[DriftFacts]

    def as_dict(self) -> dict[str, Any]:
        return {"runs": [run_line(r) for r in self.runs], "drifts": [drift_line(d) for d in self.drifts]}


# The report -------------------------------------------------------------------------------------


@dataclass
class Section:
    kind: str
    figures: Coverage | Joint | Timeliness | Closure | Fairness | Credit
    message: str | None = None  # when there is nothing to report, why

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": TITLES[self.kind], "message": self.message, **self.figures.as_dict()}


@dataclass
class Report:
    as_of: dt.date
    task: str | None
    year: int | None
    tasks: list[str]  # the codes of the tasks reported on
    sections: list[Section]
    departments: dict[str, str] = field(default_factory=dict)  # code → name

    def section(self, kind: str) -> Section:
        return next(s for s in self.sections if s.kind == kind)

    def as_dict(self, kind: str) -> dict[str, Any]:
        """One section with what was selected; for ``all`` an object keyed by kind."""
        if kind == "all":
            return {s.kind: self._one(s) for s in self.sections}
        return self._one(self.section(kind))

    def _one(self, section: Section) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "task": self.task, "year": self.year, "tasks": self.tasks, **section.as_dict()}
