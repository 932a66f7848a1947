"""``spotcheck publish`` and ``spotcheck publication``: 一公开 of reviewed results, on time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import click

from cli.app import App, domain_errors, pass_app, requires, summary
from cli.credit import DATE, day_or_today, policy_option
from cli.task import operator
from credit.errors import SpotcheckError
from credit.policy import load_policy
from inspection.publication_pages import write_pages
from inspection.publication_status import publication_status, summarise
from inspection.publishing import publish_task, published_records


@click.command("publish")
@click.argument("task_code", metavar="TASK")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), help="Folder for results.csv, results.json and index.html (default: publication/TASK).")
@click.option("--on", "on", type=DATE, help="公示日期 (default: today).")
@policy_option
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("result.publish")
def publish(app: App, task_code: str, out: Path | None, on: dt.datetime | None, policy_file: Path | None, as_json: bool) -> None:
    """Publish TASK's approved results (已审核 → 已公示) and write the public pages.

    Each department's result on each visit becomes a publication record (企业名称, 统一社会信用代码,
    任务编号, 任务名称, 检查日期, 检查实施部门, 检查结果) and a credit record; results C and 6
    propose a listing on the 经营异常名录. The pages show every record of the task, corrections
    beside the records they correct, and no inspector or credit tier.

    \b
    Example:
      spotcheck publish 2026-SPB-JLP-2-1 --out publication/
    """
    policy = load_policy(policy_file)
    day = day_or_today(on)
    folder = out or Path("publication") / task_code
    with summary("publish", task=task_code) as facts:
        folder.mkdir(parents=True, exist_ok=True)  # an unusable folder fails before anything is published
        with app.session() as session:
            task, report = publish_task(session, policy, task_code, day, dt.date.today(), operator())
            records = published_records(session, task)
            if not records:
                raise SpotcheckError(f"task {task_code} has no approved results to publish (`spotcheck publication status --task {task_code}`)")
            name = task.name
        # Written once the records are committed: the public pages never show an uncommitted record.
        files = write_pages(folder, task_code, name, records)
        facts.update(records=report.records, late=report.late, corrections=report.corrections)
    payload = {"task": task_code, "visits": report.visits, "records": report.records, "corrections": report.corrections, "late": report.late,
               "credit_records": report.credit_records, "listing_proposals": report.listing_proposals, "files": [str(f) for f in files]}
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    click.echo(f"{task_code}: {report.records} record(s) published for {report.visits} visit(s) ({report.corrections} correction(s), {report.late} late)")
    click.echo(f"  {report.credit_records} credit record(s); {report.listing_proposals} 经营异常名录 proposal(s) opened as follow-up cases")
    click.echo(f"  pages: {', '.join(str(f) for f in files)}")


@click.group()
def publication() -> None:
    """一公开: where results stand against the publication deadline."""


@publication.command("status")
@click.option("--task", "task_code", help="Only this task.")
@click.option("--as-of", "as_of", type=DATE, help="Judge deadlines as of this day (default: today).")
@click.option("--all", "show_all", is_flag=True, help="List published visits too (default: only what is still to publish).")
@policy_option
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("publication.read")
def status(app: App, task_code: str | None, as_of: dt.datetime | None, show_all: bool, policy_file: Path | None, as_json: bool) -> None:
    """Every visit's results by state and deadline (20 working days from the check date): on time,
    due within 5 working days, overdue; published on time or late.

    \b
    Example:
      spotcheck publication status --task 2026-SPB-JLP-2-1
    """
    policy = load_policy(policy_file)
    day = day_or_today(as_of)
    with app.session() as session:
        rows = publication_status(session, policy, day, task_code)
    counts = summarise(rows)
    if as_json:
        click.echo(json.dumps({"as_of": day.isoformat(), **counts, "visits": [
            {**dataclasses.asdict(r), "checked_on": r.checked_on.isoformat(), "deadline": r.deadline.isoformat(),
             "published_on": r.published_on.isoformat() if r.published_on else None} for r in rows]}, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"as of {day}: no results due")
        return
    click.echo(f"as of {day}: " + ", ".join(f"{k} {v}" for k, v in counts["timeliness"].items()))
    click.echo("  by state: " + ", ".join(f"{k} {v}" for k, v in counts["states"].items()))
    for r in rows:
        if r.published_on is not None and not show_all:
            continue
        if r.published_on is not None:
            left = f"published {r.published_on}"
        elif r.working_days_left is None:
            left = "overdue; load the later year's holiday schedule to count the working days"
        elif r.working_days_left >= 0:
            left = f"{r.working_days_left} working days left"
        else:
            left = f"{-r.working_days_left} working days overdue"
        click.echo(f"  {r.timeliness:<17} {r.visit:<24} {r.state:<4} checked {r.checked_on} deadline {r.deadline} ({left}) {r.enterprise}")
