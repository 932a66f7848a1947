"""Drift between two grading runs: the tier transition matrix and the population stability index."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from credit import grade_store
from credit.grading import get_run, tier_counts
from credit.policy import TIERS

# A share of 0 would make the index infinite; the usual practice is a small floor.
PSI_FLOOR = 0.0001
STABLE, WATCH = 0.10, 0.25


def psi(before: dict[str, int], after: dict[str, int]) -> float:
    """Population stability index Σ (q − p)·ln(q/p) over the tiers, shares floored at PSI_FLOOR."""
    total_before, total_after = sum(before.values()) or 1, sum(after.values()) or 1
    index = 0.0
    for tier in TIERS:
        p = max(before.get(tier, 0) / total_before, PSI_FLOOR)
        q = max(after.get(tier, 0) / total_after, PSI_FLOOR)
        index += (q - p) * math.log(q / p)
    return index


def verdict(index: float) -> str:
    return "stable" if index < STABLE else "watch" if index < WATCH else "shift"


@dataclass
class Drift:
    run_a: int
    run_b: int
    counts_a: dict[str, int]
    counts_b: dict[str, int]
    matrix: dict[str, dict[str, int]]  # tier in A → tier in B → enterprises graded in both
    only_a: int
    only_b: int
    psi: float
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["psi"] = round(self.psi, 6)
        return data


def drift(session: Session, run_a: int, run_b: int) -> Drift:
    a, b = get_run(session, run_a), get_run(session, run_b)
    ga, gb = (grade_store.load(session, r.id, with_reasons=False) for r in (a, b))
    # Enterprises graded in both runs: their tiers side by side (ids ascending in each run).
    _, in_a, in_b = np.intersect1d(ga.enterprise, gb.enterprise, assume_unique=True, return_indices=True)
    cells = np.bincount(ga.tier[in_a] * len(TIERS) + gb.tier[in_b], minlength=len(TIERS) ** 2).reshape(len(TIERS), len(TIERS))
    matrix = {ta: {tb: int(cells[i, j]) for j, tb in enumerate(TIERS)} for i, ta in enumerate(TIERS)}
    both = len(in_a)
    counts_a, counts_b = tier_counts(a), tier_counts(b)
    index = psi(counts_a, counts_b)
    return Drift(a.id, b.id, counts_a, counts_b, matrix, a.enterprises - both, b.enterprises - both, index, verdict(index))
