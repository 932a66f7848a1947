"""``spotcheck result import``: the results of visits from a CSV or XLSX file, one row per visit and item.

A team often keeps its results in a spreadsheet; typing each row again with `result record`
is slow and error-prone. The file is read with the directory imports' machinery (format by
extension, UTF-8/GB18030 detection, English or Chinese headers) and every row goes through
the very rules of `result record` (``results.parse_entry`` and ``results.record``). The file
is all or nothing: every bad row is listed, and the error rolls back the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit.errors import ImportFileError, SpotcheckError
from credit.fields import boolean, date, optional, split_list, text
from credit.importing import Column, Rejection, RowParser, map_header, one_line
from credit.tabular import Cell, open_table, table_format
from inspection.models import Inspector
from inspection.results import parse_entry, record
from inspection.task_models import Visit
from inspection.visits import find_visit, team_of, visit_ref

log = structlog.get_logger()
# Lines of bad rows in the error message; a file of thousands of bad rows needs only a sample.
MAX_LISTED = 50


def methods(cell: Cell) -> list[str]:
    """核查方式 as written in a spreadsheet: ";", "；" or "、" between the methods."""
    return split_list(text(cell).replace("、", ";"))


COLUMNS: tuple[Column, ...] = (
    Column("visit", "检查编号", text, required=True, aliases=("visit_ref", "ref")),
    Column("item", "检查事项编码", text, required=True, aliases=("item_code", "检查事项")),
    Column("inspector", "录入人员编号", text, required=True, aliases=("inspector_no", "inspector_id", "检查人员编号")),
    Column("checked", "是否检查", optional(boolean)),
    Column("methods", "核查方式", methods, aliases=("method",)),
    Column("results", "检查结果", text, required=True, aliases=("result", "result_codes", "检查结果代码")),
    Column("findings", "发现问题情况", text),
    Column("measure", "后续处置措施", optional(text), aliases=("处置措施",)),
    Column("date", "检查日期", optional(date), aliases=("checked_on",)),
)


def _entry(values: dict[str, Any]) -> list[tuple[str, str]]:
    """RowParser check: the row's 是否检查 … 后续处置措施 under `result record`'s rules.

    A blank 是否检查 means checked, as `result record` without --not-checked does.
    """
    try:
        values["entry"] = parse_entry(values["checked"] is not False, values["methods"], values["results"],
                                      values["findings"], values["measure"])
    except ValueError as exc:
        return [("", str(exc))]
    return []


@dataclass
class _Import:
    """One file's rows recorded in the caller's transaction, each in its own savepoint so that a
    refused row leaves the transaction usable and every bad row of the file can be reported."""

    session: Session
    file: str
    today: dt.date
    inspector: str  # the acting inspector: every row must be of a visit on their team
    rows: int = 0
    visits: set[int] = field(default_factory=set)
    rejections: list[Rejection] = field(default_factory=list)
    first_rows: dict[tuple[int, str], int] = field(default_factory=dict)
    dates: dict[int, tuple[int, dt.date]] = field(default_factory=dict)

    def row(self, number: int, values: dict[str, Any], problems: Sequence[tuple[str, str]]) -> None:
        """Record one parsed row, or note why it is refused."""
        self.rows += 1
        # A reason quotes the user's value, which may hold line breaks: each stays one line.
        if problems:
            self.rejections.append(Rejection(self.file, number, tuple((column, one_line(reason)) for column, reason in problems)))
            return
        try:
            self._record(number, values)
        except SpotcheckError as exc:
            self.rejections.append(Rejection(self.file, number, (("", one_line(str(exc))),)))

    def _record(self, number: int, values: dict[str, Any]) -> None:
        visit, task = find_visit(self.session, values["visit"])
        ref = visit_ref(task.code, visit.rank)
        if self.inspector not in self._team(visit):
            raise SpotcheckError(f"visit {ref} is not yours: inspector {self.inspector} is not on its team, and an inspector records only their own visits")
        # Keyed by the visit, not its spelling: TASK/RANK and TASK/USCC name the same visit.
        earlier = self.first_rows.setdefault((visit.id, values["item"]), number)
        if earlier != number:
            raise SpotcheckError(f"visit {ref} item {values['item']} is already given in row {earlier}")
        self._same_date(visit.id, ref, number, values["date"])
        with self.session.begin_nested():
            record(self.session, values["visit"], values["inspector"], {values["item"]: values["entry"]}, values["date"], self.today)
        self.visits.add(visit.id)

    def _team(self, visit: Visit) -> set[str]:
        ids = team_of(self.session, visit)
        return set(self.session.scalars(select(Inspector.inspector_no).where(Inspector.id.in_(ids))))

    def _same_date(self, visit_id: int, ref: str, number: int, day: dt.date | None) -> None:
        """A visit has one 检查日期: two rows of it must not disagree (the later would silently win)."""
        if day is None:
            return
        earlier = self.dates.setdefault(visit_id, (number, day))
        if earlier[1] != day:
            raise SpotcheckError(f"检查日期 {day} differs from {earlier[1]} given for visit {ref} in row {earlier[0]}")

    def finish(self) -> dict[str, int]:
        """The counts, or one error listing the bad rows (so the caller writes nothing)."""
        if self.rows == 0:
            raise ImportFileError(f"{self.file}: the file has a header but no data rows")
        if self.rejections:
            raise SpotcheckError(self._refusal())
        return {"visits": len(self.visits), "items": self.rows}

    def _refusal(self) -> str:
        lines = [line for rejection in self.rejections for line in rejection.lines()]
        shown = lines[:MAX_LISTED]
        if len(lines) > MAX_LISTED:
            shown.append(f"... and {len(lines) - MAX_LISTED} more")
        head = f"{self.file}: {len(self.rejections)} of {self.rows} row(s) refused; nothing was recorded"
        return "\n".join([head, *shown])


def _check_format(path: Path) -> None:
    """An unknown extension is the user's file problem, reported like the directory imports'."""
    try:
        table_format(path)
    except ValueError as exc:
        raise ImportFileError(str(exc)) from None


def _open_transaction(session: Session) -> None:
    """Make the command's transaction real before the first SAVEPOINT.

    pysqlite opens its transaction lazily, at the first write: a SAVEPOINT issued before it
    starts a transaction of its own, whose RELEASE commits, so a later refusal could no
    longer roll the first rows back. PostgreSQL needs nothing.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        connection.exec_driver_sql("BEGIN")


def import_results(session: Session, file: Path, sheet: str | None, today: dt.date, inspector: str) -> dict[str, int]:
    """Record every row of ``file`` in the caller's transaction; ``{"visits": n, "items": rows}``.

    Raises ``ImportFileError`` for a file that cannot be read as a whole (format, encoding,
    columns, no rows) and ``SpotcheckError`` naming every bad row; the caller rolls back.
    """
    _check_format(file)
    job = _Import(session, file.name, today, inspector)
    with open_table(file, sheet) as table:
        positions, ignored = map_header(file.name, table.header, COLUMNS)
        if ignored:
            log.warning("columns_ignored", file=file.name, columns=ignored)
        parser = RowParser(COLUMNS, positions, _entry)
        _open_transaction(session)
        for number, cells in table.rows:
            job.row(number, *parser.parse(cells))
    return job.finish()
