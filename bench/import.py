#!/usr/bin/env python3
"""Import benchmark: generate directory files, load them into a fresh SQLite database, time each step.

1. ``bench/generate.py`` (run as a child process) writes N enterprises and about
   N x MEAN credit records, plus departments and items, into a temporary directory
   (or ``--keep DIR``);
2. ``spotcheck db upgrade`` creates a fresh SQLite database there;
3. ``spotcheck import departments/items/enterprises/records`` run one after the other,
   each as a child process; wall seconds and the child's peak RSS (``os.wait4``) are recorded;
4. ``bench/import_floor.py`` times SQLite alone storing the first million of those records
   (and their audit rows) with no parsing or hashing: the ceiling of any import here.

A table goes to stdout at the end; progress goes to stderr. The defaults are the full
size (1,000,000 enterprises, 10 records each on average), which takes a long time;
try ``--enterprises 20000 --records-per-enterprise 5`` first.

Example::

    .venv/bin/python bench/import.py --enterprises 20000 --records-per-enterprise 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import USER_STEPS, log, run_timed, spotcheck_command

HERE = Path(__file__).resolve().parent
KINDS = ("departments", "items", "enterprises", "records")


@dataclass
class Step:
    """One timed child process."""

    name: str
    rows: int | None
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    command_seconds: float | None = None  # as the command itself logged it (no interpreter start-up)


def run(name: str, argv: list[str], env: dict[str, str], workdir: Path, stream_stderr: bool = False) -> Step:
    """Run ``argv`` as a timed child process (bench/measure.py)."""
    t = run_timed(name, argv, workdir, env=env, stream_stderr=stream_stderr)
    return Step(name, None, t.seconds, t.peak_rss_mb, t.returncode, t.stdout, t.stderr)


def count_rows(path: Path) -> int:
    """Data rows of a generated CSV (one line each, plus the header)."""
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) - 1


def logged_seconds(stderr: str) -> float | None:
    """The ``seconds`` of the command's own ``command_finished`` JSON log event, if any."""
    for line in reversed(stderr.splitlines()):
        if '"command_finished"' in line:
            try:
                return float(json.loads(line)["seconds"])
            except (ValueError, KeyError, TypeError):
                return None
    return None


def mb(size: int) -> str:
    return f"{size / 2**20:,.1f}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--enterprises", type=int, default=1_000_000, help="enterprises to generate (default 1,000,000)")
    p.add_argument("--records-per-enterprise", type=float, default=10.0, metavar="MEAN",
                   help="mean credit records per enterprise (default 10, i.e. about 10,000,000 records)")
    p.add_argument("--departments", type=int, default=6, help="departments (default 6)")
    p.add_argument("--items", type=int, default=30, help="spot-check items (default 30)")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="generate into DIR and keep the files and the database (default: a temporary directory, removed)")
    p.add_argument("--reuse", action="store_true", help="with --keep: skip generation when DIR already has the files")
    p.add_argument("--reimport", action="store_true", help="import each file a second time (the all-unchanged path)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        workdir = args.keep.resolve()
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="spotcheck-bench-")
        workdir = Path(cleanup.name)
    try:
        return bench(args, workdir)
    finally:
        if cleanup is not None:
            cleanup.cleanup()


def bench(args: argparse.Namespace, workdir: Path) -> int:
    data = workdir / "data"
    db = workdir / "bench.db"
    env = {**os.environ, "SPOTCHECK_DATABASE_URL": f"sqlite:///{db}", "PYTHONUNBUFFERED": "1"}
    steps: list[Step] = []

    # 1. Generate (as a child, so its time and flat memory are measured the same way).
    have_files = all((data / f"{k}.csv").exists() for k in KINDS)
    if args.reuse and have_files:
        log(f"reusing the files in {data}")
    else:
        log(f"generating {args.enterprises:,} enterprises x {args.records_per_enterprise} records into {data}")
        step = run("generate", [
            sys.executable, str(HERE / "generate.py"),
            "--enterprises", str(args.enterprises), "--records-per-enterprise", str(args.records_per_enterprise),
            "--departments", str(args.departments), "--items", str(args.items), "--inspectors", "0",
            "--seed", str(args.seed), "--today", dt.date.today().isoformat(), "--out", str(data),
        ], env, workdir, stream_stderr=True)
        if step.returncode:
            log(f"generate.py failed (exit {step.returncode})")
            return 1
        steps.append(step)
    rows = {k: count_rows(data / f"{k}.csv") for k in KINDS}
    if "generate" in (s.name for s in steps):
        steps[-1].rows = sum(rows.values())

    # 2. A fresh database.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    spotcheck = spotcheck_command("bench/import.py")
    log(f"spotcheck db upgrade ({db})")
    step = run("db-upgrade", [*spotcheck, "--log-level", "warning", "db", "upgrade"], env, workdir)
    if step.returncode:
        log(f"db upgrade failed:\n{step.stdout}{step.stderr}")
        return 1
    for name, argv in USER_STEPS:
        if run(name, [*spotcheck, "--log-level", "warning", *argv], env, workdir).returncode:
            log(f"{name} failed")
            return 1
    steps.append(step)

    # 3. The imports, in dependency order (and again with --reimport).
    passes = (("", "import"), ("re", "re-import")) if args.reimport else (("", "import"),)
    failed = False
    for prefix, what in passes:
        for kind in KINDS:
            if rows[kind] == 0:
                log(f"{what} {kind}: skipped (no rows)")
                continue
            log(f"{what} {kind} ({rows[kind]:,} rows)")
            step = run(f"{prefix}import-{kind}", [*spotcheck, "--log-format", "json", "import", kind, str(data / f"{kind}.csv"), "--json"], env, workdir)
            step.rows = rows[kind]
            step.command_seconds = logged_seconds(step.stderr)
            steps.append(step)
            try:
                counts = json.loads(step.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                counts = {}
            log(f"  {step.seconds:,.1f}s, {rows[kind] / step.seconds:,.0f} rows/s, peak RSS {step.peak_rss_mb:,.0f} MB, "
                f"exit {step.returncode}, {counts or step.stdout.strip()[-300:]}")
            if step.returncode or counts.get("rejected"):
                failed = True
                tail = "\n".join(step.stderr.strip().splitlines()[-5:])
                log(f"  {kind} import failed:\n{step.stdout.strip()[-2000:]}\n{tail}")
                break
        if failed:
            break

    floor = None
    if not failed and rows["records"]:
        log("floor: the same records stored by SQLite alone (bench/import_floor.py)")
        step = run("floor", [sys.executable, str(HERE / "import_floor.py"), "--db", str(db), "--json"], env, workdir)
        if step.returncode == 0:
            floor = json.loads(step.stdout)
        else:
            log(f"import_floor.py failed (exit {step.returncode}): {step.stderr.strip()[-500:]}")
    report(args, steps, data, db, floor)
    return 1 if failed else 0


def report(args: argparse.Namespace, steps: list[Step], data: Path, db: Path, floor: dict[str, Any] | None) -> None:
    files = {p.name: p.stat().st_size for p in sorted(data.glob("*.csv"))}
    db_size = sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal", "-shm") if Path(f"{db}{s}").exists())
    if args.json:
        print(json.dumps({
            "steps": [{"step": s.name, "rows": s.rows, "seconds": round(s.seconds, 3),
                       "rows_per_s": round(s.rows / s.seconds) if s.rows else None,
                       "command_seconds": s.command_seconds,
                       "peak_rss_mb": round(s.peak_rss_mb, 1), "exit": s.returncode} for s in steps],
            "files_bytes": files, "database_bytes": db_size, "floor": floor,
        }, indent=2))
        return
    print(f"\n{'step':<24} {'rows':>12} {'seconds':>9} {'rows/s':>10} {'peak RSS MB':>12} {'in-command s':>13}")
    print("-" * 85)
    for s in steps:
        rate = f"{s.rows / s.seconds:,.0f}" if s.rows else ""
        rows = f"{s.rows:,}" if s.rows is not None else ""
        inner = f"{s.command_seconds:,.2f}" if s.command_seconds is not None else ""
        flag = "" if s.returncode == 0 else f"  (exit {s.returncode})"
        print(f"{s.name:<24} {rows:>12} {s.seconds:>9,.2f} {rate:>10} {s.peak_rss_mb:>12,.0f} {inner:>13}{flag}")
    print("seconds = wall time of the child process (with interpreter start-up); "
          "in-command s = the time spotcheck logged for the import itself.")
    print(f"\n{'file':<24} {'MB':>10}")
    print("-" * 35)
    for name, size in files.items():
        print(f"{name:<24} {mb(size):>10}")
    print(f"{'database (' + db.name + ')':<24} {mb(db_size):>10}")
    if floor:
        print(f"\nfloor (bench/import_floor.py, the first {floor['records']:,} records stored by SQLite alone, no parsing or hashing):")
        print(f"  credit_records: {floor['records_per_s']:,} rows/s; with their audit packs: {floor['records_with_trail_per_s']:,} "
              f"records/s; a bare table: {floor['bare_rows_per_s']:,} rows/s")
        print(f"  enterprises (the first {floor['enterprises']:,}): {floor['enterprises_per_s']:,} rows/s")


if __name__ == "__main__":
    sys.exit(main())
