"""The credit records as the grader reads them: a few arrays per range of record ids, stored once.

Reading ten million records through SQL costs about 8 s of one core: the cursor, or the text
SQLite hands over, makes something Python holds of every value (performance.md §2). What the
grader needs of a record never changes, since records are append-only (a correction is a new
row that supersedes the old), so it is derived once and kept as arrays: a row of
``grading_columns`` holds every record with ``low_id < id <= high_id`` (its enterprise, its
category and sector as one code, its date and the end of its own period), 17 bytes a record.
Ten million of them read back in about a tenth of a second.

Two ways in, with one result (the tests hold them equal): an import stores the columns of the
records it adds, a batch at a time (``Collector``); a grading derives by SQL any range no row
covers yet, e.g. the records that publishing results made, and stores it (``fill``). What
depends on the grading itself (its date, approved repairs, corrections) is applied when the
grader reads. ``audit verify`` derives every stored range again and compares (``verify``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog
from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from credit import forked
from credit.fields import remembered_each
from credit.grading_models import GradingColumns
from credit.policy import CATEGORIES, CODE
from credit.scoring import NO_DATE, SECTORS, day_number
from credit.textread import parse_ints

log = structlog.get_logger()

# What the stored arrays mean: rows of another layout (an older release's categories or
# sectors) are derived again, never read.
LAYOUT = "v1:" + hashlib.sha256(json.dumps([CATEGORIES, SECTORS]).encode()).hexdigest()[:16]
# A stored row covers this many ids (17 MB of arrays); an import's, up to a batch more.
CHUNK_IDS = 1_000_000
# The arrays of a row, in this order, little-endian: the id as an offset from low_id, the
# enterprise id, the date and the period's end (day numbers, credit.scoring.day_number; -1:
# none), then sector · 32 + category.
_ARRAYS = (("ids", "<u4"), ("enterprise", "<u4"), ("occurred", "<i4"), ("until", "<i4"), ("code", "u1"))
_RECORD_BYTES = sum(np.dtype(t).itemsize for _, t in _ARRAYS)
if len(CATEGORIES) > 32 or len(SECTORS) > 8:
    raise RuntimeError("a category or sector code no longer fits the grading columns' code byte")


@dataclass(frozen=True)
class Columns:
    """Records as parallel integer arrays, in id order."""

    ids: np.ndarray
    enterprise: np.ndarray
    occurred: np.ndarray
    until: np.ndarray  # NO_DATE: the record has no period of its own
    code: np.ndarray  # sector · 32 + category (credit.policy.CODE)

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, low: int) -> bytes:
        """The arrays as stored in a row whose range starts after ``low``."""
        if len(self) and (int(self.enterprise.max()) >= 2**32 or int(self.ids[-1]) - low >= 2**32):
            raise RuntimeError("an enterprise id or a record id range too large for the grading columns")
        values = {"ids": self.ids - low, "enterprise": self.enterprise, "occurred": self.occurred, "until": self.until, "code": self.code}
        return b"".join(values[name].astype(dtype).tobytes() for name, dtype in _ARRAYS)

    @classmethod
    def decode(cls, data: bytes, low: int, count: int, *, widen: bool = True) -> Columns:
        """The arrays of a stored row: int64 (``widen``), or as stored (views of ``data``) but
        for the ids."""
        if len(data) != count * _RECORD_BYTES:
            raise RuntimeError(f"grading columns after record {low}: {len(data)} bytes for {count} records")
        arrays, at = {}, 0
        for name, dtype in _ARRAYS:
            arrays[name] = np.frombuffer(data, dtype, count, at)
            at += np.dtype(dtype).itemsize * count
        if not widen:
            arrays["ids"] = arrays["ids"].astype(np.int64) + low
            return cls(**arrays)
        arrays = {name: a.astype(np.int64) for name, a in arrays.items()}
        arrays["ids"] += low
        return cls(**arrays)

    @classmethod
    def join(cls, parts: Sequence[Columns]) -> Columns:
        if not parts:
            return cls(*(np.zeros(0, np.int64) for _ in _ARRAYS))
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name, _ in _ARRAYS))

    def up_to(self, max_record: int) -> Columns:
        end = int(np.searchsorted(self.ids, max_record, side="right"))
        return self if end == len(self) else Columns(*(getattr(self, name)[:end] for name, _ in _ARRAYS))


# --- deriving by SQL ---------------------------------------------------------------------------

def category_sql() -> str:
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


def code_sql() -> str:
    """sector · 32 + category of a record ``r``, as SQL."""
    sectors = " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(SECTORS) if name)
    return f"(CASE r.sector {sectors} ELSE 0 END) * 32 + ({category_sql()})"


def day_sql(dialect: str, column: str) -> str:
    """Days since 1900-01-01 (credit.scoring.day_number) of a DATE column."""
    if dialect == "sqlite":
        return f"CAST(julianday({column}) - 2415020.5 AS INTEGER)"
    return f"({column} - DATE '1900-01-01')"


def _derive_values(dialect: str) -> list[str]:
    return ["r.id", "r.enterprise_id", day_sql(dialect, "r.occurred_on"), f"COALESCE({day_sql(dialect, 'r.effective_until')}, {NO_DATE})", code_sql()]


_RANGE = " FROM credit_records r WHERE r.id > :low AND r.id <= :high"


def _from_flat(flat: np.ndarray) -> Columns:
    ids, enterprise, occurred, until, code = (flat[i::5] for i in range(5))
    if len(ids) > 1 and not bool((ids[1:] > ids[:-1]).all()):
        order = np.argsort(ids, kind="stable")
        ids, enterprise, occurred, until, code = (a[order] for a in (ids, enterprise, occurred, until, code))
    return Columns(ids, enterprise, occurred, until, code)


def derive_sqlite(connection: sqlite3.Connection, low: int, high: int) -> Columns:
    """The columns of the records ``low < id <= high``, through a raw sqlite3 connection: one
    text of integers per range (credit.textread; a row at a time through the cursor costs more)."""
    joined = " || ',' || ".join(f"({v})" for v in _derive_values("sqlite"))
    sql = f"SELECT count(*), group_concat({joined}, ','){_RANGE}"
    count, values = connection.execute(sql, {"low": low, "high": high}).fetchone()
    return _from_flat(parse_ints(values, 5 * count, f"credit records {low + 1}–{high}"))


def _derive_file(path: str, ranges: list[tuple[int, int]]) -> list[Columns]:
    """``derive_sqlite`` of each range on a read-only connection of its own (a forked reader)."""
    connection = sqlite3.connect(f"{pathlib.Path(path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        return [derive_sqlite(connection, low, high) for low, high in ranges]
    finally:
        connection.close()


def derive(session: Session, low: int, high: int) -> Columns:
    """The columns of the records ``low < id <= high`` in the session's transaction."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        return derive_sqlite(connection.connection.dbapi_connection, low, high)
    sql = f"SELECT {', '.join(_derive_values(connection.dialect.name))}{_RANGE}"
    result = connection.execute(text(sql), {"low": low, "high": high}, execution_options={"stream_results": True, "yield_per": 100_000})
    flat = np.fromiter((v for row in result for v in row), np.int64)
    return _from_flat(flat)


# --- storing and reading -----------------------------------------------------------------------

def store(session: Session, low: int, high: int, columns: Columns) -> None:
    session.execute(insert(GradingColumns), [{"low_id": low, "high_id": high, "records": len(columns), "layout": LAYOUT, "data": columns.encode(low)}])


def _covered(session: Session) -> list[tuple[int, int]]:
    rows = session.execute(select(GradingColumns.low_id, GradingColumns.high_id).where(GradingColumns.layout == LAYOUT).order_by(GradingColumns.low_id))
    return [tuple(r) for r in rows]  # type: ignore[misc]


def gaps(covered: Sequence[tuple[int, int]], top: int) -> list[tuple[int, int]]:
    """The ranges ``(low, high]`` of ``(0, top]`` that ``covered`` leaves out, none longer than
    ``CHUNK_IDS`` ids."""
    out, at = [], 0
    for low, high in [*covered, (top, top)]:
        end = min(low, top)
        for start in range(at, end, CHUNK_IDS):
            out.append((start, min(start + CHUNK_IDS, end)))
        at = max(at, high)
        if at >= top:
            break
    return out


def fill(session: Session, max_record: int, database: str | None = None) -> int:
    """Derive and store the columns of the records up to ``max_record`` that no row covers yet;
    the number of records derived. With ``database`` (a SQLite file, the caller holding the
    write lock) a forked reader derives half the ranges.

    On PostgreSQL the caller must hold ``lock_records``: a record with a lower id may otherwise
    still be uncommitted, and a range stored without it would never hold it.
    """
    session.execute(delete(GradingColumns).where(GradingColumns.layout != LAYOUT))
    missing = gaps(_covered(session), max_record)
    if not missing:
        return 0
    upper = forked.start(_derive_file, database, missing[len(missing) // 2:]) if database and len(missing) > 1 else None
    with forked.reaped(upper):
        mine = missing[:len(missing) // 2] if upper else missing
        derived = [derive(session, low, high) for low, high in mine]
    if upper:
        derived += upper()
    for (low, high), columns in zip(missing, derived, strict=True):
        store(session, low, high, columns)
    count = sum(map(len, derived))
    log.info("grading_columns_filled", ranges=len(missing), records=count)
    return count


def lock_records(session: Session) -> None:
    """PostgreSQL: wait for every transaction adding records to end, and keep new ones out until
    this transaction ends, so that every id up to the highest is committed. SQLite's single
    writer gives that already."""
    if session.connection().dialect.name == "postgresql":
        session.connection().exec_driver_sql("LOCK TABLE credit_records IN SHARE MODE")


def _blobs(session: Session, ids: list[int]) -> list[bytes]:
    """The ``data`` of these rows. SQLite reads each through its incremental blob I/O: 0.06 s for
    ten million records' arrays, against 0.5 s for the same bytes as a column of a SELECT."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        out = []
        for id_ in ids:
            with raw.blobopen(GradingColumns.__tablename__, "data", id_, readonly=True) as blob:
                out.append(blob.read())
        return out
    found = dict(session.execute(select(GradingColumns.id, GradingColumns.data).where(GradingColumns.id.in_(ids))).all())
    return [bytes(found[i]) for i in ids]


def read(session: Session, max_record: int) -> Columns:
    """Every record up to ``max_record`` (``fill`` first), in id order. The arrays keep their
    stored types, but for the ids (int64)."""
    rows = session.execute(
        select(GradingColumns.id, GradingColumns.low_id, GradingColumns.high_id, GradingColumns.records)
        .where(GradingColumns.layout == LAYOUT, GradingColumns.low_id < max_record).order_by(GradingColumns.low_id)
    ).all()
    at = 0
    for _, low, high, _ in rows:
        if low != at:
            raise RuntimeError(f"grading columns: no stored range covers records {at + 1}–{low}")
        at = high
    if at < max_record:
        raise RuntimeError(f"grading columns: no stored range covers records {at + 1}–{max_record}")
    # Each array made once at its full length and filled a range at a time: no concatenation.
    total = sum(count for *_, count in rows)
    out = {name: np.empty(total, np.int64 if name == "ids" else dtype) for name, dtype in _ARRAYS}
    start = 0
    for (_, low, _, count), data in zip(rows, _blobs(session, [r[0] for r in rows]), strict=True):
        part = Columns.decode(data, low, count, widen=False)
        for name, _ in _ARRAYS:
            out[name][start:start + count] = getattr(part, name)
        start += count
    return Columns(**out).up_to(max_record)


def verify(session: Session) -> list[str]:
    """Each stored range whose arrays differ from the records derived again: what ``audit
    verify`` reports."""
    problems = []
    rows = session.execute(
        select(GradingColumns.low_id, GradingColumns.high_id, GradingColumns.records, GradingColumns.data)
        .where(GradingColumns.layout == LAYOUT).order_by(GradingColumns.low_id)
    )
    for low, high, count, data in rows:
        derived = derive(session, low, high)
        if len(derived) != count or derived.encode(low) != data:
            problems.append(f"grading columns of records {low + 1}–{high}: they no longer match the records ({count} stored, {len(derived)} now)")
    return problems


# --- an import's columns -----------------------------------------------------------------------

class Collector:
    """The columns of the records an import stores a batch at a time, kept while their ids run on
    without a gap and stored a range at a time (``flush``; the import's end calls it)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.parts: list[Columns] = []
        self.low = self.next_id = -1
        self.days: dict[str | None, int] = {None: NO_DATE}
        self.codes: dict[tuple[Any, ...], int] = {}

    def add(self, ids: Sequence[int], enterprise_ids: Sequence[int], codes: Sequence[int],
            occurred_on: Sequence[str], effective_until: Sequence[str | None]) -> None:
        """Records just stored: each one's ``code`` (``code``), its dates as ISO text."""
        if not len(ids):
            return
        first, last = ids[0], ids[-1]
        if first != self.next_id:
            self.flush()
        if last - first != len(ids) - 1:  # ids with gaps: another writer's may be among them
            return
        if not self.parts:
            self.low = first - 1
        self.parts.append(Columns(
            np.arange(first, last + 1, dtype=np.int64), np.array(enterprise_ids, np.int64),
            np.array(remembered_each(self.days, occurred_on, _day), np.int64),
            np.array(remembered_each(self.days, effective_until, _day), np.int64), np.array(codes, np.int64)))
        self.next_id = last + 1
        if last - self.low >= CHUNK_IDS:
            self.flush()

    def code(self, kind: Any, severity: Any, sector: Any, substantiated: bool | None, result_codes: str | None) -> int:
        """sector · 32 + category of a record with these details, by the very SQL a grading
        derives a record's code with; remembered (a few hundred distinct in a whole import)."""
        details = tuple(getattr(v, "value", v) for v in (kind, severity, sector, substantiated, result_codes))
        code = self.codes.get(details)
        if code is None:
            sql = (f"SELECT {code_sql()} FROM (SELECT CAST(:kind AS VARCHAR(32)) AS kind, CAST(:severity AS VARCHAR(32)) AS severity,"
                   " CAST(:sector AS VARCHAR(32)) AS sector, CAST(:substantiated AS BOOLEAN) AS substantiated,"
                   " CAST(:result_codes AS VARCHAR(64)) AS result_codes) r")
            names = ("kind", "severity", "sector", "substantiated", "result_codes")
            code = self.codes[details] = int(self.session.execute(text(sql), dict(zip(names, details))).scalar_one())
        return code

    def flush(self) -> None:
        if self.parts:
            columns = Columns.join(self.parts)
            store(self.session, self.low, int(columns.ids[-1]), columns)
        self.parts, self.next_id = [], -1


def _day(value: str | dt.date | None) -> int:
    if value is None:
        return NO_DATE
    return day_number(value if isinstance(value, dt.date) else dt.date.fromisoformat(value))
