"""The date stage: every visit gets a working day inside the task window, before teams are made.
Pure: the working days come from the caller (chinese-calendar, or a loaded holiday file).

Each district's visits are spread evenly over the window, so every day carries its share of the
district and no district's inspectors are asked for more in a day than elsewhere. Inside a
district the visits are also spread evenly per kind (the set of departments a visit needs):
with different ratios per item the draw rank says which items drew an enterprise, and spreading
by rank alone piled the visits of the high-ratio departments at the end of the window, more
than their inspectors could do in a day (bench/assign.py found 143 such district × department ×
day cells). Each kind's k-th of n visits (by rank) sits at the middle of its share, (k + ½)/n,
of the window; the district's visits are put in that order (ties by rank) and dealt out evenly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Sequence
from fractions import Fraction


def spread(visits: Sequence[tuple[int, str, Hashable, int]], days: Sequence[dt.date]) -> dict[int, dt.date]:
    """``visits`` are (visit id, district, kind, rank). The j-th of a district's n visits, in the
    order above, goes to day floor(j × len(days) / n)."""
    if not days:
        raise ValueError("the window has no working day")
    by_district: dict[str, dict[Hashable, list[tuple[int, int]]]] = {}
    for visit, district, kind, rank in visits:
        by_district.setdefault(district, {}).setdefault(kind, []).append((rank, visit))
    out: dict[int, dt.date] = {}
    for district in sorted(by_district):
        order = []
        for members in by_district[district].values():
            members.sort()
            n = len(members)
            order.extend((Fraction(2 * k + 1, 2 * n), rank, visit) for k, (rank, visit) in enumerate(members))
        order.sort()
        for j, (_, _, visit) in enumerate(order):
            out[visit] = days[j * len(days) // len(order)]
    return out


def kind(departments: Sequence[str]) -> str:
    """A visit's kind for the date stage: its departments, sorted and joined."""
    return ",".join(sorted(departments))
