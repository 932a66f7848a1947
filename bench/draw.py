#!/usr/bin/env python3
"""Draw benchmark: a joint task of 3 departments and 10 items over 1,000,000 enterprises.

1. The database: ``--db PATH``, already loaded and graded (e.g. built with
   ``bench/import.py --enterprises 1000000 --records-per-enterprise 2 --departments 3 --items 10
   --keep DIR`` then ``spotcheck credit grade``), or else built here the same way into ``--keep DIR``
   (``--reuse`` keeps an existing one). ``spotcheck db upgrade`` brings it to head.
2. Each run works on a fresh copy of that file (a draw adds visits, which would exclude
   enterprises from the next run's draw), so every run draws the same population: the same seed
   and entropy must give the same result hash every time (checked).
3. Per run, timed child processes: ``plan create`` and ``task create --seed`` (untimed set-up),
   then ``spotcheck --log-format json task draw TASK --entropy E --json`` (read, draw, write the
   visits) and ``task verify TASK``. The draw's own seconds come from its ``command_finished``
   event, the read/draw split from ``draw_read``; wall seconds and peak RSS from ``os.wait4``.
4. The floors, in fresh children on the same file: (a) reading every enterprise's id and USCC
   through a raw sqlite3 cursor; (b) SHA-256 of a million USCCs one call each, in Python (the
   per-enterprise numbers as computed before 2026-12-06; the draw now hashes them in one call,
   credit.sha256many, whose implementation the table's last line names).

Target (issue 4): the draw ≤ 2 s end to end. A table goes to stdout (``--json``: JSON).

Example::

    .venv/bin/python bench/draw.py --keep /tmp/drawbench --reuse
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from grade import Step, fail, floor, last_json, log_events, run, warm_file
from measure import log, spotcheck_command, user_steps

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_SECONDS = 2.0
SEED = "5eed" * 16
ENTROPY = "bench 2026-11-21: 07 13 21 28 30 + 05"

PLAN = """code = "BENCH-2026"
name = "基准测试年度抽查工作计划"
year = 2026
departments = ["SCJG", "WJW", "YJJ"]
[[batch]]
number = 1
starts_on = 2026-01-01
ends_on = 2026-12-31
quantity = 100000
"""

TASK = """code = "BENCH-2026-1"
name = "基准测试部门联合抽查任务"
plan = "BENCH-2026"
batch = 1
lead = "SCJG"
item_version = "2026"
starts_on = 2026-12-01
ends_on = 2026-12-31
[[department]]
code = "SCJG"
items = ["SCJG-01", "SCJG-02", "SCJG-03", "SCJG-04", "SCJG-05"]
[[department]]
code = "WJW"
items = ["WJW-01", "WJW-02"]
[[department]]
code = "YJJ"
items = ["YJJ-01", "YJJ-02", "YJJ-03"]
"""

USCC_CHILD = """
import json, sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1])
started = time.perf_counter()
rows = connection.execute("SELECT id, uscc FROM enterprises").fetchall()
print(json.dumps({"seconds": time.perf_counter() - started, "rows": len(rows)}))
"""

HASH_CHILD = """
import hashlib, json, sqlite3, sys, time
usccs = [r[0].encode() for r in sqlite3.connect(sys.argv[1]).execute("SELECT uscc FROM enterprises")]
key = hashlib.sha256(b"bench").digest()
started = time.perf_counter()
prefix = hashlib.sha256(key)
out = []
for uscc in usccs:
    h = prefix.copy()
    h.update(uscc)
    out.append(h.digest()[:8])
print(json.dumps({"seconds": time.perf_counter() - started, "rows": len(out)}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a loaded, graded SQLite database (else built in --keep)")
    parser.add_argument("--keep", type=Path, help="build the database in DIR and keep it")
    parser.add_argument("--reuse", action="store_true", help="with --keep: use DIR/bench.db when it exists")
    parser.add_argument("--enterprises", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def build(args: argparse.Namespace, workdir: Path) -> Path | None:
    """A graded database of ``--enterprises`` enterprises, 3 departments and 10 items."""
    folder = args.keep or workdir / "built"
    db = folder / "bench.db"
    if args.reuse and db.exists():
        return db
    step = run("import", [sys.executable, str(HERE / "import.py"), "--enterprises", str(args.enterprises),
                          "--records-per-enterprise", "2", "--departments", "3", "--items", "10",
                          "--keep", str(folder), "--reuse"], workdir, stream_stderr=True)
    if step.returncode:
        fail(step, "bench/import.py")
        return None
    grade = run("grade", [*spotcheck_command("bench/draw.py"), "--database-url", f"sqlite:///{db}", "credit", "grade", "--as-of", "2026-11-01"], workdir)
    if grade.returncode:
        fail(grade, "credit grade")
        return None
    return db


def one_run(n: int, source: Path, workdir: Path) -> dict[str, Any] | None:
    db = workdir / f"run{n}.db"
    shutil.copyfile(source, db)
    url = f"sqlite:///{db}"
    spotcheck = [*spotcheck_command("bench/draw.py"), "--database-url", url, "--log-format", "json"]
    (workdir / "plan.toml").write_text(PLAN, encoding="utf-8")
    (workdir / "task.toml").write_text(TASK, encoding="utf-8")
    for name, argv in (("upgrade", ["db", "upgrade"]), *user_steps(db), ("plan", ["plan", "create", str(workdir / "plan.toml")]),
                       ("task", ["task", "create", str(workdir / "task.toml"), "--seed", SEED])):
        step = run(f"{name}{n}", [*spotcheck, *argv], workdir)
        if step.returncode:
            fail(step, name)
            return None
    warm_file(db)
    draw = run(f"draw{n}", [*spotcheck, "task", "draw", "BENCH-2026-1", "--entropy", ENTROPY, "--json"], workdir)
    if draw.returncode:
        fail(draw, "task draw")
        return None
    verify = run(f"verify{n}", [*spotcheck, "task", "verify", "BENCH-2026-1", "--json"], workdir)
    if verify.returncode:
        fail(verify, "task verify")
        return None
    events = log_events(draw.stderr)
    result = last_json(draw.stdout)
    db.unlink()
    return {
        "seconds": events["command_finished"]["seconds"], "read_seconds": events["draw_read"]["seconds"],
        "sha256": events["draw_read"].get("sha256"),
        "wall_seconds": round(draw.seconds, 3), "peak_rss_mb": round(draw.peak_rss_mb),
        "verify_seconds": log_events(verify.stderr)["command_finished"]["seconds"],
        "population": result["population"], "visits": result["visits"], "matters": result["matters"],
        "separate_visits": result["separate_visits"], "result_sha256": result["result_sha256"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="drawbench-") as tmp:
        workdir = Path(tmp)
        source = args.db or build(args, workdir)
        if source is None:
            return 1
        run("upgrade", [*spotcheck_command("bench/draw.py"), "--database-url", f"sqlite:///{source}", "db", "upgrade"], workdir)
        floors: dict[str, Step | None] = {
            "read id, USCC": floor("uscc", USCC_CHILD, [str(source)], workdir),
            "SHA-256 per USCC": floor("hash", HASH_CHILD, [str(source)], workdir),
        }
        runs = []
        for n in range(args.runs):
            log(f"run {n + 1}/{args.runs}")
            result = one_run(n, source, workdir)
            if result is None:
                return 1
            runs.append(result)
    same = len({r["result_sha256"] for r in runs}) == 1
    median = statistics.median(r["seconds"] for r in runs)
    summary = {
        "runs": runs, "median_seconds": median, "target_seconds": TARGET_SECONDS, "met": median <= TARGET_SECONDS,
        "same_result_every_run": same, "sha256": runs[0]["sha256"] if runs else None,
        "floors": {k: round(v.work_seconds, 3) if v and v.work_seconds is not None else None for k, v in floors.items()},
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0 if same else 1
    print(f"{'run':>4} {'draw s':>8} {'read s':>8} {'wall s':>8} {'peak MB':>8} {'verify s':>9} {'population':>11} {'visits':>8} {'matters':>8} {'separate':>9}")
    for n, r in enumerate(runs, 1):
        print(f"{n:>4} {r['seconds']:>8.2f} {r['read_seconds']:>8.2f} {r['wall_seconds']:>8.2f} {r['peak_rss_mb']:>8} {r['verify_seconds']:>9.2f} {r['population']:>11,} {r['visits']:>8,} {r['matters']:>8,} {r['separate_visits']:>9,}")
    print(f"median draw {median:.2f} s (target <= {TARGET_SECONDS:.0f} s: {'met' if median <= TARGET_SECONDS else 'NOT met'}); same result hash every run: {same}")
    for name, seconds in summary["floors"].items():
        print(f"floor {name}: {seconds} s" + (f" (draw = {median / seconds:.1f}x)" if seconds else ""))
    print(f"SHA-256 of the numbers: {summary['sha256']}")
    print("draw s = the command's own seconds (read, draw, write visits); wall s adds interpreter start-up.")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
