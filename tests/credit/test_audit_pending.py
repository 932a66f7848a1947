"""Pending row changes: whether they stay in memory or spill to the temporary table, an event gets
the same count, digest and stored rows, on SQLite and PostgreSQL; rows set aside in packs are
stored as packed, counted and digested by the documented formula, and found again by key. And
row_hash's shortcut for the common types spells every row exactly as ``canonical_json`` does."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from credit import audit, audit_chain, audit_pending
from credit.audit_chain import PackLine, RowChange, canonical_json, packed_rows, plain, row_hash, rows_digest, unpack
from credit.audit_models import AuditEvent, AuditPack, AuditRow
from credit.audit_pending import Pending
from credit.db import make_engine
from tests.conftest import postgres_schema

TABLES = [AuditEvent.__table__, AuditRow.__table__, AuditPack.__table__]
HASHES = st.one_of(st.none(), st.sampled_from(["a" * 32, "b" * 32, "c" * 32]))
PUTS = st.lists(st.tuples(st.sampled_from(["enterprises", "credit_records", "visits"]),
                          st.sampled_from(["1", "2", "10", "7|SC-01", "渝"]), HASHES, HASHES), max_size=40)


def _event(connection: sa.Connection, number: int) -> None:
    connection.execute(sa.insert(AuditEvent), {
        "id": number, "at": dt.datetime(2026, 11, 21, tzinfo=dt.UTC), "actor": "t", "role": "admin", "action": "test",
        "outcome": "done", "summary": "", "detail": "{}", "rows": 0, "rows_sha256": "", "prev_sha256": "", "sha256": str(number)})


def _model(puts: list[tuple[str, str, str | None, str | None]]) -> list[RowChange]:
    last = {(t, k): (b, a) for t, k, b, a in puts}
    return sorted((RowChange(t, k, b, a) for (t, k), (b, a) in last.items() if b != a), key=lambda c: (c.table, c.key))


def _run(connection: sa.Connection, puts: list[tuple[str, str, str | None, str | None]], number: int) -> tuple[int, str, list[RowChange]]:
    pending = Pending()
    for t, k, b, a in puts:
        pending.put(connection, t, k, b, a)
    count, digest = pending.summary(connection)
    _event(connection, number)
    pending.store(connection, number)
    stored = connection.execute(sa.select(AuditRow.tbl, AuditRow.key, AuditRow.before, AuditRow.after)
                                .where(AuditRow.event_id == number).order_by(AuditRow.tbl, AuditRow.key)).all()
    assert not pending
    return count, digest, [RowChange(*row) for row in stored]


@pytest.fixture(scope="module")
def sqlite() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        for table in TABLES:
            table.create(connection)
    yield engine
    engine.dispose()


@settings(max_examples=150, deadline=None)
@given(puts=PUTS, spill_at=st.integers(1, 8))
def test_spilled_or_not_the_event_is_the_same(sqlite: sa.Engine, puts: list[tuple[str, str, str | None, str | None]], spill_at: int) -> None:
    want = _model(puts)
    with sqlite.connect() as connection:
        with connection.begin() as transaction:
            try:
                audit_pending.SPILL_AT = 10**9
                kept = _run(connection, puts, 1)
                audit_pending.SPILL_AT = spill_at
                spilled = _run(connection, puts, 2)
            finally:
                audit_pending.SPILL_AT = 20_000
            transaction.rollback()
    assert kept == spilled == (len(want), rows_digest(want), want)


def test_postgresql_sorts_keys_by_bytes_whatever_the_locale() -> None:
    """The digest needs Python's order; a locale's collation would put 'b' before 'C'."""
    puts = [("t", key, None, "a" * 32) for key in ("b", "C", "a|2", "a|10", "渝", "_x")]
    with postgres_schema() as url:
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                for table in TABLES:
                    table.create(connection)
                audit_pending.SPILL_AT = 2
                try:
                    count, digest, stored = _run(connection, puts, 1)
                finally:
                    audit_pending.SPILL_AT = 20_000
        finally:
            engine.dispose()
    want = _model(puts)
    assert (count, digest, stored) == (6, rows_digest(want), want)


class Kind(enum.StrEnum):
    PENALTY = "penalty"


VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.floats(allow_nan=False), st.dates(),
                   st.datetimes(timezones=st.sampled_from([None, dt.UTC])), st.sampled_from(list(Kind)), st.binary(max_size=8))


@settings(max_examples=300)
@given(st.lists(VALUES, max_size=12))
def test_row_hash_is_canonical_json_of_the_plain_values(values: list[object]) -> None:
    expected = hashlib.sha256(canonical_json([plain(v) for v in values]).encode()).hexdigest()[:32]
    assert row_hash(values) == expected


def test_the_rows_digest_is_one_hash_over_every_line_whatever_the_chunks() -> None:
    """Lines are hashed thousands at a time: the digest must stay SHA-256 over all of them in
    order, the one that events already in the trail were recorded with."""
    changes = [RowChange("credit_records", str(n), None if n % 3 else "f" * 32, "e" * 32) for n in range(10_000)]
    changes.append(RowChange("visits", "7|SC-01", "a" * 32, None))
    ordered = sorted(changes, key=lambda c: (c.table, c.key))
    by_hand = hashlib.sha256("".join(f"{c.table}\t{c.key}\t{c.before or '-'}\t{c.after or '-'}\n" for c in ordered).encode())
    assert rows_digest(changes) == by_hand.hexdigest()
    assert rows_digest([]) == hashlib.sha256(b"").hexdigest()


# Packs: (table, first id, row count); key n of a pack is its id (visits) or "id|3" (visit_items).
PACKS = st.lists(st.tuples(st.sampled_from(["visits", "visit_items"]), st.integers(1, 10**12), st.integers(1, 9)), max_size=5)


def _pack_rows(table: str, first: int, n: int) -> tuple[list[str], list[str]]:
    keys = [str(first + i) if table == "visits" else f"{first + i}|3" for i in range(n)]
    return keys, [hashlib.sha256(k.encode()).hexdigest()[:32] for k in keys]


@settings(max_examples=100, deadline=None)
@given(puts=PUTS, packs=PACKS, pack_rows=st.integers(1, 4))
def test_packed_rows_are_stored_counted_and_digested_as_documented(sqlite: sa.Engine, puts: list[tuple[str, str, str | None, str | None]],
                                                                   packs: list[tuple[str, int, int]], pack_rows: int) -> None:
    want, lines, stored_want = _model(puts), [], []
    for table, first, n in packs:
        keys, hashes = _pack_rows(table, first, n)
        for start in range(0, n, pack_rows):
            # By hand: the keys one a line, a NUL, the hashes as bytes.
            some_keys, some_hashes = keys[start:start + pack_rows], hashes[start:start + pack_rows]
            blob = bytes.fromhex("".join(some_hashes))
            text = "\n".join(some_keys)
            seq = len(lines) + 1
            lines.append(PackLine(table, seq, len(some_keys), hashlib.sha256(text.encode() + b"\0" + blob).hexdigest()))
            firsts = [int(k.split("|")[0]) for k in some_keys]
            stored_want.append((seq, table, min(firsts), max(firsts), len(some_keys), list(zip(some_keys, some_hashes))))
    with sqlite.connect() as connection, connection.begin() as transaction:
        audit_chain.PACK_ROWS = pack_rows
        try:
            pending = Pending()
            for t, k, b, a in puts:
                pending.put(connection, t, k, b, a)
            for table, first, n in packs:
                pending.pack(connection, table, packed_rows(*_pack_rows(table, first, n)))
            count, digest = pending.summary(connection)
            _event(connection, 1)
            pending.store(connection, 1)
        finally:
            audit_chain.PACK_ROWS = 4096
        stored = [(seq, t, lo, hi, rows, unpack(keys, hashes)) for seq, t, lo, hi, rows, keys, hashes in connection.execute(
            sa.select(AuditPack.seq, AuditPack.tbl, AuditPack.lo, AuditPack.hi, AuditPack.rows, AuditPack.keys, AuditPack.hashes)
            .where(AuditPack.event_id == 1).order_by(AuditPack.seq))]
        transaction.rollback()
    assert count == len(want) + sum(n for _, _, n in packs)
    assert digest == rows_digest(want, lines)
    assert stored == stored_want


@given(packs=PACKS)
def test_packs_made_with_the_ids_given_are_those_read_from_the_keys(packs: list[tuple[str, int, int]]) -> None:
    """The draw passes each key's first id (it has them as integers) instead of having them
    parsed back: the same packs."""
    for table, first, n in packs:
        keys, hashes = _pack_rows(table, first, n)
        assert packed_rows(keys, hashes, [first + i for i in range(n)]) == packed_rows(keys, hashes)
    with pytest.raises(ValueError, match="2 key\\(s\\) but 2 hash\\(es\\) and 1 id\\(s\\)"):
        packed_rows(["1", "2"], ["a" * 32, "b" * 32], [1])


def test_the_digest_of_packs_follows_the_rows_by_hand() -> None:
    rows = [RowChange("visits", "2", "a" * 32, "b" * 32)]
    packs = [PackLine("visit_items", 2, 4, "d" * 64), PackLine("visits", 1, 3, "c" * 64)]
    by_hand = f"visits\t2\t{'a' * 32}\t{'b' * 32}\nvisits\t#1\t3\t{'c' * 64}\nvisit_items\t#2\t4\t{'d' * 64}\n"
    assert rows_digest(rows, packs) == hashlib.sha256(by_hand.encode()).hexdigest()
    # An event without packs keeps the digest it had before packs existed.
    assert rows_digest(rows) == hashlib.sha256(by_hand.split("visits\t#1")[0].encode()).hexdigest()


def test_latest_after_finds_packed_rows_and_later_changes_win(sqlite: sa.Engine) -> None:
    """What the trail says a row is now: its latest audit_rows entry, else the pack it was
    inserted in, else nothing."""
    with sqlite.connect() as connection, connection.begin() as transaction:
        pending = Pending()
        for first, n in ((1, 5), (10, 3), (100, 2)):  # gaps between the packs: 6–9, 13–99
            pending.pack(connection, "visits", packed_rows(*_pack_rows("visits", first, n)))
        pending.pack(connection, "visit_items", packed_rows(["1|3", "1|4", "2|3"], ["1" * 32, "2" * 32, "3" * 32]))
        _event(connection, 1)
        pending.store(connection, 1)
        pending.put(connection, "visits", "11", _pack_rows("visits", 11, 1)[1][0], "f" * 32)
        _event(connection, 2)
        pending.store(connection, 2)
        keys = ["1", "5", "6", "9", "10", "11", "12", "13", "101", "102", "x"]
        found = audit.latest_after(connection, "visits", keys)
        items = audit.latest_after(connection, "visit_items", ["1|4", "2|3", "2|4", "3|3"])
        transaction.rollback()
    packed = {k: _pack_rows("visits", int(k), 1)[1][0] for k in ("1", "5", "10", "12", "101")}
    assert found == {**packed, "11": "f" * 32}
    assert items == {"1|4": "2" * 32, "2|3": "3" * 32}
