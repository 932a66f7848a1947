"""The streaming import loop shared by every directory: read, parse, check, write in batches."""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
import re
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, ClassVar

import structlog
from sqlalchemy.orm import Session

from credit import audit, fields
from credit.db import tune_for_bulk
from credit.errors import ImportFileError, SpotcheckError
from credit.models import ImportRun
from credit.pipeline import PARALLEL_FROM_BYTES, cells_of, parsed_batches, parsed_batches_in_child
from credit.tabular import Cell, open_table

log = structlog.get_logger()
PROGRESS_EVERY_S = 2.0
# Rejections kept in memory for the report; every one still goes to the rejects file.
MAX_REPORTED = 1000
# A reason quotes the cell it refuses, and a cell may be 100,000 characters long or hold line
# breaks: a longer reason loses its middle, and control characters are escaped, so each reason
# stays one readable line of the report.
MAX_REASON = 300
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Column:
    """One column of a directory file: English header, Chinese header, parser."""

    name: str
    label: str
    parse: Callable[[Cell], Any]
    required: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"{self.name} ({self.label})"


@dataclass
class Row:
    """A parsed row: its spreadsheet row number, typed values (or what the directory's ``pack``
    made of them) and the raw cells (joined, from the parsing process: ``pipeline.cells_of``)."""

    number: int
    values: Any
    cells: list[Cell] | str


@dataclass(frozen=True)
class Rejection:
    """Why one row was refused: (column, reason) pairs; column is "" for the row as a whole."""

    file: str
    row: int
    problems: tuple[tuple[str, str], ...]
    cells: tuple[Cell, ...] = ()

    def lines(self) -> list[str]:
        return [f"{self.file}: row {self.row}: {col + ': ' if col else ''}{reason}" for col, reason in self.problems]


@dataclass
class ImportReport:
    """What an import did or would have done."""

    kind: str
    file: str
    encoding: str | None = None
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    import_id: int | None = None
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected}


class ImportRejected(SpotcheckError):
    """Rows were refused and --skip-invalid was not given: nothing is written."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        super().__init__(
            f"{report.file}: {report.rejected} row(s) rejected; nothing was written "
            "(fix them, or use --skip-invalid --rejects FILE to load the valid rows)"
        )


class Directory:
    """One kind of directory file. Subclasses declare columns and how a batch is written."""

    kind: ClassVar[str]
    batch_size: ClassVar[int] = 2000

    def __init__(self, session: Session, run: ImportRun | None, today: dt.date) -> None:
        self.session = session
        self.run = run
        self.today = today
        self.counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        self._first_rows: dict[Hashable, int] = {}

    def columns(self) -> Sequence[Column]:
        raise NotImplementedError

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """Cross-column and lookup checks of one parsed row; may complete ``values``."""
        return []

    def duplicate_of(self, key: Hashable, row: Row) -> int | None:
        """The earlier row of this file with ``key``, or None (and ``row`` becomes that row)."""
        earlier = self._first_rows.get(key)
        if earlier is None:
            self._first_rows[key] = row.number
        return earlier

    # What write() needs of a checked row, made where the row was parsed: a smaller, plainer
    # message from the parsing process than the values themselves. None: the values as they are.
    pack: ClassVar[Callable[[dict[str, Any]], Any] | None] = None

    def write(self, batch: list[Row]) -> list[tuple[Row, str, str]]:
        """Upsert a batch, counting into ``self.counts``; return (row, column, reason) refusals."""
        raise NotImplementedError

    def batch_rules(self) -> BatchRules | None:
        """The directory's check and pack of whole batches, if it has them (``BatchRules``)."""
        return None

    def write_batch(self, numbers: list[int], values: Any, cells: list[Any]) -> list[tuple[Row, str, str]]:
        """``write`` of a ``ParsedBatch``'s good rows; ``values`` as ``batch_rules().pack`` made
        them, or a list of each row's."""
        return self.write([Row(n, v, c) for n, v, c in zip(numbers, values, cells, strict=True)])

    def finish(self) -> None:
        """After the last batch, in the import's transaction: write what was kept for the end."""

    @classmethod
    def export_header(cls, columns: Sequence[Column], english: bool) -> list[str]:
        return [c.name if english else c.label for c in columns]

    def export_rows(self) -> Iterator[list[Cell]]:
        """Every row of the directory in the import format, in key order."""
        raise NotImplementedError


def one_line(reason: str) -> str:
    """``reason`` with control characters and line breaks escaped (\\n), its middle cut if too long."""
    if _LINE_BREAKING.search(reason):
        reason = _LINE_BREAKING.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), reason)
    if len(reason) > MAX_REASON:
        # The head names the problem and the tail usually says what is expected: keep both.
        reason = f"{reason[:100]} … ({len(reason) - 200} characters left out) … {reason[-100:]}"
    return reason


def _header_key(text: str) -> str:
    return text.strip().lstrip("\ufeff").strip().casefold().replace(" ", "_")


def map_header(file: str, header: list[str], columns: Sequence[Column]) -> tuple[dict[str, int], list[str]]:
    """Column name → position, accepting English or Chinese headers; unknown headers are returned."""
    names: dict[str, Column] = {}
    for col in columns:
        for alias in (col.name, col.label, *col.aliases):
            names[_header_key(alias)] = col
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, title in enumerate(header):
        col = names.get(_header_key(title))
        if col is None:
            if title.strip():
                ignored.append(title)
            continue
        if col.name in positions:
            raise ImportFileError(f"{file}: column {col.title} appears twice in the header")
        positions[col.name] = index
    missing = [c.title for c in columns if c.required and c.name not in positions]
    if missing:
        raise ImportFileError(f"{file}: missing required column(s): {', '.join(missing)}")
    return positions, ignored


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class RowParser:
    """Turns one row of cells into typed values, or into (column, reason) problems. Pure."""

    def __init__(self, columns: Sequence[Column], positions: dict[str, int], check: Callable[[dict[str, Any]], list[tuple[str, str]]],
                 pack: Callable[[dict[str, Any]], Any] | None = None, batch: BatchRules | None = None) -> None:
        self.plan = [(c.name, positions.get(c.name, -1), c.parse, c.required) for c in columns]
        self.check = check
        self.pack = pack
        self.batch = batch
        # The common case, every column in the file and every cell readable, runs without a
        # Python loop: the cells picked by one itemgetter, parsed through map. Any refusal, or a
        # row too short, takes the loop below, which names every problem.
        where = [pos for _, pos, _, _ in self.plan]
        self.names = [name for name, _, _, _ in self.plan]
        self.calls = [_required(parse) if required else parse for _, _, parse, required in self.plan]
        self.pick = operator.itemgetter(*where) if len(where) > 1 and min(where) >= 0 else None
        self.width = max(where, default=-1) + 1
        self.by_column = [_column_parser(parse, call, required) for (_, _, parse, required), call in zip(self.plan, self.calls, strict=True)]
        # parse_batch picks the columns the file has; one it lacks (an optional one: a required
        # column missing from the header refuses the file) holds what its parser makes of None.
        self.present = [j for j, pos in enumerate(where) if pos >= 0]
        picked = [where[j] for j in self.present]
        self.pick_present = operator.itemgetter(*picked) if len(picked) > 1 else (lambda cells: (cells[picked[0]],)) if picked else None
        self.absent: dict[int, Any] | None = {}
        for j, pos in enumerate(where):
            if pos < 0:
                try:
                    self.absent[j] = self.calls[j](None)
                except ValueError:
                    self.absent = None  # every row refused for it: the loop names the problem
                    break

    def parse(self, cells: list[Cell]) -> tuple[Any, list[tuple[str, str]]]:
        if self.pick is not None and len(cells) >= self.width:
            try:
                values = dict(zip(self.names, map(operator.call, self.calls, self.pick(cells))))
            except ValueError:
                pass
            else:
                return self._checked(values)
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        width = len(cells)
        for name, pos, parse, required in self.plan:
            cell = cells[pos] if 0 <= pos < width else None
            if required and (cell is None or (type(cell) is str and not cell.strip())):
                problems.append((name, "missing required value"))
                continue
            try:
                values[name] = parse(cell)
            except ValueError as exc:
                problems.append((name, str(exc)))
        return self._checked(values) if not problems else (values, problems)

    def _checked(self, values: dict[str, Any]) -> tuple[Any, list[tuple[str, str]]]:
        problems = self.check(values)
        if not problems and self.pack is not None:
            return self.pack(values), problems
        return values, problems

    def parse_batch(self, rows: list[tuple[int, list[Cell]]]) -> ParsedBatch:
        """``parse`` of each row, a column at a time: each column's cells parsed together (one
        map, one dict lookup per cell for columns of few values), the directory's ``BatchRules``
        checking and packing whole columns. A row with any problem is parsed again alone, so its
        problems read exactly as ``parse`` gives them."""
        if self.pick_present is None or self.absent is None or not rows:
            return self._row_by_row(rows)
        cells = [c for _, c in rows]
        if min(map(len, cells)) < self.width:
            return self._row_by_row(rows)
        failed: set[int] = set()
        parsed: list[list[Any]] = [[] for _ in self.plan]
        for j, column in zip(self.present, zip(*map(self.pick_present, cells)), strict=True):
            parsed[j] = self.by_column[j](column, failed)
        for j, value in self.absent.items():
            parsed[j] = [value] * len(rows)
        good = [i for i in range(len(rows)) if i not in failed] if failed else range(len(rows))
        if failed:
            parsed = [[column[i] for i in good] for column in parsed]
        values = dict(zip(self.names, parsed))
        if self.batch is None:
            return self._checked_rows(rows, good, values)
        refused = self.batch.check(values)
        if refused:
            skip = set(refused)
            keep = [j for j in range(len(good)) if j not in skip]
            values = {name: [column[j] for j in keep] for name, column in values.items()}
            failed.update(good[j] for j in refused)
            good = [good[j] for j in keep]
        bad = [(rows[i][0], *self.parse(rows[i][1]), rows[i][1]) for i in sorted(failed)]
        payload = self.batch.pack(values) if good else None
        return ParsedBatch(len(rows), bad, [rows[i][0] for i in good], payload, [rows[i][1] for i in good])

    def _checked_rows(self, rows: list[tuple[int, list[Cell]]], good: Sequence[int], values: dict[str, list[Any]]) -> ParsedBatch:
        """The columns' rows checked (and packed) one by one, for a directory with no ``BatchRules``."""
        outcome = dict(zip(good, map(self._checked, map(dict, map(zip, repeat(self.names), zip(*values.values()))))))
        batch = ParsedBatch(len(rows), [], [], [], [])
        for i, (number, cells) in enumerate(rows):
            packed, problems = outcome.get(i) or self.parse(cells)
            if problems:
                batch.bad.append((number, packed, problems, cells))
            else:
                batch.numbers.append(number)
                batch.values.append(packed)
                batch.cells.append(cells)
        return batch

    def _row_by_row(self, rows: list[tuple[int, list[Cell]]]) -> ParsedBatch:
        outcome = [(number, *self.parse(cells), cells) for number, cells in rows]
        good = [r for r in outcome if not r[2]]
        return ParsedBatch(len(rows), [r for r in outcome if r[2]], [r[0] for r in good], [r[1] for r in good], [r[3] for r in good])


@dataclass
class ParsedBatch:
    """A batch of parsed rows: those refused, as (row number, values, problems, cells), and the
    good ones' numbers, values (each row's, packed, or the directory's ``BatchRules.pack`` of
    them all) and cells (joined, from the parsing process: ``pipeline.cells_of``)."""

    rows: int
    bad: list[tuple[int, Any, list[tuple[str, str]], Any]]
    numbers: list[int]
    values: Any
    cells: list[Any]


class BatchRules:
    """A directory's check and pack of a whole batch of parsed rows at once, a list per column:
    for the directories imported by the million, where a Python call per row is what costs."""

    def check(self, columns: dict[str, list[Any]]) -> list[int]:
        """Positions of the rows ``Directory.check`` would refuse (it names their problems)."""
        raise NotImplementedError

    def pack(self, columns: dict[str, list[Any]]) -> Any:
        """What ``Directory.write_batch`` needs of these checked rows."""
        raise NotImplementedError


def _column_parser(parse: Callable[[Cell], Any], call: Callable[[Cell], Any], required: bool) -> Callable[[Sequence[Cell], set[int]], list[Any]]:
    """A function parsing a column's cells together, adding the positions it refuses to the set
    it is given: through a memory of each cell text's value for a column of few values
    (``fields.memo``), through ``parse.on_texts`` for a column of plain text, else cell by cell."""
    on_texts = getattr(parse, "on_texts", None)
    known: dict[str, Any] = {}

    def one_by_one(cells: Sequence[Cell], failed: set[int]) -> list[Any]:
        values: list[Any] = []
        for i, cell in enumerate(cells):
            try:
                values.append(call(cell))
            except ValueError:
                values.append(None)
                failed.add(i)
        return values

    def remembered(cells: Sequence[Cell], failed: set[int]) -> list[Any]:
        if not fields.all_text(cells):
            return one_by_one(cells, failed)  # a formula's text must not pass for the same plain text
        values = list(map(known.get, cells, repeat(_UNKNOWN)))
        if _UNKNOWN in values:
            for i, value in enumerate(values):
                if value is _UNKNOWN:
                    cell = cells[i]
                    try:
                        values[i] = call(cell)
                    except ValueError:
                        values[i] = None
                        failed.add(i)
                        continue
                    if len(known) >= MEMO_LIMIT:
                        known.clear()
                    known[cell] = values[i]
        return values

    def from_texts(cells: Sequence[Cell], failed: set[int]) -> list[Any]:
        try:
            values = fields.texts(cells)
            if required and "" in values:
                raise ValueError("a required value is missing")
            return on_texts(values)  # type: ignore[misc,no-any-return]
        except (TypeError, ValueError):
            return one_by_one(cells, failed)

    if getattr(parse, "memoized", False):
        return remembered
    return from_texts if on_texts is not None else one_by_one


_UNKNOWN = object()
MEMO_LIMIT = 4096


def _required(parse: Callable[[Cell], Any]) -> Callable[[Cell], Any]:
    """``parse`` refusing a blank cell, so that a row missing a required value leaves the fast
    path for the loop, which names the problem."""

    def parse_required(cell: Cell) -> Any:
        if cell is None or (type(cell) is str and not cell.strip()):
            raise ValueError("missing required value")
        return parse(cell)

    return parse_required


def run_import(
    session: Session,
    directory_cls: type[Directory],
    path: Path,
    *,
    sheet: str | None = None,
    skip_invalid: bool = False,
    today: dt.date | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
    parallel: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import ``path`` as ``directory_cls`` in the caller's transaction.

    Raises ``ImportRejected`` (so the caller rolls back) when a row is refused and
    ``skip_invalid`` is false; ``on_reject`` sees every refusal either way. Large files
    are read and parsed in a second process while this one writes (``parallel``).
    ``progress`` hears the number of rows read so far after each batch.
    """
    started = time.perf_counter()
    file = path.name
    tune_for_bulk(session)
    digest = hashlib.sha256()
    with open_table(path, sheet, digest=digest) as table:  # a CSV file's bytes are hashed as its encoding is found
        header, encoding = table.header, table.encoding
        file_sha256 = digest.hexdigest() if table.digested else sha256_file(path)
    report = ImportReport(kind=directory_cls.kind, file=file, encoding=encoding)
    run = ImportRun(kind=directory_cls.kind, file_name=file, file_sha256=file_sha256)
    session.add(run)
    session.flush()
    report.import_id = run.id
    directory = directory_cls(session, run, today or dt.date.today())
    columns = directory.columns()
    positions, report.ignored_columns = map_header(file, header, columns)
    if report.ignored_columns:
        log.warning("columns_ignored", file=file, columns=report.ignored_columns)
    parser = RowParser(columns, positions, directory.check, directory.pack, directory.batch_rules())

    def reject(number: int, problems: Sequence[tuple[str, str]], cells: list[Cell] | str) -> None:
        rejection = Rejection(file, number, tuple((col, one_line(reason)) for col, reason in problems), tuple(cells_of(cells)))
        report.rejected += 1
        if len(report.rejections) < MAX_REPORTED:
            report.rejections.append(rejection)
        if on_reject is not None:
            on_reject(rejection)

    if parallel is None:
        parallel = path.stat().st_size >= PARALLEL_FROM_BYTES
    batches = parsed_batches_in_child if parallel else parsed_batches
    seen = 0
    # A large file reports its first batch written at once, then every PROGRESS_EVERY_S: the
    # user sees the import at work from the start, even one that takes a second or two.
    last_progress = started - PROGRESS_EVERY_S if parallel else started
    for batch in batches(path, sheet, parser, directory.batch_size, encoding):
        for number, _, problems, cells in batch.bad:
            reject(number, problems, cells)
        seen += batch.rows
        refused: dict[int, tuple[Row, list[tuple[str, str]]]] = {}
        for row, column, reason in directory.write_batch(batch.numbers, batch.values, batch.cells) if batch.numbers else ():
            refused.setdefault(row.number, (row, []))[1].append((column, reason))
        for row, problems in refused.values():
            reject(row.number, problems, row.cells)
        audit.checkpoint(session)
        if progress is not None:
            progress(seen)
        now = time.perf_counter()
        if now - last_progress >= PROGRESS_EVERY_S:
            last_progress = now
            log.info("import_progress", kind=directory_cls.kind, rows=seen, rows_per_s=round(seen / (now - started)))
    if seen == 0:
        raise ImportFileError(f"{file}: the file has a header but no data rows")
    directory.finish()
    report.inserted, report.updated, report.unchanged = (directory.counts[k] for k in ("inserted", "updated", "unchanged"))
    run.inserted, run.updated, run.unchanged, run.rejected = report.inserted, report.updated, report.unchanged, report.rejected
    report.seconds = time.perf_counter() - started
    if report.rejected and not skip_invalid:
        raise ImportRejected(report)
    audit.record(session, "directory.import",
                 f"import {directory_cls.kind} {file}: {report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged, {report.rejected} rejected",
                 subject=file, detail={"kind": directory_cls.kind, "sha256": run.file_sha256, **report.counts()})
    return report
