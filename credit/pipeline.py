"""Reading and parsing a table in batches, in this process or in a forked child.

Parsing (CSV decoding, USCC check characters, dates) is pure CPU work; in a child
process it overlaps with the database writes of the parent, using both cores.
"""

from __future__ import annotations

import gc
import multiprocessing
import pickle
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credit.errors import ImportFileError
from credit.tabular import Cell, open_table

if TYPE_CHECKING:
    from credit.importing import ParsedBatch, RowParser

# Below this size a second process costs more than it saves.
PARALLEL_FROM_BYTES = 4 << 20

_CELLS = "\x1f"  # joins a row's text cells for the pipe: the unit separator
_ROWS = "\x1e"  # joins a batch's rows: the record separator


def joined_cells(cells: list[Cell]) -> list[Cell] | str:
    """A row's cells as one text when they are all text without the separator: one string to
    pickle instead of a dozen, for cells that are only read again if the row is refused."""
    if all(type(c) is str and _CELLS not in c for c in cells):
        return _CELLS.join(cells)  # type: ignore[arg-type]
    return cells


def joined_rows(rows: list[list[Cell]]) -> Sequence[list[Cell] | str]:
    """``joined_cells`` of each row, without a Python call per row when every cell is text: then
    as ``JoinedRows``, the whole batch one UTF-8 text that the writer splits only if a row of
    it is refused."""
    try:
        text = _ROWS.join(map(_CELLS.join, rows))
    except TypeError:  # a cell that is not text
        return list(map(joined_cells, rows))
    if text.count(_CELLS) != sum(map(len, rows)) - len(rows) or text.count(_ROWS) != len(rows) - 1:  # a cell held a separator
        return list(map(joined_cells, rows))
    return JoinedRows(text.encode(), len(rows))


class JoinedRows(Sequence[str]):
    """The joined cells of a batch's rows, kept as one UTF-8 text until a row is asked for."""

    def __init__(self, text: bytes, count: int) -> None:
        self.text = text
        self.count = count
        self._rows: list[str] | None = None

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Any) -> Any:
        if self._rows is None:
            self._rows = self.text.decode().split(_ROWS)
        return self._rows[index]

    def __reduce__(self) -> tuple[Any, ...]:
        return JoinedRows, (self.text, self.count)  # the text alone crosses the pipe


def cells_of(cells: list[Cell] | str) -> list[Cell]:
    """The cells ``joined_cells`` was given."""
    return cells.split(_CELLS) if isinstance(cells, str) else cells


def parsed_batches(path: Path, sheet: str | None, parser: RowParser, size: int, encoding: str | None = None) -> Iterator[ParsedBatch]:
    """Batches of ``size`` rows parsed in this process; ``encoding``: the CSV file's, if known."""
    with open_table(path, sheet, encoding=encoding) as table:
        rows = iter(table.rows)
        while batch := list(islice(rows, size)):
            yield parser.parse_batch(batch)


def _produce(path: Path, sheet: str | None, parser: RowParser, size: int, encoding: str | None, connection: Any, parents_end: Any) -> None:
    # The fork gave this process the parent's end of the pipe too. Closed here, the parent is its
    # only reader: if the parent dies (killed mid-import), sending fails at once instead of
    # blocking forever on a full pipe that nobody will ever read.
    parents_end.close()
    try:
        for batch in parsed_batches(path, sheet, parser, size, encoding):
            batch.cells = joined_rows(batch.cells)
            batch.bad = [(number, values, problems, joined_cells(cells)) for number, values, problems, cells in batch.bad]
            connection.send_bytes(pickle.dumps(("batch", batch), protocol=pickle.HIGHEST_PROTOCOL))
        connection.send_bytes(pickle.dumps(("done", None)))
    except BrokenPipeError:
        return  # the parent is gone: nobody to report to
    except ImportFileError as exc:
        connection.send_bytes(pickle.dumps(("error", str(exc))))
    except BaseException as exc:  # report, never hang the parent
        connection.send_bytes(pickle.dumps(("crash", f"{type(exc).__name__}: {exc}")))
    finally:
        connection.close()


def parsed_batches_in_child(path: Path, sheet: str | None, parser: RowParser, size: int, encoding: str | None = None) -> Iterator[ParsedBatch]:
    """The same batches as ``parsed_batches``, produced by a forked child process; a row's
    cells may come joined (``cells_of`` splits them).

    The pipe's buffer makes the child wait while the parent writes, so memory stays flat.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_produce, args=(path, sheet, parser, size, encoding, sender, receiver), daemon=True)
    # Every object made so far (modules, the ORM's tables) lives as long as the import: frozen, the
    # cyclic collector of either process stops walking them again for each million rows made and
    # freed, and the child leaves their shared pages unwritten. A tenth of the parsing time.
    gc.freeze()
    child.start()
    sender.close()
    try:
        while True:
            try:
                kind, payload = pickle.loads(receiver.recv_bytes())
            except EOFError:
                raise RuntimeError(f"the parsing process for {path.name} stopped unexpectedly (exit code {child.exitcode})") from None
            if kind == "batch":
                yield payload
            elif kind == "done":
                return
            elif kind == "error":
                raise ImportFileError(payload)
            else:
                raise RuntimeError(f"the parsing process for {path.name} failed: {payload}")
    finally:
        gc.unfreeze()
        receiver.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join()
