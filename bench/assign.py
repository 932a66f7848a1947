#!/usr/bin/env python3
"""Assignment benchmark: ``spotcheck task assign`` on a joint task of 6 departments, ~50,000 visits,
2,000 inspectors in 10 districts, against a round-robin baseline.

Target (issue 5): ≤ 30 s end to end (read, solve, validate, store) on the 2-core VM, every hard
rule held, and workload spread ≤ 1 visit among inspectors whose availability is equal.

1. Set-up (untimed; ``--keep DIR`` keeps it, ``--reuse`` reuses ``DIR/bench.db`` when it was
   prepared with the same options), all through the real CLI:
   - ``bench/generate.py``: 370,000 enterprises (0.2 credit records each, so the import is quick),
     2,000 inspectors, 6 departments with one item each (``--items 6``: every inspector of a
     department is then qualified for its item, by code or category), the 10 main-city districts
     of Chongqing, ``--today 2026-10-01``, and ``--inspector-departments`` SCJG 66 %, WJW 11 %,
     YJJ 6 %, STHJ 6 %, JTJ 7 %, WHLY 4 % (the generator's default, 60/12/10/8/6/4, does not fit
     what this task asks of each department: besides SCJG-01 (企业公示信息) the generated items
     apply to few industries, and a visit with SCJG's item alone takes 2 SCJG inspectors);
   - ``db upgrade``; ``import`` departments, items, enterprises, records, inspectors;
     ``credit grade --as-of 2026-10-01`` (95 % of enterprises are tier B);
   - ``plan create``, ``task create --seed`` and ``task draw --entropy``: one item per department,
     task-wide ratios A 10 %, B 25 %, C 40 %, D 50 % (一般检查事项: at most 50 %), window
     2026-10-08..2026-12-31 (62 working days), team of 2, caps 3 a day and 80 a task. About
     51,000 visits; each department's 在岗 inspectors get 20–66 inspector-visits each on average.
   ``--ratios items`` instead gives each item its own ratio (SCJG-01 15 %, WJW-01 22 %, YJJ-01 and
   STHJ-01 30 %, JTJ-01 20 %, WHLY-01 30 %) with 500,000 enterprises and the generator's default
   department mix: ~50,000 visits. Before the date stage spread each kind of visit (its set of
   departments) evenly, it piled the high-ratio departments' visits at the end of the window and
   1,395 visits were refused (see "date stage" below); now every visit is staffed.
2. Fix-ups on the drawn database, by direct SQL, all from a fixed seed (so each is reproducible):
   - **Re-homing.** The generator spreads inspectors evenly over the districts while enterprises
     follow district size (渝北 14 : 涪陵 6…), which leaves the big districts short. Within each
     department, the 在岗 inspectors (and, separately, the 离岗 ones) are re-apportioned over the
     districts in proportion to that department's demand there (largest remainder, at least 3
     在岗 where there is demand); those already in a district stay up to its share, the surplus
     (highest numbers first) moves, and a moved SCJG inspector takes a 监管所 of the new district.
   - **Declared conflicts (回避)**: 5 % of the visits' enterprises get one with an 在岗 inspector of
     their district and of one of the visit's departments.
   - **Certificates** of 3 % of the 在岗 inspectors expire on a day inside the window.
   - **Leave**: 10 % of the 在岗 inspectors without leave get a period of 3–10 days inside the
     window (the generated leave, 15 % of 在岗 inspectors around 2026-10-01, stays).
3. Timed, ``--runs`` times (default 3), each on a fresh copy of the prepared file (a task is
   assigned once): ``spotcheck --log-format json task assign TASK --json`` as a child process.
   Wall seconds and peak RSS come from ``os.wait4``; read/build/solve seconds from the command's
   ``assign_solved`` event; its own seconds from ``command_finished``. Every run must store the
   same ``assignment_runs.result_sha256`` (checked). Then ``task verify TASK`` on the last copy.
   A refusal (shortage) is reported with its message, not hidden.
4. The validator, in this process on the last copy: the stored teams and dates are read back
   (``visit_facts(..., stored_dates=True)``, ``inspector_facts``) and checked with
   ``inspection.validate.validate``; 0 violations expected.
5. Workload spread: inspectors grouped by (district, department, availability = working days of
   the window they are 在岗, certified and not on leave); the worst max − min load within a group of
   two or more (availability > 0) should be ≤ 1.
6. Date stage: the (district, department, day) cells whose dated visits need more inspectors than
   ``visits_per_day`` × that department's inspectors of the district on duty that day. Any such
   cell makes the task unstaffable whatever the solver does.
7. Round-robin baseline (in this process, timed): what older platforms do. The roster is every
   inspector of the task's departments by inspector number; from a random start (fixed seed) each
   visit, in draw-rank order, takes the next 2. The same dates and validator give the rules it
   breaks. A second baseline walks a roster per (district, department) and skips whoever is not
   eligible or at a cap: its shortfalls and spread.

``--profile N`` also runs ``assign_task`` in this process under cProfile on another copy and
prints the top N functions by cumulative time to stderr (the profiler slows Python code ~2x).
A table goes to stdout (``--json``: JSON); progress and logs go to stderr.

Examples::

    .venv/bin/python bench/assign.py --keep /tmp/assignbench --reuse          # full size, ~2.5 min the first time
    .venv/bin/python bench/assign.py --enterprises 20000 --inspectors 300 --districts 2 --runs 1   # smoke, ~15 s
    .venv/bin/python bench/assign.py --ratios items --keep /tmp/assignbench-items --runs 1        # each item its own ratio
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from grade import fail, last_json, log_events, run, warm_file
from measure import USER_STEPS, log, spotcheck_command

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_SECONDS = 30.0
TARGET_SPREAD = 1
SEED = "a551" * 16
ENTROPY = "bench 2026-10-07: 03 11 19 24 32 + 08"
TODAY = "2026-10-01"  # the generator's today and the grading's as-of date
PLAN_CODE, TASK_CODE = "BENCH-ASSIGN-2026", "BENCH-ASSIGN-2026-1"
STARTS_ON, ENDS_ON = dt.date(2026, 10, 8), dt.date(2026, 12, 31)
# The 10 main-city districts (渝北, 九龙坡, 沙坪坝, 江北, 南岸, 渝中, 巴南, 万州, 江津, 涪陵), biggest first.
DISTRICTS = ("500112", "500107", "500106", "500105", "500108", "500103", "500113", "500101", "500116", "500102")
DEPARTMENTS = ("SCJG", "WJW", "YJJ", "STHJ", "JTJ", "WHLY")
# Two ways to set the ratios (一般检查事项: at most 50 %), each with the enterprises and the
# inspectors' department mix that make about 50,000 visits a fair load for the staff:
MODES: dict[str, dict[str, Any]] = {
    # Task-wide ratios per tier, the same for every item (the usual task).
    "tiers": {"enterprises": 370_000, "ratios": {"A": "10%", "B": "25%", "C": "40%", "D": "50%"},
              "inspector_departments": "SCJG=66,WJW=11,YJJ=6,STHJ=6,JTJ=7,WHLY=4"},
    # One ratio per item (all tiers), the generator's own department mix (60/12/10/8/6/4).
    "items": {"enterprises": 500_000,
              "ratios": {"SCJG-01": "15%", "WJW-01": "22%", "YJJ-01": "30%", "STHJ-01": "30%", "JTJ-01": "20%", "WHLY-01": "30%"},
              "inspector_departments": None},
}
FIXUP_SEED = "bench/assign.py fix-ups"
ROUND_ROBIN_SEED = "bench/assign.py round robin"
CONFLICT_SHARE, EXPIRING_SHARE, LEAVE_SHARE = 0.05, 0.03, 0.10
MIN_ACTIVE = 3  # 在岗 inspectors of a department in a district where it has visits, at least


def plan_toml(districts: list[str]) -> str:
    return f"""code = "{PLAN_CODE}"
name = "基准测试六部门联合抽查工作计划"
year = 2026
departments = {json.dumps(list(DEPARTMENTS))}
[[batch]]
number = 1
starts_on = 2026-10-01
ends_on = 2026-12-31
quantity = 100000
scope = {{ districts = {json.dumps(districts)} }}
"""


def task_toml(mode: str) -> str:
    lines = [
        f'code = "{TASK_CODE}"', 'name = "基准测试：六部门联合抽查（检查人员分配）"', f'plan = "{PLAN_CODE}"', "batch = 1",
        'lead = "SCJG"', 'item_version = "2026"', f"starts_on = {STARTS_ON}", f"ends_on = {ENDS_ON}", "inspectors_per_visit = 2",
        "visits_per_day = 3", "visits_per_task = 80",
    ]
    ratios = MODES[mode]["ratios"]
    if mode == "tiers":
        lines.append("ratios = { " + ", ".join(f'{t} = "{r}"' for t, r in ratios.items()) + " }")
    for department in DEPARTMENTS:
        item = f"{department}-01"
        lines += ["[[department]]", f'code = "{department}"']
        if mode == "tiers":
            lines.append(f'items = ["{item}"]')
        else:
            r = ratios[item]
            lines.append(f'items = [{{ code = "{item}", ratios = {{ A = "{r}", B = "{r}", C = "{r}", D = "{r}" }} }}]')
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keep", type=Path, metavar="DIR", help="build in DIR and keep the files and the prepared database")
    p.add_argument("--reuse", action="store_true", help="with --keep: use DIR/bench.db when it was prepared with the same options")
    p.add_argument("--ratios", choices=sorted(MODES), default="tiers",
                   help="tiers: task-wide ratios per tier (default); items: one ratio per item (see the docstring)")
    p.add_argument("--enterprises", type=int, help="enterprises to generate (default: about 50,000 visits: "
                   + ", ".join(f"{m} {v['enterprises']:,}" for m, v in MODES.items()) + ")")
    p.add_argument("--inspectors", type=int, default=2000, help="inspectors to generate (default 2,000)")
    p.add_argument("--districts", type=int, default=len(DISTRICTS), choices=range(1, len(DISTRICTS) + 1), metavar="N",
                   help=f"how many of the {len(DISTRICTS)} main-city districts (default {len(DISTRICTS)})")
    p.add_argument("--runs", type=int, default=3, metavar="N", help="timed assignments, each on a fresh copy (default 3)")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also run assign_task in this process under cProfile and print the top N functions to stderr")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.reuse and not args.keep:
        p.error("--reuse needs --keep DIR")
    if args.enterprises is None:
        args.enterprises = MODES[args.ratios]["enterprises"]
    return args


# ---------------------------------------------------------------------------------------------
# Set-up: generate, import, grade, plan, task, draw, then the fix-ups
# ---------------------------------------------------------------------------------------------

def build(args: argparse.Namespace, folder: Path, workdir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The prepared database ``folder/bench.db`` and what the fix-ups did."""
    folder.mkdir(parents=True, exist_ok=True)
    db, info_path = folder / "bench.db", folder / "prepared.json"
    options = {"enterprises": args.enterprises, "inspectors": args.inspectors, "districts": list(DISTRICTS[:args.districts]),
               "mode": args.ratios, "ratios": MODES[args.ratios]["ratios"],
               "inspector_departments": MODES[args.ratios]["inspector_departments"], "seed": SEED, "entropy": ENTROPY, "window": [str(STARTS_ON), str(ENDS_ON)],
               "fixups": [FIXUP_SEED, CONFLICT_SHARE, EXPIRING_SHARE, LEAVE_SHARE, MIN_ACTIVE]}
    if args.reuse and db.exists() and info_path.exists():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("options") == options:
            log(f"reusing the prepared database {db}")
            return db, info["fixups"]
        log(f"{db} was prepared with other options: building it again")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    info_path.unlink(missing_ok=True)
    data, building = folder / "data", folder / "building.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    log(f"generating {args.enterprises:,} enterprises and {args.inspectors:,} inspectors in {args.districts} districts into {data}")
    step = run("generate", [sys.executable, str(HERE / "generate.py"), "--enterprises", str(args.enterprises),
                            "--records-per-enterprise", "0.2", "--inspectors", str(args.inspectors), "--items", "6",
                            "--departments", "6", "--districts", ",".join(options["districts"]), "--seed", "1",
                            "--today", TODAY, "--out", str(data), *(["--inspector-departments", options["inspector_departments"]]
                                                                    if options["inspector_departments"] else [])],
               workdir, stream_stderr=True)
    if step.returncode:
        fail(step, "bench/generate.py")
        return None
    spotcheck = [*spotcheck_command("bench/assign.py"), "--database-url", f"sqlite:///{building}", "--log-format", "json"]
    (workdir / "plan.toml").write_text(plan_toml(options["districts"]), encoding="utf-8")
    (workdir / "task.toml").write_text(task_toml(args.ratios), encoding="utf-8")
    steps = [("db upgrade", ["db", "upgrade"]), *USER_STEPS]
    steps += [(f"import {kind}", ["import", kind, str(data / f"{kind}.csv"), "--json"])
              for kind in ("departments", "items", "enterprises", "records", "inspectors")]
    steps += [("credit grade", ["credit", "grade", "--as-of", TODAY, "--json"]),
              ("plan create", ["plan", "create", str(workdir / "plan.toml")]),
              ("task create", ["task", "create", str(workdir / "task.toml"), "--seed", SEED]),
              ("task draw", ["task", "draw", TASK_CODE, "--entropy", ENTROPY, "--json"])]
    for name, argv in steps:
        t = time.perf_counter()
        step = run(name.replace(" ", "-"), [*spotcheck, *argv], workdir)
        if step.returncode:
            fail(step, name)
            return None
        log(f"  {name}: {time.perf_counter() - t:,.1f}s")
    drawn = last_json(step.stdout)
    log(f"drew {drawn.get('visits', '?'):,} visits of a population of {drawn.get('population', '?'):,}")
    fixups = fix_up(building, options["districts"])
    with sqlite3.connect(building) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    building.rename(db)
    for suffix in ("-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    info_path.write_text(json.dumps({"options": options, "fixups": fixups}, indent=2, ensure_ascii=False), encoding="utf-8")
    log(f"prepared {db} in {time.perf_counter() - started:,.0f}s")
    return db, fixups


def apportion(total: int, weights: dict[str, float], minimum: int) -> dict[str, int]:
    """``total`` shared in proportion to ``weights`` (largest remainder), each key with weight
    getting at least ``minimum`` while the total allows."""
    keys = sorted(k for k, w in weights.items() if w > 0)
    if not keys or total <= 0:
        return {k: 0 for k in weights}
    floor = min(minimum, total // len(keys))
    rest = total - floor * len(keys)
    whole = sum(weights[k] for k in keys)
    exact = {k: max(0.0, weights[k] * total / whole - floor) for k in keys}
    scale = rest / sum(exact.values()) if sum(exact.values()) else 0.0
    share = {k: floor + int(exact[k] * scale) for k in keys}
    left = total - sum(share.values())
    for k in sorted(keys, key=lambda k: (-(exact[k] * scale - int(exact[k] * scale)), k))[:left]:
        share[k] += 1
    return {k: share.get(k, 0) for k in weights}


def fix_up(db: Path, districts: list[str]) -> dict[str, Any]:
    """Re-homing, conflicts, expiring certificates and leave (see the module docstring)."""
    from inspection.matching import team_slots

    rng = random.Random(FIXUP_SEED)
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA foreign_keys=ON")
    (task_id,) = connection.execute("SELECT id FROM tasks WHERE code = ?", (TASK_CODE,)).fetchone()
    # Each visit: enterprise, district, departments (from its items).
    visits: dict[int, list[Any]] = {}
    for visit_id, uscc, district, department in connection.execute(
        "SELECT v.id, e.uscc, e.district_code, d.code FROM visits v JOIN enterprises e ON e.id = v.enterprise_id "
        "JOIN visit_items vi ON vi.visit_id = v.id JOIN task_items ti ON ti.id = vi.task_item_id "
        "JOIN departments d ON d.id = ti.department_id WHERE v.task_id = ? ORDER BY v.rank", (task_id,)
    ):
        visits.setdefault(visit_id, [uscc, district, set()])[2].add(department)
    demand: dict[str, Counter[str]] = defaultdict(Counter)  # department → district → inspectors needed
    for _, district, departments in visits.values():
        for department, count in team_slots(sorted(departments), 2, "SCJG"):
            demand[department][district] += count

    # Re-homing: each department's inspectors over the districts in proportion to its demand.
    inspectors = connection.execute(
        "SELECT i.id, i.inspector_no, d.code, i.district_code, i.status FROM inspectors i "
        "JOIN departments d ON d.id = i.department_id ORDER BY i.inspector_no").fetchall()
    stations: dict[str, list[str]] = defaultdict(list)
    for district, station in connection.execute(
        "SELECT district_code, station FROM enterprises WHERE station IS NOT NULL GROUP BY district_code, station ORDER BY district_code, station"
    ):
        stations[district].append(station)
    moved = 0
    home: dict[int, tuple[str, str, bool]] = {}  # inspector id → (department, district, active)
    for department in DEPARTMENTS:
        for active in (True, False):
            group = [r for r in inspectors if r[2] == department and (r[4] == "active") == active]
            weights = {d: float(demand[department][d]) for d in districts}
            if not any(weights.values()):
                weights = {d: 1.0 for d in districts}
            share = apportion(len(group), weights, MIN_ACTIVE if active else 0)
            placed: dict[str, list[Any]] = defaultdict(list)
            surplus = []
            for row in group:  # by inspector number: the first ones of a district keep their place
                if row[3] in share and len(placed[row[3]]) < share[row[3]]:
                    placed[row[3]].append(row)
                else:
                    surplus.append(row)
            surplus.reverse()
            for district in districts:
                while len(placed[district]) < share[district]:
                    row = surplus.pop()
                    placed[district].append(row)
                    where = stations[district]
                    station = where[rng.randrange(len(where))] if department == "SCJG" and where else None
                    connection.execute("UPDATE inspectors SET district_code = ?, station = ? WHERE id = ?", (district, station, row[0]))
                    moved += 1
            for district, rows in placed.items():
                for row in rows:
                    home[row[0]] = (department, district, active)
    by_place: dict[tuple[str, str], list[int]] = defaultdict(list)
    for inspector_id, (department, district, active) in sorted(home.items()):
        if active:
            by_place[(department, district)].append(inspector_id)

    # Declared conflicts: 5 % of the visits' enterprises, with an inspector who could otherwise go.
    existing = set(connection.execute("SELECT inspector_id, uscc FROM inspector_conflicts"))
    conflicts = 0
    for visit_id in sorted(rng.sample(sorted(visits), round(CONFLICT_SHARE * len(visits)))):
        uscc, district, departments = visits[visit_id]
        department = sorted(departments)[rng.randrange(len(departments))]
        pool = by_place.get((department, district))
        if not pool:
            continue
        inspector_id = pool[rng.randrange(len(pool))]
        if (inspector_id, uscc) not in existing:
            existing.add((inspector_id, uscc))
            connection.execute("INSERT INTO inspector_conflicts (inspector_id, uscc) VALUES (?, ?)", (inspector_id, uscc))
            conflicts += 1

    # Certificates expiring inside the window, and leave inside it.
    active_ids = sorted(i for i, (_, _, active) in home.items() if active)
    span = (ENDS_ON - STARTS_ON).days
    expiring = sorted(rng.sample(active_ids, round(EXPIRING_SHARE * len(active_ids))))
    for inspector_id in expiring:
        day = STARTS_ON + dt.timedelta(days=rng.randrange(span))
        connection.execute("UPDATE inspectors SET certificate_expires = ? WHERE id = ?", (day.isoformat(), inspector_id))
    on_leave = {i for (i,) in connection.execute("SELECT DISTINCT inspector_id FROM inspector_leaves")}
    free = [i for i in active_ids if i not in on_leave]
    leave_ids = sorted(rng.sample(free, min(len(free), round(LEAVE_SHARE * len(active_ids)))))
    leave_days = 0
    for inspector_id in leave_ids:
        length = rng.randint(3, 10)
        start = STARTS_ON + dt.timedelta(days=rng.randrange(span - length + 2))
        end = min(ENDS_ON, start + dt.timedelta(days=length - 1))
        leave_days += (end - start).days + 1
        connection.execute("INSERT INTO inspector_leaves (inspector_id, starts_on, ends_on) VALUES (?, ?, ?)",
                           (inspector_id, start.isoformat(), end.isoformat()))
    connection.commit()
    connection.close()
    capacity = {d: {k: len(v) for (dep, k), v in by_place.items() if dep == d} for d in DEPARTMENTS}
    need = {d: sum(demand[d].values()) for d in DEPARTMENTS}
    fixups = {
        "visits": len(visits), "inspectors_moved": moved, "conflicts_added": conflicts, "certificates_expiring": len(expiring),
        "leave_added": len(leave_ids), "leave_days_added": leave_days,
        "demand": need, "active_inspectors": {d: sum(capacity[d].values()) for d in DEPARTMENTS},
    }
    log(f"fix-ups: {moved:,} inspectors re-homed, {conflicts:,} conflicts, {len(expiring):,} certificates expiring, "
        f"{len(leave_ids):,} leave periods ({leave_days:,} days)")
    for d in DEPARTMENTS:
        active = fixups["active_inspectors"][d]
        log(f"  {d}: demand {need[d]:,} inspector-visits for {active:,} 在岗 inspectors = {need[d] / max(active, 1):.1f} each")
    return fixups


# ---------------------------------------------------------------------------------------------
# The timed runs
# ---------------------------------------------------------------------------------------------

def copy_db(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)
    if Path(f"{source}-wal").exists():
        shutil.copyfile(f"{source}-wal", f"{target}-wal")


def one_run(n: int, source: Path, workdir: Path) -> tuple[dict[str, Any], Path]:
    """One timed ``task assign`` on a fresh copy; a refusal (a shortage) is a result too."""
    db = workdir / f"run{n}.db"
    copy_db(source, db)
    warm_file(db)
    spotcheck = [*spotcheck_command("bench/assign.py"), "--database-url", f"sqlite:///{db}", "--log-format", "json"]
    step = run(f"assign{n}", [*spotcheck, "task", "assign", TASK_CODE, "--json"], workdir)
    events = log_events(step.stderr)
    solved = events.get("assign_solved", {})
    result = last_json(step.stdout)
    error = None
    if step.returncode:
        error = events.get("command_failed", {}).get("error") or "\n".join(step.stderr.strip().splitlines()[-3:])
        log(f"  run {n + 1}: task assign failed (exit {step.returncode}): {error[:2000]}")
    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT r.result_sha256, r.visits, r.load_min, r.load_max FROM assignment_runs r "
                                 "JOIN tasks t ON t.id = r.task_id WHERE t.code = ?", (TASK_CODE,)).fetchone()
    connection.close()
    out = {
        "wall_seconds": round(step.seconds, 3), "peak_rss_mb": round(step.peak_rss_mb),
        "command_seconds": events.get("command_finished", events.get("command_failed", {})).get("seconds"),
        "read_seconds": solved.get("read_seconds"), "build_seconds": solved.get("build_seconds"),
        "solve_seconds": solved.get("solve_seconds"), "pairs": solved.get("pairs"),
        "visits": result.get("visits"), "assigned": result.get("assigned"), "inspectors": result.get("inspectors"),
        "load_min": result.get("load_min"), "load_max": result.get("load_max"),
        "reproducible": result.get("reproducible"), "cpsat_blocks": solved.get("cpsat_blocks"),
        "status": "stored" if row else "refused" if step.returncode else "nothing stored", "exit": step.returncode,
        "error": error, "result_sha256": row[0] if row else None,
        "solved_event": {k: v for k, v in solved.items() if k not in ("event", "timestamp", "level", "logger", "command")},
    }
    log(f"  run {n + 1}: {step.seconds:,.2f}s wall, {out['command_seconds']}s in command "
        f"(read {out['read_seconds']}, build {out['build_seconds']}, solve {out['solve_seconds']}), peak RSS {step.peak_rss_mb:,.0f} MB")
    return out, db


def verify(db: Path, workdir: Path) -> dict[str, Any]:
    spotcheck = [*spotcheck_command("bench/assign.py"), "--database-url", f"sqlite:///{db}", "--log-format", "json"]
    step = run("verify", [*spotcheck, "task", "verify", TASK_CODE, "--json"], workdir)
    result = last_json(step.stdout)
    findings = result.get("findings") or []
    if step.returncode and not result:
        findings = [{"check": "error", "message": "\n".join((step.stdout + step.stderr).strip().splitlines()[-3:])}]
    return {"passed": step.returncode == 0, "exit": step.returncode, "wall_seconds": round(step.seconds, 3),
            "seconds": log_events(step.stderr).get("command_finished", {}).get("seconds"), "findings": findings}


# ---------------------------------------------------------------------------------------------
# In this process: the validator, the spread, the round-robin baselines
# ---------------------------------------------------------------------------------------------

def read_assignment(db: Path, stored: bool) -> dict[str, Any]:
    """The task's facts and the stored teams, read back through the product's own readers
    (``stored``: the dates the assignment stored, else the date stage's)."""
    from sqlalchemy import select

    from credit.db import make_engine, make_sessionmaker
    from credit.models import Department
    from inspection import assigning
    from inspection.task_models import Assignment, Visit
    from inspection.tasks import get_task

    engine = make_engine(f"sqlite:///{db}")
    started = time.perf_counter()
    try:
        with make_sessionmaker(engine)() as session:
            task = get_task(session, TASK_CODE)
            days = assigning.working_days(session, task.starts_on, task.ends_on)
            visits, _ = assigning.visit_facts(session, task, days, stored_dates=stored)
            inspectors = assigning.inspector_facts(session, {d for v in visits for d in v.items})
            teams: dict[int, list[int]] = defaultdict(list)
            for visit_id, inspector_id in session.execute(
                select(Assignment.visit_id, Assignment.inspector_id).join(Visit, Visit.id == Assignment.visit_id).where(Visit.task_id == task.id)
            ):
                teams[visit_id].append(inspector_id)
            rules = assigning.rules_of(assigning.task_params(session, task, days))
            lead_code = session.get(Department, task.lead_department_id).code
    finally:
        engine.dispose()
    return {"visits": visits, "inspectors": inspectors, "teams": dict(teams), "rules": rules, "days": days,
            "lead": lead_code, "read_seconds": time.perf_counter() - started}


def availability(inspector: Any, days: list[dt.date]) -> int:
    """Working days of the window the inspector is 在岗, certified and not on leave."""
    if not inspector.active or inspector.certificate_expires is None:
        return 0
    return sum(1 for day in days if inspector.certificate_expires >= day and not any(s <= day <= e for s, e in inspector.leave))


def spread(inspectors: list[Any], teams: dict[int, list[int]], days: list[dt.date]) -> dict[str, Any]:
    """Load spread within (district, department, availability) groups."""
    load: Counter[int] = Counter(i for team in teams.values() for i in team)
    groups: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for inspector in inspectors:
        groups[(inspector.district, inspector.department, availability(inspector, days))].append(load[inspector.id])
    sized = {k: v for k, v in groups.items() if len(v) >= 2 and k[2] > 0}
    spreads = {k: max(v) - min(v) for k, v in sized.items()}
    worst = max(spreads, key=lambda k: (spreads[k], len(sized[k]), k), default=None)
    over = [k for k, s in spreads.items() if s > TARGET_SPREAD]
    members = sum(len(v) for v in sized.values())
    loads = [load[i.id] for i in inspectors if load[i.id] > 0]
    return {
        "groups": len(sized), "inspectors_in_groups": members, "worst_spread": spreads[worst] if worst else 0,
        "groups_over_target": len(over), "inspectors_in_groups_over_target": sum(len(sized[k]) for k in over),
        "worst_group": {"district": worst[0], "department": worst[1], "availability_days": worst[2], "members": len(sized[worst]),
                        "load_min": min(sized[worst]), "load_max": max(sized[worst])} if worst else None,
        "spread_histogram": dict(sorted(Counter(spreads.values()).items())),
        "worst_groups": [{"district": k[0], "department": k[1], "availability_days": k[2], "members": len(sized[k]),
                          "loads": dict(sorted(Counter(sized[k]).items()))}
                         for k in sorted(over, key=lambda k: (-spreads[k], k))[:10]],
        "load_min": min(loads, default=0), "load_max": max(loads, default=0), "inspectors_with_visits": len(loads),
    }


def day_overload(visits: list[Any], inspectors: list[Any], rules: Any, lead: str) -> dict[str, Any]:
    """(district, department, day) cells whose visits, as dated, need more inspectors than that
    department's inspectors of the district on duty that day can give (``per_day`` each): no
    staffing can exist then, whatever the solver (the date stage alone decides it)."""
    from inspection.matching import team_slots

    need: Counter[tuple[str, str, dt.date]] = Counter()
    visits_in: Counter[tuple[str, str, dt.date]] = Counter()
    for visit in visits:
        for department, count in team_slots(sorted(visit.items), rules.team_size, lead):
            need[(visit.district, department, visit.day)] += count
            visits_in[(visit.district, department, visit.day)] += 1
    days = sorted({v.day for v in visits})
    duty: Counter[tuple[str, str, dt.date]] = Counter()
    for inspector in inspectors:
        if inspector.active and inspector.certificate_expires is not None:
            for day in days:
                if inspector.certificate_expires >= day and not any(s <= day <= e for s, e in inspector.leave):
                    duty[(inspector.district, inspector.department, day)] += 1
    over = {k: (n, rules.per_day * duty[k]) for k, n in need.items() if n > rules.per_day * duty[k]}
    worst = sorted(over, key=lambda k: (-(over[k][0] - over[k][1]), k))[:5]
    return {"cells": len(over), "visits": sum(visits_in[k] for k in over), "missing": sum(n - c for n, c in over.values()),
            "worst": [{"district": k[0], "department": k[1], "day": str(k[2]), "needed": over[k][0], "can_give": over[k][1]} for k in worst]}


# The validator's rule names (inspection/validate.py), so a baseline's table shows the ones it keeps too.
RULES = ("territory", "department", "active", "certificate", "leave", "qualification", "recusal", "per_day", "per_task", "team",
         "working_day", "window")


def rule_counts(violations: list[Any]) -> dict[str, int]:
    return dict(sorted(Counter(v.rule for v in violations).items(), key=lambda kv: (-kv[1], kv[0])))


def round_robin(visits: list[Any], inspectors: list[Any], team_size: int) -> dict[int, list[int]]:
    """Older platforms: one roster (by inspector number), a random start, the next ``team_size``
    people for each visit in draw-rank order. No rule is looked at."""
    roster = sorted(inspectors, key=lambda i: i.number)
    position = random.Random(ROUND_ROBIN_SEED).randrange(len(roster))
    teams = {}
    for visit in visits:
        teams[visit.id] = [roster[(position + k) % len(roster)].id for k in range(team_size)]
        position += team_size
    return teams


def round_robin_eligible(visits: list[Any], inspectors: list[Any], rules: Any, lead: str) -> dict[int, list[int]]:
    """A careful round robin: a roster per (district, department) from a random start; each slot
    takes the next one who is eligible, not already on the team and under both caps; a slot nobody
    can take stays empty."""
    from inspection.eligibility import refusal
    from inspection.matching import team_slots

    rng = random.Random(ROUND_ROBIN_SEED + " per place")
    rosters: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for inspector in inspectors:
        rosters[(inspector.department, inspector.district)].append(inspector)
    position = {k: rng.randrange(len(v)) for k, v in sorted(rosters.items())}
    per_day: Counter[tuple[int, dt.date]] = Counter()
    per_task: Counter[int] = Counter()
    teams: dict[int, list[int]] = {}
    for visit in visits:
        team: list[int] = []
        for department, count in team_slots(sorted(visit.items), rules.team_size, lead):
            roster = rosters.get((department, visit.district), [])
            for _ in range(count):
                for step in range(len(roster)):
                    inspector = roster[(position[(department, visit.district)] + step) % len(roster)]
                    if (inspector.id not in team and per_day[(inspector.id, visit.day)] < rules.per_day
                            and per_task[inspector.id] < rules.per_task and refusal(visit, inspector, rules.cross_station) is None):
                        team.append(inspector.id)
                        per_day[(inspector.id, visit.day)] += 1
                        per_task[inspector.id] += 1
                        position[(department, visit.district)] += step + 1
                        break
        teams[visit.id] = team
    return teams


def check(db: Path, stored: bool) -> dict[str, Any]:
    """The validator and the spread of the stored assignment (when there is one), and the
    round-robin baselines on the same visits and days."""
    from inspection.validate import validate

    log("validator: reading the stored assignment back" if stored else "no assignment stored: reading the visits, dated by the date stage")
    facts = read_assignment(db, stored)
    visits, inspectors, teams, rules, days = facts["visits"], facts["inspectors"], facts["teams"], facts["rules"], facts["days"]
    out: dict[str, Any] = {"validator": None, "spread": None, "day_overload": day_overload(visits, inspectors, rules, facts["lead"])}
    if stored:
        started = time.perf_counter()
        violations = validate(visits, inspectors, teams, rules)
        validated = time.perf_counter() - started
        staffed = sum(1 for v in visits if teams.get(v.id))
        out["validator"] = {"violations": len(violations), "rules": rule_counts(violations), "visits_staffed": staffed,
                            "read_seconds": round(facts["read_seconds"], 3), "seconds": round(validated, 3),
                            "first": [str(v) for v in violations[:5]]}
        out["spread"] = spread(inspectors, teams, days)
        log(f"validator: {len(violations)} violations ({validated:,.2f}s); spread: worst {out['spread']['worst_spread']} "
            f"over {out['spread']['groups']} groups")

    log("round robin: one roster from a random start")
    started = time.perf_counter()
    naive = round_robin(visits, inspectors, rules.team_size)
    naive_seconds = time.perf_counter() - started
    broken = validate(visits, inspectors, naive, rules)
    bad_visits = len({v.visit for v in broken if v.visit is not None})
    out["round_robin"] = {"seconds": round(naive_seconds, 3), "violations": len(broken), "rules": rule_counts(broken),
                          "visits_breaking_a_rule": bad_visits, "visits": len(visits)}

    log("round robin per (district, department), skipping the ineligible")
    started = time.perf_counter()
    careful = round_robin_eligible(visits, inspectors, rules, facts["lead"])
    careful_seconds = time.perf_counter() - started
    broken = validate(visits, inspectors, careful, rules)
    out["round_robin_eligible"] = {
        "seconds": round(careful_seconds, 3), "violations": len(broken), "rules": rule_counts(broken),
        "visits_short": sum(1 for v in visits if len(careful.get(v.id, ())) < max(rules.team_size, len(v.items))),
        "visits": len(visits), "spread": spread(inspectors, careful, days),
    }
    return out


# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="assignbench-") as tmp:
        workdir = Path(tmp)
        built = build(args, args.keep.resolve() if args.keep else workdir / "built", workdir)
        if built is None:
            return 1
        source, fixups = built
        upgrade = run("upgrade", [*spotcheck_command("bench/assign.py"), "--database-url", f"sqlite:///{source}", "--log-level", "warning", "db", "upgrade"], workdir)
        if upgrade.returncode:
            return fail(upgrade, "db upgrade")
        runs: list[dict[str, Any]] = []
        last: Path | None = None
        for n in range(args.runs):
            log(f"task assign, run {n + 1}/{args.runs}")
            result, db = one_run(n, source, workdir)
            runs.append(result)
            if last is not None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{last}{suffix}").unlink(missing_ok=True)
            last = db
        assert last is not None
        stored = runs[-1]["status"] == "stored"
        verified = None
        if stored:
            log("task verify")
            verified = verify(last, workdir)
        checked = check(last, stored)
        if args.profile:
            checked["profile"] = profile(source, workdir, args.profile)
    return report(args, fixups, runs, verified, checked)


def profile(source: Path, workdir: Path, top: int) -> list[dict[str, Any]]:
    """``assign_task`` in this process under cProfile, on another fresh copy: the top functions by
    cumulative time go to stderr (the profiler roughly doubles the time of Python code)."""
    import cProfile
    import contextlib
    import io
    import pstats

    from credit.db import make_engine, make_sessionmaker
    from inspection.assigning import assign_task

    db = workdir / "profile.db"
    copy_db(source, db)
    engine = make_engine(f"sqlite:///{db}")
    profiler = cProfile.Profile()
    log("profiling assign_task in this process")
    try:
        # The command's log lines go to stdout by default: keep stdout for the results.
        with contextlib.redirect_stdout(sys.stderr), make_sessionmaker(engine).begin() as session:
            profiler.enable()
            try:
                assign_task(session, TASK_CODE, "bench")
            except Exception as exc:  # a shortage still shows where the time went
                log(f"  assign_task: {type(exc).__name__}: {str(exc)[:300]}")
            finally:
                profiler.disable()
    finally:
        engine.dispose()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    print(text.getvalue(), file=sys.stderr)
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][3])[:top]:  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(filename).name}:{line}({function})", "calls": calls,
                     "own_seconds": round(own, 3), "cumulative_seconds": round(cumulative, 3)})
    return rows


def report(args: argparse.Namespace, fixups: dict[str, Any], runs: list[dict[str, Any]], verified: dict[str, Any] | None,
           checked: dict[str, Any]) -> int:
    stored = all(r["status"] == "stored" for r in runs)
    same = stored and len({r["result_sha256"] for r in runs}) == 1
    median_wall = statistics.median(r["wall_seconds"] for r in runs)
    validator, spread_ = checked["validator"], checked["spread"]
    time_met = median_wall <= TARGET_SECONDS
    rules_met = stored and validator is not None and validator["violations"] == 0 and validator["visits_staffed"] == fixups["visits"]
    spread_met = spread_ is not None and spread_["worst_spread"] <= TARGET_SPREAD
    summary = {
        "setup": {"enterprises": args.enterprises, "inspectors": args.inspectors, "districts": list(DISTRICTS[:args.districts]),
                  "window": [str(STARTS_ON), str(ENDS_ON)], "mode": args.ratios, "ratios": MODES[args.ratios]["ratios"],
                  "inspector_departments": MODES[args.ratios]["inspector_departments"], **fixups},
        "runs": runs, "median_wall_seconds": median_wall, "same_result_every_run": same, "verify": verified, **checked,
        "target": {"seconds": TARGET_SECONDS, "spread": TARGET_SPREAD, "time_met": time_met, "rules_met": rules_met,
                   "spread_met": spread_met, "met": time_met and rules_met and spread_met},
    }
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0 if same and rules_met else 1

    s = summary["setup"]
    print(f"\n{s['visits']:,} visits, {args.inspectors:,} inspectors, {len(s['districts'])} districts, 6 departments; "
          f"ratios by {args.ratios}; window {STARTS_ON}..{ENDS_ON}")
    print(f"fix-ups: {s['inspectors_moved']:,} inspectors re-homed, {s['conflicts_added']:,} conflicts "
          f"({s['conflicts_added'] / max(s['visits'], 1):.1%} of visits), {s['certificates_expiring']:,} certificates expiring, "
          f"{s['leave_added']:,} leave periods in the window")
    print("demand (inspector-visits) per 在岗 inspector: " + ", ".join(
        f"{d} {s['demand'][d] / max(s['active_inspectors'][d], 1):.1f}" for d in DEPARTMENTS))

    def num(x: Any) -> str:
        return "" if x is None else f"{x:,.2f}"

    print(f"\n{'run':>4} {'wall s':>8} {'cmd s':>7} {'read s':>7} {'build s':>8} {'solve s':>8} {'peak MB':>8} {'pairs':>10} "
          f"{'visits':>8} {'assigned':>9} {'load':>7} {'status':>8}")
    for n, r in enumerate(runs, 1):
        load = f"{r['load_min']}–{r['load_max']}" if r["load_min"] is not None else ""
        print(f"{n:>4} {r['wall_seconds']:>8.2f} {num(r['command_seconds']):>7} {num(r['read_seconds']):>7} {num(r['build_seconds']):>8} "
              f"{num(r['solve_seconds']):>8} {r['peak_rss_mb']:>8,} {r['pairs'] or 0:>10,} {r['visits'] or 0:>8,} {r['assigned'] or 0:>9,} "
              f"{load:>7} {r['status']:>8}")
    for r in runs:
        if r["error"]:
            print("task assign refused:\n  " + r["error"].replace("\n", "\n  "))
            break
    print(f"same result hash every run: {same}" + (f" ({runs[0]['result_sha256']})" if stored else "")
          + "".join(f"; CP-SAT blocks {r['cpsat_blocks']}" for r in runs[:1] if r["cpsat_blocks"] is not None)
          + ("; a run says it is not reproducible" if any(r["reproducible"] is False for r in runs) else ""))
    if verified is not None:
        print(f"task verify: {'passed' if verified['passed'] else 'FAILED (exit ' + str(verified['exit']) + ')'} in {verified['wall_seconds']:.1f}s wall"
              + "".join(f"\n  {f.get('check')}: {f.get('message')}" for f in verified["findings"][:5]))
    if validator is not None:
        print(f"validator: {validator['violations']} violations" + (f" {validator['rules']}" if validator["violations"] else "")
              + f"; {validator['visits_staffed']:,} of {s['visits']:,} visits staffed (read back {validator['read_seconds']:.1f}s, "
              f"checked {validator['seconds']:.1f}s)")
    if spread_ is not None:
        w = spread_["worst_group"] or {}
        print(f"workload spread: {spread_['groups']} groups of equal (district, department, availability) with 2+ members; "
              f"worst max−min = {spread_['worst_spread']} ({w.get('department')} in {w.get('district')}, {w.get('availability_days')} days, "
              f"{w.get('members')} inspectors, {w.get('load_min')}–{w.get('load_max')} visits); {spread_['groups_over_target']} groups "
              f"({spread_['inspectors_in_groups_over_target']} inspectors) over {TARGET_SPREAD}; groups by spread {spread_['spread_histogram']}")
    o = checked["day_overload"]
    print(f"date stage: {o['cells']} (district, department, day) cells need more than visits_per_day x the inspectors on duty"
          + (f" ({o['visits']:,} visits, {o['missing']:,} inspector-visits missing); worst: " + "; ".join(
              f"{w['department']} in {w['district']} on {w['day']}: {w['needed']} needed, {w['can_give']} possible" for w in o["worst"][:3])
             if o["cells"] else ""))
    rr, rre = checked["round_robin"], checked["round_robin_eligible"]
    print(f"\nround robin (one roster, random start, next 2): {rr['seconds']:.2f}s; {rr['visits_breaking_a_rule']:,} of {rr['visits']:,} "
          f"visits break a rule; {rr['violations']:,} violations:")
    for rule in [*rr["rules"], *(r for r in RULES if r not in rr["rules"])]:
        print(f"  {rule:<14} {rr['rules'].get(rule, 0):>9,}")
    print("  (an inspector of a department without items on the visit counts under department, not qualification: every "
          "inspector holds their own department's one item)")
    sp = rre["spread"]
    print(f"round robin per (district, department), skipping the ineligible and those at a cap: {rre['seconds']:.2f}s; "
          f"{rre['visits_short']:,} visits short; {rre['violations']:,} violations {rre['rules'] or ''}; "
          f"loads {sp['load_min']}–{sp['load_max']}, worst spread {sp['worst_spread']} ({sp['groups_over_target']} groups over {TARGET_SPREAD})")
    print(f"\ntarget: <= {TARGET_SECONDS:.0f} s end to end (median wall {median_wall:.2f} s: {'met' if time_met else 'NOT met'}); "
          f"every hard rule held: {'met' if rules_met else 'NOT met'}; spread <= {TARGET_SPREAD} where availability is equal: "
          f"{'met' if spread_met else 'NOT met'}")
    print("wall s = the child process (interpreter start-up, read, solve, validate, store); cmd s = its command_finished; "
          "read/build/solve s = its assign_solved event.")
    return 0 if same and rules_met else 1


if __name__ == "__main__":
    sys.exit(main())
