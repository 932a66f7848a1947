"""``spotcheck audit``: read the trail and check that the system was used honestly."""

from __future__ import annotations

import datetime as dt
import json

import click

from cli.app import App, domain_errors, pass_app, requires, summary
from cli.credit import DATE
from credit import audit
from inspection.audit_verify import verify


@click.group("audit")
def audit_group() -> None:
    """Audit trail (审计日志): every change, who made it and when, in a hash chain."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("audit.read")
def verify_cmd(app: App, as_json: bool) -> None:
    """Check the whole record: the event chain; every audited row against the trail (an UPDATE,
    DELETE or INSERT made behind the system's back, in sqlite3 or psql); grading runs, draws and
    assignments re-run; published records against their hashes. Exit 1 on any problem, naming
    the first broken link and the rows concerned.

    \b
    Example:
      spotcheck --user 审计员 audit verify
    """
    with summary("audit verify") as facts:
        with app.session() as session:
            report = verify(session)
        facts.update(intact=report.intact, findings=len(report.findings), events=report.events)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        checked = (f"{report.events} events, {report.rows} row hashes over {report.tables} tables, {report.runs} grading run(s), "
                   f"{report.tasks} drawn task(s), {report.publications} published record(s)")
        if report.intact:
            click.echo(f"intact: {checked}")
        else:
            first = report.first_broken_link()
            click.echo(f"NOT intact: {len(report.findings)} problem(s) in {checked}")
            if first is not None:
                click.echo(f"first broken link: {first.message}")
            for finding in report.findings:
                click.echo(f"  {finding.check}: {finding.message}")
                for row in finding.rows:
                    click.echo(f"      {row}")
        for note in report.notes:
            click.echo(f"  note: {note}")
    if not report.intact:
        raise SystemExit(1)


@audit_group.command("log")
@click.option("--task", help="Only events of this task.")
@click.option("--user", "who", help="Only events of this user.")
@click.option("--since", type=DATE, help="Only events on or after this day (UTC).")
@click.option("--rows", "with_rows", is_flag=True, help="Show each event's row hashes before and after.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("audit.read")
def log_cmd(app: App, task: str | None, who: str | None, since: dt.datetime | None, with_rows: bool, as_json: bool) -> None:
    """The trail, oldest first: number, time, who (and role), what, outcome.

    \b
    Examples:
      spotcheck audit log --task 2026-SPB-JLP-2-2
      spotcheck audit log --user 李强 --since 2026-11-01
    """
    with app.session() as session:
        rows = audit.events(session, task=task, user=who, since_day=since.date() if since else None, with_rows=with_rows)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for e in rows:
        role = f" ({e['role']})" if e["role"] else ""
        mark = " REFUSED" if e["outcome"] == "refused" else ""
        click.echo(f"{e['id']:>6} {e['at']} {e['actor']}{role} {e['action']}{mark}: {e['summary']}" + (f" [{e['rows']} row(s)]" if e["rows"] else ""))
        for change in e.get("changes", []):
            click.echo(f"         {change['table']} {change['key']}: {change['before'] or '-'} → {change['after'] or '-'}")
