"""The frequency exclusions of a draw (domain.md §3): an enterprise checked on the same item
within the recheck period is not drawn for that item again, and one at the yearly cap of checks
is not drawn at all. Re-check and complaint tasks are exempt (FrameParams.exempt)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from credit.grading import stream_rows
from credit.lookup import positions
from credit.models import OUTSIDE_SPOT_CHECKS
from credit.textread import concat_sql, parse_ints

if TYPE_CHECKING:
    from inspection.frame import FrameParams


@dataclass
class Checks:
    """What the exclusions need from the database: per item (its number in the task), the
    enterprises checked on it within the recheck period; the enterprises checked this year and
    how often."""

    recent: dict[int, np.ndarray]
    checked: np.ndarray  # enterprise ids, distinct
    times: np.ndarray  # checks this year of each


def int_column(session: Session, value: str, source: str, params: dict[str, Any], what: str) -> np.ndarray:
    """``SELECT value FROM source``, one integer a row, as an array: on SQLite as one text
    (credit.textread), elsewhere streamed."""
    if session.connection().dialect.name == "sqlite":
        with stream_rows(session, f"SELECT count(*), group_concat({value}, ',') FROM {source}", params) as rows:
            count, joined = next(iter(rows))
        return parse_ints(joined, count, what)
    with stream_rows(session, f"SELECT {value} FROM {source}", params) as rows:
        return np.fromiter(itertools.chain.from_iterable(rows), np.int64)


def grouped_ints(session: Session, key: str, value: str, source: str, params: dict[str, Any], what: str) -> list[tuple[Any, np.ndarray]]:
    """``SELECT key, value FROM source`` as (key, array of the integer values) per distinct key."""
    joined = concat_sql(session.connection().dialect.name, value, ",")
    rows = session.execute(text(f"SELECT {key}, count(*), {joined} FROM {source} GROUP BY {key}"), params).all()
    return [(k, parse_ints(values, count, what)) for k, count, values in rows]


def read_checks(session: Session, p: FrameParams) -> Checks:
    """The visits of earlier routine tasks and the imported spot-check records that count
    towards the exclusions. Read before the population is known: they do not depend on it."""
    after, before = dt.date.fromisoformat(p.recheck_after), dt.date.fromisoformat(p.recheck_before)
    recent: dict[int, np.ndarray] = {}
    visited = np.zeros(0, np.int64)
    if p.prior_draws:
        draw_list = ", ".join(str(int(d)) for d in p.prior_draws)
        tasks = session.execute(text(f"SELECT t.id, t.starts_on FROM tasks t JOIN draws d ON d.task_id = t.id WHERE d.id IN ({draw_list})")).all()
        days = {task_id: day if isinstance(day, dt.date) else dt.date.fromisoformat(day) for task_id, day in tasks}
        within = sorted(t for t, day in days.items() if after < day < before)
        this_year = sorted(t for t, day in days.items() if day.year == p.cap_year)
        if within:
            codes = {item.code: k for k, item in enumerate(p.items)}
            for code, ids in grouped_ints(session, "ci.code", "v.enterprise_id", (
                    "visits v JOIN visit_items vi ON vi.visit_id = v.id JOIN task_items ti ON ti.id = vi.task_item_id"
                    f" JOIN check_items ci ON ci.id = ti.item_id WHERE v.task_id IN ({', '.join(map(str, within))})"), {}, "earlier checks"):
                if code in codes:
                    recent[codes[code]] = ids
        if this_year:
            # One count per visit, whatever number of items it covered.
            visited = int_column(session, "v.enterprise_id", f"visits v WHERE v.task_id IN ({', '.join(map(str, this_year))})", {}, "visits this year")
    # Spot checks known from outside (this system's published results are its visits, counted
    # above). The index's own condition, spelled the same, lets both databases use the partial
    # index; "+r.id" keeps SQLite from scanning the primary key instead.
    spot_checks = (
        f"credit_records r WHERE {OUTSIDE_SPOT_CHECKS}"
        " AND r.occurred_on >= :first AND r.occurred_on <= :last AND +r.id <= :max_record"
        " AND NOT EXISTS (SELECT 1 FROM credit_records s WHERE s.supersedes_id = r.id AND s.id <= :max_record)"
    )
    bounds = {"max_record": p.max_record_id, "first": dt.date(p.cap_year, 1, 1), "last": dt.date(p.cap_year, 12, 31)}
    recorded = int_column(session, "r.enterprise_id", spot_checks, bounds, "spot-check records")
    checked, times = np.unique(np.concatenate([visited, recorded]), return_counts=True)
    return Checks(recent, checked, times)


def exclude_checked(p: FrameParams, checks: Checks, ids: np.ndarray, members: np.ndarray, report: dict[str, Any]) -> None:
    """Drop (enterprise, item) pairs checked within the recheck period, and enterprises at the
    yearly cap of checks (visits of earlier routine tasks plus imported spot-check records);
    count each in ``report``."""

    def rows_of(enterprise_ids: np.ndarray) -> np.ndarray:
        at = positions(ids, np.unique(enterprise_ids))  # an enterprise checked twice counts once
        return at[at >= 0]

    report["recently_checked"] = {}
    for k, enterprise_ids in sorted(checks.recent.items()):
        rows = rows_of(enterprise_ids)
        report["recently_checked"][p.items[k].code] = int(members[rows, k].sum())
        members[rows, k] = False
    rows = rows_of(checks.checked[checks.times >= p.yearly_cap])
    report["at_yearly_cap"] = int(members[rows].any(axis=1).sum())
    members[rows] = False
