"""Bulk inserts through the DBAPI cursor: the import hot path, without per-row ORM or Core work."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

Converter = Callable[[Any], Any]


def _sqlite_value(value: Any) -> Any:
    # What SQLAlchemy's SQLite types would store: ISO text for dates, 0/1 for flags.
    if value is None or type(value) in (str, int, float):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _native_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) with one ``executemany`` in the session's transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    convert = _sqlite_value if dialect.name == "sqlite" else _native_value
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    connection.exec_driver_sql(sql, [tuple(convert(v) for v in row) for row in rows])
