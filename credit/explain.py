"""One enterprise's grade explained record by record, and what would improve it. Takes a session."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import grade_store
from credit.errors import SpotcheckError
from credit.grading import get_run, record_bounds, records_sql, run_policy, stream_rows, unpack_records
from credit.grading_models import GradingRun
from credit.models import CreditRecord, Enterprise
from credit.policy import CATEGORIES, TIERS, Policy
from credit.repair import eligible_from
from credit.scoring import (
    COUNTS, NEVER, NO_DATE, STATUS, Grading, Records, day_number, from_day_number, grade,
)

@dataclass
class Line:
    """One record as the grading saw it."""

    id: int
    kind: str
    category: str
    occurred_on: dt.date
    document_no: str | None
    department: str
    status: str
    points: float
    last_day: dt.date | None  # None: until removed from the list

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in self.__dict__.items()}


@dataclass
class Explanation:
    uscc: str
    name: str
    as_of: dt.date
    policy_version: str
    tier: str
    score: float
    reasons: str
    run: int | None = None
    stored: dict[str, Any] | None = None  # the run's stored grade, when it differs from the recomputation
    lines: list[Line] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "lines"}
        data["as_of"] = self.as_of.isoformat()
        data["counting"] = [line.as_dict() for line in self.lines if line.status == STATUS[COUNTS]]
        data["not_counting"] = [line.as_dict() for line in self.lines if line.status != STATUS[COUNTS]]
        return data


def _enterprise(session: Session, uscc: str) -> Enterprise:
    enterprise = session.scalars(select(Enterprise).where(Enterprise.uscc == uscc.strip().upper())).first()
    if enterprise is None:
        raise SpotcheckError(f"no enterprise {uscc} in the directory")
    return enterprise


def _load(session: Session, enterprise: Enterprise, as_of: dt.date, max_record: int, max_repair: int) -> tuple[np.ndarray, Records, np.ndarray]:
    dialect = session.connection().dialect.name
    params = {"as_of": as_of, "max_record": max_record, "max_repair": max_repair, "enterprise": enterprise.id}
    with stream_rows(session, records_sql(dialect, with_id=True, one_enterprise=True), params) as stream:
        rows = sorted(stream)
    ids = np.array([r[0] for r in rows], np.int64)
    packed = np.array([v for r in rows for v in r[1:]], np.int64)
    records = unpack_records(packed, np.zeros(len(rows), np.int64))
    since = np.array([day_number(enterprise.new_economy_since) if enterprise.new_economy_since else NO_DATE], np.int64)
    return ids, records, since


def _lines(session: Session, ids: np.ndarray, records: Records, grading: Grading) -> list[Line]:
    details = {r.id: r for r in session.scalars(select(CreditRecord).where(CreditRecord.id.in_(ids.tolist())))}
    lines = []
    for i, record_id in enumerate(ids.tolist()):
        record = details[record_id]
        last = int(grading.last_day[i])
        lines.append(Line(
            id=record_id, kind=record.kind.label, category=CATEGORIES[records.category[i]],
            occurred_on=record.occurred_on, document_no=record.document_no, department=record.department,
            status=STATUS[grading.status[i]], points=int(grading.points[i]) / 100,
            last_day=None if last == NEVER else from_day_number(last),
        ))
    # What counts first, by points; then the rest, newest first.
    lines.sort(key=lambda line: (line.status != STATUS[COUNTS], -line.points, -line.occurred_on.toordinal(), line.id))
    return lines


def explain(session: Session, uscc: str, run_id: int | None) -> Explanation:
    """The grade of ``uscc`` in a run (default: the latest), re-derived from the records that run saw."""
    enterprise = _enterprise(session, uscc)
    run = get_run(session, run_id)
    policy = run_policy(run)
    ids, records, since = _load(session, enterprise, run.as_of, run.max_record_id, run.max_repair_id)
    grading = grade(records, since, policy, day_number(run.as_of))
    result = Explanation(
        uscc=enterprise.uscc, name=enterprise.name, as_of=run.as_of, policy_version=run.policy_version, run=run.id,
        tier=TIERS[grading.tier[0]], score=int(grading.score[0]) / 100, reasons=grading.reasons(0),
        lines=_lines(session, ids, records, grading),
    )
    stored = grade_store.load(session, run.id, [enterprise.id])
    if not len(stored):
        result.stored = {"graded": False, "why": f"not graded in run {run.id} (登记状态 {enterprise.status.label})"}
    elif (stored.tier_of(0), int(stored.score[0]), stored.reasons_of(0)) != (result.tier, round(result.score * 100), result.reasons):
        result.stored = {"graded": True, "tier": stored.tier_of(0), "score": int(stored.score[0]) / 100, "reasons": stored.reasons_of(0)}
    return result


@dataclass
class WhatIf:
    uscc: str
    as_of: dt.date
    tier: str
    score: float
    improving: list[dict[str, Any]]
    better_on: dt.date | None  # the first day the tier improves with no new records and no repair
    better_tier: str | None

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["as_of"] = self.as_of.isoformat()
        data["better_on"] = self.better_on.isoformat() if self.better_on else None
        return data


def what_if(session: Session, uscc: str, policy: Policy, as_of: dt.date) -> WhatIf:
    """Which single records, if repaired or expired, would give ``uscc`` a better tier; and when
    its tier improves on its own (records expiring, lists ended by their own periods)."""
    enterprise = _enterprise(session, uscc)
    max_record, max_repair = record_bounds(session)
    ids, records, since = _load(session, enterprise, as_of, max_record, max_repair)
    today = day_number(as_of)
    base = grade(records, since, policy, today)
    tier = int(base.tier[0])
    improving = []
    for i in np.flatnonzero(base.status == COUNTS).tolist():
        without = Records(**{**records.__dict__, "repaired": records.repaired | (np.arange(len(ids)) == i)})
        after = int(grade(without, since, policy, today).tier[0])
        if after < tier:
            record = session.get(CreditRecord, int(ids[i]))
            assert record is not None
            start = eligible_from(policy, record.kind, record.sector, record.occurred_on)
            last = int(base.last_day[i])
            improving.append({
                "record": int(ids[i]), "kind": record.kind.label, "occurred_on": record.occurred_on.isoformat(),
                "points": int(base.points[i]) / 100, "tier_without_it": TIERS[after],
                "repair_possible_from": start.isoformat() if start else None,
                "expires_after": None if last == NEVER else from_day_number(last).isoformat(),
            })
    better_on, better_tier = None, None
    finite = base.last_day[(base.status == COUNTS) & (base.last_day != NEVER)]
    days = sorted({int(d) + 1 for d in finite})
    if policy.decay == "linear" and days:  # scores fall every day: look at each one
        days = list(range(today + 1, days[-1] + 1))
    for day in days:
        later = int(grade(records, since, policy, day).tier[0])
        if later < tier:
            better_on, better_tier = from_day_number(day), TIERS[later]
            break
    return WhatIf(enterprise.uscc, as_of, TIERS[tier], int(base.score[0]) / 100, improving, better_on, better_tier)


def run_summary(run: GradingRun) -> dict[str, Any]:
    return {
        "run": run.id, "as_of": run.as_of.isoformat(), "policy_version": run.policy_version,
        "policy_sha256": run.policy_sha256, "enterprises": run.enterprises, "records": run.records,
        "tiers": {"A": run.count_a, "B": run.count_b, "C": run.count_c, "D": run.count_d},
        "result_sha256": run.result_sha256, "seconds": run.seconds,
    }

