"""``spotcheck report``: oversight reports as text tables, JSON, or a Chinese HTML page with charts."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cli.app import App, domain_errors, pass_app, requires, summary
from cli.credit import DATE, day_or_today, policy_option
from credit.policy import TIERS, load_policy
from inspection.reports import figures as f
from inspection.reports.queries import build_report


@click.command("report")
@click.argument("kind", type=click.Choice([*f.KINDS, "all"]))
@click.option("--task", "task_code", help="Only this task.")
@click.option("--year", type=int, help="The tasks whose window starts in this year (credit: the runs graded as of this year).")
@click.option("--as-of", "as_of", type=DATE, help="Judge deadlines and lights as of this day (default: today).")
@policy_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object (for all: keyed by kind).")
@click.option("--html", "html", type=click.Path(file_okay=False, path_type=Path), help="Also write DIR/index.html: the page in Chinese with charts.")
@pass_app
@domain_errors
@requires("report.read")
def report(app: App, kind: str, task_code: str | None, year: int | None, as_of: dt.datetime | None, policy_file: Path | None,
           as_json: bool, html: Path | None) -> None:
    """Oversight reports on the spot checks: KIND is coverage, joint, timeliness, closure,
    fairness, credit, or all.

    \b
      coverage    planned, drawn, visited, published; by task, tier, department
      joint       items per visit, joint visits, visits saved against separate draws
      timeliness  per department: published on time or late, open, due soon, overdue
      closure     follow-up cases by phase, the overdue ones, median working days to close
      fairness    visits per inspector against eligibility; checks per enterprise and year
      credit      tiers per grading run and the drift between consecutive runs

    \b
    Examples:
      spotcheck report coverage --task 2026-SPB-JLP-2-1
      spotcheck report all --year 2026 --as-of 2026-12-31 --html report/
    """
    policy = load_policy(policy_file)
    day = day_or_today(as_of)
    kinds = list(f.KINDS) if kind == "all" else [kind]
    with summary("report", kind=kind, task=task_code, year=year) as facts:
        with app.session() as session:
            built = build_report(session, policy, kinds, task=task_code, year=year, as_of=day)
        page = None
        if html is not None:
            from inspection.reports.page import write_page  # matplotlib: only for the HTML page

            page = write_page(html, built)
        facts.update(tasks=len(built.tasks), html=str(page) if page else None)
    if as_json:
        click.echo(json.dumps(built.as_dict(kind), ensure_ascii=False))
    else:
        _echo_text(built)
    if page is not None:
        click.echo(f"page: {page}", err=as_json)


# Text ------------------------------------------------------------------------------------------


def _echo_text(built: f.Report) -> None:
    scope = f"task {built.task}" if built.task else f"tasks of {built.year}" if built.year is not None else "all tasks"
    click.echo(f"{scope}, as of {built.as_of}: {len(built.tasks)} task(s)")
    for section in built.sections:
        click.echo("")
        click.echo(f"== {section.kind} ({f.TITLES[section.kind]}) ==")
        if section.message:
            click.echo(f"  {section.message}")
        TEXT[section.kind](section.figures)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], text_columns: int = 1) -> None:
    """Text columns left-aligned, numbers right-aligned, by display width (汉字 count two)."""
    cells = [[str(c) for c in header], *([("-" if c is None else str(c)) for c in row] for row in rows)]
    widths = [max(_width(row[k]) for row in cells) for k in range(len(header))]
    for row in cells:
        padded = [c + " " * (w - _width(c)) if k < text_columns else " " * (w - _width(c)) + c for k, (c, w) in enumerate(zip(row, widths))]
        click.echo("  " + "  ".join(padded).rstrip())


def _counts(c: f.Counts) -> list[Any]:
    return [c.planned, c.drawn, c.visited, c.published, c.visits, _pct(f.share(c.visited, c.drawn)), _pct(f.share(c.published, c.drawn))]


COUNT_HEADER = ["planned", "drawn", "visited", "published", "visits", "visited%", "published%"]


def _coverage(c: f.Coverage) -> None:
    click.echo("  matters (enterprise × item); planned = the draw's stratum targets")
    _table(["task", "status", *COUNT_HEADER], [[t.key, t.status, *_counts(t.counts)] for t in c.tasks] + [["total", "", *_counts(c.total)]], 2)
    click.echo("  by tier:")
    _table(["tier", *COUNT_HEADER], [[t.key, *_counts(t.counts)] for t in c.by_tier])
    click.echo("  by department:")
    _table(["department", *COUNT_HEADER], [[d.key, *_counts(d.counts)] for d in c.by_department])


def _joint(j: f.Joint) -> None:
    data = j.as_dict()
    click.echo(f"  {j.visits} visit(s), {j.matters} matter(s), {data['mean_matters_per_visit'] or 0:.2f} per visit")
    click.echo(f"  joint visits (items of 2+ departments): {j.joint_visits} ({_pct(data['joint_share'])})")
    click.echo(f"  visits saved against separate draws: {j.saved} of {j.separate_visits} ({_pct(data['saved_share'])})")
    _table(["items per visit", "visits"], [[k, v] for k, v in sorted(j.matters_per_visit.items())])


def _timeliness(t: f.Timeliness) -> None:
    click.echo(f"  deadline: {t.deadline_working_days} working days after the check date")
    _table(["department", *f.TIMELINESS, "total", "on-time%"],
           [[line.key, *(line.counts[k] for k in f.TIMELINESS), line.total, _pct(f.share(line.counts["published_on_time"], line.published))]
            for line in [*t.departments, t.total]])
    for due in t.overdue:
        click.echo(f"  overdue: {due.visit} {due.department}")


def _closure(c: f.Closure) -> None:
    median = "-" if c.median_days_to_close is None else f"{c.median_days_to_close:g}"
    click.echo(f"  {c.cases} case(s), {c.closed} closed ({_pct(f.share(c.closed, c.cases))}); median {median} working day(s) from opening to closure")
    _table(["phase", "cases"], list(c.by_phase.items()))
    click.echo("  lights: " + ", ".join(f"{k} {v}" for k, v in c.by_light.items()))
    for case in c.overdue:
        click.echo(f"  overdue: case {case.id} {case.visit} {case.kind} {case.phase} deadline {case.deadline} {case.department}")


def _fairness(fa: f.Fairness) -> None:
    _table(["inspector", "department", "assigned", "expected", "ratio"],
           [[i.number, i.department, i.assigned, f"{float(i.expected):.2f}", None if i.ratio is None else f"{i.ratio:.2f}"] for i in fa.inspectors], 2)
    if fa.unassigned_tasks:
        click.echo(f"  not assigned yet: {', '.join(fa.unassigned_tasks)}")
    y = fa.yearly
    click.echo(f"  checks per enterprise and year (cap {y.cap}):")
    _table(["year", "checks", "enterprises"], [[year, k, v] for year, d in sorted(y.distribution.items()) for k, v in sorted(d.items())], 0)
    click.echo(f"  at the cap: {len(y.at_cap)}; over the cap: {len(y.over_cap)}")
    for e in y.over_cap:
        click.echo(f"  over the cap: {e.uscc} {e.name} {e.year}: {e.checks} ({', '.join(e.sources)})")
    click.echo("  " + fa.as_dict()["repeated_checks_note"])
    for r in fa.repeats:
        click.echo(f"  repeated: {r.uscc} {r.item}: {r.first} ({r.first_on}) and {r.second} ({r.second_on})")


def _credit(c: f.Credit) -> None:
    runs = [f.run_line(r) for r in c.runs]
    _table(["run", "as of", "enterprises", *TIERS],
           [[r["run"], r["as_of"], r["enterprises"], *(f"{r['counts'][t]} ({_pct(r['shares'][t])})" for t in TIERS)] for r in runs], 2)
    for d in map(f.drift_line, c.drifts):
        click.echo(f"  run {d['run_a']} → {d['run_b']}: stayed {d['stayed']}, riskier {d['riskier']}, safer {d['safer']}, "
                   f"only in {d['run_a']} {d['only_a']}, only in {d['run_b']} {d['only_b']}; PSI {d['psi']:.4f} ({d['verdict']})")


TEXT = {"coverage": _coverage, "joint": _joint, "timeliness": _timeliness, "closure": _closure, "fairness": _fairness, "credit": _credit}
