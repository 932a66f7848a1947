"""Reads the facts of the oversight reports in bulk and hands them to the pure figures. Takes the
caller's session and never commits; deadlines, lights, eligibility and drift come from the
modules that own them (publication_status, followup, eligibility, credit.drift)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from credit.drift import drift
from credit.enums import RecordKind
from credit.errors import SpotcheckError
from credit.grading import tier_counts
from credit.grading_models import GradingRun
from credit.models import CreditRecord, Department, Enterprise
from credit.policy import Policy
from credit.scoring import add_months_to
from inspection import inputs
from inspection.calendar import Workdays
from inspection.eligibility import eligibility, zones
from inspection.enums import TaskKind, TaskStatus
from inspection.followup import list_cases
from inspection.frame import months_before
from inspection.matching import team_slots
from inspection.models import CheckItem, Inspector
from inspection.publication_status import publication_status
from inspection.reports import figures as f
from inspection.result_models import Publication, VisitResult
from inspection.task_models import Assignment, AssignmentRun, Draw, Task, TaskItem, Visit, VisitItem
from inspection.tasks import get_task
from inspection.visits import visit_ref

KINDS = f.KINDS


def select_tasks(session: Session, task: str | None, year: int | None) -> list[Task]:
    """The task named, or every task whose window starts in ``year``, or every task; by code."""
    if task is not None:
        found = get_task(session, task)
        if year is not None and found.starts_on.year != year:
            raise SpotcheckError(f"task {task} starts in {found.starts_on.year}, not in {year}")
        return [found]
    query = select(Task).order_by(Task.code)
    if year is not None:
        query = query.where(Task.starts_on >= dt.date(year, 1, 1), Task.starts_on <= dt.date(year, 12, 31))
    return list(session.scalars(query))


def _department_names(session: Session) -> dict[str, str]:
    return {code: name for code, name in session.execute(select(Department.code, Department.name))}


def _task_departments(session: Session, ids: list[int]) -> dict[int, dict[str, str]]:
    """Per task: item code → department code (as the task's items stand now)."""
    out: dict[int, dict[str, str]] = defaultdict(dict)
    if ids:
        for task_id, item, department in session.execute(
            select(TaskItem.task_id, CheckItem.code, Department.code).join(CheckItem, CheckItem.id == TaskItem.item_id)
            .join(Department, Department.id == TaskItem.department_id).where(TaskItem.task_id.in_(ids))
        ):
            out[task_id][item] = department
    return out


def _visit_items(session: Session, ids: list[int]) -> list[tuple[int, int, int, str, str]]:
    """(visit id, task id, rank, tier, department code), one row per item of each visit."""
    if not ids:
        return []
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(Visit.id, Visit.task_id, Visit.rank, Visit.tier, Department.code)
        .join(VisitItem, VisitItem.visit_id == Visit.id).join(TaskItem, TaskItem.id == VisitItem.task_item_id)
        .join(Department, Department.id == TaskItem.department_id).where(Visit.task_id.in_(ids))
        .order_by(Visit.task_id, Visit.rank, Department.code)
    )]


def _draws(session: Session, ids: list[int]) -> dict[int, Draw]:
    if not ids:
        return {}
    return {d.task_id: d for d in session.scalars(select(Draw).where(Draw.task_id.in_(ids)))}


# One function per report ----------------------------------------------------------------------


def coverage_facts(session: Session, tasks: Sequence[Task]) -> list[f.TaskFacts]:
    ids = [t.id for t in tasks]
    departments = _task_departments(session, ids)
    draws = _draws(session, ids)
    visited: set[int] = set()
    published: set[tuple[int, str]] = set()
    if ids:
        visited = set(session.scalars(select(VisitResult.visit_id).join(Visit, Visit.id == VisitResult.visit_id).where(Visit.task_id.in_(ids))))
        published = {(v, d) for v, d in session.execute(
            select(Publication.visit_id, Department.code).join(Department, Department.id == Publication.department_id)
            .join(Visit, Visit.id == Publication.visit_id).where(Visit.task_id.in_(ids)).distinct()
        )}
    matters: dict[int, list[f.Matter]] = defaultdict(list)
    for visit_id, task_id, _, tier, department in _visit_items(session, ids):
        matters[task_id].append(f.Matter(visit_id, tier, department, visit_id in visited, (visit_id, department) in published))
    out = []
    for task in tasks:
        strata: tuple[f.StratumTarget, ...] = ()
        if task.id in draws:
            report = json.loads(draws[task.id].report)
            strata = tuple(f.StratumTarget(s["tier"], departments[task.id].get(s["item"], "?"), s["drawn"]) for s in report["strata"])
        # Tasks have no target count of their own (a batch's quantity covers several tasks): the
        # draw's stratum targets are the plan.
        out.append(f.TaskFacts(task.code, task.name, task.status.value, strata, tuple(matters[task.id])))
    return out


def joint_facts(session: Session, tasks: Sequence[Task]) -> tuple[list[f.VisitItems], list[f.DrawCounts]]:
    counted = [t for t in tasks if t.status == TaskStatus.DRAWN]
    ids = [t.id for t in counted]
    per_visit: dict[int, list[str]] = defaultdict(list)
    for visit_id, _, _, _, department in _visit_items(session, ids):
        per_visit[visit_id].append(department)
    draws = _draws(session, ids)
    return ([f.VisitItems(v, tuple(d)) for v, d in per_visit.items()],
            [f.DrawCounts(t.code, draws[t.id].visits, draws[t.id].matters, draws[t.id].separate_visits) for t in counted if t.id in draws])


def timeliness_facts(session: Session, policy: Policy, as_of: dt.date, tasks: Sequence[Task]) -> tuple[list[f.Due], dict[str, str]]:
    """publication_status's verdict for every visit of the tasks, once per department on it."""
    if not tasks:
        return [], {}
    codes = {t.id: t.code for t in tasks}
    departments: dict[str, set[str]] = defaultdict(set)  # visit reference → departments of its items
    for _, task_id, rank, _, department in _visit_items(session, list(codes)):
        departments[visit_ref(codes[task_id], rank)].add(department)
    names = _department_names(session)
    involved = {d for ds in _task_departments(session, list(codes)).values() for d in ds.values()}
    rows = publication_status(session, policy, as_of, tasks[0].code if len(tasks) == 1 else None)
    dues = [f.Due(r.visit, d, r.timeliness) for r in rows if r.visit in departments for d in sorted(departments[r.visit])]
    return dues, {d: names.get(d, d) for d in involved}


def closure_facts(session: Session, policy: Policy, as_of: dt.date, tasks: Sequence[Task]) -> list[f.Case]:
    """followup.list_cases (with closed ones) of the tasks, with the working days each closed case took."""
    if not tasks:
        return []
    codes = {t.code for t in tasks}
    rows = list_cases(session, policy, as_of, include_closed=True, task=tasks[0].code if len(tasks) == 1 else None)
    days = Workdays(session)
    out = []
    for r in rows:
        if r.visit.rpartition("/")[0] not in codes:
            continue
        taken = None
        if r.closed_on is not None:
            try:
                taken = days.left(r.opened_on, r.closed_on)
            except SpotcheckError:  # a year without a holiday schedule: the median leaves it out
                taken = None
        out.append(f.Case(r.id, r.visit, r.enterprise, r.department, r.kind, r.phase, r.light, r.opened_on, r.deadline,
                          r.closed_on, r.working_days_left, taken))
    return out


def fairness_facts(session: Session, policy: Policy, tasks: Sequence[Task]) -> tuple[list[f.Slot], dict[str, int], dict[str, f.InspectorInfo], list[str], list[f.Check], list[f.ItemCheck]]:
    """Slots from the facts each assignment was solved from (assignment_runs.inputs), the visits
    assigned now (递补 included), the checks counting toward the yearly cap, and the routine
    item checks near the tasks' windows."""
    ids = [t.id for t in tasks]
    slots: list[f.Slot] = []
    assigned_tasks: set[int] = set()
    if ids:
        for task_id, packed in session.execute(select(AssignmentRun.task_id, AssignmentRun.inputs).where(AssignmentRun.task_id.in_(ids))):
            if packed is None:
                continue
            assigned_tasks.add(task_id)
            visits, _, inspectors, params = inputs.unpack(packed)
            found = eligibility(visits, inspectors, params.cross_station, zones(params.cooperation))
            numbers = {i.id: i.number for i in inspectors}
            for visit in visits:
                for department, seats in team_slots(list(visit.items), params.team_size, params.lead):
                    slots.append(f.Slot(visit.id, department, seats, tuple(numbers[i] for i in found.eligible[(visit.id, department)])))
    assigned: Counter[str] = Counter()
    if ids:
        assigned.update(n for (n,) in session.execute(
            select(Inspector.inspector_no).join(Assignment, Assignment.inspector_id == Inspector.id)
            .join(Visit, Visit.id == Assignment.visit_id).where(Visit.task_id.in_(ids))
        ))
    wanted = {n for s in slots for n in s.eligible} | set(assigned)
    info = {}
    if wanted:
        for number, name, department in session.execute(
            select(Inspector.inspector_no, Inspector.name, Department.code).join(Department, Department.id == Inspector.department_id)
            .where(Inspector.inspector_no.in_(sorted(wanted)))
        ):
            info[number] = f.InspectorInfo(number, name, department)
    unassigned = [t.code for t in tasks if t.status == TaskStatus.DRAWN and t.id not in assigned_tasks]
    return slots, dict(assigned), info, unassigned, yearly_check_facts(session, tasks), item_check_facts(session, policy, tasks)


def _routine_drawn() -> list[Any]:
    """The tasks whose visits count as checks: routine (re-checks and complaints are exempt), drawn, not replaced."""
    return [Task.kind == TaskKind.ROUTINE, Task.status == TaskStatus.DRAWN]


def yearly_check_facts(session: Session, tasks: Sequence[Task]) -> list[f.Check]:
    """Checks in the tasks' years that count toward the yearly cap, as the draw counts them:
    visits of routine tasks drawn (not replaced) by the year their window starts, and spot-check
    records from outside (not superseded) by their date."""
    years = sorted({t.starts_on.year for t in tasks})
    if not years:
        return []
    first, last = dt.date(years[0], 1, 1), dt.date(years[-1], 12, 31)
    checks = [
        f.Check(uscc, name, starts_on.year, code) for uscc, name, starts_on, code in session.execute(
            select(Enterprise.uscc, Enterprise.name, Task.starts_on, Task.code).join(Visit, Visit.enterprise_id == Enterprise.id)
            .join(Task, Task.id == Visit.task_id).where(*_routine_drawn(), Task.starts_on >= first, Task.starts_on <= last)
        ) if starts_on.year in years
    ]
    later = aliased(CreditRecord)
    for uscc, name, occurred_on, document_no, record_id in session.execute(
        select(Enterprise.uscc, Enterprise.name, CreditRecord.occurred_on, CreditRecord.document_no, CreditRecord.id)
        .join(Enterprise, Enterprise.id == CreditRecord.enterprise_id)
        .where(CreditRecord.kind == RecordKind.SPOT_CHECK, CreditRecord.from_result.is_(False),
               CreditRecord.occurred_on >= first, CreditRecord.occurred_on <= last,
               ~exists().where(later.supersedes_id == CreditRecord.id))
    ):
        if occurred_on.year in years:
            checks.append(f.Check(uscc, name, occurred_on.year, document_no or f"record {record_id}"))
    return checks


def item_check_facts(session: Session, policy: Policy, tasks: Sequence[Task]) -> list[f.ItemCheck]:
    """Every routine item check whose window starts within the recheck period of a task's."""
    if not tasks:
        return []
    months = policy.recheck_months
    first = months_before(min(t.starts_on for t in tasks), months)
    last = add_months_to(max(t.starts_on for t in tasks), months)
    rows = session.execute(
        select(Enterprise.uscc, Enterprise.name, CheckItem.code, Task.code, Task.starts_on)
        .join(Visit, Visit.enterprise_id == Enterprise.id).join(Task, Task.id == Visit.task_id)
        .join(VisitItem, VisitItem.visit_id == Visit.id).join(TaskItem, TaskItem.id == VisitItem.task_item_id)
        .join(CheckItem, CheckItem.id == TaskItem.item_id)
        .where(*_routine_drawn(), and_(Task.starts_on >= first, Task.starts_on <= last))
    )
    return [f.ItemCheck(uscc, name, item, code, on, months_before(on, months)) for uscc, name, item, code, on in rows]


def credit_facts(session: Session, year: int | None) -> tuple[list[f.RunFacts], list[f.DriftFacts]]:
    """Every grading run (of ``year``, by its as-of date) and the drift between consecutive ones."""
    query = select(GradingRun).order_by(GradingRun.id)
    if year is not None:
        query = query.where(GradingRun.as_of >= dt.date(year, 1, 1), GradingRun.as_of <= dt.date(year, 12, 31))
    runs = list(session.scalars(query))
    drifts = []
    for a, b in itertools.pairwise(runs):
        d = drift(session, a.id, b.id)
        drifts.append(f.DriftFacts(d.run_a, d.run_b, d.matrix, d.only_a, d.only_b, d.psi, d.verdict))
    return [f.RunFacts(r.id, r.as_of, tier_counts(r)) for r in runs], drifts


# The report -------------------------------------------------------------------------------------


def build_report(session: Session, policy: Policy, kinds: Sequence[str], *, task: str | None = None, year: int | None = None,
                 as_of: dt.date) -> f.Report:
    """The sections asked for, over the task named, the tasks of ``year``, or every task."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SpotcheckError(f"unknown report {unknown[0]!r}; one of {', '.join(KINDS)} or all")
    tasks = select_tasks(session, task, year)
    none = None if tasks else (f"no tasks in {year}" if year is not None else "no tasks yet")
    names = _department_names(session)
    sections = []
    for kind in kinds:
        if kind == "coverage":
            sections.append(f.Section(kind, f.coverage(coverage_facts(session, tasks), names), none))
        elif kind == "joint":
            visits, draws = joint_facts(session, tasks)
            sections.append(f.Section(kind, f.joint(visits, draws), none or (None if draws else "no task drawn yet")))
        elif kind == "timeliness":
            dues, involved = timeliness_facts(session, policy, as_of, tasks)
            sections.append(f.Section(kind, f.timeliness(dues, involved, policy.publish_working_days),
                                      none or (None if dues else f"no results due as of {as_of}")))
        elif kind == "closure":
            cases = closure_facts(session, policy, as_of, tasks)
            sections.append(f.Section(kind, f.closure(cases), none or (None if cases else "no follow-up cases")))
        elif kind == "fairness":
            slots, assigned, info, unassigned, checks, item_checks = fairness_facts(session, policy, tasks)
            figures = f.Fairness(f.inspector_lines(slots, assigned, info), f.yearly_checks(checks, policy.yearly_cap),
                                 [r for r in f.repeated_checks(item_checks) if {r.first, r.second} & {t.code for t in tasks}],
                                 policy.recheck_months, unassigned)
            sections.append(f.Section(kind, figures, none or (None if slots else "no task assigned yet")))
        else:
            runs, drifts = credit_facts(session, year)
            message = None if runs else (f"no grading runs in {year}" if year is not None else "no grading runs yet")
            sections.append(f.Section(kind, f.Credit(runs, drifts), message))
    return f.Report(as_of, task, year, [t.code for t in tasks], sections, names)
