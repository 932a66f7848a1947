"""``spotcheck user``: the people who may act, each in one role."""

from __future__ import annotations

import json

import click

from cli.app import App, domain_errors, pass_app, requires, summary
from credit.roles import Role
from inspection import users

ROLE = click.Choice([r.value for r in Role])


@click.group()
def user() -> None:
    """Users and roles: planner (计划), inspector (检查), reviewer (审核), auditor (监督), admin (管理)."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=ROLE, help="planner, inspector, reviewer, auditor or admin.")
@click.option("--inspector-id", "inspector_no", help="For an inspector: their number in the inspector directory.")
@pass_app
@domain_errors
@requires("user.manage", bootstrap=True)
def add_cmd(app: App, name: str, role: str, inspector_no: str | None) -> None:
    """Add a user. An administrator adds users; on a database with no user yet, anyone may add
    the first one, and it must be an administrator.

    \b
    Examples:
      spotcheck user add 王敏 --role admin
      spotcheck --user 王敏 user add 李强 --role planner
      spotcheck --user 王敏 user add 张伟 --role inspector --inspector-id JC0001
    """
    with summary("user add", role=role), app.session() as session:
        _, first = users.add_user(session, name, Role(role), inspector_no)
    click.echo(f"{name}: added as {role}" + (" (the first administrator: act as them with --user or SPOTCHECK_USER)" if first else ""))


@user.command("role")
@click.argument("name")
@click.option("--role", required=True, type=ROLE)
@click.option("--inspector-id", "inspector_no", help="For the inspector role: their inspector number.")
@pass_app
@domain_errors
@requires("user.manage")
def role_cmd(app: App, name: str, role: str, inspector_no: str | None) -> None:
    """Change a user's role (recorded in the audit trail).

    \b
    Example:
      spotcheck user role 李强 --role reviewer
    """
    with summary("user role", role=role), app.session() as session:
        users.set_role(session, name, Role(role), inspector_no)
    click.echo(f"{name}: now {role}")


@user.command("disable")
@click.argument("name")
@pass_app
@domain_errors
@requires("user.manage")
def disable_cmd(app: App, name: str) -> None:
    """Stop a user from acting; users are never deleted, so the trail keeps naming them."""
    with summary("user disable"), app.session() as session:
        users.set_active(session, name, False)
    click.echo(f"{name}: disabled")


@user.command("enable")
@click.argument("name")
@pass_app
@domain_errors
@requires("user.manage")
def enable_cmd(app: App, name: str) -> None:
    """Let a disabled user act again."""
    with summary("user enable"), app.session() as session:
        users.set_active(session, name, True)
    click.echo(f"{name}: enabled")


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("user.read")
def list_cmd(app: App, as_json: bool) -> None:
    """Every user, their role and whether they may act."""
    with app.session() as session:
        rows = users.list_users(session)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"{r['name']}\t{r['role']}" + (f" ({r['inspector']})" if r["inspector"] else "") + ("" if r["active"] else "\tdisabled"))
