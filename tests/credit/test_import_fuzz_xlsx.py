"""Damaged and unusual workbooks: empty and header-only sheets, a --sheet that is missing or a chart,
a stale <dimension>, cells beyond openpyxl's 32,767-character cap, and damaged zip or XML parts.
A clean error, or exactly the rows of the sheet."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import openpyxl
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.chart import BarChart, Reference

from credit.errors import ImportFileError
from credit.importing import ImportRejected, ImportReport
from tests.credit.fuzzing import DEPARTMENTS, attempt_kind, fuzz, sessions, write_xlsx

__all__ = ["sessions"]  # the database fixture of tests/credit/fuzzing.py, one per module

GOOD_ROWS = [[f"FZ{i:03d}", f"模糊测试部门{i}"] for i in range(3)]
EXPECTED = dict(map(tuple, GOOD_ROWS))
SHEET = "xl/worksheets/sheet1.xml"
CONTENTS = {
    "rows": [["code", "name"], *GOOD_ROWS],
    "header": [["code", "name"]],
    "empty": [],
    "blank_rows": [["code", "name"], [None, "  "], ["", None]],
    "wrong_header": [["编号", "名字"], *GOOD_ROWS],
    "formula_header": [["=A2", "name"], *GOOD_ROWS],
    "chart": None,
}
MESSAGES = {
    "header": "has a header but no data rows",
    "blank_rows": "has a header but no data rows",
    "empty": "is empty",
    "wrong_header": "missing required column(s)",
    "formula_header": "missing required column(s): code",
    "chart": "is a chart, not a table",
}


@fuzz(50)
@given(
    sheets=st.lists(
        st.tuples(st.sampled_from(["Sheet1", "部门", "说明", "2026", "Sheet 2", "a'b"]), st.sampled_from(sorted(CONTENTS))),
        min_size=1, max_size=3, unique_by=lambda s: s[0],
    ).filter(lambda sheets: any(content != "chart" for _, content in sheets)),
    choice=st.one_of(st.none(), st.integers(0, 2), st.just("缺失的表")),
)
def test_sheets_and_the_sheet_option(sessions, tmp_path: Path, sheets: list[tuple[str, str]], choice: int | str | None) -> None:
    """The first worksheet, or the one --sheet names, is read; a missing or chart sheet, an empty
    one, one with a header alone or without the required columns is refused as a whole."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, content in sheets:
        if content != "chart":
            worksheet = book.create_sheet(title)
            for row in CONTENTS[content]:
                worksheet.append(row)
    for index, (title, content) in enumerate(sheets):
        if content == "chart":  # a chart of the first table, in its place among the sheets
            chart = BarChart()
            chart.add_data(Reference(book.worksheets[0], min_col=1, min_row=1, max_row=2))
            book.create_chartsheet(title, index).add_chart(chart)
    path = tmp_path / "sheets.xlsx"
    book.save(path)

    sheet = sheets[choice % len(sheets)][0] if isinstance(choice, int) else choice
    outcome, written = attempt_kind(sessions, path, DEPARTMENTS, sheet=sheet)
    if sheet == "缺失的表":
        assert isinstance(outcome, ImportFileError) and "no sheet named '缺失的表'; the sheets are: " in str(outcome)
        return
    # Without --sheet, the first sheet that is a table.
    content = dict(sheets)[sheet] if sheet is not None else next(c for _, c in sheets if c != "chart")
    if content == "rows":
        assert isinstance(outcome, ImportReport), str(outcome)
        assert written == EXPECTED
    else:
        assert isinstance(outcome, ImportFileError) and MESSAGES[content] in str(outcome), str(outcome)


def rezip(path: Path, change: dict[str, bytes | None]) -> Path:
    """Rewrite the parts of the workbook at ``path``: new bytes, or None to leave a part out."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    for name, data in change.items():
        if data is None:
            parts.pop(name, None)
        else:
            parts[name] = data
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


def sheet_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(SHEET)


@fuzz(30)
@given(
    count=st.integers(1, 6),
    dimension=st.one_of(
        st.none(),
        st.builds(lambda col, row: f"A1:{col}{row}", st.sampled_from(["A", "B", "C", "XFD"]), st.integers(1, 1_048_576)),
        st.just("garbage"),
    ),
)
def test_a_stale_dimension_loses_no_row(sessions, tmp_path: Path, count: int, dimension: str | None) -> None:
    """Some exporters write a wrong <dimension> (the used range): every row is still read, none
    silently dropped beyond it, or the workbook is refused as damaged."""
    rows = [[f"FZ{i:03d}", f"模糊测试部门{i}"] for i in range(count)]
    path = write_xlsx(tmp_path / "dimension.xlsx", [("部门", [["code", "name"], *rows])])
    replacement = b"" if dimension is None else f'<dimension ref="{dimension}" />'.encode()
    rezip(path, {SHEET: re.sub(rb"<dimension [^>]*/>", replacement, sheet_xml(path))})
    outcome, written = attempt_kind(sessions, path, DEPARTMENTS)
    if isinstance(outcome, ImportFileError):
        assert dimension == "garbage" and "not a readable .xlsx workbook" in str(outcome), str(outcome)
        return
    assert isinstance(outcome, ImportReport), str(outcome)
    assert written == dict(map(tuple, rows)), f"rows lost beyond <dimension ref={dimension!r}>"


@fuzz(15)
@given(length=st.sampled_from([32_768, 100_000, 1_000_000]), row=st.integers(0, 2), column=st.integers(0, 1), skip_invalid=st.booleans())
def test_cells_beyond_the_excel_limit(sessions, tmp_path: Path, length: int, row: int, column: int, skip_invalid: bool) -> None:
    """A cell of up to a million characters (Excel stops at 32,767; openpyxl cuts on writing, so
    the text goes into the sheet XML directly) refuses its row with a short reason."""
    rows = [list(r) for r in GOOD_ROWS]
    rows[row][column] = "PLACEHOLDER"
    path = write_xlsx(tmp_path / "long.xlsx", [("部门", [["code", "name"], *rows])])
    rezip(path, {SHEET: sheet_xml(path).replace(b"PLACEHOLDER", "企".encode() * length)})
    outcome, written = attempt_kind(sessions, path, DEPARTMENTS, skip_invalid=skip_invalid)
    if skip_invalid:
        assert isinstance(outcome, ImportReport) and [r.row for r in outcome.rejections] == [row + 2]
        assert written == {k: v for i, (k, v) in enumerate(GOOD_ROWS) if i != row}
    else:
        assert isinstance(outcome, ImportRejected) and [r.row for r in outcome.report.rejections] == [row + 2]


# Cells whose XML does not fit their type, and other damage openpyxl meets only while reading rows.
BROKEN_CELLS = [
    (b'<c r="B2" t="inlineStr"><is><t>', b'<c r="B2" t="n"><v>abc</v><is><t>'),  # not a number
    (b'<c r="B2" t="inlineStr"><is><t>', b'<c r="B2" t="s"><v>99</v><is><t>'),  # no such shared string
    (b'<c r="B2" t="inlineStr"><is><t>', b'<c r="B2" t="b"><v>x</v><is><t>'),  # not a boolean
    (b'<c r="B2" t="inlineStr"><is><t>', b'<c r="B2" t="d"><v>2026-13-45</v><is><t>'),  # not a date
    (b'<c r="B2"', b'<c r="!!"'),  # not a cell reference
    (b'<c r="B3" t="inlineStr"><is><t>', b'<c r="B3" t="inlineStr"><is><t>\x07'),  # a control character
    (b'<c r="B3" t="inlineStr"><is><t>', b'<c r="B3" t="inlineStr"><is><t>&#1;'),  # the same, escaped
    (b"</sheetData>", b""),  # unclosed
]
JUNK = st.one_of(
    st.sampled_from([b"<", b">", b"&", b"&#0;", "\uffff".encode(), b'"', b"</row>", b'<row r="0">', b't="s"', b't="e"', b"<v>", b"</v>",
                     b'r="XFD1048576"', b"99999999999999999999", b"\x00", b"\xff", b'<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]>', b"&a;"]),
    st.binary(min_size=1, max_size=8),
)
PARTS = ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml", "xl/styles.xml", "_rels/.rels"]


@st.composite
def damage(draw: st.DrawFn, original: bytes) -> tuple[str, bytes]:
    """A description of the damage and the damaged workbook."""
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    how = draw(st.sampled_from(["leave out", "truncate", "insert", "cut", "broken cell", "flip a bit", "truncate the zip"]))
    name = draw(st.sampled_from(PARTS))
    data = parts[name]
    at = draw(st.integers(0, len(data)))
    if how == "leave out":
        del parts[name]
    elif how == "truncate":
        parts[name] = data[:at]
    elif how == "insert":
        parts[name] = data[:at] + draw(JUNK) + data[at:]
    elif how == "cut":
        parts[name] = data[:at] + data[at + draw(st.integers(1, 40)):]
    elif how == "broken cell":
        name = SHEET
        old, new = draw(st.sampled_from(BROKEN_CELLS))
        parts[name] = parts[name].replace(old, new, 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, content in parts.items():
            archive.writestr(part, content)
    damaged = bytearray(buffer.getvalue())
    if how == "flip a bit":
        at = draw(st.integers(0, len(damaged) - 1))
        damaged[at] ^= 1 << draw(st.integers(0, 7))
    elif how == "truncate the zip":
        damaged = damaged[:draw(st.integers(0, len(damaged) - 1))]
    return f"{how} {name}", bytes(damaged)


def _workbook_bytes() -> bytes:
    book = openpyxl.Workbook()
    book.active.title = "部门"
    for row in [["code", "name"], *GOOD_ROWS]:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


ORIGINAL = _workbook_bytes()


@fuzz(200)
@given(damaged=damage(ORIGINAL), skip_invalid=st.booleans())
def test_damaged_workbooks_give_clean_errors(sessions, tmp_path: Path, damaged: tuple[str, bytes], skip_invalid: bool) -> None:
    """Parts left out, cut short or with junk inserted, broken cells, flipped bits, a cut zip: openpyxl
    raises many kinds of errors on these, and every one reaches the user as a clean error."""
    how, data = damaged
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(data)
    outcome, written = attempt_kind(sessions, path, DEPARTMENTS, skip_invalid=skip_invalid)
    if how.startswith("broken cell"):
        assert isinstance(outcome, ImportFileError) and "is damaged after row" in str(outcome), str(outcome)
    if isinstance(outcome, ImportReport):
        # Damage that left the workbook readable: whatever was read was written, nothing more.
        assert outcome.inserted == len(written) <= len(GOOD_ROWS)


def test_damage_found_by_the_parsing_process_is_a_clean_error(sessions, tmp_path: Path) -> None:
    """Large files are parsed in a forked process: its ImportFileError reaches the caller as such."""
    path = write_xlsx(tmp_path / "child.xlsx", [("部门", [["code", "name"], *GOOD_ROWS])])
    old, new = BROKEN_CELLS[0]
    rezip(path, {SHEET: sheet_xml(path).replace(old, new, 1)})
    outcome, _ = attempt_kind(sessions, path, DEPARTMENTS, parallel=True)
    assert isinstance(outcome, ImportFileError), repr(outcome)
    assert str(outcome).startswith("child.xlsx: sheet '部门' is damaged after row 1 (ValueError)"), str(outcome)
