"""Teams for the visits of a task as one global min-cost flow (OR-Tools SimpleMinCostFlow). Pure.

The flow expresses the core rules exactly (performance.md §3: 50,000 visits × 2,000 inspectors,
1M eligible pairs, optimal in 1.5 s, where monolithic CP-SAT finds nothing in 300 s):

    source ──(balance arcs, up to the task cap)──▶ inspector
    inspector ──(up to the daily cap)──▶ inspector-day
    inspector-day ──(1, lottery cost)──▶ slot = (visit, department) ──▶ demand: inspectors needed

* Only eligible pairs get an arc (qualified, certified and not on leave on the visit's day, not
  recused): the caller decides eligibility; this module never sees why.
* An inspector has one department, and a visit one slot per department, so nobody is counted
  twice on a visit; every department of a visit gets at least one inspector, and the team at
  least its size (:func:`team_slots`).
* Balance: each inspector's target is their group's demand (a department in a district or
  cooperation zone) shared by availability. Load up
  to the target's floor is rewarded, up to its ceiling is free, and each visit beyond costs more
  than the last (convex), so loads stay within one visit of the targets wherever the rules allow.
* The lottery: every (enterprise, inspector) pair costs a pseudo-random 0–999,999 derived from the
  task's draw key (SHA-256), so the pick among the eligible is random and not chosen. The balance
  weight is above the lottery's range, so balance always wins, and with a range this wide the
  optimum is unique: any exact solver finds the same teams.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

LOTTERY_RANGE = 1_000_000
BALANCE_WEIGHT = 10 * LOTTERY_RANGE  # above any lottery cost: balance before chance
# Extra cost of each visit beyond an inspector's target ceiling, in balance weights: convex.
OVERLOAD_STEPS = (1, 2, 4, 8)


def lottery(key: bytes, pairs: Sequence[str]) -> np.ndarray:
    """Each pair's lottery cost: SHA-256(key ‖ pair), first 8 bytes big-endian, modulo 1,000,000.
    A pair is spelled "USCC:inspector number", so the cost depends on nothing but the key and
    the two public identifiers (not on database ids)."""
    prefix = hashlib.sha256(key)
    out = np.empty(len(pairs), np.uint64)
    for n, pair in enumerate(pairs):
        h = prefix.copy()
        h.update(pair.encode("utf-8"))
        out[n] = int.from_bytes(h.digest()[:8], "big")
    return (out % np.uint64(LOTTERY_RANGE)).astype(np.int64)


def team_slots(departments: Sequence[str], size: int, lead: str) -> list[tuple[str, int]]:
    """How many inspectors each department of a visit sends: one each, and the rest of the team
    (size minus departments) from the lead department when it takes part, else the first."""
    names = sorted(set(departments))
    if not names:
        raise ValueError("a visit needs at least one department")
    extra = max(0, size - len(names))
    first = lead if lead in names else names[0]
    return [(d, 1 + (extra if d == first else 0)) for d in names]


def targets(demand: np.ndarray, group: np.ndarray, availability: np.ndarray) -> np.ndarray:
    """Each inspector's fair share of their group's demand, in proportion to availability
    (``demand[g]`` is the inspectors group g's slots need; ``group[i]`` indexes it). The caller
    makes a group of those who serve the same slots: a department inside a district or zone."""
    share = np.zeros(len(group), float)
    for d in np.unique(group).tolist():
        mine = group == d
        total = float(availability[mine].sum())
        if total > 0:
            share[mine] = demand[d] * availability[mine] / total
    return share


@dataclass(frozen=True)
class Instance:
    """The flow's input, as parallel arrays (indexes, not database ids).

    Slots: ``slot_visit[s]`` (index into the visits), ``slot_count[s]`` inspectors needed.
    Inspectors: ``capacity[i]`` visits at most in the task, ``target[i]`` their fair load.
    Pairs: inspector ``pair_inspector[p]`` may fill slot ``pair_slot[p]`` on the slot's visit day
    ``pair_day[p]`` at lottery cost ``pair_cost[p]``. ``per_day`` caps an inspector's visits a day.
    """

    slot_visit: np.ndarray
    slot_count: np.ndarray
    capacity: np.ndarray
    target: np.ndarray
    pair_slot: np.ndarray
    pair_inspector: np.ndarray
    pair_day: np.ndarray
    pair_cost: np.ndarray
    per_day: int
    # Visits the inspector may still add on the pair's day (a re-solve around kept visits);
    # None: ``per_day`` everywhere.
    pair_day_room: np.ndarray | None = None


@dataclass(frozen=True)
class Solution:
    chosen: np.ndarray  # bool per pair
    load: np.ndarray  # visits per inspector
    short: np.ndarray  # per slot: inspectors still missing (0 when staffed)
    cost: int

    @property
    def complete(self) -> bool:
        return not bool(self.short.any())


def _balance_arcs(capacity: int, target: float) -> list[tuple[int, int]]:
    """(capacity, unit cost) of the arcs from the source to one inspector: convex in the load."""
    low, high = min(math.floor(target), capacity), min(math.ceil(target), capacity)
    arcs = [(low, -BALANCE_WEIGHT), (high - low, 0)]
    left = capacity - high
    for step in OVERLOAD_STEPS:
        take = left if step == OVERLOAD_STEPS[-1] else min(left, 1)
        arcs.append((take, step * BALANCE_WEIGHT))
        left -= take
    return [(c, w) for c, w in arcs if c > 0]


def solve(instance: Instance) -> Solution:
    """The cheapest complete staffing, or, when staff is short, the most slots staffed at the
    least cost, with what each slot still lacks."""
    m = instance
    inspectors, slots = len(m.capacity), len(m.slot_count)
    # Nodes: 0 source, 1..I inspectors, then one per (inspector, day) that has a pair, then slots.
    day_key = m.pair_inspector.astype(np.int64) * (int(m.pair_day.max(initial=0)) + 1) + m.pair_day
    days, pair_day_node = np.unique(day_key, return_inverse=True)
    day_inspector = days // (int(m.pair_day.max(initial=0)) + 1)
    first_day, first_slot = 1 + inspectors, 1 + inspectors + len(days)

    tails, heads, caps, costs = [], [], [], []
    for i in range(inspectors):
        for cap, cost in _balance_arcs(int(m.capacity[i]), float(m.target[i])):
            tails.append(0)
            heads.append(1 + i)
            caps.append(cap)
            costs.append(cost)
    balance_arcs = len(tails)
    tails_a = np.concatenate([np.array(tails, np.int64), 1 + day_inspector, first_day + pair_day_node.ravel()])
    heads_a = np.concatenate([np.array(heads, np.int64), first_day + np.arange(len(days)), first_slot + m.pair_slot])
    day_caps = np.full(len(days), m.per_day, np.int64)
    if m.pair_day_room is not None and len(days):
        first_pair = np.zeros(len(days), np.int64)
        first_pair[pair_day_node.ravel()[::-1]] = np.arange(len(m.pair_slot))[::-1]
        day_caps = np.minimum(day_caps, m.pair_day_room[first_pair])
    caps_a = np.concatenate([np.array(caps, np.int64), day_caps, np.ones(len(m.pair_slot), np.int64)])
    costs_a = np.concatenate([np.array(costs, np.int64), np.zeros(len(days), np.int64), m.pair_cost.astype(np.int64)])

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails_a, heads_a, caps_a, costs_a)
    demand = int(m.slot_count.sum())
    flow.set_nodes_supplies(np.concatenate([[0], first_slot + np.arange(slots)]).astype(np.int64),
                            np.concatenate([[demand], -m.slot_count]).astype(np.int64))
    status = flow.solve()
    if status != flow.OPTIMAL:
        status = flow.solve_max_flow_with_min_cost()
        if status != flow.OPTIMAL:
            raise RuntimeError(f"min-cost flow failed: {status}")
    pair_arcs = np.arange(balance_arcs + len(days), balance_arcs + len(days) + len(m.pair_slot))
    chosen = flow.flows(pair_arcs) > 0
    staffed = np.bincount(m.pair_slot[chosen], minlength=slots)
    return Solution(
        chosen=chosen,
        load=np.bincount(m.pair_inspector[chosen], minlength=inspectors),
        short=m.slot_count - staffed,
        cost=int(flow.optimal_cost()),
    )
