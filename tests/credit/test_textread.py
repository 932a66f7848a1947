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
