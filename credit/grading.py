"""Grading runs: read the directory in bulk, call the scoring core, store the run. Takes a session.

Reading is the expensive part (performance.md §2: ORM entities cost 35× raw rows), so the
database packs each record into two integers. On SQLite they come as one text per million ids
that numpy parses, and on a big file a forked process reads half of them on the other core;
PostgreSQL streams them from a server-side cursor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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

from credit import audit, forked
from credit.bulk import insert_rows
from credit.errors import SpotcheckError
from credit.fields import USCC_LENGTH
from credit.grading_models import CreditRepair, Grade, GradingRun
from credit.lookup import positions
from credit.models import CreditRecord
from credit.policy import CODE, TIERS, Policy, parse_policy
from credit.scoring import NO_DATE, SECTORS, Records, day_number, grade
from credit.textread import parse_fixed, parse_ints

log = structlog.get_logger()

# Not graded: no longer under this bureau's supervision.
NOT_GRADED_STATUSES = ("cancelled", "revoked", "moved_out")
WRITE_BATCH = 50_000
# SQLite reads records by ranges of this many ids, one query each.
CHUNK_IDS = 1_000_000
# From this many records a grading on a SQLite file reads half of them in a forked process.
PARALLEL_FROM = 500_000


def _category_sql() -> str:
    """The record's category code (credit.policy.CATEGORIES) as SQL; the worst result code wins.

    Codes are matched as substrings of the stored ``A;2;B`` text, which is exact for these codes
    (no other code contains 8, A, E or F, and 1 stands alone: ``result_codes.check_combination``;
    a test holds the table to this). Wrapping the text in ';' for a token match costs a string
    built per clause: 1.3 s more at 10M records.
    """
    c = CODE
    return (
        "CASE r.kind"
        f" WHEN 'penalty' THEN CASE r.severity WHEN 'general' THEN {c['penalty.general']} WHEN 'major' THEN {c['penalty.major']} ELSE {c['penalty.severe']} END"
        f" WHEN 'abnormal_in' THEN {c['abnormal_in']} WHEN 'abnormal_out' THEN {c['abnormal_out']}"
        f" WHEN 'serious_in' THEN {c['serious_in']} WHEN 'serious_out' THEN {c['serious_out']}"
        f" WHEN 'complaint' THEN CASE WHEN r.substantiated THEN {c['complaint']} ELSE {c['complaint.unsubstantiated']} END"
        f" WHEN 'annual_report_late' THEN {c['annual_report_late']}"
        " WHEN 'spot_check' THEN CASE"
        f" WHEN r.result_codes LIKE '%8%' THEN {c['spot_check.obstructed']}"
        f" WHEN r.result_codes LIKE '%A%' THEN {c['spot_check.problem']}"
        f" WHEN r.result_codes LIKE '%E%' THEN {c['spot_check.corrected']}"
        f" WHEN r.result_codes = '1' OR r.result_codes LIKE '%F%' THEN {c['spot_check.clean']}"
        f" ELSE {c['spot_check.other']} END"
        f" WHEN 'commitment_breach' THEN {c['commitment_breach']}"
        f" ELSE {c['commendation']} END"
    )


# Result codes the category SQL looks for as substrings.
MATCHED_CODES = ("8", "A", "E", "F")


def _sector_sql() -> str:
    whens = " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(SECTORS) if name)
    return f"CASE r.sector {whens} ELSE 0 END"


def _day_sql(dialect: str, column: str) -> str:
    """Days since 1900-01-01 (credit.scoring.day_number) of a DATE column."""
    if dialect == "sqlite":
        return f"CAST(julianday({column}) - 2415020.5 AS INTEGER)"
    return f"({column} - DATE '1900-01-01')"


def _packed_columns(dialect: str) -> tuple[str, str]:
    """Two integers per record: enterprise_id·512 + repaired·256 + sector·32 + category, and
    occurred·2³² + (until + 1 or 0)."""
    day = lambda column: _day_sql(dialect, column)  # noqa: E731
    repaired = (
        "CASE WHEN r.id IN (SELECT p.record_id FROM credit_repairs p WHERE p.status = 'approved'"
        " AND p.decided_on <= :as_of AND p.id <= :max_repair) THEN 256 ELSE 0 END"
    )
    return (
        f"CAST(r.enterprise_id AS BIGINT) * 512 + {repaired} + ({_sector_sql()}) * 32 + ({_category_sql()})",
        f"CAST({day('r.occurred_on')} AS BIGINT) * 4294967296 + COALESCE({day('r.effective_until')} + 1, 0)",
    )


# A superseded version is replaced by its correction (records are append-only). "+s.id": on
# SQLite a bare s.id would make the planner walk the whole table by key (4 s at 10M records)
# instead of the few rows of the supersedes index.
_CURRENT = (
    " AND r.id NOT IN (SELECT s.supersedes_id FROM credit_records s"
    " WHERE s.supersedes_id IS NOT NULL AND +s.id <= :max_record)"
)


def records_sql(dialect: str, *, with_id: bool, one_enterprise: bool) -> str:
    """The two packed integers (``_packed_columns``) of each current record dated on or before
    :as_of, up to record :max_record."""
    a, b = _packed_columns(dialect)
    return (
        f"SELECT {'r.id, ' if with_id else ''}{a}, {b} FROM credit_records r"
        " WHERE r.occurred_on <= :as_of AND r.id <= :max_record" + _CURRENT
        + (" AND r.enterprise_id = :enterprise" if one_enterprise else "")
    )


def chunk_sql() -> str:
    """SQLite: the records of ids :low < id <= :high as one comma-separated text, and their
    count (credit.textread: a row at a time through the cursor cost 6 s more at 10M records)."""
    a, b = _packed_columns("sqlite")
    # One upper bound on r.id: given two, SQLite may bound its key range by the wrong one.
    return (
        f"SELECT count(*), group_concat(({a}) || ',' || ({b}), ',') FROM credit_records r"
        " WHERE r.id > :low AND r.id <= :high AND r.occurred_on <= :as_of" + _CURRENT
    )


def read_chunks(connection: sqlite3.Connection, params: dict[str, Any], low: int, high: int) -> np.ndarray:
    """The packed records of ids ``low < id <= high`` through a raw sqlite3 connection, in chunks
    of ``CHUNK_IDS`` ids (a text of some 25 MB each)."""
    sql, parts = chunk_sql(), []
    params = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in params.items()}
    for start in range(low, high, CHUNK_IDS):
        end = min(start + CHUNK_IDS, high)
        count, packed = connection.execute(sql, {**params, "low": start, "high": end}).fetchone()
        parts.append(parse_ints(packed, 2 * count, f"credit records {start + 1}–{end}"))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _read_chunks_from_file(path: str, params: dict[str, Any], low: int, high: int) -> np.ndarray:
    """``read_chunks`` on a read-only connection of its own (in the forked reader)."""
    connection = sqlite3.connect(f"{pathlib.Path(path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        return read_chunks(connection, params, low, high)
    finally:
        connection.close()


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
    # In place where it can be: each new array of ten million is a round of page faults.
    sector = a >> 5
    sector &= 7
    until = b & 0xFFFFFFFF
    until -= 1
    return Records(enterprise=enterprise_index, category=a & 31, sector=sector, occurred=b >> 32, until=until, repaired=(a & 256) != 0)


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


def _forking(session: Session, max_record: int) -> str | None:
    """The SQLite file whose records a forked reader may share, or None."""
    database = session.get_bind().url.database
    if not forked.AVAILABLE or session.connection().dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return None
    return database if max_record >= PARALLEL_FROM else None


def hold_write_lock(session: Session) -> None:
    """Take SQLite's write lock now: until the transaction ends nobody else commits, so a
    forked reader sees what the session sees. (An empty write takes it; elsewhere, nothing.)"""
    if session.connection().dialect.name == "sqlite":
        session.connection().exec_driver_sql("DELETE FROM grades WHERE 0")


def _enterprises(session: Session, dialect: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Every enterprise under supervision in USCC order: ids, USCCs and 四新认定日期 day numbers.

    Read as stored and sorted here: SQLite would follow the USCC index, a random access per row
    (3.6 s against 1.2 s for a million enterprises). Sorted by code point, which is byte order in
    UTF-8 (SQLite's BINARY, PostgreSQL's "C" collation), on every database: the result digest is
    over this order.
    """
    statuses = ", ".join(f"'{s}'" for s in NOT_GRADED_STATUSES)
    since_sql = f"COALESCE({_day_sql(dialect, 'e.new_economy_since')}, {NO_DATE})"
    where = f"e.status NOT IN ({statuses})"
    if dialect == "sqlite":  # one text per column (credit.textread)
        sql = f"SELECT count(*), group_concat(e.id, ','), group_concat(e.uscc, ''), group_concat({since_sql}, ',') FROM enterprises e WHERE {where}"
        count, ids_text, usccs_text, since_text = session.connection().connection.dbapi_connection.execute(sql).fetchone()
        codes = parse_fixed(usccs_text, count, USCC_LENGTH, "USCCs of the enterprises under supervision")
        order = np.argsort(codes, kind="stable")
        return (parse_ints(ids_text, count, "enterprises under supervision")[order], codes[order].astype(str).tolist(),
                parse_ints(since_text, count, "四新认定日期 of the enterprises under supervision")[order])
    with stream_rows(session, f"SELECT e.id, e.uscc, {since_sql} FROM enterprises e WHERE {where}", {}) as stream:
        rows = list(stream)
    order = np.argsort(np.array([r[1] for r in rows], dtype=str), kind="stable")
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))[order]
    since = np.fromiter((r[2] for r in rows), np.int64, len(rows))[order]
    return ids, [rows[i][1] for i in order.tolist()], since


def read_population(session: Session, as_of: dt.date, max_record: int, max_repair: int, *, fork: bool = False) -> Population:
    """Every enterprise under supervision, in USCC order, and its records as of ``as_of``.

    With ``fork`` (the caller holds the write lock: ``hold_write_lock``), a big SQLite file's
    upper half of records is read by a forked process while this one reads the rest.
    """
    dialect = session.connection().dialect.name
    params = {"as_of": as_of, "max_record": max_record, "max_repair": max_repair}
    database = _forking(session, max_record) if fork else None
    middle = max_record // 2 if database else max_record
    upper = forked.start(_read_chunks_from_file, database, params, middle, max_record) if database else None
    with forked.reaped(upper):
        ids, usccs, since = _enterprises(session, dialect)
        if dialect == "sqlite":
            packed = read_chunks(session.connection().connection.dbapi_connection, params, 0, middle)
        else:
            with stream_rows(session, records_sql(dialect, with_id=False, one_enterprise=False), params) as stream:
                packed = np.fromiter(itertools.chain.from_iterable(stream), np.int64)
    if upper:
        packed = np.concatenate([packed, upper()])
    at = positions(ids, packed[0::2] >> 9)
    graded = at >= 0  # not graded: no longer under supervision
    records = unpack_records(packed[np.repeat(graded, 2)], at[graded])
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

    tiers = np.array(TIERS, dtype=object)[grading.tier]
    reasons = np.array(grading.all_reasons(), dtype=object)
    digest = hashlib.sha256()
    for start in range(0, len(tiers), WRITE_BATCH):
        end = start + WRITE_BATCH
        lines = zip(population.usccs[start:end], tiers[start:end].tolist(), map(str, grading.score[start:end].tolist()), reasons[start:end].tolist(), strict=True)
        digest.update("".join(f"{line}\n" for line in map("\t".join, lines)).encode())
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
    order = np.argsort(population.ids, kind="stable")
    columns = ("run_id", "enterprise_id", "tier", "score", "flags", "reasons")
    for start in range(0, len(order), WRITE_BATCH):
        batch = order[start:start + WRITE_BATCH]
        rows = list(zip(itertools.repeat(run.id, len(batch)), population.ids[batch].tolist(), tiers[batch].tolist(),
                        grading.score[batch].tolist(), grading.flags[batch].tolist(), reasons[batch].tolist()))
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
