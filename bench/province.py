#!/usr/bin/env python3
"""Province benchmark on PostgreSQL: one task per district, drawn and assigned one after another,
then several at a time, on one database.

1. Set-up (untimed), all through the real CLI into a fresh database ``spotcheck_bench_province``
   on the server of ``--database-url`` (dropped first; ``--reuse`` keeps one built with the same
   options): ``credit/synthetic.py`` generates ``--enterprises`` over the first ``--districts``
   main-city districts of Chongqing (200 inspectors per district, 6 departments with one item each,
   0.2 credit records per enterprise); import, ``credit grade``, one plan, and one task per
   district, its scope that district: the six departments' items at A 3 %, B 5 %, C 10 %, D 20 %,
   window 2026-10-08..12-31, teams of 2.
2. Timed, for each ``--parallel`` width P (default 1, 2 and one per district): a copy of the
   built database (``CREATE DATABASE … TEMPLATE``), then every task's ``task draw``, P processes
   at a time, then every task's ``task assign``, P at a time. Wall seconds of each phase, and the
   sum of the commands' own seconds (their ``command_finished`` events).
3. Checks: every command exits 0, and each task's draw and assignment result hashes are the same
   at every width (draws of different districts cannot change each other's population), then
   ``audit verify`` on the last copy says intact.

A table goes to stdout (``--json``: JSON). Example::

    .venv/bin/python bench/province.py --enterprises 200000 --districts 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

from assign import DEPARTMENTS, DISTRICTS, ENDS_ON, STARTS_ON
from grade import Step, fail, last_json, log_events, run
from measure import USER_STEPS, log, spotcheck_command

HERE = Path(__file__).resolve().parent
DATABASE = "spotcheck_bench_province"
SEED = "9a0b" * 16
ENTROPY = "bench province 2026-10-07: 05 09 14 22 31 + 02"
TODAY = "2026-10-01"
PLAN_CODE = "BENCH-PROVINCE-2026"
RATIOS = {"A": "3%", "B": "5%", "C": "10%", "D": "20%"}
INSPECTORS_PER_DISTRICT = 200
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def task_code(district: str) -> str:
    return f"BENCH-{district}"


def plan_toml(districts: list[str]) -> str:
    return (f'code = "{PLAN_CODE}"\nname = "基准测试：全市各区县联合抽查工作计划"\nyear = 2026\ndepartments = {json.dumps(list(DEPARTMENTS))}\n'
            f"[[batch]]\nnumber = 1\nstarts_on = 2026-10-01\nends_on = 2026-12-31\nquantity = 1000000\n"
            f"scope = {{ districts = {json.dumps(districts)} }}\n")


def task_toml(district: str) -> str:
    lines = [f'code = "{task_code(district)}"', f'name = "基准测试：{district} 六部门联合抽查"', f'plan = "{PLAN_CODE}"', "batch = 1",
             'lead = "SCJG"', 'item_version = "2026"', f"starts_on = {STARTS_ON}", f"ends_on = {ENDS_ON}",
             "inspectors_per_visit = 2", "visits_per_day = 3", "visits_per_task = 80",
             f'scope = {{ districts = ["{district}"] }}', "ratios = { " + ", ".join(f'{t} = "{r}"' for t, r in RATIOS.items()) + " }"]
    for department in DEPARTMENTS:
        lines += ["[[department]]", f'code = "{department}"', f'items = ["{department}-01"]']
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("SPOTCHECK_BENCH_POSTGRES", SERVER),
                   help="a PostgreSQL server where this user may create databases (default the local server)")
    p.add_argument("--enterprises", type=int, default=200_000, help="enterprises of the province (default 200,000)")
    p.add_argument("--districts", type=int, default=8, choices=range(2, len(DISTRICTS) + 1), metavar="N", help="districts, one task each (default 8)")
    p.add_argument("--parallel", default="", metavar="P,P,...", help="widths to time (default 1, 2 and one process per district)")
    p.add_argument("--reuse", action="store_true", help="keep the built database when it was built with the same options")
    p.add_argument("--workdir", type=Path, help="where the files and logs go (default a temporary directory)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    return p.parse_args(argv)


class Server:
    """Databases on the server: made from a template, dropped, looked at."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        if not self.url.drivername.startswith("postgresql"):
            sys.exit("bench/province.py: --database-url must be a PostgreSQL server")
        self.engine = create_engine(self.url, isolation_level="AUTOCOMMIT")

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def exists(self, name: str) -> bool:
        with self.engine.connect() as c:
            return c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar() is not None

    def create(self, name: str, template: str | None = None) -> None:
        self.drop(name)
        with self.engine.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))

    def drop(self, name: str) -> None:
        with self.engine.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def comment(self, name: str, value: str | None = None) -> str | None:
        with self.engine.connect() as c:
            if value is not None:
                c.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{value}'"))
            return c.execute(text("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"), {"n": name}).scalar()


def build(args: argparse.Namespace, server: Server, districts: list[str], workdir: Path) -> bool:
    options = json.dumps({"enterprises": args.enterprises, "districts": districts, "ratios": RATIOS, "seed": SEED, "v": 2}, sort_keys=True)
    if args.reuse and server.exists(DATABASE) and server.comment(DATABASE) == options:
        log(f"reusing database {DATABASE}")
        return True
    data = workdir / "data"
    inspectors = INSPECTORS_PER_DISTRICT * len(districts)
    log(f"generating {args.enterprises:,} enterprises and {inspectors:,} inspectors in {len(districts)} districts")
    step = run("generate", [sys.executable, str(HERE / "generate.py"), "--enterprises", str(args.enterprises), "--records-per-enterprise", "0.2",
                            "--inspectors", str(inspectors), "--items", "6", "--departments", "6", "--districts", ",".join(districts),
                            "--seed", "1", "--today", TODAY, "--out", str(data), "--quiet",
                            "--inspector-departments", "SCJG=66,WJW=11,YJJ=6,STHJ=6,JTJ=7,WHLY=4"], workdir)
    if step.returncode:
        fail(step, "generate")
        return False
    server.create(DATABASE)
    spotcheck = [*spotcheck_command("bench/province.py"), "--database-url", server.url_of(DATABASE), "--log-format", "json"]
    (workdir / "plan.toml").write_text(plan_toml(districts), encoding="utf-8")
    steps = [("db upgrade", ["db", "upgrade"]), *USER_STEPS,
             ("user auditor", ["--user", "bench-admin", "user", "add", "bench-auditor", "--role", "auditor"])]
    steps += [(f"import {kind}", ["import", kind, str(data / f"{kind}.csv"), "--json"])
              for kind in ("departments", "items", "enterprises", "records", "inspectors")]
    steps += [("credit grade", ["credit", "grade", "--as-of", TODAY, "--json"]), ("plan create", ["plan", "create", str(workdir / "plan.toml")])]
    for district in districts:
        path = workdir / f"task-{district}.toml"
        path.write_text(task_toml(district), encoding="utf-8")
        steps.append((f"task create {district}", ["task", "create", str(path), "--seed", SEED]))
    for name, argv in steps:
        step = run(name.replace(" ", "-"), [*spotcheck, *argv], workdir)
        if step.returncode:
            fail(step, name)
            return False
        log(f"  {name}: {step.seconds:,.1f}s")
    server.comment(DATABASE, options)
    return True


def phase(spotcheck: list[str], verb: str, codes: list[str], width: int, workdir: Path) -> tuple[float, list[Step]]:
    """Run ``task VERB CODE`` for every code, ``width`` at a time; wall seconds and the steps."""
    extra = ["--entropy", ENTROPY] if verb == "draw" else []

    def one(code: str) -> Step:
        return run(f"{verb}-{code}-p{width}", [*spotcheck, "task", verb, code, *extra, "--json"], workdir)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=width) as pool:
        steps = list(pool.map(one, codes))
    return time.perf_counter() - started, steps


def own_seconds(step: Step) -> float:
    return float(log_events(step.stderr).get("command_finished", {}).get("seconds", step.seconds))


def hashes(server: Server, name: str) -> dict[str, tuple[str, str]]:
    engine = create_engine(server.url_of(name))
    try:
        with engine.connect() as c:
            return {code: (d, a) for code, d, a in c.execute(text(
                "SELECT t.code, d.result_sha256, a.result_sha256 FROM tasks t JOIN draws d ON d.task_id = t.id"
                " JOIN assignment_runs a ON a.task_id = t.id ORDER BY t.code"))}
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    districts = list(DISTRICTS[:args.districts])
    widths = [int(w) for w in args.parallel.split(",")] if args.parallel else sorted({1, 2, len(districts)})
    server = Server(args.database_url)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="province-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not build(args, server, districts, workdir):
        return 1
    codes = [task_code(d) for d in districts]
    results: list[dict[str, Any]] = []
    reference: dict[str, tuple[str, str]] | None = None
    copy = f"{DATABASE}_run"
    for width in widths:
        server.create(copy, template=DATABASE)
        spotcheck = [*spotcheck_command("bench/province.py"), "--database-url", server.url_of(copy), "--log-format", "json"]
        row: dict[str, Any] = {"width": width}
        for verb in ("draw", "assign"):
            log(f"task {verb} of {len(codes)} districts, {width} at a time")
            wall, steps = phase(spotcheck, verb, codes, width, workdir)
            for step in steps:
                if step.returncode:
                    return fail(step, f"task {verb} (width {width})")
            row[verb] = {"wall": round(wall, 2), "sum": round(sum(map(own_seconds, steps)), 2),
                         "visits": sum(int(last_json(s.stdout).get("visits", 0)) for s in steps)}
            log(f"  {wall:.1f}s wall; the commands' own seconds add up to {row[verb]['sum']:.1f}s")
        got = hashes(server, copy)
        reference = reference or got
        row["same_result_hashes"] = got == reference
        results.append(row)
    audit = run("audit-verify", [*spotcheck, "--user", "bench-auditor", "audit", "verify", "--json"], workdir)
    intact = audit.returncode == 0
    server.drop(copy)
    out = {"enterprises": args.enterprises, "districts": districts, "results": results, "audit_verify_intact": intact, "workdir": str(workdir)}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(table(out))
    return 0 if intact and all(r["same_result_hashes"] for r in results) else 1


def table(out: dict[str, Any]) -> str:
    serial = {verb: out["results"][0][verb]["wall"] for verb in ("draw", "assign")}
    lines = [f"{out['enterprises']:,} enterprises in {len(out['districts'])} districts, one task each; PostgreSQL, one database",
             "", "| processes at a time | draw: wall s | speed-up | assign: wall s | speed-up | commands' own s (draw + assign) | same hashes |",
             "|---:|---:|---:|---:|---:|---:|---|"]
    for r in out["results"]:
        lines.append(f"| {r['width']} | {r['draw']['wall']:.1f} | {serial['draw'] / r['draw']['wall']:.2f}× | {r['assign']['wall']:.1f} | "
                     f"{serial['assign'] / r['assign']['wall']:.2f}× | {r['draw']['sum']:.1f} + {r['assign']['sum']:.1f} | {r['same_result_hashes']} |")
    first = out["results"][0]
    lines += ["", f"{first['draw']['visits']:,} visits drawn and assigned; audit verify: {'intact' if out['audit_verify_intact'] else 'BROKEN'}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
