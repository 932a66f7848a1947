"""The standard spot-check result codes (domain.md §5), loaded from the shipped table."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class ResultCode:
    """One row of the result-code table: code, parent code and Chinese label."""

    code: str
    parent: str | None
    label: str
    note: str


@functools.cache
def result_codes() -> dict[str, ResultCode]:
    """Every standard result code, keyed by code."""
    text = resources.files("credit").joinpath("data/result_codes.csv").read_text(encoding="utf-8")
    return {
        row["code"]: ResultCode(row["code"], row["parent"] or None, row["label"], row["note"])
        for row in csv.DictReader(text.splitlines())
    }


def parse_result_codes(text: str) -> tuple[str, ...]:
    """Codes from ``"A;2;B"`` (or their labels), validated against the table, in table order."""
    table = result_codes()
    by_label = {c.label: c.code for c in table.values()}
    codes: set[str] = set()
    for token in filter(None, (t.strip() for t in text.replace("；", ";").split(";"))):
        code = token.upper() if token.upper() in table else by_label.get(token)
        if code is None:
            raise ValueError(f"unknown result code {token!r}")
        codes.add(code)
    if not codes:
        raise ValueError("no result code given")
    ordered = tuple(code for code in table if code in codes)
    check_combination(ordered)
    return ordered


def check_combination(codes: tuple[str, ...]) -> None:
    """Refuse combinations the standard forbids, with the reason.

    未发现问题 (1) stands alone; a child code needs its parent; a parent code
    (发现问题待后续处理 A, 违反工商行政管理相关规定 2) needs at least one child.
    """
    table = result_codes()
    chosen = set(codes)
    if "1" in chosen and len(chosen) > 1:
        raise ValueError("result 1 (未发现问题) cannot be combined with other results")
    for code in codes:
        parent = table[code].parent
        if parent is not None and parent not in chosen:
            raise ValueError(f"result {code} ({table[code].label}) needs its parent {parent} ({table[parent].label})")
    parents = {c.parent for c in table.values() if c.parent}
    for code in codes:
        if code in parents and not any(table[c].parent == code for c in codes):
            raise ValueError(f"result {code} ({table[code].label}) needs at least one more specific result")
