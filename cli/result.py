"""``spotcheck result``: the team records a visit's results; a reviewer approves or returns them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from cli.app import App, domain_errors, pass_app, requires, summary
from cli.credit import DATE, day_or_today, policy_option
from cli.task import operator
from credit.errors import SpotcheckError
from credit.policy import load_policy
from inspection import followup, results
from inspection.result_import import import_results
from inspection.users import acting_inspector


@click.group()
def result() -> None:
    """检查结果: record with the standard codes, submit, review (录入 → 待审核 → 已审核 → 已公示)."""


@result.command("record")
@click.argument("visit")
@click.option("--inspector", "inspector_no", help="Your inspector number (default: the acting user's); only the visit's team records its results.")
@click.option("--item", "items", multiple=True, required=True, help="Item code (检查事项); repeat for several items with the same result.")
@click.option("--not-checked", is_flag=True, help="The item was not checked (是否检查: 否); the result says why (F, 7, 8, 9–12).")
@click.option("--method", "methods", multiple=True, help="核查方式: 实地检查, 书面检查, 网络监测, 检验检测, 行政部门检查结果或专业意见, 委托专业机构辅助; repeatable.")
@click.option("--result", "codes", required=True, help='Result codes or labels from the standard table, ";"-separated, e.g. "A;2;B" or "1".')
@click.option("--findings", default="", help="发现问题情况: what was found (required with a problem).")
@click.option("--measure", help="后续处置措施: none/无需后续处置, order/责令改正, refer/移送, notify/抄告, feedback/反馈日常监管部门, other/其他.")
@click.option("--date", "checked_on", type=DATE, help="检查日期 (default: the visit's scheduled day).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("result.record")
def record_cmd(app: App, visit: str, inspector_no: str | None, items: tuple[str, ...], not_checked: bool, methods: tuple[str, ...],
               codes: str, findings: str, measure: str | None, checked_on: dt.datetime | None, as_json: bool) -> None:
    """Record the result of one or more items of VISIT (TASK/NUMBER as in `spotcheck assignments`).

    \b
    Examples:
      spotcheck result record 2026-SPB-JLP-2-1/3 --inspector JC0001 --item SC-01 --method 实地检查 --result 1
      spotcheck result record 2026-SPB-JLP-2-1/3 --inspector JC0001 --item SC-02 --method 书面检查 \\
          --result "A;2;B" --findings "未按规定公示股东出资信息" --measure 责令改正
      spotcheck result record 2026-SPB-JLP-2-1/9 --inspector JC0002 --item SC-01 --not-checked --result 7 --measure 其他
    """
    with summary("result record", visit=visit) as facts:
        try:
            entry = results.parse_entry(not not_checked, list(methods), codes, findings, measure)
        except ValueError as exc:
            raise SpotcheckError(f"{visit}: {exc}") from None
        with app.session() as session:
            state = results.record(session, visit, acting_inspector(app.actor, inspector_no), dict.fromkeys(items, entry), checked_on.date() if checked_on else None, dt.date.today())
            payload = {"visit": visit, "items": list(items), "state": state.state.label, "checked_on": state.checked_on.isoformat()}
        facts["items"] = len(items)
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False))
    else:
        click.echo(f"{visit}: {len(items)} item(s) recorded ({payload['state']}, 检查日期 {payload['checked_on']})")


@result.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sheet", help="XLSX sheet (default: the first).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("result.record")
def import_cmd(app: App, file: Path, sheet: str | None, as_json: bool) -> None:
    """Record results from a CSV or XLSX file: one row per visit and item (headers in English or Chinese).

    Every row is checked as `result record` checks it; one bad row refuses the whole file,
    listing each bad row with its reason, and nothing is written.

    \b
    Example:
      spotcheck result import results.xlsx
    """
    with summary("result import", file=str(file)) as facts:
        with app.session() as session:
            counts = import_results(session, file, sheet, dt.date.today(), acting_inspector(app.actor, None))
        facts.update(counts)
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(f"{file.name}: {counts['items']} item result(s) on {counts['visits']} visit(s) recorded")


@result.command("submit")
@click.argument("visits", metavar="VISIT...", nargs=-1, required=True)
@click.option("--inspector", "inspector_no", help="Your inspector number (default: the acting user's; a member of each visit's team).")
@pass_app
@domain_errors
@requires("result.record")
def submit_cmd(app: App, visits: tuple[str, ...], inspector_no: str | None) -> None:
    """Submit visits' results for review (录入 → 待审核) once every item has its result.
    Several visits are submitted together or, if one is refused, none.

    \b
    Example:
      spotcheck result submit 2026-SPB-JLP-2-1/3 --inspector JC0001
    """
    with summary("result submit", visits=len(visits)), app.session() as session:
        for visit in visits:
            results.submit(session, visit, acting_inspector(app.actor, inspector_no))
    click.echo(f"{', '.join(visits)}: submitted for review (待审核)" if len(visits) <= 3 else f"{len(visits)} visits submitted for review (待审核)")


@result.command("review")
@click.argument("visits", metavar="VISIT...", nargs=-1, required=True)
@click.option("--approve", "decision", flag_value="approve", help="Approve (待审核 → 已审核).")
@click.option("--return", "decision", flag_value="return", help="Return to the team (→ 录入) with --reason.")
@click.option("--reason", help="Why the results go back (required with --return).")
@click.option("--on", "on", type=DATE, help="The review date (default: today); follow-up cases open on it.")
@policy_option
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("result.review")
def review_cmd(app: App, visits: tuple[str, ...], decision: str | None, reason: str | None, on: dt.datetime | None, policy_file: Path | None, as_json: bool) -> None:
    """Approve or return submitted results of one or more visits (all or, if one is refused, none).
    Approval opens a follow-up case (后续处置) for each department and measure that needs one.

    \b
    Examples:
      spotcheck result review 2026-SPB-JLP-2-1/3 2026-SPB-JLP-2-1/5 --approve
      spotcheck result review 2026-SPB-JLP-2-1/4 --return --reason "发现问题情况未写明具体事实"
    """
    if decision is None:
        raise click.UsageError("give --approve or --return")
    policy = load_policy(policy_file)
    day = day_or_today(on)
    reviewed = []
    with summary("result review", visits=len(visits), decision=decision) as facts:
        with app.session() as session:
            for visit in visits:
                v, _, state = results.review(session, visit, decision == "approve", reason, operator(), day, dt.date.today())
                cases = followup.open_cases(session, policy, v, day, operator()) if decision == "approve" else []
                reviewed.append({"visit": visit, "state": state.state.label, "cases": [c.id for c in cases]})
        facts["cases"] = sum(len(r["cases"]) for r in reviewed)
    if as_json:
        click.echo(json.dumps(reviewed[0] if len(reviewed) == 1 else reviewed, ensure_ascii=False))
        return
    for r in reviewed:
        if decision == "approve":
            cases = r["cases"]
            click.echo(f"{r['visit']}: approved (已审核); {len(cases)} follow-up case(s) opened" + (f": {', '.join(map(str, cases))}" if cases else ""))
        else:
            click.echo(f"{r['visit']}: returned to the team (录入): {reason}")


@result.command("correct")
@click.argument("visit")
@click.option("--reason", required=True, help="What was wrong in the published result.")
@pass_app
@domain_errors
@requires("result.correct")
def correct_cmd(app: App, visit: str, reason: str) -> None:
    """Reopen VISIT's published results for a correction (更正). The published records stay; once
    re-recorded, submitted, approved and published, new records supersede them, and both are shown.

    \b
    Example:
      spotcheck result correct 2026-SPB-JLP-2-1/3 --reason "检查结果录入错误"
    """
    with summary("result correct", visit=visit), app.session() as session:
        state = results.correct(session, visit, reason)
        revision = state.revision
    click.echo(f"{visit}: reopened as revision {revision} (录入); record, submit, review and publish it again")


@result.command("show")
@click.argument("visit")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("result.read")
def show_cmd(app: App, visit: str, as_json: bool) -> None:
    """VISIT's results: state, check date, and each item's result.

    \b
    Example:
      spotcheck result show 2026-SPB-JLP-2-1/3
    """
    with app.session() as session:
        assert app.actor is not None
        results.require_own_visit(session, visit, app.actor)
        info = results.describe(session, visit)
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"{info['visit']}: {info['state']}, 检查日期 {info['checked_on'] or '-'}, revision {info['revision']}")
    if info["return_reason"] and info["state"] == "录入":
        click.echo(f"  returned: {info['return_reason']}")
    for item in info["items"]:  # type: ignore[attr-defined]
        if not item["recorded"]:
            click.echo(f"  {item['item']} {item['name']} ({item['department']}): not recorded")
            continue
        checked = "、".join(item["methods"]) if item["checked"] else "未检查"
        click.echo(f"  {item['item']} {item['name']} ({item['department']}): {';'.join(item['result_codes'])} [{checked}] {item['measure']}")
        if item["findings"]:
            click.echo(f"      {item['findings']}")
