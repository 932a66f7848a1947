"""Bulk inserts through the DBAPI cursor: the import hot path, without per-row ORM or Core work."""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

# sqlite3 binds str and int subclasses (our StrEnum members, bool) as their base values;
# dates need an adapter, the same ISO text SQLAlchemy's SQLite Date type stores.
sqlite3.register_adapter(dt.date, dt.date.isoformat)


def _native_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.value if isinstance(v, enum.Enum) else v for v in row)


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) with one ``executemany`` in the session's transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    connection.exec_driver_sql(sql, rows if dialect.name == "sqlite" else [_native_row(r) for r in rows])
