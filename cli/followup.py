"""``spotcheck followup``: 后续处置 cases, from the problem found to their closing step."""

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
from inspection import followup as cases

LIGHTS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯", "closed": "已完结"}


@click.group()
def followup() -> None:
    """后续处置: a case for each problem found, followed to closure (红黄绿灯)."""


@followup.command("list")
@click.option("--overdue", is_flag=True, help="Only cases past their deadline (red).")
@click.option("--department", help="Only this department (code or name).")
@click.option("--task", "task_code", help="Only this task's cases.")
@click.option("--closed", "include_closed", is_flag=True, help="Include closed cases.")
@click.option("--as-of", "as_of", type=DATE, help="Judge deadlines as of this day (default: today).")
@policy_option
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("followup.read")
def list_cmd(app: App, overdue: bool, department: str | None, task_code: str | None, include_closed: bool, as_of: dt.datetime | None,
             policy_file: Path | None, as_json: bool) -> None:
    """Follow-up cases with a traffic light: green on time, yellow due within 5 working days
    (policy followup.due_soon_working_days), red overdue.

    \b
    Example:
      spotcheck followup list --overdue --department SCJG
    """
    policy = load_policy(policy_file)
    day = day_or_today(as_of)
    with app.session() as session:
        rows = cases.list_cases(session, policy, day, overdue=overdue, department=department, include_closed=include_closed, task=task_code)
    if as_json:
        click.echo(json.dumps([{k: (v.isoformat() if isinstance(v, dt.date) else list(v) if isinstance(v, tuple) else v)
                                for k, v in dataclasses.asdict(r).items()} for r in rows], ensure_ascii=False))
        return
    if not rows:
        click.echo(f"as of {day}: no follow-up cases" + (" overdue" if overdue else ""))
        return
    for r in rows:
        if r.light == "closed":
            left = ""
        elif r.working_days_left is None:
            left = ", overdue (working days uncounted: a later year has no holiday schedule yet)"
        elif r.working_days_left >= 0:
            left = f", {r.working_days_left} working days left"
        else:
            left = f", {-r.working_days_left} working days overdue"
        click.echo(f"  {r.id:>5} {LIGHTS[r.light]} {r.kind}/{r.phase} {r.visit} {r.enterprise} [{r.department}] items {','.join(r.items) or '-'}"
                   f" deadline {r.deadline}{left}" + (f" → {r.receiver}" if r.receiver else "") + (f"; {r.closed_on} {r.outcome}" if r.closed_on else ""))


@followup.command("show")
@click.argument("case_id", metavar="CASE", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("followup.read")
def show_cmd(app: App, case_id: int, as_json: bool) -> None:
    """A case and every step it went through.

    \b
    Example:
      spotcheck followup show 3
    """
    with app.session() as session:
        case = cases.get_case(session, case_id)
        info = {"id": case.id, "kind": case.kind.label, "phase": case.phase.label, "opened_on": case.opened_on.isoformat(),
                "deadline": case.deadline.isoformat(), "rectify_by": case.rectify_by.isoformat() if case.rectify_by else None,
                "receiver": case.receiver, "closed_on": case.closed_on.isoformat() if case.closed_on else None, "outcome": case.outcome,
                "steps": [{"step": s.step, "phase": s.phase.label, "on": s.happened_on.isoformat(), "note": s.note, "operator": s.operator}
                          for s in cases.case_steps(session, case)]}
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"case {info['id']}: {info['kind']}, {info['phase']}, opened {info['opened_on']}, deadline {info['deadline']}"
               + (f", 责令改正期限 {info['rectify_by']}" if info["rectify_by"] else ""))
    for s in info["steps"]:  # type: ignore[attr-defined]
        click.echo(f"  {s['on']} {s['step']:<13} → {s['phase']} {s['note']} ({s['operator']})")


@followup.command("update")
@click.argument("case_id", metavar="CASE", type=int)
@click.option("--rectify-by", type=DATE, help="责令改正: set a (new) rectification deadline.")
@click.option("--recheck", "recheck_by", help="复查 by these inspectors (two or more numbers, comma-separated); with --rectified or --not-rectified.")
@click.option("--rectified/--not-rectified", default=None, help="The re-check's finding.")
@click.option("--findings", default="", help="What the re-check found still wrong.")
@click.option("--refer", "refer_to", help="移送: refer a case not rectified to this enforcement body.")
@click.option("--reported-back", is_flag=True, help="The receiving side reported back (closes a 移送/抄告/反馈 case); with --outcome.")
@click.option("--listed", "document_no", help="列入经营异常名录 decided, with the decision's document number (closes a listing proposal).")
@click.option("--not-listed", is_flag=True, help="Not listed (closes a listing proposal); with --outcome saying why.")
@click.option("--close", "close_", is_flag=True, help="已完结, after the closing step; with --outcome.")
@click.option("--outcome", default="", help="The outcome (处置结果) when closing.")
@click.option("--on", "on", type=DATE, help="The day of the step (default: today).")
@policy_option
@pass_app
@domain_errors
@requires("followup.update")
def update_cmd(app: App, case_id: int, rectify_by: dt.datetime | None, recheck_by: str | None, rectified: bool | None, findings: str,
               refer_to: str | None, reported_back: bool, document_no: str | None, not_listed: bool, close_: bool, outcome: str,
               on: dt.datetime | None, policy_file: Path | None) -> None:
    """Move CASE by one step.

    \b
    Examples:
      spotcheck followup update 3 --rectify-by 2026-12-15
      spotcheck followup update 3 --recheck JC0001,JC0002 --rectified --on 2026-12-16
      spotcheck followup update 3 --close --outcome "已按期改正" --on 2026-12-16
      spotcheck followup update 4 --reported-back --outcome "已立案查处" --on 2026-12-20
      spotcheck followup update 5 --listed 渝市监异〔2026〕12号
    """
    actions = [name for name, given in (("--rectify-by", rectify_by), ("--recheck", recheck_by), ("--refer", refer_to), ("--reported-back", reported_back),
                                        ("--listed", document_no), ("--not-listed", not_listed), ("--close", close_)) if given]
    if len(actions) != 1:
        raise click.UsageError("give exactly one step: --rectify-by, --recheck, --refer, --reported-back, --listed, --not-listed or --close"
                               + (f" (got {', '.join(actions)})" if actions else ""))
    if recheck_by is not None and rectified is None:
        raise click.UsageError("--recheck needs --rectified or --not-rectified")
    policy = load_policy(policy_file)
    today = dt.date.today()
    day = day_or_today(on)
    who = operator()
    with summary("followup update", case=case_id, step=actions[0]), app.session() as session:
        case = cases.get_case(session, case_id)
        if rectify_by is not None:
            cases.set_rectify_by(session, policy, case, rectify_by.date(), day, today, who)
        elif recheck_by is not None:
            cases.recheck(session, case, day, recheck_by.replace("，", ",").split(","), bool(rectified), findings, today, who)
        elif refer_to is not None:
            cases.refer(session, policy, case, refer_to, day, today, who)
        elif reported_back:
            cases.report_back(session, case, outcome, day, today, who)
        elif document_no is not None or not_listed:
            cases.decide_listing(session, case, document_no is not None, document_no, outcome, day, today, who)
        elif close_:
            cases.close(session, case, outcome, day, today, who)
        else:  # pragma: no cover - guarded above
            raise SpotcheckError("no step given")
        phase, deadline = case.phase.label, case.deadline
    click.echo(f"case {case_id}: {phase}" + ("" if phase == "已完结" else f", deadline {deadline}"))
