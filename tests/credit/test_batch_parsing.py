"""Parsing a batch a column at a time gives, row for row, what parsing each row alone gives: the
same values or the same problems, whatever the cells hold (formulas, numbers, apostrophes,
control characters, blanks, short rows); and the records' and enterprises' batch checks and packs
equal their row-by-row forms, with the records' shared fields numbered and forgotten along the way."""

from __future__ import annotations

import csv
import pickle
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from credit import fields as f
from credit import record_batch, records
from credit.audit_chain import row_hash
from credit.directory import ENTERPRISE_FIELDS, TABLE_COLUMNS, Enterprises
from credit.enterprise_batch import new_rows
from credit.enums import EnterpriseStatus, EntityType
from credit.models import Enterprise
from credit.importing import Column, RowParser, run_import
from credit.pipeline import cells_of, joined_cells, joined_rows
from credit.records import Records
from credit.tabular import ErrorValue, Formula
from tests.credit.test_importing import sessions
from tests.credit.test_record_packing import TEXT, VALUES

__all__ = ["sessions"]

COLUMNS = (
    Column("uscc", "统一社会信用代码", f.uscc_key, required=True),
    Column("kind", "类型", f.memo(f.bounded(4)), required=True),
    Column("occurred_on", "日期", f.memo(f.date), required=True),
    Column("note", "备注", f.optional(f.bounded(3))),
    Column("name", "名称", f.bounded(5), required=True),
    Column("flag", "标志", f.memo(f.optional(f.boolean))),
)
CELL = st.one_of(
    st.sampled_from(["", " ", "a", " a ", "abcd", "abcdef", "2024-03-01", "2024/3/1", "not a date", "是", "否", "'=1", "'a",
                     "91500000-ma5u7abc1x", "a\x1fb", "\x1f", "x\x1f'y"]),
    st.builds(Formula, st.sampled_from(["=1", "a", "2024-03-01"])),
    st.builds(ErrorValue, st.sampled_from(["#N/A", "a"])),
    st.none(), st.integers(0, 3), st.booleans(), st.just(dt.date(2024, 3, 1)),
)
ROW = st.lists(CELL, min_size=5, max_size=7)
TEXT_ROW = st.lists(st.sampled_from(["", "a", "ab", "abcdef", "2024-03-01", "x\x1fy", "'b", " 是 "]), min_size=6, max_size=6)


def _check(values: dict[str, Any]) -> list[tuple[str, str]]:
    return [("kind", "kind x is refused")] if values.get("kind") == "x" else []


def _by_row(parser: RowParser, rows: list[list[Any]]) -> dict[int, tuple[Any, list]]:
    return {number: parser.parse(list(cells)) for number, cells in enumerate(rows, start=2)}


def _from_batch(parser: RowParser, rows: list[list[Any]]) -> dict[int, tuple[Any, list]]:
    batch = parser.parse_batch([(number, list(cells)) for number, cells in enumerate(rows, start=2)])
    assert batch.rows == len(rows)
    assert [number for number, *_ in batch.bad] == sorted(number for number, *_ in batch.bad)  # reported in row order
    outcome = {number: (values, problems) for number, values, problems, _ in batch.bad}
    outcome.update((number, (values, [])) for number, values in zip(batch.numbers, batch.values, strict=True))
    assert all(cells_of(c) == list(rows[n - 2]) for n, c in zip(batch.numbers, batch.cells, strict=True))
    return outcome


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(ROW, TEXT_ROW), min_size=1, max_size=12), st.permutations(range(6)), st.sets(st.sampled_from(["note", "flag"])))
def test_a_batch_parses_as_its_rows_do(rows: list[list[Any]], order: list[int], missing: set[str]) -> None:
    """Whatever the cells, and with optional columns missing from the file."""
    positions = {c.name: p for c, p in zip(COLUMNS, order, strict=True) if c.name not in missing}
    parser = RowParser(COLUMNS, positions, _check)
    assert _from_batch(parser, rows) == _by_row(RowParser(COLUMNS, positions, _check), rows)
    assert _from_batch(parser, rows) == _by_row(parser, rows)  # and again, the columns' memories filled


def test_a_required_blank_is_refused_in_a_column_of_remembered_text() -> None:
    """bounded('') is fine on its own, so the column's memory must hold the required check too."""
    parser = RowParser(COLUMNS, {c.name: i for i, c in enumerate(COLUMNS)}, _check)
    good = ["91500000MA5U7ABC1X", "a", "2024-03-01", "", "n", ""]
    batch = parser.parse_batch([(2, good), (3, [*good[:1], " ", *good[2:]]), (4, good)])
    assert batch.numbers == [2, 4]
    assert [(n, problems) for n, _, problems, _ in batch.bad] == [(3, [("kind", "missing required value")])]


@settings(max_examples=300)
@given(st.lists(st.lists(st.none() | st.integers() | st.text(alphabet="ab\x1e\x1f重", max_size=4), min_size=1, max_size=5), min_size=1, max_size=6))
def test_joined_rows_are_each_rows_joined_cells(rows: list[list[Any]]) -> None:
    joined = joined_rows(rows)
    assert len(joined) == len(rows)
    assert [cells_of(joined[i]) for i in range(len(rows))] == rows
    assert [cells_of(j) for j in pickle.loads(pickle.dumps(joined))] == rows  # as the writer gets them
    assert list(joined) == [joined_cells(r) for r in rows] or any(type(c) is not str or "\x1f" in c for r in rows for c in r)


def _records() -> tuple[Records, record_batch.RecordRules]:
    directory = Records.__new__(Records)  # the checks need only the column labels
    directory.labels = {"severity": "处罚程度", "sector": "领域", "ground": "列入事由", "substantiated": "是否属实", "result_codes": "检查结果"}
    return directory, directory.batch_rules()


@settings(max_examples=150, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=8), st.lists(VALUES, min_size=1, max_size=8), st.integers(1, 4))
def test_the_records_batch_rules_equal_check_and_pack(first: list[dict], second: list[dict], limit: int) -> None:
    directory, rules = _records()
    combinations: dict[int, tuple] = {}
    old = record_batch.COMBINATIONS_LIMIT
    record_batch.COMBINATIONS_LIMIT = limit  # numbering starts afresh, and the writer is told
    try:
        for batch in (first, second):
            expected_refused = [i for i, values in enumerate(batch) if directory.check(dict(values))]
            columns = {name: [values[name] for values in batch] for name in batch[0]}
            assert rules.check(columns) == expected_refused
            kept = [values for i, values in enumerate(batch) if i not in expected_refused]
            if not kept:
                continue
            packed = rules.pack({name: [values[name] for values in kept] for name in batch[0]})
            if packed.forget:
                combinations.clear()
            for number, shared in packed.new_combinations:
                assert number not in combinations
                combinations[number] = shared
            for i, values in enumerate(kept):
                values = dict(values)
                assert not directory.check(values)
                uscc, digests, stored, middle = records.pack(values)
                kind, severity, sector, ground, substantiated, result_codes, department = combinations[packed.combinations[i]]
                assert (packed.usccs[i], (packed.key_hash[i], packed.key_check[i], packed.content_hash[i]), packed.middles[i].decode()) == (uscc, digests, middle)
                assert (kind, severity, sector, ground, substantiated, result_codes, packed.occurred_on[i], department,
                        packed.document_no[i], packed.effective_until[i], *digests) == stored
    finally:
        record_batch.COMBINATIONS_LIMIT = old


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def sessions_with_enterprises(sessions, tmp_path: Path):
    """The sample enterprises, and 4,830 records of theirs (the sample's, seven times over with
    other document numbers and departments): three batches."""
    from credit.directory import Departments

    with sessions.begin() as session:
        run_import(session, Departments, EXAMPLES / "departments.csv")
        run_import(session, Enterprises, EXAMPLES / "enterprises.csv")
    with (EXAMPLES / "records.csv").open(encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    department, document = header.index("department"), header.index("document_no")
    path = tmp_path / "records.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for copy in range(7):
            for row in rows:
                row = list(row)
                row[department] += str(copy)
                row[document] = row[document] and f"{row[document]}-{copy}"
                writer.writerow(row)
    return sessions, path


def _stored(sessions) -> list[tuple]:
    """The records as stored, but for their ids and import."""
    with sessions() as session:
        names = [c for c in records.TABLE_LAYOUT if c not in ("id", "import_id")]
        return [tuple(r) for r in session.execute(text(f"SELECT {', '.join(names)} FROM credit_records ORDER BY id"))]


@pytest.mark.parametrize("parallel", [False, True])
def test_numbering_afresh_stores_the_same_records(sessions_with_enterprises, tmp_path: Path, monkeypatch, parallel: bool) -> None:
    """Past COMBINATIONS_LIMIT the shared fields are numbered again: the rows stored are the same."""
    sessions, path = sessions_with_enterprises
    with sessions.begin() as session:
        run_import(session, Records, path, parallel=parallel)
    expected = _stored(sessions)
    with sessions.begin() as session:
        session.execute(text("DELETE FROM credit_records"))
    monkeypatch.setattr(record_batch, "COMBINATIONS_LIMIT", 2)
    with sessions.begin() as session:
        report = run_import(session, Records, path, parallel=parallel)
    assert report.inserted == len(expected) > 4000
    assert _stored(sessions) == expected


ENTERPRISE = st.fixed_dictionaries({
    "uscc": st.just("91500000MA5U7ABC1X"),
    "name": TEXT,
    "entity_type": st.sampled_from(list(EntityType)),
    "legal_rep": st.none() | TEXT,
    "registered_on": st.dates(dt.date(1990, 1, 1), dt.date(2026, 12, 1)),
    "status": st.sampled_from(list(EnterpriseStatus)),
    "district_code": st.sampled_from(["500106", "500107", "999999"]),
    "station": st.none() | TEXT,
    "industry_code": st.sampled_from(["F5211", "C13"]),
    "address": st.none() | TEXT,
    "new_economy_since": st.none() | st.dates(dt.date(1990, 1, 1), dt.date(2026, 12, 1)),
    "key_supervision": st.booleans(),
})


@settings(max_examples=150, deadline=None)
@given(st.lists(ENTERPRISE, min_size=1, max_size=8), st.lists(ENTERPRISE, min_size=1, max_size=8), st.none() | st.integers(1, 9))
def test_the_enterprises_batch_rules_equal_check_and_their_hashes_the_rows(first: list[dict], second: list[dict], run_id: int | None) -> None:
    """Refused rows, content digests, the rows inserted and their audit hashes, as the row path
    (Enterprises.check, then row_hash of the row in table order) makes them."""
    directory = Enterprises.__new__(Enterprises)
    directory.districts = {"500106", "500107"}
    rules = directory.batch_rules()
    for batch in (first, second):
        checked = [dict(values) for values in batch]
        refused = [i for i, values in enumerate(checked) if directory.check(values)]
        assert rules.check({name: [values[name] for values in batch] for name in batch[0]}) == refused
        kept = [values for i, values in enumerate(checked) if i not in refused]
        if not kept:
            continue
        packed = rules.pack({name: [values[name] for values in kept] for name in batch[0]})
        assert packed.content_hash == [values["content_hash"] for values in kept]
        ids, numbers = list(range(100, 100 + len(kept))), list(range(2, 2 + len(kept)))
        rows, hashes = new_rows(packed, ENTERPRISE_FIELDS, ids, numbers, run_id)
        expected = [(id_, v["uscc"], *(v[n] for n in ENTERPRISE_FIELDS), v["content_hash"], run_id, number)
                    for id_, v, number in zip(ids, kept, numbers, strict=True)]
        assert rows == expected
        assert tuple(c.name for c in Enterprise.__table__.columns) == TABLE_COLUMNS
        assert hashes == [row_hash(row) for row in expected]


def test_a_records_file_without_its_optional_columns_is_still_packed_as_columns() -> None:
    """A file that lacks effective_until and result_codes goes the batch way, not row by row."""
    directory, rules = _records()
    directory.today = dt.date(2026, 12, 1)
    columns = directory.columns()
    header = ["uscc", "kind", "severity", "sector", "ground", "substantiated", "occurred_on", "department", "document_no"]
    parser = RowParser(columns, {name: i for i, name in enumerate(header)}, directory.check, records.pack, rules)
    row = ["91500000MA5U7ABC1X", "行政处罚", "一般", "食品", "", "", "2026-03-01", "市场监管局", "渝市监罚〔2026〕1号"]
    batch = parser.parse_batch([(2, row), (3, [*row[:8], "渝市监罚〔2026〕2号"])])
    assert isinstance(batch.values, record_batch.RecordColumns) and batch.numbers == [2, 3] and not batch.bad
    assert batch.values.effective_until == [None, None]
