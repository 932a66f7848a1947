"""`spotcheck import` on malformed files: exit 1, one `Error:` line, no traceback, nothing written."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import Env


def _workbook(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    book.active.title = "部门"
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def damaged_xlsx(tmp: Path) -> Path:
    """A workbook whose second row holds a number cell that is not a number."""
    path = _workbook(tmp / "damaged.xlsx", [["code", "name"], ["FZ001", "模糊测试部门"]])
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b'<c r="B2" t="inlineStr"><is><t>', b'<c r="B2" t="n"><v>abc</v><is><t>', 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


def not_a_workbook(tmp: Path) -> Path:
    path = tmp / "bytes.xlsx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    return path


def formulas_and_long_cells(tmp: Path) -> Path:
    return _workbook(tmp / "formulas.xlsx", [
        ["code", "name"],
        ["FZ001", "=cmd|'/c calc'!A1"],
        ["FZ002", '=HYPERLINK("http://evil.example/","点击")'],
        ["FZ003", "#N/A"],
        ["FZ004", "长" * 32_767],
        ["FZ005", "换行\n名称" * 100],
    ])


def mixed_encodings(tmp: Path) -> Path:
    """A GB18030 file with one line saved as UTF-8: it decodes as GB18030 into 閲嶅簡... mojibake."""
    path = tmp / "mixed.csv"
    path.write_bytes("code,name\r\nFZ001,市场监管局\r\n".encode("gb18030") + "FZ002,重庆企业有限公司\r\n".encode("utf-8"))
    return path


def bom_then_gb18030(tmp: Path) -> Path:
    path = tmp / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "code,name\r\nFZ001,市场监管局\r\n".encode("gb18030"))
    return path


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "damaged xlsx": (damaged_xlsx, "damaged.xlsx: sheet '部门' is damaged after row 1 (ValueError); save it again from Excel"),
    "not a workbook": (not_a_workbook, "bytes.xlsx: not a readable .xlsx workbook (BadZipFile)"),
    "formula, error and long cells": (formulas_and_long_cells, "formulas.xlsx: 5 row(s) rejected; nothing was written"),
    "mixed encodings": (mixed_encodings, "mixed.csv: line 3 is UTF-8 but the rest of the file is GB18030; save the whole file as CSV UTF-8"),
    "byte order mark, then GB18030": (bom_then_gb18030, "bom.csv: the file starts as UTF-8 (byte order mark) but is not UTF-8 throughout"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_files_fail_with_one_line(env: Env, case: str) -> None:
    make, message = CASES[case]
    path = make(env.tmp)
    result = env.run("import", "departments", str(path), expect=1)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    # stderr holds the JSON log events and the error: one line, the message whole.
    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: {message}"), result.stderr
    # Rejected rows are listed on stdout, one short line each, then the counts.
    *rejections, counts = result.stdout.splitlines() or [""]
    for line in rejections:
        assert line.startswith(f"{path.name}: row ") and len(line) < 400, line
    assert counts in ("", f"departments from {path.name}: 0 inserted, 0 updated, 0 unchanged, {len(rejections)} rejected")
    assert env.scalar("SELECT count(*) FROM departments") == 0
    assert env.scalar("SELECT count(*) FROM imports") == 0
