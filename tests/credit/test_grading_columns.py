"""credit.grading_columns: the credit records as the grader reads them, stored once a range of
ids at a time.

The promises under test: the ranges an import stores (``Collector``) and those a grading derives
(``fill``) hold the very same bytes, the code of every record kind and detail alike; the stored
ranges tile every record id with no gap; and a range that is missing or of another layout is
derived again by ``fill`` or refused by ``read``, never read as fewer records. On SQLite and
PostgreSQL wherever a database is involved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from credit import grading_columns
from credit.db import make_engine
from credit.enums import RecordKind, Sector, Severity
from credit.grading_columns import LAYOUT, Collector, Columns, derive, fill, gaps, read
from credit.policy import CODE
from credit.records import Records
from credit.scoring import NO_DATE, SECTORS, day_number
from tests.cli.test_credit import (
    AS_OF, CANCELLED, GOLDEN_RESULT_SHA256, _decoded, _record, _stored_columns, grade, load, record_id,
)
from tests.conftest import RECORD_HEADER, Env


def _ranges(env: Env) -> list[tuple[int, int, int]]:
    return [(low, high, count) for low, high, count, _ in _stored_columns(env)]


def _assert_tiling(env: Env) -> None:
    """The stored ranges follow each other from 0 with no gap and no overlap up to the highest
    record id, and each holds exactly the records of its ids."""
    ranges = _ranges(env)
    top = env.scalar("SELECT max(id) FROM credit_records")
    assert ranges and ranges[0][0] == 0 and ranges[-1][1] == top, ranges
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])), ranges
    for low, high, count in ranges:
        assert env.scalar(f"SELECT count(*) FROM credit_records WHERE id > {low} AND id <= {high}") == count


def _assert_same_as_derived(env: Env) -> None:
    """Every stored range is what SQL derives for its ids: the same bytes, and (readably, should
    they differ) the same records."""
    stored = _stored_columns(env)
    with env.session() as session:
        for low, high, count, data in stored:
            derived = derive(session, low, high)
            assert _decoded((low, high, len(derived), derived.encode(low))) == _decoded((low, high, count, data)), (low, high)
            assert derived.encode(low) == bytes(data)


# 1. gaps -------------------------------------------------------------------------------------------


@st.composite
def coverings(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]]]:
    """(top, CHUNK_IDS, covered): sorted, disjoint, non-empty ranges ``(low, high]`` as stored
    rows are, some adjacent, some reaching past ``top``."""
    top = draw(st.integers(0, 60))
    chunk = draw(st.integers(1, 12))
    cuts = sorted(set(draw(st.lists(st.integers(0, 80), max_size=12))))
    covered = [(low, high) for low, high in zip(cuts, cuts[1:]) if draw(st.booleans())]
    return top, chunk, covered


def _ids(ranges: list[tuple[int, int]]) -> list[int]:
    return [i for low, high in ranges for i in range(low + 1, high + 1)]


@settings(max_examples=300, deadline=None)
@given(coverings())
def test_gaps_and_covered_ranges_tile_every_id_up_to_top(case: tuple[int, int, list[tuple[int, int]]]) -> None:
    """``fill`` derives exactly the gaps: an id in none would be read by no grading, an id in two
    would be read twice; a gap longer than CHUNK_IDS would make a row too large to hold."""
    top, chunk, covered = case
    with mock.patch.object(grading_columns, "CHUNK_IDS", chunk):
        found = gaps(covered, top)
    missing = _ids(found)
    assert len(missing) == len(set(missing))  # no two gaps overlap
    assert found == sorted(found)
    assert all(0 < high - low <= chunk and 0 <= low and high <= top for low, high in found), found
    held = {i for i in _ids(covered) if i <= top}
    assert not held & set(missing)  # nothing covered is derived again
    assert held | set(missing) == set(range(1, top + 1))


def test_gaps_worked_examples() -> None:
    chunk = grading_columns.CHUNK_IDS
    assert gaps([], 0) == []  # no records yet
    assert gaps([], 2 * chunk + 5) == [(0, chunk), (chunk, 2 * chunk), (2 * chunk, 2 * chunk + 5)]
    assert gaps([(0, 50)], 20) == []  # covered beyond top: nothing to derive
    assert gaps([(5, 50)], 20) == [(0, 5)]
    assert gaps([(0, 3), (7, 9)], 12) == [(3, 7), (9, 12)]
    assert gaps([(0, 19), (19, 20)], 23) == [(20, 23)]  # adjacent ranges leave no gap between them


# 2. Columns encode / decode --------------------------------------------------------------------


@st.composite
def columns(draw: st.DrawFn) -> tuple[int, Columns]:
    """(low, columns of records after ``low``): ids ascending within 2³² of ``low``, every array
    at the edges of its stored type (NO_DATE, dates before 1900, the largest enterprise id)."""
    low = draw(st.integers(0, 2**40))
    offsets = sorted(set(draw(st.lists(st.integers(1, 2**32 - 1), max_size=20))))
    n = len(offsets)
    ints = lambda lo, hi: np.array(draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)), np.int64)  # noqa: E731
    return low, Columns(np.array(offsets, np.int64) + low, ints(0, 2**32 - 1), ints(-2**31, 2**31 - 1), ints(-2**31, 2**31 - 1),
                        ints(0, 255))


FIELDS = ("ids", "enterprise", "occurred", "until", "code")


@settings(max_examples=100, deadline=None)
@given(columns())
def test_columns_round_trip(case: tuple[int, Columns]) -> None:
    """What a row stores reads back as it was: widened to int64 for the callers that compute,
    or in its stored types (the grader's ``read``), but for the ids, always int64 and absolute."""
    low, original = case
    data = original.encode(low)
    assert len(data) == 17 * len(original)
    wide = Columns.decode(data, low, len(original))
    narrow = Columns.decode(data, low, len(original), widen=False)
    for name in FIELDS:
        assert getattr(wide, name).dtype == np.int64, name
        assert getattr(wide, name).tolist() == getattr(original, name).tolist(), name
        assert getattr(narrow, name).tolist() == getattr(original, name).tolist(), name
    assert [getattr(narrow, name).dtype.str for name in FIELDS] == ["<i8", "<u4", "<i4", "<i4", "|u1"]


def test_decode_refuses_a_wrong_length() -> None:
    """A row whose bytes do not fit its record count (edited, truncated) is refused, not read
    shifted into the wrong arrays."""
    low, n = 7, 3
    data = Columns(np.arange(low + 1, low + 1 + n), np.array([1, 2, 3]), np.array([10, 20, 30]), np.array([NO_DATE] * n),
                   np.array([0, 33, 144])).encode(low)
    assert Columns.decode(data, low, n).code.tolist() == [0, 33, 144]
    for bad, count in ((data[:-1], n), (data + b"\0", n), (data, n + 1), (data, n - 1)):
        with pytest.raises(RuntimeError, match=f"after record {low}: {len(bad)} bytes for {count} records"):
            Columns.decode(bad, low, count)


def test_encode_refuses_what_the_stored_types_cannot_hold() -> None:
    """An enterprise id or an id offset of 2³² would wrap silently in a u4 array."""
    one = lambda ids, enterprise: Columns(np.array(ids), np.array(enterprise), np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64))  # noqa: E731
    assert len(one([2**32], [2**32 - 1]).encode(1)) == 17  # the largest that fit
    for ids, enterprise in (([5], [2**32]), ([2**32], [1])):
        with pytest.raises(RuntimeError, match="too large for the grading columns"):
            one(ids, enterprise).encode(0)


# 3. Collector -----------------------------------------------------------------------------------


def _collected(session: Session, low: int, high: int) -> list[tuple[int, ...]]:
    (count, data) = session.execute(text("SELECT records, data FROM grading_columns WHERE low_id = :low AND high_id = :high"),
                                    {"low": low, "high": high}).one()
    c = Columns.decode(bytes(data), low, count)
    return list(zip(c.ids.tolist(), c.enterprise.tolist(), c.occurred.tolist(), c.until.tolist(), c.code.tolist(), strict=True))


def test_collector_stores_a_range_per_run_of_consecutive_ids(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches whose ids run on are one range; a jump ends it; a batch with a gap inside (another
    writer's records may be in it) is left to ``fill``; a range reaching CHUNK_IDS is stored at
    once. What is stored is what the batches said, the dates as day numbers."""
    monkeypatch.setattr("credit.grading_columns.CHUNK_IDS", 6)

    def record(i: int) -> tuple[int, int, int, str, str | None]:
        return i, 100 + i, (i * 7) % 150, f"2025-01-{i:02d}", None if i % 3 else f"2027-02-{i:02d}"

    def expected(i: int) -> tuple[int, ...]:
        id_, enterprise, code, occurred, until = record(i)
        return id_, enterprise, day_number(dt.date.fromisoformat(occurred)), NO_DATE if until is None else day_number(dt.date.fromisoformat(until)), code

    with env.session() as session:
        collector = Collector(session)
        for batch in ([1, 2, 3], [4, 5], [8, 9], [10, 12], [13, 14, 15], [16, 17, 18], [], [19, 20]):
            ids, enterprises, codes, occurred, until = (list(column) for column in zip(*map(record, batch))) if batch else ([], [], [], [], [])
            collector.add(ids, enterprises, codes, occurred, until)
        collector.flush()
        collector.flush()  # nothing kept: nothing more stored
        rows = session.execute(text("SELECT low_id, high_id, records, layout FROM grading_columns ORDER BY low_id")).all()
        assert [tuple(r) for r in rows] == [(0, 5, 5, LAYOUT), (7, 9, 2, LAYOUT), (12, 18, 6, LAYOUT), (18, 20, 2, LAYOUT)]
        for low, high, _, _ in rows:
            assert _collected(session, low, high) == [expected(i) for i in range(low + 1, high + 1)]
        # What the collector left out is what a grading derives.
        assert gaps([(low, high) for low, high, _, _ in rows], 20) == [(5, 7), (9, 12)]


@pytest.fixture
def data(env: Env, make_uscc: Callable[..., str]) -> tuple[Env, dict[int, str]]:
    """tests.cli.test_credit's data set: twelve enterprises, nineteen records, one import."""
    return env, load(env, make_uscc)


SEVERITIES = {"一般": "general", "较重": "major", "严重": "severe"}
SECTOR_LABELS = {"食品": "food", "药品": "drug", "特种设备": "special_equipment", "其他": "other"}
# Result codes (as an import file gives them) → the spot check's category: the worst code wins.
SPOT_CHECKS = {
    "1": "clean", "F": "clean", "E;F": "corrected", "E": "corrected", "A;3": "problem", "A;2;B": "problem",
    "A;2;C;3;E": "problem", "8": "obstructed", "8;A;3": "obstructed", "10": "other", "7": "other", "12": "other",
}


def _every_kind(usccs: list[str], prefix: str) -> list[tuple[list[str], int]]:
    """A record of every kind and detail combination, spread over ``usccs``, each with the code
    (sector · 32 + category) it must be stored with, worked out here rather than by the SQL."""
    cases: list[tuple[str, dict[str, str], str, str]] = []
    for severity, sev in SEVERITIES.items():
        for sector, name in SECTOR_LABELS.items():
            cases.append(("行政处罚", {"severity": severity, "sector": sector}, f"penalty.{sev}", name))
    cases += [("投诉举报", {"substantiated": "是"}, "complaint", ""), ("投诉举报", {"substantiated": "否"}, "complaint.unsubstantiated", "")]
    cases += [("抽查结果", {"result_codes": codes}, f"spot_check.{category}", "") for codes, category in SPOT_CHECKS.items()]
    cases += [
        ("列入经营异常名录", {"ground": "未按规定报送年度报告"}, "abnormal_in", ""),
        ("列入经营异常名录", {"ground": "通过登记的住所或者经营场所无法联系", "effective_until": "2027-03-01"}, "abnormal_in", ""),
        ("移出经营异常名录", {}, "abnormal_out", ""),
        ("列入严重违法失信名单", {"effective_until": "2028-01-31"}, "serious_in", ""),
        ("移出严重违法失信名单", {}, "serious_out", ""),
        ("未按时年报", {}, "annual_report_late", ""),
        ("违背信用承诺", {}, "commitment_breach", ""),
        ("表彰", {}, "commendation", ""),
    ]
    out = []
    for i, (kind, details, category, sector) in enumerate(cases):
        occurred = (dt.date(2024, 1, 1) + dt.timedelta(days=17 * i)).isoformat()
        out.append((_record(usccs[i % len(usccs)], kind, occurred, f"{prefix}-{i}", **details), SECTORS.index(sector) * 32 + CODE[category]))
    return out


def _spy_on_row_path(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each batch ``Records.write`` (the row-by-row path) stores from now on."""
    calls: list[int] = []
    real = Records.write

    def write(self: Records, batch: list[Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(len(batch))
        return real(self, batch, *args, **kwargs)

    monkeypatch.setattr(Records, "write", write)
    return calls


def _import(env: Env, name: str, rows: list[list[str]]) -> dict[str, int]:
    return env.json("import", "records", str(env.csv(name, RECORD_HEADER, rows)))  # type: ignore[no-any-return]


@pytest.fixture
def imported(data: tuple[Env, dict[int, str]], monkeypatch: pytest.MonkeyPatch) -> tuple[Env, dict[str, int]]:
    """The data set, then two imports of a record of every kind and detail: the first all new (the
    batch path), the second in batches of four, one of which holds a correction and an unchanged
    record (the row-by-row path for that batch). Returns the env and the code each new record
    must be stored with, by document number."""
    env, u = data
    usccs = list(u.values())
    row_path = _spy_on_row_path(monkeypatch)
    first = _every_kind(usccs, "K1")
    assert _import(env, "kinds.csv", [row for row, _ in first]) == {"inserted": len(first), "updated": 0, "unchanged": 0, "rejected": 0}
    assert row_path == []  # all new: stored a batch at a time, codes by Collector.code on combinations

    monkeypatch.setattr(Records, "batch_size", 4)
    second = _every_kind(usccs, "K2")
    corrected = _record(u[CANCELLED], "列入严重违法失信名单", "2025-11-02", "YZ-8")  # was dated 2025-11-01
    unchanged = next(row for row, _ in first if row[RECORD_HEADER.index("document_no")] == "K1-5")
    rows = [row for row, _ in second]
    rows[9:9] = [corrected, unchanged]  # the third batch of four: a new record, these two, a new record
    counts = _import(env, "mixed.csv", rows)
    assert counts == {"inserted": len(second), "updated": 1, "unchanged": 1, "rejected": 0}
    assert row_path == [4]  # the batch with the correction went row by row; the others a batch at a time
    codes = {row[RECORD_HEADER.index("document_no")]: code for row, code in first + second}
    codes["YZ-8"] = CODE["serious_in"]
    return env, codes


def _documents(env: Env) -> dict[str, int]:
    """The id of each document number's latest record."""
    with env.session() as session:
        return dict(session.execute(text("SELECT document_no, max(id) FROM credit_records GROUP BY document_no")).all())  # type: ignore[arg-type]


def test_each_import_stores_one_range_and_the_ranges_tile_every_id(imported: tuple[Env, dict[str, int]]) -> None:
    """The import's records, new ones a batch at a time and a correction row by row, have
    consecutive ids: one stored range per import, the three ranges leaving no id to a grading."""
    env, codes = imported
    n = sum(doc.startswith("K1-") for doc in codes)
    assert _ranges(env) == [(0, 19, 19), (19, 19 + n, n), (19 + n, 20 + 2 * n, n + 1)]
    _assert_tiling(env)
    with env.session() as session:
        assert gaps([(low, high) for low, high, _ in _ranges(env)], 20 + 2 * n) == []
        assert fill(session, 20 + 2 * n) == 0  # a grading finds nothing to derive


def test_import_stores_what_sql_derives_for_every_kind(imported: tuple[Env, dict[str, int]]) -> None:
    """Collector.code (the import's) and the grading's SQL give every kind and detail combination
    the same code, on both write paths: the stored bytes are those ``derive`` gives for the range.
    And each code is the one the category table says (worked out by hand in ``_every_kind``)."""
    env, codes = imported
    _assert_same_as_derived(env)
    ids = _documents(env)
    with env.session() as session:
        top = max(ids.values())
        stored = read(session, top)
        assert stored.ids.tolist() == list(range(1, top + 1))
        code_of = dict(zip(stored.ids.tolist(), stored.code.tolist(), strict=True))
    assert {doc: code_of[ids[doc]] for doc in codes} == codes
    for prefix in ("K1", "K2"):
        # A severe food penalty: sector food (index 1 in SECTORS) in the high bits, the category below.
        severe_food = code_of[ids[f"{prefix}-8"]]
        assert (severe_food >> 5, severe_food & 31) == (SECTORS.index("food"), CODE["penalty.severe"]) == (1, 2)
        assert code_of[ids[f"{prefix}-12"]] == CODE["complaint"]  # substantiated, no sector
        assert code_of[ids[f"{prefix}-13"]] == CODE["complaint.unsubstantiated"]
        assert code_of[ids[f"{prefix}-23"]] == CODE["spot_check.other"]  # "10" holds a 1, but is not result 1


def _spot_category(codes: str) -> str:
    """The category of a spot check by its result codes, spelled out: the worst result wins."""
    chosen = set(codes.split(";"))
    if "8" in chosen:
        return "spot_check.obstructed"
    if "A" in chosen:
        return "spot_check.problem"
    if "E" in chosen:
        return "spot_check.corrected"
    return "spot_check.clean" if chosen == {"1"} or "F" in chosen else "spot_check.other"


@st.composite
def result_code_sets(draw: st.DrawFn) -> str:
    """A valid combination of result codes as stored (table order, ';'): 1 alone, or any of the
    standalone codes, A with its children, 2 (under A) with its own."""
    from credit.result_codes import parse_result_codes

    if draw(st.integers(0, 9)) == 0:
        return "1"
    chosen = set(draw(st.sets(st.sampled_from(["E", "F", "7", "8", "9", "10", "11", "12"]), max_size=3)))
    under_a = draw(st.sets(st.sampled_from(["3", "4", "5", "G", "2"]), max_size=3))
    if "2" in under_a:
        under_a |= draw(st.sets(st.sampled_from(["B", "C", "6", "D"]), min_size=1, max_size=2))
    if under_a:
        chosen |= {"A", *under_a}
    if not chosen:
        chosen = {draw(st.sampled_from(["E", "F", "8", "10"]))}
    return ";".join(parse_result_codes(";".join(sorted(chosen))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codes=result_code_sets())
def test_collector_code_of_spot_checks(env: Env, codes: str) -> None:
    """Collector.code, run by the database, gives the category the rules say for any valid
    combination of result codes, whichever way the import hands the kind over (enum or text)."""
    with env.session() as session:
        collector = Collector(session)
        expected = CODE[_spot_category(codes)]
        assert collector.code(RecordKind.SPOT_CHECK, None, None, None, codes) == expected, codes
        assert collector.code("spot_check", None, None, None, codes) == expected, codes
        assert len(collector.codes) == 1  # remembered under its plain values, queried once


def test_collector_code_of_every_other_kind(env: Env) -> None:
    """Penalties by severity and sector, complaints by substantiation, and the kinds with no
    detail: Collector.code as the category table and SECTORS say."""
    with env.session() as session:
        collector = Collector(session)
        for severity in Severity:
            for sector in Sector:
                expected = SECTORS.index(sector.value) * 32 + CODE[f"penalty.{severity.value}"]
                assert collector.code(RecordKind.PENALTY, severity, sector, None, None) == expected, (severity, sector)
                assert collector.code("penalty", severity.value, sector.value, None, None) == expected, (severity, sector)
        assert collector.code(RecordKind.COMPLAINT, None, None, True, None) == CODE["complaint"]
        assert collector.code(RecordKind.COMPLAINT, None, None, False, None) == CODE["complaint.unsubstantiated"]
        for kind in ("abnormal_in", "abnormal_out", "serious_in", "serious_out", "annual_report_late", "commitment_breach", "commendation"):
            assert collector.code(RecordKind(kind), None, None, None, None) == CODE[kind], kind
        assert len(collector.codes) == 3 * 4 + 2 + 7  # a member and its value are one entry


# 4. Stale and missing ranges ------------------------------------------------------------------


def _one_more_record(env: Env, u: dict[int, str], document_no: str) -> None:
    """A record of the deregistered enterprise, which no grading reads: the run's result stays
    GOLDEN_RESULT_SHA256."""
    counts = _import(env, f"{document_no}.csv", [_record(u[CANCELLED], "违背信用承诺", "2025-12-01", document_no)])
    assert counts["inserted"] == 1


def test_a_range_of_another_layout_is_derived_again(data: tuple[Env, dict[int, str]]) -> None:
    """A row stored by a release with other categories or sectors means something else: the next
    grading deletes it and derives its range again, and keeps the rows of the current layout."""
    env, u = data
    _one_more_record(env, u, "CN-8")
    before = _stored_columns(env)
    assert [(low, high) for low, high, _, _ in before] == [(0, 19), (19, 20)]
    kept_id = env.scalar("SELECT id FROM grading_columns WHERE low_id = 19")
    with env.session() as session:
        session.execute(text("UPDATE grading_columns SET layout = 'old' WHERE low_id = 0"))
        session.commit()
        with pytest.raises(RuntimeError, match="no stored range covers records 1–19"):
            read(session, 20)  # not read as the records of today's layout
    run = grade(env, AS_OF)
    (stored,) = [r for r in env.json("credit", "runs") if r["run"] == run["run"]]
    assert stored["result_sha256"] == GOLDEN_RESULT_SHA256
    assert env.scalar(f"SELECT count(*) FROM grading_columns WHERE layout <> '{LAYOUT}'") == 0
    after = _stored_columns(env)
    assert [(low, high, n) for low, high, n, _ in after] == [(0, 19, 19), (19, 20, 1)]
    assert [_decoded(r) for r in after] == [_decoded(r) for r in before]
    assert env.scalar("SELECT id FROM grading_columns WHERE low_id = 19") == kept_id  # not derived again
    _assert_same_as_derived(env)


def test_read_refuses_a_missing_range_and_fill_derives_it(data: tuple[Env, dict[int, str]]) -> None:
    """A range deleted (by hand, or lost) is never read as fewer records: ``read`` names the ids
    no row covers; ``fill``, which a grading calls first, derives exactly those again."""
    env, u = data
    _one_more_record(env, u, "CN-8-1")
    _one_more_record(env, u, "CN-8-2")
    assert _ranges(env) == [(0, 19, 19), (19, 20, 1), (20, 21, 1)]
    whole = _stored_columns(env)
    with env.session() as session:
        session.execute(text("DELETE FROM grading_columns WHERE low_id = 19"))
        with pytest.raises(RuntimeError, match="no stored range covers records 20–20"):
            read(session, 21)
        assert len(read(session, 19)) == 19  # the ranges below the hole still read
        session.execute(text("DELETE FROM grading_columns WHERE low_id = 20"))
        with pytest.raises(RuntimeError, match="no stored range covers records 20–21"):
            read(session, 21)
        assert fill(session, 21) == 2
        columns = read(session, 21)
        assert columns.ids.tolist() == list(range(1, 22))
        assert columns.encode(0) == derive(session, 0, 21).encode(0)
        assert len(read(session, 20)) == 20  # a range past max_record is cut at it
        session.commit()
    assert _ranges(env) == [(0, 19, 19), (19, 21, 2)]
    assert b"".join(map(_decoded, _stored_columns(env))) == b"".join(map(_decoded, whole))
    assert record_id(env, "CN-8-2") == 21


def test_ids_a_refused_import_used_up_leave_no_hole(data: tuple[Env, dict[int, str]]) -> None:
    """A refused import is rolled back, its columns with it; on PostgreSQL the ids it drew from
    the sequence are never used. The next import's range starts after them, and the grading
    derives the unused ids as a range of no records: the ranges still tile every id."""
    env, u = data
    good = _record(u[CANCELLED], "违背信用承诺", "2025-12-01", "CN-8-1")
    bad = _record(u[CANCELLED], "不存在的类型", "2025-12-01", "CN-8-2")
    refused = env.run("import", "records", str(env.csv("refused.csv", RECORD_HEADER, [good, good[:9] + ["CN-8-3"] + good[10:], bad])), expect=1)
    assert "rejected" in refused.stderr
    assert _ranges(env) == [(0, 19, 19)]
    _one_more_record(env, u, "CN-8-4")
    first_new = record_id(env, "CN-8-4")
    assert _ranges(env) == [(0, 19, 19), (first_new - 1, first_new, 1)]
    grade(env, AS_OF)
    expected_hole = [(19, first_new - 1, 0)] if first_new > 20 else []  # PostgreSQL: 20 and 21 were drawn and lost
    assert _ranges(env) == [(0, 19, 19), *expected_hole, (first_new - 1, first_new, 1)]
    assert (first_new > 20) is env.url.startswith("postgresql")
    _assert_tiling(env)
    _assert_same_as_derived(env)


def test_a_grading_waits_for_a_writer_that_has_drawn_ids_but_not_inserted(tmp_path: Any) -> None:
    """PostgreSQL: ids come from a sequence, taken before the INSERT. A writer holding ids of
    its own must hold off a grading's lock too, or the grading could store a range of records
    without the writer's, which commit later below its bound (found by a reproduction)."""
    import psycopg
    from sqlalchemy.engine import make_url

    from credit.bulk import allocate_ids
    from credit.models import CreditRecord
    from tests.conftest import postgres_schema

    with postgres_schema() as url:
        env = Env(url, tmp_path)
        env.run("db", "upgrade")
        engine = make_engine(url)
        try:
            with Session(engine) as writer:
                allocate_ids(writer, CreditRecord.__table__, 3)  # ids drawn, nothing inserted
                dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
                with psycopg.connect(dsn) as other, other.cursor() as cursor:
                    with pytest.raises(psycopg.errors.LockNotAvailable):
                        cursor.execute("LOCK TABLE credit_records IN SHARE MODE NOWAIT")
                writer.rollback()
        finally:
            engine.dispose()
