"""Parsers for one import cell each: return the typed value or raise ``ValueError(reason)``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from credit.labels import Labeled
from credit.tabular import Cell, ErrorValue, Formula, unneutralise

E = TypeVar("E", bound=Labeled)
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")
_TRUE = {"是", "true", "yes", "y", "1", "√"}
_FALSE = {"否", "false", "no", "n", "0", ""}
# GB/T 4754: a section letter, optionally followed by 2, 3 or 4 digits (division, group, class).
_INDUSTRY = re.compile(r"[A-T]([0-9]{2}([0-9]{1,2})?)?")
_DISTRICT = re.compile(r"[0-9]{6}")
LIST_SEPARATORS = re.compile(r"[;；]")
_USCC_SHAPE = re.compile(r"[0-9]{8}[0-9ABCDEFGHJKLMNPQRTUWXY]{10}")


def text(cell: Cell) -> str:
    """The cell as stripped text; formula and error cells are refused."""
    if type(cell) is str:  # the common case, kept cheap: imports call this ~10 times a row
        value = cell.strip()
        return unneutralise(value) if value[:1] == "'" else value
    if isinstance(cell, Formula):
        raise ValueError(f"formula cells are not accepted ({cell[:40]}); paste the values instead")
    if isinstance(cell, ErrorValue):
        raise ValueError(f"error cell {cell}: the spreadsheet could not compute it; fix the cell")
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat()
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return unneutralise(str(cell).strip())


def all_text(cells: Sequence[Cell]) -> bool:
    """Whether every cell is plain text (as every CSV cell is), not a formula, number or date."""
    return set(map(type, cells)) == {str}


def texts(cells: Sequence[Cell]) -> list[str]:
    """``text`` of each of a column's cells, when every one is plain text that ``text`` only
    strips: without a Python call per cell. ``TypeError`` for a cell that is not text,
    ``ValueError`` for one that starts with an apostrophe (``text`` unneutralises it); the
    caller then takes the cells one by one."""
    if not all_text(cells):
        raise TypeError("a cell is not plain text")
    stripped = list(map(str.strip, cells))
    if "\x1f'" in "\x1f" + "\x1f".join(stripped):
        raise ValueError("a cell starts with an apostrophe")
    return stripped


def bounded(max_length: int) -> Callable[[Cell], str]:
    """Text of at most ``max_length`` characters."""

    def parse(cell: Cell) -> str:
        value = text(cell)
        if len(value) > max_length:
            raise ValueError(f"longer than {max_length} characters ({len(value)})")
        return value

    def on_texts(values: list[str]) -> list[str]:
        if values and max(map(len, values)) > max_length:
            raise ValueError("a value is too long")
        return values

    parse.on_texts = on_texts  # type: ignore[attr-defined]
    return parse


def date(cell: Cell) -> dt.date:
    """A date from a spreadsheet date cell or text such as 2024-03-01, 2024/3/1, 20240301, 2024年3月1日."""
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    value = text(cell)
    if len(value) == 10 and value[4] == "-":
        try:
            return dt.date.fromisoformat(value)  # C speed for the usual YYYY-MM-DD
        except ValueError:
            pass
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"unparseable date {value!r}; use YYYY-MM-DD")


def past_date(today: dt.date) -> Callable[[Cell], dt.date]:
    """A date that is not after ``today``."""

    def parse(cell: Cell) -> dt.date:
        value = date(cell)
        if value > today:
            raise ValueError(f"date {value.isoformat()} is in the future")
        return value

    return parse


def boolean(cell: Cell) -> bool:
    """是/否, true/false, yes/no, 1/0; blank is no."""
    if isinstance(cell, bool):
        return cell
    value = text(cell).casefold()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"not a yes/no value: {value!r}; use 是 or 否")


def labeled(enum_cls: type[E]) -> Callable[[Cell], E]:
    """A member of ``enum_cls`` from its code or Chinese label."""

    table = enum_cls.lookup()

    def parse(cell: Cell) -> E:
        member = table.get(cell) if type(cell) is str else None  # exact spelling: one dict lookup
        return member if member is not None else enum_cls.parse(text(cell))

    return parse


def split_list(cell: Cell) -> list[str]:
    """``;``-separated values (full-width ``；`` too), blanks dropped, order kept, duplicates removed."""
    return list(dict.fromkeys(t.strip() for t in LIST_SEPARATORS.split(text(cell)) if t.strip()))


USCC_LENGTH = 18  # characters of a 统一社会信用代码 (GB 32100-2015)


def uscc(cell: Cell) -> str:
    """A 统一社会信用代码 validated with ``stdnum.cn.uscc`` (GB 32100-2015 check character)."""
    value = text(cell)
    if _USCC_SHAPE.fullmatch(value):
        # Already compact and shaped as stdnum.validate requires (18 characters, 8 digits, then
        # the GB 32100 alphabet): only the check character is left, and stdnum computes it.
        # validate() would compact the code twice, which costs more than the check itself.
        if stdnum_uscc.calc_check_digit(value[:-1]) == value[-1]:
            return value
    try:
        return stdnum_uscc.validate(value)
    except InvalidChecksum:
        compact = stdnum_uscc.compact(value)
        expected = stdnum_uscc.calc_check_digit(compact)
        raise ValueError(f"bad USCC check character in {value!r}: expected {expected}, found {compact[-1]}") from None
    except InvalidLength:
        raise ValueError(f"USCC {value!r} must have 18 characters") from None
    except (InvalidFormat, InvalidComponent):
        raise ValueError(f"USCC {value!r} is malformed (digits and letters except I, O, Z, S, V)") from None


def uscc_key(cell: Cell) -> str:
    """A USCC compacted the way ``stdnum`` compacts it, without validation.

    For columns that must name a known enterprise: an exact lookup replaces the
    check-character test, and ``uscc`` explains a miss.
    """
    return text(cell).replace(" ", "").replace("-", "").upper()


def _uscc_keys(values: list[str]) -> list[str]:
    """``uscc_key`` of a column's ``texts``: one replace over the whole column."""
    joined = "\x1f".join(values)
    keys = joined.replace(" ", "").replace("-", "").upper().split("\x1f")
    if len(keys) != len(values):  # a cell held the separator
        raise ValueError("a cell holds a control character")
    return keys


uscc_key.on_texts = _uscc_keys  # type: ignore[attr-defined]


def district_code(cell: Cell) -> str:
    """A six-digit GB/T 2260 code (existence is checked against the districts table)."""
    value = text(cell)
    if not _DISTRICT.fullmatch(value):
        raise ValueError(f"district code {value!r} must be 6 digits (GB/T 2260)")
    return value


def industry_code(cell: Cell) -> str:
    """A GB/T 4754 code: section letter plus up to four digits, e.g. F5211."""
    value = text(cell).upper()
    if not _INDUSTRY.fullmatch(value):
        raise ValueError(f"industry code {value!r} is not GB/T 4754 (a letter A-T and 2-4 digits, e.g. F5211)")
    return value


def industry_prefixes(cell: Cell) -> list[str]:
    """A list of GB/T 4754 prefixes (``C13;F52``); blank means every industry."""
    return [industry_code(v) for v in split_list(cell)]


def memo(parse: Callable[[Cell], Any], limit: int = 4096) -> Callable[[Cell], Any]:
    """``parse`` remembered by cell text, refusals too: for columns of few distinct values (kinds,
    dates, departments) a dict lookup replaces parsing each row again. Only for parsers whose
    result is immutable; past ``limit`` texts the memory starts afresh, so it stays small."""
    known: dict[str, tuple[Any, str | None]] = {}

    def remembered(cell: Cell) -> Any:
        if type(cell) is not str:
            return parse(cell)
        hit = known.get(cell)
        if hit is None:
            try:
                hit = (parse(cell), None)
            except ValueError as exc:
                hit = (None, str(exc))
            if len(known) >= limit:
                known.clear()
            known[cell] = hit
        if hit[1] is not None:
            raise ValueError(hit[1])
        return hit[0]

    # A column parsed a batch at a time (importing.RowParser) keeps a memory of its own.
    remembered.memoized = True  # type: ignore[attr-defined]
    return remembered


def remembered_each(known: dict[Any, Any], values: Sequence[Any], make: Callable[[Any], Any], limit: int = 100_000) -> list[Any]:
    """``make(value)`` of each value, never None, looked up in ``known`` first: one C-level map
    when every value is known. New values are added; past ``limit`` the memory starts afresh."""
    found = list(map(known.get, values))
    if None in found:
        if len(known) >= limit:
            known.clear()
        for i, hit in enumerate(found):
            if hit is None:
                found[i] = known[values[i]] = make(values[i])
    return found


def optional(parse: Callable[[Cell], Any]) -> Callable[[Cell], Any]:
    """``None`` for a blank cell, else ``parse(cell)``."""

    def wrapper(cell: Cell) -> Any:
        if cell is None or cell == "" or (type(cell) is str and not cell.strip()):
            return None
        return parse(cell)

    inner = getattr(parse, "on_texts", None)
    if inner is not None:

        def on_texts(values: list[str]) -> list[Any]:
            if "" not in values:
                return inner(values)  # type: ignore[no-any-return]
            filled = iter(inner([v for v in values if v]))
            return [next(filled) if v else None for v in values]

        wrapper.on_texts = on_texts  # type: ignore[attr-defined]
    return wrapper
