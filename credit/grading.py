"""Grading runs: read the directory in bulk, call the scoring core, store the run. Takes a session.

Reading is the expensive part (performance.md §2: ORM entities cost 35× raw rows), so the
database packs each record into two integers and numpy takes them straight from the cursor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from credit import audit
from credit.bulk import insert_rows
from credit.errors import SpotcheckError
from credit.grading_models import CreditRepair, Grade, GradingRun
from credit.models import CreditRecord
from credit.policy import CODE, TIERS, Policy, parse_policy
from credit.scoring import NO_DATE, SECTORS, Records, day_number, grade

log = structlog.get_logger()

# Not graded: no longer under this bureau's supervision.
NOT_GRADED_STATUSES = ("cancelled", "revoked", "moved_out")
WRITE_BATCH = 50_000


def _category_sql() -> str:
    """The record's category code (credit.policy.CATEGORIES) as SQL; the worst result code wins."""
    codes = "(';' || r.result_codes || ';')"
    c = CODE
    return (
        "CASE r.kind"
        f" WHEN 'penalty' THEN CASE r.severity WHEN 'general' THEN {c['penalty.general']} WHEN 'major' THEN {c['penalty.major']} ELSE {c['penalty.severe']} END"
        f" WHEN 'abnormal_in' THEN {c['abnormal_in']} WHEN 'abnormal_out' THEN {c['abnormal_out']}"
        f" WHEN 'serious_in' THEN {c['serious_in']} WHEN 'serious_out' THEN {c['serious_out']}"
        f" WHEN 'complaint' THEN CASE WHEN r.substantiated THEN {c['complaint']} ELSE {c['complaint.unsubstantiated']} END"
        f" WHEN 'annual_report_late' THEN {c['annual_report_late']}"
        " WHEN 'spot_check' THEN CASE"
        f" WHEN {codes} LIKE '%;8;%' THEN {c['spot_check.obstructed']}"
        f" WHEN {codes} LIKE '%;A;%' THEN {c['spot_check.problem']}"
        f" WHEN {codes} LIKE '%;E;%' THEN {c['spot_check.corrected']}"
        f" WHEN {codes} LIKE '%;1;%' OR {codes} LIKE '%;F;%' THEN {c['spot_check.clean']}"
        f" ELSE {c['spot_check.other']} END"
        f" WHEN 'commitment_breach' THEN {c['commitment_breach']}"
        f" ELSE {c['commendation']} END"
    )


def _sector_sql() -> str:
    whens = " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(SECTORS) if name)
    return f"CASE r.sector {whens} ELSE 0 END"


def _day_sql(dialect: str, column: str) -> str:
    """Days since 1900-01-01 (credit.scoring.day_number) of a DATE column."""
    if dialect == "sqlite":
        return f"CAST(julianday({column}) - 2415020.5 AS INTEGER)"
    return f"({column} - DATE '1900-01-01')"


def records_sql(dialect: str, *, with_id: bool, one_enterprise: bool) -> str:
    """Two integers per current record dated on or before :as_of:
    enterprise_id·512 + repaired·256 + sector·32 + category, and occurred·2³² + (until + 1 or 0)."""
    day = lambda column: _day_sql(dialect, column)  # noqa: E731
    repaired = (
        "CASE WHEN r.id IN (SELECT p.record_id FROM credit_repairs p WHERE p.status = 'approved'"
        " AND p.decided_on <= :as_of AND p.id <= :max_repair) THEN 256 ELSE 0 END"
    )
    columns = (
        f"CAST(r.enterprise_id AS BIGINT) * 512 + {repaired} + ({_sector_sql()}) * 32 + ({_category_sql()}),"
        f" CAST({day('r.occurred_on')} AS BIGINT) * 4294967296 + COALESCE({day('r.effective_until')} + 1, 0)"
    )
    return (
        f"SELECT {'r.id, ' if with_id else ''}{columns} FROM credit_records r"
        " WHERE r.occurred_on <= :as_of AND r.id <= :max_record"
        # A superseded version is replaced by its correction (records are append-only).
        " AND r.id NOT IN (SELECT s.supersedes_id FROM credit_records s WHERE s.supersedes_id IS NOT NULL AND s.id <= :max_record)"
        + (" AND r.enterprise_id = :enterprise" if one_enterprise else "")
    )


@contextmanager
def stream_rows(session: Session, sql: str, params: dict[str, Any]) -> Iterator[Iterable[Sequence[Any]]]:
    """The rows of ``sql`` as an iterable of tuples: the raw sqlite3 cursor itself on SQLite (no
    Python frame per row: Row objects or a generator cost 60 % more), a server-side cursor
    elsewhere, so memory stays flat."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            yield cursor.execute(sql, {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in params.items()})
        finally:
            cursor.close()
        return
    # Options for this statement only: Connection.execution_options() would change the
    # connection itself, and every later statement of the transaction would open a cursor too.
    result = connection.execute(text(sql), params, execution_options={"stream_results": True, "yield_per": 100_000})
    try:
        yield itertools.chain.from_iterable(result.partitions())
    finally:
        result.close()


def unpack_records(packed: np.ndarray, enterprise_index: np.ndarray) -> Records:
    a, b = packed[0::2], packed[1::2]
    return Records(
        enterprise=enterprise_index,
        category=a & 31,
        sector=(a >> 5) & 7,
        occurred=b >> 32,
        until=(b & 0xFFFFFFFF) - 1,
        repaired=((a >> 8) & 1).astype(bool),
    )


@dataclass
class Population:
    """The enterprises graded, in USCC order, and their records."""

    ids: np.ndarray
    usccs: list[str]
    new_economy_since: np.ndarray
    records: Records


def record_bounds(session: Session) -> tuple[int, int]:
    max_record = session.scalar(select(func.max(CreditRecord.id))) or 0
    max_repair = session.scalar(select(func.max(CreditRepair.id))) or 0
    return max_record, max_repair


def read_population(session: Session, as_of: dt.date, max_record: int, max_repair: int) -> Population:
    """Every enterprise under supervision and its records as of ``as_of``, in two queries."""
    dialect = session.connection().dialect.name
    statuses = ", ".join(f"'{s}'" for s in NOT_GRADED_STATUSES)
    # Byte order on every database (PostgreSQL would use its locale): the result digest is over
    # this order, and must not depend on where the data lives.
    collate = "" if dialect == "sqlite" else ' COLLATE "C"'
    enterprises_sql = (
        f"SELECT e.id, e.uscc, COALESCE({_day_sql(dialect, 'e.new_economy_since')}, {NO_DATE}) FROM enterprises e"
        f" WHERE e.status NOT IN ({statuses}) ORDER BY e.uscc{collate}"
    )
    with stream_rows(session, enterprises_sql, {}) as stream:
        rows = list(stream)
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    usccs = [r[1] for r in rows]
    since = np.fromiter((r[2] for r in rows), np.int64, len(rows))
    del rows
    params = {"as_of": as_of, "max_record": max_record, "max_repair": max_repair}
    with stream_rows(session, records_sql(dialect, with_id=False, one_enterprise=False), params) as stream:
        packed = np.fromiter(itertools.chain.from_iterable(stream), np.int64)
    enterprise_ids = packed[0::2] >> 9
    by_id = np.argsort(ids, kind="stable")
    position = np.minimum(np.searchsorted(ids[by_id], enterprise_ids), max(len(ids) - 1, 0))
    graded = (ids[by_id][position] == enterprise_ids) if len(ids) else np.zeros(len(enterprise_ids), bool)
    keep = np.repeat(graded, 2)
    records = unpack_records(packed[keep], by_id[position[graded]])
    return Population(ids, usccs, since, records)


def create_run(session: Session, policy: Policy, as_of: dt.date) -> GradingRun:
    """Grade every enterprise under supervision as of ``as_of`` and store the run."""
    if as_of > dt.date.today():
        raise SpotcheckError(f"--as-of {as_of} is in the future; grading uses records dated on or before it")
    started = time.perf_counter()
    max_record, max_repair = record_bounds(session)
    population = read_population(session, as_of, max_record, max_repair)
    read_s = time.perf_counter() - started
    log.info("grading_read", enterprises=len(population.ids), records=len(population.records.category), seconds=round(read_s, 2))
    grading = grade(population.records, population.new_economy_since, policy, day_number(as_of))
    score_s = time.perf_counter() - started - read_s
    log.info("grading_scored", seconds=round(score_s, 2))

    tiers = np.array(TIERS)[grading.tier].tolist()
    scores = grading.score.tolist()
    reasons = grading.all_reasons()
    digest = hashlib.sha256()
    for start in range(0, len(tiers), WRITE_BATCH):
        end = start + WRITE_BATCH
        digest.update("".join(f"{u}\t{t}\t{s}\t{r}\n" for u, t, s, r in zip(population.usccs[start:end], tiers[start:end], scores[start:end], reasons[start:end], strict=True)).encode())
    counts = np.bincount(grading.tier, minlength=4).tolist()
    run = GradingRun(
        as_of=as_of, policy_version=policy.version, policy_sha256=policy.sha256, policy_text=policy.text,
        max_record_id=max_record, max_repair_id=max_repair, enterprises=len(tiers),
        records=len(population.records.category), count_a=counts[0], count_b=counts[1], count_c=counts[2],
        count_d=counts[3], result_sha256=digest.hexdigest(), seconds=0.0,
    )
    session.add(run)
    session.flush()
    # In key order, so the primary-key B-tree only ever grows at its end.
    order = np.argsort(population.ids, kind="stable").tolist()
    ids, flags, run_id = population.ids.tolist(), grading.flags.tolist(), run.id  # run.id: an ORM attribute read
    columns = ("run_id", "enterprise_id", "tier", "score", "flags", "reasons")
    for start in range(0, len(order), WRITE_BATCH):
        rows = [(run_id, ids[i], tiers[i], scores[i], flags[i], reasons[i]) for i in order[start:start + WRITE_BATCH]]
        insert_rows(session, Grade.__table__, columns, rows)
    run.seconds = round(time.perf_counter() - started, 3)
    audit.record(session, "credit.grade", f"grading run {run.id} as of {as_of}: A {counts[0]}, B {counts[1]}, C {counts[2]}, D {counts[3]}",
                 subject=f"run {run.id}", detail={"policy_sha256": policy.sha256, "result_sha256": run.result_sha256, "enterprises": len(tiers)})
    log.info("grading_written", run=run.id, seconds=round(time.perf_counter() - started - read_s - score_s, 2))
    return run


def get_run(session: Session, run_id: int | None) -> GradingRun:
    """The run asked for, or the latest one."""
    if run_id is None:
        run = session.scalars(select(GradingRun).order_by(GradingRun.id.desc()).limit(1)).first()
        if run is None:
            raise SpotcheckError("no grading run yet: run `spotcheck credit grade` first")
        return run
    run = session.get(GradingRun, run_id)
    if run is None:
        raise SpotcheckError(f"no grading run {run_id}")
    return run


def run_policy(run: GradingRun) -> Policy:
    """The policy a run used, from the text it stored."""
    return parse_policy(run.policy_text, f"grading run {run.id}")


def tier_counts(run: GradingRun) -> dict[str, int]:
    return {"A": run.count_a, "B": run.count_b, "C": run.count_c, "D": run.count_d}
