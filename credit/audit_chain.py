"""The arithmetic of the audit trail: row hashes, event hashes and the chain. Pure.

An event's hash covers its own fields, the digest of the rows it changed and the hash of the
event before it, so an event cannot be edited, removed or moved without breaking every link
after it. A row's hash covers every column of the row, so the trail knows what each audited
row must look like now: the ``after`` of the last event that touched it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit import sha256many

GENESIS = "0" * 64
# Row hashes are SHA-256 cut to 128 bits: ample against a forged row, half the storage.
ROW_HASH_HEX = 32


def plain(value: Any) -> Any:
    """A value as JSON can hold it, spelled one way whatever the database returned."""
    if value is None or isinstance(value, (bool, int, str)):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    raise TypeError(f"cannot hash a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 characters as they are: one spelling per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# canonical_json without json.dumps' argument handling, for the row hashes of imports.
encode_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def plain_values(values: Sequence[Any]) -> list[Any]:
    """``plain`` of each value; imports hash every row they write, so the common types skip it."""
    return [v if type(v) is str or type(v) is int or v is None else plain(v) for v in values]


def row_hash(values: Sequence[Any]) -> str:
    """The hash of one row, its values in the table's column order: ``canonical_json`` of their
    plain forms."""
    return hash_json(encode_json(plain_values(values)))


def hash_json(text: str) -> str:
    """``row_hash`` of a row whose ``canonical_json`` (of plain values) is ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:ROW_HASH_HEX]


def hash_json_rows(layout: bytes, *columns: Iterable[Any]) -> list[str]:
    """``hash_json`` of ``layout % row`` for each row of ``columns``: the canonical JSON of new
    rows whose layout the caller spells (in UTF-8, %-formatted). Formatted by a map, in bytes,
    and hashed in one call (credit.sha256many)."""
    digests = np.frombuffer(sha256many.each(list(map(layout.__mod__, zip(*columns)))), np.uint8)
    text = digests.reshape(-1, sha256many.DIGEST_SIZE)[:, :ROW_HASH_HEX // 2].tobytes().hex()
    return [text[i:i + ROW_HASH_HEX] for i in range(0, len(text), ROW_HASH_HEX)]


def json_id(value: int | None) -> bytes:
    """An id as JSON in UTF-8: its digits, or null."""
    return b"null" if value is None else str(value).encode()


def row_key(pk: Sequence[Any]) -> str:
    """A row's primary key as text: ``42``, or ``7|SC-01`` for a composite key."""
    return "|".join(str(plain(v)) for v in pk)


@dataclass(frozen=True)
class RowChange:
    """One audited row an event changed: its hash before (None: new) and after (None: deleted)."""

    table: str
    key: str
    before: str | None
    after: str | None

    def line(self) -> str:
        return change_line(self.table, self.key, self.before, self.after)


def change_line(table: str, key: str, before: str | None, after: str | None) -> str:
    """One row change as the digest reads it: tab-separated, ``-`` for none, one line."""
    return f"{table}\t{key}\t{before or '-'}\t{after or '-'}\n"


@dataclass(frozen=True)
class PackLine:
    """A pack of new rows as an event's digest reads it: its table, its place in the event, how
    many rows it holds and the SHA-256 of its keys and hashes (``pack_digest``)."""

    table: str
    seq: int
    rows: int
    sha256: str

    def line(self) -> str:
        return f"{self.table}\t#{self.seq}\t{self.rows}\t{self.sha256}\n"


def pack(keys: Sequence[str], hashes: Sequence[str]) -> tuple[str, bytes]:
    """Rows' keys and hex hashes as a pack stores them: the keys one a line, the hashes as bytes."""
    return "\n".join(keys), bytes.fromhex("".join(hashes))


@dataclass(frozen=True)
class PackedRows:
    """Up to PACK_ROWS new rows of one table, packed as ``audit_packs`` stores them."""

    rows: int
    lo: int  # the smallest and largest first key column (an integer id)
    hi: int
    keys: str
    hashes: bytes
    sha256: str


PACK_ROWS = 4096


def packed_rows(keys: Sequence[str], hashes: Sequence[str], firsts: Sequence[int] | None = None) -> list[PackedRows]:
    """New rows' keys and hex hashes cut into packs. Each key's first column is an integer id;
    ``firsts``, when the caller has them, are those ids (else they are read from the keys).
    Pure, so that a forked child can make the packs while the parent inserts the rows."""
    if len(keys) != len(hashes) or (firsts is not None and len(firsts) != len(keys)):
        raise ValueError(f"{len(keys)} key(s) but {len(hashes)} hash(es)" + ("" if firsts is None else f" and {len(firsts)} id(s)"))
    out = []
    for start in range(0, len(keys), PACK_ROWS):
        some = keys[start:start + PACK_ROWS]
        text, blob = pack(some, hashes[start:start + PACK_ROWS])
        if firsts is not None:
            ids = firsts[start:start + PACK_ROWS]
        else:
            ids = list(map(int, some)) if "|" not in some[0] else [int(k.partition("|")[0]) for k in some]
        out.append(PackedRows(len(some), min(ids), max(ids), text, blob, pack_digest(text, blob)))
    return out


def unpack(keys: str, hashes: bytes) -> list[tuple[str, str]]:
    """A pack's (key, hash) pairs. A pack whose keys and hashes do not pair up (edited behind
    the system's back) gives the pairs it can; its digest no longer matches the event's."""
    text, size = hashes.hex(), ROW_HASH_HEX
    return [(key, text[i * size:(i + 1) * size]) for i, key in enumerate(keys.split("\n")) if (i + 1) * size <= len(text)]


def pack_digest(keys: str, hashes: bytes) -> str:
    """SHA-256 of a pack: its keys' text, a NUL, then its row hashes as bytes."""
    return hashlib.sha256(keys.encode() + b"\0" + hashes).hexdigest()


def rows_digest(changes: Iterable[RowChange], packs: Iterable[PackLine] = ()) -> str:
    """SHA-256 over an event's row changes in (table, key) order, then its packs in order."""
    ordered = sorted(changes, key=lambda c: (c.table, c.key))
    return digest_sorted(((c.table, c.key, c.before, c.after) for c in ordered), sorted(packs, key=lambda p: p.seq))


def digest_sorted(changes: Iterable[tuple[str, str, str | None, str | None]], packs: Iterable[PackLine] = ()) -> str:
    """``rows_digest`` of (table, key, before, after) already in (table, key) order, read as they
    come, and of packs in ``seq`` order. Lines are hashed thousands at a time: the same digest, a
    third of the calls' cost. An event without packs has the digest it had before packs existed."""
    digest = hashlib.sha256()
    changes = iter(changes)
    while chunk := list(itertools.islice(changes, 4096)):
        digest.update("".join([change_line(*c) for c in chunk]).encode())
    digest.update("".join(p.line() for p in packs).encode())
    return digest.hexdigest()


# The fields an event's hash covers, in this order; ``sha256`` itself is left out.
EVENT_FIELDS = ("id", "at", "actor", "role", "action", "outcome", "task", "subject", "summary", "detail", "rows", "rows_sha256", "prev_sha256")


def event_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of an event's fields (``EVENT_FIELDS``), the previous event's hash among them."""
    return hashlib.sha256(canonical_json({name: plain(fields[name]) for name in EVENT_FIELDS}).encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first place where the chain does not hold, and why."""

    event_id: int
    problem: str


def check_chain(events: Iterable[dict[str, Any]], rows_sha256: dict[int, str]) -> Break | None:
    """Walk the events in id order and return the first broken link, or None.

    ``rows_sha256`` maps each event id to the digest of the rows stored for it now. A missing id
    is a deleted event; a ``prev_sha256`` that does not match is an event moved or removed; a
    hash that does not match its fields, or rows that do not match their digest, an edit.
    """
    previous, expected_id = GENESIS, 1
    for event in events:
        number = event["id"]
        if number != expected_id:
            if number > expected_id:
                gap = f"event {expected_id}" if number == expected_id + 1 else f"events {expected_id}–{number - 1}"
                return Break(expected_id, f"{gap} missing: deleted from the trail")
            return Break(number, f"event {number} out of order")
        if event["prev_sha256"] != previous:
            return Break(number, f"event {number} does not follow event {number - 1}: events reordered or replaced")
        if event_hash(event) != event["sha256"]:
            return Break(number, f"event {number} was edited: its fields no longer match its hash")
        if rows_sha256.get(number, rows_digest(())) != event["rows_sha256"]:
            return Break(number, f"the row hashes of event {number} were edited, added or deleted")
        previous, expected_id = event["sha256"], number + 1
    return None
