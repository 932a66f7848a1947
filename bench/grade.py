#!/usr/bin/env python3
"""Grading benchmark: grade every enterprise of a loaded SQLite database end to end, against two floors.

1. The database: ``--db PATH`` (already loaded, e.g. ``DIR/bench.db`` from
   ``bench/import.py --keep DIR``), or else one built here by running ``bench/import.py``
   (``--enterprises``, ``--records-per-enterprise``, ``--keep DIR``, ``--reuse``);
   ``spotcheck db upgrade`` then brings it to head (its schema may be older).
2. The floors, each in a fresh child process on the same database with a warm page cache
   (each runs once untimed first):
   (a) ``scan``: SQLite alone reading the credit_records table once
       (``SELECT count(*), sum(enterprise_id), sum(length(kind)), sum(length(occurred_on))``);
   (b) ``fetch``: the records as the grader reads them, its stored columns
       (``credit.grading_columns.read``), in one process; measured after the gradings, the first
       of which derives and stores them if the database was loaded by an older release.
3. The grading, ``--runs`` times, each a fresh child:
   ``spotcheck --log-format json credit grade --as-of DATE --json`` (read, score, write the
   run). Wall seconds and the child's peak RSS (``os.wait4``) are recorded, and the per-stage
   seconds come from its ``grading_read`` / ``grading_scored`` / ``grading_written`` log events.

The ratios compare the time each command spends on the work (the grade command's own
``command_finished`` seconds, the floors' query seconds), so interpreter start-up is left out;
wall-clock ratios are shown beside them. Target: grading <= 2x floor (a) and peak RSS <= 2 GB.
Every grading run is stored: each adds a run and one grade row per enterprise to the database.

A table goes to stdout at the end (``--json``: the same as JSON); progress goes to stderr.

Example::

    .venv/bin/python bench/import.py --enterprises 20000 --records-per-enterprise 5 --keep /tmp/gbench_small
    .venv/bin/python bench/grade.py --db /tmp/gbench_small/bench.db
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import log, run_timed, spotcheck_command, user_steps

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_RATIO = 2.0
TARGET_PEAK_MB = 2048.0  # 2 GB
STAGES = {"grading_read": "read", "grading_scored": "score", "grading_written": "write"}

# Floor (a): SQLite reading the records table once, in C; one row comes back to Python.
SCAN_SQL = "SELECT count(*), sum(enterprise_id), sum(length(kind)), sum(length(occurred_on)) FROM credit_records"

SCAN_CHILD = """
import json, sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1])
started = time.perf_counter()
row = connection.execute(sys.argv[2]).fetchone()
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rows": row[0]}))
"""

# Floor (b): the records as the grader reads them (its stored columns), in one process.
FETCH_CHILD = """
import json, sys, time
from sqlalchemy import text
from sqlalchemy.orm import Session
from credit.db import make_engine
from credit.grading_columns import read
engine = make_engine("sqlite:///" + sys.argv[1])
with Session(engine) as session:
    top = session.execute(text("SELECT coalesce(max(id), 0) FROM credit_records")).scalar()
    started = time.perf_counter()
    columns = read(session, top)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rows": len(columns)}))
"""


@dataclass
class Step:
    """One timed child process."""

    name: str
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    rows: int | None = None
    work_seconds: float | None = None  # as the child itself measured it (no interpreter start-up)
    stages: dict[str, float] = field(default_factory=dict)
    run: int | None = None


def run(name: str, argv: list[str], workdir: Path, stream_stderr: bool = False) -> Step:
    """Run ``argv`` as a timed child process (bench/measure.py)."""
    t = run_timed(name, argv, workdir, cwd=ROOT, stream_stderr=stream_stderr)
    return Step(name, t.seconds, t.peak_rss_mb, t.returncode, t.stdout, t.stderr)


def fail(step: Step, what: str) -> int:
    tail = "\n".join((step.stdout.strip() + "\n" + step.stderr.strip()).strip().splitlines()[-15:])
    log(f"{what} failed (exit {step.returncode}):\n{tail}")
    return 1


def last_json(text: str) -> dict[str, Any]:
    """The last line of ``text`` that is a JSON object, or {}."""
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def log_events(stderr: str) -> dict[str, dict[str, Any]]:
    """The JSON log events of a child's stderr, by event name (the last of each)."""
    events: dict[str, dict[str, Any]] = {}
    for line in stderr.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event:
            events[event["event"]] = event
    return events


def warm_file(db: Path) -> None:
    """Read the database file (and its WAL) once, so every step starts from a warm page cache."""
    buffer = bytearray(1 << 20)
    total = 0
    started = time.perf_counter()
    for suffix in ("", "-wal"):
        path = Path(f"{db}{suffix}")
        if path.exists():
            with path.open("rb", buffering=0) as fh:
                while n := fh.readinto(buffer):
                    total += n
    log(f"read {total / 2**20:,.0f} MB of database files into the page cache in {time.perf_counter() - started:,.1f}s")


def floor(name: str, script: str, args: list[str], workdir: Path) -> Step | None:
    """One floor: an untimed warm-up child, then the timed one."""
    argv = [sys.executable, "-c", script, *args]
    warm = run(f"{name}-warm", argv, workdir)
    if warm.returncode:
        fail(warm, f"{name} (warm-up)")
        return None
    step = run(name, argv, workdir)
    if step.returncode:
        fail(step, name)
        return None
    result = last_json(step.stdout)
    step.work_seconds, step.rows = float(result["seconds"]), int(result["rows"])
    return step


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, metavar="PATH",
                   help="an existing, loaded SQLite database (e.g. DIR/bench.db of `bench/import.py --keep DIR`); "
                        "without it one is built with bench/import.py")
    p.add_argument("--enterprises", type=int, default=1_000_000, help="without --db: enterprises to generate (default 1,000,000)")
    p.add_argument("--records-per-enterprise", type=float, default=10.0, metavar="MEAN",
                   help="without --db: mean credit records per enterprise (default 10, i.e. about 10,000,000 records)")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="without --db: build into DIR and keep it (default: a temporary directory, removed)")
    p.add_argument("--reuse", action="store_true",
                   help="with --keep: grade DIR/bench.db as it is when it exists; else build it from DIR's files "
                        "when they exist (bench/import.py --reuse)")
    p.add_argument("--as-of", type=parse_date, default=dt.date.today(), metavar="YYYY-MM-DD",
                   help="grade as of this date, not in the future (default today)")
    p.add_argument("--runs", type=int, default=1, metavar="N", help="grade N times and report the median (default 1)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.as_of > dt.date.today():
        p.error(f"--as-of {args.as_of} is in the future")
    if args.db is not None:
        if args.keep or args.reuse:
            p.error("--db grades an existing database; --keep and --reuse are for building one")
        if not args.db.is_file():
            p.error(f"--db {args.db}: no such file")
    elif args.reuse and not args.keep:
        p.error("--reuse needs --keep DIR")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="spotcheck-grade-bench-") as scratch:
        if args.db is not None:
            return bench(args, args.db.resolve(), Path(scratch), None)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            return bench(args, args.keep.resolve() / "bench.db", Path(scratch), args.keep.resolve())
        return bench(args, Path(scratch) / "build" / "bench.db", Path(scratch), Path(scratch) / "build")


def bench(args: argparse.Namespace, db: Path, workdir: Path, build_dir: Path | None) -> int:
    steps: list[Step] = []
    spotcheck = spotcheck_command("bench/grade.py")
    url = f"sqlite:///{db}"

    # 1. The database: given, kept, or built by bench/import.py.
    if build_dir is not None:
        if args.reuse and db.is_file():
            log(f"reusing the database {db}")
        else:
            log(f"building {db} with bench/import.py ({args.enterprises:,} enterprises x {args.records_per_enterprise} records)")
            step = run("build", [
                sys.executable, str(HERE / "import.py"), "--enterprises", str(args.enterprises),
                "--records-per-enterprise", str(args.records_per_enterprise), "--keep", str(build_dir),
                *(["--reuse"] if args.reuse else []), "--json",
            ], workdir, stream_stderr=True)
            if step.returncode:
                return fail(step, "bench/import.py")
            steps.append(step)

    log(f"spotcheck db upgrade ({db})")
    step = run("db-upgrade", [*spotcheck, "--database-url", url, "--log-level", "warning", "db", "upgrade"], workdir)
    if step.returncode:
        return fail(step, "db upgrade")
    for name, argv in user_steps(db):
        added = run(name, [*spotcheck, "--database-url", url, "--log-level", "warning", *argv], workdir)
        if added.returncode:
            return fail(added, name)
    steps.append(step)

    warm_file(db)

    # 2. The floors.
    log("floor (a): SQLite scan of credit_records")
    scan = floor("floor-a-scan", SCAN_CHILD, [str(db), SCAN_SQL], workdir)
    if scan is None:
        return 1
    steps.append(scan)
    log(f"  {scan.work_seconds:,.2f}s for {scan.rows:,} records, peak RSS {scan.peak_rss_mb:,.0f} MB")

    # 3. The grading, --runs times.
    grades: list[Step] = []
    for i in range(1, args.runs + 1):
        log(f"credit grade --as-of {args.as_of} (run {i} of {args.runs})")
        step = run(f"grade-{i}" if args.runs > 1 else "grade", [
            *spotcheck, "--database-url", url, "--log-format", "json",
            "credit", "grade", "--as-of", args.as_of.isoformat(), "--json",
        ], workdir)
        if step.returncode:
            return fail(step, "credit grade")
        events = log_events(step.stderr)
        step.stages = {label: float(events[name]["seconds"]) for name, label in STAGES.items() if name in events}
        if "command_finished" in events:
            step.work_seconds = float(events["command_finished"]["seconds"])
        step.rows = events.get("grading_read", {}).get("records")
        filled = events.get("grading_columns_filled", {}).get("records")
        if filled:
            log(f"  (this run derived and stored the grading columns of {filled:,} records first)")
        step.run = last_json(step.stdout).get("run")
        enterprises = events.get("grading_read", {}).get("enterprises")
        log(f"  {step.seconds:,.2f}s wall, {step.work_seconds or 0:,.2f}s in command "
            f"({', '.join(f'{k} {v:,.2f}s' for k, v in step.stages.items())}), "
            f"peak RSS {step.peak_rss_mb:,.0f} MB; run {step.run}: {enterprises:,} enterprises, {step.rows:,} records")
        grades.append(step)
    steps.extend(grades)

    log("floor (b): the grader's stored columns of the records, in one process")
    fetch = floor("floor-b-fetch", FETCH_CHILD, [str(db)], workdir)
    if fetch is None:
        return 1
    steps.append(fetch)
    log(f"  {fetch.work_seconds:,.2f}s for {fetch.rows:,} records, peak RSS {fetch.peak_rss_mb:,.0f} MB")

    report(args, db, steps, scan, fetch, grades)
    return 0


def summarize(scan: Step, fetch: Step, grades: list[Step]) -> dict[str, Any]:
    """Median grading seconds (max peak RSS) over the runs, the ratios and the target."""
    work = statistics.median(g.work_seconds if g.work_seconds is not None else g.seconds for g in grades)
    wall = statistics.median(g.seconds for g in grades)
    peak = max(g.peak_rss_mb for g in grades)
    stages = {label: statistics.median(g.stages.get(label, 0.0) for g in grades) for label in STAGES.values()}
    tiny = 1e-9  # an empty table: no division by zero
    ratio_a, ratio_b = work / max(scan.work_seconds, tiny), work / max(fetch.work_seconds, tiny)
    return {
        "runs": len(grades),
        "grading": {
            "seconds": round(work, 3), "wall_seconds": round(wall, 3),
            "stages": {k: round(v, 3) for k, v in stages.items()},
            "peak_rss_mb": round(peak, 1), "records": grades[-1].rows,
        },
        "floor_a_scan": {"seconds": round(scan.work_seconds, 3), "wall_seconds": round(scan.seconds, 3),
                         "peak_rss_mb": round(scan.peak_rss_mb, 1), "records": scan.rows},
        "floor_b_fetch": {"seconds": round(fetch.work_seconds, 3), "wall_seconds": round(fetch.seconds, 3),
                          "peak_rss_mb": round(fetch.peak_rss_mb, 1), "records": fetch.rows},
        "ratio": {
            "grading_over_floor_a": round(ratio_a, 2), "grading_over_floor_b": round(ratio_b, 2),
            "wall_grading_over_floor_a": round(wall / scan.seconds, 2),
            "wall_grading_over_floor_b": round(wall / fetch.seconds, 2),
        },
        "target": {
            "max_ratio_to_floor_a": TARGET_RATIO, "max_peak_rss_mb": TARGET_PEAK_MB,
            "time_met": ratio_a <= TARGET_RATIO, "memory_met": peak <= TARGET_PEAK_MB,
            "met": ratio_a <= TARGET_RATIO and peak <= TARGET_PEAK_MB,
        },
    }


def report(args: argparse.Namespace, db: Path, steps: list[Step], scan: Step, fetch: Step, grades: list[Step]) -> None:
    summary = summarize(scan, fetch, grades)
    db_size = sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists())
    if args.json:
        print(json.dumps({
            "database": str(db), "database_bytes": db_size, "as_of": args.as_of.isoformat(),
            "steps": [{"step": s.name, "rows": s.rows, "seconds": round(s.seconds, 3),
                       "work_seconds": round(s.work_seconds, 3) if s.work_seconds is not None else None,
                       "stages": s.stages or None, "peak_rss_mb": round(s.peak_rss_mb, 1),
                       "run": s.run, "exit": s.returncode} for s in steps],
            **summary,
        }, indent=2))
        return
    print(f"\ndatabase {db} ({db_size / 2**20:,.1f} MB), as of {args.as_of}")
    print(f"\n{'step':<16} {'records':>12} {'seconds':>9} {'work s':>9} {'read s':>8} {'score s':>8} {'write s':>8} {'peak RSS MB':>12}")
    print("-" * 88)
    for s in steps:
        rows = f"{s.rows:,}" if s.rows is not None else ""
        work = f"{s.work_seconds:,.2f}" if s.work_seconds is not None else ""
        stages = [f"{s.stages[k]:,.2f}" if k in s.stages else "" for k in STAGES.values()]
        print(f"{s.name:<16} {rows:>12} {s.seconds:>9,.2f} {work:>9} {stages[0]:>8} {stages[1]:>8} {stages[2]:>8} {s.peak_rss_mb:>12,.0f}")
    print("seconds = wall time of the child process (with interpreter start-up); work s = the time the child measured "
          "for the work itself (the floors' query, the grade command's command_finished); read/score/write s = the "
          "grade command's grading_read/grading_scored/grading_written events.")

    g, r, t = summary["grading"], summary["ratio"], summary["target"]
    peak = max(s.peak_rss_mb for s in grades)  # unrounded, so it reads the same as the table
    median = f"median of {len(grades)} runs" if len(grades) > 1 else "1 run"
    print(f"\ngrading ({median}):  {g['seconds']:,.2f}s in command ({g['wall_seconds']:,.2f}s wall), "
          f"peak RSS {peak:,.0f} MB{' (max of the runs)' if len(grades) > 1 else ''}")
    print(f"floor (a) SQLite scan of credit_records:     {scan.work_seconds:,.2f}s   "
          f"grading / floor (a) = {r['grading_over_floor_a']:.2f}x  (wall {r['wall_grading_over_floor_a']:.2f}x)")
    print(f"floor (b) stored columns, one process:      {fetch.work_seconds:,.2f}s   "
          f"grading / floor (b) = {r['grading_over_floor_b']:.2f}x  (wall {r['wall_grading_over_floor_b']:.2f}x)")
    time_part = f"{r['grading_over_floor_a']:.2f}x {'<=' if t['time_met'] else '>'} {TARGET_RATIO:g}x floor (a)"
    memory_part = f"{peak:,.0f} MB {'<=' if t['memory_met'] else '>'} {TARGET_PEAK_MB:,.0f} MB"
    print(f"target (<= {TARGET_RATIO:g}x floor (a), <= 2 GB): {'MET' if t['met'] else 'NOT MET'}  ({time_part}; {memory_part})")


if __name__ == "__main__":
    sys.exit(main())
