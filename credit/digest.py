"""Short, stable digests of row contents, for change detection and re-import checks. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

_SEPARATOR = "\x1f"  # ASCII unit separator: cannot occur in parsed cell text


def canonical(values: Iterable[Any]) -> str:
    """One string for a sequence of typed values.

    ``str`` spells each type one way: a StrEnum member as its code, a date as ISO
    text, a flag as True/False; None becomes "" (parsed text is never empty).
    """
    return _SEPARATOR.join(["" if v is None else str(v) for v in values])


def digest64(text: str) -> int:
    """A signed 64-bit BLAKE2b digest (fits a BIGINT column)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def digest128(text: str) -> tuple[int, int]:
    """A 128-bit BLAKE2b digest as two signed 64-bit halves."""
    raw = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return int.from_bytes(raw[:8], "big", signed=True), int.from_bytes(raw[8:], "big", signed=True)
