"""The grading core: records and a policy in, scores, tiers and reasons out. Pure and vectorised.

Everything is a numpy array, one element per record or per enterprise, so a million enterprises
grade in the time numpy takes to sort and count ten million small integers. Points are kept in
hundredths as integers: sums are exact, so the result does not depend on the order of the rows.
Dates are day numbers counted from 1900-01-01 (``day_number``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from credit.lookup import distinct_rows
from credit.policy import CATEGORIES, CODE, LISTS, TIERS, Policy

EPOCH = dt.date(1900, 1, 1)
_EPOCH64 = np.datetime64("1900-01-01", "D")
NEVER = np.int32(2**31 - 1)  # last day of a record that counts until it is removed
NO_DATE = -1

# Families: the record kinds, as reasons name them (a category's part before the dot).
FAMILIES = tuple(dict.fromkeys(name.split(".")[0] for name in CATEGORIES))
_FAMILY_OF = np.array([FAMILIES.index(name.split(".")[0]) for name in CATEGORIES], np.int64)
SECTORS = ("", "food", "drug", "special_equipment", "other")  # code 0: not a penalty

# What happened to each record, as of the grading date.
COUNTS, EXPIRED, REPAIRED, FIRST_OFFENCE, NOT_SCORED, FUTURE = range(6)
STATUS = ("counts", "expired", "repaired", "first_offence", "not_scored", "future")

# Per-enterprise flags.
SERIOUS_LIST, ABNORMAL_LIST, TOLERANCE, NO_RECORDS = 1, 2, 4, 8


def day_number(date: dt.date) -> int:
    return (date - EPOCH).days


def from_day_number(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def _add_months_exact(days: np.ndarray, months: int) -> np.ndarray:
    dates = _EPOCH64 + days.astype("timedelta64[D]")
    month = dates.astype("datetime64[M]")
    day_of_month = (dates - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.timedelta64(int(months), "M")
    month_length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    result = target.astype("datetime64[D]") + np.minimum(day_of_month, month_length - 1).astype("timedelta64[D]")
    return (result - _EPOCH64).astype(np.int64)


TABLE_LIMIT = 10_000_000  # days × periods of add_months' lookup table (80 MB)


def add_months(days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """The civil-code last day of a period of ``months`` from each day: the same day of the month
    ``months`` later, or that month's last day when it has no such day (民法典 art. 202).

    Ten million records span a few thousand distinct days and a handful of periods, so each
    period's answer is computed once per day in the span and looked up (datetime64 conversions
    of every element cost 2.6 s at 10M).
    """
    days = np.asarray(days, np.int64)
    months = np.broadcast_to(np.asarray(months, np.int64), days.shape)
    if not days.size:
        return np.empty(days.shape, np.int64)
    low = int(days.min())
    span = np.arange(low, int(days.max()) + 1, dtype=np.int64)
    periods = np.flatnonzero(np.bincount(months.ravel()))
    if len(span) * len(periods) > TABLE_LIMIT:  # centuries of dates: one period at a time
        result = np.empty(days.shape, np.int64)
        for m in periods.tolist():
            chosen = months == m
            result[chosen] = _add_months_exact(span, m)[days[chosen] - low]
        return result
    # One row of answers per period, and one lookup for every element (a masked assignment per
    # period cost 0.5 s more at 10M).
    table = np.stack([_add_months_exact(span, int(m)) for m in periods.tolist()])
    row = np.zeros(int(periods[-1]) + 1, np.int64)
    row[periods] = np.arange(len(periods))
    index = row[months]  # in place from here: each temporary of ten million costs its page faults
    index *= len(span)
    index += days
    index -= low
    return table.ravel()[index]


def _period_ends(occurred: np.ndarray, category: np.ndarray, months: np.ndarray) -> np.ndarray:
    """The last day of each record's impact period: ``add_months`` of its date by its category's
    months, NEVER where that is -1 (until removed). One lookup in a table by category and day
    instead of a pass of ``add_months`` over every record (0.27 s at 10M)."""
    if not len(occurred):
        return np.zeros(0, np.int64)
    low = int(occurred.min())
    span = int(occurred.max()) - low + 1
    if span * len(months) > TABLE_LIMIT:
        return np.where(months[category] >= 0, add_months(occurred, np.maximum(months[category], 0)), NEVER).astype(np.int64)
    days = np.arange(low, low + span, dtype=np.int64)
    table = np.stack([add_months(days, int(m)) if m >= 0 else np.full(span, NEVER, np.int64) for m in months.tolist()])
    index = category.astype(np.int64)
    index *= span
    index += occurred
    index -= low
    return table.ravel()[index]


def add_months_to(date: dt.date, months: int) -> dt.date:
    """``add_months`` for one date."""
    return from_day_number(int(add_months(np.array([day_number(date)]), months)[0]))


@dataclass(frozen=True)
class Records:
    """Credit records as parallel arrays. ``enterprise`` indexes the enterprises given to ``grade``.
    The others may be any integer type wide enough (the grader passes them as stored: uint8, int32)."""

    enterprise: np.ndarray  # int64
    category: np.ndarray  # CODE of credit.policy
    sector: np.ndarray  # index in SECTORS
    occurred: np.ndarray  # day numbers
    until: np.ndarray  # day number of the record's own 影响期截止, or NO_DATE
    repaired: np.ndarray  # bool: an approved repair on or before the grading date


@dataclass(frozen=True)
class Grading:
    """The outcome, per enterprise and per record. Points and scores are in hundredths."""

    score: np.ndarray  # int64 per enterprise
    tier: np.ndarray  # int8 per enterprise, index in TIERS
    flags: np.ndarray  # int8 per enterprise: SERIOUS_LIST | ABNORMAL_LIST | TOLERANCE | NO_RECORDS
    family_points: np.ndarray  # int64 (enterprises × FAMILIES): points of the records that count
    family_counts: np.ndarray  # int64 (enterprises × FAMILIES): how many records count
    status: np.ndarray  # int8 per record, index in STATUS
    points: np.ndarray  # int64 per record: what it adds to the score (0 unless it counts)
    last_day: np.ndarray  # int64 per record: the last day it counts (NEVER: until removed)

    def reasons(self, index: int) -> str:
        """The ranked reasons of one enterprise: list overrides, then kinds by points, e.g.
        ``serious_list;penalty:2:40;complaint:1:5`` (kind:records:points, at most three kinds)."""
        return self.all_reasons(np.array([index]))[0]

    def all_reasons(self, indexes: np.ndarray | None = None) -> list[str]:
        """``reasons`` for many enterprises at once (all by default)."""
        number, texts = self.reason_table(indexes)
        return np.array(texts, dtype=object)[number].tolist()

    def reason_table(self, indexes: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
        """``reasons`` of many enterprises (all by default) as a number per enterprise into a
        list of distinct texts. A million enterprises share some fifty thousand, and their three
        kinds shown a few thousand (kind, records, points), so each is formatted once."""
        if indexes is None:
            indexes = np.arange(len(self.score))
        counts, points = self.family_counts[indexes], self.family_points[indexes]
        n = len(indexes)
        # Each enterprise's kinds by points, highest first, ties in FAMILIES order (a stable
        # sort of each row); kinds with no record that counts last. The first three are shown.
        ranked = np.argsort(np.where(counts > 0, -points, np.iinfo(np.int64).max), axis=1, kind="stable")[:, :REASONS_TOP]
        every = np.arange(n)[:, None]
        shown_counts, shown_points = counts[every, ranked], points[every, ranked]
        shown = shown_counts > 0
        # Number each distinct (kind, records, points) shown.
        triples = np.stack([ranked[shown], shown_counts[shown], shown_points[shown]], axis=1)
        triple, distinct = distinct_rows(triples)
        ids = np.full((n, REASONS_TOP), -1, np.int64)
        ids[shown] = triple
        # An enterprise's reasons: its flags and the numbers of its kinds shown.
        number, keys = distinct_rows(np.column_stack([self.flags[indexes].astype(np.int64), ids]))
        kind_texts = [f"{FAMILIES[c]}:{records}:{p / 100:g}" for c, records, p in distinct.tolist()]
        return number, [";".join(_FLAG_TEXT[flags] + [kind_texts[t] for t in shown_ids if t >= 0]) for flags, *shown_ids in keys.tolist()]


REASONS_TOP = 3


def _flag_text(flags: int) -> list[str]:
    names = [name for bit, name in ((SERIOUS_LIST, "serious_list"), (ABNORMAL_LIST, "abnormal_list"), (TOLERANCE, "tolerance")) if flags & bit]
    return names + (["no_records"] if flags & NO_RECORDS else [])


_FLAG_TEXT = {flags: _flag_text(flags) for flags in range(16)}


def _policy_tables(policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    points = np.array([round(policy.points[name] * 100) for name in CATEGORIES], np.int64)
    months = np.array([(-1 if policy.impact_months.get(name, 0) is None else policy.impact_months.get(name, 0)) for name in CATEGORIES], np.int64)
    return points, months


def _in(category: np.ndarray, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Whether each record's category is one of ``names``: a lookup in a table by code
    (``np.isin`` sorts, 0.1 s a call at 10M records)."""
    member = np.zeros(len(CATEGORIES), bool)
    member[[CODE[n] for n in names]] = True
    return member[category]


def _end_listings(records: Records, last: np.ndarray) -> None:
    """A listing ends the day before the first removal of the same list on or after its date."""
    for entry, removal in zip(LISTS, ("abnormal_out", "serious_out"), strict=True):
        entries = np.flatnonzero(records.category == CODE[entry])
        removals = records.category == CODE[removal]
        if not len(entries) or not removals.any():
            continue
        removed = records.enterprise[removals]
        removal_keys = np.sort((removed << 32) | records.occurred[removals])
        # Only the entries of enterprises with a removal of that list can end early.
        some = np.zeros(int(records.enterprise.max()) + 1, bool)
        some[removed] = True
        entries = entries[some[records.enterprise[entries]]]
        keys = (records.enterprise[entries] << 32) | records.occurred[entries]
        position = np.searchsorted(removal_keys, keys, side="left")
        found = position < len(removal_keys)
        hit = entries[found]
        removal_key = removal_keys[position[found]]
        same = (removal_key >> 32) == records.enterprise[hit]
        hit, removal_day = hit[same], (removal_key[same] & 0xFFFFFFFF)
        last[hit] = np.minimum(last[hit], removal_day - 1)


def _first_offences(records: Records, policy: Policy, considered: np.ndarray) -> np.ndarray:
    """Records that earn no points under 首违不罚: of a category the policy names, with no
    violation of the same kind (and, for penalties, the same 领域) within the window before it."""
    first = np.zeros(len(records.category), bool)
    if not policy.first_offence or not policy.first_offence_applies_to:
        return first
    families = np.unique(_FAMILY_OF[[CODE[n] for n in policy.first_offence_applies_to]])
    # The history: every record of those kinds up to the grading date, whatever its status now.
    history = np.flatnonzero(considered & _in(records.category, [n for n in CATEGORIES if _FAMILY_OF[CODE[n]] in families]))
    if not len(history):
        return first
    category = records.category[history]
    group = _FAMILY_OF[category] * len(SECTORS) + records.sector[history]
    enterprise, occurred = records.enterprise[history], records.occurred[history].astype(np.int64)
    candidates = _in(category, policy.first_offence_applies_to)
    # Sorted by enterprise, kind and date: one int64 key when the values fit (one sort instead
    # of a three-key lexsort: 1.4 s less at 10M records), whose sorted values then give all
    # three. (Records equal in all three are none of them a first offence, whatever their
    # order; the stable sort is still the faster here: 0.17 s against 0.30 s for quicksort on
    # 3.1M history records, which arrive mostly in enterprise order.)
    if enterprise.max() < 2**24 and 0 <= occurred.min() and occurred.max() < 2**20:
        key = (enterprise << 26) | (group << 20) | occurred
        order = np.argsort(key, kind="stable")
        key = key[order]
        kind_key, day = key >> 20, key & 0xFFFFF  # (enterprise, group), date
    else:
        order = np.lexsort((occurred, group, enterprise))
        kind_key, day = enterprise[order] * (len(FAMILIES) * len(SECTORS)) + group[order], occurred[order]
    same_kind = np.zeros(len(order), bool)  # as the previous element
    same_kind[1:] = kind_key[1:] == kind_key[:-1]
    previous_day = np.zeros(len(order), np.int64)
    previous_day[1:] = day[:-1]
    window_end = add_months(np.where(same_kind, previous_day, 0), policy.first_offence_window_months)
    is_first = ~same_kind | (window_end < day)
    # Two violations of the same kind on one day: neither is a first offence. This also keeps
    # the outcome independent of the order of the rows.
    same_day_next = np.zeros(len(order), bool)
    same_day_next[:-1] = same_kind[1:] & (day[1:] == day[:-1])
    is_first &= ~same_day_next
    first[history[order[is_first & candidates[order]]]] = True
    return first


def grade(records: Records, new_economy_since: np.ndarray, policy: Policy, as_of: int) -> Grading:
    """Grade enterprises ``0..len(new_economy_since)-1`` as of day ``as_of``.

    ``new_economy_since`` holds each enterprise's 四新认定日期 as a day number, or NO_DATE.
    """
    n = len(new_economy_since)
    category = records.category
    points_table, months_table = _policy_tables(policy)
    full_points = points_table[category]

    last = _period_ends(records.occurred, category, months_table)
    last = np.where(records.until != NO_DATE, records.until, last)
    _end_listings(records, last)

    considered = records.occurred <= as_of
    first = _first_offences(records, policy, considered)
    in_force = considered & (as_of <= last) & ~records.repaired

    status = np.full(len(category), COUNTS, np.int8)
    status[_in(category, ("abnormal_out", "serious_out", "complaint.unsubstantiated"))] = NOT_SCORED
    status[first & (status == COUNTS)] = FIRST_OFFENCE
    status[(as_of > last) & (status != NOT_SCORED)] = EXPIRED
    status[records.repaired & considered & (status != NOT_SCORED)] = REPAIRED
    status[~considered] = FUTURE
    counts = status == COUNTS

    points = np.where(counts, full_points, 0)
    if policy.decay == "linear":
        finite = counts & (last != NEVER)
        span = last[finite] - records.occurred[finite] + 1
        remaining = last[finite] - as_of + 1
        # Integer arithmetic, rounded half up: no floating point, so no platform differences.
        points[finite] = (2 * points[finite] * remaining + span) // (2 * span)

    family = _FAMILY_OF[category]
    cell = records.enterprise * len(FAMILIES) + family
    family_points = np.bincount(cell, weights=points, minlength=n * len(FAMILIES)).astype(np.int64).reshape(n, len(FAMILIES))
    family_counts = np.bincount(cell[counts], minlength=n * len(FAMILIES)).reshape(n, len(FAMILIES))
    score = family_points.sum(axis=1)  # exact: integers, summed per kind first

    thresholds = np.array([round(t * 100) for t in policy.thresholds], np.int64)
    tier = np.searchsorted(thresholds, score, side="right").astype(np.int8)
    flags = np.zeros(n, np.int8)

    if policy.tolerance_months:
        since = new_economy_since
        tolerated = (since != NO_DATE) & (since <= as_of)
        tolerated &= as_of <= add_months(np.where(tolerated, since, 0), policy.tolerance_months)
        # Minor points matter only for the few enterprises in their tolerance period.
        chosen = np.flatnonzero(tolerated[records.enterprise] & _in(category, policy.minor)) if tolerated.any() else np.zeros(0, np.int64)
        minor = np.bincount(records.enterprise[chosen], weights=points[chosen], minlength=n).astype(np.int64)
        other_tier = np.searchsorted(thresholds, score - minor, side="right").astype(np.int8)
        capped = np.maximum(np.minimum(tier, TIERS.index(policy.tolerance_cap)), other_tier)
        applied = tolerated & (capped < tier)
        tier[applied] = capped[applied]
        flags[applied] |= TOLERANCE

    listed = in_force & (status != NOT_SCORED)
    for entry, bit, floor in (("abnormal_in", ABNORMAL_LIST, policy.abnormal_list_tier), ("serious_in", SERIOUS_LIST, policy.serious_list_tier)):
        on_list = np.bincount(records.enterprise[listed & (category == CODE[entry])], minlength=n) > 0
        flags[on_list] |= bit
        tier[on_list] = np.maximum(tier[on_list], TIERS.index(floor))

    anything = np.bincount(records.enterprise[in_force & (status != NOT_SCORED)], minlength=n) > 0
    flags[~anything] |= NO_RECORDS
    tier[~anything] = TIERS.index(policy.default_tier)
    return Grading(score, tier, flags, family_points, family_counts, status, points, last)

