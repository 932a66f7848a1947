"""``spotcheck import`` and ``spotcheck export``: the directories as CSV or XLSX files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from cli.app import App, domain_errors, pass_app, requires, summary
from credit.directory import Departments, Districts, Enterprises
from credit.records import Records
from credit.importing import Directory, ImportRejected, ImportReport, run_import
from credit.tabular import RejectWriter, table_format, write_table
from inspection.directory import Inspectors, Items

KINDS: dict[str, type[Directory]] = {
    d.kind: d for d in (Enterprises, Records, Departments, Inspectors, Items, Districts)
}
SHOWN = 20


def _path_with_table_suffix(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None:
        try:
            table_format(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


def _echo_report(report: ImportReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.counts()))
        return
    for rejection in report.rejections[:SHOWN]:
        for line in rejection.lines():
            click.echo(line)
    if report.rejected > SHOWN:
        click.echo(f"... and {report.rejected - SHOWN} more rejected row(s)")
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items())
    click.echo(f"{report.kind} from {report.file}: {counts}")


@click.command("import")
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), callback=_path_with_table_suffix)
@click.option("--sheet", help="Worksheet of an .xlsx file (default: the first).")
@click.option("--skip-invalid", is_flag=True, help="Write the valid rows even when some are rejected (needs --rejects).")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path), callback=_path_with_table_suffix, help="Write rejected rows with their reasons to this .csv or .xlsx file.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
@domain_errors
@requires("directory.import")
def import_cmd(app: App, kind: str, file: Path, sheet: str | None, skip_invalid: bool, rejects: Path | None, as_json: bool) -> None:
    """Load a directory file (.csv in UTF-8 or GB18030, or .xlsx) into the database.

    KIND is one of enterprises, records, departments, inspectors, items, districts.
    Headers may be the English column names or the Chinese ones. By default one
    rejected row means nothing is written (exit 1).

    \b
    Examples:
      spotcheck import departments examples/departments.csv
      spotcheck import enterprises examples/enterprises.csv --json
      spotcheck import records records.xlsx --sheet 2026 --skip-invalid --rejects rejects.csv
    """
    if skip_invalid and rejects is None:
        raise click.UsageError("--skip-invalid needs --rejects FILE, so no rejected row is lost")
    with summary("import", kind=kind, file=str(file)) as facts:
        writer = RejectWriter(rejects) if rejects is not None else None
        try:
            with app.session() as session:
                report = run_import(
                    session, KINDS[kind], file, sheet=sheet, skip_invalid=skip_invalid,
                    on_reject=writer.write if writer else None,
                )
        except ImportRejected as exc:
            _echo_report(exc.report, as_json)
            facts.update(exc.report.counts(), written=False)
            raise
        finally:
            if writer is not None:
                writer.close()
        facts.update(report.counts(), import_id=report.import_id, encoding=report.encoding, rows_per_s=_rate(report))
        _echo_report(report, as_json)


def _rate(report: ImportReport) -> int:
    rows = report.inserted + report.updated + report.unchanged + report.rejected
    return round(rows / report.seconds) if report.seconds else 0


@click.command("export")
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), callback=_path_with_table_suffix)
@click.option("--headers", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Chinese or English column headers.")
@click.option("--json", "as_json", is_flag=True, help="Print the row count as JSON.")
@pass_app
@domain_errors
@requires("directory.export")
def export_cmd(app: App, kind: str, file: Path, headers: str, as_json: bool) -> None:
    """Write a directory to a .csv (UTF-8 with BOM) or .xlsx file in the import format.

    Cells that a spreadsheet would run as formulas (starting with = + - @) are
    neutralised. The file imports back unchanged.

    \b
    Example:
      spotcheck export enterprises enterprises.xlsx
    """
    with summary("export", kind=kind, file=str(file)) as facts:
        with app.session() as session:
            directory = KINDS[kind](session, None, dt.date.today())
            header = directory.export_header(directory.columns(), english=headers == "en")
            count = write_table(file, header, directory.export_rows(), sheet_title=kind)
        facts.update(rows=count)
        click.echo(json.dumps({"rows": count}) if as_json else f"{count} {kind} written to {file}")


__all__ = ["KINDS", "export_cmd", "import_cmd"]
