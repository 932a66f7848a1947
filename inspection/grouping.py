"""An inspector's visits of a day in one district where possible: CP-SAT per block, after the flow.
Pure.

Only tasks with cooperating districts (跨区协作) need it: without cooperation an inspector works
in their own district only (属地管辖), and every day is in one district by construction. With it,
the flow (matching.py) may give an inspector one visit here and one there on the same day, and
a flow cannot count districts (a fixed charge). performance.md §3.4 measured what works: CP-SAT
on small blocks, warm-started with the flow's complete solution, one worker, a deterministic
time limit.

A block is one day of one cooperation zone. Inside it every slot keeps its number of inspectors
and every inspector keeps the number of visits the flow gave them that day, so caps and balance
stay exactly as the flow left them, and blocks are independent. Only blocks with an inspector
whose day spans more than one district are solved. The objective is lexicographic: first the
fewest (inspector, district) pairs of the day, then the lottery, so the pick among equally
grouped teams is still the key's, not anyone's choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Deterministic time per block (CP-SAT's own unit, not seconds: the same on every run of the
# same build). The wall-clock limit is only a safety net; when it fires the run is marked
# non-reproducible.
BLOCK_DTIME = 2.0
BLOCK_WALL_SECONDS = 60.0


@dataclass(frozen=True)
class Pairs:
    """The flow's pairs, as parallel arrays (see matching.Instance): the inspector, the slot, the
    day, the cost in the flow, the visit's district and the cooperation zone (indexes)."""

    inspector: np.ndarray
    slot: np.ndarray
    day: np.ndarray
    cost: np.ndarray
    district: np.ndarray
    zone: np.ndarray


@dataclass
class Grouping:
    chosen: np.ndarray  # bool per pair, after the polish
    split_before: int  # inspector-days in more than one district, after the flow
    split_after: int
    blocks: int = 0  # blocks solved
    statuses: dict[str, int] = field(default_factory=dict)
    deterministic_time: float = 0.0
    reproducible: bool = True  # False when a wall-clock limit cut a block's search short


def split_days(pairs: Pairs, chosen: np.ndarray) -> np.ndarray:
    """The (inspector, day) rows, as an n×2 array, whose chosen visits are in more than one
    district."""
    picked = np.flatnonzero(chosen)
    if not len(picked):
        return np.zeros((0, 2), np.int64)
    rows = np.unique(np.stack([pairs.inspector[picked], pairs.day[picked], pairs.district[picked]], axis=1), axis=0)
    days, counts = np.unique(rows[:, :2], axis=0, return_counts=True)
    return days[counts > 1]


def group(pairs: Pairs, chosen: np.ndarray, seed: int, dtime: float = BLOCK_DTIME) -> Grouping:
    """Regroup each block with a split inspector-day; the flow's solution is the hint, so a block
    never ends worse than it started."""
    split = split_days(pairs, chosen)
    out = Grouping(chosen=chosen.copy(), split_before=len(split), split_after=len(split))
    if not len(split):
        return out
    # The zone of each split inspector-day: an inspector's pairs all lie in their zone.
    first_pair = {(int(i), int(d)): p for p, (i, d) in enumerate(zip(pairs.inspector.tolist(), pairs.day.tolist()))}
    blocks = sorted({(int(d), int(pairs.zone[first_pair[(int(i), int(d))]])) for i, d in split})
    for day, zone in blocks:
        members = np.flatnonzero((pairs.day == day) & (pairs.zone == zone))
        status, dtime_used, wall_cut = _solve_block(pairs, members, out.chosen, seed, dtime)
        out.blocks += 1
        out.statuses[status] = out.statuses.get(status, 0) + 1
        out.deterministic_time += dtime_used
        out.reproducible &= not wall_cut
    out.split_after = len(split_days(pairs, out.chosen))
    return out


def _solve_block(pairs: Pairs, members: np.ndarray, chosen: np.ndarray, seed: int, dtime: float) -> tuple[str, float, bool]:
    """Solve one block in place in ``chosen``; return CP-SAT's status name, the deterministic
    time used, and whether the wall-clock safety net fired."""
    load: dict[int, int] = {}
    for p in members[chosen[members]].tolist():
        load[int(pairs.inspector[p])] = load.get(int(pairs.inspector[p]), 0) + 1
    # An inspector with no visit that day keeps none: their pairs are left out.
    members = members[np.isin(pairs.inspector[members], np.fromiter(load, np.int64, len(load)))]
    # Imported here: OR-Tools' CP-SAT module brings pandas (0.3 s), which every command that only
    # reads the staffing rules would otherwise pay at start-up.
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{p}") for p in members.tolist()]
    for var, p in zip(x, members.tolist()):
        model.add_hint(var, bool(chosen[p]))
    by_slot: dict[int, list[int]] = {}
    by_inspector: dict[int, list[int]] = {}
    by_place: dict[tuple[int, int], list[int]] = {}
    for k, p in enumerate(members.tolist()):
        by_slot.setdefault(int(pairs.slot[p]), []).append(k)
        by_inspector.setdefault(int(pairs.inspector[p]), []).append(k)
        by_place.setdefault((int(pairs.inspector[p]), int(pairs.district[p])), []).append(k)
    for ks in by_slot.values():
        model.add(sum(x[k] for k in ks) == int(chosen[members[ks]].sum()))
    for inspector, ks in by_inspector.items():
        model.add(sum(x[k] for k in ks) == load[inspector])
    places = []
    for ks in by_place.values():
        used = model.new_bool_var("")
        model.add_hint(used, bool(chosen[members[ks]].any()))
        for k in ks:
            model.add_implication(x[k], used)
        places.append(used)
    costs = pairs.cost[members].astype(np.int64)
    # Lexicographic: one place fewer is worth more than every lottery cost of the block together.
    weight = int(costs.sum()) + 1
    model.minimize(weight * sum(places) + sum(int(c) * v for c, v in zip(costs.tolist(), x)))

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = dtime
    solver.parameters.max_time_in_seconds = BLOCK_WALL_SECONDS
    status = solver.solve(model)
    wall_cut = status != cp_model.OPTIMAL and solver.wall_time >= BLOCK_WALL_SECONDS
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen[members] = np.array([solver.boolean_value(v) for v in x], bool)
    return solver.status_name(status), float(solver.deterministic_time), wall_cut
