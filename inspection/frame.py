"""The eligible population of a task (抽查对象名录 for this task), read in bulk, with its exclusions.

Everything the reading depends on is in :class:`FrameParams`, which the draw stores as it is, so
`task verify` reads the population again the same way and tells a changed directory from a
changed draw.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from credit import forked, grade_store
from credit.lookup import positions
from credit.models import CreditRecord
from credit.scoring import add_months_to
from inspection.enums import TaskKind, TaskStatus
from inspection.exclusions import exclude_checked, read_checks
from inspection.population import Group, merge, part_sql, read_closed, read_hashed_part_from_file, read_part
from inspection.sampling import TIERS, Frame, unit_numbers
from inspection.task_models import Draw, Task

# From this many enterprises a draw on a SQLite file reads in a second process too (fork costs
# ~10 ms).
PARALLEL_FROM = 50_000


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
    numbers: np.ndarray | None = None  # each row's random number, when read with a key


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


def scope_sql(p: FrameParams) -> tuple[str, dict[str, Any]]:
    """The WHERE condition (on ``e``) of the task's scope, and its parameters."""
    params: dict[str, Any] = {}
    where = ["1 = 1"]
    for name, column in (("districts", "e.district_code"), ("stations", "e.station"), ("entity_types", "e.entity_type")):
        if p.scope.get(name):
            where.append(_in(column, name[0], p.scope[name], params))
    if p.scope.get("industries"):
        where.append(_prefixes("e.industry_code", "ind", p.scope["industries"], params))
    return " AND ".join(where), params


def _applies(item: ItemRule, entity_type: str, industry: str) -> bool:
    return (not item.entity_types or entity_type in item.entity_types) and (not item.industries or industry.startswith(item.industries))


def _reader_file(session: Session) -> str | None:
    """The SQLite file a second process may read part of the population from: a big directory
    in a file, whose reader sees what the draw sees (PostgreSQL's snapshot is the draw's
    connection's alone)."""
    database = session.get_bind().url.database
    if not forked.AVAILABLE or session.connection().dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return None
    return database if (session.scalar(text("SELECT max(id) FROM enterprises")) or 0) >= PARALLEL_FROM else None


def read_frame(session: Session, p: FrameParams, key: bytes | None = None) -> TaskFrame:
    """The task's eligible population: in scope, in business, applicable items, minus the
    frequency exclusions (unless the task is exempt); each exclusion counted. With ``key``, each
    row's random number too.

    The enterprises in business (inspection.population; each part in USCC order), the grading
    run's tiers, the checks that count towards the exclusions. A draw of a big population on a SQLite
    file reads it in two processes: a forked reader reads and hashes part of the population while
    this process reads and hashes the rest (the draw holds the write lock, so both see the same
    data); elsewhere this process reads alone.
    """
    where, params = scope_sql(p)
    dialect = session.connection().dialect.name

    def execute(sql: str, values: dict[str, Any]) -> list[Any]:
        return session.execute(text(sql), values).all()  # type: ignore[return-value]

    def applies(group: Group) -> bool:
        return any(_applies(i, group[1], group[2]) for i in p.items)

    database = _reader_file(session) if key is not None else None
    reader = forked.start(read_hashed_part_from_file, database, where, params, applies, key) if database else None
    with forked.reaped(reader):
        population = read_part(execute, dialect, f"{where} AND {part_sql(0)}", params, applies)
        if not reader:
            population = merge(population, read_part(execute, dialect, f"{where} AND {part_sql(1)}", params, applies))
            closed = read_closed(execute, where, params)
        graded = grade_store.load(session, p.grading_run, with_reasons=False)
        checks = None if p.exempt else read_checks(session, p)
        if key is not None:
            population.numbers = unit_numbers(key, population.usccs)
    if reader:
        other, closed = reader()
        population = merge(population, other)
    ids = population.ids
    report: dict[str, Any] = {
        "in_scope": len(ids) + population.no_item + sum(closed.values()),
        "not_in_business": closed,
        "no_item_applies": population.no_item,
        "recently_checked": {},
        "at_yearly_cap": 0,
    }
    members = np.array([[_applies(i, g[1], g[2]) for i in p.items] for g in population.groups], dtype=bool).reshape(-1, len(p.items))[population.group]
    in_run = positions(graded.enterprise, ids)
    tiers = np.where(in_run >= 0, graded.tier[np.maximum(in_run, 0)], TIERS.index(p.default_tier)).astype(np.uint8)
    if checks is not None and len(ids):
        exclude_checked(p, checks, ids, members, report)
    keep = members.any(axis=1)
    report["eligible"] = int(keep.sum())
    report["ungraded_default_tier"] = int((keep & (in_run < 0)).sum())
    kept = slice(None) if report["eligible"] == len(keep) else keep  # none excluded: no copies
    frame = Frame(population.usccs[kept], tiers[kept], members[kept], tuple(i.code for i in p.items))
    numbers = population.numbers
    return TaskFrame(frame, ids[kept], report, numbers[kept] if numbers is not None else None)
