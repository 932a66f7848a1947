"""Finding ids in arrays of ids, and equal rows in arrays of rows, for the bulk readers and the
grading (numpy only)."""

from __future__ import annotations

import numpy as np


def positions(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The index in ``keys`` (distinct ids, in any order) of each wanted id, or -1."""
    if not len(keys) or not len(wanted):
        return np.full(len(wanted), -1, np.int64)
    top = int(max(keys.max(), wanted.max()))
    if keys.min() >= 0 and wanted.min() >= 0 and top <= 4 * (len(keys) + len(wanted)) + 1000:
        # Ids are nearly dense: a table by id beats ten million binary searches in random order
        # (1.2 s against 4.2 s for 9.4M records of 1M enterprises).
        table = np.full(top + 1, -1, np.int64)
        table[keys] = np.arange(len(keys))
        return table[wanted]
    order = np.argsort(keys, kind="stable")
    at = np.minimum(np.searchsorted(keys[order], wanted), len(keys) - 1)
    return np.where(keys[order][at] == wanted, order[at], -1)


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a 2-D integer array, sorted, and each row's number among them.
    Found by sorting (``np.unique(axis=0)`` takes six times as long); by one int64 key
    (``np.unique``) when the columns fit in one."""
    if not len(rows):
        return np.zeros(0, np.int64), rows
    low, high = rows.min(axis=0), rows.max(axis=0)
    widths = [max(1, int(h - lo).bit_length()) for lo, h in zip(low.tolist(), high.tolist(), strict=True)]
    if sum(widths) <= 63:
        key = np.zeros(len(rows), np.int64)
        for column, lo, width in zip(rows.T, low.tolist(), widths, strict=True):
            key <<= width
            key |= column - lo
        _, first, number = np.unique(key, return_index=True, return_inverse=True)
        return number.reshape(-1), rows[first]
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.ones(len(ordered), bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    number = np.empty(len(ordered), np.int64)
    number[order] = np.cumsum(new) - 1
    return number, ordered[new]
