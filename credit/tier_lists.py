"""The lists staff work from: the enterprises of some tiers in a grading run, worst score first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import grade_store
from credit.grading_models import GradingRun
from credit.models import District, Enterprise
from credit.policy import TIERS

# Enterprise ids per query (SQLite allows 32,766 parameters).
_CHUNK = 30_000


def tier_list(session: Session, run: GradingRun, tiers: Sequence[str], districts: Sequence[str] = ()) -> list[tuple[Any, ...]]:
    """(USCC, name, district code, district, station, tier, score, reasons) of each enterprise of
    ``tiers`` in ``run`` (in ``districts`` if any are given), highest score first, then by USCC."""
    grades = grade_store.load(session, run.id)
    chosen = np.flatnonzero(np.isin(grades.tier, [TIERS.index(t) for t in tiers]))
    query = (select(Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.district_code, District.name, Enterprise.station)
             .join(District, District.code == Enterprise.district_code))
    if districts:
        query = query.where(Enterprise.district_code.in_(districts))
    ids = grades.enterprise[chosen].tolist()
    found: dict[int, tuple[Any, ...]] = {}
    for start in range(0, len(ids), _CHUNK):
        found.update((r[0], tuple(r[1:])) for r in session.execute(query.where(Enterprise.id.in_(ids[start:start + _CHUNK]))))
    rows = [(*found[e], grades.tier_of(i), int(grades.score[i]) / 100, grades.reasons_of(i))
            for e, i in zip(ids, chosen.tolist(), strict=True) if e in found]
    rows.sort(key=lambda r: (-r[6], r[0]))
    return rows
