"""Pending row changes: whether they stay in memory or spill to the temporary table, an event gets
the same count, digest and stored rows, on SQLite and PostgreSQL. And row_hash's shortcut for the
common types spells every row exactly as ``canonical_json`` does."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from credit import audit_pending
from credit.audit_chain import RowChange, canonical_json, plain, row_hash, rows_digest
from credit.audit_models import AuditEvent, AuditRow
from credit.audit_pending import Pending
from credit.db import make_engine
from tests.conftest import postgres_schema

TABLES = [AuditEvent.__table__, AuditRow.__table__]
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
