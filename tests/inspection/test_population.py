"""The population's grouped read (inspection/population.py): two parts read apart and merged give
what one read gives, and every row keeps its group."""

from __future__ import annotations

import sqlite3

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from inspection.population import PARTS, Part, merge, part_sql, read_closed, read_part
from inspection.sampling import Frame

STATUSES = ["subsisting", "operating", "suspended", "cancelled"]
TYPES = ["enterprise", "individual"]
INDUSTRIES = ["F5211", "C13", "I6510"]

enterprises = st.lists(
    st.tuples(st.sampled_from(STATUSES), st.sampled_from(TYPES), st.sampled_from(INDUSTRIES), st.sampled_from(["500101", "500102"])),
    max_size=60,
)


def uscc(n: int) -> str:
    """USCCs in another order than the ids (7919 is prime to 10007)."""
    return f"91500000MA{n * 7919 % 10007:08d}"


def _database(rows: list[tuple[str, str, str, str]]) -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE enterprises (id INTEGER PRIMARY KEY, uscc TEXT, status TEXT, entity_type TEXT, industry_code TEXT, district_code TEXT)")
    connection.executemany("INSERT INTO enterprises VALUES (?, ?, ?, ?, ?, ?)",
                           [(n + 1, uscc(n), *row) for n, row in enumerate(rows)])
    return connection


def _rows(part: Part) -> set[tuple[int, bytes, tuple[str, str, str]]]:
    return {(int(i), bytes(u), part.groups[g]) for i, u, g in zip(part.ids.tolist(), part.usccs.tolist(), part.group.tolist(), strict=True)}


def _no_cooperatives(group: tuple[str, str, str]) -> bool:
    return group[2] != "C13"  # some groups have no item


@settings(max_examples=60, deadline=None)
@given(enterprises, st.sampled_from(["1 = 1", "e.district_code = '500101'"]))
def test_two_parts_merged_are_the_whole(rows: list[tuple[str, str, str, str]], where: str) -> None:
    connection = _database(rows)

    def execute(sql: str, params: dict[str, object]) -> list[object]:
        return connection.execute(sql, params).fetchall()

    whole = read_part(execute, "sqlite", where, {}, _no_cooperatives)
    child = read_part(execute, "sqlite", f"{where} AND {part_sql(1)}", {}, _no_cooperatives)
    parent = read_part(execute, "sqlite", f"{where} AND {part_sql(0)}", {}, _no_cooperatives)
    merged = merge(parent, child)
    assert _rows(merged) == _rows(whole)
    assert len(merged.ids) == len(whole.ids)  # no row twice
    # Each part's rows come in USCC order, the snapshot's; merged, the parent's first.
    for part in (whole, child, parent):
        assert part.usccs.tolist() == sorted(part.usccs.tolist())
    assert merged.usccs.tolist() == parent.usccs.tolist() + child.usccs.tolist()
    assert merged.no_item == whole.no_item
    assert merged.groups == whole.groups
    # Each process takes its share of the ids, and together every id once.
    assert all(int(i) % PARTS == 1 for i in child.ids) and all(int(i) % PARTS == 0 for i in parent.ids)
    # Expected from the rows themselves: in business, in scope, an item applies.
    in_scope = [(n + 1, r) for n, r in enumerate(rows) if where == "1 = 1" or r[3] == "500101"]
    wanted = {(n, r[:3]) for n, r in in_scope if r[0] in ("subsisting", "operating") and r[2] != "C13"}
    assert {(i, g) for i, _, g in _rows(whole)} == wanted
    assert whole.no_item == sum(1 for _, r in in_scope if r[0] in ("subsisting", "operating") and r[2] == "C13")
    closed = read_closed(execute, where, {})
    assert closed == {s: sum(1 for _, r in in_scope if r[0] == s) for s in ("cancelled", "suspended") if any(r[0] == s for _, r in in_scope)}


@given(st.dictionaries(st.tuples(st.sampled_from(INDUSTRIES), st.integers(0, 99)), st.tuples(st.booleans(), st.integers(0, 2**64 - 1)), max_size=60),
       st.booleans())
def test_merge_keeps_every_rows_group_and_number(rows: dict[tuple[str, int], tuple[bool, int]], numbered: bool) -> None:
    """Each part comes in USCC order (read_part sorts it); the merge puts the first part's rows
    before the second's, every row with its id, group and number, and the frame made of them
    finds the one USCC order (Frame.reordering)."""
    def part(keys: list[tuple[str, int]], offset: int) -> Part:
        keys = sorted(keys, key=lambda k: f"{k[0]}{k[1]:013d}")
        groups = sorted({("subsisting", "enterprise", industry) for industry, _ in keys})
        return Part(groups, np.arange(offset, offset + len(keys), dtype=np.int64),
                    np.array([f"{industry}{n:013d}".encode() for industry, n in keys], dtype="S18"),
                    np.array([groups.index(("subsisting", "enterprise", industry)) for industry, _ in keys], dtype=np.int64),
                    len(keys) % 3, np.array([rows[k][1] for k in keys], dtype=np.uint64) if numbered else None)

    a = part([k for k, (in_b, _) in rows.items() if not in_b], 0)
    b = part([k for k, (in_b, _) in rows.items() if in_b], 1000)
    merged = merge(a, b)
    in_order = sorted(rows, key=lambda k: f"{k[0]}{k[1]:013d}")
    expected = [k for k in in_order if not rows[k][0]] + [k for k in in_order if rows[k][0]]
    assert merged.usccs.tolist() == [f"{industry}{n:013d}".encode() for industry, n in expected]
    frame = Frame(merged.usccs, np.zeros(len(expected), np.uint8), np.ones((len(expected), 1), bool), ("X",))
    order = frame.reordering()
    assert (merged.usccs if order is None else merged.usccs[order]).tolist() == [f"{i}{n:013d}".encode() for i, n in in_order]
    ids = dict(zip(a.usccs.tolist() + b.usccs.tolist(), a.ids.tolist() + b.ids.tolist()))
    assert merged.ids.tolist() == [ids[u] for u in merged.usccs.tolist()]
    assert [merged.groups[g][2] for g in merged.group.tolist()] == [industry for industry, _ in expected]
    assert merged.groups == sorted(set(a.groups) | set(b.groups))
    assert merged.no_item == a.no_item + b.no_item
    if numbered:
        assert merged.numbers is not None and merged.numbers.tolist() == [rows[k][1] for k in expected]
    else:
        assert merged.numbers is None


def test_each_query_seeks_its_part_of_the_draw_index() -> None:
    """Every query of a part reads the covering index from its part on, with no sort: the index
    is led by id % PARTS as the queries spell it (a query without it sorted a million rows: 1.4 s)."""
    import sqlalchemy as sa

    import inspection.tables  # noqa: F401  (every table)
    from credit.db import Base

    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        plans: list[str] = []

        def execute(sql: str, params: dict[str, object]) -> list[object]:
            plans.append(" / ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params)))
            return raw.execute(sql, params).fetchall()

        for where in ("1 = 1", "(e.district_code = '500101' OR e.district_code = '500102')", "(e.station = 'S')"):
            read_part(execute, "sqlite", f"{where} AND {part_sql(0)}", {}, _no_cooperatives)
            read_closed(execute, where, {})
    assert len(plans) == 6
    for plan in plans:
        assert "USING COVERING INDEX ix_enterprises_draw (<expr>=? AND status=?)" in plan, plan
    assert not any("TEMP B-TREE" in plan for plan in plans[0::2])  # the parts' GROUP BY follows the index
