"""The eligible population of a task (抽查对象名录 for this task), read in bulk, with its exclusions.

Everything the reading depends on is in :class:`FrameParams`, which the draw stores as it is, so
`task verify` reads the population again the same way and tells a changed directory from a
changed draw.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import json
import operator
import pathlib
import sqlite3
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from credit import forked, grade_store
from credit.enums import EnterpriseStatus, EntityType
from credit.errors import SpotcheckError
from credit.fields import USCC_LENGTH
from credit.grading import stream_rows
from credit.lookup import positions
from credit.models import OUTSIDE_SPOT_CHECKS, CreditRecord
from credit.scoring import add_months_to
from credit.textread import parse_fixed, parse_ints
from inspection.enums import TaskKind, TaskStatus
from inspection.sampling import TIERS, Frame, unit_numbers
from inspection.task_models import Draw, Task

IN_BUSINESS = (EnterpriseStatus.SUBSISTING.value, EnterpriseStatus.OPERATING.value)
# From this many enterprises a SQLite draw reads USCCs in a second process (fork costs ~10 ms).
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


class _Numbering(dict):  # type: ignore[type-arg]
    """Numbers keys in order of first sight: ``numbering[key]`` is its number."""

    def __missing__(self, key: Any) -> int:
        self[key] = number = len(self)
        return number


def _applies(item: ItemRule, entity_type: str, industry: str) -> bool:
    return (not item.entity_types or entity_type in item.entity_types) and (not item.industries or industry.startswith(item.industries))


def _numbered(rows: Any, key: bytes | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(id, USCC) rows → ids, USCCs and (with a key) random numbers, in the order read."""
    pairs = list(rows)
    ids = np.fromiter(map(operator.itemgetter(0), pairs), np.int64, len(pairs))
    codes = np.array(list(map(operator.itemgetter(1), pairs)), dtype=f"S{USCC_LENGTH}")
    del pairs
    return ids, codes, (unit_numbers(key, codes) if key is not None else None)


def _numbered_text(connection: sqlite3.Connection, where: str, params: dict[str, Any], key: bytes | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """What :func:`_numbered` gives, from SQLite: the ids and USCCs as one text each
    (credit.textread); a USCC is 18 characters, so theirs need no commas."""
    sql = f"SELECT count(*), group_concat(e.id, ','), group_concat(e.uscc, '') FROM enterprises e WHERE {where}"
    count, ids_text, usccs = connection.execute(sql, params).fetchone()
    ids = parse_ints(ids_text, count, "enterprises in scope and in business")
    codes = parse_fixed(usccs, count, USCC_LENGTH, "USCCs of the enterprises in scope and in business")
    return ids, codes, (unit_numbers(key, codes) if key is not None else None)


def _numbered_from_file(path: str, where: str, params: dict[str, Any], key: bytes | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`_numbered_text` on a read-only connection of its own (in the forked reader)."""
    connection = sqlite3.connect(f"{pathlib.Path(path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        return _numbered_text(connection, where, params, key)
    finally:
        connection.close()


STATUSES = tuple(s.value for s in EnterpriseStatus)
ENTITY_TYPES = tuple(t.value for t in EntityType)


def _code(column: str, values: tuple[str, ...]) -> str:
    """``column``'s position in ``values``, in SQL (NULL for any other value)."""
    return f"CASE {column} " + " ".join(f"WHEN '{v}' THEN {n}" for n, v in enumerate(values)) + " END"


def _classes(session: Session, where: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str, str]]]:
    """The id of every enterprise in scope, the number of its (status, entity type, industry)
    combination, and the combinations in number order."""
    combos = _Numbering()
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # One text per column (credit.textread): four values a row through the cursor cost 0.8 s
        # for a million enterprises. Status and entity type come as one small number (SQLite
        # spelling them out cost a third of the read), the industry codes as text split by a
        # control character. An unknown status or type (NULL) and a code holding the separator
        # fail the counts below, never shift the rows.
        sql = (
            f"SELECT count(*), group_concat(e.id, ','),"
            f" group_concat({_code('e.status', STATUSES)} * {len(ENTITY_TYPES)} + {_code('e.entity_type', ENTITY_TYPES)}, ','),"
            f" group_concat(e.industry_code, char(30)) FROM enterprises e WHERE {where}"
        )
        count, ids_text, kinds_text, industries_text = connection.connection.dbapi_connection.execute(sql, params).fetchone()
        ids = parse_ints(ids_text, count, "enterprises in scope")
        industries = (industries_text or "").split("\x1e") if count else []
        try:
            kinds = parse_ints(kinds_text, count, "enterprises in scope")
        except SpotcheckError:
            kinds = None
        if kinds is None or len(industries) != count:
            raise SpotcheckError("enterprises in scope: a status, entity type or industry code the draw cannot read")
        numbered = _Numbering()
        industry = np.fromiter(map(numbered.__getitem__, industries), np.int64, count)
        names, width = list(numbered), max(len(numbered), 1)
        present, combo = np.unique(kinds * width + industry, return_inverse=True)
        classes = []
        for value in present.tolist():
            kind, at = divmod(value, width)
            status, entity_type = divmod(kind, len(ENTITY_TYPES))
            classes.append((STATUSES[status], ENTITY_TYPES[entity_type], names[at]))
        return ids, combo.astype(np.int64), classes
    with stream_rows(session, f"SELECT e.status, e.entity_type, e.industry_code, e.id FROM enterprises e WHERE {where}", params) as stream:
        rows = list(stream)
    # map() over C-level callables: no Python frame per row.
    ids = np.fromiter(map(operator.itemgetter(3), rows), np.int64, len(rows))
    combo = np.fromiter(map(combos.__getitem__, map(operator.itemgetter(0, 1, 2), rows)), np.int64, len(rows))
    return ids, combo, list(combos)


def read_frame(session: Session, p: FrameParams, key: bytes | None = None) -> TaskFrame:
    """The task's eligible population: in scope, in business, applicable items, minus the
    frequency exclusions (unless the task is exempt); each exclusion counted. With ``key``, each
    row's random number too.

    Three bulk reads: the USCCs of the enterprises in scope and in business (hashed with the key
    as they arrive), their status, entity type and industry, and the tiers of the grading run;
    then the checks that count towards the exclusions. On a big SQLite file the first runs in a
    forked reader on the other core while this process does the rest (the draw holds the write
    lock, so both see the same data); elsewhere they run one after the other in the draw's
    transaction. SQLite hands over each column as one text (credit.textread).
    """
    where, params = scope_sql(p)
    business = " OR ".join(f"e.status = '{s}'" for s in IN_BUSINESS)
    in_business = f"{where} AND ({business})"
    database = session.get_bind().url.database
    connection = session.connection()
    parallel = (
        forked.AVAILABLE and connection.dialect.name == "sqlite" and database not in (None, "", ":memory:")
        and (session.scalar(text("SELECT max(id) FROM enterprises")) or 0) >= PARALLEL_FROM
    )
    numbered = forked.start(_numbered_from_file, database, in_business, params, key) if parallel else None
    with forked.reaped(numbered):
        # Status, entity type and industry take a few hundred distinct combinations: each is
        # classified once, and every row gets its combination's number.
        scope_ids, combo, combos = _classes(session, where, params)
        k = len(p.items)
        combo_members = np.array([[s in IN_BUSINESS and _applies(i, t, ind) for i in p.items] for s, t, ind in combos], dtype=bool).reshape(len(combos), k)
        combo_business = np.array([s in IN_BUSINESS for s, _, _ in combos], dtype=bool)
        per_combo = np.bincount(combo, minlength=len(combos))
        report: dict[str, Any] = {"in_scope": len(scope_ids)}
        not_in_business: Counter[str] = Counter()
        for (status, _, _), n in zip(combos, per_combo.tolist(), strict=True):
            if status not in IN_BUSINESS:
                not_in_business[status] += n
        report["not_in_business"] = dict(sorted(not_in_business.items()))
        applies = combo_members.any(axis=1)
        report["no_item_applies"] = int(per_combo[combo_business & ~applies].sum())

        graded = grade_store.load(session, p.grading_run, with_reasons=False)
        graded_ids, graded_tiers = graded.enterprise, graded.tier
        checks = None if p.exempt else _read_checks(session, p)
    if numbered:
        ids, codes, numbers = numbered()
    elif connection.dialect.name == "sqlite":
        ids, codes, numbers = _numbered_text(connection.connection.dbapi_connection, in_business, params, key)
    else:
        ids, codes, numbers = _numbered(_stream_all(session, f"SELECT e.id, e.uscc FROM enterprises e WHERE {in_business}", params), key)
    # Each row's place among the scope rows and in the grading run.
    at = positions(scope_ids, ids)
    if (at < 0).any():
        raise SpotcheckError("the enterprise directory changed while the population was read; draw again")
    members = combo_members[combo[at]]
    in_run = positions(graded_ids, ids)
    tiers = np.where(in_run >= 0, graded_tiers[np.maximum(in_run, 0)], TIERS.index(p.default_tier)).astype(np.uint8)

    report["recently_checked"] = {}
    report["at_yearly_cap"] = 0
    if checks is not None and len(ids):
        _exclude_checked(p, checks, ids, members, report)
    keep = members.any(axis=1)
    report["eligible"] = int(keep.sum())
    report["ungraded_default_tier"] = int((keep & (in_run < 0)).sum())
    frame = Frame(codes[keep], tiers[keep], members[keep], tuple(i.code for i in p.items))
    return TaskFrame(frame, ids[keep], report, numbers[keep] if numbers is not None else None)


def _stream_all(session: Session, sql: str, params: dict[str, Any]) -> list[Any]:
    with stream_rows(session, sql, params) as stream:
        return list(stream)


@dataclass
class _Checks:
    """What the frequency exclusions need from the database: per item, the enterprises checked on
    it within the recheck period; per enterprise, its checks this year."""

    recent: dict[int, list[int]]
    this_year: Counter[int]


def _read_checks(session: Session, p: FrameParams) -> _Checks:
    """The visits of earlier routine tasks and the imported spot-check records that count
    towards the exclusions. Read before the population is known: it does not depend on it."""
    item_index = {item.code: k for k, item in enumerate(p.items)}
    checks_this_year: Counter[int] = Counter()
    pairs: dict[int, list[int]] = {}
    if p.prior_draws:
        draw_list = ", ".join(str(int(d)) for d in p.prior_draws)
        sql = (
            "SELECT v.enterprise_id, v.id, ci.code, t.starts_on FROM visits v"
            " JOIN draws d ON d.task_id = v.task_id JOIN tasks t ON t.id = v.task_id"
            " JOIN visit_items vi ON vi.visit_id = v.id JOIN task_items ti ON ti.id = vi.task_item_id"
            f" JOIN check_items ci ON ci.id = ti.item_id WHERE d.id IN ({draw_list})"
        )
        after, before = dt.date.fromisoformat(p.recheck_after), dt.date.fromisoformat(p.recheck_before)
        visits_this_year: dict[int, int] = {}
        for enterprise_id, visit_id, code, starts_on in session.execute(text(sql)):
            day = starts_on if isinstance(starts_on, dt.date) else dt.date.fromisoformat(starts_on)
            if code in item_index and after < day < before:
                pairs.setdefault(item_index[code], []).append(enterprise_id)
            if day.year == p.cap_year:
                visits_this_year[visit_id] = enterprise_id
        checks_this_year.update(visits_this_year.values())
    # Spot checks known from outside (this system's published results are its visits, counted
    # above). The index's own condition, spelled the same, lets both databases use the partial
    # index; "+r.id" keeps SQLite from scanning the primary key instead.
    spot_checks = (
        f"SELECT r.enterprise_id FROM credit_records r WHERE {OUTSIDE_SPOT_CHECKS}"
        " AND r.occurred_on >= :first AND r.occurred_on <= :last AND +r.id <= :max_record"
        " AND NOT EXISTS (SELECT 1 FROM credit_records s WHERE s.supersedes_id = r.id AND s.id <= :max_record)"
    )
    bounds = {"max_record": p.max_record_id, "first": dt.date(p.cap_year, 1, 1), "last": dt.date(p.cap_year, 12, 31)}
    with stream_rows(session, spot_checks, bounds) as stream:
        checked = np.fromiter(itertools.chain.from_iterable(stream), np.int64)
    for enterprise_id, count in zip(*np.unique(checked, return_counts=True), strict=True):
        checks_this_year[int(enterprise_id)] += int(count)
    return _Checks(pairs, checks_this_year)


def _exclude_checked(p: FrameParams, checks: _Checks, ids: np.ndarray, members: np.ndarray, report: dict[str, Any]) -> None:
    """Drop (enterprise, item) pairs checked within the recheck period, and enterprises at the
    yearly cap of checks (visits of earlier routine tasks plus imported spot-check records)."""
    # SQLite hands the ids over in key order already: then there is nothing to sort.
    by_id = np.arange(len(ids)) if bool(np.all(ids[1:] > ids[:-1])) else np.argsort(ids, kind="stable")
    sorted_ids = ids[by_id]

    def rows_of(enterprise_ids: list[int]) -> np.ndarray:
        wanted = np.asarray(enterprise_ids, np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
        hit = sorted_ids[pos] == wanted
        return by_id[pos[hit]]

    for k, enterprise_ids in sorted(checks.recent.items()):
        rows = np.unique(rows_of(enterprise_ids))  # an enterprise checked twice counts once
        removed = int(members[rows, k].sum())
        members[rows, k] = False
        report["recently_checked"][p.items[k].code] = removed
    at_cap = [e for e, n in checks.this_year.items() if n >= p.yearly_cap]
    if at_cap:
        rows = rows_of(at_cap)
        report["at_yearly_cap"] = int(members[rows].any(axis=1).sum())
        members[rows] = False
