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
from operator import methodcaller
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Table
from sqlalchemy.orm import Session

from credit.audit_chain import hash_json_rows, json_id
from credit.fields import remembered_each
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
# records.pack's middle, in UTF-8: the JSON of the six details, occurred_on, the department,
# document_no, effective_until, then the three digests.
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
    middles: list[bytes]  # records.pack's JSON middle of each row's audit hash, in UTF-8
    new_combinations: list[tuple[int, tuple[Any, ...]]]
    forget: bool  # the combinations numbered before this batch are no longer used


class RecordRules(BatchRules):
    """``Records.check`` and ``records.pack`` of a whole batch (see the module's docstring)."""

    def __init__(self, fields: Sequence[str], fragment: Any, detail_problems: Any) -> None:
        if tuple(fields) != (*SHARED[:6], "occurred_on", SHARED[6], "document_no", "effective_until"):
            raise RuntimeError("RECORD_FIELDS no longer match the order pack() spells them in")
        self.fragment = fragment  # records._fragment: (stored, JSON, canonical text) of a value
        self.detail_problems = detail_problems  # Records.detail_problems
        self.fragments: dict[str, dict[Any, tuple[Any, bytes, str]]] = {"occurred_on": {}, "effective_until": {}}
        self.details: dict[tuple[Any, ...], bool] = {}
        self.detail_names = ("kind", "severity", "sector", "ground", "substantiated", "result_codes")
        self.combinations: dict[tuple[Any, ...], tuple[Any, ...]] = {}
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

    def _fragments(self, name: str, values: list[Any]) -> list[tuple[Any, bytes, str]]:
        """``records._fragment`` of each value, its JSON in UTF-8, remembered per field."""
        return remembered_each(self.fragments[name], values, self._encoded_fragment, COMBINATIONS_LIMIT)

    def _encoded_fragment(self, value: Any) -> tuple[Any, bytes, str]:
        stored, json, text = self.fragment(value)
        return stored, json.encode(), text

    def pack(self, columns: dict[str, list[Any]]) -> RecordColumns:
        shared = self._shared(list(zip(*(columns[n] for n in SHARED))))
        numbers, details_text, department_text, details_json, department_json, kind_text, _ = zip(*shared)
        occurred_stored, occurred_json, occurred_text = zip(*self._fragments("occurred_on", columns["occurred_on"]))
        until_stored, until_json, until_text = zip(*self._fragments("effective_until", columns["effective_until"]))
        documents: list[str | None] = columns["document_no"]
        # records.record_digests: the content is the canonical text of every field (RECORD_FIELDS:
        # the six details, occurred_on, department, document_no, effective_until); the key, the
        # document number when there is one, else the content.
        contents = list(map("\x1f".join, zip(details_text, occurred_text, department_text, [d or "" for d in documents], until_text)))
        usccs = columns["uscc"]
        keys = [f"{u}\x1f{k}\x1f{d}" if d else f"{u}\x1d{c}" for u, k, d, c in zip(usccs, kind_text, documents, contents)]
        key_hash, key_check = blake2b_signed(keys, 16).reshape(-1, 2).T.tolist()
        content_hash = blake2b_signed(contents, 8).tolist()
        documents_json = [b"null" if d is None else encode_basestring(d).encode() for d in documents]
        middles = list(map(_MIDDLE, zip(details_json, occurred_json, department_json, documents_json, until_json, key_hash, key_check, content_hash)))
        forget, self.forget = self.forget, False
        return RecordColumns(usccs, key_hash, key_check, content_hash, list(numbers), list(occurred_stored), documents,
                             list(until_stored), middles, self._new, forget)

    def _shared(self, keys: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """For each record's SHARED values: (its combination's number, the canonical text of the
        six details, of the department, their JSON, the department's, the kind's text, the stored
        values), made once per combination; the combinations first met are noted in ``_new``."""
        if len(self.combinations) >= COMBINATIONS_LIMIT:
            self.combinations.clear()
            self.forget = True
        found = list(map(self.combinations.get, keys))
        self._new: list[tuple[int, tuple[Any, ...]]] = []
        if None in found:
            for i, hit in enumerate(found):
                if hit is None:
                    hit = self.combinations.get(keys[i])  # made for an earlier row of this batch
                    if hit is None:
                        hit = self.combinations[keys[i]] = self._combination(keys[i])
                        self._new.append((hit[0], hit[-1]))
                    found[i] = hit
        return found  # type: ignore[return-value]

    def _combination(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        fragments = [self.fragment(value) for value in key]  # SHARED: six details, then the department
        number, self.next_combination = self.next_combination, self.next_combination + 1
        stored = tuple(f[0] for f in fragments)
        return (number, "\x1f".join(f[2] for f in fragments[:6]), fragments[6][2], ",".join(f[1] for f in fragments[:6]).encode(),
                fragments[6][1].encode(), fragments[0][2], stored)


def blake2b_signed(texts: list[str], size: int) -> np.ndarray:
    """The BLAKE2b digests of ``texts`` (UTF-8), ``size`` bytes each, read as signed big-endian
    64-bit integers as digest.py reads them: one for ``digest64``, two for ``digest128``."""
    return np.frombuffer(b"".join(map(_digest, map(partial(hashlib.blake2b, digest_size=size), map(str.encode, texts)))), dtype=">i8")


def row_hashes(ids: Sequence[int], enterprise_ids: Sequence[int], middles: Sequence[bytes], numbers: Sequence[int], run_id: int | None) -> list[str]:
    """The audit hash of each new record (``records.TABLE_LAYOUT``): id, enterprise, the middle,
    no supersedes_id, not from a result, the import and the row."""
    return hash_json_rows(b"[%d,%d,%b,null,false," + json_id(run_id) + b",%d]", ids, enterprise_ids, middles, numbers)


class Combinations:
    """The writer's side of the numbered combinations: their values, and on SQLite a temporary
    table of them that the insert joins."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.values: dict[int, tuple[Any, ...]] = {}
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
        inserted = connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(picked)} FROM temp.import_record_stage s "
            "JOIN temp.import_record_combinations c ON c.number = s.combination ORDER BY s.rowid",
            tuple(constants[n] for n in names if n in constants)).rowcount
        if inserted != len(rows):  # a combination the writer was never told of: never lose a row silently
            raise RuntimeError(f"{len(rows) - inserted} record(s) of a batch refer to an unknown combination")
        connection.exec_driver_sql("DELETE FROM temp.import_record_stage")
