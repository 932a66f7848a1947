"""一公开: approved results become publication records, credit records and listing proposals.

Per visit, each department publishes its own items' result (谁检查、谁录入、谁公开). A record is
never changed: a corrected result is published as a new record that supersedes the old one, and
its credit record supersedes the old credit record, so the next grading counts the correction only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import audit
from credit.enums import RecordKind
from credit.errors import SpotcheckError
from credit.models import Department, Enterprise
from credit.policy import Policy
from credit.records import add_record
from inspection import followup
from inspection.calendar import Workdays
from inspection.enums import CheckMethod, ResultState
from inspection.publication_pages import PublishedRecord
from inspection.result_models import ItemResult, Publication, VisitResult
from inspection.result_rules import ItemEntry, department_codes, listing_grounds, result_text
from inspection.task_models import Task, TaskItem, Visit
from inspection.tasks import get_task
from inspection.visits import visit_ref

PUBLIC_FIELDS = ("number", "enterprise_name", "uscc", "task_code", "task_name", "checked_on", "department_name", "result", "published_on", "supersedes_id")


@dataclass
class PublishReport:
    visits: int = 0
    records: int = 0
    corrections: int = 0
    late: int = 0
    credit_records: int = 0
    listing_proposals: int = 0


def record_digest(publication: Publication) -> str:
    """SHA-256 of a record's public fields: an edit made behind the system's back shows."""
    values = {name: getattr(publication, name) for name in PUBLIC_FIELDS}
    text = json.dumps(values, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def publication_number(task: Task, visit: Visit, department: Department, revision: int) -> str:
    """公示编号: the visit's reference and the department; a correction adds its revision."""
    base = f"{visit_ref(task.code, visit.rank)}-{department.code}"
    return base if revision == 1 else f"{base}-R{revision}"


def _entries(session: Session, task: Task) -> dict[int, dict[int, list[ItemEntry]]]:
    """Every item result of the task's approved visits: visit → department → entries, in one query."""
    out: dict[int, dict[int, list[ItemEntry]]] = defaultdict(lambda: defaultdict(list))
    for row, department_id in session.execute(
        select(ItemResult, TaskItem.department_id).join(TaskItem, TaskItem.id == ItemResult.task_item_id)
        .join(VisitResult, VisitResult.visit_id == ItemResult.visit_id)
        .where(TaskItem.task_id == task.id, VisitResult.state == ResultState.APPROVED)
        .order_by(ItemResult.visit_id, ItemResult.task_item_id)
    ):
        methods = tuple(CheckMethod(m) for m in filter(None, row.methods.split(";")))
        out[row.visit_id][department_id].append(ItemEntry(row.checked, methods, tuple(row.result_codes.split(";")), row.findings, row.measure))
    return out


def _latest(session: Session, task: Task) -> dict[tuple[int, int], Publication]:
    """The latest publication of each (visit, department) of the task: what a correction supersedes."""
    latest: dict[tuple[int, int], Publication] = {}
    for publication in session.scalars(
        select(Publication).join(Visit, Visit.id == Publication.visit_id).where(Visit.task_id == task.id).order_by(Publication.revision)
    ):
        latest[(publication.visit_id, publication.department_id)] = publication
    return latest


def publish_task(session: Session, policy: Policy, code: str, on: dt.date, today: dt.date, operator: str) -> tuple[Task, PublishReport]:
    """Publish every approved result of the task as of ``on``; the results become 已公示."""
    task = get_task(session, code)
    if on > today:
        raise SpotcheckError(f"the publication date {on} is in the future")
    approved = session.execute(
        select(VisitResult, Visit, Enterprise).join(Visit, Visit.id == VisitResult.visit_id)
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(Visit.task_id == task.id, VisitResult.state == ResultState.APPROVED).order_by(Visit.rank)
    ).all()
    early = [visit_ref(task.code, v.rank) for r, v, _ in approved if r.checked_on > on]
    if early:
        raise SpotcheckError(f"the publication date {on} is before the check date of visit(s) {', '.join(early[:5])}")
    departments = {d.id: d for d in session.scalars(select(Department))}
    entries, latest = _entries(session, task), _latest(session, task)
    days = Workdays(session)
    report = PublishReport()
    for result, visit, enterprise in approved:
        deadline = days.add(result.checked_on, policy.publish_working_days, "the publication deadline")
        for department_id, mine in sorted(entries[visit.id].items(), key=lambda kv: departments[kv[0]].code):
            prior = latest.get((visit.id, department_id))
            _publish_one(session, policy, task, visit, enterprise, result, departments[department_id], mine, prior,
                         deadline, on, operator, days, report)
        result.state, result.published_on, result.updated_at = ResultState.PUBLISHED, on, dt.datetime.now(dt.UTC)
        report.visits += 1
    audit.record(session, "result.publish", f"task {code}: {report.records} record(s) of {report.visits} visit(s) published on {on}"
                 + (f", {report.corrections} correction(s)" if report.corrections else "") + (f", {report.late} late" if report.late else ""),
                 task=code, subject=code, detail={"on": on.isoformat(), "records": report.records, "credit_records": report.credit_records})
    return task, report


def _publish_one(session: Session, policy: Policy, task: Task, visit: Visit, enterprise: Enterprise, result: VisitResult, department: Department,
                 entries: list[ItemEntry], prior: Publication | None, deadline: dt.date, on: dt.date, operator: str, days: Workdays,
                 report: PublishReport) -> Publication:
    codes = department_codes(entries)
    # Lateness is judged on the first publication; a correction is late by nature.
    late = on > deadline and prior is None
    publication = Publication(
        number=publication_number(task, visit, department, result.revision), visit_id=visit.id, department_id=department.id,
        revision=result.revision, enterprise_name=enterprise.name, uscc=enterprise.uscc, task_code=task.code, task_name=task.name,
        checked_on=result.checked_on, department_name=department.name, result=result_text(codes), result_codes=";".join(codes),
        deadline=deadline, published_on=on, late=late, supersedes_id=prior.id if prior else None,
        correction_reason=result.correction_reason if prior else None, operator=operator,
    )
    publication.sha256 = record_digest(publication)
    session.add(publication)
    session.flush()
    report.records += 1
    report.corrections += prior is not None
    report.late += late
    # 抽查—公示—信用: the result becomes a credit record; a clean one only if the policy says so,
    # except that a correction always supersedes the record it corrects.
    replaces = prior.credit_record_id if prior else None
    if codes != ("1",) or policy.clean_record or replaces is not None:
        credit = add_record(session, enterprise, kind=RecordKind.SPOT_CHECK, occurred_on=result.checked_on, department=department.name,
                            document_no=publication_number(task, visit, department, 1), result_codes=";".join(codes),
                            supersedes_id=replaces, from_result=True)
        publication.credit_record_id = credit.id
        report.credit_records += 1
    for ground in listing_grounds(codes):
        report.listing_proposals += followup.open_listing(session, policy, publication, ground, days, operator) is not None
    return publication


def published_records(session: Session, task: Task) -> list[PublishedRecord]:
    """Every publication record of the task, corrections and the records they correct included."""
    rows = session.execute(
        select(Publication, Visit.rank, Department.code).join(Visit, Visit.id == Publication.visit_id)
        .join(Department, Department.id == Publication.department_id)
        .where(Visit.task_id == task.id).order_by(Visit.rank, Department.code, Publication.revision)
    ).all()
    by_id = {p.id: p for p, _, _ in rows}
    corrected_by = {p.supersedes_id: p.number for p, _, _ in rows if p.supersedes_id is not None}
    return [
        PublishedRecord(
            number=p.number, enterprise_name=p.enterprise_name, uscc=p.uscc, task_code=p.task_code, task_name=p.task_name,
            checked_on=p.checked_on, department_name=p.department_name, result=p.result, published_on=p.published_on,
            corrects=by_id[p.supersedes_id].number if p.supersedes_id in by_id else None,
            corrected_by=corrected_by.get(p.id), correction_reason=p.correction_reason,
        )
        for p, _, _ in rows
    ]
