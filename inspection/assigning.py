"""Assign inspectors to the visits of a drawn task: dates, eligibility, the flow, the validator,
storage. The second random of 双随机: nobody chooses who inspects whom."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import defaultdict
from importlib import metadata

import chinese_calendar
import numpy as np
import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from credit.bulk import insert_rows
from credit.errors import SpotcheckError
from credit.models import Department, Enterprise
from inspection import matching
from inspection.dating import spread
from inspection.eligibility import Eligibility, InspectorFacts, ItemFacts, VisitFacts, eligibility, explain
from inspection.enums import InspectorStatus, TaskStatus
from inspection.models import CheckItem, Inspector, InspectorConflict, InspectorLeave, InspectorQualification
from inspection.task_models import Assignment, AssignmentRun, Draw, Task, TaskItem, Visit, VisitItem
from inspection.tasks import get_task
from inspection.validate import Rules, validate

log = structlog.get_logger()
SHORT_LINES = 10  # visits named in a shortage message; the count covers them all


class AssignmentShort(SpotcheckError):
    """Not every visit can be staffed; the message says how many and why."""


def working_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """The working days of the window (statutory holidays and make-up days from chinese-calendar);
    a year it does not know is refused, never guessed."""
    try:
        return list(chinese_calendar.get_workdays(start, end))
    except NotImplementedError as exc:
        raise SpotcheckError(f"no holiday schedule for the window {start}–{end}: {exc} (chinese-calendar {metadata.version('chinese-calendar')})") from None


def assign_task(session: Session, code: str, operator: str) -> AssignmentRun:
    """Date every visit, staff it with eligible inspectors chosen by the key's lottery, check the
    result independently and store it. Refused when the task is not drawn or already assigned,
    and when any visit cannot be staffed (nothing is stored then)."""
    started = time.perf_counter()
    task = get_task(session, code)
    if task.status != TaskStatus.DRAWN:
        state = "has not been drawn yet" if task.status == TaskStatus.CREATED else "was replaced"
        raise SpotcheckError(f"task {code} {state}: only a drawn task is assigned")
    if session.scalar(select(AssignmentRun.id).where(AssignmentRun.task_id == task.id)) is not None:
        raise SpotcheckError(f"task {code} is already assigned; a withdrawn inspector is replaced with `spotcheck task replace`")
    draw = session.scalar(select(Draw).where(Draw.task_id == task.id))
    assert draw is not None
    days = working_days(task.starts_on, task.ends_on)
    if not days:
        raise SpotcheckError(f"task {code}: the window {task.starts_on}–{task.ends_on} has no working day")
    lead = session.get(Department, task.lead_department_id)
    assert lead is not None

    visits, usccs = visit_facts(session, task, days)
    inspectors, numbers = inspector_facts(session, {d for v in visits for d in v.items})
    rules = Rules(task.inspectors_per_visit, (task.starts_on, task.ends_on), set(days), task.visits_per_day, task.visits_per_task, task.cross_station)
    found = eligibility(visits, inspectors, task.cross_station)

    slots: list[tuple[int, str, int]] = []
    for n, visit in enumerate(visits):
        slots.extend((n, d, count) for d, count in matching.team_slots(list(visit.items), task.inspectors_per_visit, lead.code))
    index = {i.id: n for n, i in enumerate(inspectors)}
    day_index = {d: n for n, d in enumerate(days)}
    pair_slot, pair_inspector, pair_day, labels = [], [], [], []
    for s, (v, department, _) in enumerate(slots):
        for inspector_id in found.eligible[(visits[v].id, department)]:
            pair_slot.append(s)
            pair_inspector.append(index[inspector_id])
            pair_day.append(day_index[visits[v].day])
            labels.append(f"{usccs[v]}:{numbers[inspector_id]}")
    departments = sorted({i.department for i in inspectors} | {d for _, d, _ in slots})
    demand = np.zeros(len(departments))
    for _, department, count in slots:
        demand[departments.index(department)] += count
    availability = np.array([sum(available(i, day) for day in days) for i in inspectors], float)
    instance = matching.Instance(
        slot_visit=np.array([s[0] for s in slots], np.int64), slot_count=np.array([s[2] for s in slots], np.int64),
        capacity=np.full(len(inspectors), task.visits_per_task, np.int64),
        target=matching.targets(demand, np.array([departments.index(i.department) for i in inspectors], np.int64), availability),
        pair_slot=np.array(pair_slot, np.int64), pair_inspector=np.array(pair_inspector, np.int64),
        pair_day=np.array(pair_day, np.int64), pair_cost=matching.lottery(bytes.fromhex(draw.key_hex), labels),
        per_day=task.visits_per_day,
    )
    built = time.perf_counter() - started
    solution = matching.solve(instance)
    solved = time.perf_counter() - started - built
    log.info("assign_solved", task=code, visits=len(visits), pairs=len(labels), build_seconds=round(built, 2), solve_seconds=round(solved, 2))
    if not solution.complete:
        raise AssignmentShort(_shortage(visits, slots, solution, found))

    teams: dict[int, list[int]] = defaultdict(list)
    for p in np.flatnonzero(solution.chosen).tolist():
        teams[visits[slots[pair_slot[p]][0]].id].append(inspectors[pair_inspector[p]].id)
    violations = validate(visits, inspectors, teams, rules)
    if violations:
        raise SpotcheckError(f"task {code}: the solution breaks {len(violations)} rule(s), nothing stored (a bug, please report): " + "; ".join(map(str, violations[:5])))

    lines = sorted(f"{usccs[n]} {v.day} {','.join(sorted(numbers[i] for i in teams[v.id]))}\n" for n, v in enumerate(visits))
    loads = solution.load[solution.load > 0] if solution.load.any() else np.zeros(1, np.int64)
    for visit in visits:
        session.execute(update(Visit).where(Visit.id == visit.id).values(scheduled_on=visit.day).execution_options(synchronize_session=False))
    insert_rows(session, Assignment.__table__, ("visit_id", "inspector_id"), sorted((v, i) for v, team in teams.items() for i in team))
    run = AssignmentRun(
        task_id=task.id, operator=operator, solver=f"ortools {metadata.version('ortools')} SimpleMinCostFlow",
        parameters=json.dumps({
            "team_size": task.inspectors_per_visit, "visits_per_day": task.visits_per_day,
            "visits_per_task": task.visits_per_task, "cross_station": task.cross_station, "lead": lead.code,
            "working_days": [d.isoformat() for d in days], "lottery_range": matching.LOTTERY_RANGE,
            "balance_weight": matching.BALANCE_WEIGHT,
        }, ensure_ascii=False),
        result_sha256=hashlib.sha256("".join(lines).encode()).hexdigest(), visits=len(visits),
        inspectors=int((solution.load > 0).sum()), load_min=int(loads.min()), load_max=int(loads.max()),
        seconds=round(time.perf_counter() - started, 3),
    )
    session.add(run)
    session.flush()
    return run


def available(inspector: InspectorFacts, day: dt.date) -> bool:
    """On duty that day: active, certified, not on leave (availability for balance)."""
    return (inspector.active and inspector.certificate_expires is not None and inspector.certificate_expires >= day
            and not any(start <= day <= end for start, end in inspector.leave))


def visit_facts(session: Session, task: Task, days: list[dt.date], *, stored_dates: bool = False) -> tuple[list[VisitFacts], list[str]]:
    """The task's visits as facts with their USCCs (same order), dated by the date stage, or,
    with ``stored_dates``, on the days an earlier assignment gave them."""
    rows = session.execute(
        select(Visit.id, Visit.rank, Visit.enterprise_id, Visit.scheduled_on, Enterprise.uscc, Enterprise.district_code, Enterprise.station)
        .join(Enterprise, Enterprise.id == Visit.enterprise_id).where(Visit.task_id == task.id).order_by(Visit.rank)
    ).all()
    items: dict[int, dict[str, list[ItemFacts]]] = defaultdict(lambda: defaultdict(list))
    for visit_id, department, item_code, category in session.execute(
        select(VisitItem.visit_id, Department.code, CheckItem.code, CheckItem.category)
        .join(TaskItem, TaskItem.id == VisitItem.task_item_id).join(CheckItem, CheckItem.id == TaskItem.item_id)
        .join(Department, Department.id == TaskItem.department_id).join(Visit, Visit.id == VisitItem.visit_id)
        .where(Visit.task_id == task.id)
    ):
        items[visit_id][department].append(ItemFacts(item_code, category))
    dates = {r.id: r.scheduled_on for r in rows} if stored_dates else spread([(r.id, r.district_code, r.rank) for r in rows], days)
    previous = _previous_teams(session, task, [r.enterprise_id for r in rows])
    visits = [
        VisitFacts(r.id, r.uscc, r.district_code, r.station, dates[r.id], {d: tuple(v) for d, v in items[r.id].items()},
                   previous.get(r.enterprise_id, frozenset()))
        for r in rows
    ]
    return visits, [r.uscc for r in rows]


def _previous_teams(session: Session, task: Task, enterprise_ids: list[int]) -> dict[int, frozenset[int]]:
    """For each enterprise, the inspectors of its latest earlier assigned visit (recusal)."""
    latest: dict[int, tuple[dt.date, int]] = {}
    for enterprise_id, visit_id, day in session.execute(
        select(Visit.enterprise_id, Visit.id, Visit.scheduled_on)
        .where(Visit.task_id != task.id, Visit.scheduled_on.is_not(None), Visit.scheduled_on <= task.ends_on)
    ):
        if enterprise_id in latest and latest[enterprise_id] >= (day, visit_id):
            continue
        latest[enterprise_id] = (day, visit_id)
    wanted = set(enterprise_ids)
    visits = {visit_id: enterprise_id for enterprise_id, (_, visit_id) in latest.items() if enterprise_id in wanted}
    teams: dict[int, set[int]] = defaultdict(set)
    if visits:
        for visit_id, inspector_id in session.execute(select(Assignment.visit_id, Assignment.inspector_id).where(Assignment.visit_id.in_(list(visits)))):
            teams[visits[visit_id]].add(inspector_id)
    return {e: frozenset(t) for e, t in teams.items()}


def inspector_facts(session: Session, departments: set[str]) -> tuple[list[InspectorFacts], dict[int, str]]:
    """The inspectors of the departments the visits need, as facts, and their numbers."""
    rows = session.execute(
        select(Inspector, Department.code).join(Department, Department.id == Inspector.department_id)
        .where(Department.code.in_(sorted(departments))).order_by(Inspector.inspector_no)
    ).all()
    ids = [r[0].id for r in rows]
    qualifications: dict[int, set[str]] = defaultdict(set)
    leave: dict[int, list[tuple[dt.date, dt.date]]] = defaultdict(list)
    conflicts: dict[int, set[str]] = defaultdict(set)
    if ids:
        for inspector_id, item in session.execute(select(InspectorQualification.inspector_id, InspectorQualification.item).where(InspectorQualification.inspector_id.in_(ids))):
            qualifications[inspector_id].add(item)
        for inspector_id, start, end in session.execute(select(InspectorLeave.inspector_id, InspectorLeave.starts_on, InspectorLeave.ends_on).where(InspectorLeave.inspector_id.in_(ids))):
            leave[inspector_id].append((start, end))
        for inspector_id, uscc in session.execute(select(InspectorConflict.inspector_id, InspectorConflict.uscc).where(InspectorConflict.inspector_id.in_(ids))):
            conflicts[inspector_id].add(uscc)
    facts = [
        InspectorFacts(i.id, code, i.district_code, i.station, i.status == InspectorStatus.ACTIVE, i.certificate_expires,
                       tuple(sorted(leave[i.id])), frozenset(qualifications[i.id]), frozenset(conflicts[i.id]))
        for i, code in rows
    ]
    return facts, {i.id: i.inspector_no for i, _ in rows}


def _shortage(visits: list[VisitFacts], slots: list[tuple[int, str, int]], solution: matching.Solution, found: Eligibility) -> str:
    """How many visits cannot be staffed, and why, for the first few."""
    short_visits: dict[int, list[str]] = defaultdict(list)
    for s, missing in enumerate(solution.short.tolist()):
        if missing > 0:
            v, department, count = slots[s]
            key = (visits[v].id, department)
            short_visits[v].append(explain(department, count, len(found.eligible[key]), found.refused[key]))
    lines = [f"  {visits[v].uscc} on {visits[v].day}: {'; '.join(reasons)}" for v, reasons in sorted(short_visits.items())[:SHORT_LINES]]
    more = f"\n  … and {len(short_visits) - SHORT_LINES} more" if len(short_visits) > SHORT_LINES else ""
    return f"{len(short_visits)} of {len(visits)} visits cannot be staffed with every rule held; nothing was assigned:\n" + "\n".join(lines) + more
