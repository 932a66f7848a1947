"""``spotcheck evaluation``: 双向评价, the enterprise's score of a visit."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Sequence

import click

from cli.app import App, domain_errors, pass_app, requires, summary
from cli.credit import DATE, day_or_today
from cli.task import operator
from inspection.evaluations import DepartmentLine, InspectorLine, Tally, evaluation_report, record_evaluation


@click.group()
def evaluation() -> None:
    """双向评价: the enterprise's evaluation of a visit, reported per inspector and department."""


@evaluation.command("record")
@click.argument("visit")
@click.option("--score", required=True, type=click.IntRange(1, 5), help="The enterprise's score, 1 (poor) to 5 (very good).")
@click.option("--comment", required=True, help="The enterprise's comment, as given (may be empty: \"\").")
@click.option("--on", type=DATE, help="Date the enterprise gave the evaluation (default today); the visit must have taken place by then.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("evaluation.record")
def record_cmd(app: App, visit: str, score: int, comment: str, on: dt.datetime | None, as_json: bool) -> None:
    """Enter the enterprise's evaluation of VISIT (TASK/NUMBER or TASK/USCC), once the visit has
    taken place. One evaluation per visit: it is the enterprise's statement and is never overwritten.

    \b
    Example:
      spotcheck evaluation record 2026-SPB-JLP-2-1/17 --score 5 --comment "检查规范，未影响经营"
    """
    with summary("evaluation record", visit=visit) as facts:
        with app.session() as session:
            recorded = record_evaluation(session, visit, score, comment, operator(), day_or_today(on), dt.date.today())
        facts.update(score=recorded.score)
    if as_json:
        click.echo(json.dumps({"visit": recorded.visit, "score": recorded.score}, ensure_ascii=False))
        return
    click.echo(f"visit {recorded.visit}: evaluation recorded, score {recorded.score}")


@evaluation.command("report")
@click.option("--task", "task_code", help="Only this task's visits.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("evaluation.read")
def report_cmd(app: App, task_code: str | None, as_json: bool) -> None:
    """Evaluations per inspector (each evaluation counts for every inspector on the visit's team)
    and per department (once per visit with an inspector of the department): visits, mean, scores.

    \b
    Example:
      spotcheck evaluation report --task 2026-SPB-JLP-2-1
    """
    with app.session() as session:
        report = evaluation_report(session, task_code)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    if not report.inspectors:
        click.echo("no evaluations" + (f" for task {task_code}" if task_code else ""))
        return
    click.echo("per inspector:")
    _echo_table(["inspector", "name", "department"], [_inspector_cells(line) for line in report.inspectors])
    click.echo("")
    click.echo("per department:")
    _echo_table(["department", "name"], [_department_cells(line) for line in report.departments])


def _inspector_cells(line: InspectorLine) -> list[str]:
    return [line.number, line.name, line.department, *_tally_cells(line.tally)]


def _department_cells(line: DepartmentLine) -> list[str]:
    return [line.code, line.name, *_tally_cells(line.tally)]


TALLY_HEADER = ["visits", "mean", "1", "2", "3", "4", "5"]


def _tally_cells(tally: Tally) -> list[str]:
    return [str(tally.evaluated), f"{tally.mean:.2f}", *(str(n) for n in tally.counts)]


def _echo_table(text_header: list[str], rows: Sequence[list[str]]) -> None:
    """Text columns left-aligned, number columns right-aligned, by display width (汉字 count two)."""
    header = text_header + TALLY_HEADER
    widths = [max(_width(cell) for cell in column) for column in zip(header, *rows)]
    for cells in [header, *rows]:
        padded = [_pad(cell, width, left=i < len(text_header)) for i, (cell, width) in enumerate(zip(cells, widths))]
        click.echo("  " + "  ".join(padded).rstrip())


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, *, left: bool) -> str:
    space = " " * (width - _width(text))
    return text + space if left else space + text
