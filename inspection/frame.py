"""The eligible population of a task (抽查对象名录 for this task), read in bulk, with its exclusions.

Everything the reading depends on is in :class:`FrameParams`, which the draw stores as it is, so
`task verify` reads the population again the same way and tells a changed directory from a
changed draw.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import Date, bindparam, select, text
from sqlalchemy.orm import Session

from credit.enums import EnterpriseStatus
from credit.grading import stream_rows
from credit.models import CreditRecord
from credit.scoring import add_months_to
from inspection.enums import TaskKind, TaskStatus
from inspection.sampling import TIERS, USCC_LENGTH, Frame
from inspection.task_models import Draw, Task

IN_BUSINESS = (EnterpriseStatus.SUBSISTING.value, EnterpriseStatus.OPERATING.value)


@dataclass(frozen=True)
class ItemRule:
    code: str
    department: str
    kind: str
    entity_types: tuple[str, ...]  # empty: every entity type
    industries: tuple[str, ...]  # GB/T 4754 prefixes; empty: every industry
    ratios: tuple[str, str, str, str]


@dataclass(frozen=True)
class FrameParams:
    """The recorded inputs of a draw besides the seed and the entropy."""

    task: str
    kind: str
    scope: dict[str, list[str]]
    items: tuple[ItemRule, ...]  # in code order
    grading_run: int
    default_tier: str  # for enterprises the run did not grade (registered since)
    reference_date: str  # the window's first day: exclusions are counted from it
    recheck_months: int
    recheck_after: str  # an earlier check of the same item strictly between these days excludes
    recheck_before: str
    yearly_cap: int
    cap_year: int
    prior_draws: tuple[int, ...]  # the draws whose visits count as earlier checks
    max_record_id: int  # spot-check records up to this id count toward the yearly cap

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FrameParams:
        data = json.loads(text)
        data["items"] = tuple(ItemRule(**{**i, "entity_types": tuple(i["entity_types"]), "industries": tuple(i["industries"]), "ratios": tuple(i["ratios"])}) for i in data["items"])
        data["prior_draws"] = tuple(data["prior_draws"])
        return cls(**data)

    @property
    def exempt(self) -> bool:
        """Re-checks and complaint checks ignore the frequency rules."""
        return self.kind != TaskKind.ROUTINE.value


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier, or that month's last day (民法典 art. 202 backwards)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def frame_params(session: Session, task: Task, items: list[ItemRule], default_tier: str) -> FrameParams:
    """The inputs of ``task``'s draw as of now."""
    reference = task.starts_on
    after, before = months_before(reference, task.recheck_months), add_months_to(reference, task.recheck_months)
    # Earlier checks: visits of the routine tasks drawn so far and not replaced, other than the task
    # this one replaces, whose window starts within the recheck period or in the same year.
    prior = session.scalars(
        select(Draw.id).join(Task, Task.id == Draw.task_id)
        .where(Task.status == TaskStatus.DRAWN, Task.kind == TaskKind.ROUTINE, Task.id != task.id,
               (Task.id != task.replaces_task_id) if task.replaces_task_id else True,
               ((Task.starts_on > after) & (Task.starts_on < before)) | ((Task.starts_on >= dt.date(reference.year, 1, 1)) & (Task.starts_on <= dt.date(reference.year, 12, 31))))
        .order_by(Draw.id)
    ).all()
    max_record = session.scalar(select(CreditRecord.id).order_by(CreditRecord.id.desc()).limit(1)) or 0
    return FrameParams(
        task=task.code, kind=task.kind.value, scope=json.loads(task.scope), items=tuple(items),
        grading_run=task.grading_run_id, default_tier=default_tier, reference_date=reference.isoformat(),
        recheck_months=task.recheck_months, recheck_after=after.isoformat(), recheck_before=before.isoformat(),
        yearly_cap=task.yearly_cap, cap_year=reference.year, prior_draws=tuple(prior), max_record_id=max_record,
    )


@dataclass
class TaskFrame:
    frame: Frame
    enterprise_ids: np.ndarray  # aligned with the frame's rows
    report: dict[str, Any]  # counts of the population and of each exclusion


def _in(column: str, prefix: str, values: list[str] | tuple[str, ...], params: dict[str, Any]) -> str:
    names = []
    for n, value in enumerate(values):
        params[f"{prefix}{n}"] = value
        names.append(f"{column} = :{prefix}{n}")
    # An OR chain, not IN (...): SQLite builds a temporary index for an IN list per evaluation.
    return "(" + " OR ".join(names) + ")"


def _prefixes(column: str, prefix: str, values: tuple[str, ...] | list[str], params: dict[str, Any]) -> str:
    names = []
    for n, value in enumerate(values):
        params[f"{prefix}{n}"] = value
        names.append(f"substr({column}, 1, {len(value)}) = :{prefix}{n}")
    return "(" + " OR ".join(names) + ")"


def population_sql(p: FrameParams) -> tuple[str, dict[str, Any]]:
    """One query: every enterprise in scope, its status, its tier in the run, and a bit mask of
    the items that apply to its entity type and industry."""
    params: dict[str, Any] = {"run": p.grading_run}
    where = []
    for name, column in (("districts", "e.district_code"), ("stations", "e.station"), ("entity_types", "e.entity_type")):
        if p.scope.get(name):
            where.append(_in(column, name[0], p.scope[name], params))
    if p.scope.get("industries"):
        where.append(_prefixes("e.industry_code", "ind", p.scope["industries"], params))
    bits = []
    for k, item in enumerate(p.items):
        conditions = []
        if item.entity_types:
            conditions.append(_in("e.entity_type", f"t{k}_", item.entity_types, params))
        if item.industries:
            conditions.append(_prefixes("e.industry_code", f"i{k}_", item.industries, params))
        bits.append(f"(CASE WHEN {' AND '.join(conditions)} THEN {1 << k} ELSE 0 END)" if conditions else str(1 << k))
    sql = (
        f"SELECT e.uscc, e.id, e.status, g.tier, {' + '.join(bits) or '0'} FROM enterprises e"
        " LEFT JOIN grades g ON g.run_id = :run AND g.enterprise_id = e.id"
        + (f" WHERE {' AND '.join(where)}" if where else "")
    )
    return sql, params


def read_frame(session: Session, p: FrameParams) -> TaskFrame:
    """The task's eligible population: in scope, in business, applicable items, minus the
    frequency exclusions (unless the task is exempt); each exclusion counted."""
    sql, params = population_sql(p)
    with stream_rows(session, sql, params) as stream:
        rows = list(stream)
    report: dict[str, Any] = {"in_scope": len(rows)}
    if not rows:
        usccs, ids, statuses, tiers, masks = (), (), (), (), ()
    else:
        usccs, ids, statuses, tiers, masks = zip(*rows, strict=True)
    del rows
    k = len(p.items)
    ids_array = np.fromiter(ids, np.int64, len(ids))
    mask = np.fromiter(masks, np.int64, len(masks))
    members = ((mask[:, None] >> np.arange(k)) & 1).astype(bool) if k else np.zeros((len(ids), 0), bool)

    status_counts = Counter(statuses)
    report["not_in_business"] = {s: n for s, n in sorted(status_counts.items()) if s not in IN_BUSINESS}
    business = np.fromiter((s in IN_BUSINESS for s in statuses), bool, len(statuses))
    members &= business[:, None]
    report["no_item_applies"] = int((business & ~members.any(axis=1)).sum())

    tier_of = {t: n for n, t in enumerate(TIERS)}
    default = tier_of[p.default_tier]
    tier_array = np.fromiter((tier_of.get(t, default) if t is not None else default for t in tiers), np.uint8, len(tiers))
    report["ungraded_default_tier"] = int(sum(1 for t, b in zip(tiers, business.tolist(), strict=True) if t is None and b))

    report["recently_checked"] = {}
    report["at_yearly_cap"] = 0
    if not p.exempt and len(ids_array):
        _exclude_checked(session, p, ids_array, members, report)
    codes = np.array(usccs, dtype=f"S{USCC_LENGTH}")
    order = np.argsort(codes, kind="stable")
    keep = order[members[order].any(axis=1)]
    frame = Frame(codes[keep], tier_array[keep], members[keep], tuple(i.code for i in p.items))
    report["eligible"] = len(keep)
    return TaskFrame(frame, ids_array[keep], report)


def _exclude_checked(session: Session, p: FrameParams, ids: np.ndarray, members: np.ndarray, report: dict[str, Any]) -> None:
    """Drop (enterprise, item) pairs checked within the recheck period, and enterprises at the
    yearly cap of checks (visits of earlier routine tasks plus imported spot-check records)."""
    by_id = np.argsort(ids, kind="stable")
    sorted_ids = ids[by_id]

    def rows_of(enterprise_ids: list[int]) -> np.ndarray:
        wanted = np.asarray(enterprise_ids, np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
        hit = sorted_ids[pos] == wanted
        return by_id[pos[hit]]

    item_index = {item.code: k for k, item in enumerate(p.items)}
    checks_this_year: Counter[int] = Counter()
    if p.prior_draws:
        draw_list = ", ".join(str(int(d)) for d in p.prior_draws)
        sql = (
            "SELECT v.enterprise_id, v.id, ci.code, t.starts_on FROM visits v"
            " JOIN draws d ON d.task_id = v.task_id JOIN tasks t ON t.id = v.task_id"
            " JOIN visit_items vi ON vi.visit_id = v.id JOIN task_items ti ON ti.id = vi.task_item_id"
            f" JOIN check_items ci ON ci.id = ti.item_id WHERE d.id IN ({draw_list})"
        )
        after, before = dt.date.fromisoformat(p.recheck_after), dt.date.fromisoformat(p.recheck_before)
        pairs: dict[int, list[int]] = {}
        visits_this_year: dict[int, int] = {}
        for enterprise_id, visit_id, code, starts_on in session.execute(text(sql)):
            day = starts_on if isinstance(starts_on, dt.date) else dt.date.fromisoformat(starts_on)
            if code in item_index and after < day < before:
                pairs.setdefault(item_index[code], []).append(enterprise_id)
            if day.year == p.cap_year:
                visits_this_year[visit_id] = enterprise_id
        for k, enterprise_ids in sorted(pairs.items()):
            rows = rows_of(enterprise_ids)
            removed = int(members[rows, k].sum())
            members[rows, k] = False
            report["recently_checked"][p.items[k].code] = removed
        checks_this_year.update(visits_this_year.values())
    spot_checks = (
        "SELECT r.enterprise_id, count(*) FROM credit_records r WHERE r.kind = 'spot_check'"
        " AND r.id <= :max_record AND r.occurred_on >= :first AND r.occurred_on <= :last"
        " AND r.id NOT IN (SELECT s.supersedes_id FROM credit_records s WHERE s.supersedes_id IS NOT NULL AND s.id <= :max_record)"
        " GROUP BY r.enterprise_id"
    )
    bounds = {"max_record": p.max_record_id, "first": dt.date(p.cap_year, 1, 1), "last": dt.date(p.cap_year, 12, 31)}
    for enterprise_id, count in session.execute(text(spot_checks).bindparams(bindparam("first", type_=Date), bindparam("last", type_=Date)), bounds):
        checks_this_year[enterprise_id] += count
    at_cap = [e for e, n in checks_this_year.items() if n >= p.yearly_cap]
    if at_cap:
        rows = rows_of(at_cap)
        report["at_yearly_cap"] = int(members[rows].any(axis=1).sum())
        members[rows] = False

