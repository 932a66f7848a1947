"""Short, stable digests of row contents, for change detection and re-import checks. Pure."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Iterable
from typing import Any

_SEPARATOR = "\x1f"  # ASCII unit separator: cannot occur in parsed cell text


def canonical(values: Iterable[Any]) -> str:
    """One string for a sequence of typed values; None, enums, dates and flags spelled one way."""
    parts = []
    for value in values:
        if value is None:
            parts.append("")
        elif isinstance(value, enum.Enum):
            parts.append(str(value.value))
        elif isinstance(value, bool):
            parts.append("1" if value else "0")
        elif isinstance(value, dt.date):
            parts.append(value.isoformat())
        else:
            parts.append(str(value))
    return _SEPARATOR.join(parts)


def digest64(text: str) -> int:
    """A signed 64-bit BLAKE2b digest (fits a BIGINT column)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def digest128(text: str) -> tuple[int, int]:
    """A 128-bit BLAKE2b digest as two signed 64-bit halves."""
    raw = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return int.from_bytes(raw[:8], "big", signed=True), int.from_bytes(raw[8:], "big", signed=True)
