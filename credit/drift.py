"""Drift between two grading runs: the tier transition matrix and the population stability index."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from credit.grading import get_run, tier_counts
from credit.grading_models import Grade
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
    ga, gb = aliased(Grade), aliased(Grade)
    matrix = {t: dict.fromkeys(TIERS, 0) for t in TIERS}
    pairs = (
        select(ga.tier, gb.tier, func.count())
        .join(gb, (gb.enterprise_id == ga.enterprise_id) & (gb.run_id == b.id))
        .where(ga.run_id == a.id)
        .group_by(ga.tier, gb.tier)
    )
    both = 0
    for tier_a, tier_b, n in session.execute(pairs):
        matrix[tier_a][tier_b] = n
        both += n
    counts_a, counts_b = tier_counts(a), tier_counts(b)
    index = psi(counts_a, counts_b)
    return Drift(a.id, b.id, counts_a, counts_b, matrix, a.enterprises - both, b.enterprises - both, index, verdict(index))
