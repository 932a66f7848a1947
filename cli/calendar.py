"""``spotcheck calendar``: holiday schedules for years chinese-calendar does not know yet."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import click
from sqlalchemy import select

from cli.app import App, domain_errors, pass_app, requires, summary
from cli.plan import TOML_FILE, read_definition
from cli.task import operator
from inspection.calendar import load_schedule
from inspection.models import HolidaySchedule


@click.group()
def calendar() -> None:
    """Working days (工作日): chinese-calendar knows the years up to the one it was released for;
    a later year needs the State Council's holiday schedule, loaded once."""


@calendar.command("load")
@click.argument("file", type=TOML_FILE)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("calendar.load")
def load_cmd(app: App, file: Path, as_json: bool) -> None:
    """Load a year's holiday schedule (部分节假日安排) from a TOML FILE: year, source, one
    [[holiday]] per festival (name, from, to) and the make-up working days (workdays).

    \b
    Example:
      spotcheck calendar load calendar-2027.toml
    """
    with summary("calendar load", file=str(file)) as facts:
        with app.session() as session:
            schedule, status = load_schedule(session, str(file), read_definition(file), operator())
        facts.update(year=schedule.year, status=status)
    days_off = len(schedule.days_off())
    if as_json:
        click.echo(json.dumps({"year": schedule.year, "status": status, "source": schedule.source, "holiday_days": days_off,
                               "workdays": [d.isoformat() for d in schedule.workdays]}, ensure_ascii=False))
        return
    click.echo(f"{schedule.year}: {status} ({schedule.source}): {len(schedule.holidays)} holidays, {days_off} days off, {len(schedule.workdays)} make-up working days")


@calendar.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("calendar.read")
def list_cmd(app: App, as_json: bool) -> None:
    """The years whose working days are known, and where from."""
    import chinese_calendar

    years = sorted({d.year for d in chinese_calendar.holidays})
    with app.session() as session:
        loaded = [(r.year, r.source, r.sha256, r.loaded_at.date().isoformat()) for r in session.scalars(select(HolidaySchedule).order_by(HolidaySchedule.year))]
    library = f"chinese-calendar {metadata.version('chinese-calendar')}"
    if as_json:
        click.echo(json.dumps({"library": library, "library_years": [years[0], years[-1]],
                               "loaded": [{"year": y, "source": s, "sha256": h, "loaded_on": d} for y, s, h, d in loaded]}, ensure_ascii=False))
        return
    click.echo(f"{years[0]}–{years[-1]}: {library}")
    for year, source, sha, day in loaded:
        click.echo(f"{year}: loaded {day} from {source} (sha256 {sha[:16]}…)")
