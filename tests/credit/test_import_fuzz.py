"""Malformed cells never escape as anything but a clear import error, and never write a wrong row.

Every directory kind, in CSV and XLSX: valid rows with random cells swapped for formulas,
numbers, dates, booleans, blanks, control characters or 100,000-character text. The shared
checks are in tests/credit/fuzzing.py; whole-file damage is in test_import_fuzz_csv.py and
test_import_fuzz_xlsx.py, the command line in test_import_fuzz_cli.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credit.records import Records
from tests.credit.fuzzing import KINDS, FuzzFile, attempt, attempt_kind, check_outcome, fuzz, fuzz_files, sessions, write_csv, write_xlsx

__all__ = ["sessions"]  # the database fixture of tests/credit/fuzzing.py, one per module


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("kind_name", sorted(KINDS))
@fuzz(50)
@given(data=st.data(), skip_invalid=st.booleans())
def test_random_cells_write_exactly_the_valid_rows(sessions, tmp_path: Path, kind_name: str, fmt: str, data: st.DataObject, skip_invalid: bool) -> None:
    """Rows left valid are written as they are, rows given a bad cell are refused with their row
    number, and the rest are written or refused (never lost); without --skip-invalid one refusal
    means nothing is written."""
    kind = KINDS[kind_name]
    file: FuzzFile = data.draw(fuzz_files(kind, fmt), label="file")
    path = tmp_path / f"fuzz.{fmt}"
    if fmt == "csv":
        write_csv(path, kind.header, file.rows)
    else:
        write_xlsx(path, [("Sheet1", [kind.header, *file.rows])])
    outcome, written = attempt_kind(sessions, path, kind, skip_invalid=skip_invalid)
    check_outcome(outcome, file, written, kind, skip_invalid)


@fuzz(100)
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_random_bytes_give_clean_errors(sessions, tmp_path: Path, data: bytes, suffix: str) -> None:
    """Random bytes after a records header, or as a whole .xlsx file."""
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(b"uscc,kind,occurred_on,department\n" + data if suffix == ".csv" else data)
    attempt(sessions, path, Records)
