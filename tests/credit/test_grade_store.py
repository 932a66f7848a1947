"""credit.grade_store and credit.lookup.distinct_rows: a run's grades stored as arrays, a part per
PART enterprises, read back whole or for a few enterprises; the run's result digest; the
distinct rows it formats once each.

The promises under test: what ``store`` writes, ``load`` gives back, whichever parts the asked-for
enterprises fall in, with their reasons texts; a tier written around the application is refused;
and ``result_digest`` is the SHA-256 of the plain one-line-per-enterprise text, however it is
sped up. On SQLite and PostgreSQL wherever a database is involved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from credit import grade_store
from credit.errors import SpotcheckError
from credit.grading_models import GradingRun
from credit.lookup import distinct_rows
from credit.policy import TIERS
from tests.conftest import Env


def _run(session: Session) -> int:
    """A grading run row for grades to belong to (grade_parts refers to it)."""
    run = GradingRun(as_of=dt.date(2026, 6, 30), policy_version="test", policy_sha256="0" * 64, policy_text="", max_record_id=0,
                     max_repair_id=0, enterprises=0, records=0, count_a=0, count_b=0, count_c=0, count_d=0, result_sha256="0" * 64,
                     seconds=0.0)
    session.add(run)
    session.flush()
    return run.id


# Ten enterprises in no particular order, as a run hands them over (USCC order, not id order).
ENTERPRISES = [41, 5, 17, 2, 99, 8, 23, 64, 11, 3]
TIER = [0, 1, 2, 3, 1, 1, 0, 3, 2, 1]
SCORE = [-1000, 0, 3000, 2**40, 1500, 1, -5, 9000, -2**40, 250]  # hundredths; beyond 32 bits both ways
FLAGS = [0, 1, 2, 4, 8, 3, 0, 15, 0, 255]
REASON = [0, 1, 2, 3, 1, 1, 0, 3, 2, 1]
TEXTS = ["commendation:1:-10", "no_records", "penalty:1:30;complaint:1:5", "serious_list;serious_in:1:60 投诉举报属实"]


def _store(session: Session, run_id: int, reason_offset: int = 0) -> None:
    arrays = [np.array(v, np.int64) for v in (ENTERPRISES, TIER, SCORE, FLAGS)]
    grade_store.store(session, run_id, *arrays, np.array(REASON, np.int64) + reason_offset,
                      ["x"] * reason_offset + TEXTS)


def _grades(g: grade_store.RunGrades) -> list[tuple[int, str, int, int, str]]:
    return [(int(g.enterprise[i]), g.tier_of(i), int(g.score[i]), int(g.flags[i]), g.reasons_of(i)) for i in range(len(g))]


EXPECTED = sorted((e, TIERS[t], s, f, TEXTS[r]) for e, t, s, f, r in zip(ENTERPRISES, TIER, SCORE, FLAGS, REASON, strict=True))


@pytest.fixture
def stored(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Session, int]]:
    """A session holding a run whose ten grades were stored in parts of three, and a second run
    with other reason numbers beside it, which no load of the first must see."""
    monkeypatch.setattr("credit.grade_store.PART", 3)
    with env.session() as session:
        run_id = _run(session)
        _store(session, run_id)
        _store(session, _run(session), reason_offset=2)
        yield session, run_id


def test_store_writes_parts_in_enterprise_id_order(stored: tuple[Session, int]) -> None:
    session, run_id = stored
    parts = session.execute(text("SELECT part, first_enterprise_id, last_enterprise_id, enterprises FROM grade_parts WHERE run_id = :r ORDER BY part"),
                            {"r": run_id}).all()
    assert [tuple(p) for p in parts] == [(0, 2, 5, 3), (1, 8, 17, 3), (2, 23, 64, 3), (3, 99, 99, 1)]
    assert session.execute(text("SELECT count(*) FROM grade_reasons WHERE run_id = :r"), {"r": run_id}).scalar() == len(TEXTS)


def test_store_refuses_a_negative_enterprise_id(env: Env) -> None:
    """The parts are found by their enterprise id range from 0 up; a negative id is refused, not stored."""
    with env.session() as session:
        run_id = _run(session)
        one = np.array([1], np.int64)
        with pytest.raises(RuntimeError, match="grades out of the stored range"):
            grade_store.store(session, run_id, np.array([-1], np.int64), one, one, one, np.array([0], np.int64), ["x"])
        assert session.execute(text("SELECT count(*) FROM grade_parts")).scalar() == 0


def test_load_all_grades_round_trip(stored: tuple[Session, int]) -> None:
    """Every part read back, in enterprise id order, each grade with the tier, score (beyond 32
    bits), flags and reasons text it was stored with."""
    session, run_id = stored
    grades = grade_store.load(session, run_id)
    assert _grades(grades) == EXPECTED
    assert grades.reasons == dict(enumerate(TEXTS))
    assert grades.find(17) == 5 and grades.find(18) is None and grades.find(1000) is None


@pytest.mark.parametrize("wanted", [
    [3, 23, 99, 1000, 4, 23],  # across three of the four parts; two the run does not hold; one twice
    [64],  # one
    [1, 4, 50, 100],  # none the run holds
    list(range(-5, 150)),  # more than a hundred: every part read, the wanted picked out
])
def test_load_some_grades(stored: tuple[Session, int], wanted: list[int]) -> None:
    """Only the wanted enterprises the run holds, each with its own grade and the reasons texts
    they use; nothing for an enterprise the run did not grade."""
    session, run_id = stored
    grades = grade_store.load(session, run_id, wanted)
    expected = [g for g in EXPECTED if g[0] in wanted]
    assert _grades(grades) == expected
    assert sorted(grades.reasons.values()) == sorted({g[4] for g in expected})


def test_load_no_grades_and_no_reasons(stored: tuple[Session, int]) -> None:
    session, run_id = stored
    empty = grade_store.load(session, run_id, [])
    assert len(empty) == 0 and empty.reasons == {}
    bare = grade_store.load(session, run_id, with_reasons=False)
    assert bare.reasons == {}  # the callers that need only tiers and scores skip the texts
    assert bare.reason.tolist() == [REASON[ENTERPRISES.index(e)] for e in sorted(ENTERPRISES)]
    assert bare.tier.tolist() == [TIERS.index(g[1]) for g in EXPECTED]
    assert len(grade_store.load(session, 999)) == 0  # no such run: nothing, not another run's


def test_load_keeps_runs_apart(stored: tuple[Session, int]) -> None:
    """The second run (same enterprises, reasons numbered two higher) reads as its own."""
    session, run_id = stored
    other = grade_store.load(session, run_id + 1)
    assert _grades(other) == EXPECTED
    assert other.reason.tolist() == [r + 2 for r in grade_store.load(session, run_id).reason.tolist()]
    assert other.reasons == {0: "x", 1: "x", **{code + 2: t for code, t in enumerate(TEXTS)}}


def test_a_tier_written_around_the_application_is_refused(stored: tuple[Session, int]) -> None:
    """A tier byte that is none of A–D (edited in the database) would be read as a wrong tier or
    fail far from its cause: ``load`` refuses the run, unless told not to check (audit verify)."""
    session, run_id = stored
    count, data = session.execute(text("SELECT enterprises, data FROM grade_parts WHERE run_id = :r AND part = 1"), {"r": run_id}).one()
    edited = bytearray(data)
    edited[count * (8 + 8 + 4) + 2] = 4  # the tier of part 1's third grade: enterprise 17
    session.execute(text("UPDATE grade_parts SET data = :d WHERE run_id = :r AND part = 1"), {"d": bytes(edited), "r": run_id})
    for wanted in (None, [17], [2, 17, 99]):
        with pytest.raises(SpotcheckError, match=f"grading run {run_id}: a stored tier is none of A, B, C, D; run `spotcheck audit verify`"):
            grade_store.load(session, run_id, wanted)
    unchecked = grade_store.load(session, run_id, check=False)
    assert unchecked.tier[unchecked.find(17)] == 4
    # Only the parts that may hold the wanted are read: part 0's grades still load.
    assert _grades(grade_store.load(session, run_id, [2, 3])) == EXPECTED[:2]


def test_a_part_of_the_wrong_length_is_refused(stored: tuple[Session, int]) -> None:
    session, run_id = stored
    session.execute(text("UPDATE grade_parts SET enterprises = 2 WHERE run_id = :r AND part = 0"), {"r": run_id})
    with pytest.raises(RuntimeError, match=f"grading run {run_id}: a part of 66 bytes for 2 grades"):
        grade_store.load(session, run_id)


# result_digest -------------------------------------------------------------------------------------


def _plain_digest(usccs: list[str], tier: list[int], score: list[int], reason: list[int], texts: list[str]) -> str:
    """The digest's definition: a line ``USCC <tab> tier <tab> score <tab> reasons`` per
    enterprise, in the order given, UTF-8."""
    lines = "".join(f"{u}\t{TIERS[t]}\t{s}\t{texts[r]}\n" for u, t, s, r in zip(usccs, tier, score, reason, strict=True))
    return hashlib.sha256(lines.encode()).hexdigest()


USCC_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
REASON_CHARACTERS = list("abnormal_list;serious_in:1:60-%") + list("投诉举报属实严重失信")  # '%': formatted as data, never as a format


@st.composite
def results(draw: st.DrawFn) -> tuple[list[str], list[int], list[int], list[int], list[str], int]:
    """A small run's result: USCCs, tiers, scores (hundredths, negative, some beyond 32 bits or
    at the ends of int64, which forces distinct_rows off its one-key path), reasons numbers into
    the texts; and a PART size, so the USCCs are joined in several slices."""
    n = draw(st.integers(0, 25))
    texts = draw(st.lists(st.text(REASON_CHARACTERS, max_size=12), min_size=1, max_size=5))
    scores = st.one_of(st.integers(-10_000, 10_000), st.sampled_from([-5, 0, 3000]), st.integers(-2**63, 2**63 - 1))
    return (draw(st.lists(st.text(USCC_CHARACTERS, min_size=18, max_size=18), min_size=n, max_size=n)),
            draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), draw(st.lists(scores, min_size=n, max_size=n)),
            draw(st.lists(st.integers(0, len(texts) - 1), min_size=n, max_size=n)), texts, draw(st.integers(1, 6)))


@settings(max_examples=200, deadline=None)
@given(results())
def test_result_digest_is_the_sha256_of_the_plain_lines(result: tuple[list[str], list[int], list[int], list[int], list[str], int]) -> None:
    """However the lines are assembled (distinct tails formatted once, USCCs joined a PART at a
    time), the digest is that of the plain text: anyone can recompute a run's digest from its
    grades. The texts as a list or as the dict ``load`` gives (any code numbers) agree."""
    usccs, tier, score, reason, texts, part = result
    expected = _plain_digest(usccs, tier, score, reason, texts)
    with mock.patch.object(grade_store, "PART", part):
        arrays = np.array(tier, np.uint8), np.array(score, np.int64), np.array(reason, np.int64)
        as_list = grade_store.result_digest([u.encode() for u in usccs], *arrays, texts)
        offset = {code + 7: t for code, t in enumerate(texts)}
        as_dict = grade_store.result_digest([u.encode() for u in usccs], arrays[0], arrays[1], arrays[2] + 7, offset)
    assert as_list == as_dict == expected


def test_result_digest_of_no_grades() -> None:
    empty = np.zeros(0, np.int64)
    assert grade_store.result_digest([], empty, empty, empty, []) == hashlib.sha256(b"").hexdigest()


# distinct_rows ------------------------------------------------------------------------------------


# Per column, the range of its values: small, negative, wide enough that a few columns need more
# than 63 bits together (the lexsort path), or the whole of int64.
BOUNDS = [1, 5, 2**20, 2**40, 2**63 - 1]


@st.composite
def int_rows(draw: st.DrawFn) -> np.ndarray:
    """A small 2-D int64 array, rows drawn from a few distinct ones so that many repeat."""
    k = draw(st.integers(1, 4))
    bounds = [draw(st.sampled_from(BOUNDS)) for _ in range(k)]
    pool = draw(st.lists(st.tuples(*[st.integers(-b - (b == 2**63 - 1), b) for b in bounds]), min_size=1, max_size=8))
    rows = draw(st.lists(st.sampled_from(pool), max_size=30))
    return np.array(rows, np.int64).reshape(len(rows), k)


def _numpy(rows: np.ndarray) -> tuple[list[int], list[list[int]]]:
    distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
    return inverse.reshape(-1).tolist(), distinct.tolist()


@settings(max_examples=300, deadline=None)
@given(int_rows())
@example(np.array([[-2**63, 2**63 - 1], [0, 0], [-2**63, 2**63 - 1], [2**63 - 1, -2**63]], np.int64))
@example(np.array([[3, -1, 7], [3, -1, 7], [2, 5, 7]], np.int64))
def test_distinct_rows_is_numpys_unique(rows: np.ndarray) -> None:
    """The same distinct rows in the same (lexicographic) order and the same numbering as
    ``np.unique(axis=0)``, which it replaces for speed, by one key or by lexsort."""
    number, distinct = distinct_rows(rows)
    if not len(rows):
        assert number.tolist() == [] and distinct.shape[0] == 0
        return
    assert (number.tolist(), distinct.tolist()) == _numpy(rows)
    assert distinct[number].tolist() == rows.tolist()  # each row's number names its own row


@pytest.mark.parametrize(("rows", "lexsort"), [
    ([[5, -3], [5, -3], [-2, 8], [5, -4]], False),  # a few bits per column: one int64 key
    ([[2**40, -1, 0], [-2**40, 1, 2**40], [2**40, -1, 0], [2**40, -1, -2**40]], True),  # 42 + 2 + 42 bits
    ([[2**62, 0], [-2**62, 0], [0, 0]], True),  # one column of 64 bits
])
def test_distinct_rows_on_both_paths(rows: list[list[int]], lexsort: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows whose columns fit 63 bits together go by one key, wider ones by lexsort: both give
    numpy's answer."""
    calls: list[int] = []
    real = np.lexsort
    monkeypatch.setattr(np, "lexsort", lambda keys, *args, **kwargs: calls.append(1) or real(keys, *args, **kwargs))
    array = np.array(rows, np.int64)
    number, distinct = distinct_rows(array)
    assert (number.tolist(), distinct.tolist()) == _numpy(array)
    assert bool(calls) is lexsort
