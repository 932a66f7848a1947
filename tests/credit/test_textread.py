"""credit.textread: integers handed over by SQLite as one text, never one lost silently."""

from __future__ import annotations

import numpy as np
import pytest

from credit.errors import SpotcheckError
from credit.textread import parse_ints


def test_parses_what_group_concat_writes() -> None:
    values = parse_ints("7,-3,4294967296000,0", 4, "x")
    assert values.dtype == np.int64 and values.tolist() == [7, -3, 4294967296000, 0]
    assert parse_ints(None, 0, "x").tolist() == []  # group_concat of no rows is NULL


@pytest.mark.parametrize(("text", "expected"), [("1,2", 3), ("1,,3", 3), (None, 1), ("1,2,3", 2)])
def test_a_missing_or_extra_number_is_refused(text: str | None, expected: int) -> None:
    with pytest.raises(SpotcheckError, match=f"grades: {expected} numbers expected, .* readable"):
        parse_ints(text, expected, "grades")


def test_fixed_width_values_side_by_side() -> None:
    from credit.textread import parse_fixed

    assert parse_fixed("91500106MA5U1234XY91500106MA5U1235XY", 2, 18, "USCCs").tolist() == [b"91500106MA5U1234XY", b"91500106MA5U1235XY"]
    assert parse_fixed(None, 0, 18, "USCCs").tolist() == []
    with pytest.raises(SpotcheckError, match="USCCs: 2 values of 18 characters expected, 35 bytes read"):
        parse_fixed("91500106MA5U1234XY91500106MA5U1235X", 2, 18, "USCCs")
    with pytest.raises(SpotcheckError, match="20 bytes read"):  # a character of three bytes: refused, not shifted
        parse_fixed("91500106MA5U1234X统"[:18], 1, 18, "USCCs")

