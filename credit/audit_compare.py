"""What each audited row of a table must look like now, against what it is: for `audit verify`.

The trail says it in two places: ``audit_rows`` (a row each, the after of the latest event that
touched the row) and ``audit_packs`` (rows inserted in bulk, before any later change). A table
keyed by one integer id (enterprises, credit records, visits: the big ones) is compared in numpy
arrays, 24 bytes a row, where a dict of texts took about 300: verifying ten million records then
fits in a few hundred megabytes. Other tables are compared through dicts, as they are small.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Table, select

from credit import audit
from credit.audit_chain import unpack
from credit.audit_models import AuditPack, AuditRow

_CHUNK = 100_000  # rows turned into arrays at a time


@dataclass
class Differences:
    """Rows that are not what the trail last recorded: (event, key) of rows changed or deleted
    behind the system's back, in (event, key) order; keys of rows added, in key order."""

    changed: list[tuple[int, str]] = field(default_factory=list)
    deleted: list[tuple[int, str]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


def differences(connection: Connection, table: Table) -> Differences:
    """Compare every row of ``table`` with what the trail says it must be now."""
    keys = list(table.primary_key.columns)
    if len(keys) == 1 and keys[0].type.python_type is int:
        return _by_arrays(connection, table)
    return _by_dict(connection, table)


def pack_hashes() -> Any:
    """``audit_packs.hashes`` read as bytes: SQLite stores whatever it is given, and text written
    over a pack's hashes would otherwise stop the read (not UTF-8) instead of showing as an edit."""
    return sa.cast(AuditPack.hashes, sa.LargeBinary)


def _packs(connection: Connection, table: Table) -> Any:
    return connection.execute(
        select(AuditPack.event_id, AuditPack.keys, pack_hashes())
        .where(AuditPack.tbl == table.name).order_by(AuditPack.event_id, AuditPack.seq).execution_options(yield_per=100))


def _rows(connection: Connection, table: Table) -> Any:
    return connection.execute(
        select(AuditRow.key, AuditRow.event_id, AuditRow.after)
        .where(AuditRow.tbl == table.name).order_by(AuditRow.event_id).execution_options(yield_per=20_000))


def _by_dict(connection: Connection, table: Table) -> Differences:
    wanted: dict[str, tuple[str | None, int]] = {}
    for event_id, keys, hashes in _packs(connection, table):
        for key, after in unpack(keys, hashes):
            wanted[key] = (after, event_id)
    for key, event_id, after in _rows(connection, table):
        if key not in wanted or wanted[key][1] <= event_id:  # a row beats a pack of its event
            wanted[key] = (after, event_id)
    now = dict(audit.row_hashes(connection, table, sa.true()))
    return Differences(
        changed=sorted((event, key) for key, (after, event) in wanted.items() if after is not None and key in now and now[key] != after),
        deleted=sorted((event, key) for key, (after, event) in wanted.items() if after is not None and key not in now),
        added=sorted(key for key in now if wanted.get(key, (None, 0))[0] is None),
    )


def _hashes(raw: bytes) -> np.ndarray:
    """16-byte hashes as rows of two uint64, compared exactly."""
    return np.frombuffer(raw, dtype="<u8").reshape(-1, 2)


def _hash_bytes(after: str | None) -> bytes:
    """A recorded hash as bytes; none (a deletion) or one edited into something else than 32 hex
    digits as bytes no row hash has (its event's digest no longer holds either)."""
    try:
        raw = bytes.fromhex(after or "")
    except ValueError:
        raw = b""
    return raw if len(raw) == 16 else b"\xff" * 16


def _ids(keys: str) -> np.ndarray | None:
    """A pack's ids (one a line), or None when its text is not that (edited)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns, not raises, on text it cannot read
            ids = np.fromstring(keys.replace("\n", ","), dtype=np.int64, sep=",")
    except (ValueError, DeprecationWarning):
        return None
    return ids if keys and len(ids) == keys.count("\n") + 1 else None


def _by_arrays(connection: Connection, table: Table) -> Differences:
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]] = []  # keys, hashes, events, present, kind
    for event_id, keys, hashes in _packs(connection, table):
        ids = _ids(keys)
        if ids is None:  # an edited pack: its event's digest no longer holds, and its rows show as added
            continue
        n = min(len(ids), len(hashes) // 16)
        parts.append((ids[:n], _hashes(hashes[:16 * n]), np.full(n, event_id, np.int64), np.ones(n, bool), 0))
    rows = iter(_rows(connection, table))
    while chunk := list(itertools.islice(rows, _CHUNK)):
        chunk = [r for r in chunk if r.key.lstrip("-").isdecimal()]  # a key no row can have is never found
        present = np.array([r.after is not None for r in chunk], bool)
        hashes = _hashes(b"".join(_hash_bytes(r.after) for r in chunk))
        parts.append((np.array([int(r.key) for r in chunk], np.int64), hashes,
                      np.array([r.event_id for r in chunk], np.int64), present, 1))
    keys = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    hashes = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, 2), np.uint64)
    events = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
    present = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, bool)
    kinds = np.concatenate([np.full(len(p[0]), p[4], np.int8) for p in parts]) if parts else np.zeros(0, np.int8)
    parts.clear()  # ten million rows are a few hundred megabytes each time they are copied
    # What each key must be now: its latest event's word, a row's over a pack's of the same event.
    order = np.lexsort((kinds, events, keys))
    keys, hashes, events, present = keys[order], hashes[order], events[order], present[order]
    last = np.ones(len(keys), bool)
    last[:-1] = keys[1:] != keys[:-1]
    keys, hashes, events, present = keys[last], hashes[last], events[last], present[last]

    now_keys, now_hashes = _current(connection, table)
    at = np.minimum(np.searchsorted(now_keys, keys), max(len(now_keys) - 1, 0))
    found = (now_keys[at] == keys) if len(now_keys) else np.zeros(len(keys), bool)
    changed = present & found & (now_hashes[at] != hashes).any(axis=1) if len(now_keys) else np.zeros(len(keys), bool)
    deleted = present & ~found
    back = np.minimum(np.searchsorted(keys, now_keys), max(len(keys) - 1, 0))
    recorded = (keys[back] == now_keys) & present[back] if len(keys) else np.zeros(len(now_keys), bool)
    return Differences(
        changed=sorted(zip(events[changed].tolist(), map(str, keys[changed].tolist()), strict=True)),
        deleted=sorted(zip(events[deleted].tolist(), map(str, keys[deleted].tolist()), strict=True)),
        added=sorted(map(str, now_keys[~recorded].tolist())),
    )


def _current(connection: Connection, table: Table) -> tuple[np.ndarray, np.ndarray]:
    """Every row's id and hash as it is now, ordered by id."""
    keys, hashes = [], []
    rows = audit.row_hashes(connection, table, sa.true())
    while chunk := list(itertools.islice(rows, _CHUNK)):
        keys.append(np.array([int(k) for k, _ in chunk], np.int64))
        hashes.append(_hashes(bytes.fromhex("".join(h for _, h in chunk))))
    if not keys:
        return np.zeros(0, np.int64), np.zeros((0, 2), np.uint64)
    ids, found = np.concatenate(keys), np.concatenate(hashes)
    keys.clear(), hashes.clear()
    order = np.argsort(ids, kind="stable")
    return ids[order], found[order]
