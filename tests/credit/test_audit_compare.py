"""`audit verify` compares the big tables (one integer id) in numpy arrays and the others through
dicts: both must find exactly the same rows changed, deleted and added, whatever the trail holds
(packs, rows, later changes, deletions, edited hashes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from credit import audit_compare
from credit.audit_chain import pack, row_hash
from credit.audit_models import AuditEvent, AuditPack, AuditRow

METADATA = sa.MetaData()
THINGS = sa.Table("things", METADATA, sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.String))
IDS = st.integers(1, 25)
VALUES = st.sampled_from(["a", "b", "c"])
# A recorded hash: of the row with some value, of nothing (deleted), or not a hash at all.
AFTER = st.one_of(VALUES.map(lambda v: ("value", v)), st.just(("deleted", None)), st.just(("junk", "not hex")))


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        METADATA.create_all(connection)
        for table in (AuditEvent.__table__, AuditRow.__table__, AuditPack.__table__):
            table.create(connection)
    yield engine
    engine.dispose()


def _after(key: int, after: tuple[str, str | None]) -> str | None:
    kind, value = after
    return row_hash([key, value]) if kind == "value" else value


@settings(max_examples=200, deadline=None)
@given(current=st.dictionaries(IDS, VALUES),
       packs=st.lists(st.tuples(st.integers(1, 6), st.lists(st.tuples(IDS, VALUES), min_size=1, max_size=6, unique_by=lambda p: p[0])), max_size=5),
       rows=st.dictionaries(st.tuples(IDS, st.integers(1, 6)), AFTER, max_size=12))
def test_arrays_and_dicts_find_the_same_rows(engine: sa.Engine, current: dict[int, str], packs: list, rows: dict) -> None:
    with engine.connect() as connection, connection.begin() as transaction:
        if current:
            connection.execute(sa.insert(THINGS), [{"id": k, "v": v} for k, v in current.items()])
        for seq, (event, members) in enumerate(packs, 1):
            keys, hashes = pack([str(k) for k, _ in members], [row_hash([k, v]) for k, v in members])
            connection.execute(sa.insert(AuditPack), {"event_id": event, "seq": seq, "tbl": "things", "lo": min(k for k, _ in members),
                                                     "hi": max(k for k, _ in members), "rows": len(members), "keys": keys, "hashes": hashes})
        if rows:
            connection.execute(sa.insert(AuditRow), [{"tbl": "things", "key": str(k), "event_id": e, "before": None, "after": _after(k, a)}
                                                     for (k, e), a in rows.items()])
        by_arrays = audit_compare._by_arrays(connection, THINGS)
        by_dict = audit_compare._by_dict(connection, THINGS)
        transaction.rollback()
    assert by_arrays == by_dict


def test_an_unreadable_pack_leaves_its_rows_out(engine: sa.Engine) -> None:
    """Keys edited into text that is not ids: the big tables' path leaves the pack out (its
    event's digest no longer holds), so its rows show as added."""
    with engine.connect() as connection, connection.begin() as transaction:
        connection.execute(sa.insert(THINGS), [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
        keys, hashes = pack(["1", "2"], [row_hash([1, "a"]), row_hash([2, "b"])])
        connection.execute(sa.insert(AuditPack), {"event_id": 1, "seq": 1, "tbl": "things", "lo": 1, "hi": 2, "rows": 2,
                                                 "keys": "1\nforged", "hashes": hashes})
        found = audit_compare._by_arrays(connection, THINGS)
        transaction.rollback()
    assert found == audit_compare.Differences(added=["1", "2"])
