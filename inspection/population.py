"""The enterprises in scope and in business, read in bulk from the index ix_enterprises_draw
alone, grouped by what decides which items apply to them: status, entity type and industry.

A group's ids and USCCs come as one text each (credit.textread): the same rows feed both
aggregates, in the same order; a USCC is 18 characters, so theirs need no separator. Every
query reads one part of the ids at a time (``PARTS``): a big SQLite draw reads them in two
processes at once, each hashing the USCCs of its own part (frame.read_frame).
"""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit.enums import EnterpriseStatus
from credit.errors import SpotcheckError
from credit.fields import USCC_LENGTH
from credit.textread import concat_sql, parse_fixed, parse_ints
from inspection.sampling import unit_numbers

IN_BUSINESS = (EnterpriseStatus.SUBSISTING.value, EnterpriseStatus.OPERATING.value)
NOT_IN_BUSINESS = tuple(s.value for s in EnterpriseStatus if s.value not in IN_BUSINESS)
# The index's first column is id % PARTS: each part of the ids is a range of it, which a
# query seeks to. A big SQLite draw reads part 1 in a forked reader and part 0 itself; measured,
# the two then end together (the reader sends its part back through a pipe, this process reads
# the grades and the checks besides). A query of one part took 0.20-0.23 s against 0.28 s when
# both processes scanned the whole index for their half of the ids.
PARTS = 2
EVERY_PART = f"(e.id % {PARTS}) IN ({', '.join(map(str, range(PARTS)))})"

Group = tuple[str, str, str]  # status, entity type, industry code
Execute = Callable[[str, dict[str, Any]], list[Any]]


@dataclass
class Part:
    """Enterprises in business to which some item applies: row i is in ``groups[group[i]]``.
    A part as read_part returns it is in USCC order; merged, the first part's rows come first."""

    groups: list[Group]
    ids: np.ndarray
    usccs: np.ndarray  # S18
    group: np.ndarray
    no_item: int  # enterprises in business to which no item applies
    numbers: np.ndarray | None = None  # each row's random number, when hashed


def either(column: str, values: tuple[str, ...]) -> str:
    # An OR chain of the index's first column: SQLite seeks each value.
    return "(" + " OR ".join(f"{column} = '{v}'" for v in values) + ")"


def part_sql(part: int) -> str:
    """The enterprises of one part, spelled as the index's first column is."""
    return f"(e.id % {PARTS}) = {int(part)}"


def read_part(execute: Execute, dialect: str, where: str, params: dict[str, Any], applies: Callable[[Group], bool]) -> Part:
    """The enterprises in business of the scope ``where`` (on ``e``), grouped."""
    # No ORDER BY in the aggregates: both databases feed each row to every aggregate of the
    # query in turn, so the two texts list the same rows in the same order, and the rows are
    # put in USCC order below. On PostgreSQL an ORDER BY sorted each aggregate's rows of each
    # group apart: 1.9-2.2 s a half of a million enterprises, against 0.44-0.49 s without.
    ids_sql, usccs_sql = concat_sql(dialect, "e.id", ","), concat_sql(dialect, "e.uscc", "")
    rows = execute(
        f"SELECT e.status, e.entity_type, e.industry_code, count(*), {ids_sql}, {usccs_sql} FROM enterprises e"
        f" WHERE {where} AND {either('e.status', IN_BUSINESS)} GROUP BY e.status, e.entity_type, e.industry_code", params)
    rows.sort(key=lambda r: tuple(r[:3]))  # an order of their own, the same on every database
    kept = [r for r in rows if applies(tuple(r[:3]))]
    for status, entity_type, industry, count, _, usccs in kept:
        if len(usccs) != USCC_LENGTH * count:
            raise SpotcheckError(f"enterprises in scope ({status}, {entity_type}, {industry}): {count} USCCs of"
                                 f" {USCC_LENGTH} characters expected, {len(usccs)} characters read")
    counts = [r[3] for r in kept]
    total = sum(counts)
    usccs = parse_fixed("".join(r[5] for r in kept), total, USCC_LENGTH, "USCCs of the enterprises in scope and in business")
    # Rows in USCC order, the population snapshot's: each group's are in order already, so this
    # merges sorted runs (0.045 s for half a million, in each reading process at once).
    order = np.argsort(usccs, kind="stable")
    return Part(
        [tuple(r[:3]) for r in kept],
        parse_ints(",".join(r[4] for r in kept), total, "enterprises in scope and in business")[order],
        usccs[order],
        np.repeat(np.arange(len(kept), dtype=np.int64), counts)[order],
        sum(r[3] for r in rows) - total,
    )


def read_closed(execute: Execute, where: str, params: dict[str, Any]) -> dict[str, int]:
    """How many enterprises of the scope are not in business (注销/吊销/迁出/停业), per status."""
    rows = execute(f"SELECT e.status, count(*) FROM enterprises e WHERE {where} AND {EVERY_PART} AND {either('e.status', NOT_IN_BUSINESS)}"
                   " GROUP BY e.status", params)
    return {status: n for status, n in sorted(rows)}


def read_hashed_part_from_file(path: str, where: str, params: dict[str, Any], applies: Callable[[Group], bool], key: bytes) -> tuple[Part, dict[str, int]]:
    """The forked reader's part, numbers included, and the count of the scope's enterprises not
    in business (read_closed), on a read-only connection of its own."""
    connection = sqlite3.connect(f"{pathlib.Path(path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        def execute(sql: str, values: dict[str, Any]) -> list[Any]:
            return connection.execute(sql, values).fetchall()

        part = read_part(execute, "sqlite", f"{where} AND {part_sql(1)}", params, applies)
        part.numbers = unit_numbers(key, part.usccs)
        return part, read_closed(execute, where, params)
    finally:
        connection.close()


def merge(a: Part, b: Part) -> Part:
    """Both parts' rows, ``a``'s first, with one list of groups. Each part is in USCC order; the
    snapshot puts the two in one order on the other core (two sorted runs: one merge), so this
    process, which the draw waits for, only joins them."""
    groups = sorted(set(a.groups) | set(b.groups))
    number = {g: n for n, g in enumerate(groups)}

    def renumbered(part: Part) -> np.ndarray:
        return np.array([number[g] for g in part.groups], dtype=np.int64)[part.group] if part.groups else part.group

    numbers = None if a.numbers is None or b.numbers is None else np.concatenate([a.numbers, b.numbers])
    return Part(groups, np.concatenate([a.ids, b.ids]), np.concatenate([a.usccs, b.usccs]),
                np.concatenate([renumbered(a), renumbered(b)]), a.no_item + b.no_item, numbers)
