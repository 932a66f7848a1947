"""Root of the ``spotcheck`` command line."""

from __future__ import annotations

import click

from cli.app import App
from cli.logs import LEVELS, configure_logging
from credit.db import DEFAULT_DATABASE_URL

CONTEXT_SETTINGS = {"auto_envvar_prefix": "SPOTCHECK", "help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--database-url",
    envvar="SPOTCHECK_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="SQLAlchemy URL; PostgreSQL as postgresql+psycopg://user@host/db.",
)
@click.option("--user", envvar="SPOTCHECK_USER", help="The user you act as (spotcheck user list); every change is recorded under this name.")
@click.option("--log-format", type=click.Choice(["auto", "console", "json"]), default="auto", show_default=True, help="Log format on stderr; auto is console on a terminal, JSON otherwise.")
@click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True)
@click.version_option(package_name="spotcheck")
@click.pass_context
def cli(ctx: click.Context, database_url: str, user: str | None, log_format: str, log_level: str) -> None:
    """spotcheck: tiered credit supervision and double-random, one-public spot checks.

    Results go to stdout, logs to stderr.
    """
    configure_logging(log_format, log_level)  # type: ignore[arg-type]
    app = App(database_url=database_url, user=user)
    ctx.obj = app
    ctx.call_on_close(app.close)


def _register() -> None:
    from cli import assignments, audit, calendar, credit, db, demo, directory, evaluation, followup, plan, publication, report, result, task, user

    cli.add_command(db.db)
    cli.add_command(directory.import_cmd)
    cli.add_command(directory.export_cmd)
    cli.add_command(credit.credit)
    cli.add_command(plan.plan)
    cli.add_command(task.task)
    cli.add_command(assignments.assignments)
    cli.add_command(calendar.calendar)
    cli.add_command(evaluation.evaluation)
    cli.add_command(result.result)
    cli.add_command(publication.publish)
    cli.add_command(publication.publication)
    cli.add_command(followup.followup)
    cli.add_command(report.report)
    cli.add_command(user.user)
    cli.add_command(audit.audit_group)
    cli.add_command(demo.demo)


_register()
