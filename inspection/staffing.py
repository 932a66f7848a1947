"""From dated visits and inspectors to teams: eligibility, the global flow, then the CP-SAT
polish of days split between districts. Pure (facts in, teams out), so the assignment and its
verification run exactly the same code on the same facts."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inspection import grouping, matching
from inspection.eligibility import Eligibility, InspectorFacts, VisitFacts, eligibility, explain, zone, zones

# A cooperating inspector from another district of the zone costs one lottery range more than a
# local one (属地管辖 first), still below the balance weight: cooperation is used where it
# evens the load or fills a gap, and among equals the local inspector is preferred.
AWAY_COST = matching.LOTTERY_RANGE
SHORT_LINES = 10  # visits named in a shortage message; the count covers them all


@dataclass(frozen=True)
class Params:
    team_size: int
    per_day: int
    per_task: int
    cross_station: bool
    lead: str  # the lead department's code: it sends the rest of a team
    days: tuple[dt.date, ...]  # the window's working days
    cooperation: tuple[tuple[str, ...], ...] = ()  # groups of cooperating districts

    def as_dict(self) -> dict[str, object]:
        return {
            "team_size": self.team_size, "visits_per_day": self.per_day, "visits_per_task": self.per_task,
            "cross_station": self.cross_station, "lead": self.lead, "working_days": [d.isoformat() for d in self.days],
            "cooperation": [list(g) for g in self.cooperation], "lottery_range": matching.LOTTERY_RANGE,
            "balance_weight": matching.BALANCE_WEIGHT, "away_cost": AWAY_COST,
            "block_dtime": grouping.BLOCK_DTIME, "block_wall_seconds": grouping.BLOCK_WALL_SECONDS,
        }


@dataclass
class Staffing:
    teams: dict[int, list[int]]  # visit id → inspector ids
    load: np.ndarray  # visits per inspector, in the order of the inspectors given
    pairs: int
    grouping: grouping.Grouping
    build_seconds: float
    solve_seconds: float
    shortage: str | None  # when some visit cannot be staffed: how many and why


def cpsat_seed(key: bytes) -> int:
    """CP-SAT's random seed, from the task's draw key (recorded before anything is solved)."""
    return int.from_bytes(hashlib.sha256(key + b"\ncp-sat").digest()[:4], "big") & 0x7FFFFFFF


def staff(visits: Sequence[VisitFacts], inspectors: Sequence[InspectorFacts], params: Params, key: bytes) -> Staffing:
    started = time.perf_counter()
    partners = zones(params.cooperation)
    found = eligibility(visits, inspectors, params.cross_station, partners)
    slots: list[tuple[int, str, int]] = []
    for n, visit in enumerate(visits):
        slots.extend((n, d, count) for d, count in matching.team_slots(list(visit.items), params.team_size, params.lead))
    index = {i.id: n for n, i in enumerate(inspectors)}
    day_index = {d: n for n, d in enumerate(params.days)}
    outside = next((v for v in visits if v.day not in day_index), None)
    if outside is not None:
        raise ValueError(f"visit {outside.id} ({outside.uscc}) is dated {outside.day}, not a working day of the window")
    districts = sorted({v.district for v in visits} | {i.district for i in inspectors})
    district_index = {d: n for n, d in enumerate(districts)}
    zone_index = {d: n for n, d in enumerate(sorted({zone(partners, d) for d in districts}))}
    pair_slot, pair_inspector, labels, away = [], [], [], []
    for s, (v, department, _) in enumerate(slots):
        visit = visits[v]
        for inspector_id in found.eligible[(visit.id, department)]:
            inspector = inspectors[index[inspector_id]]
            pair_slot.append(s)
            pair_inspector.append(index[inspector_id])
            labels.append(f"{visit.uscc}:{inspector.number}")
            away.append(inspector.district != visit.district)
    slot_visit = np.array([s[0] for s in slots], np.int64)
    pair_slot_a = np.array(pair_slot, np.int64)
    visit_day = np.array([day_index[v.day] for v in visits], np.int64)
    visit_district = np.array([district_index[v.district] for v in visits], np.int64)
    visit_zone = np.array([zone_index[zone(partners, v.district)] for v in visits], np.int64)
    pair_visit = slot_visit[pair_slot_a] if len(pair_slot_a) else pair_slot_a
    # Fair shares are taken inside each department × zone (an inspector's own district, or its
    # cooperation group): that is all the demand they can serve. Shares of the whole department
    # left a district a few visits short of its targets, and the flow then put the whole
    # shortfall on a few of its inspectors (bench/assign.py: 52–68 visits among equals).
    groups = sorted({(i.department, zone(partners, i.district)) for i in inspectors}
                    | {(d, zone(partners, visits[v].district)) for v, d, _ in slots})
    group_index = {g: n for n, g in enumerate(groups)}
    demand = np.zeros(len(groups))
    for v, department, count in slots:
        demand[group_index[(department, zone(partners, visits[v].district))]] += count
    inspector_group = np.array([group_index[(i.department, zone(partners, i.district))] for i in inspectors], np.int64)
    availability = np.array([sum(on_duty(i, day) for day in params.days) for i in inspectors], float)
    cost = matching.lottery(key, labels) + AWAY_COST * np.array(away, np.int64)
    instance = matching.Instance(
        slot_visit=slot_visit, slot_count=np.array([s[2] for s in slots], np.int64),
        capacity=np.full(len(inspectors), params.per_task, np.int64),
        target=matching.targets(demand, inspector_group, availability),
        pair_slot=pair_slot_a, pair_inspector=np.array(pair_inspector, np.int64),
        pair_day=visit_day[pair_visit], pair_cost=cost, per_day=params.per_day,
    )
    built = time.perf_counter() - started
    solution = matching.solve(instance)
    if not solution.complete:
        return Staffing({}, solution.load, len(labels), grouping.Grouping(solution.chosen, 0, 0), built,
                        time.perf_counter() - started - built, _shortage(visits, slots, solution, found))
    pairs = grouping.Pairs(instance.pair_inspector, pair_slot_a, instance.pair_day, cost, visit_district[pair_visit], visit_zone[pair_visit])
    grouped = grouping.group(pairs, solution.chosen, cpsat_seed(key))
    teams: dict[int, list[int]] = defaultdict(list)
    for p in np.flatnonzero(grouped.chosen).tolist():
        teams[visits[slot_visit[pair_slot[p]]].id].append(inspectors[pair_inspector[p]].id)
    load = np.bincount(instance.pair_inspector[grouped.chosen], minlength=len(inspectors))
    return Staffing(dict(teams), load, len(labels), grouped, built, time.perf_counter() - started - built, None)


def result_text(visits: Sequence[VisitFacts], teams: dict[int, list[int]], numbers: dict[int, str]) -> bytes:
    """The assignment as sorted lines "USCC date inspector,inspector": what its hash covers."""
    return "".join(sorted(f"{v.uscc} {v.day} {','.join(sorted(numbers[i] for i in teams.get(v.id, ())))}\n" for v in visits)).encode()


def on_duty(inspector: InspectorFacts, day: dt.date) -> bool:
    """Active, certified and not on leave that day (availability, for balance)."""
    return (inspector.active and inspector.certificate_expires is not None and inspector.certificate_expires >= day
            and not any(start <= day <= end for start, end in inspector.leave))


def _shortage(visits: Sequence[VisitFacts], slots: list[tuple[int, str, int]], solution: matching.Solution, found: Eligibility) -> str:
    """How many visits cannot be staffed, and why, for the first few."""
    short_visits: dict[int, list[str]] = defaultdict(list)
    for s, missing in enumerate(solution.short.tolist()):
        if missing > 0:
            v, department, count = slots[s]
            key = (visits[v].id, department)
            short_visits[v].append(explain(department, count, len(found.eligible[key]), found.refused[key]))
    lines = [f"  {visits[v].uscc} on {visits[v].day}: {'; '.join(reasons)}" for v, reasons in sorted(short_visits.items())[:SHORT_LINES]]
    more = f"\n  … and {len(short_visits) - SHORT_LINES} more" if len(short_visits) > SHORT_LINES else ""
    return f"{len(short_visits)} of {len(visits)} visits cannot be staffed with every rule held; nothing was assigned:\n" + "\n".join(lines) + more
