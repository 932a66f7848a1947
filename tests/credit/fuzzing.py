"""Shared pieces of the import fuzz tests (test_import_fuzz*.py): a seeded database, one guarded
import, and the checks every malformed file must pass.

The promise under test: whatever the file holds, ``run_import`` either returns a report whose
written rows are exactly the valid ones, or raises one of the project's clear errors (one line,
naming the file) and the caller's rollback leaves every table as it was.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import unicodedata
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select, table
from sqlalchemy.orm import Session
from stdnum.cn import uscc as stdnum_uscc

from credit import audit
from credit.db import make_engine, make_sessionmaker
from credit.directory import Departments, Enterprises
from credit.errors import ImportFileError, SpotcheckError
from credit.importing import Directory, ImportRejected, ImportReport, run_import
from credit.models import CreditRecord, Department, Enterprise
from credit.records import Records
from credit.roles import Actor, Role
from inspection.directory import Items
from inspection.models import CheckItem
from migrations import alembic_config
from tests.conftest import ENTERPRISE_HEADER, RECORD_HEADER, postgres_schema

# SPOTCHECK_FUZZ_SCALE=20 runs twenty times the examples, for a longer hunt than CI affords.
SCALE = int(os.environ.get("SPOTCHECK_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    """Settings of a fuzz test: ``examples`` examples (times SCALE), no deadline (a 1 MB field
    takes its time), and the module's database shared by every example."""
    return settings(max_examples=examples * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


SEED_DEPARTMENT = ("SCJG", "市场监督管理局")


def make_uscc(serial: int, district: str = "500106") -> str:
    body = f"91{district}{serial:09d}"
    return body + stdnum_uscc.calc_check_digit(body)


SEED_USCCS = (make_uscc(900_001), make_uscc(900_002))


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory):
    """A migrated database with one department and two enterprises, shared by a module: every
    attempt rolls back, so each example starts from this same state. SQLite, or a fresh schema of
    the PostgreSQL test database with SPOTCHECK_FUZZ_POSTGRES=1."""
    from alembic import command

    with contextlib.ExitStack() as stack:
        if os.environ.get("SPOTCHECK_FUZZ_POSTGRES") == "1":
            url = stack.enter_context(postgres_schema())
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}"
        engine = make_engine(url)
        stack.callback(engine.dispose)
        with engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "head")
        factory = make_sessionmaker(engine)
        factory.configure(info={audit.ACTOR: Actor("planner", Role.PLANNER)})  # the audit trail's acting user
        seed = tmp_path_factory.mktemp("seed")
        with factory.begin() as session:
            run_import(session, Departments, write_csv(seed / "d.csv", ["code", "name"], [SEED_DEPARTMENT]))
            rows = [[code, "重庆种子企业有限公司", "企业", "", "2015-03-01", "存续", "500106", "", "F5211", "", "", "否"] for code in SEED_USCCS]
            run_import(session, Enterprises, write_csv(seed / "e.csv", ENTERPRISE_HEADER, rows))
        yield factory


def row_counts(sessions: Any) -> dict[str, int]:
    """Rows in every table of the database (the audit trail and import log included)."""
    with sessions() as session:
        names = inspect(session.connection()).get_table_names()
        return {name: session.scalar(select(func.count()).select_from(table(name))) for name in names}


class _Undo(Exception):
    """Raised after a successful import so the shared database stays as seeded."""


def one_line(text: str) -> bool:
    """No line break and no control character: the text prints as one line on a terminal."""
    return not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def assert_clear(exc: SpotcheckError, path: Path) -> None:
    """One human-readable line naming the file; for rejected rows, each line names its row."""
    assert isinstance(exc, (ImportFileError, ImportRejected)), repr(exc)
    message = str(exc)
    assert message.strip(), repr(exc)
    assert one_line(message), f"not one line: {message!r}"
    assert message.startswith(f"{path.name}: "), message
    assert "Traceback" not in message, message
    if isinstance(exc, ImportRejected):
        assert exc.report.rejected >= 1 and exc.report.rejections
        for rejection in exc.report.rejections:
            for line in rejection.lines():
                assert line.startswith(f"{path.name}: row {rejection.row}: "), line
                assert one_line(line), f"not one line: {line!r}"
                assert len(line) < 1000, f"a rejection line of {len(line)} characters"


def attempt(
    sessions: Any,
    path: Path,
    directory: type[Directory],
    *,
    sheet: str | None = None,
    skip_invalid: bool = False,
    parallel: bool = False,
    inspect_written: Callable[[Session, ImportReport], None] | None = None,
) -> ImportReport | SpotcheckError:
    """Import ``path`` in a transaction that is always rolled back; return the report or the error.

    Anything but a clear project error escapes (and fails the test with its traceback).
    ``inspect_written`` sees the session before the rollback, to check what was written.
    """
    before = row_counts(sessions)
    outcome: ImportReport | SpotcheckError
    session = sessions()
    try:
        with session.begin():
            outcome = run_import(session, directory, path, sheet=sheet, skip_invalid=skip_invalid, parallel=parallel)
            if inspect_written is not None:
                inspect_written(session, outcome)
            raise _Undo
    except _Undo:
        pass
    except SpotcheckError as exc:
        assert_clear(exc, path)
        outcome = exc
    finally:
        session.close()
    assert row_counts(sessions) == before, "an import wrote outside the caller's transaction"
    return outcome


def attempt_kind(sessions: Any, path: Path, kind: Kind, **options: Any) -> tuple[ImportReport | SpotcheckError, dict[Hashable, Any]]:
    """``attempt`` for ``kind``, with the key → value of each row it wrote (empty if it failed)."""
    written: dict[Hashable, Any] = {}
    outcome = attempt(sessions, path, kind.directory, inspect_written=lambda s, r: written.update(kind.written(s, r)), **options)
    return outcome, written


# --- Files from rows ---------------------------------------------------------------------------

def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(["" if c is None else c for c in row] for row in rows)
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return path


def write_xlsx(path: Path, sheets: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> Path:
    """A workbook with these (title, rows) sheets; a string starting with "=" becomes a formula."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    return path


def is_blank(cells: Sequence[Any]) -> bool:
    """The rule of credit.tabular: a row of None and whitespace-only text is skipped."""
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


# --- Directories under test: a valid row per serial number and what an import wrote ------------

@dataclass(frozen=True)
class Kind:
    """One directory: its header, a valid row with a unique key per serial number, the column
    that holds the key, and the key → checked value of the rows a given import wrote."""

    directory: type[Directory]
    header: list[str]
    good: Callable[[int], list[Any]]
    key_column: int
    value_column: int
    written: Callable[[Session, ImportReport], dict[Hashable, Any]]


def _enterprise(i: int) -> list[Any]:
    row = {
        "uscc": make_uscc(i + 1), "name": f"重庆模糊{i}号商贸有限公司", "entity_type": "企业", "legal_rep": "张三",
        "registered_on": "2015-03-01", "status": "存续", "district_code": "500106", "station": "井口所",
        "industry_code": "F5211", "address": "沙坪坝区井口镇1号", "new_economy_since": "", "key_supervision": "否",
    }
    return [row[h] for h in ENTERPRISE_HEADER]


def _record(i: int) -> list[Any]:
    row = {
        "uscc": SEED_USCCS[i % 2], "kind": "行政处罚", "severity": "一般", "sector": "食品", "ground": "", "substantiated": "",
        "result_codes": "", "occurred_on": "2025-01-02", "department": f"市场监管局{i}",
        "document_no": f"渝沙市监处罚〔2025〕{i + 1}号", "effective_until": "2028-01-02",
    }
    return [row[h] for h in RECORD_HEADER]


ITEM_HEADER = ["code", "name", "category", "department", "legal_basis", "kind", "entity_types", "industries", "method", "version"]


def _item(i: int) -> list[Any]:
    return [f"FZ-{i:03d}", f"食品销售检查{i}", "食品安全", "SCJG", "《食品安全法》第八十七条", "重点", "企业;个体工商户", "F52;H62", "现场", "2026"]


def _written_enterprises(session: Session, report: ImportReport) -> dict[Hashable, Any]:
    return dict(session.execute(select(Enterprise.uscc, Enterprise.name).where(Enterprise.import_id == report.import_id)).all())


def _written_records(session: Session, report: ImportReport) -> dict[Hashable, Any]:
    query = select(CreditRecord.document_no, CreditRecord.department).where(CreditRecord.import_id == report.import_id)
    return dict(session.execute(query).all())


def _written_departments(session: Session, report: ImportReport) -> dict[Hashable, Any]:
    return dict(session.execute(select(Department.code, Department.name).where(Department.code != SEED_DEPARTMENT[0])).all())


def _written_items(session: Session, report: ImportReport) -> dict[Hashable, Any]:
    return dict(session.execute(select(CheckItem.code, CheckItem.name).where(CheckItem.import_id == report.import_id)).all())


ENTERPRISES = Kind(Enterprises, ENTERPRISE_HEADER, _enterprise, 0, 1, _written_enterprises)
RECORDS = Kind(Records, RECORD_HEADER, _record, RECORD_HEADER.index("document_no"), RECORD_HEADER.index("department"), _written_records)
DEPARTMENTS = Kind(Departments, ["code", "name"], lambda i: [f"FZ{i:03d}", f"模糊测试部门{i}"], 0, 1, _written_departments)
ITEMS = Kind(Items, ITEM_HEADER, _item, 0, 1, _written_items)
KINDS = {"enterprises": ENTERPRISES, "records": RECORDS, "departments": DEPARTMENTS, "items": ITEMS}


# --- Cell values -------------------------------------------------------------------------------

# Refused in every column of every kind above: longer than any bounded column, and no code,
# date, flag or list item. Formula and error cells are refused too, but only XLSX has them.
HUGE = st.sampled_from(["x" * 100_000, "企" * 100_000, "1" * 100_000])
# Text an XLSX file can hold: XML 1.0 forbids most control characters, and U+FFFE and U+FFFF,
# which openpyxl writes anyway (such a workbook is malformed: test_import_fuzz_xlsx covers those).
XML_TEXT = st.text(st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\ufffe\uffff") | st.sampled_from("\t\n\r"), max_size=40)
FORMULAS = st.one_of(
    st.sampled_from(["=1+1", '=HYPERLINK("http://evil.example/","点击")', "=cmd|'/c calc'!A1", "=SUM(A1:A3)", "=A1&CHAR(10)&B1", "=NOW()"]),
    XML_TEXT.filter(bool).map(lambda t: "=" + t),
)
# openpyxl writes these strings as error cells, which hold no value.
ERROR_CELLS = st.sampled_from(["#N/A", "#DIV/0!", "#REF!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"])
# Anything: may or may not be valid where it lands.
TEXTS = st.one_of(
    st.sampled_from([
        "", " ", "　", "'", '"', "'=1+1", "=1+1", "9" * 300, "2015-02-30", "企业;个体工商户", "是", "否", "500106", "F5211",
        "_x0007_", "a\nb", "\r\n", "\t", "\ufeff", "\u2028", "—", "NULL", "None", "nan",
    ]),
    XML_TEXT,
)
# C0 and C1 control characters in CSV text; NUL makes the whole file unreadable (test_import_fuzz_csv).
CONTROL_TEXT = st.text(st.characters(min_codepoint=1, max_codepoint=0x9F), max_size=20)
SPREADSHEET_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**62), 2**62), st.floats(allow_nan=False, allow_infinity=False),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)), st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1)),
    st.times(),
)


def cells_for(fmt: str) -> st.SearchStrategy[tuple[bool, Any]]:
    """(surely invalid?, value) pairs for a cell of a ``fmt`` file."""
    invalid = st.tuples(st.just(True), HUGE | FORMULAS | ERROR_CELLS) if fmt == "xlsx" else st.tuples(st.just(True), HUGE)
    anything = (TEXTS | SPREADSHEET_VALUES) if fmt == "xlsx" else (TEXTS | CONTROL_TEXT)
    return st.one_of(invalid, st.tuples(st.just(False), anything))


@dataclass
class FuzzFile:
    """Rows built from valid rows by changing some cells, and what each row is known to be."""

    rows: list[list[Any]]
    clean: set[int]  # sheet row numbers of rows left untouched: must be written
    invalid: set[int]  # rows given a surely-invalid cell: must be refused
    keys: dict[int, Hashable]  # row number → the key it was built with

    def __repr__(self) -> str:
        # Falsifying examples are printed: keep 100,000-character cells to their start.
        short = [[f"{c[:20]!r}...({len(c)} characters)" if isinstance(c, str) and len(c) > 40 else c for c in row] for row in self.rows]
        return f"FuzzFile(rows={short}, clean={self.clean}, invalid={self.invalid})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis prints a draw
        printer.text(repr(self))

    def data_rows(self) -> set[int]:
        return {n for n, row in enumerate(self.rows, start=2) if not is_blank(row)}


@st.composite
def fuzz_files(draw: st.DrawFn, kind: Kind, fmt: str, max_rows: int = 6) -> FuzzFile:
    rows, clean, invalid, keys = [], set(), set(), {}
    cells = cells_for(fmt)
    for i in range(draw(st.integers(0, max_rows))):
        number = i + 2
        row = kind.good(i)
        changes = dict(draw(st.lists(st.tuples(st.integers(0, len(row) - 1), cells), max_size=3)))
        for column, (_, value) in changes.items():
            row[column] = value
        if any(bad for bad, _ in changes.values()):
            invalid.add(number)
        if not changes:
            clean.add(number)
        if kind.key_column not in changes:
            keys[number] = row[kind.key_column]
        rows.append(row)
    return FuzzFile(rows, clean, invalid, keys)


def check_outcome(outcome: ImportReport | SpotcheckError, file: FuzzFile, written: dict[Hashable, Any], kind: Kind, skip_invalid: bool) -> None:
    """The outcome of importing ``file`` is the one its rows call for."""
    data = file.data_rows()
    if isinstance(outcome, ImportFileError):
        # The header is always right here: the only file-level problem left is having no rows.
        assert not data and "no data rows" in str(outcome), str(outcome)
        return
    report = outcome.report if isinstance(outcome, ImportRejected) else outcome
    rejected = {r.row for r in report.rejections}
    assert rejected <= data
    assert file.invalid <= rejected, f"rows {sorted(file.invalid - rejected)} were not refused"
    assert not (file.clean & rejected), f"valid rows {sorted(file.clean & rejected)} were refused"
    assert report.rejected == len(report.rejections)
    if isinstance(outcome, ImportRejected):
        assert not skip_invalid and rejected
        return
    assert skip_invalid or not rejected
    # Every data row is accounted for, once.
    assert report.inserted + report.updated + report.unchanged + report.rejected == len(data)
    for number in file.clean:
        key = file.keys[number]
        assert written.get(key) == file.rows[number - 2][kind.value_column], f"row {number} was not written as it is in the file"
    for number in file.invalid:
        if number in file.keys:
            assert file.keys[number] not in written, f"refused row {number} was written"
