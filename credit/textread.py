"""Integers read from SQLite as one text: ``group_concat`` joins a column's values with commas,
and numpy parses them in C, 32 ns a number. Through a cursor each value would become a Python
object first (about 0.35 µs), the most expensive part of reading a million-row table."""

from __future__ import annotations

import numpy as np

from credit.errors import SpotcheckError


def parse_ints(text: str | None, expected: int, what: str) -> np.ndarray:
    """The comma-separated integers of ``text`` (None: none), which must number ``expected``:
    a NULL drops out of ``group_concat``, and no value may be lost silently."""
    try:
        values = np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)
    except ValueError:  # numpy stops at a value it cannot parse
        values = None
    if values is None or len(values) != expected:
        found = "not all" if values is None else f"{len(values)}"
        raise SpotcheckError(f"{what}: {expected} numbers expected, {found} readable (a value the database cannot read?)")
    return values


def parse_fixed(text: str | None, expected: int, width: int, what: str) -> np.ndarray:
    """``expected`` values of ``width`` ASCII characters each, side by side in ``text`` (USCCs:
    18 characters, so they need no separator), as a bytes array (dtype ``S{width}``)."""
    raw = (text or "").encode()
    if len(raw) != width * expected:
        raise SpotcheckError(f"{what}: {expected} values of {width} characters expected, {len(raw)} bytes read (a value of another length?)")
    return np.frombuffer(raw, dtype=f"S{width}").copy()


def concat_sql(dialect: str, value: str, separator: str) -> str:
    """The aggregate that joins ``value`` (as text) with ``separator``, in the order the query
    feeds it rows (SQLite's group_concat cannot be given another in its version 3.40). Two such
    aggregates of one query list the same rows in the same order."""
    if dialect == "sqlite":
        return f"group_concat({value}, '{separator}')"
    return f"string_agg(({value})::text, '{separator}')"
