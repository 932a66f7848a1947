"""RowParser's fast path (every column in the file, the cells picked and parsed without a Python
loop) gives exactly what its loop gives: the same values, or the same problems in the same order,
for every row, blank, short, refused or good; and blank rows are skipped however their cells
are typed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from credit import fields as f
from credit.importing import Column, RowParser
from credit.tabular import _non_blank

COLUMNS = (
    Column("uscc", "统一社会信用代码", f.uscc_key, required=True),
    Column("kind", "类型", f.memo(f.bounded(4)), required=True),
    Column("occurred_on", "日期", f.memo(f.date), required=True),
    Column("note", "备注", f.optional(f.bounded(3))),
)
CELL = st.one_of(st.sampled_from(["", " ", "a", "abcd", "abcdef", "2024-03-01", "2024/3/1", "not a date", "91500000MA5U7ABC1X"]),
                 st.none(), st.integers(0, 3))


def _check(values: dict[str, Any]) -> list[tuple[str, str]]:
    return [("kind", "kind x is refused")] if values.get("kind") == "x" else []


@settings(max_examples=500)
@given(st.lists(CELL, max_size=6), st.permutations(range(4)))
def test_the_fast_path_gives_what_the_loop_gives(cells: list, order: list[int]) -> None:
    positions = {c.name: p for c, p in zip(COLUMNS, order, strict=True)}
    fast = RowParser(COLUMNS, positions, _check)
    slow = RowParser(COLUMNS, positions, _check)
    slow.pick = None  # the loop only
    assert fast.pick is not None
    assert fast.parse(list(cells)) == slow.parse(list(cells))


def test_a_column_missing_from_the_file_takes_the_loop() -> None:
    parser = RowParser(COLUMNS, {"uscc": 0, "kind": 1, "occurred_on": 2}, _check)
    assert parser.pick is None
    assert parser.parse(["91500000MA5U7ABC1X", "a", "2024-03-01"]) == (
        {"uscc": "91500000MA5U7ABC1X", "kind": "a", "occurred_on": dt.date(2024, 3, 1), "note": None}, [])


@settings(max_examples=300)
@given(st.lists(st.one_of(st.none(), st.integers(), st.text(alphabet=" \t\u3000ab", max_size=3)), max_size=5))
def test_blank_rows_are_skipped_whatever_their_cells(cells: list) -> None:
    expected = any(c is not None and (not isinstance(c, str) or c.strip()) for c in cells)
    assert bool(list(_non_blank([(2, cells)]))) == expected
