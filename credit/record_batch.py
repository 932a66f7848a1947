"""Credit records a batch at a time: checked and packed as columns in the parsing process, and
stored by the writer as narrow rows that share their few-valued fields.

A record import reads ten million rows; a Python call per row and per field is what it costs.
Here each field of a batch is one list, turned by C-level maps (dict lookups, joins, hashes)
into what the writer needs, which gives, row for row, what ``records.pack`` gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import partial
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter, methodcaller
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Table
from sqlalchemy.orm import Session

from credit.audit_chain import ROW_HASH_HEX, encode_json
from credit.importing import BatchRules

# The fields a record shares with many others (kind, details, department), stored once per
# import as a numbered combination: the writer binds its number instead of seven values.
SHARED = ("kind", "severity", "sector", "ground", "substantiated", "result_codes", "department")
# The columns the writer binds for each record; the rest come from the combination or are constant.
OWN = ("id", "enterprise_id", "combination", "occurred_on", "document_no", "effective_until",
       "key_hash", "key_check", "content_hash", "source_row")
# Past this many combinations the parsing process starts numbering afresh (the writer forgets too).
COMBINATIONS_LIMIT = 100_000

_digest = methodcaller("digest")
_hexdigest = methodcaller("hexdigest")
_row_hash_text = itemgetter(slice(0, ROW_HASH_HEX))
_MIDDLE = b"%b,%b,%b,%b,%b,%d,%d,%d".__mod__


class RecordColumns(NamedTuple):
    """A batch of checked records as the parsing process sends them, a list per field (stored
    forms: codes, ISO dates), plus the combinations first used in this batch."""

    usccs: list[str]
    key_hash: list[int]
    key_check: list[int]
    content_hash: list[int]
    combinations: list[int]
    occurred_on: list[str]
    document_no: list[str | None]
    effective_until: list[str | None]
    new_combinations: list[tuple[int, tuple[Any, ...]]]
    forget: bool  # the combinations numbered before this batch are no longer used


class RecordRules(BatchRules):
    """``Records.check`` and ``records.pack`` of a whole batch (see the module's docstring)."""

    def __init__(self, fields: Sequence[str], remembered: Sequence[str], fragment: Any,
                 detail_problems: Any, document: str) -> None:
        self.fields = tuple(fields)  # records.RECORD_FIELDS
        self.remembered = tuple(remembered)  # the fields of few values
        self.fragment = fragment  # records._fragment: (stored, JSON, canonical text) of a value
        self.detail_problems = detail_problems  # Records.detail_problems
        self.document = document
        self.fragments: dict[str, dict[Any, tuple[Any, str, str]]] = {name: {} for name in self.remembered}
        self.details: dict[tuple[Any, ...], bool] = {}
        self.detail_names = ("kind", "severity", "sector", "ground", "substantiated", "result_codes")
        self.combinations: dict[tuple[Any, ...], int] = {}
        self.next_combination = 1
        self.forget = False

    def check(self, columns: dict[str, list[Any]]) -> list[int]:
        details = list(zip(*(columns[n] for n in self.detail_names)))
        fine = list(map(self.details.get, details))
        if None in fine:
            for i, ok in enumerate(fine):
                if ok is None:
                    key = details[i]
                    fine[i] = self.details[key] = not self.detail_problems(dict(zip(self.detail_names, key)))
        refused = [i for i, ok in enumerate(fine) if not ok] if False in fine else []
        # A period ending before the record's date.
        refused += [i for i, (occurred, until) in enumerate(zip(columns["occurred_on"], columns["effective_until"]))
                    if until is not None and until < occurred]
        return sorted(set(refused))

    def _fragments(self, name: str, values: list[Any]) -> list[tuple[Any, str, str]]:
        known = self.fragments[name]
        found = list(map(known.get, values))
        if None in found:
            if len(known) >= COMBINATIONS_LIMIT:
                known.clear()
            for i, hit in enumerate(found):
                if hit is None:
                    found[i] = known[values[i]] = self.fragment(values[i])
        return found  # type: ignore[return-value]

    def pack(self, columns: dict[str, list[Any]]) -> RecordColumns:
        fragments = {name: self._fragments(name, columns[name]) for name in self.remembered}
        documents: list[str | None] = columns[self.document]
        stored = {name: list(map(itemgetter(0), f)) for name, f in fragments.items()}
        texts = {name: list(map(itemgetter(2), f)) for name, f in fragments.items()}
        texts[self.document] = [d or "" for d in documents]
        # records.record_digests: the content is the canonical text of every field; the key, the
        # document number when there is one, else the content.
        contents = list(map("\x1f".join, zip(*(texts[n] for n in self.fields))))
        usccs = columns["uscc"]
        keys = [f"{u}\x1f{k}\x1f{d}" if d else f"{u}\x1d{c}" for u, k, d, c in zip(usccs, texts["kind"], documents, contents)]
        key_hash, key_check = _signed(_blake2b(keys, 16)).reshape(-1, 2).T.tolist()
        content_hash = _signed(_blake2b(contents, 8)).tolist()
        return RecordColumns(usccs, key_hash, key_check, content_hash, self._combinations(stored), stored["occurred_on"], documents,
                             stored["effective_until"], *self._new_combinations())

    def _combinations(self, stored: dict[str, list[Any]]) -> list[int]:
        if len(self.combinations) >= COMBINATIONS_LIMIT:
            self.combinations.clear()
            self.forget = True
        shared = list(zip(*(stored[n] for n in SHARED)))
        numbers = list(map(self.combinations.get, shared))
        self._new: list[tuple[int, tuple[Any, ...]]] = []
        if None in numbers:
            for i, number in enumerate(numbers):
                if number is None:
                    number = self.combinations.get(shared[i])
                    if number is None:
                        number = self.combinations[shared[i]] = self.next_combination
                        self.next_combination += 1
                        self._new.append((number, shared[i]))
                    numbers[i] = number
        return numbers  # type: ignore[return-value]

    def _new_combinations(self) -> tuple[list[tuple[int, tuple[Any, ...]]], bool]:
        forget, self.forget = self.forget, False
        return self._new, forget


def _blake2b(texts: list[str], size: int) -> bytes:
    """The BLAKE2b digests of ``texts`` (UTF-8), ``size`` bytes each, one after the other."""
    return b"".join(map(_digest, map(partial(hashlib.blake2b, digest_size=size), map(str.encode, texts))))


def _signed(digests: bytes) -> np.ndarray:
    """Digests read as signed big-endian 64-bit integers, as digest.py reads them."""
    return np.frombuffer(digests, dtype=">i8")


def row_hashes(ids: Sequence[int], enterprise_ids: Sequence[int], middles: Sequence[bytes], numbers: Sequence[int], run_id: int | None) -> list[str]:
    """``audit_chain.hash_json`` of each new record's JSON (``records.TABLE_LAYOUT``): id,
    enterprise, the middle, no supersedes_id, not from a result, the import and the row. Bytes
    formatted and hashed by maps: a third of what text formatting and encoding cost."""
    run = b"null" if run_id is None else str(run_id).encode()
    layout = b"[%d,%d,%b,null,false," + run + b",%d]"
    return list(map(_row_hash_text, map(_hexdigest, map(hashlib.sha256, map(layout.__mod__, zip(ids, enterprise_ids, middles, numbers))))))


def _json(value: Any) -> bytes:
    """A stored value's JSON, as the audit hash spells it."""
    return encode_json([value])[1:-1].encode()


class Middles:
    """``records.pack``'s middle of each record of a batch, in UTF-8: the JSON of RECORD_FIELDS
    and the digests. Made by the writer, not the parsing process, which has more to do: the
    shared fields' JSON is made once per combination, each date's once."""

    def __init__(self) -> None:
        self.json: dict[int, tuple[bytes, bytes]] = {}
        self.dates: dict[str | None, bytes] = {}

    def learn(self, batch: RecordColumns) -> None:
        if batch.forget:
            self.json.clear()
        for number, values in batch.new_combinations:
            self.json[number] = (b",".join(map(_json, values[:6])), _json(values[6]))  # SHARED: six details, then the department

    def __call__(self, batch: RecordColumns) -> list[bytes]:
        shared = list(map(self.json.__getitem__, batch.combinations))
        dates = self.dates
        if len(dates) >= COMBINATIONS_LIMIT:
            dates.clear()
        occurred = list(map(dates.get, batch.occurred_on))
        until = list(map(dates.get, batch.effective_until))
        if None in occurred or None in until:
            occurred = [dates.get(d) or dates.setdefault(d, _json(d)) for d in batch.occurred_on]
            until = [dates.get(d) or dates.setdefault(d, _json(d)) for d in batch.effective_until]
        documents = [b"null" if d is None else encode_basestring(d).encode() for d in batch.document_no]
        # RECORD_FIELDS: kind … result_codes, occurred_on, department, document_no, effective_until.
        return list(map(_MIDDLE, zip(map(itemgetter(0), shared), occurred, map(itemgetter(1), shared), documents, until,
                                      batch.key_hash, batch.key_check, batch.content_hash)))


class Combinations:
    """The writer's side of the numbered combinations: their values, and on SQLite a temporary
    table of them that the insert joins."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.values: dict[int, tuple[Any, ...]] = {}
        self.middles = Middles()
        self.sqlite = session.connection().dialect.name == "sqlite"
        if self.sqlite:
            connection = session.connection()
            # Named for this module; a pooled connection keeps temporary tables, so start afresh.
            connection.exec_driver_sql("DROP TABLE IF EXISTS temp.import_record_combinations")
            connection.exec_driver_sql(f"CREATE TEMP TABLE import_record_combinations (number INTEGER PRIMARY KEY, {', '.join(SHARED)})")
            connection.exec_driver_sql("DROP TABLE IF EXISTS temp.import_record_stage")
            connection.exec_driver_sql(f"CREATE TEMP TABLE import_record_stage ({', '.join(OWN)})")

    def learn(self, batch: RecordColumns) -> None:
        if batch.forget:
            self.values.clear()
            if self.sqlite:
                self.session.connection().exec_driver_sql("DELETE FROM temp.import_record_combinations")
        self.values.update(batch.new_combinations)
        self.middles.learn(batch)
        if self.sqlite and batch.new_combinations:
            self.session.connection().exec_driver_sql(
                f"INSERT INTO temp.import_record_combinations VALUES ({', '.join(['?'] * (1 + len(SHARED)))})",
                [(number, *values) for number, values in batch.new_combinations])

    def insert(self, table: Table, rows: list[tuple[Any, ...]], constants: dict[str, Any]) -> None:
        """INSERT ``rows`` (``OWN`` values each) into ``table`` on SQLite, through the staging
        table joined with the combinations; ``constants``: the value of each remaining column."""
        connection = self.session.connection()
        connection.exec_driver_sql(f"INSERT INTO temp.import_record_stage VALUES ({', '.join(['?'] * len(OWN))})", rows)
        names = [c.name for c in table.columns]
        picked = [f"c.{n}" if n in SHARED else "?" if n in constants else f"s.{n}" for n in names]
        connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(picked)} FROM temp.import_record_stage s "
            "JOIN temp.import_record_combinations c ON c.number = s.combination ORDER BY s.rowid",
            tuple(constants[n] for n in names if n in constants))
        connection.exec_driver_sql("DELETE FROM temp.import_record_stage")
