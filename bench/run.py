#!/usr/bin/env python3
"""Run every benchmark at 10k, 100k and 1M enterprises against naive baselines and floors measured
in the same run, and write bench/RESULTS.md (also printed to stdout; progress goes to stderr).

Per size N, in WORKDIR/<size>/, kept so that a later run reuses what was built (--rebuild
builds again):

  import/   bench/import.py: N enterprises with ~10 credit records each. When the database is
            reused, the import figures are those measured when it was built.
            bench/grade.py on it: `credit grade` and its floors; baselines.py grade-orm.
  draw/     bench/draw.py: N enterprises with ~2 records each, graded; a joint task of 3
            departments and 10 items; `task draw` and its floors. baselines.py draw-random on a
            copy with the same plan and task.
  assign/   bench/assign.py with its own task, scaled so it has about 5 % of N visits (see
            assign_shape); `task assign`. baselines.py assign-floor, assign-round-robin and
            assign-broken on a copy.
  logs/     every child's stdout and stderr.

bench/fairness.py runs once (it does not depend on N), and bench/province.py once on the
PostgreSQL server of ``--postgres`` (200,000 enterprises in 8 districts; skipped with ``--postgres ''``).

Example::

    bench/run --sizes 10k,100k
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from assign import TASK_CODE as ASSIGN_TASK
from assign import copy_db
from draw import PLAN, SEED, TASK
from grade import last_json
from measure import Timed, log, run_timed, spotcheck_command
from province import SERVER as PROVINCE_SERVER
from province import table as province_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DRAW_TASK = tomllib.loads(TASK)["code"]
RECORDS_PER_ENTERPRISE = 10  # the import benchmark's default; the draw's database has 2 (bench/draw.py)


@dataclass
class Row:
    """One line of a size's table; None where there is nothing to compare with."""

    step: str
    seconds: float | None = None
    peak_mb: float | None = None
    baseline_seconds: float | None = None
    baseline_peak_mb: float | None = None
    floor_seconds: float | None = None
    error: str | None = None


@dataclass
class SizeResult:
    label: str
    enterprises: int
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    broken: dict[str, Any] | None = None  # the round robin's rules broken
    minutes: float = 0.0
    load: str = ""  # the 1-minute load average at the start and the end: how contended the figures are


class Runner:
    """Runs the children of one size, logging them in ``logs``."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)

    def run(self, name: str, argv: list[str], *, stream: bool = False) -> tuple[Timed, dict[str, Any]]:
        """A child and the JSON object it printed ({} if none); a failure is logged with its output's tail."""
        timed = run_timed(name, argv, self.logs, cwd=ROOT, stream_stderr=stream)
        if timed.returncode:
            tail = "\n".join((timed.stdout + timed.stderr).strip().splitlines()[-8:])
            log(f"{name} failed (exit {timed.returncode}); {self.logs}/{name}.stdout|stderr:\n{tail}")
        try:  # the benchmark scripts print one indented JSON document, the baselines one line
            result = json.loads(timed.stdout)
        except ValueError:
            result = last_json(timed.stdout)
        return timed, result if isinstance(result, dict) else {}

    def baseline(self, name: str, *args: str) -> tuple[Timed, dict[str, Any]]:
        return self.run(name, [sys.executable, str(HERE / "baselines.py"), name, *args])

    def bench(self, script: str, *args: str) -> tuple[Timed, dict[str, Any]]:
        """One of the benchmark scripts, its progress shown live on stderr."""
        return self.run(script.removesuffix(".py"), [sys.executable, str(HERE / script), *args, "--json"], stream=True)


def failure(timed: Timed, name: str, logs: Path) -> str:
    return f"{name} failed (exit {timed.returncode}); see {logs}/{name}.*"


def fresh(folder: Path, complete: bool) -> None:
    """Remove ``folder`` unless it was built completely: an interrupted build leaves a half-loaded
    database that the scripts' --reuse would take as it is."""
    if not complete and folder.exists():
        log(f"{folder}: no complete build, building it again")
        shutil.rmtree(folder)


def graded(db: Path) -> bool:
    """Whether ``db`` has a grading run: bench/draw.py's build grades last, once everything is loaded."""
    try:
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as connection:
            found = connection.execute("SELECT count(*) FROM grading_runs").fetchone()[0] > 0
        connection.close()
        return found
    except sqlite3.Error:
        return False


def remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# The steps of one size
# ---------------------------------------------------------------------------------------------

def import_rows(size: SizeResult, root: Path, runner: Runner) -> Path | None:
    """The import database (built once; None when that fails) and its two big imports' figures.
    import.json, written once the imports succeeded, keeps their figures for later runs."""
    folder, marker = root / "import", root / "import" / "import.json"
    fresh(folder, marker.exists())
    if not marker.exists():
        timed, result = runner.bench("import.py", "--enterprises", str(size.enterprises),
                                   "--records-per-enterprise", str(RECORDS_PER_ENTERPRISE), "--keep", str(folder))
        if timed.returncode or not result:
            size.rows.append(Row("import", error=failure(timed, "import", runner.logs)))
            return None
        marker.write_text(json.dumps({"built": dt.datetime.now().isoformat(timespec="seconds"), **result}, indent=2), encoding="utf-8")
    built = json.loads(marker.read_text(encoding="utf-8"))
    floor = built.get("floor")  # bench/import_floor.py: SQLite alone storing the records and their audit rows
    for entry in built["steps"]:
        if entry["step"] in ("import-enterprises", "import-records"):
            kind = entry["step"].removeprefix("import-")
            floor_s = entry["rows"] / floor["records_with_trail_per_s"] if floor and kind == "records" else None
            size.rows.append(Row(f"import {kind} ({entry['rows']:,} rows)", entry["command_seconds"] or entry["seconds"], entry["peak_rss_mb"],
                                 floor_seconds=floor_s))
    size.details.append(f"Import figures measured when the database was built ({built['built']}); "
                        f"{RECORDS_PER_ENTERPRISE} records per enterprise on average.")
    if floor:
        size.details.append(f"Import floor (bench/import_floor.py, the first {floor['records']:,} records): SQLite alone stores "
                            f"{floor['records_per_s']:,} records/s, {floor['records_with_trail_per_s']:,} with their audit packs, "
                            "no parsing or hashing; the records row's floor is that rate over all its rows.")
    return folder / "bench.db"


def grade_row(size: SizeResult, db: Path, runner: Runner, as_of: str, runs: int) -> None:
    timed, result = runner.bench("grade.py", "--db", str(db), "--as-of", as_of, "--runs", str(runs))
    if timed.returncode or not result:
        size.rows.append(Row("grade: `credit grade`", error=failure(timed, "grade", runner.logs)))
        return
    g, a, b = result["grading"], result["floor_a_scan"], result["floor_b_fetch"]
    row = Row("grade: `credit grade`", g["seconds"], g["peak_rss_mb"], floor_seconds=a["seconds"])
    base_timed, base = runner.baseline("grade-orm", str(db), "--as-of", as_of)
    if base_timed.returncode or not base:
        row.error = failure(base_timed, "grade-orm", runner.logs)
    else:
        row.baseline_seconds, row.baseline_peak_mb = base["seconds"], base_timed.peak_rss_mb
        same = base["same_tier_as_credit_grade"]
        size.details.append(
            f"Grade: {g['records']:,} records read; read {seconds(g['stages']['read'])} s, score {seconds(g['stages']['score'])} s, "
            f"write {seconds(g['stages']['write'])} s. Floor (b), the grader's stored columns of the records: {seconds(b['seconds'])} s "
            f"(grade = {times(g['seconds'] / b['seconds'])} it). ORM baseline: {base['records_loaded']:,} records loaded as "
            f"entities for {base['enterprises']:,} enterprises (read and score {seconds(base['read_score_seconds'])} s, write "
            f"{seconds(base['write_seconds'])} s); same tier as `credit grade` for "
            + (f"{same:.1%}" if same is not None else "? (no run of the same date)") + " of them.")
    size.rows.append(row)


def draw_row(size: SizeResult, root: Path, runner: Runner, runs: int) -> None:
    folder = root / "draw"
    fresh(folder, graded(folder / "bench.db"))
    timed, result = runner.bench("draw.py", "--keep", str(folder), "--reuse", "--enterprises", str(size.enterprises), "--runs", str(runs))
    if timed.returncode or not result:
        size.rows.append(Row("draw: `task draw`", error=failure(timed, "draw", runner.logs)))
        return
    first = result["runs"][0]
    row = Row("draw: `task draw`", result["median_seconds"], max(r["peak_rss_mb"] for r in result["runs"]),
              floor_seconds=result["floors"]["read id, USCC"])
    # The baseline draws the same task on a copy: plan and task made as bench/draw.py makes them.
    copy = root / "scratch" / "draw.db"
    copy.parent.mkdir(exist_ok=True)
    copy_db(folder / "bench.db", copy)
    (copy.parent / "plan.toml").write_text(PLAN, encoding="utf-8")
    (copy.parent / "task.toml").write_text(TASK, encoding="utf-8")
    cli = [*spotcheck_command("bench/run"), "--database-url", f"sqlite:///{copy}", "--log-level", "warning"]
    for name, argv in (("draw-plan", ["plan", "create", str(copy.parent / "plan.toml")]),
                       ("draw-task", ["task", "create", str(copy.parent / "task.toml"), "--seed", SEED])):
        made, _ = runner.run(name, [*cli, *argv])
        if made.returncode:
            row.error = failure(made, name, runner.logs)
            break
    if row.error is None:
        base_timed, base = runner.baseline("draw-random", str(copy), DRAW_TASK)
        if base_timed.returncode or not base:
            row.error = failure(base_timed, "draw-random", runner.logs)
        else:
            row.baseline_seconds, row.baseline_peak_mb = base["seconds"], base_timed.peak_rss_mb
            size.details.append(
                f"Draw: {first['population']:,} eligible, {first['visits']:,} visits, {first['matters']:,} matters; same result hash "
                f"every run: {result['same_result_every_run']}; `task verify` {seconds(first['verify_seconds'])} s. Floor SHA-256 of "
                f"every USCC: {seconds(result['floors']['SHA-256 per USCC'])} s. ORDER BY random(): {base['visits']:,} visits for "
                f"{base['matters']:,} matters over {base['strata']} strata (same matters as `task draw`: "
                f"{'yes' if base['matters'] == first['matters'] else 'NO'}; each item is drawn on its own, so fewer matters share a visit).")
    remove_db(copy)
    size.rows.append(row)


def assign_shape(enterprises: int) -> tuple[int, int, int]:
    """bench/assign.py's enterprises, inspectors and districts for a size: its task's ratios
    (10–50 %) on 0.37 N enterprises give about as many visits as a draw of N enterprises at the
    policy's ratios (1M: 47,587 drawn; 51,382 here); 200 inspectors per district. At 1M this is
    bench/assign.py's own default (370,000 enterprises, 2,000 inspectors, 10 districts)."""
    districts = 1 if enterprises < 50_000 else 2 if enterprises < 500_000 else 10
    return round(0.37 * enterprises), 200 * districts, districts


def assign_row(size: SizeResult, root: Path, runner: Runner, runs: int) -> None:
    folder = root / "assign"
    enterprises, inspectors, districts = assign_shape(size.enterprises)
    timed, result = runner.bench("assign.py", "--keep", str(folder), "--reuse", "--enterprises", str(enterprises),
                               "--inspectors", str(inspectors), "--districts", str(districts), "--runs", str(runs))
    stored = [r for r in result.get("runs", []) if r["status"] == "stored"]
    if not stored:
        size.rows.append(Row("assign: `task assign`", error=failure(timed, "assign", runner.logs)))
        return
    validator = result["validator"]
    row = Row("assign: `task assign`", statistics.median(r["command_seconds"] for r in stored), max(r["peak_rss_mb"] for r in stored))
    copy = root / "scratch" / "assign.db"
    copy.parent.mkdir(exist_ok=True)
    copy_db(folder / "bench.db", copy)
    floor_timed, floor = runner.baseline("assign-floor", str(copy), ASSIGN_TASK)
    base_timed, base = runner.baseline("assign-round-robin", str(copy), ASSIGN_TASK)
    broken_timed, broken = runner.baseline("assign-broken", str(copy))
    remove_db(copy)
    for timed_, name in ((floor_timed, "assign-floor"), (base_timed, "assign-round-robin"), (broken_timed, "assign-broken")):
        if timed_.returncode:
            row.error = failure(timed_, name, runner.logs)
    if row.error is None:
        row.floor_seconds = floor["seconds"]
        row.baseline_seconds, row.baseline_peak_mb = base["seconds"], base_timed.peak_rss_mb
        size.broken = broken
        size.details.append(
            f"Assign: {enterprises:,} enterprises, {stored[0]['visits']:,} visits, {inspectors:,} inspectors in {districts} "
            f"district(s), {stored[0]['pairs']:,} eligible pairs; read {stored[0]['read_seconds']} s, build {stored[0]['build_seconds']} s, "
            f"solve {stored[0]['solve_seconds']} s; the validator finds {validator['violations']} violations; same result hash every "
            f"run: {result['same_result_every_run']}. Floor: {floor['rows']:,} rows read. Round robin: {base['inspectors']:,} "
            f"inspectors in one roster, visits dated evenly over {base['days']} working days.")
    size.rows.append(row)


def run_size(label: str, enterprises: int, args: argparse.Namespace, as_of: str) -> SizeResult:
    started, load_start = time.perf_counter(), load_average()
    root = args.workdir / label
    if args.rebuild and root.exists():
        shutil.rmtree(root)
    size = SizeResult(label, enterprises)
    runner = Runner(root / "logs")
    log(f"== {label}: import and grade")
    db = import_rows(size, root, runner)
    if db is not None:
        grade_row(size, db, runner, as_of, args.runs)
    log(f"== {label}: draw")
    draw_row(size, root, runner, args.runs)
    log(f"== {label}: assign")
    assign_row(size, root, runner, args.runs)
    size.minutes = (time.perf_counter() - started) / 60
    size.load = f"{load_start} at the start, {load_average()} at the end"
    log(f"== {label}: done in {size.minutes:.1f} min")
    return size


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

def proc_value(path: str, key: str) -> str:
    """A "key: value" line of a /proc file, or "?" where there is none (not Linux)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def git_revision() -> str:
    """HEAD's commit read from .git (no git command: others commit in this checkout)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12] + " (detached)"
        ref = head[5:]
        if (git / ref).exists():
            return f"{(git / ref).read_text().strip()[:12]} ({ref.removeprefix('refs/heads/')})"
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return f"{line.split()[0][:12]} ({ref.removeprefix('refs/heads/')})"
    except OSError:
        pass
    return "unknown"


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def times(value: float) -> str:
    return f"{value:,.0f}×" if value >= 10 else f"{value:.1f}×" if value >= 1 else f"{value:.2g}×"


def table(size: SizeResult) -> list[str]:
    lines = ["| step | seconds | peak MB | baseline seconds | baseline peak MB | ratio | floor seconds | ratio to floor |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in size.rows:
        ratio = times(r.baseline_seconds / r.seconds) if r.baseline_seconds and r.seconds else "–"
        to_floor = times(r.seconds / r.floor_seconds) if r.floor_seconds and r.seconds else "–"
        peak = f"{r.peak_mb:,.0f}" if r.peak_mb else "–"
        base_peak = f"{r.baseline_peak_mb:,.0f}" if r.baseline_peak_mb else "–"
        lines.append(f"| {r.step} | {seconds(r.seconds)} | {peak} | {seconds(r.baseline_seconds)} | {base_peak} | {ratio} | "
                     f"{seconds(r.floor_seconds)} | {to_floor} |")
    lines.append("")
    lines += [f"- {d}" for d in size.details]
    lines += [f"- **Failed:** {r.step}: {r.error}" for r in size.rows if r.error]
    return lines


def broken_table(sizes: list[SizeResult]) -> list[str]:
    with_counts = [s for s in sizes if s.broken]
    if not with_counts:
        return ["No size produced round-robin counts."]
    rules = sorted({rule for s in with_counts for rule in s.broken["rules"]}, key=lambda rule: -with_counts[-1].broken["rules"].get(rule, 0))
    lines = ["| rule (inspection/validate.py) | " + " | ".join(s.label for s in with_counts) + " |",
             "|---|" + "---:|" * len(with_counts)]
    for rule in rules:
        lines.append(f"| {rule} | " + " | ".join(f"{s.broken['rules'].get(rule, 0):,}" for s in with_counts) + " |")
    lines.append("| **violations** | " + " | ".join(f"{s.broken['violations']:,}" for s in with_counts) + " |")
    lines.append("| visits breaking a rule | " + " | ".join(f"{s.broken['visits_breaking_a_rule']:,} of {s.broken['visits']:,}" for s in with_counts) + " |")
    return lines


RULE_WORDS = (
    "territory: an inspector from another district (属地管辖); department: an inspector of a department with no item on "
    "the visit, or a department of the visit with nobody on the team (a joint visit of three departments cannot be staffed "
    "by two people of a roster); qualification: in the right department but not qualified for the item (every inspector "
    "of bench/assign.py's task holds their department's one item, so this stays 0); active: 离岗; certificate: no 执法证 "
    "valid on the day; leave: on leave that day; recusal: a declared conflict (回避), the enterprise's previous team or its "
    "own station (所所交叉); per_day / per_task: over 3 visits a day or 80 in the task; team: fewer than two or one "
    "person twice. `task assign` breaks none (its validator runs on every result before it is stored)."
)


def report(sizes: list[SizeResult], args: argparse.Namespace, started: dt.datetime, load_start: str, fairness: str, province: str) -> str:
    versions = " · ".join(f"{name} {metadata.version(name)}" for name in ("numpy", "SQLAlchemy", "ortools"))
    model = proc_value("/proc/cpuinfo", "model name")
    ram = proc_value("/proc/meminfo", "MemTotal")
    ram_text = f"{int(ram.split()[0]) / 2**20:.1f} GiB" if ram != "?" else "?"
    lines = [
        "# Benchmark results", "",
        f"Written by `bench/run --sizes {','.join(s.label for s in sizes)}`; started {started:%Y-%m-%d %H:%M}, finished "
        f"{dt.datetime.now():%H:%M} (local time). Regenerate with `bench/run` (all sizes) or `bench/run --sizes 10k,100k`.", "",
        "| | |", "|---|---|",
        f"| machine | {os.cpu_count()} cores ({model}), {ram_text} RAM |",
        f"| revision | {git_revision()} |",
        f"| Python, SQLite | Python {platform.python_version()} · SQLite {sqlite3.sqlite_version} · {versions} |",
        f"| load average (1 min) | {load_start} at the start, {load_average()} at the end |",
        "| time per size | " + ", ".join(f"{s.label} {s.minutes:.1f} min" for s in sizes) + " (including any database built in this run) |",
        f"| runs | {args.runs} timed run(s) of each product command (the median); baselines and floors once |", "",
        "**Columns.** *seconds*: the command's own time (its `command_finished` log event: reading, work and writing, "
        "without the interpreter's start-up). *peak MB*: the peak RSS of that child process (`os.wait4`). *baseline*: "
        "the naive way of doing the same step, in a child process of its own (bench/baselines.py), timed by itself "
        "the same way. *ratio* = baseline seconds ÷ seconds: how many times faster the product is. *floor*: reading the "
        "step's tables once through a raw sqlite3 cursor (for the records import: SQLite alone storing the records and "
        "their audit rows, bench/import_floor.py); *ratio to floor* = seconds ÷ floor seconds. "
        "Everything was measured in this run, except the imports of a reused database (see each size).",
    ]
    for size in sizes:
        lines += ["", f"## {size.label} enterprises", "", f"Load average (1 min) while it ran: {size.load}.", "", *table(size)]
    lines += ["", "## Rules broken by the round-robin baseline", "", *broken_table(sizes), "", RULE_WORDS,
              "", "## Fairness of the inspector lottery", "", fairness,
              "", "## Districts side by side on PostgreSQL", "", province]
    largest = max(sizes, key=lambda s: s.enterprises)
    e, i, d = assign_shape(largest.enterprises)
    lines += [
        "", "## Notes", "",
        "- **Contention.** The machine has 2 cores, shared with other work (tests, CI) while these ran; the load "
        "averages above say how much. Every figure is an upper bound; seconds of the same step vary several-fold "
        "between runs, and so can a ratio, since its two sides run a minute or more apart under a changing load. "
        "Quote figures from a quiet machine with `--runs 3`.",
        "- **Databases.** Import and grade: N enterprises with ~10 records each (bench/import.py). Draw: bench/draw.py's "
        "own database, N enterprises with ~2 records each (building 10 records per enterprise twice at 1M would take "
        "most of an hour), graded as of 2026-11-01; its task is 3 departments and 10 items at the policy's ratios. "
        "Assign: bench/assign.py's task (6 departments, one item each, window 2026-10-08..12-31, caps 3 a day and 80 a "
        "task) on 0.37·N enterprises with its own ratios (10–50 %), which gives about as many visits as the draw of N "
        f"enterprises; 200 inspectors per district, 1 district below 50k, 2 below 500k, else 10 (at {largest.label}: "
        f"{e:,} enterprises, {i:,} inspectors, {d} districts). Databases are kept in `{args.workdir}` and reused; each "
        "run adds its `credit grade` run to the import database, as bench/grade.py always does.",
        "- **Grade baseline** (`grade-orm`): every enterprise under supervision and every CreditRecord loaded as ORM "
        "entities (`yield_per`), records in enterprise order grouped with `itertools.groupby`, a Python loop over each "
        "enterprise's records adding the policy's points for its category while its impact period runs (its own "
        "effective_until wins), tiers by the policy's thresholds, a GradingRun, the grades stored as the product stores "
        "them (arrays, credit.grade_store) and committed with its audit event. It **omits** first offences (首违不罚), tolerance for "
        "new-economy enterprises (包容审慎), approved repairs, corrections superseding a record, removals ending a "
        "listing, the list overrides (serious list → D, abnormal list ≥ C), the reasons and the result digest; its "
        "tiers match `credit grade` for the share given per size. Its run is deleted afterwards.",
        "- **Draw baseline** (`draw-random`): the grading run's tiers put in a table of rows first (untimed), then for "
        "each of the 40 strata (item × tier), `SELECT count(*)` and `SELECT e.id … "
        "ORDER BY random() LIMIT n` with the same exclusions (in business, applicable item, yearly cap) and the product's "
        "rounding of stratum sizes (each size says whether the matters agree), then the visits and their items inserted. It is **neither reproducible nor "
        "verifiable**: SQLite's random() has no seed, so nobody, the planner included, can re-run the draw or show that "
        "it was not redone until it suited someone; there is no published seed, entropy, population snapshot or "
        "result hash. It writes no draw record or snapshot, and draws each item on its own, so it needs more visits.",
        "- **Assign baseline** (`assign-round-robin`): visits in draw-rank order, dated evenly over the window's working "
        "days, each taking the next two of one roster of every inspector of the task's departments by number; the dates "
        "and teams are written. It looks at no rule, so it is mostly reading and writing, and its ratio is below 1: it is "
        "faster than `task assign`, and the rules it breaks (above) are what that speed buys. They are counted afterwards (untimed) by the product's validator on the stored dates. The assign floor reads the "
        "task's visits with their enterprises, their items and the four inspector tables once.",
        "- **Floors.** Grade: SQLite scanning `credit_records` once, one row back to Python (bench/grade.py floor (a)). "
        "Draw: every enterprise's id and USCC through a raw cursor (bench/draw.py). Assign: see above.",
    ]
    return "\n".join(lines) + "\n"


def fairness_line(logs: Path) -> str:
    runner = Runner(logs)
    timed, result = runner.run("fairness", [sys.executable, str(HERE / "fairness.py"), "--json"])
    if timed.returncode or not result:
        return f"bench/fairness.py failed; see {logs}/fairness.* (it needs scipy: `pip install -e '.[bench]'`)."
    return (f"bench/fairness.py (independent of N): {result['keys']:,} task keys on {result['visits']} visits × "
            f"{result['inspectors']} inspectors in {result['classes']} eligibility classes: χ² = {result['chi2']} on "
            f"{result['dof']} degrees of freedom, p = {result['p_value']} (equal rates within a class: p well above 0.01); "
            f"largest deviation of one cell {result['worst_relative_deviation']:.1%}; {result['seconds']} s.")


def province_section(args: argparse.Namespace) -> str:
    """bench/province.py on the PostgreSQL server of ``--postgres``: one task per district drawn
    and assigned one, two and all at a time, on one database."""
    if not args.postgres:
        return "Not run (`--postgres ''`)."
    command = [sys.executable, str(HERE / "province.py"), "--database-url", args.postgres, "--reuse",
               "--workdir", str(args.workdir / "province")]
    timed, result = Runner(args.workdir / "logs").bench("province.py", *command[2:])
    if timed.returncode or not result.get("results"):
        return (f"bench/province.py failed or found no PostgreSQL server at {args.postgres} (exit {timed.returncode}); "
                f"see {args.workdir / 'logs'}/province.*. Give another server with `--postgres URL`.")
    return province_table(result) + (
        "\n\nEach width works on a fresh copy of the same database (`CREATE DATABASE … TEMPLATE`). *Wall*: from the first "
        "command's start to the last one's end, interpreter start-ups included; the commands' own seconds add up to more "
        "than the wall when they overlap. The two cores also run the PostgreSQL server. *Same hashes*: every task's draw "
        "and assignment result hash equal those of the one-at-a-time run.")


def parse_size(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"([1-9]\d*)([kKmM]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size such as 10k, 100k or 1M: {text!r}")
    n = int(match[1]) * {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()]
    label = f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}k" if n % 1_000 == 0 else str(n)
    return label, n


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10k,100k,1M", help="comma-separated enterprise counts (default 10k,100k,1M)")
    p.add_argument("--workdir", type=Path, default=HERE / "work", help="where the databases are built and kept (default bench/work)")
    p.add_argument("--rebuild", action="store_true", help="build the databases of the sizes again (and re-time the imports)")
    p.add_argument("--runs", type=int, default=1, metavar="N", help="timed runs of each product command, the median reported (default 1)")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="the results file (default bench/RESULTS.md)")
    p.add_argument("--postgres", default=os.environ.get("SPOTCHECK_BENCH_POSTGRES", PROVINCE_SERVER), metavar="URL",
                   help=f"PostgreSQL server for bench/province.py (default {PROVINCE_SERVER}; '' to skip it)")
    args = p.parse_args(argv)
    try:
        args.sizes = [parse_size(s) for s in args.sizes.split(",")]
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    if args.runs < 1:
        p.error("--runs must be at least 1")
    args.workdir = args.workdir.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, load_start = dt.datetime.now(), load_average()
    as_of = dt.date.today().isoformat()  # one grading date for `credit grade` and its baseline
    sizes = [run_size(label, n, args, as_of) for label, n in args.sizes]
    text = report(sizes, args, started, load_start, fairness_line(args.workdir / "logs"), province_section(args))
    args.out.write_text(text, encoding="utf-8")
    print(text)
    log(f"wrote {args.out}")
    return 1 if any(r.error for s in sizes for r in s.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
