"""Bulk inserts through the DBAPI cursor: the import hot path, without per-row ORM or Core work."""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
import zlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.orm import Session

from credit import audit
from credit.audit_chain import row_hash, row_key
from credit.pg_copy import copy_rows

# sqlite3 binds str and int subclasses (our StrEnum members, bool) as their base values;
# dates need an adapter, the same ISO text SQLAlchemy's SQLite Date type stores.
sqlite3.register_adapter(dt.date, dt.date.isoformat)


def _native_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.value if isinstance(v, enum.Enum) else v for v in row)


# Below this many rows a staging table costs more than it saves.
STAGE_FROM_ROWS = 200


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], *, stage: bool = True) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) in the session's transaction.

    On SQLite, batches of ``STAGE_FROM_ROWS`` or more go through a staging table unless
    ``stage`` is false (for tables that are themselves temporary and unconstrained).
    """
    if not rows:
        return
    _tell_audit(session, table, columns, rows)
    _insert(session, table, columns, rows, stage)


def allocate_ids(session: Session, table: Table, count: int) -> range | list[int]:
    """``count`` unused ids for ``table``'s integer key, ascending.

    PostgreSQL takes them from the column's sequence, as a plain INSERT would. SQLite counts on
    from the highest id, as it would itself: a concurrent writer cannot slip in between, since
    SQLite refuses a transaction's write when another committed after its first read.
    """
    (pk,) = table.primary_key.columns
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # The lock the INSERT would take anyway, taken before the ids: a reader waiting for every
        # writer of the table to end (credit.grading_columns.lock_records) then waits for this
        # one too, not only for those that have inserted already.
        connection.exec_driver_sql(f"LOCK TABLE {connection.dialect.identifier_preparer.quote(table.name)} IN ROW EXCLUSIVE MODE")
        query = sa.text("SELECT nextval(pg_get_serial_sequence(:table, :column)) FROM generate_series(1, :count)")
        return sorted(connection.execute(query, {"table": table.name, "column": pk.name, "count": count}).scalars())
    top = connection.execute(sa.select(sa.func.max(pk))).scalar() or 0
    return range(top + 1, top + 1 + count)


# SQLite's limit on the parameters of one statement is 32,766.
IN_CHUNK = 30_000


def fetch_in(session: Session, query: str, column: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``query`` (a SELECT with no WHERE) whose ``column`` is one of ``values``,
    through the DBAPI cursor: for the import's lookups, a batch at a time, where SQLAlchemy's
    expanding IN and its Row objects cost twice the query itself."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return connection.exec_driver_sql(f"{query} WHERE {column} = ANY(%s)", (list(values),)).fetchall()
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), IN_CHUNK):
        some = tuple(values[start:start + IN_CHUNK])
        rows += connection.exec_driver_sql(f"{query} WHERE {column} IN ({', '.join(['?'] * len(some))})", some).fetchall()
    return rows


def insert_new_rows(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]],
                    *, hashes: Sequence[str] | None = None) -> None:
    """INSERT new rows that carry every column of ``table``: ids from ``allocate_ids``, or keys
    made of such ids (a new visit's items).

    The audit trail is given each row's hash from the values written, as it would read them
    back: a million-row import skips reading its rows again. It keeps them in packs
    (``audit_packs``), not a row each. So the values must be those the
    database returns: enum members, dates, bools, never 1 for True. A test compares the two.
    ``hashes``, one per row, are hashes the caller made itself (the records import assembles
    them from JSON the parsing process encoded).
    """
    if not rows:
        return
    order = [columns.index(c.name) for c in table.columns]  # ValueError: a column is missing
    key = [columns.index(c.name) for c in table.primary_key.columns]
    if len(key) == 1:
        (k,) = key
        keys = [str(row[k]) for row in rows]  # an integer id: its text
    elif all(type(row[i]) is int for row in rows for i in key):
        keys = ["|".join([str(row[i]) for i in key]) for row in rows]  # row_key of integers, without plain()
    else:
        keys = [row_key([row[i] for i in key]) for row in rows]
    if hashes is None:
        hashes = [row_hash([row[i] for i in order]) for row in rows]
    audit.note_new(session, table, keys, list(hashes))
    _insert(session, table, columns, rows, True)


def insert_fresh_rows(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """The INSERT of :func:`insert_new_rows` alone: the caller gives the audit trail the rows'
    packs itself (audit.note_packed), made beside the insert."""
    if rows:
        _insert(session, table, columns, rows, True)


def _insert(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], stage: bool) -> None:
    connection = session.connection()
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    if dialect.name == "postgresql" and len(rows) >= STAGE_FROM_ROWS:
        copy_rows(connection, table.name, columns, map(_native_row, rows))
    elif dialect.name != "sqlite":
        connection.exec_driver_sql(sql, [_native_row(r) for r in rows])
    elif not stage or len(rows) < STAGE_FROM_ROWS:
        connection.exec_driver_sql(sql, rows)
    else:
        # Binding straight into a table with foreign keys, CHECKs and indexes cost 21 µs a row
        # here; binding into a bare temporary table and copying with one INSERT … SELECT, 12 µs.
        names = ", ".join(quote(c) for c in columns)
        # Named for the columns too: a pooled connection keeps its temporary tables.
        staging = quote(f"stage_{table.name}_{zlib.crc32(names.encode()):08x}")
        connection.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS SELECT {names} FROM {quote(table.name)} WHERE 0")
        connection.exec_driver_sql(f"INSERT INTO temp.{staging} ({names}) VALUES ({', '.join([mark] * len(columns))})", rows)
        connection.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM temp.{staging} ORDER BY rowid")
        connection.exec_driver_sql(f"DELETE FROM temp.{staging}")


def _tell_audit(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Tell the audit trail which rows these are: by key when the rows carry it, else as new ids."""
    pk = [c.name for c in table.primary_key.columns]
    if all(name in columns for name in pk):
        positions = [columns.index(name) for name in pk]
        audit.touch(session, table, ([row[i] for i in positions] for row in rows))
    else:
        audit.touch_fresh(session, table)
