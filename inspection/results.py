"""Results of visits (检查结果): recorded by the team, submitted, reviewed, corrected after publication.

States: 录入 (entered) → 待审核 (submitted) → 已审核 (approved) → 已公示 (published). A return
sends submitted results back to 录入 with the reason; a correction after publication opens the
next revision in 录入, and publishing it makes new publication records that supersede the old.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import audit
from credit.errors import SpotcheckError
from credit.models import Department
from credit.result_codes import parse_result_codes
from credit.roles import Actor, Role
from inspection.enums import CheckMethod, Measure, ResultState
from inspection.models import CheckItem, Inspector
from inspection.result_models import ItemResult, VisitResult
from inspection.result_rules import ItemEntry, check_entry
from inspection.task_models import Task, TaskItem, Visit, VisitItem
from inspection.users import AccessRefused
from inspection.visits import find_visit, team_of, visit_ref


@dataclass(frozen=True)
class VisitItemInfo:
    task_item_id: int
    code: str
    name: str
    department_id: int
    department: str


def parse_entry(checked: bool, methods: list[str], codes: str, findings: str, measure: str | None) -> ItemEntry:
    """An entry from the user's words (codes or labels); ValueError with the reason."""
    parsed_methods = tuple(dict.fromkeys(CheckMethod.parse(m) for m in methods))
    parsed_codes = parse_result_codes(codes)
    if measure is None or not measure.strip():
        # Only a clean or not-applicable result has an obvious measure; a problem must say its own.
        if set(parsed_codes) <= {"1", "F", "E"}:
            chosen = Measure.NONE
        else:
            raise ValueError("a result other than 未发现问题 needs its 后续处置措施 (--measure)")
    else:
        chosen = Measure.parse(measure)
    entry = ItemEntry(checked, parsed_methods, parsed_codes, findings.strip(), chosen)
    check_entry(entry)
    return entry


def visit_items(session: Session, visit: Visit) -> list[VisitItemInfo]:
    """The items a visit covers, in item-code order, with their departments."""
    rows = session.execute(
        select(TaskItem.id, CheckItem.code, CheckItem.name, Department.id, Department.name)
        .join(VisitItem, VisitItem.task_item_id == TaskItem.id).join(CheckItem, CheckItem.id == TaskItem.item_id)
        .join(Department, Department.id == TaskItem.department_id)
        .where(VisitItem.visit_id == visit.id).order_by(CheckItem.code)
    )
    return [VisitItemInfo(*row) for row in rows]


def _team_member(session: Session, visit: Visit, task: Task, number: str) -> Inspector:
    """Only a member of the visit's team records or submits its results."""
    inspector = session.scalar(select(Inspector).where(Inspector.inspector_no == number))
    if inspector is None:
        raise SpotcheckError(f"no inspector {number!r}")
    team = team_of(session, visit)
    if not team:
        raise SpotcheckError(f"visit {visit_ref(task.code, visit.rank)} has no team yet: run `spotcheck task assign {task.code}` first")
    if inspector.id not in team:
        raise AccessRefused(f"{inspector.name} ({number}) is not on the team of visit {visit_ref(task.code, visit.rank)}; only its team records its results")
    return inspector


def _check_date(task: Task, checked_on: dt.date, today: dt.date) -> None:
    if checked_on > today:
        raise SpotcheckError(f"the check date {checked_on} is in the future")
    if not task.starts_on <= checked_on <= task.ends_on:
        raise SpotcheckError(f"the check date {checked_on} is outside task {task.code}'s window {task.starts_on}–{task.ends_on}")


def record(
    session: Session, ref: str, inspector_no: str, entries: dict[str, ItemEntry], checked_on: dt.date | None, today: dt.date,
) -> VisitResult:
    """Record (or re-record) items' results on a visit in 录入; the check date defaults to the
    visit's scheduled day. Refused once submitted: a return or a correction reopens it."""
    visit, task = find_visit(session, ref)
    inspector = _team_member(session, visit, task, inspector_no)
    items = {i.code: i for i in visit_items(session, visit)}
    for code in entries:
        if code not in items:
            raise SpotcheckError(f"visit {ref} does not cover item {code!r}; its items: {', '.join(items)}")
    result = session.get(VisitResult, visit.id)
    if result is None:
        day = checked_on or visit.scheduled_on
        if day is None:
            raise SpotcheckError(f"visit {ref} has no date: give the check date (--date)")
        _check_date(task, day, today)
        result = VisitResult(visit_id=visit.id, state=ResultState.ENTERED, checked_on=day, revision=1)
        session.add(result)
        session.flush()
    elif result.state is not ResultState.ENTERED:
        raise SpotcheckError(f"the results of visit {ref} are {result.state.label}; only results in {ResultState.ENTERED.label} can be changed"
                             + (" (a correction of published results: `spotcheck result correct`)" if result.state is ResultState.PUBLISHED else ""))
    elif checked_on is not None:
        _check_date(task, checked_on, today)
        result.checked_on = checked_on
    for code, entry in entries.items():
        row = session.get(ItemResult, (visit.id, items[code].task_item_id))
        if row is None:
            row = ItemResult(visit_id=visit.id, task_item_id=items[code].task_item_id)
            session.add(row)
        row.checked, row.methods = entry.checked, ";".join(m.value for m in entry.methods)
        row.result_codes, row.findings, row.measure = ";".join(entry.codes), entry.findings, entry.measure
        row.recorded_by, row.recorded_at = inspector.id, dt.datetime.now(dt.UTC)
    result.updated_at = dt.datetime.now(dt.UTC)
    audit.record(session, "result.record", f"visit {visit_ref(task.code, visit.rank)}: result of {', '.join(entries)} recorded by {inspector_no}",
                 task=task.code, subject=visit_ref(task.code, visit.rank), detail={"items": {c: ";".join(e.codes) for c, e in entries.items()}})
    return result


def _result_of(session: Session, ref: str) -> tuple[Visit, Task, VisitResult]:
    visit, task = find_visit(session, ref)
    result = session.get(VisitResult, visit.id)
    if result is None:
        raise SpotcheckError(f"visit {ref} has no results yet: `spotcheck result record {ref} --inspector NO --item CODE ...`")
    return visit, task, result


def _expect(result: VisitResult, ref: str, state: ResultState, action: str) -> None:
    if result.state is not state:
        raise SpotcheckError(f"cannot {action} visit {ref}: its results are {result.state.label}, not {state.label}")


def submit(session: Session, ref: str, inspector_no: str) -> VisitResult:
    """录入 → 待审核, once every item of the visit has its result."""
    visit, task, result = _result_of(session, ref)
    submitter = _team_member(session, visit, task, inspector_no)
    _expect(result, ref, ResultState.ENTERED, "submit")
    done = set(session.scalars(select(ItemResult.task_item_id).where(ItemResult.visit_id == visit.id)))
    missing = [i.code for i in visit_items(session, visit) if i.task_item_id not in done]
    if missing:
        raise SpotcheckError(f"visit {ref} still lacks the results of item(s) {', '.join(missing)}")
    result.state, result.submitted_by, result.submitted_at = ResultState.SUBMITTED, submitter.id, dt.datetime.now(dt.UTC)
    audit.record(session, "result.submit", f"visit {ref}: submitted for review by {inspector_no}", task=task.code, subject=ref)
    return result


def review(session: Session, ref: str, approve: bool, reason: str | None, reviewer: str, on: dt.date, today: dt.date) -> tuple[Visit, Task, VisitResult]:
    """待审核 → 已审核, or back to 录入 with the reason, on the day ``on``."""
    visit, task, result = _result_of(session, ref)
    _expect(result, ref, ResultState.SUBMITTED, "review")
    if on > today:
        raise SpotcheckError(f"the review date {on} is in the future")
    if on < result.checked_on:
        raise SpotcheckError(f"the review date {on} is before the check date {result.checked_on}")
    if not approve and not (reason or "").strip():
        raise SpotcheckError("a return needs --reason (what the team must correct)")
    result.reviewer, result.reviewed_at = reviewer, dt.datetime.now(dt.UTC)
    if approve:
        result.state = ResultState.APPROVED
    else:
        result.state, result.return_reason = ResultState.ENTERED, (reason or "").strip()
    audit.record(session, "result.review", f"visit {ref}: " + (f"approved on {on}" if approve else f"returned on {on}: {result.return_reason}"),
                 task=task.code, subject=ref, detail={"approved": approve, "on": on.isoformat()})
    return visit, task, result


def correct(session: Session, ref: str, reason: str) -> VisitResult:
    """Reopen published results for a correction: the next revision starts in 录入; what was
    published stays, and the corrected publication will supersede it."""
    _, task, result = _result_of(session, ref)
    _expect(result, ref, ResultState.PUBLISHED, "correct")
    if not reason.strip():
        raise SpotcheckError("a correction needs --reason (what was wrong in the published result)")
    result.state, result.revision, result.correction_reason = ResultState.ENTERED, result.revision + 1, reason.strip()
    result.reviewer = result.reviewed_at = result.submitted_at = result.submitted_by = None
    audit.record(session, "result.correct", f"visit {ref}: published results reopened as revision {result.revision}: {reason.strip()}",
                 task=task.code, subject=ref, detail={"revision": result.revision})
    return result


def require_own_visit(session: Session, ref: str, actor: Actor) -> None:
    """An inspector reads only the visits whose team they are on (as it stands after 递补)."""
    if actor.role is not Role.INSPECTOR:
        return
    visit, _ = find_visit(session, ref)
    if actor.inspector_id not in team_of(session, visit):
        raise AccessRefused(f"{actor.name} is not on the team of visit {ref}: an inspector sees only their own visits")


def describe(session: Session, ref: str) -> dict[str, object]:
    """A visit's results for `result show`: state, date, revision and every item."""
    visit, task = find_visit(session, ref)
    result = session.get(VisitResult, visit.id)
    recorded = {r.task_item_id: r for r in session.scalars(select(ItemResult).where(ItemResult.visit_id == visit.id))}
    numbers = dict(session.execute(select(Inspector.id, Inspector.inspector_no)).all()) if recorded else {}
    items = []
    for info in visit_items(session, visit):
        row = recorded.get(info.task_item_id)
        entry: dict[str, object] = {"item": info.code, "name": info.name, "department": info.department, "recorded": row is not None}
        if row is not None:
            entry.update(checked=row.checked, methods=[CheckMethod(m).labels[1] for m in filter(None, row.methods.split(";"))],
                         result_codes=row.result_codes.split(";"), findings=row.findings, measure=row.measure.label,
                         recorded_by=numbers.get(row.recorded_by))
        items.append(entry)
    return {
        "visit": visit_ref(task.code, visit.rank), "task": task.code, "scheduled_on": visit.scheduled_on.isoformat() if visit.scheduled_on else None,
        "state": result.state.label if result else "未录入", "checked_on": result.checked_on.isoformat() if result else None,
        "revision": result.revision if result else 0, "return_reason": result.return_reason if result else None,
        "correction_reason": result.correction_reason if result else None, "items": items,
    }
