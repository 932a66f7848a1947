"""The CP-SAT polish after the flow: an inspector's visits of a day in one district where possible,
every slot's count and every inspector's daily load kept, fewest districts first, then the lottery."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspection import grouping as gr
from inspection import matching as mt

SEED = 12345


def pairs_of(rows: list[tuple[int, int, int, int, int, int]]) -> gr.Pairs:
    """``rows``: (inspector, slot, day, cost, district, zone) per pair."""
    cols = list(zip(*rows, strict=True))
    return gr.Pairs(*(np.array(c, np.int64) for c in cols))


def mask(n: int, picked: list[int]) -> np.ndarray:
    out = np.zeros(n, bool)
    out[picked] = True
    return out


def slot_counts(pairs: gr.Pairs, chosen: np.ndarray) -> Counter[int]:
    return Counter(pairs.slot[chosen].tolist())


def day_loads(pairs: gr.Pairs, chosen: np.ndarray) -> Counter[tuple[int, int]]:
    return Counter(zip(pairs.inspector[chosen].tolist(), pairs.day[chosen].tolist(), strict=True))


def places(pairs: gr.Pairs, chosen: np.ndarray, members: np.ndarray | None = None) -> int:
    """(inspector, day, district) triples among the chosen pairs (of ``members`` when given)."""
    picked = np.flatnonzero(chosen) if members is None else members[chosen[members]]
    return len({(int(pairs.inspector[p]), int(pairs.day[p]), int(pairs.district[p])) for p in picked.tolist()})


# Day 0, zone 0: slots 0 and 1 in district 0, slot 2 in district 1, one inspector each; inspectors
# 0 and 1 may take any of them. The flow gave inspector 0 slots 0 and 2 (two districts), inspector
# 1 slot 1; the only one-district arrangement with the same loads is 0 → {0, 1}, 1 → {2}.
# Day 1, zone 0 and day 0, zone 1 are not split, and their picks are the dear ones on purpose:
# a re-solve would change them, the polish must not.
CASE = [
    (0, 0, 0, 10, 0, 0),  # 0 chosen
    (0, 1, 0, 10, 0, 0),  # 1
    (0, 2, 0, 10, 1, 0),  # 2 chosen
    (1, 0, 0, 10, 0, 0),  # 3
    (1, 1, 0, 10, 0, 0),  # 4 chosen
    (1, 2, 0, 10, 1, 0),  # 5
    (0, 3, 1, 900, 0, 0),  # 6 chosen (day 1)
    (1, 3, 1, 1, 0, 0),  # 7
    (0, 4, 1, 1, 1, 0),  # 8
    (1, 4, 1, 900, 1, 0),  # 9 chosen (day 1)
    (2, 5, 0, 900, 2, 1),  # 10 chosen (zone 1)
    (3, 5, 0, 1, 2, 1),  # 11
    (2, 6, 0, 1, 2, 1),  # 12
    (3, 6, 0, 900, 2, 1),  # 13 chosen (zone 1)
]
CASE_CHOSEN = [0, 2, 4, 6, 9, 10, 13]


class TestSplitDays:
    def test_names_the_inspector_days_in_more_than_one_district(self) -> None:
        pairs = pairs_of(CASE)
        assert gr.split_days(pairs, mask(len(CASE), CASE_CHOSEN)).tolist() == [[0, 0]]
        # Inspector 0 on day 1 as well: slot 3 (district 0) and slot 4 (district 1).
        assert gr.split_days(pairs, mask(len(CASE), [0, 2, 4, 6, 8, 10, 13])).tolist() == [[0, 0], [0, 1]]

    def test_two_visits_in_one_district_are_not_split(self) -> None:
        pairs = pairs_of(CASE)
        assert gr.split_days(pairs, mask(len(CASE), [0, 1, 5, 6, 9, 10, 13])).shape == (0, 2)

    def test_nothing_chosen(self) -> None:
        assert gr.split_days(pairs_of(CASE), np.zeros(len(CASE), bool)).shape == (0, 2)


class TestGroup:
    def test_regroups_a_split_day_and_keeps_counts_and_loads(self) -> None:
        pairs = pairs_of(CASE)
        chosen = mask(len(CASE), CASE_CHOSEN)
        out = gr.group(pairs, chosen, SEED)
        assert (out.split_before, out.split_after, out.blocks) == (1, 0, 1)
        assert out.statuses == {"OPTIMAL": 1}
        assert out.reproducible and out.deterministic_time >= 0
        assert sorted(np.flatnonzero(out.chosen).tolist()) == [0, 1, 5, 6, 9, 10, 13]
        assert slot_counts(pairs, out.chosen) == slot_counts(pairs, chosen)
        assert day_loads(pairs, out.chosen) == day_loads(pairs, chosen)
        assert gr.split_days(pairs, out.chosen).shape == (0, 2)
        # Other days and zones are left exactly as the flow picked them, dear as they are.
        other = (pairs.day != 0) | (pairs.zone != 0)
        assert (out.chosen[other] == chosen[other]).all()
        # The input is not modified in place.
        assert sorted(np.flatnonzero(chosen).tolist()) == CASE_CHOSEN

    def test_no_split_day_returns_the_input_unchanged(self) -> None:
        pairs = pairs_of(CASE)
        chosen = mask(len(CASE), [0, 1, 5, 6, 9, 10, 13])
        out = gr.group(pairs, chosen, SEED)
        assert (out.split_before, out.split_after, out.blocks) == (0, 0, 0)
        assert out.statuses == {} and out.deterministic_time == 0.0 and out.reproducible
        assert (out.chosen == chosen).all() and out.chosen is not chosen

    def test_an_unavoidable_split_stays_and_nothing_breaks(self) -> None:
        # Only inspector 0 may take slot 2 (district 1), and they have two visits that day.
        rows = [r for n, r in enumerate(CASE[:6]) if n != 5]
        pairs = pairs_of(rows)
        chosen = mask(len(rows), [0, 2, 4])
        out = gr.group(pairs, chosen, SEED)
        assert (out.split_before, out.split_after, out.blocks) == (1, 1, 1)
        assert slot_counts(pairs, out.chosen) == slot_counts(pairs, chosen)
        assert day_loads(pairs, out.chosen) == day_loads(pairs, chosen)
        assert out.chosen[2]

    def test_an_inspector_without_a_visit_that_day_gets_none(self) -> None:
        # Inspector 2 could take slot 2 (district 1), but the flow gave them nothing on day 0.
        rows = CASE[:6] + [(2, 2, 0, 0, 1, 0), (2, 7, 1, 0, 1, 0)]
        pairs = pairs_of(rows)
        out = gr.group(pairs, mask(len(rows), [0, 2, 4, 7]), SEED)
        assert out.split_after == 0
        assert not out.chosen[6] and day_loads(pairs, out.chosen)[(2, 0)] == 0


# Two inspectors, one day, two visits in district 0 (slots 0, 1) and two in district 1 (slots 2, 3),
# two visits each. The cheapest picks split both inspectors (cost 0); of the two one-district
# arrangements, A (0 → district 0) costs 150 and B (0 → district 1) costs 200, or the reverse.
def lexicographic_case(a_cheaper: bool) -> tuple[gr.Pairs, np.ndarray]:
    cost = {(0, 0): 0, (0, 1): 50, (0, 2): 0, (0, 3): 100, (1, 0): 100, (1, 1): 0, (1, 2): 100, (1, 3): 0}
    if not a_cheaper:
        cost[(0, 1)], cost[(0, 3)] = 100, 50
    rows = [(i, s, 0, cost[(i, s)], s // 2, 0) for i in range(2) for s in range(4)]
    split = [n for n, r in enumerate(rows) if (r[0], r[1]) in {(0, 0), (0, 2), (1, 1), (1, 3)}]
    return pairs_of(rows), mask(len(rows), split)


@pytest.mark.parametrize("a_cheaper", [True, False])
def test_fewest_districts_first_then_the_lottery(a_cheaper: bool) -> None:
    pairs, chosen = lexicographic_case(a_cheaper)
    out = gr.group(pairs, chosen, SEED)
    assert (out.split_before, out.split_after) == (2, 0)
    picked = {(int(pairs.inspector[p]), int(pairs.slot[p])) for p in np.flatnonzero(out.chosen).tolist()}
    if a_cheaper:
        assert picked == {(0, 0), (0, 1), (1, 2), (1, 3)}
    else:
        assert picked == {(0, 2), (0, 3), (1, 0), (1, 1)}
    assert int(pairs.cost[out.chosen].sum()) == 150


def determinism_case() -> tuple[gr.Pairs, np.ndarray]:
    """Six inspectors, three days, two districts in one zone, two visits of each district a day
    each wanting two inspectors; the flow's solution (from the lottery) is the start."""
    slots = [(v, 2) for v in range(12)]
    day = [v // 4 for v in range(12)]
    district = [v % 2 for v in range(12)]
    rows = [(s, i) for s in range(12) for i in range(6)]
    inst = mt.Instance(
        slot_visit=np.arange(12, dtype=np.int64), slot_count=np.array([c for _, c in slots], np.int64),
        capacity=np.full(6, 12, np.int64), target=np.full(6, 4.0),
        pair_slot=np.array([s for s, _ in rows], np.int64), pair_inspector=np.array([i for _, i in rows], np.int64),
        pair_day=np.array([day[s] for s, _ in rows], np.int64),
        pair_cost=mt.lottery(b"determinism", [f"V{s}:I{i}" for s, i in rows]), per_day=2,
    )
    sol = mt.solve(inst)
    assert sol.complete
    pairs = gr.Pairs(inst.pair_inspector, inst.pair_slot, inst.pair_day, inst.pair_cost,
                     np.array([district[s] for s, _ in rows], np.int64), np.zeros(len(rows), np.int64))
    return pairs, sol.chosen


def test_same_input_same_result() -> None:
    pairs, chosen = determinism_case()
    a = gr.group(pairs, chosen, SEED)
    b = gr.group(pairs, chosen.copy(), SEED)
    assert a.split_before > 0, "the case should start with a split day"
    assert a.split_after == 0 and a.blocks >= 1
    assert (a.chosen == b.chosen).all()
    assert a.statuses == b.statuses == {"OPTIMAL": a.blocks}
    assert a.deterministic_time == b.deterministic_time
    assert slot_counts(pairs, a.chosen) == slot_counts(pairs, chosen)
    assert day_loads(pairs, a.chosen) == day_loads(pairs, chosen)


def brute_force(pairs: gr.Pairs, members: np.ndarray, chosen: np.ndarray) -> tuple[int, int] | None:
    """The best (places, cost) of a block by enumeration, under the same constraints; None when
    there are too many subsets to try."""
    slots = slot_counts(pairs, mask(len(pairs.slot), members[chosen[members]].tolist()))
    loads = Counter(pairs.inspector[members[chosen[members]]].tolist())
    members = members[np.isin(pairs.inspector[members], list(loads))]
    k = sum(loads.values())
    if len(members) > 16:
        return None
    best: tuple[int, int] | None = None
    for subset in itertools.combinations(members.tolist(), k):
        if Counter(pairs.slot[list(subset)].tolist()) != slots or Counter(pairs.inspector[list(subset)].tolist()) != loads:
            continue
        value = (len({(int(pairs.inspector[p]), int(pairs.district[p])) for p in subset}), int(pairs.cost[list(subset)].sum()))
        best = value if best is None or value < best else best
    return best


@st.composite
def flow_cases(draw: st.DrawFn) -> tuple[mt.Instance, np.ndarray]:
    inspectors = draw(st.integers(2, 5))
    days = draw(st.integers(1, 3))
    visits = draw(st.integers(2, 8))
    slots = [(draw(st.integers(0, days - 1)), draw(st.integers(0, 1)), draw(st.integers(1, 2))) for _ in range(visits)]
    rows: list[tuple[int, int]] = []
    for s, (_, _, count) in enumerate(slots):
        for i in sorted(draw(st.sets(st.integers(0, inspectors - 1), min_size=count, max_size=inspectors))):
            rows.append((s, i))
    cost = draw(st.lists(st.integers(0, 20), min_size=len(rows), max_size=len(rows)))
    demand = float(sum(c for _, _, c in slots))
    inst = mt.Instance(
        slot_visit=np.arange(visits, dtype=np.int64), slot_count=np.array([c for _, _, c in slots], np.int64),
        capacity=np.full(inspectors, 100, np.int64), target=np.full(inspectors, demand / inspectors),
        pair_slot=np.array([s for s, _ in rows], np.int64), pair_inspector=np.array([i for _, i in rows], np.int64),
        pair_day=np.array([slots[s][0] for s, _ in rows], np.int64), pair_cost=np.array(cost, np.int64),
        per_day=draw(st.integers(2, 3)),
    )
    return inst, np.array([slots[s][1] for s, _ in rows], np.int64)


@settings(max_examples=50, deadline=None)
@given(flow_cases())
def test_polish_keeps_the_flow_s_counts_and_never_groups_worse(case: tuple[mt.Instance, np.ndarray]) -> None:
    inst, district = case
    sol = mt.solve(inst)
    if not sol.complete:
        return
    pairs = gr.Pairs(inst.pair_inspector, inst.pair_slot, inst.pair_day, inst.pair_cost, district, np.zeros(len(district), np.int64))
    out = gr.group(pairs, sol.chosen, SEED)
    assert out.chosen.dtype == bool and out.chosen.shape == sol.chosen.shape
    assert slot_counts(pairs, out.chosen) == slot_counts(pairs, sol.chosen)
    assert day_loads(pairs, out.chosen) == day_loads(pairs, sol.chosen)
    assert out.split_after <= out.split_before
    assert out.split_after == len(gr.split_days(pairs, out.chosen))
    assert places(pairs, out.chosen) <= places(pairs, sol.chosen)
    split = gr.split_days(pairs, sol.chosen)
    assert out.blocks == len({int(d) for d in split[:, 1]})
    assert set(out.statuses) <= {"OPTIMAL"} and sum(out.statuses.values()) == out.blocks
    # Each solved block is optimal: fewest (inspector, district) pairs, then the least cost.
    for day in sorted({int(d) for d in split[:, 1]}):
        members = np.flatnonzero(pairs.day == day)
        best = brute_force(pairs, members, sol.chosen)
        if best is not None:
            got = members[out.chosen[members]]
            assert (places(pairs, out.chosen, members), int(pairs.cost[got].sum())) == best
    # Days without a split are untouched.
    calm = ~np.isin(pairs.day, split[:, 1])
    assert (out.chosen[calm] == sol.chosen[calm]).all()


def test_a_wall_clock_cut_marks_the_run_not_reproducible(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wall-clock limit is only a safety net: when it stops a block before its deterministic
    limit, the result is kept (never worse than the flow's) and the run says it may not repeat."""
    pairs, chosen = determinism_case()
    monkeypatch.setattr(gr, "BLOCK_WALL_SECONDS", 1e-9)
    out = gr.group(pairs, chosen, seed=7)
    assert out.blocks >= 1 and not out.reproducible
    assert slot_counts(pairs, out.chosen) == slot_counts(pairs, chosen)
    assert day_loads(pairs, out.chosen) == day_loads(pairs, chosen)
    assert places(pairs, out.chosen) <= places(pairs, chosen)
    monkeypatch.undo()
    assert gr.group(pairs, chosen, seed=7).reproducible
