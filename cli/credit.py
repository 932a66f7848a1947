"""``spotcheck credit``: grading runs, explanations, drift, what-if, tier lists and credit repair."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from cli.app import App, domain_errors, pass_app, requires, summary
from cli.directory import _path_with_table_suffix
from credit.drift import drift
from credit.explain import explain, run_summary, what_if
from credit.grading import create_run, get_run
from credit.grading_models import GradingRun
from credit.memory import keep_freed_memory
from credit.policy import TIERS, load_policy
from credit.repair import approve, reject, request
from credit.tabular import write_table
from credit.tier_lists import tier_list

DATE = click.DateTime(formats=["%Y-%m-%d"])
policy_option = click.option(
    "--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path), envvar="SPOTCHECK_POLICY",
    help="Policy TOML file (default: the shipped policy; `spotcheck credit policy --print` shows it).",
)


def day_or_today(value: dt.datetime | None) -> dt.date:
    """A --on/--as-of option's day, today when not given."""
    return value.date() if value else dt.date.today()


def _echo(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False) if as_json else text)


@click.group()
def credit() -> None:
    """Credit-risk classification (信用风险分类) A/B/C/D and credit repair (信用修复)."""


@credit.command("policy")
@policy_option
@click.option("--print", "show", is_flag=True, help="Print the policy text (copy the default to start your own).")
@domain_errors
def policy_cmd(policy_file: Path | None, show: bool) -> None:
    """Validate a policy file (or the default) and print its version and SHA-256.

    \b
    Example:
      spotcheck credit policy --print > policy.toml
      spotcheck credit policy --policy policy.toml
    """
    policy = load_policy(policy_file)
    click.echo(policy.text if show else f"policy {policy.version} sha256 {policy.sha256}: valid")


@credit.command("grade")
@click.option("--as-of", type=DATE, help="Grade as of this date (default today); only records dated on or before it count.")
@policy_option
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("credit.grade")
def grade_cmd(app: App, as_of: dt.datetime | None, policy_file: Path | None, as_json: bool) -> None:
    """Grade every enterprise under supervision and store the run (runs are never rewritten).

    \b
    Example:
      spotcheck credit grade --as-of 2026-06-30 --json
    """
    keep_freed_memory()  # some forty arrays of ten million come and go (credit.memory)
    with summary("credit grade") as facts:
        policy = load_policy(policy_file)
        with app.session() as session:
            run = create_run(session, policy, day_or_today(as_of))
            data = run_summary(run)
        facts.update(run=run.id, enterprises=run.enterprises, records=run.records, tiers=data["tiers"])
        if as_json:
            click.echo(json.dumps({"run": run.id, "tiers": data["tiers"]}))
            return
        tiers = "  ".join(f"{t} {n}" for t, n in data["tiers"].items())
        click.echo(f"grading run {run.id} as of {run.as_of}, policy {run.policy_version} ({run.policy_sha256[:12]})")
        click.echo(f"{run.enterprises} enterprises from {run.records} records: {tiers}  ({run.seconds:.1f} s)")


@credit.command("runs")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("credit.read")
def runs_cmd(app: App, as_json: bool) -> None:
    """List the grading runs."""
    with app.session() as session:
        runs = [run_summary(r) for r in session.scalars(select(GradingRun).order_by(GradingRun.id))]
    if as_json:
        click.echo(json.dumps(runs))
        return
    for r in runs:
        tiers = " ".join(f"{t}{n}" for t, n in r["tiers"].items())
        click.echo(f"{r['run']}\t{r['as_of']}\t{r['policy_version']}\t{r['enterprises']} enterprises\t{tiers}")


@credit.command("show")
@click.argument("uscc")
@click.option("--run", "run_id", type=int, help="Grading run (default: the latest).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("credit.read")
def show_cmd(app: App, uscc: str, run_id: int | None, as_json: bool) -> None:
    """An enterprise's tier and score, every record that counts with its points and last day,
    and the records that do not count with the reason.

    \b
    Example:
      spotcheck credit show 91500106MA5U7XXXXX
    """
    with app.session() as session:
        result = explain(session, uscc, run_id)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    click.echo(f"{result.uscc} {result.name}")
    click.echo(f"run {result.run} as of {result.as_of} (policy {result.policy_version}): tier {result.tier}, score {result.score:g}")
    click.echo(f"reasons: {result.reasons or '-'}")
    if result.stored is not None:
        click.echo(f"note: the run stored {result.stored}; the records changed since")
    counting = [line for line in result.lines if line.status == "counts"]
    other = [line for line in result.lines if line.status != "counts"]
    click.echo("counting:" if counting else "counting: none")
    for line in counting:
        until = line.last_day.isoformat() if line.last_day else "until removed"
        click.echo(f"  #{line.id} {line.occurred_on} {line.kind} ({line.category}) {line.points:+g} points, counts through {until}  {line.document_no or ''}")
    if other:
        click.echo("not counting:")
    for line in other:
        click.echo(f"  #{line.id} {line.occurred_on} {line.kind} ({line.category}): {_why(line)}")


def _why(line: Any) -> str:
    if line.status == "expired" and line.category in ("abnormal_in", "serious_in"):
        return f"off the list after {line.last_day} (removed or period ended)"
    return {
        "expired": f"expired after {line.last_day}" if line.last_day else "expired",
        "repaired": "repaired (信用修复)",
        "first_offence": "首违不罚: first minor violation, no points",
        "not_scored": "removal or unsubstantiated complaint: no points",
    }.get(line.status, line.status)


@credit.command("drift")
@click.argument("run_a", type=int)
@click.argument("run_b", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("credit.read")
def drift_cmd(app: App, run_a: int, run_b: int, as_json: bool) -> None:
    """Tier transitions from RUN_A to RUN_B and the population stability index
    (< 0.10 stable, < 0.25 watch, else shift)."""
    with app.session() as session:
        result = drift(session, run_a, run_b)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    click.echo(f"run {run_a} → run {run_b}   (rows: tier in {run_a}; columns: tier in {run_b})")
    click.echo("      " + "".join(f"{t:>10}" for t in TIERS))
    for t in TIERS:
        click.echo(f"{t:>6}" + "".join(f"{result.matrix[t][u]:>10}" for u in TIERS))
    click.echo(f"only in run {run_a}: {result.only_a}; only in run {run_b}: {result.only_b}")
    click.echo(f"PSI {result.psi:.4f}: {result.verdict}")


@credit.command("what-if")
@click.argument("uscc")
@click.option("--as-of", type=DATE, help="From this date (default today).")
@policy_option
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("credit.read")
def what_if_cmd(app: App, uscc: str, as_of: dt.datetime | None, policy_file: Path | None, as_json: bool) -> None:
    """Which records, if repaired or expired, would give USCC a better tier, and the first day its
    tier improves on its own."""
    policy = load_policy(policy_file)
    with app.session() as session:
        result = what_if(session, uscc, policy, day_or_today(as_of))
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    click.echo(f"{result.uscc} as of {result.as_of}: tier {result.tier}, score {result.score:g}")
    if not result.improving:
        click.echo("no single record's repair or expiry would improve the tier")
    for item in result.improving:
        repair = f"repair possible from {item['repair_possible_from']}" if item["repair_possible_from"] else "not repairable"
        expiry = f"expires after {item['expires_after']}" if item["expires_after"] else "counts until removed"
        click.echo(f"  #{item['record']} {item['occurred_on']} {item['kind']} ({item['points']:+g}): without it tier {item['tier_without_it']}; {repair}; {expiry}")
    if result.better_on:
        click.echo(f"on its own: tier {result.better_tier} from {result.better_on}")
    else:
        click.echo("on its own: no improvement while its records stand")


LIST_HEADER = ("统一社会信用代码", "企业名称", "行政区划代码", "行政区划", "监管所", "信用风险分类", "分值", "主要原因")


@credit.command("list")
@click.option("--tier", "tiers", type=click.Choice(TIERS), multiple=True, required=True, help="Tier(s) to list; repeat for several.")
@click.option("--district", "districts", multiple=True, help="GB/T 2260 district code(s); repeat for several.")
@click.option("--run", "run_id", type=int, help="Grading run (default: the latest).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=_path_with_table_suffix, help="Write a .csv or .xlsx file (Chinese headers) instead of printing.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("credit.read")
def list_cmd(app: App, tiers: tuple[str, ...], districts: tuple[str, ...], run_id: int | None, out: Path | None, as_json: bool) -> None:
    """The enterprises of the given tier(s) in a run, worst score first: the lists staff work from.
    Tiers are internal working information (内部使用), not for publication.

    \b
    Example:
      spotcheck credit list --tier D --district 500106 --out d-list.xlsx
    """
    with summary("credit list") as facts, app.session() as session:
        run = get_run(session, run_id)
        rows = tier_list(session, run, tiers, districts)
        if out is not None:
            count = write_table(out, LIST_HEADER, rows, sheet_title="信用风险分类")
            facts.update(rows=count)
            _echo({"run": run.id, "rows": count}, as_json, f"{count} enterprises of run {run.id} written to {out}")
            return
        listed = list(rows)
        facts.update(rows=len(listed))
        if as_json:
            keys = ("uscc", "name", "district_code", "district", "station", "tier", "score", "reasons")
            click.echo(json.dumps({"run": run.id, "enterprises": [dict(zip(keys, r, strict=True)) for r in listed]}, ensure_ascii=False))
            return
        for r in listed:
            click.echo("\t".join("" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in r))
        click.echo(f"{len(listed)} enterprises (run {run.id}, tier {', '.join(tiers)})", err=True)


@credit.group("repair")
def repair_group() -> None:
    """Credit repair (信用修复): request, approve, reject. Records are never changed or deleted."""


@repair_group.command("request")
@click.argument("record", type=int)
@click.option("--reason", required=True, help="What the enterprise did (penalty performed, ground cured, 信用承诺 published, ...).")
@click.option("--on", type=DATE, help="Date the request was received (default today).")
@policy_option
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("credit.repair")
def repair_request(app: App, record: int, reason: str, on: dt.datetime | None, policy_file: Path | None, as_json: bool) -> None:
    """Request the repair of credit record RECORD (its id, as `credit show` prints it)."""
    policy = load_policy(policy_file)
    with summary("credit repair request", record=record) as facts, app.session() as session:
        repair = request(session, policy, record, reason, day_or_today(on))
        facts.update(request=repair.id)
        _echo({"request": repair.id, "record": record, "eligible_from": repair.eligible_from.isoformat()}, as_json,
              f"repair request {repair.id} for record {record} (eligible from {repair.eligible_from})")


@repair_group.command("approve")
@click.argument("request_id", metavar="REQUEST", type=int)
@click.option("--on", type=DATE, help="Decision date (default today).")
@click.option("--reason", help="Optional note.")
@pass_app
@domain_errors
@requires("credit.repair")
def repair_approve(app: App, request_id: int, on: dt.datetime | None, reason: str | None) -> None:
    """Approve a repair request: the record stops counting in runs as of the decision date."""
    with summary("credit repair approve", request=request_id), app.session() as session:
        repair = approve(session, request_id, day_or_today(on), reason)
        click.echo(f"repair request {request_id} approved on {repair.decided_on}: record {repair.record_id} no longer counts")


@repair_group.command("reject")
@click.argument("request_id", metavar="REQUEST", type=int)
@click.option("--reason", required=True)
@click.option("--on", type=DATE, help="Decision date (default today).")
@pass_app
@domain_errors
@requires("credit.repair")
def repair_reject(app: App, request_id: int, reason: str, on: dt.datetime | None) -> None:
    """Reject a repair request, with the reason."""
    with summary("credit repair reject", request=request_id), app.session() as session:
        repair = reject(session, request_id, reason, day_or_today(on))
        click.echo(f"repair request {request_id} rejected on {repair.decided_on}")

