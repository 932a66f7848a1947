"""后续处置: a case for every problem found, followed to closure, each step dated and kept.

Kinds and how they close:
- 责令改正 (order): a rectification deadline → 复查, a visit of the failed items only, linked to the
  original visit, by two or more inspectors → 已完结 once the re-check found them rectified (not
  rectified: a new deadline, or referral to the enforcement team, which then reports back);
- 移送 / 抄告 / 反馈日常监管部门: 待反馈 → 已完结 when the receiving side reports back;
- 其他: closes with its outcome;
- 列入经营异常名录建议 (from results C and 6 on publication): decided within 10 working days,
  listed (a credit record) or not, with the reason.
A case never closes without its closing step.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import audit
from credit.enums import AbnormalGround, RecordKind
from credit.errors import SpotcheckError
from credit.models import CreditRecord, Department, Enterprise
from credit.policy import Policy
from credit.records import add_record
from inspection.calendar import Workdays
from inspection.enums import CaseKind, CasePhase, InspectorStatus, Measure
from inspection.models import CheckItem, Inspector, InspectorConflict
from inspection.result_models import FollowupCase, FollowupItem, FollowupStep, ItemResult, Publication, Recheck, VisitResult
from inspection.result_rules import CASE_OF_MEASURE
from inspection.task_models import Task, TaskItem, Visit
from inspection.visits import visit_ref

RECEIVERS = {CaseKind.REFER: "办案机构", CaseKind.NOTIFY: "相关部门", CaseKind.FEEDBACK: "日常监管部门"}
AWAITING_KINDS = (CaseKind.REFER, CaseKind.NOTIFY, CaseKind.FEEDBACK)


def _step(session: Session, case: FollowupCase, step: str, on: dt.date, note: str, operator: str) -> None:
    """Record a step of the case, and the audit event for it and the case's change."""
    session.add(FollowupStep(case_id=case.id, step=step, phase=case.phase, happened_on=on, note=note, operator=operator))
    task = session.scalar(select(Task.code).join(Visit, Visit.task_id == Task.id).where(Visit.id == case.visit_id))
    audit.record(session, "followup.step", f"case {case.id} ({case.kind.label}): {step} on {on}: {note}", task=task, subject=f"case {case.id}",
                 detail={"case": case.id, "step": step, "phase": case.phase.value, "on": on.isoformat()})


def open_cases(session: Session, policy: Policy, visit: Visit, today: dt.date, operator: str) -> list[FollowupCase]:
    """One case per department and measure of an approved visit's results that need follow-up.
    A case already opened for them (an earlier revision) is not opened twice."""
    result = session.get(VisitResult, visit.id)
    assert result is not None
    groups: dict[tuple[int, CaseKind], list[int]] = defaultdict(list)
    for task_item_id, department_id, measure in session.execute(
        select(ItemResult.task_item_id, TaskItem.department_id, ItemResult.measure)
        .join(TaskItem, TaskItem.id == ItemResult.task_item_id).where(ItemResult.visit_id == visit.id)
        .order_by(TaskItem.department_id, ItemResult.task_item_id)
    ):
        if measure is not Measure.NONE:
            groups[(department_id, CASE_OF_MEASURE[measure])].append(task_item_id)
    existing = {(d, k) for d, k in session.execute(select(FollowupCase.department_id, FollowupCase.kind).where(FollowupCase.visit_id == visit.id))}
    days = Workdays(session)
    opened = []
    for (department_id, kind), items in sorted(groups.items()):
        if (department_id, kind) in existing:
            continue
        # 责令改正 is ordered on the spot, at the check; the other measures start with the review.
        case = FollowupCase(visit_id=visit.id, department_id=department_id, kind=kind,
                            opened_on=result.checked_on if kind is CaseKind.ORDER else today)
        if kind is CaseKind.ORDER:
            case.phase = CasePhase.RECTIFYING
            case.rectify_by = days.add(result.checked_on, policy.rectify_working_days, "the rectification deadline")
            case.deadline = days.add(case.rectify_by, policy.recheck_working_days, "the re-check deadline")
        elif kind in AWAITING_KINDS:
            case.phase, case.receiver = CasePhase.AWAITING, RECEIVERS[kind]
            case.deadline = days.add(today, policy.report_back_working_days, "the report-back deadline")
        else:
            case.phase = CasePhase.OPEN
            case.deadline = days.add(today, policy.report_back_working_days, "the follow-up deadline")
        session.add(case)
        session.flush()
        session.add_all(FollowupItem(case_id=case.id, task_item_id=i) for i in items)
        _step(session, case, "opened", case.opened_on, kind.label, operator)
        opened.append(case)
    return opened


def open_listing(session: Session, policy: Policy, publication: Publication, ground: AbnormalGround, days: Workdays, operator: str) -> FollowupCase | None:
    """A proposal to list the enterprise (经营异常名录) on this ground, due within the policy's
    working days of publication; None when the visit already has one on this ground."""
    already = session.scalar(select(FollowupCase.id).where(
        FollowupCase.visit_id == publication.visit_id, FollowupCase.kind == CaseKind.ABNORMAL, FollowupCase.ground == ground.value))
    if already is not None:
        return None
    case = FollowupCase(
        visit_id=publication.visit_id, department_id=publication.department_id, kind=CaseKind.ABNORMAL, phase=CasePhase.PROPOSED,
        opened_on=publication.published_on, ground=ground.value, publication_id=publication.id,
        deadline=days.add(publication.published_on, policy.listing_working_days, "the listing decision"),
    )
    session.add(case)
    session.flush()
    _step(session, case, "proposed", publication.published_on, f"{CaseKind.ABNORMAL.label}：{ground.label}", operator)
    return case


# Moving a case --------------------------------------------------------------------------------


def get_case(session: Session, case_id: int) -> FollowupCase:
    case = session.get(FollowupCase, case_id)
    if case is None:
        raise SpotcheckError(f"no follow-up case {case_id}; `spotcheck followup list` shows them")
    return case


def _check_on(case: FollowupCase, on: dt.date, today: dt.date) -> None:
    if on > today:
        raise SpotcheckError(f"the date {on} is in the future")
    if on < case.opened_on:
        raise SpotcheckError(f"the date {on} is before case {case.id} was opened ({case.opened_on})")


def _refuse(case: FollowupCase, action: str, why: str) -> SpotcheckError:
    return SpotcheckError(f"case {case.id} ({case.kind.label}, {case.phase.label}): cannot {action}: {why}")


def _open(case: FollowupCase, action: str) -> None:
    if case.phase is CasePhase.CLOSED:
        raise _refuse(case, action, f"it was closed on {case.closed_on}")


def set_rectify_by(session: Session, policy: Policy, case: FollowupCase, rectify_by: dt.date, on: dt.date, today: dt.date, operator: str) -> None:
    """A (new) rectification deadline of a 责令改正 case; after a failed re-check it starts a new round."""
    _open(case, "set a rectification deadline")
    _check_on(case, on, today)
    if case.kind is not CaseKind.ORDER:
        raise _refuse(case, "set a rectification deadline", "only a 责令改正 case has one")
    if case.phase is CasePhase.RECHECKED and _last_recheck(session, case).rectified:
        raise _refuse(case, "set a rectification deadline", "the re-check found the items rectified; close the case")
    if case.phase is CasePhase.AWAITING:
        raise _refuse(case, "set a rectification deadline", f"it was referred to {case.receiver}")
    if rectify_by < on:
        raise _refuse(case, "set a rectification deadline", f"{rectify_by} is before {on}")
    case.phase, case.rectify_by = CasePhase.RECTIFYING, rectify_by
    case.deadline = Workdays(session).add(rectify_by, policy.recheck_working_days, "the re-check deadline")
    _step(session, case, "rectify_by", on, f"责令改正期限 {rectify_by}", operator)


def _last_recheck(session: Session, case: FollowupCase) -> Recheck:
    recheck = session.scalar(select(Recheck).where(Recheck.case_id == case.id).order_by(Recheck.id.desc()).limit(1))
    assert recheck is not None
    return recheck


def recheck(session: Session, case: FollowupCase, on: dt.date, numbers: list[str], rectified: bool, findings: str, today: dt.date, operator: str) -> Recheck:
    """复查: the failed items checked again by two or more inspectors, none recused."""
    _open(case, "record a re-check")
    _check_on(case, on, today)
    if case.kind is not CaseKind.ORDER or case.phase is not CasePhase.RECTIFYING:
        raise _refuse(case, "record a re-check", "only a 责令改正 case in 责令改正 is re-checked")
    if case.rectify_by is not None and on < case.rectify_by and not rectified:
        raise _refuse(case, "record a failed re-check", f"the rectification deadline {case.rectify_by} has not passed")
    unique = list(dict.fromkeys(n.strip() for n in numbers if n.strip()))
    if len(unique) < 2:
        raise _refuse(case, "record a re-check", "a re-check needs at least two inspectors (执法人员不得少于两人)")
    inspectors = {i.inspector_no: i for i in session.scalars(select(Inspector).where(Inspector.inspector_no.in_(unique)))}
    unknown = [n for n in unique if n not in inspectors]
    if unknown:
        raise SpotcheckError(f"no inspector {unknown[0]!r}")
    inactive = [n for n in unique if inspectors[n].status is not InspectorStatus.ACTIVE]
    if inactive:
        raise _refuse(case, "record a re-check", f"inspector {inactive[0]} is not in post (在岗)")
    uscc = session.scalar(select(Enterprise.uscc).join(Visit, Visit.enterprise_id == Enterprise.id).where(Visit.id == case.visit_id))
    recused = session.scalars(select(Inspector.inspector_no).join(InspectorConflict, InspectorConflict.inspector_id == Inspector.id)
                              .where(InspectorConflict.uscc == uscc, Inspector.inspector_no.in_(unique))).all()
    if recused:
        raise _refuse(case, "record a re-check", f"inspector {recused[0]} must withdraw from this enterprise (回避)")
    if not rectified and not findings.strip():
        raise _refuse(case, "record a failed re-check", "say what is still wrong (--findings)")
    row = Recheck(case_id=case.id, visit_id=case.visit_id, checked_on=on, rectified=rectified, findings=findings.strip(), inspectors=";".join(unique))
    session.add(row)
    case.phase = CasePhase.RECHECKED
    _step(session, case, "recheck", on, ("已改正" if rectified else "未改正") + (f"：{findings.strip()}" if findings.strip() else ""), operator)
    return row


def refer(session: Session, policy: Policy, case: FollowupCase, receiver: str, on: dt.date, today: dt.date, operator: str) -> None:
    """A 责令改正 case whose re-check found the problem not rectified goes to the enforcement team."""
    _open(case, "refer")
    _check_on(case, on, today)
    if case.kind is not CaseKind.ORDER or case.phase is not CasePhase.RECHECKED or _last_recheck(session, case).rectified:
        raise _refuse(case, "refer", "only a 责令改正 case whose re-check found the problem not rectified is referred")
    case.phase, case.receiver = CasePhase.AWAITING, receiver.strip() or RECEIVERS[CaseKind.REFER]
    case.deadline = Workdays(session).add(on, policy.report_back_working_days, "the report-back deadline")
    _step(session, case, "referred", on, f"移送{case.receiver}", operator)


def report_back(session: Session, case: FollowupCase, outcome: str, on: dt.date, today: dt.date, operator: str) -> None:
    """The receiving side (办案机构, the other department, 日常监管部门) reported back: 已完结."""
    _open(case, "record a report back")
    _check_on(case, on, today)
    if case.phase is not CasePhase.AWAITING:
        raise _refuse(case, "record a report back", "nothing was sent to another side")
    _close(session, case, on, outcome, "reported_back", operator)


def close(session: Session, case: FollowupCase, outcome: str, on: dt.date, today: dt.date, operator: str) -> None:
    """已完结, only after the case's closing step."""
    _open(case, "close")
    _check_on(case, on, today)
    if case.phase is CasePhase.AWAITING:
        raise _refuse(case, "close", f"it closes when {case.receiver} reports back (--reported-back)")
    if case.kind is CaseKind.ORDER:
        if case.phase is not CasePhase.RECHECKED or not _last_recheck(session, case).rectified:
            raise _refuse(case, "close", "a 责令改正 case closes after a re-check (复查) found the items rectified (--recheck ... --rectified)")
    elif case.kind is CaseKind.ABNORMAL:
        raise _refuse(case, "close", "a listing proposal closes with its decision (--listed DOCUMENT_NO or --not-listed)")
    _close(session, case, on, outcome, "closed", operator)


def decide_listing(session: Session, case: FollowupCase, listed: bool, document_no: str | None, reason: str, on: dt.date, today: dt.date, operator: str) -> CreditRecord | None:
    """The listing decision on a proposal: listed makes the 列入经营异常名录 credit record."""
    _open(case, "decide")
    _check_on(case, on, today)
    if case.kind is not CaseKind.ABNORMAL:
        raise _refuse(case, "decide a listing", "it is not a listing proposal")
    record = None
    if listed:
        if not (document_no or "").strip():
            raise _refuse(case, "list", "give the decision's document number (--listed DOCUMENT_NO)")
        enterprise = session.scalar(select(Enterprise).join(Visit, Visit.enterprise_id == Enterprise.id).where(Visit.id == case.visit_id))
        department = session.get(Department, case.department_id)
        assert enterprise is not None and department is not None
        record = add_record(session, enterprise, kind=RecordKind.ABNORMAL_IN, occurred_on=on, department=department.name,
                            document_no=(document_no or "").strip(), ground=AbnormalGround(case.ground))
        case.credit_record_id = record.id
        outcome = f"列入经营异常名录（{document_no}）" + (f"：{reason.strip()}" if reason.strip() else "")
    else:
        if not reason.strip():
            raise _refuse(case, "decide not to list", "say why (--outcome)")
        outcome = f"不予列入：{reason.strip()}"
    _close(session, case, on, outcome, "decided", operator)
    return record


def _close(session: Session, case: FollowupCase, on: dt.date, outcome: str, step: str, operator: str) -> None:
    if not outcome.strip():
        raise _refuse(case, "close", "give the outcome (--outcome)")
    case.phase, case.closed_on, case.outcome = CasePhase.CLOSED, on, outcome.strip()
    _step(session, case, step, on, outcome.strip(), operator)


# Listing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    id: int
    visit: str
    enterprise: str
    uscc: str
    department: str
    kind: str
    phase: str
    items: tuple[str, ...]
    opened_on: dt.date
    rectify_by: dt.date | None
    deadline: dt.date
    working_days_left: int | None
    light: str  # green, yellow, red; closed
    receiver: str | None
    closed_on: dt.date | None
    outcome: str | None


def light_of(left: int | None, due_soon: int) -> str:
    """红黄绿灯: red overdue, yellow due within ``due_soon`` working days, green otherwise.
    ``left`` None: overdue by an uncounted number of working days."""
    return "red" if left is None or left < 0 else "yellow" if left <= due_soon else "green"


def list_cases(session: Session, policy: Policy, as_of: dt.date, *, overdue: bool = False, department: str | None = None,
               include_closed: bool = False, task: str | None = None) -> list[CaseRow]:
    """Cases with their traffic light as of a day, most urgent first."""
    query = (
        select(FollowupCase, Visit.rank, Task.code, Enterprise.name, Enterprise.uscc, Department.name)
        .join(Visit, Visit.id == FollowupCase.visit_id).join(Task, Task.id == Visit.task_id)
        .join(Enterprise, Enterprise.id == Visit.enterprise_id).join(Department, Department.id == FollowupCase.department_id)
    )
    if department is not None:
        dept = session.scalar(select(Department).where((Department.code == department) | (Department.name == department)))
        if dept is None:
            raise SpotcheckError(f"no department {department!r}")
        query = query.where(FollowupCase.department_id == dept.id)
    if task is not None:
        query = query.where(Task.code == task)
    if not include_closed or overdue:
        query = query.where(FollowupCase.phase != CasePhase.CLOSED)
    items: dict[int, list[str]] = defaultdict(list)
    for case_id, code in session.execute(
        select(FollowupItem.case_id, CheckItem.code).join(TaskItem, TaskItem.id == FollowupItem.task_item_id)
        .join(CheckItem, CheckItem.id == TaskItem.item_id).order_by(CheckItem.code)
    ):
        items[case_id].append(code)
    days = Workdays(session)
    rows = []
    for case, rank, code, name, uscc, dept_name in session.execute(query.order_by(FollowupCase.id)):
        if case.phase is CasePhase.CLOSED:
            left, light = None, "closed"
        else:
            left = days.left(as_of, case.deadline)
            light = light_of(left, policy.followup_due_soon)
        if overdue and light != "red":
            continue
        rows.append(CaseRow(case.id, visit_ref(code, rank), name, uscc, dept_name, case.kind.label, case.phase.label, tuple(items[case.id]),
                            case.opened_on, case.rectify_by, case.deadline, left, light, case.receiver, case.closed_on, case.outcome))
    urgency = {"red": 0, "yellow": 1, "green": 2, "closed": 3}
    rows.sort(key=lambda r: (urgency[r.light], r.deadline, r.id))
    return rows


def case_steps(session: Session, case: FollowupCase) -> list[FollowupStep]:
    return list(session.scalars(select(FollowupStep).where(FollowupStep.case_id == case.id).order_by(FollowupStep.id)))
