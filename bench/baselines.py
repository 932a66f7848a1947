#!/usr/bin/env python3
"""Naive baselines for the grading, the draw and the assignment, and a floor for the assignment.

Each subcommand works on one SQLite file, times its own work (after the imports, so interpreter
start-up is left out, as the spotcheck commands' ``command_finished`` seconds leave it out) and
prints one JSON line. bench/run runs each in a child process of its own, so its peak memory is
its own (bench/measure.py).

  grade-orm DB --as-of DATE    what an ORM application does: every CreditRecord as an ORM entity,
                               grouped per enterprise in Python, a per-record points loop, every
                               grade written through the session. It keeps the policy's points,
                               categories, impact periods and thresholds, and omits the rest (see
                               ``score``). Its run is deleted afterwards (untimed).
  draw-random DB TASK          per stratum (item x tier): ``SELECT count(*)`` then
                               ``ORDER BY random() LIMIT n`` in SQLite; the visits are inserted.
                               Neither reproducible nor verifiable: nobody can re-run it.
  assign-floor DB TASK         reading the task's visits and the inspector tables once.
  assign-round-robin DB TASK   visits in draw-rank order, dated evenly over the window's working
                               days; each takes the next two of one roster of every inspector of
                               the task's departments, by number. No rule is looked at.
  assign-broken DB TASK        the rules the stored teams break, by the product's own validator
                               (inspection/validate.py) on the stored dates. Not timed.

Example::

    .venv/bin/python bench/baselines.py grade-orm bench/work/10k/import/bench.db --as-of 2026-11-21
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import itertools
import json
import sqlite3
import sys
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

# The draw's tiers and in-business statuses, spelled here so that no product module that
# registers the audit trail's session listeners (credit.audit) is imported by the ORM baseline.
TIERS = "ABCD"
IN_BUSINESS = ("subsisting", "operating")


def emit(**values: Any) -> None:
    print(json.dumps(values, ensure_ascii=False), flush=True)


def connect(db: Path) -> sqlite3.Connection:
    """A raw connection with the pragmas the product sets (credit/db.py)."""
    connection = sqlite3.connect(db)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
        connection.execute(f"PRAGMA {pragma}")
    return connection


# ---------------------------------------------------------------------------------------------
# Grading: row by row through the ORM
# ---------------------------------------------------------------------------------------------

def category(record: Any) -> str:
    """The record's policy category (credit.policy.CATEGORIES), as credit/grading.py's SQL CASE
    decides it: for spot checks the worst result code wins."""
    kind = record.kind.value
    if kind == "penalty":
        return f"penalty.{record.severity.value}"
    if kind == "complaint":
        return "complaint" if record.substantiated else "complaint.unsubstantiated"
    if kind == "spot_check":
        codes = set((record.result_codes or "").split(";"))
        for code, name in (("8", "obstructed"), ("A", "problem"), ("E", "corrected"), ("1", "clean"), ("F", "clean")):
            if code in codes:
                return f"spot_check.{name}"
        return "spot_check.other"
    return kind


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier, or that month's last day."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def score(records: list[Any], policy: Any, cutoff: dict[str, dt.date | None], as_of: dt.date) -> float:
    """Points of the records that count, one record at a time. Kept: categories, points, impact
    periods (a record's own effective_until wins). Omitted: first offences (首违不罚), tolerance
    for new-economy enterprises (包容审慎), approved repairs, corrections superseding a record,
    removals ending a listing, the list overrides (serious list → D, abnormal list ≥ C), linear
    decay (the default policy has none) and the reasons."""
    total = 0.0
    for record in records:
        name = category(record)
        if record.effective_until is not None:
            counts = record.effective_until >= as_of
        else:
            since = cutoff.get(name)
            counts = since is None or record.occurred_on > since
        if counts:
            total += policy.points.get(name, 0.0)
    return total


def grade_orm(db: Path, as_of: dt.date) -> None:
    import numpy as np
    from sqlalchemy import delete, func, select
    from sqlalchemy.orm import Session

    from credit import audit, grade_store
    from credit.db import make_engine
    from credit.enums import EnterpriseStatus
    from credit.roles import Actor, Role
    from credit.grading_models import CreditRepair, GradePart, GradeReason, GradingRun
    from credit.models import CreditRecord, Enterprise
    from credit.policy import load_policy

    policy = load_policy()  # what `credit grade` uses without --policy
    cutoff = {name: None if months is None else months_before(as_of, months) for name, months in policy.impact_months.items()}
    engine = make_engine(f"sqlite:///{db}")
    started = time.perf_counter()
    with Session(engine) as session:
        not_graded = (EnterpriseStatus.CANCELLED, EnterpriseStatus.REVOKED, EnterpriseStatus.MOVED_OUT)
        enterprises = session.scalars(select(Enterprise).where(Enterprise.status.not_in(not_graded))
                                      .order_by(Enterprise.id).execution_options(yield_per=10_000))
        scores = {enterprise.id: 0.0 for enterprise in enterprises}
        # Records in enterprise order, so each enterprise's group is complete when the next starts.
        records = session.scalars(select(CreditRecord).where(CreditRecord.occurred_on <= as_of)
                                  .order_by(CreditRecord.enterprise_id).execution_options(yield_per=10_000))
        read = 0
        for enterprise_id, group in itertools.groupby(records, key=lambda r: r.enterprise_id):
            mine = list(group)
            read += len(mine)
            if enterprise_id in scores:
                scores[enterprise_id] = score(mine, policy, cutoff, as_of)
        read_done = time.perf_counter()
        tiers = {e: policy.tier_of(s) for e, s in scores.items()}
        counts = Counter(tiers.values())
        run = GradingRun(
            as_of=as_of, policy_version=policy.version, policy_sha256=policy.sha256, policy_text=policy.text,
            max_record_id=session.scalar(select(func.max(CreditRecord.id))) or 0,
            max_repair_id=session.scalar(select(func.max(CreditRepair.id))) or 0,
            enterprises=len(scores), records=read, count_a=counts["A"], count_b=counts["B"], count_c=counts["C"],
            count_d=counts["D"], result_sha256="baseline: no digest", seconds=0.0,
        )
        session.add(run)
        session.flush()
        # Stored as the product stores grades (credit.grade_store: there is no table of rows to
        # add entities to any more); the naive part is the reading and scoring above.
        ids = np.array(list(scores), np.int64)
        grade_store.store(session, run.id, ids, np.array([TIERS.index(tiers[e]) for e in scores]), np.array([round(p * 100) for p in scores.values()]),
                          np.zeros(len(ids), np.int64), np.zeros(len(ids), np.int64), [""])
        run.seconds = round(time.perf_counter() - started, 3)
        # Every change is recorded in the audit trail, as the product's are.
        audit.record(session, "credit.grade", f"baseline grading run {run.id}", subject=f"run {run.id}", actor=Actor("bench-baseline", Role.PLANNER))
        session.commit()
        seconds = time.perf_counter() - started
        # Untimed. How much the omissions change: tiers equal to the latest real run of the same date.
        real = session.scalar(select(func.max(GradingRun.id)).where(GradingRun.id < run.id, GradingRun.as_of == as_of))
        agree = None
        if real:
            mine, theirs = grade_store.load(session, run.id, with_reasons=False), grade_store.load(session, real, with_reasons=False)
            _, a, b = np.intersect1d(mine.enterprise, theirs.enterprise, assume_unique=True, return_indices=True)
            agree = int((mine.tier[a] == theirs.tier[b]).sum())
        # The benchmark database keeps the real runs only.
        session.execute(delete(GradePart).where(GradePart.run_id == run.id))
        session.execute(delete(GradeReason).where(GradeReason.run_id == run.id))
        session.execute(delete(GradingRun).where(GradingRun.id == run.id))
        audit.record(session, "credit.grade", f"baseline grading run {run.id} removed", subject=f"run {run.id}", actor=Actor("bench-baseline", Role.PLANNER))
        session.commit()
    engine.dispose()
    emit(seconds=seconds, read_score_seconds=read_done - started, write_seconds=seconds - (read_done - started),
         enterprises=len(scores), records_loaded=read, tiers={t: counts[t] for t in TIERS},
         same_tier_as_credit_grade=None if agree is None else agree / max(len(scores), 1))


# ---------------------------------------------------------------------------------------------
# Draw: ORDER BY random() per stratum
# ---------------------------------------------------------------------------------------------

def stratum_size(ratio: str, size: int) -> int:
    """round(ratio × size), halves up, at least 1 of a non-empty stratum: the product's rule
    (inspection/sampling.py), so both draw the same number of matters."""
    if size <= 0:
        return 0
    return min(size, max(1, int(Fraction(ratio.rstrip("%")) / 100 * size + Fraction(1, 2))))


def _grades_table(connection: Any, db: Path, task_code: str) -> None:
    """The task's grading run as a table of rows (temp.grades), as the naive draw would query it;
    the product stores a run's grades as arrays (credit.grade_store)."""
    from sqlalchemy.orm import Session

    from credit import grade_store
    from credit.db import make_engine
    from credit.policy import TIERS as LETTERS

    (run_id,) = connection.execute("SELECT grading_run_id FROM tasks WHERE code = ?", (task_code,)).fetchone()
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        grades = grade_store.load(session, run_id, with_reasons=False)
    engine.dispose()
    connection.execute("CREATE TEMP TABLE grades (run_id INTEGER, enterprise_id INTEGER, tier TEXT, PRIMARY KEY (run_id, enterprise_id))")
    connection.executemany("INSERT INTO temp.grades VALUES (?, ?, ?)",
                           [(run_id, e, LETTERS[t]) for e, t in zip(grades.enterprise.tolist(), grades.tier.tolist(), strict=True)])


def draw_random(db: Path, task_code: str) -> None:
    from credit.models import OUTSIDE_SPOT_CHECKS
    from credit.policy import parse_policy  # the default tier of enterprises the run did not grade

    connection = connect(db)
    _grades_table(connection, db, task_code)  # untimed: a design of grade rows would have the table
    started = time.perf_counter()
    task_id, run_id, scope, starts_on, cap, policy_text = connection.execute(
        "SELECT t.id, t.grading_run_id, t.scope, t.starts_on, t.yearly_cap, r.policy_text FROM tasks t "
        "JOIN grading_runs r ON r.id = t.grading_run_id WHERE t.code = ?", (task_code,)).fetchone()
    if any(json.loads(scope).values()):
        sys.exit(f"draw-random: task {task_code} has a scope; this baseline draws tasks without one (bench/draw.py's)")
    default_tier = parse_policy(policy_text, "the task's grading run").default_tier
    items = connection.execute(
        "SELECT ti.id, ci.entity_types, ci.industries, ti.ratio_a, ti.ratio_b, ti.ratio_c, ti.ratio_d FROM task_items ti "
        "JOIN check_items ci ON ci.id = ti.item_id WHERE ti.task_id = ? ORDER BY ci.code", (task_id,)).fetchall()
    # What the real draw's frame excludes too: not in business, and the yearly cap of checks
    # (imported spot-check records of the year; a fresh copy has no earlier draws).
    base = (
        "FROM enterprises e LEFT JOIN temp.grades g ON g.run_id = :run AND g.enterprise_id = e.id"
        f" WHERE ({' OR '.join(f'e.status = {s!r}' for s in IN_BUSINESS)}) AND coalesce(g.tier, :default) = :tier"
        # Spelled as the partial index's condition, or SQLite scans every record instead.
        f" AND e.id NOT IN (SELECT enterprise_id FROM credit_records WHERE {OUTSIDE_SPOT_CHECKS}"
        " AND occurred_on BETWEEN :first AND :last GROUP BY enterprise_id HAVING count(*) >= :cap)"
    )
    year = starts_on[:4]
    drawn: dict[int, tuple[str, list[int]]] = {}  # enterprise id → (tier, task items)
    matters = 0
    for task_item, entity_types, industries, *ratios in items:
        params: dict[str, Any] = {"run": run_id, "default": default_tier, "first": f"{year}-01-01", "last": f"{year}-12-31", "cap": cap}
        where = base
        if entity_types:
            where += " AND (" + " OR ".join(f"e.entity_type = :t{n}" for n in range(len(entity_types.split(";")))) + ")"
            params.update({f"t{n}": v for n, v in enumerate(entity_types.split(";"))})
        if industries:
            prefixes = industries.split(";")
            where += " AND (" + " OR ".join(f"substr(e.industry_code, 1, {len(p)}) = :i{n}" for n, p in enumerate(prefixes)) + ")"
            params.update({f"i{n}": p for n, p in enumerate(prefixes)})
        for tier, ratio in zip(TIERS, ratios, strict=True):
            params["tier"] = tier
            (size,) = connection.execute(f"SELECT count(*) {where}", params).fetchone()
            n = stratum_size(ratio, size)
            for (enterprise_id,) in connection.execute(f"SELECT e.id {where} ORDER BY random() LIMIT {n}", params):
                drawn.setdefault(enterprise_id, (tier, []))[1].append(task_item)
            matters += n
    # One visit per enterprise, numbered in the order of the ids (there is no random number to rank by).
    ordered = sorted(drawn)
    connection.executemany("INSERT INTO visits (task_id, enterprise_id, rank, number, tier) VALUES (?, ?, ?, ?, ?)",
                           [(task_id, e, rank, f"{rank:016x}", drawn[e][0]) for rank, e in enumerate(ordered, 1)])
    visit_of = dict(connection.execute("SELECT enterprise_id, id FROM visits WHERE task_id = ?", (task_id,)))
    connection.executemany("INSERT INTO visit_items (visit_id, task_item_id) VALUES (?, ?)",
                           [(visit_of[e], item) for e in ordered for item in drawn[e][1]])
    connection.commit()
    seconds = time.perf_counter() - started
    connection.close()
    emit(seconds=seconds, strata=len(items) * len(TIERS), visits=len(drawn), matters=matters)


# ---------------------------------------------------------------------------------------------
# Assignment: a floor, the round robin, and the rules it breaks
# ---------------------------------------------------------------------------------------------

def assign_floor(db: Path, task_code: str) -> None:
    """Every row the assignment needs, read once through a raw cursor: the task's visits with
    their enterprises, their items, and the inspector directory."""
    connection = sqlite3.connect(db)
    started = time.perf_counter()
    (task_id,) = connection.execute("SELECT id FROM tasks WHERE code = ?", (task_code,)).fetchone()
    rows = len(connection.execute(
        "SELECT v.id, v.rank, e.uscc, e.district_code, e.station FROM visits v JOIN enterprises e ON e.id = v.enterprise_id "
        "WHERE v.task_id = ?", (task_id,)).fetchall())
    rows += len(connection.execute(
        "SELECT vi.visit_id, ti.department_id, ci.code, ci.category FROM visit_items vi JOIN task_items ti ON ti.id = vi.task_item_id "
        "JOIN check_items ci ON ci.id = ti.item_id WHERE ti.task_id = ?", (task_id,)).fetchall())
    for table in ("inspectors", "inspector_qualifications", "inspector_leaves", "inspector_conflicts"):
        rows += len(connection.execute(f"SELECT * FROM {table}").fetchall())
    seconds = time.perf_counter() - started
    connection.close()
    emit(seconds=seconds, rows=rows)


def assign_round_robin(db: Path, task_code: str) -> None:
    from inspection.workdays import working_days  # pure: chinese-calendar's working days

    connection = connect(db)
    started = time.perf_counter()
    task_id, starts_on, ends_on, team_size = connection.execute(
        "SELECT id, starts_on, ends_on, inspectors_per_visit FROM tasks WHERE code = ?", (task_code,)).fetchone()
    visits = [v for (v,) in connection.execute("SELECT id FROM visits WHERE task_id = ? ORDER BY rank", (task_id,))]
    roster = [i for (i,) in connection.execute(
        "SELECT id FROM inspectors WHERE department_id IN (SELECT department_id FROM task_items WHERE task_id = ?) "
        "ORDER BY inspector_no", (task_id,))]
    days = working_days(dt.date.fromisoformat(starts_on), dt.date.fromisoformat(ends_on), {})
    dates, teams = [], []
    for n, visit in enumerate(visits):
        dates.append((days[n * len(days) // len(visits)].isoformat(), visit))
        teams.extend((visit, roster[(n * team_size + k) % len(roster)]) for k in range(team_size))
    connection.executemany("UPDATE visits SET scheduled_on = ? WHERE id = ?", dates)
    connection.executemany("INSERT INTO assignments (visit_id, inspector_id) VALUES (?, ?)", teams)
    connection.commit()
    seconds = time.perf_counter() - started
    connection.close()
    emit(seconds=seconds, visits=len(visits), inspectors=len(roster), days=len(days))


def assign_broken(db: Path) -> None:
    from assign import read_assignment, rule_counts  # bench/assign.py: the product's readers, stored dates
    from inspection.validate import validate

    facts = read_assignment(db, True)
    broken = validate(facts["visits"], facts["inspectors"], facts["teams"], facts["rules"])
    emit(violations=len(broken), rules=rule_counts(broken), visits=len(facts["visits"]),
         visits_breaking_a_rule=len({v.visit for v in broken if v.visit is not None}),
         inspectors_breaking_a_cap=len({v.inspector for v in broken if v.rule in ("per_day", "per_task")}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade-orm", help="grade row by row through the ORM")
    grade.add_argument("db", type=Path)
    grade.add_argument("--as-of", type=dt.date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    for name, text in (("draw-random", "ORDER BY random() per stratum"), ("assign-floor", "read the assignment's tables once"),
                       ("assign-round-robin", "the next two of one roster per visit"),
                       ("assign-broken", "the rules the stored teams break (not timed)")):
        command = sub.add_parser(name, help=text)
        command.add_argument("db", type=Path)
        if name != "assign-broken":  # it reads bench/assign.py's task
            command.add_argument("task", help="the task's code")
    args = parser.parse_args(argv)
    if not args.db.is_file():
        parser.error(f"{args.db}: no such file")
    if args.command == "grade-orm":
        grade_orm(args.db, args.as_of)
    elif args.command == "draw-random":
        draw_random(args.db, args.task)
    elif args.command == "assign-floor":
        assign_floor(args.db, args.task)
    elif args.command == "assign-round-robin":
        assign_round_robin(args.db, args.task)
    else:
        assign_broken(args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
