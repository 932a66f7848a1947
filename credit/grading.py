"""Grading runs: read the directory in bulk, call the scoring core, store the run. Takes a session.

Reading is the expensive part (performance.md §2: ORM entities cost 35× raw rows). The records
come as arrays stored once per range of ids (credit.grading_columns), the enterprises as one
text per column; on a big SQLite file a forked process reads the enterprises on the other core
while this one reads the records.
"""

from __future__ import annotations

import datetime as dt
import itertools
import pathlib
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from credit import audit, forked, grade_store, grading_columns
from credit.errors import SpotcheckError
from credit.fields import USCC_LENGTH
from credit.grading_columns import code_sql, day_sql
from credit.grading_models import CreditRepair, GradingRun
from credit.lookup import positions
from credit.models import NOT_SUPERVISED, NOT_SUPERVISED_SQL, CreditRecord
from credit.policy import Policy, parse_policy
from credit.scoring import NO_DATE, Records, day_number, grade
from credit.textread import parse_fixed, parse_ints

log = structlog.get_logger()

# From this many records a grading on a SQLite file reads with a forked process beside it.
PARALLEL_FROM = 500_000

# An approved repair decided on or before the grading date, among the first :max_repair.
_REPAIRED = ("SELECT p.record_id FROM credit_repairs p WHERE p.status = 'approved'"
             " AND p.decided_on <= :as_of AND p.id <= :max_repair")
# A superseded version is replaced by its correction (records are append-only). "+s.id": on
# SQLite a bare s.id would make the planner walk the whole table by key (4 s at 10M records)
# instead of the few rows of the supersedes index.
_SUPERSEDED = "SELECT s.supersedes_id FROM credit_records s WHERE s.supersedes_id IS NOT NULL AND +s.id <= :max_record"


def _packed_columns(dialect: str) -> tuple[str, str]:
    """Two integers per record: enterprise_id·512 + repaired·256 + sector·32 + category, and
    occurred·2³² + (until + 1 or 0)."""
    return (
        f"CAST(r.enterprise_id AS BIGINT) * 512 + CASE WHEN r.id IN ({_REPAIRED}) THEN 256 ELSE 0 END + {code_sql()}",
        f"CAST({day_sql(dialect, 'r.occurred_on')} AS BIGINT) * 4294967296 + COALESCE({day_sql(dialect, 'r.effective_until')} + 1, 0)",
    )


def records_sql(dialect: str, *, with_id: bool, one_enterprise: bool) -> str:
    """The two packed integers (``_packed_columns``) of each current record dated on or before
    :as_of, up to record :max_record: one enterprise's records as ``credit show`` explains them."""
    a, b = _packed_columns(dialect)
    return (
        f"SELECT {'r.id, ' if with_id else ''}{a}, {b} FROM credit_records r"
        f" WHERE r.occurred_on <= :as_of AND r.id <= :max_record AND r.id NOT IN ({_SUPERSEDED})"
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
    until = b & 0xFFFFFFFF
    until -= 1
    return Records(enterprise=enterprise_index, category=a & 31, sector=(a >> 5) & 7, occurred=b >> 32, until=until, repaired=(a & 256) != 0)


@dataclass
class Population:
    """The enterprises graded, in USCC order, and their records."""

    ids: np.ndarray
    usccs: np.ndarray  # USCC_DTYPE
    new_economy_since: np.ndarray
    records: Records


def record_bounds(session: Session) -> tuple[int, int]:
    max_record = session.scalar(select(func.max(CreditRecord.id))) or 0
    max_repair = session.scalar(select(func.max(CreditRepair.id))) or 0
    return max_record, max_repair


def _forking(session: Session, max_record: int) -> str | None:
    """The SQLite file a forked reader may share, or None."""
    database = session.get_bind().url.database
    if not forked.AVAILABLE or session.connection().dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return None
    return database if max_record >= PARALLEL_FROM else None


def hold_write_lock(session: Session) -> None:
    """Take the write lock now: until the transaction ends nobody else adds records or commits,
    so a forked reader sees what the session sees, and every record up to the highest id is
    committed (SQLite: an empty write; PostgreSQL: grading_columns.lock_records)."""
    if session.connection().dialect.name == "sqlite":
        session.connection().exec_driver_sql("DELETE FROM grade_reasons WHERE 0")
    grading_columns.lock_records(session)


_STATUSES = ", ".join(f"'{s}'" for s in NOT_SUPERVISED)
USCC_DTYPE = f"S{USCC_LENGTH}"


def _enterprises_text(connection: sqlite3.Connection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_enterprises`` on SQLite, one text per column (credit.textread), in two scans: the ids
    and USCCs in USCC order from the USCC index alone (a narrow index, already sorted), then
    the few ids not graded and the few 四新认定日期."""
    count, ids_text, usccs_text = connection.execute(
        "SELECT count(*), group_concat(id, ','), group_concat(uscc, '') FROM (SELECT e.id, e.uscc FROM enterprises e ORDER BY e.uscc)").fetchone()
    ids = parse_ints(ids_text, count, "enterprises")
    usccs = parse_fixed(usccs_text, count, USCC_LENGTH, "USCCs of the enterprises")
    if count > 1 and not bool((usccs[1:] > usccs[:-1]).all()):  # byte order, whatever the plan was
        order = np.argsort(usccs, kind="stable")
        ids, usccs = ids[order], usccs[order]
    # Both from partial indexes of their own (credit.models.Enterprise).
    excluded_count, excluded_text = connection.execute(f"SELECT count(*), group_concat(id, ',') FROM enterprises WHERE {NOT_SUPERVISED_SQL}").fetchone()
    since_count, since_text = connection.execute(
        f"SELECT count(*), group_concat(e.id || ',' || {day_sql('sqlite', 'e.new_economy_since')}, ',') FROM enterprises e WHERE e.new_economy_since IS NOT NULL").fetchone()
    excluded = parse_ints(excluded_text, excluded_count, "enterprises not graded")
    pairs = parse_ints(since_text, 2 * since_count, "四新认定日期 of the enterprises")
    graded = positions(excluded, ids) < 0
    ids, usccs = ids[graded], usccs[graded]
    days = np.full(len(ids), NO_DATE, np.int64)
    at = positions(ids, pairs[0::2])
    days[at[at >= 0]] = pairs[1::2][at >= 0]
    return ids, usccs, days


def _enterprises_from_file(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_enterprises_text`` on a read-only connection of its own (in the forked reader)."""
    connection = sqlite3.connect(f"{pathlib.Path(path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        return _enterprises_text(connection)
    finally:
        connection.close()


def _enterprises(session: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every enterprise under supervision in USCC order: ids, USCCs (``USCC_DTYPE``) and
    四新认定日期 day numbers.

    Sorted by code point, which is byte order in UTF-8 (SQLite's BINARY, PostgreSQL's "C"
    collation), on every database: the result digest is over this order. (SQLite reads the
    USCC index in its order; reading the table through it would be a random access per row,
    3.6 s against 1.2 s for a million enterprises.)
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        return _enterprises_text(connection.connection.dbapi_connection)
    since_sql = f"COALESCE({day_sql(connection.dialect.name, 'e.new_economy_since')}, {NO_DATE})"
    with stream_rows(session, f"SELECT e.id, e.uscc, {since_sql} FROM enterprises e WHERE e.status NOT IN ({_STATUSES})", {}) as stream:
        rows = list(stream)
    usccs = np.array([r[1].encode() for r in rows], dtype=USCC_DTYPE)
    order = np.argsort(usccs, kind="stable")
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))[order]
    since = np.fromiter((r[2] for r in rows), np.int64, len(rows))[order]
    return ids, usccs[order], since


def _marked(ids: np.ndarray, session: Session, sql: str, params: dict[str, Any]) -> np.ndarray:
    """Whether each of ``ids`` (ascending) is among the ids ``sql`` selects (a few: repairs,
    corrections)."""
    found = np.array(sorted({row[0] for row in session.execute(text(sql), params)}), np.int64)
    marked = np.zeros(len(ids), bool)
    at = np.searchsorted(ids, found)
    hit = at < len(ids)
    at, found = at[hit], found[hit]
    marked[at[ids[at] == found]] = True
    return marked


def read_population(session: Session, as_of: dt.date, max_record: int, max_repair: int, *, fork: bool = False) -> Population:
    """Every enterprise under supervision, in USCC order, and its current records dated on or
    before ``as_of``, up to record ``max_record``.

    The caller holds the write lock (``hold_write_lock``): any range of records the grading
    columns do not hold yet is derived and stored, with ``fork`` on a big SQLite file half of it
    by a forked process, which then reads the enterprises while this one reads the records.
    """
    database = _forking(session, max_record) if fork else None
    grading_columns.fill(session, max_record, database)
    reader = forked.start(_enterprises_from_file, database) if database else None
    with forked.reaped(reader):
        columns = grading_columns.read(session, max_record)
        params = {"as_of": as_of, "max_record": max_record, "max_repair": max_repair}
        current = ~_marked(columns.ids, session, _SUPERSEDED, params)
        current &= columns.occurred <= day_number(as_of)
        repaired = _marked(columns.ids, session, _REPAIRED, params)
        ids, usccs, since = reader() if reader else _enterprises(session)
    at = positions(ids, columns.enterprise)
    current &= at >= 0  # not graded: no longer under supervision
    code = columns.code[current]
    records = Records(enterprise=at[current], category=code & 31, sector=code >> 5, occurred=columns.occurred[current],
                      until=columns.until[current], repaired=repaired[current])
    return Population(ids, usccs, since, records)


def create_run(session: Session, policy: Policy, as_of: dt.date) -> GradingRun:
    """Grade every enterprise under supervision as of ``as_of`` and store the run."""
    if as_of > dt.date.today():
        raise SpotcheckError(f"--as-of {as_of} is in the future; grading uses records dated on or before it")
    started = time.perf_counter()
    hold_write_lock(session)  # before the bounds: the run's snapshot is the forked reader's too
    max_record, max_repair = record_bounds(session)
    population = read_population(session, as_of, max_record, max_repair, fork=True)
    read_s = time.perf_counter() - started
    log.info("grading_read", enterprises=len(population.ids), records=len(population.records.category), seconds=round(read_s, 2))
    grading = grade(population.records, population.new_economy_since, policy, day_number(as_of))
    score_s = time.perf_counter() - started - read_s
    log.info("grading_scored", seconds=round(score_s, 2))

    reason, texts = grading.reason_table()
    counts = np.bincount(grading.tier, minlength=4).tolist()
    run = GradingRun(
        as_of=as_of, policy_version=policy.version, policy_sha256=policy.sha256, policy_text=policy.text,
        max_record_id=max_record, max_repair_id=max_repair, enterprises=len(grading.tier),
        records=len(population.records.category), count_a=counts[0], count_b=counts[1], count_c=counts[2], count_d=counts[3],
        result_sha256=grade_store.result_digest(population.usccs.tolist(), grading.tier, grading.score, reason, texts), seconds=0.0,
    )
    session.add(run)
    session.flush()
    grade_store.store(session, run.id, population.ids, grading.tier, grading.score, grading.flags, reason, texts)
    run.seconds = round(time.perf_counter() - started, 3)
    audit.record(session, "credit.grade", f"grading run {run.id} as of {as_of}: A {counts[0]}, B {counts[1]}, C {counts[2]}, D {counts[3]}",
                 subject=f"run {run.id}", detail={"policy_sha256": policy.sha256, "result_sha256": run.result_sha256, "enterprises": run.enterprises})
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
