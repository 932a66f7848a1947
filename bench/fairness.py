#!/usr/bin/env python3
"""Fairness of the inspector lottery: over many task keys, is every eligible inspector picked for
each visit as often as the others who are eligible in the same way?

A small task is solved with the real matching core (inspection/matching.py) once per key. Visits
need 2 inspectors of one department. Inspectors fall into classes whose members have the same
eligible visits and the same availability; within a class the design says each member takes
each visit equally often. The χ² statistic sums, over every (visit, class) cell, the squared
deviation of each member's count from the class mean over that mean (degrees of freedom: class
size − 1 per cell), and the p-value is its upper tail (scipy: ``pip install -e '.[bench]'``).

Balance fixes how many visits each inspector gets, so totals per inspector say nothing; the
lottery decides *which* visits, and that is what is tested.

Example::

    .venv/bin/python bench/fairness.py --keys 1000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import numpy as np

from inspection import matching


def instance(key: bytes, visits: int, inspectors: int) -> tuple[matching.Instance, list[frozenset[int]]]:
    """``visits`` visits needing 2 inspectors each, over ``visits // 5`` days. Inspectors 0–(n/2−1)
    may take every visit; the others only the even-numbered visits (a narrower qualification).
    Returns the instance and each inspector's eligible visits."""
    eligible = [frozenset(range(visits)) if i < inspectors // 2 else frozenset(range(0, visits, 2)) for i in range(inspectors)]
    pairs = [(v, i) for v in range(visits) for i in range(inspectors) if v in eligible[i]]
    slot = np.array([v for v, _ in pairs], np.int64)
    who = np.array([i for _, i in pairs], np.int64)
    demand = np.array([2.0 * visits])
    target = matching.targets(demand, np.zeros(inspectors, np.int64), np.ones(inspectors))
    return matching.Instance(
        slot_visit=np.arange(visits, dtype=np.int64), slot_count=np.full(visits, 2, np.int64),
        capacity=np.full(inspectors, visits, np.int64), target=target, pair_slot=slot, pair_inspector=who,
        pair_day=slot // 5, pair_cost=matching.lottery(key, [f"V{v:03d}:JC{i:04d}" for v, i in pairs]), per_day=3,
    ), eligible


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000, help="task keys to solve (default 1000)")
    parser.add_argument("--visits", type=int, default=20)
    parser.add_argument("--inspectors", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        from scipy.stats import chi2
    except ImportError:
        sys.exit("bench/fairness.py needs scipy for the p-value: pip install -e '.[bench]'")

    started = time.perf_counter()
    counts = np.zeros((args.visits, args.inspectors), np.int64)
    eligible: list[frozenset[int]] = []
    for n in range(args.keys):
        key = hashlib.sha256(f"fairness key {n}".encode()).digest()
        inst, eligible = instance(key, args.visits, args.inspectors)
        solution = matching.solve(inst)
        if not solution.complete:
            sys.exit(f"key {n}: the small task could not be staffed")
        np.add.at(counts, (inst.pair_slot[solution.chosen], inst.pair_inspector[solution.chosen]), 1)
    classes: dict[frozenset[int], list[int]] = {}
    for i, visits in enumerate(eligible):
        classes.setdefault(visits, []).append(i)
    statistic, dof, worst = 0.0, 0, 0.0
    for visits, members in classes.items():
        for v in sorted(visits):
            observed = counts[v, members].astype(float)
            mean = observed.mean()
            if mean > 0 and len(members) > 1:
                statistic += float(((observed - mean) ** 2).sum() / mean)
                dof += len(members) - 1
                worst = max(worst, float(np.abs(observed - mean).max() / mean))
    p_value = float(chi2.sf(statistic, dof)) if dof else 1.0
    seconds = time.perf_counter() - started
    result = {"keys": args.keys, "visits": args.visits, "inspectors": args.inspectors, "classes": len(classes),
              "chi2": round(statistic, 2), "dof": dof, "p_value": round(p_value, 4), "worst_relative_deviation": round(worst, 3),
              "seconds": round(seconds, 2)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.keys} keys, {args.visits} visits × {args.inspectors} inspectors in {len(classes)} eligibility classes ({seconds:.1f} s)")
        for visits, members in classes.items():
            rates = counts[sorted(visits)][:, members].sum(axis=0) / (args.keys * len(visits))
            print(f"  class of {len(members)} (eligible for {len(visits)} visits): picked per visit " + ", ".join(f"{r:.3f}" for r in rates))
        print(f"χ² = {statistic:.1f} on {dof} degrees of freedom, p = {p_value:.3f} (equal rates within each class: p well above 0.01)")
        print(f"largest deviation of one cell from its class mean: {worst:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
