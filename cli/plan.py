"""``spotcheck plan``: annual spot-check plans (年度抽查工作计划)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.app import App, domain_errors, pass_app, requires, summary
from inspection.definitions import DefinitionError, parse_plan
from inspection.plans import create_plan, get_plan, list_plans, plan_summary

TOML_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def read_definition(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DefinitionError(f"{path}: the file must be UTF-8 text") from None


@click.group()
def plan() -> None:
    """Annual spot-check plans (年度抽查工作计划): batches with scope, quantity and timing."""


@plan.command("create")
@click.argument("file", type=TOML_FILE)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("plan.create")
def create_cmd(app: App, file: Path, as_json: bool) -> None:
    """Create a plan from a TOML FILE (see examples/plan.toml).

    \b
    Example:
      spotcheck plan create examples/plan.toml
    """
    with summary("plan create", file=str(file)) as facts:
        definition = parse_plan(str(file), read_definition(file))
        with app.session() as session:
            data = plan_summary(session, create_plan(session, definition))
        facts.update(plan=data["code"], batches=len(data["batches"]))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"plan {data['code']} ({data['year']}): {data['name']}; departments {', '.join(data['departments'])}; {len(data['batches'])} batches")


@plan.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("plan.read")
def show_cmd(app: App, code: str, as_json: bool) -> None:
    """A plan with its batches."""
    with app.session() as session:
        data = plan_summary(session, get_plan(session, code))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"plan {data['code']} ({data['year']}): {data['name']}")
    click.echo(f"departments: {', '.join(data['departments'])}")
    for b in data["batches"]:
        scope = "; ".join(f"{k} {','.join(v)}" for k, v in b["scope"].items() if v) or "whole jurisdiction"
        click.echo(f"  batch {b['number']} {b['name']}: {b['starts_on']} – {b['ends_on']}, {b['quantity']} targets planned, {scope}")


@plan.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("plan.read")
def list_cmd(app: App, as_json: bool) -> None:
    """Every plan."""
    with app.session() as session:
        plans = list_plans(session)
    if as_json:
        click.echo(json.dumps(plans, ensure_ascii=False))
        return
    for p in plans:
        click.echo(f"{p['code']}\t{p['year']}\t{p['name']}")
