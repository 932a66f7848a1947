"""Finding ids in arrays of ids, for the bulk readers (grading, the draw's population)."""

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
