"""``spotcheck demo``: a realistic district built from nothing and run through the whole loop.

Generated directories (credit/synthetic.py) → imports → grading → plan and joint task → draw →
assignment → simulated results → review → publication → follow-ups → reports → audit verify.
Each step runs the real command in this process, as the user whose role it is, and prints one
line; the long imports show a progress bar.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url

from cli.app import App, domain_errors
from credit.synthetic import Generator, chongqing_districts

ADMIN, PLANNER, REVIEWER, AUDITOR = "管理员", "计划科", "审核科", "审计员"
# The generated world's today: records and certificates are dated up to it; October's task is done.
TODAY = dt.date(2026, 10, 1)
TASK, PLAN = "2026-DEMO-2-1", "2026-DEMO"
WINDOW = (dt.date(2026, 10, 12), dt.date(2026, 11, 6))
REVIEWED_ON, PUBLISHED_ON = "2026-11-16", "2026-11-20"


@dataclass(frozen=True)
class Size:
    enterprises: int
    records_per_enterprise: float
    inspectors: int
    items: int
    districts: tuple[str, ...]


SIZES = {
    "small": Size(5_000, 2.0, 120, 20, ("500106", "500107")),
    "district": Size(200_000, 2.0, 400, 40, ("500106", "500107", "500103", "500105")),
    "province": Size(1_000_000, 3.0, 2_000, 40, ()),  # every district of the shipped table
}


class Demo:
    """Runs the commands against one database and prints what each did."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.started = time.perf_counter()

    def cli(self, user: str | None, *args: str) -> str:
        """Run ``spotcheck ARGS`` here as ``user``; its stdout, or a ClickException naming the step."""
        from cli.main import cli

        buffer = io.StringIO()
        acting = ["--user", user] if user else []
        with contextlib.redirect_stdout(buffer):
            try:
                cli.main(["--database-url", self.url, "--log-level", "warning", *acting, *args], prog_name="spotcheck", standalone_mode=False)
            except click.ClickException as exc:
                raise click.ClickException(f"demo step `spotcheck {' '.join(args)}` failed: {exc.format_message()}") from exc
        return buffer.getvalue()

    def json(self, user: str | None, *args: str) -> Any:
        return json.loads(self.cli(user, *args, "--json"))

    def say(self, step: str, what: str) -> None:
        click.echo(f"[{time.perf_counter() - self.started:6.1f}s] {step:<12} {what}")

    def import_with_bar(self, kind: str, path: Path, rows: int) -> dict[str, int]:
        """Import a big directory file through the service, with a progress bar on stderr."""
        from cli.directory import KINDS
        from credit.importing import run_import

        app = App(database_url=self.url, user=PLANNER)
        try:
            app.authorize("directory.import")
            with click.progressbar(length=rows, label=f"importing {kind}", file=sys.stderr) as bar:
                done = 0

                def advance(seen: int) -> None:
                    nonlocal done
                    bar.update(seen - done)
                    done = seen

                with app.session() as session:
                    report = run_import(session, KINDS[kind], path, progress=advance)
        finally:
            app.close()
        return report.counts()


def _fresh_database(url: str) -> None:
    """A demo starts from nothing: a SQLite file is replaced; any other database must be empty."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    from credit.db import make_engine

    engine = make_engine(url)
    try:
        tables = sa_inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise click.ClickException(f"the demo needs an empty database; {parsed.render_as_string(hide_password=True)} has {len(tables)} table(s)")


def _task_files(gen: Generator, districts: tuple[str, ...], data: Path, out: Path) -> tuple[Path, Path, list[str]]:
    """The plan and a joint task over one 监管所 area in each of the first two districts, which
    cooperate: for 市场监管 (two items) and two other departments (one), the items most of their
    inspectors there are qualified for (qualifications name items or their category)."""
    area = districts[:2]
    qualified: dict[str, int] = {}
    with (data / "inspectors.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["district_code"] in area and row["status"] == "在岗":
                for name in filter(None, row["qualifications"].split(";")):
                    qualified[name] = qualified.get(name, 0) + 1
    by_department: dict[str, list[tuple[int, str]]] = {}
    for code, _name, category, owner, *_ in gen.item_rows():
        by_department.setdefault(owner, []).append((-(qualified.get(code, 0) + qualified.get(category, 0)), code))
    best = {dept: sorted(scored) for dept, scored in by_department.items()}
    ranked = sorted((dept for dept in best if dept != "SCJG"), key=lambda dept: best[dept][0])
    departments = ["SCJG", *ranked[:2]]
    # Two 市场监管 items on the same enterprises make joint visits: 进一次门、查多项事.
    chosen = {dept: [code for _, code in best[dept][:2 if dept == "SCJG" else 1]] for dept in departments}
    stations = [gen.stations[code][0] for code in area]
    scope = f"scope = {{ districts = {json.dumps(list(area), ensure_ascii=False)}, stations = {json.dumps(stations, ensure_ascii=False)} }}"
    cooperation = f"cooperation = [{json.dumps(list(area))}]" if len(area) > 1 else ""
    plan = out / "plan.toml"
    plan.write_text(
        f'code = "{PLAN}"\nname = "2026年度部门联合双随机、一公开抽查工作计划（演示）"\nyear = 2026\n'
        f"departments = {json.dumps(departments)}\n\n[[batch]]\nnumber = 2\nname = \"第二批次（部门联合）\"\n"
        f"starts_on = 2026-09-01\nends_on = 2026-12-31\nquantity = 1000\n{scope}\n", encoding="utf-8")
    task = out / "task.toml"
    blocks = "".join(f'\n[[department]]\ncode = "{dept}"\nitems = {json.dumps(chosen[dept])}\n' for dept in departments)
    task.write_text(
        f'code = "{TASK}"\nname = "2026年第二批次部门联合抽查（演示）"\nplan = "{PLAN}"\nbatch = 2\nkind = "routine"\n'
        f'lead = "SCJG"\ngrading_run = "latest"\nitem_version = "{TODAY.year}"\n'
        f"starts_on = {WINDOW[0]}\nends_on = {WINDOW[1]}\ninspectors_per_visit = 2\ncross_station = true\n{scope}\n{cooperation}\n{blocks}",
        encoding="utf-8")
    return plan, task, departments


@click.command("demo")
@click.option("--size", type=click.Choice(sorted(SIZES)), default="district", show_default=True,
              help="small: 5,000 enterprises; district: 200,000 in four real Chongqing districts; province: 1,000,000 in all 38.")
@click.option("--database-url", "demo_url", default="sqlite:///demo.db", show_default=True,
              help="Where to build; a SQLite file is replaced, any other database must be empty.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"), show_default=True,
              help="Folder for the generated files, announcement, notices, publication and report.")
@domain_errors
def demo(size: str, demo_url: str, out: Path) -> None:
    """Build a realistic district and run it through the whole loop, printing each step.

    \b
    Examples:
      spotcheck demo                       # 200,000 enterprises, under 2 minutes
      spotcheck demo --size small
      spotcheck demo --database-url postgresql+psycopg://postgres@127.0.0.1/demo

    The demo makes its own users, so it needs no --user; it ignores the root --database-url.
    """
    run(demo_url, SIZES[size], out)


def run(url: str, size: Size, out: Path) -> None:
    _fresh_database(url)
    out.mkdir(parents=True, exist_ok=True)
    d = Demo(url)
    d.cli(None, "db", "upgrade")
    d.cli(None, "user", "add", ADMIN, "--role", "admin")
    for name, role in ((PLANNER, "planner"), (REVIEWER, "reviewer"), (AUDITOR, "auditor")):
        d.cli(ADMIN, "user", "add", name, "--role", role)
    d.say("users", f"{ADMIN} (admin), {PLANNER} (planner), {REVIEWER} (reviewer), {AUDITOR} (auditor)")

    districts = size.districts or tuple(code for code, _ in chongqing_districts())
    gen = Generator(enterprises=size.enterprises, records_per_enterprise=size.records_per_enterprise, inspectors=size.inspectors,
                    items=size.items, departments=6, districts=list(districts), seed=20261001, today=TODAY)
    data = out / "data"
    data.mkdir(exist_ok=True)
    counts = {"departments": gen.write_departments(data), "items": gen.write_items(data)}
    counts["enterprises"], counts["records"] = gen.write_enterprises_and_records(data)
    counts["inspectors"] = gen.write_inspectors(data)
    names = dict(chongqing_districts())
    d.say("generated", f"{counts['enterprises']:,} enterprises in {', '.join(names[c] for c in districts[:4])}{' …' if len(districts) > 4 else ''}, "
          f"{counts['records']:,} credit records, {counts['inspectors']} inspectors, {counts['items']} items of 6 departments")

    for kind in ("departments", "items"):
        d.cli(PLANNER, "import", kind, str(data / f"{kind}.csv"))
    for kind in ("enterprises", "records"):
        got = d.import_with_bar(kind, data / f"{kind}.csv", counts[kind])
        d.say("import", f"{kind}: {got['inserted']:,} inserted, {got['rejected']} rejected")
    got = d.json(PLANNER, "import", "inspectors", str(data / "inspectors.csv"))
    d.say("import", f"inspectors: {got['inserted']} with certificates, qualifications, leave and 回避 conflicts")

    graded = d.json(PLANNER, "credit", "grade", "--as-of", TODAY.isoformat())
    d.say("grade", f"run {graded['run']}: " + ", ".join(f"{tier} {n:,}" for tier, n in graded["tiers"].items()))

    plan, task, departments = _task_files(gen, districts, data, out)
    d.cli(PLANNER, "plan", "create", str(plan))
    d.cli(PLANNER, "task", "create", str(task))
    d.cli(PLANNER, "task", "announce", TASK, "--out", str(out / "announcement"))
    d.say("task", f"{TASK}: joint task of {', '.join(departments)}; announced with its seed commitment")
    drawn = d.json(PLANNER, "task", "draw", TASK, "--entropy", "演示 2026-10-10 福彩3D 3 7 2")
    d.say("draw", f"{drawn['visits']:,} visits for {drawn['matters']:,} matters; separate draws would need {drawn['separate_visits']:,}")
    assigned = d.json(PLANNER, "task", "assign", TASK)
    d.say("assign", f"{assigned['visits']:,} visits staffed by {assigned['inspectors']} inspectors in teams of two (CP-SAT)")
    d.cli(PLANNER, "task", "notices", TASK, "--out", str(out / "notices"))

    _results(d, out)
    d.cli(REVIEWER, "publish", TASK, "--on", PUBLISHED_ON, "--out", str(out / "publication"))
    d.say("publish", f"抽查检查结果公示 in {out / 'publication' / 'index.html'}")
    cases = d.json(PLANNER, "followup", "list")
    d.say("follow-up", f"{len(cases)} case(s) of 后续处置 (follow-up) open, each with its deadline light")
    d.cli(AUDITOR, "report", "all", "--task", TASK, "--html", str(out / "report"))
    d.say("report", f"oversight report in {out / 'report'}")
    verified = d.json(AUDITOR, "audit", "verify")
    d.say("audit", f"{verified['events']} events, {verified['rows']:,} row hashes: {'intact' if verified['intact'] else 'NOT intact'}")
    click.echo(_next_steps(url, out))


def _results(d: Demo, out: Path) -> None:
    """Each recording inspector imports and submits their visits; the reviewer approves them all."""
    from credit.db import make_engine
    from sqlalchemy.orm import Session

    from inspection.simulation import write_results

    engine = make_engine(d.url)
    try:
        with Session(engine) as session:
            visits = write_results(session, TASK, out / "results")
    finally:
        engine.dispose()
    for number, refs in sorted(visits.items()):
        d.cli(ADMIN, "user", "add", number, "--role", "inspector", "--inspector-id", number)
        d.cli(number, "result", "import", str(out / "results" / f"{number}.csv"))
        d.cli(number, "result", "submit", *refs)
    every = sorted((ref for refs in visits.values() for ref in refs), key=lambda r: int(r.rsplit("/", 1)[1]))
    d.say("results", f"{len(every):,} visits recorded and submitted by {len(visits)} inspectors, each their own")
    d.cli(REVIEWER, "result", "review", *every, "--approve", "--on", REVIEWED_ON)
    d.say("review", f"{len(every):,} visits approved by {REVIEWER}")


def _next_steps(url: str, out: Path) -> str:
    return f"""
The demo district is in {url}. Try next:
  export SPOTCHECK_DATABASE_URL={url} SPOTCHECK_USER={PLANNER}
  spotcheck task show {TASK}                        # the draw report: strata, exclusions, visits
  spotcheck task verify {TASK}                      # re-run the draw and the assignment
  spotcheck task draw {TASK} --entropy x            # refused: a task is drawn once
  spotcheck credit list --tier D                     # the high-risk list
  spotcheck assignments --inspector JC0001           # one inspector's visits (--out x.ics for a calendar)
  spotcheck followup list --overdue                  # 后续处置 past their deadline
  spotcheck --user {AUDITOR} audit log --task {TASK}     # who did what, hash-chained
  spotcheck --user {AUDITOR} audit verify               # then edit a row with sqlite3 and run it again
  xdg-open {out / 'publication' / 'index.html'}         # 抽查检查结果公示
  xdg-open {out / 'report' / 'index.html'}              # oversight report with charts
"""
