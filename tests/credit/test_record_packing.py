"""The records import spells each record's stored values, audit JSON and digests from remembered
fragments, and joins a row's cells for the pipe: every shortcut gives exactly what the plain
formulas give (``plain``, ``encode_json``, ``canonical``), whatever the text holds."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from credit import records
from credit.audit_chain import encode_json, plain_values
from credit.digest import canonical, digest64, digest128
from credit.enums import AbnormalGround, RecordKind, Sector, Severity
from credit.pipeline import cells_of, joined_cells

TEXT = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)  # quotes, backslashes, controls, U+2028 …
VALUES = st.fixed_dictionaries({
    "uscc": st.just("91500000MA5U7ABC1X"),
    "kind": st.sampled_from(list(RecordKind)),
    "severity": st.none() | st.sampled_from(list(Severity)),
    "sector": st.none() | st.sampled_from(list(Sector)),
    "ground": st.none() | st.sampled_from(list(AbnormalGround)),
    "substantiated": st.none() | st.booleans(),
    "result_codes": st.none() | st.sampled_from(["1", "A;2;B", "8"]),
    "occurred_on": st.dates(dt.date(2000, 1, 1), dt.date(2026, 12, 1)),
    "department": TEXT,
    "document_no": st.none() | TEXT,
    "effective_until": st.none() | st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1)),
})


def _reference_digests(values: dict) -> tuple[int, int, int]:
    content = canonical(values[n] for n in records.RECORD_FIELDS)
    key = canonical((values["uscc"], values["kind"], values["document_no"])) if values["document_no"] else f"{values['uscc']}\x1d{content}"
    return (*digest128(key), digest64(content))


@settings(max_examples=400)
@given(VALUES, st.integers(1, 5))
def test_pack_and_digests_equal_the_plain_formulas(values: dict, limit: int) -> None:
    records.FRAGMENTS_LIMIT = limit  # the remembered fragments are dropped and made again
    try:
        values["fields"] = records._fields(values)  # as Records.check leaves them for pack
        digests = records.record_digests(values, values["fields"])
        assert records.record_digests(values) == digests
        values["digests"] = digests
        uscc, packed_digests, stored, middle = records.pack(values)
    finally:
        records.FRAGMENTS_LIMIT = 100_000
    assert digests == _reference_digests(values)
    expected = (*plain_values([values[n] for n in records.RECORD_FIELDS]), *digests)
    assert (uscc, packed_digests, stored, middle) == (values["uscc"], digests, expected, encode_json(expected)[1:-1])


@settings(max_examples=300)
@given(st.lists(st.none() | st.integers() | st.text(max_size=6), min_size=1, max_size=8))
def test_joined_cells_give_the_cells_back(cells: list) -> None:
    assert cells_of(joined_cells(cells)) == cells
