"""``spotcheck assignments``: one inspector's visits, for the inspector."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.app import App, domain_errors, pass_app, requires
from credit.roles import Role
from inspection.assignments import inspector_assignments, write_assignments
from inspection.users import acting_inspector


@click.command("assignments")
@click.option("--inspector", "number", help="The inspector's number (执法检查人员编号), e.g. JC0001; an inspector sees only their own.")
@click.option("--task", "task_code", help="Only this task's visits.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write .csv, .xlsx or .ics (calendar) instead of printing.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("assignments.read")
def assignments(app: App, number: str | None, task_code: str | None, out: Path | None, as_json: bool) -> None:
    """An inspector's visits: date, enterprise, address, items, team and documents to bring.

    \b
    Example:
      spotcheck assignments --inspector JC0001 --out JC0001.ics
    """
    assert app.actor is not None
    if app.actor.role is Role.INSPECTOR:
        number = acting_inspector(app.actor, number)
    elif number is None:
        raise click.UsageError("give --inspector NO")
    with app.session() as session:
        inspector, rows = inspector_assignments(session, number, task_code)
    if out is not None:
        n = write_assignments(out, inspector, rows)
        click.echo(f"{n} visits written to {out}")
        return
    if as_json:
        click.echo(json.dumps([{"day": r.day.isoformat(), "visit": r.visit, "task": r.task, "enterprise": r.enterprise, "uscc": r.uscc,
                                "address": r.address, "items": list(r.items), "team": list(r.team), "documents": list(r.documents)}
                               for r in rows], ensure_ascii=False))
        return
    click.echo(f"{inspector.name} ({inspector.inspector_no}): {len(rows)} visits")
    for r in rows:
        click.echo(f"  {r.day} {r.visit} {r.enterprise} {r.uscc} {r.address}")
        click.echo(f"      items: {'；'.join(r.items)}; team: {'、'.join(r.team)}; bring: {'、'.join(r.documents)}")
