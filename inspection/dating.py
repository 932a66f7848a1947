"""The date stage: every visit gets a working day inside the task window, before teams are made.
Pure: the working days come from the caller (chinese-calendar, or a loaded holiday file).

Inspectors work in their own district (属地管辖), so an inspector's visits of a day are in one
district by construction. Each district's visits are spread evenly over the window in the order
of their draw rank, so every day carries its share of each district and no district's
inspectors are asked for more in a day than elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence


def spread(visits: Sequence[tuple[int, str, int]], days: Sequence[dt.date]) -> dict[int, dt.date]:
    """``visits`` are (visit id, district, rank); the k-th of a district's n visits by rank goes
    to day floor(k × len(days) / n)."""
    if not days:
        raise ValueError("the window has no working day")
    by_district: dict[str, list[tuple[int, int]]] = {}
    for visit, district, rank in visits:
        by_district.setdefault(district, []).append((rank, visit))
    out: dict[int, dt.date] = {}
    for district in sorted(by_district):
        ranked = sorted(by_district[district])
        for k, (_, visit) in enumerate(ranked):
            out[visit] = days[k * len(days) // len(ranked)]
    return out
