"""Damaged CSV files: mixed encodings, byte order marks, NUL and invalid UTF-8 bytes, CR and CRLF
line endings, a header alone, 1 MB fields. A clean error, or exactly the rows of the file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from credit.errors import ImportFileError
from credit.importing import ImportRejected, ImportReport
from tests.credit.fuzzing import DEPARTMENTS, attempt_kind, fuzz, sessions

__all__ = ["sessions"]  # the database fixture of tests/credit/fuzzing.py, one per module


def _gb18030_is_not_utf8(name: str) -> bool:
    # A name whose GB18030 bytes happen to be valid UTF-8 makes a GB18030 file that is valid UTF-8
    # too: no reader can tell, so such names are left out (about 1 in 10,000 three-character names).
    try:
        name.encode("gb18030").decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


NAMES = st.one_of(
    st.sampled_from(["市场监管局", "重庆企业有限公司", "卫生健康委员会", "税务局", "张三", "企业", "沙坪坝王五小吃店", "应急管理局"]),
    st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=12),
).filter(_gb18030_is_not_utf8)
NEWLINES = st.sampled_from(["\n", "\r\n", "\r"])


def departments_written(sessions, path: Path, **options) -> tuple[ImportReport | Exception, dict]:
    return attempt_kind(sessions, path, DEPARTMENTS, **options)


@fuzz(100)
@given(
    lines=st.lists(st.tuples(NAMES, st.sampled_from(["utf-8", "gb18030"]), NEWLINES), max_size=6, unique_by=lambda t: t[0]),
    bom=st.booleans(),
    header_newline=NEWLINES,
)
def test_mixed_encodings_are_refused_never_garbled(sessions, tmp_path: Path, lines, bom: bool, header_newline: str) -> None:
    """Lines saved as UTF-8 and lines saved as GB18030 in one file (or GB18030 after a UTF-8 byte
    order mark) are refused as a whole; a file in one encoding loads every name as written."""
    data = (b"\xef\xbb\xbf" if bom else b"") + f"code,name{header_newline}".encode()
    for i, (name, encoding, newline) in enumerate(lines):
        data += f"FZ{i:03d},{name}{newline}".encode(encoding)
    path = tmp_path / "mixed.csv"
    path.write_bytes(data)
    outcome, written = departments_written(sessions, path)
    encodings = {encoding for _, encoding, _ in lines}
    if not lines:
        assert isinstance(outcome, ImportFileError) and "no data rows" in str(outcome)
    elif len(encodings) > 1 or (bom and "gb18030" in encodings):
        assert isinstance(outcome, ImportFileError), f"a mixed-encoding file was loaded: {written}"
        assert "UTF-8" in str(outcome), str(outcome)
    else:
        assert isinstance(outcome, ImportReport), str(outcome)
        assert written == {f"FZ{i:03d}": name for i, (name, _, _) in enumerate(lines)}


DAMAGE = st.one_of(
    st.sampled_from([
        b"\x00",  # NUL
        b"\xff",  # never in UTF-8 nor GB18030
        b"\xed\xa0\x80",  # a UTF-16 surrogate (U+D800) encoded as UTF-8
        b"\xed\xbf\xbf\xed\xb0\x80",  # a surrogate pair encoded as two UTF-8 sequences (CESU-8)
        b"\xc0\x80",  # overlong NUL
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
        b"\xe4\xb8",  # a three-byte sequence cut short
        b"\x80",  # a lone continuation byte
        b"\xef\xbb\xbf",  # a byte order mark in the middle
    ]),
    st.binary(min_size=1, max_size=4),
)


@fuzz(100)
@given(names=st.lists(NAMES, min_size=1, max_size=4, unique=True), damage=st.lists(st.tuples(st.floats(0, 1), DAMAGE), min_size=1, max_size=3))
def test_invalid_bytes_give_clean_errors(sessions, tmp_path: Path, names: list[str], damage: list[tuple[float, bytes]]) -> None:
    """NUL bytes, encoded surrogates, overlong and cut-short sequences anywhere in a UTF-8 file."""
    data = bytearray("code,name\r\n".encode() + "".join(f"FZ{i:03d},{n}\r\n" for i, n in enumerate(names)).encode())
    for where, junk in damage:
        data[int(where * len(data)):int(where * len(data))] = junk
    path = tmp_path / "damaged.csv"
    path.write_bytes(bytes(data))
    outcome, _ = departments_written(sessions, path)
    if any(b"\x00" in junk or b"\xff" in junk for _, junk in damage):
        assert isinstance(outcome, ImportFileError), "a file with a NUL or 0xFF byte was read as text"


@fuzz(50)
@given(
    names=st.lists(st.one_of(NAMES, st.sampled_from(["两行\n名称", "回车\r名称", "引号\"名称", "逗号,名称", " 空格 "])), max_size=5, unique=True),
    newlines=st.lists(NEWLINES, min_size=6, max_size=6),
    blank_lines=st.integers(0, 3),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_line_endings_and_header_only(sessions, tmp_path: Path, names: list[str], newlines: list[str], blank_lines: int, encoding: str) -> None:
    """LF, CRLF and CR endings, mixed in one file, quoted line breaks, trailing blank lines, and a
    header with no rows: every row loads as written, or the file is refused as having none."""
    buffer = io.StringIO()
    # csv quotes a field only for the line ending it writes: a CR in a name needs QUOTE_ALL under LF.
    quoting = csv.QUOTE_ALL if any("\r" in n or "\n" in n for n in names) else csv.QUOTE_MINIMAL
    for number, row in enumerate([["code", "name"], *([f"FZ{i:03d}", n] for i, n in enumerate(names))]):
        csv.writer(buffer, lineterminator=newlines[number], quoting=quoting).writerow(row)
    buffer.write(newlines[0] * blank_lines)
    path = tmp_path / "endings.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    outcome, written = departments_written(sessions, path)
    if not names:
        assert isinstance(outcome, ImportFileError) and "header but no data rows" in str(outcome)
        return
    assert isinstance(outcome, ImportReport), str(outcome)
    # Names are stored stripped, as every text cell is.
    assert written == {f"FZ{i:03d}": n.strip() for i, n in enumerate(names)}


FIELD_LIMIT = csv.field_size_limit()


@fuzz(20)
@given(
    length=st.sampled_from([1000, FIELD_LIMIT, FIELD_LIMIT + 1, 1 << 20]),
    char=st.sampled_from(["x", "企", "\""]),
    row=st.integers(0, 2),
    column=st.integers(0, 1),
    quote_all=st.booleans(),
    extra_cells=st.sampled_from([0, 100, 200_000]),
    skip_invalid=st.booleans(),
)
def test_huge_fields_and_lines(sessions, tmp_path: Path, length: int, char: str, row: int, column: int, quote_all: bool, extra_cells: int, skip_invalid: bool) -> None:
    """A field of up to 1 MB is refused with its row (the file, beyond the CSV field limit); a line
    of 200,000 cells loads the cells under the header and ignores the rest."""
    rows = [[f"FZ{i:03d}", f"模糊测试部门{i}", *[""] * extra_cells] for i in range(3)]
    rows[row][column] = char * length
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(["code", "name"])
        writer.writerows(rows)
    outcome, written = departments_written(sessions, path, skip_invalid=skip_invalid)
    if length > FIELD_LIMIT:
        assert isinstance(outcome, ImportFileError) and f"row {row + 2}: " in str(outcome), str(outcome)
        assert len(str(outcome)) < 300
        return
    others = {f"FZ{i:03d}": f"模糊测试部门{i}" for i in range(3) if i != row}
    if isinstance(outcome, ImportRejected):
        assert not skip_invalid and [r.row for r in outcome.report.rejections] == [row + 2]
    else:
        assert skip_invalid, "a 1,000-character code or name was accepted"
        assert written == others
