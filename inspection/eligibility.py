"""Who may inspect which visit, and, for everyone who may not, the first rule that stops them.
Pure: the facts come in as plain objects; the service reads them from the directories.

Rules, in the order a refusal is named (domain.md §2, §3):
  inactive        not 在岗
  other_district  属地管辖: inspectors work in their own district, or, when the task sets
                  cooperating districts (跨区协作), in any district of their zone
  not_qualified   not qualified for every item of the visit in their department (by item code
                  or item category)
  certificate     no enforcement certificate (执法证), or it expires before the visit day
  leave           on leave on the visit day
  conflict        a declared conflict with the enterprise (回避)
  previous_visit  inspected this enterprise on its previous visit
  own_station     所所交叉 (cross-station mode): from the enterprise's own station
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

REASONS = ("inactive", "other_district", "not_qualified", "certificate", "leave", "conflict", "previous_visit", "own_station")
REASON_TEXT = {
    "inactive": "离岗 (not active)",
    "other_district": "from another district (属地管辖)",
    "not_qualified": "not qualified for the items",
    "certificate": "no enforcement certificate valid on the day",
    "leave": "on leave that day",
    "conflict": "declared conflict (回避)",
    "previous_visit": "inspected the previous visit",
    "own_station": "from the enterprise's own station (所所交叉)",
}


@dataclass(frozen=True)
class InspectorFacts:
    id: int
    department: str
    district: str
    station: str | None
    active: bool
    certificate_expires: dt.date | None  # None: no certificate
    leave: tuple[tuple[dt.date, dt.date], ...] = ()
    qualifications: frozenset[str] = frozenset()  # item codes and item categories
    conflicts: frozenset[str] = frozenset()  # USCCs
    number: str = ""  # the public inspector number (执法人员编号): the lottery and the records use it


@dataclass(frozen=True)
class ItemFacts:
    code: str
    category: str | None


@dataclass(frozen=True)
class VisitFacts:
    id: int
    uscc: str
    district: str
    station: str | None
    day: dt.date
    items: Mapping[str, Sequence[ItemFacts]]  # department code → its items on this visit
    previous: frozenset[int] = frozenset()  # inspectors of the enterprise's previous visit


Zones = Mapping[str, Sequence[str]]  # district → the districts whose inspectors may work there


def zones(cooperation: Sequence[Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """The zones of cooperating districts (跨区协作) as a lookup: each district of a group → the
    whole group, sorted. Districts in no group keep their own inspectors only."""
    return {d: tuple(sorted(group)) for group in cooperation for d in group}


def zone(partners: Zones, district: str) -> tuple[str, ...]:
    """The districts whose inspectors may work in ``district``: its group, or itself alone."""
    return tuple(partners.get(district, (district,)))


def refusal(visit: VisitFacts, inspector: InspectorFacts, cross_station: bool, partners: Zones | None = None) -> str | None:
    """The first rule that keeps ``inspector`` off ``visit`` (for their own department's items),
    or None when they may inspect it. ``partners``: see :func:`zones`."""
    if not inspector.active:
        return "inactive"
    if inspector.district != visit.district and inspector.district not in (partners or {}).get(visit.district, ()):
        return "other_district"
    items = visit.items.get(inspector.department, ())
    if not items or not all(i.code in inspector.qualifications or (i.category is not None and i.category in inspector.qualifications) for i in items):
        return "not_qualified"
    if inspector.certificate_expires is None or inspector.certificate_expires < visit.day:
        return "certificate"
    if any(start <= visit.day <= end for start, end in inspector.leave):
        return "leave"
    if visit.uscc in inspector.conflicts:
        return "conflict"
    if inspector.id in visit.previous:
        return "previous_visit"
    if cross_station and visit.station is not None and inspector.station == visit.station:
        return "own_station"
    return None


@dataclass
class Eligibility:
    """Per (visit, department): the eligible inspectors, and why the others of that department
    and district are not."""

    eligible: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    refused: dict[tuple[int, str], Counter[str]] = field(default_factory=dict)


def eligibility(visits: Sequence[VisitFacts], inspectors: Sequence[InspectorFacts], cross_station: bool, partners: Zones | None = None) -> Eligibility:
    """Check every inspector of each department a visit needs. Inspectors of districts outside
    the visit's zone are counted once per slot without being looked at one by one (属地管辖
    rules them out)."""
    partners = partners or {}
    by_place: dict[tuple[str, str], list[InspectorFacts]] = {}
    per_department: Counter[str] = Counter()
    for inspector in inspectors:
        by_place.setdefault((inspector.department, inspector.district), []).append(inspector)
        per_department[inspector.department] += 1
    out = Eligibility()
    for visit in visits:
        for department in sorted(visit.items):
            local = [i for d in zone(partners, visit.district) for i in by_place.get((department, d), [])]
            ok, refused = [], Counter()
            for inspector in local:
                reason = refusal(visit, inspector, cross_station, partners)
                if reason is None:
                    ok.append(inspector.id)
                else:
                    refused[reason] += 1
            if per_department[department] > len(local):
                refused["other_district"] += per_department[department] - len(local)
            out.eligible[(visit.id, department)] = ok
            out.refused[(visit.id, department)] = refused
    return out


def explain(department: str, needed: int, eligible: int, refused: Mapping[str, int]) -> str:
    """Why a slot cannot be staffed, in words: "needs 2 SCJG inspectors; 1 eligible; of the
    others: 3 on leave that day, 1 declared conflict (回避)"."""
    reasons = ", ".join(f"{n} {REASON_TEXT[r]}" for r in REASONS if (n := refused.get(r, 0)))
    if eligible >= needed:
        return f"needs {needed} {department} inspector(s); {eligible} eligible, but all of them are at their daily or task caps"
    return f"needs {needed} {department} inspector(s); {eligible} eligible" + (f"; of the others: {reasons}" if reasons else "; the department has no inspectors here")
