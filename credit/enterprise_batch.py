"""The enterprise directory a batch at a time: checked and packed as columns in the parsing
process (content digests, the JSON of each row's audit hash), inserted all at once by the writer
when every USCC of the batch is new, as ``record_batch`` does for credit records."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from credit.audit_chain import encode_json, hash_json_rows, json_id, plain_values
from credit.digest import canonical
from credit.fields import remembered_each
from credit.importing import BatchRules
from credit.record_batch import blake2b_signed

# Columns whose every row differs (names, people, addresses): spelled row by row, not remembered.
FREE_TEXT = ("uscc", "name", "legal_rep", "address")
FRAGMENTS_LIMIT = 100_000


class EnterpriseColumns(NamedTuple):
    """A batch of checked enterprises: the parsed values a list per column, each row's content
    digest, and the JSON of its USCC, fields and digest in table order (its audit hash's middle)."""

    columns: dict[str, list[Any]]
    content_hash: list[int]
    middles: list[bytes]


class EnterpriseRules(BatchRules):
    """``Enterprises.check`` (and its content digest) of a whole batch."""

    def __init__(self, fields: Sequence[str], districts: set[str]) -> None:
        self.fields = tuple(fields)  # directory.ENTERPRISE_FIELDS, in table order
        self.districts = districts
        self.fragments: dict[str, dict[Any, tuple[bytes, str]]] = {n: {} for n in self.fields if n not in FREE_TEXT}
        self.middle = (b"%b," * (1 + len(self.fields)) + b"%d").__mod__

    def check(self, columns: dict[str, list[Any]]) -> list[int]:
        known = list(map(self.districts.__contains__, columns["district_code"]))
        refused = [i for i, ok in enumerate(known) if not ok] if False in known else []
        refused += [i for i, (since, registered) in enumerate(zip(columns["new_economy_since"], columns["registered_on"]))
                    if since is not None and since < registered]
        return sorted(set(refused))

    def _fragments(self, name: str, values: list[Any]) -> list[tuple[bytes, str]]:
        """(JSON in UTF-8, canonical text) of each value, remembered per column."""
        return remembered_each(self.fragments[name], values, _fragment, FRAGMENTS_LIMIT)

    def pack(self, columns: dict[str, list[Any]]) -> EnterpriseColumns:
        jsons: dict[str, Sequence[bytes]] = {}
        texts: dict[str, Sequence[str]] = {}
        for name in ("uscc", *self.fields):
            values = columns[name]
            if name in FREE_TEXT:
                jsons[name] = [b"null" if v is None else encode_basestring(v).encode() for v in values]
                texts[name] = [v or "" for v in values]
            else:
                jsons[name], texts[name] = zip(*self._fragments(name, values))
        # Enterprises.check: the digest of the canonical text of the fields.
        content_hash = blake2b_signed(list(map("\x1f".join, zip(*(texts[n] for n in self.fields)))), 8).tolist()
        middles = list(map(self.middle, zip(*(jsons[n] for n in ("uscc", *self.fields)), content_hash)))
        return EnterpriseColumns(columns, content_hash, middles)


def _fragment(value: Any) -> tuple[bytes, str]:
    return encode_json(plain_values([value])[0]).encode(), canonical([value])


def new_rows(batch: EnterpriseColumns, fields: Sequence[str], ids: Sequence[int], numbers: Sequence[int], run_id: int | None) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The rows to insert (``id``, uscc, ``fields``, content_hash, import_id, source_row: the
    table's order) and their audit hashes."""
    columns = batch.columns
    rows = list(zip(ids, columns["uscc"], *(columns[n] for n in fields), batch.content_hash, repeat(run_id), numbers))
    return rows, hash_json_rows(b"[%d,%b," + json_id(run_id) + b",%d]", ids, batch.middles, numbers)
