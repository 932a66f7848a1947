"""Credit repair (信用修复): requests on one record, approved or rejected; records are never changed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from credit import audit
from credit.enums import RecordKind, RepairStatus
from credit.errors import SpotcheckError
from credit.grading_models import CreditRepair
from credit.models import CreditRecord
from credit.policy import Policy
from credit.scoring import add_months_to

REPAIRABLE = (RecordKind.PENALTY, RecordKind.ABNORMAL_IN, RecordKind.SERIOUS_IN)


def eligible_from(policy: Policy, kind: RecordKind, sector: str | None, occurred_on: dt.date) -> dt.date | None:
    """The first day a repair of this record may be approved, or None when it cannot be repaired.

    A penalty after its months of publicity (more for the sensitive sectors), an early exit from
    the serious list after its months, an abnormal-list entry once its ground is cured (months 0:
    at once). "After N months" is the day after the period's last day.
    """
    if kind is RecordKind.PENALTY:
        months = policy.repair_sensitive_penalty_months if sector in policy.repair_sensitive_sectors else policy.repair_penalty_months
    elif kind is RecordKind.SERIOUS_IN:
        months = policy.repair_serious_months
    elif kind is RecordKind.ABNORMAL_IN:
        months = policy.repair_abnormal_months
    else:
        return None
    if months == 0:
        return occurred_on
    return add_months_to(occurred_on, months) + dt.timedelta(days=1)


def _check_date(on: dt.date, what: str) -> None:
    if on > dt.date.today():
        raise SpotcheckError(f"the {what} date {on} is in the future")


def request(session: Session, policy: Policy, record_id: int, reason: str, on: dt.date) -> CreditRepair:
    """Record a repair request; refused (with the date it becomes possible) when not yet eligible."""
    _check_date(on, "request")
    if not reason.strip():
        raise SpotcheckError("a repair request needs --reason (what was done: penalty performed, ground cured, ...)")
    record = session.get(CreditRecord, record_id)
    if record is None:
        raise SpotcheckError(f"no credit record {record_id}")
    if session.scalar(select(exists().where(CreditRecord.supersedes_id == record_id))):
        raise SpotcheckError(f"record {record_id} was corrected by a later record; request the repair of the current version")
    start = eligible_from(policy, record.kind, record.sector, record.occurred_on)
    if start is None:
        kinds = "、".join(k.label for k in REPAIRABLE)
        raise SpotcheckError(f"record {record_id} is a {record.kind.label} record; credit repair covers {kinds} only")
    open_ = session.scalars(
        select(CreditRepair).where(CreditRepair.record_id == record_id, CreditRepair.status.in_([RepairStatus.REQUESTED, RepairStatus.APPROVED]))
    ).first()
    if open_ is not None:
        raise SpotcheckError(f"record {record_id} already has repair request {open_.id} ({open_.status.label})")
    if on < start:
        raise SpotcheckError(f"record {record_id} ({record.kind.label}, {record.occurred_on}) is not eligible for repair before {start}")
    repair = CreditRepair(record_id=record_id, status=RepairStatus.REQUESTED, reason=reason.strip(), requested_on=on, eligible_from=start)
    session.add(repair)
    session.flush()
    audit.record(session, "credit.repair", f"repair request {repair.id} on record {record_id}: {reason.strip()}", subject=f"record {record_id}",
                 detail={"request": repair.id, "record": record_id, "on": on.isoformat()})
    return repair


def _pending(session: Session, request_id: int) -> CreditRepair:
    repair = session.get(CreditRepair, request_id)
    if repair is None:
        raise SpotcheckError(f"no repair request {request_id}")
    if repair.status is not RepairStatus.REQUESTED:
        raise SpotcheckError(f"repair request {request_id} was already decided: {repair.status.label} on {repair.decided_on}")
    return repair


def approve(session: Session, request_id: int, on: dt.date, reason: str | None = None) -> CreditRepair:
    """Approve: the record stops counting in runs as of ``on`` and later."""
    _check_date(on, "approval")
    repair = _pending(session, request_id)
    if on < repair.requested_on:
        raise SpotcheckError(f"the approval date {on} is before the request date {repair.requested_on}")
    if on < repair.eligible_from:
        raise SpotcheckError(f"repair request {request_id} cannot be approved before {repair.eligible_from}")
    repair.status, repair.decided_on, repair.decision_reason = RepairStatus.APPROVED, on, reason
    audit.record(session, "credit.repair", f"repair request {request_id} approved on {on}", subject=f"record {repair.record_id}",
                 detail={"request": request_id, "decision": "approved", "on": on.isoformat()})
    return repair


def reject(session: Session, request_id: int, reason: str, on: dt.date) -> CreditRepair:
    _check_date(on, "decision")
    if not reason.strip():
        raise SpotcheckError("a rejection needs --reason")
    repair = _pending(session, request_id)
    if on < repair.requested_on:
        raise SpotcheckError(f"the decision date {on} is before the request date {repair.requested_on}")
    repair.status, repair.decided_on, repair.decision_reason = RepairStatus.REJECTED, on, reason.strip()
    audit.record(session, "credit.repair", f"repair request {request_id} rejected on {on}: {reason.strip()}", subject=f"record {repair.record_id}",
                 detail={"request": request_id, "decision": "rejected", "on": on.isoformat()})
    return repair
