"""The min-cost-flow core of inspector matching: every hard rule held, balance, lottery, shortage."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspection import matching as mt

KEY = hashlib.sha256(b"task key").digest()


def instance(slots: list[tuple[int, int]], pairs: list[tuple[int, int, int]], inspectors: int, *,
             capacity: int = 100, per_day: int = 4, target: list[float] | None = None, key: bytes = KEY) -> mt.Instance:
    """``slots``: (visit, count); ``pairs``: (slot, inspector, day)."""
    slot_visit = np.array([s[0] for s in slots], np.int64)
    ps = np.array([p[0] for p in pairs], np.int64)
    pi = np.array([p[1] for p in pairs], np.int64)
    return mt.Instance(
        slot_visit=slot_visit, slot_count=np.array([s[1] for s in slots], np.int64),
        capacity=np.full(inspectors, capacity, np.int64),
        target=np.array(target if target is not None else [0.0] * inspectors, float),
        pair_slot=ps, pair_inspector=pi, pair_day=np.array([p[2] for p in pairs], np.int64),
        pair_cost=mt.lottery(key, [f"{v}:{i}" for v, i in zip(slot_visit[ps].tolist(), pi.tolist(), strict=True)]), per_day=per_day,
    )


def teams(inst: mt.Instance, sol: mt.Solution) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for s, i in zip(inst.pair_slot[sol.chosen].tolist(), inst.pair_inspector[sol.chosen].tolist(), strict=True):
        out.setdefault(int(inst.slot_visit[s]), set()).add(i)
    return out


class TestTeamSlots:
    """Each department of a visit sends one inspector; the lead department fills the team."""

    def test_one_department_sends_the_whole_team(self) -> None:
        assert mt.team_slots(["SCJG"], 2, "SCJG") == [("SCJG", 2)]
        assert mt.team_slots(["WJW"], 3, "SCJG") == [("WJW", 3)]

    def test_joint_visit_one_each_and_the_rest_from_the_lead(self) -> None:
        assert mt.team_slots(["WJW", "SCJG"], 2, "SCJG") == [("SCJG", 1), ("WJW", 1)]
        assert mt.team_slots(["WJW", "SCJG"], 3, "SCJG") == [("SCJG", 2), ("WJW", 1)]
        assert mt.team_slots(["WJW", "YJJ"], 3, "SCJG") == [("WJW", 2), ("YJJ", 1)]
        assert mt.team_slots(["A", "B", "C"], 2, "A") == [("A", 1), ("B", 1), ("C", 1)]

    def test_no_department_is_refused(self) -> None:
        with pytest.raises(ValueError):
            mt.team_slots([], 2, "SCJG")


class TestLottery:
    """Lottery costs come from SHA-256 of the key and the pair, and nothing else."""

    def test_matches_the_formula(self) -> None:
        got = mt.lottery(KEY, ["91500106MA0AR1874P:JC0003", "91500106MA0AR1874P:JC0004"])
        for n, pair in enumerate(["91500106MA0AR1874P:JC0003", "91500106MA0AR1874P:JC0004"]):
            expected = int.from_bytes(hashlib.sha256(KEY + pair.encode()).digest()[:8], "big") % mt.LOTTERY_RANGE
            assert got[n] == expected

    def test_key_changes_costs_and_range_holds(self) -> None:
        pairs = [f"{v}:{v % 7}" for v in range(200)]
        a, b = mt.lottery(KEY, pairs), mt.lottery(b"other", pairs)
        assert (a != b).any()
        assert a.min() >= 0 and a.max() < mt.LOTTERY_RANGE


class TestHardRules:
    """Every slot gets exactly its count from eligible pairs; the daily and task caps hold."""

    def test_staffs_every_slot_from_eligible_pairs_only(self) -> None:
        slots = [(0, 2), (1, 1), (1, 1)]
        pairs = [(0, 0, 0), (0, 1, 0), (0, 2, 0), (1, 0, 1), (1, 1, 1), (2, 3, 1)]
        inst = instance(slots, pairs, 4)
        sol = mt.solve(inst)
        assert sol.complete
        assert np.bincount(inst.pair_slot[sol.chosen], minlength=3).tolist() == [2, 1, 1]
        assert 3 in teams(inst, sol)[1]  # the only inspector of slot 2

    def test_daily_cap(self) -> None:
        # Inspector 0 is eligible for three visits on day 0 but may do only 2 a day.
        slots = [(v, 1) for v in range(3)]
        pairs = [(s, 0, 0) for s in range(3)] + [(2, 1, 0)]
        sol = mt.solve(instance(slots, pairs, 2, per_day=2))
        assert sol.complete and sol.load.tolist() == [2, 1]

    def test_daily_cap_can_leave_a_slot_short(self) -> None:
        slots = [(v, 1) for v in range(3)]
        pairs = [(s, 0, 0) for s in range(3)]
        sol = mt.solve(instance(slots, pairs, 1, per_day=2))
        assert not sol.complete and int(sol.short.sum()) == 1

    def test_task_cap(self) -> None:
        slots = [(v, 1) for v in range(4)]
        pairs = [(s, 0, s) for s in range(4)] + [(s, 1, s) for s in range(4)]
        sol = mt.solve(instance(slots, pairs, 2, capacity=2))
        assert sol.complete and sol.load.tolist() == [2, 2]

    def test_shortage_says_which_slots_lack_what(self) -> None:
        slots = [(0, 2), (1, 2)]
        pairs = [(0, 0, 0), (0, 1, 0), (1, 2, 0)]  # visit 1 has one eligible inspector, needs 2
        sol = mt.solve(instance(slots, pairs, 3))
        assert sol.short.tolist() == [0, 1]


class TestBalance:
    """Loads stay within one visit of each inspector's target where the rules allow."""

    def test_equal_availability_spreads_evenly(self) -> None:
        slots = [(v, 1) for v in range(30)]
        pairs = [(s, i, s % 5) for s in range(30) for i in range(4)]
        tg = mt.targets(np.array([30.0]), np.zeros(4, np.int64), np.ones(4))
        sol = mt.solve(instance(slots, pairs, 4, target=tg.tolist()))
        assert sol.complete and sorted(sol.load.tolist()) == [7, 7, 8, 8]

    def test_targets_follow_availability_within_each_department(self) -> None:
        tg = mt.targets(np.array([30.0, 10.0]), np.array([0, 0, 1, 1]), np.array([2.0, 1.0, 1.0, 1.0]))
        assert tg.tolist() == [20.0, 10.0, 5.0, 5.0]

    def test_balance_outweighs_the_lottery(self) -> None:
        # Whatever the lottery says, 6 visits over 2 equally available inspectors are 3 and 3.
        slots = [(v, 1) for v in range(6)]
        pairs = [(s, i, s) for s in range(6) for i in range(2)]
        for n in range(20):
            sol = mt.solve(instance(slots, pairs, 2, target=[3.0, 3.0], key=f"k{n}".encode()))
            assert sol.load.tolist() == [3, 3]


class TestDeterminism:
    """The same instance and key give the same teams; another key picks differently."""

    def test_same_key_same_teams(self) -> None:
        slots = [(v, 2) for v in range(40)]
        pairs = [(s, i, s % 7) for s in range(40) for i in range(10)]
        a = mt.solve(instance(slots, pairs, 10, target=[8.0] * 10))
        b = mt.solve(instance(slots, pairs, 10, target=[8.0] * 10))
        assert (a.chosen == b.chosen).all()
        c = mt.solve(instance(slots, pairs, 10, target=[8.0] * 10, key=b"another"))
        assert (a.chosen != c.chosen).any()


@st.composite
def random_instances(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]], int, int, int]:
    inspectors = draw(st.integers(2, 6))
    visits = draw(st.integers(1, 8))
    slots = [(v, draw(st.integers(1, 2))) for v in range(visits)]
    pairs = []
    for s, (v, _) in enumerate(slots):
        day = v % 3
        for i in draw(st.sets(st.integers(0, inspectors - 1), max_size=inspectors)):
            pairs.append((s, i, day))
    return slots, pairs, inspectors, draw(st.integers(1, 3)), draw(st.integers(1, 8))


@settings(max_examples=150, deadline=None)
@given(random_instances())
def test_every_solution_holds_every_rule(case: tuple[list[tuple[int, int]], list[tuple[int, int, int]], int, int, int]) -> None:
    """Checked from the pairs alone: no slot over its count, nobody twice on a slot, daily and task
    caps held, and a slot is short only when its eligible inspectors cannot cover it."""
    slots, pairs, inspectors, per_day, capacity = case
    inst = instance(slots, pairs, inspectors, per_day=per_day, capacity=capacity)
    sol = mt.solve(inst)
    chosen = [pairs[p] for p in np.flatnonzero(sol.chosen).tolist()]
    per_slot: dict[int, list[int]] = {}
    per_inspector_day: dict[tuple[int, int], int] = {}
    for s, i, d in chosen:
        per_slot.setdefault(s, []).append(i)
        per_inspector_day[(i, d)] = per_inspector_day.get((i, d), 0) + 1
    for s, (_, count) in enumerate(slots):
        staffed = per_slot.get(s, [])
        assert len(staffed) == len(set(staffed)) <= count
        assert sol.short[s] == count - len(staffed)
        eligible = {i for ps, i, _ in pairs if ps == s}
        if len(eligible) < count:
            assert sol.short[s] > 0
    assert all(n <= per_day for n in per_inspector_day.values())
    assert all(n <= capacity for n in sol.load.tolist())


def test_the_core_does_not_import_sqlalchemy() -> None:
    code = "import sys, inspection.matching; assert 'sqlalchemy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_room_left_on_a_day_caps_a_re_solve() -> None:
    """With one visit of room left that day, an inspector takes one of two visits, not both."""
    slots = [(0, 1), (1, 1)]
    pairs = [(0, 0, 0), (1, 0, 0), (1, 1, 0)]
    inst = instance(slots, pairs, 2, per_day=3)
    roomy = mt.solve(inst)
    assert roomy.complete
    from dataclasses import replace

    tight = mt.solve(replace(inst, pair_day_room=np.array([1, 1, 3])))
    assert tight.complete and tight.load.tolist() == [1, 1]
    alone = mt.solve(replace(inst, pair_day_room=np.array([0, 0, 3])))
    assert alone.short.tolist() == [1, 0]


def _pick_counts(costs_for: object, keys: int = 300) -> tuple[np.ndarray, list[int], list[int]]:
    """Picks per (visit, inspector) over ``keys`` keys of a task where inspectors 0–3 may take
    every visit and 4–7 only the even ones."""
    visits, inspectors = 12, 8
    wide, narrow = list(range(4)), list(range(4, 8))
    pairs = [(v, i) for v in range(visits) for i in range(inspectors) if i in wide or v % 2 == 0]
    slot = np.array([v for v, _ in pairs], np.int64)
    who = np.array([i for _, i in pairs], np.int64)
    counts = np.zeros((visits, inspectors), np.int64)
    for n in range(keys):
        cost = costs_for(f"key {n}".encode(), [f"V{v}:I{i}" for v, i in pairs])  # type: ignore[operator]
        inst = mt.Instance(np.arange(visits, dtype=np.int64), np.full(visits, 2, np.int64), np.full(inspectors, visits, np.int64),
                           np.full(inspectors, 3.0), slot, who, slot // 4, cost, 3)
        sol = mt.solve(inst)
        assert sol.complete
        np.add.at(counts, (slot[sol.chosen], who[sol.chosen]), 1)
    return counts, wide, narrow


def _chi2(counts: np.ndarray, wide: list[int], narrow: list[int]) -> tuple[float, int]:
    statistic, dof = 0.0, 0
    for members, visits in ((wide, range(12)), (narrow, range(0, 12, 2))):
        for v in visits:
            observed = counts[v, members].astype(float)
            if observed.mean() > 0:  # balance may reserve a visit for another class entirely
                statistic += float(((observed - observed.mean()) ** 2).sum() / observed.mean())
                dof += len(members) - 1
    return statistic, dof


def test_equally_eligible_inspectors_are_picked_at_equal_rates() -> None:
    """Over 300 keys, members of an eligibility class take each visit equally often (χ² within
    the normal range); a lottery that ignores the key fails the same test."""
    statistic, dof = _chi2(*_pick_counts(mt.lottery))
    assert dof >= 24 and statistic < dof + 5 * (2 * dof) ** 0.5
    fixed = lambda key, pairs: mt.lottery(b"always the same", pairs)  # noqa: E731
    statistic, dof = _chi2(*_pick_counts(fixed, keys=50))
    assert statistic > dof + 5 * (2 * dof) ** 0.5
