"""Table reading: encodings, blank rows, row numbers; writing: formula neutralisation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credit.errors import ImportFileError
from credit.tabular import detect_encoding, neutralise, open_table, unneutralise, write_table


@pytest.mark.parametrize(("encoding", "expected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")])
def test_encoding_detection(tmp_path: Path, encoding: str, expected: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text("企业名称,name\n沙坪坝区王五小吃店,x\n", encoding=encoding)
    assert detect_encoding(path) == expected
    with open_table(path) as table:
        assert table.header == ["企业名称", "name"]
        assert list(table.rows) == [(2, ["沙坪坝区王五小吃店", "x"])]


def test_blank_rows_are_skipped_and_numbers_follow_the_sheet(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n,\n\n3,4\n", encoding="utf-8")
    with open_table(path) as table:
        assert [n for n, _ in table.rows] == [2, 5]


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n\x00\x01\x02")
    with pytest.raises(ImportFileError, match="neither UTF-8 nor GB18030"):
        detect_encoding(path)


@given(st.text())
def test_neutralise_round_trips(value: str) -> None:
    """Neutralising never leaves a formula trigger in front and always reads back to the original."""
    safe = neutralise(value)
    assert not safe.startswith(("=", "+", "-", "@"))
    assert unneutralise(safe) == value or value.startswith("'")


def test_write_csv_neutralises(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    assert write_table(path, ["a"], [["=1+1"], ["-2"], ["ok"]]) == 3
    assert path.read_text(encoding="utf-8-sig").splitlines() == ["a", "'=1+1", "'-2", "ok"]
