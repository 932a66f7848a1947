"""Streaming reads and writes of CSV and XLSX tables, with encoding detection and formula safety."""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credit.errors import ExportError, ImportFileError

SUFFIXES = (".csv", ".xlsx")
# openpyxl's write limit; larger exports must go to CSV.
XLSX_MAX_ROWS = 1_048_576
_CHUNK = 1 << 20
# Cells starting with these are run as formulas by spreadsheet programs (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# What openpyxl raises on a damaged workbook, on opening it or later while reading a row: a bad
# zip or deflate stream, a missing part, malformed XML (ParseError is a SyntaxError), and parts
# or values its readers cannot convert (TypeError from its descriptors, ValueError, IndexError).
_DAMAGED_XLSX = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, SyntaxError, KeyError, IndexError, ValueError, TypeError, AttributeError,
    RuntimeError,  # from zipfile: an unsupported compression method, or an encrypted member
)



class Formula(str):
    """The text of a spreadsheet formula cell; imports refuse it rather than trust a cached value."""


class ErrorValue(str):
    """An error cell (#N/A, #DIV/0!, #REF!...): no value at all, so imports refuse it too."""


Cell = str | dt.date | dt.datetime | int | float | bool | None


@dataclass(frozen=True)
class Table:
    """An open table: its header and a one-pass iterator of (row number, cells)."""

    header: list[str]
    rows: Iterator[tuple[int, list[Cell]]]
    close: Callable[[], None]
    encoding: str | None = None
    digested: bool = False  # the digest given to open_table was fed the whole file

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def table_format(path: Path) -> str:
    """``csv`` or ``xlsx`` from the file name; ``ValueError`` for anything else."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path.name}: unsupported file type {suffix or '(none)'}; use .csv or .xlsx")
    return suffix[1:]


def detect_encoding(path: Path, digest: Any = None) -> str:
    """UTF-8 (with or without BOM) or GB18030, decided by a strict streaming pass over the file.

    ``digest``, a hashlib object, is fed the file's bytes by that pass: an import, which records
    the file's SHA-256, reads a large file once instead of twice. It holds the whole file only
    if the file is UTF-8 (``Table.digested``)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(f"{path.name}: UTF-16 files are not supported; save the file as CSV UTF-8")
    else:
        encoding = "utf-8"
    if _decodes(path, encoding, digest):
        return encoding
    if encoding == "utf-8-sig":
        raise ImportFileError(f"{path.name}: the file starts as UTF-8 (byte order mark) but is not UTF-8 throughout; save it as CSV UTF-8")
    if _decodes(path, "gb18030"):
        line = _utf8_line(path)
        if line is not None:
            raise ImportFileError(f"{path.name}: line {line} is UTF-8 but the rest of the file is GB18030; save the whole file as CSV UTF-8")
        return "gb18030"
    raise ImportFileError(f"{path.name}: the file is neither UTF-8 nor GB18030 text; save it as CSV UTF-8")


def _decodes(path: Path, encoding: str, digest: Any = None) -> bool:
    """Whether the whole file decodes strictly; ``digest`` (a hashlib object) is fed each chunk read."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                if b"\x00" in chunk:
                    return False
                if digest is not None:
                    digest.update(chunk)
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


# UTF-8 Chinese text mostly decodes as GB18030 too, as mojibake (重庆 → 閲嶅簡): a file with some
# lines saved as UTF-8 and others as GB18030 is GB18030 as a whole and would load garbled names.
# So a line that is valid UTF-8 with a Chinese character in it marks such a file. GB18030 text
# reads as that about once in 10,000 lines of only three Chinese characters, hardly ever in longer ones.
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_CHINESE = re.compile("[\u4e00-\u9fff]")


def _lines(path: Path) -> Iterator[bytes]:
    """The lines of a file as bytes, split at CRLF, CR or LF, read a chunk at a time."""
    carry = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            if chunk.endswith(b"\r"):
                chunk += fh.read(1)  # keep a CRLF whole
            *lines, carry = _NEWLINE.split(carry + chunk)
            yield from lines
    yield carry


def _utf8_line(path: Path) -> int | None:
    """The number of the first line that is UTF-8 with a Chinese character in it, or None."""
    for number, line in enumerate(_lines(path), start=1):
        if line.isascii():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if _CHINESE.search(text):
            return number
    return None


def open_table(path: Path, sheet: str | None = None, *, encoding: str | None = None, digest: Any = None) -> Table:
    """Open a CSV or XLSX file for streaming; file-level problems raise ``ImportFileError``.

    A CSV file's encoding is detected unless given (``Table.encoding`` of an earlier opening);
    ``digest`` as for ``detect_encoding``."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    fmt = table_format(path)
    if fmt == "csv":
        if sheet is not None:
            raise ImportFileError(f"{path.name}: --sheet applies only to .xlsx files")
        return _open_csv(path, encoding, digest)
    return _open_xlsx(path, sheet)


def _non_blank(rows: Iterable[tuple[int, list[Cell]]]) -> Iterator[tuple[int, list[Cell]]]:
    for number, cells in rows:
        try:
            # All text (every CSV row): some cell is not blank exactly when their join is not.
            if "".join(cells).strip():  # type: ignore[arg-type]
                yield number, cells
            continue
        except TypeError:  # a number, a date or an empty cell of a workbook
            pass
        if any(c is not None and (not isinstance(c, str) or c.strip()) for c in cells):
            yield number, cells


def _open_csv(path: Path, encoding: str | None, digest: Any) -> Table:
    digested = encoding is None and digest is not None
    if encoding is None:
        encoding = detect_encoding(path, digest)
        digested = digested and encoding != "gb18030"
    fh = path.open("r", encoding=encoding, newline="")
    reader = csv.reader(fh, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        fh.close()
        raise ImportFileError(f"{path.name}: the file is empty") from None
    except csv.Error as exc:
        fh.close()
        raise ImportFileError(f"{path.name}: not a readable CSV file ({exc})") from None

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        # Row numbers as a spreadsheet shows them: the header is row 1.
        try:
            yield from enumerate(reader, start=2)  # each row a new list already
        except csv.Error as exc:
            raise ImportFileError(f"{path.name}: row {reader.line_num}: not readable CSV ({exc})") from None
        finally:
            fh.close()

    return Table(header=[h.strip() for h in header], rows=_non_blank(rows()), close=fh.close, encoding=encoding, digested=digested)


def _open_xlsx(path: Path, sheet: str | None) -> Table:
    import openpyxl

    # Opened here, not by openpyxl, so that a workbook it fails on halfway is still closed.
    fh = path.open("rb")
    try:
        with warnings.catch_warnings():
            # openpyxl warns of parts it drops or repairs (styles, defined names, relationships):
            # nothing the import reads, and a user would see the warning's source line.
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            # data_only=False so a formula shows as its text and is rejected, never silently evaluated.
            # A damaged stylesheet makes openpyxl print the bad index to stdout, where --json output
            # goes, before it fails: the failure is reported below, the print dropped.
            with contextlib.redirect_stdout(io.StringIO()):
                book = openpyxl.load_workbook(fh, read_only=True, data_only=False)
    except _DAMAGED_XLSX as exc:
        fh.close()
        raise ImportFileError(f"{path.name}: not a readable .xlsx workbook ({type(exc).__name__})") from None

    def close_book() -> None:
        book.close()
        fh.close()

    try:
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
    except KeyError:
        names = ", ".join(book.sheetnames)
        close_book()
        raise ImportFileError(f"{path.name}: no sheet named {sheet!r}; the sheets are: {names}") from None
    except IndexError:
        close_book()
        raise ImportFileError(f"{path.name}: the workbook has no worksheet") from None
    if not hasattr(worksheet, "iter_rows"):
        close_book()
        raise ImportFileError(f"{path.name}: sheet {worksheet.title!r} is a chart, not a table")
    # Read-only mode stops at the size the <dimension> element claims, and a stale one (written
    # by some exporters) would silently drop the rows and columns beyond it: read every cell.
    worksheet.reset_dimensions()
    it = worksheet.iter_rows()

    def damaged(exc: Exception, where: str) -> ImportFileError:
        it.close()
        close_book()
        return ImportFileError(f"{path.name}: sheet {worksheet.title!r} is damaged {where} ({type(exc).__name__}); save it again from Excel")

    try:
        header_row = [_cell_value(c) for c in next(it, ())]
    except _DAMAGED_XLSX as exc:
        raise damaged(exc, "in its header row") from None
    if all(c is None for c in header_row):
        it.close()
        close_book()
        raise ImportFileError(f"{path.name}: sheet {worksheet.title!r} is empty")
    header = ["" if c is None else str(c).strip() for c in header_row]

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        number = 1
        try:
            for number, cells in enumerate(it, start=2):
                yield number, [_cell_value(c) for c in cells]
        except _DAMAGED_XLSX as exc:
            # openpyxl parses the sheet as it goes: damage far down shows only when reached.
            raise damaged(exc, f"after row {number}") from None

    def close() -> None:
        # The open sheet stream keeps the zip file open until the generator is closed.
        it.close()
        close_book()

    return Table(header=header, rows=_non_blank(rows()), close=close)


def _cell_value(cell: Any) -> Cell:
    value = getattr(cell, "value", None)
    if isinstance(value, str):
        data_type = getattr(cell, "data_type", None)
        if data_type == "f":
            return Formula(value)
        if data_type == "e":
            return ErrorValue(value)
    return value


def neutralise(value: str) -> str:
    """Prefix a text cell a spreadsheet would run as a formula with an apostrophe."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def unneutralise(value: str) -> str:
    """Undo ``neutralise`` so an exported file imports back unchanged."""
    if len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


class TableWriter:
    """Writes a CSV (UTF-8 with BOM, for Excel) or XLSX file row by row, neutralising formulas."""

    def __init__(self, path: Path, header: Sequence[str], sheet_title: str = "Sheet1") -> None:
        self.path = path
        self.format = table_format(path)
        self.count = 0
        if self.format == "csv":
            self._fh = path.open("w", encoding="utf-8-sig", newline="")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(header)
        else:
            import openpyxl

            # A write-only workbook spools rows to a temporary file: memory stays flat.
            self._book = openpyxl.Workbook(write_only=True)
            self._sheet = self._book.create_sheet(sheet_title)
            self._sheet.append(list(header))

    def append(self, row: Sequence[Cell]) -> None:
        self.count += 1
        if self.format == "csv":
            self._csv.writerow(["" if v is None else neutralise(v) if isinstance(v, str) else _text(v) for v in row])
            return
        if self.count + 1 > XLSX_MAX_ROWS:
            raise ExportError(f"{self.path.name}: more than {XLSX_MAX_ROWS - 1} rows do not fit in .xlsx; export to .csv")
        from openpyxl.cell import WriteOnlyCell

        cells = []
        for value in row:
            cell = WriteOnlyCell(self._sheet, value=value)
            if isinstance(value, str):
                # openpyxl would turn a leading "=" into a formula; force a text cell instead.
                cell.data_type = "s"
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        self._sheet.append(cells)

    def close(self) -> None:
        """Finish the file (an XLSX file is only written here)."""
        if self.format == "csv":
            self._fh.close()
        else:
            self._book.save(self.path)


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[Cell]], sheet_title: str = "Sheet1") -> int:
    """Write ``rows`` under ``header`` to a .csv or .xlsx file, streaming; returns the row count.

    On an error nothing is saved for XLSX; a CSV may be left partly written.
    """
    writer = TableWriter(path, header, sheet_title)
    try:
        for row in rows:
            writer.append(row)
    except BaseException:
        if writer.format == "csv":
            writer.close()
        raise
    writer.close()
    return writer.count


def _text(value: Cell) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class RejectWriter:
    """Streams rejected rows, with row number, columns and reasons, to a .csv or .xlsx file."""

    HEADER = ("行号(row)", "列(column)", "原因(reason)")

    def __init__(self, path: Path) -> None:
        self._writer = TableWriter(path, self.HEADER, sheet_title="rejects")

    def write(self, rejection: Any) -> None:
        """Append one rejection (``credit.importing.Rejection``) followed by its original cells."""
        columns = "; ".join(col for col, _ in rejection.problems if col)
        reasons = "; ".join(reason for _, reason in rejection.problems)
        self._writer.append([rejection.row, columns, reasons, *rejection.cells])

    def close(self) -> None:
        """Finish the file; an empty rejects file still gets its header."""
        self._writer.close()
