"""What makes an item's result acceptable, and what a visit's results mean downstream. Pure.

The code table and its combination rules are in credit.result_codes; here are the rules that
tie codes to 是否检查, 核查方式 and 后续处置措施 (domain.md §4–§5), and the derived facts:
the published 检查结果 of a department, the follow-up a measure opens, the listing a code proposes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from credit.enums import AbnormalGround
from credit.result_codes import check_combination, result_codes
from inspection.enums import CaseKind, CheckMethod, Measure

# Why an item could not be checked: no such business, closed, obstructed, deregistered, ...
NOT_CHECKED = frozenset({"F", "7", "8", "9", "10", "11", "12"})
# The enterprise is gone or closed: it cannot have been checked on site.
GONE = frozenset({"7", "9", "10", "11", "12"})
# A problem that must be followed up (不罚≠不管): the measure cannot be "无需后续处置".
NEEDS_FOLLOW_UP = frozenset({"A", "8"})
# Results that list the enterprise (经营异常名录 proposals), by ground.
LISTING = {"C": AbnormalGround.FALSE_INFO, "6": AbnormalGround.UNREACHABLE}
CASE_OF_MEASURE = {
    Measure.ORDER: CaseKind.ORDER, Measure.REFER: CaseKind.REFER, Measure.NOTIFY: CaseKind.NOTIFY,
    Measure.FEEDBACK: CaseKind.FEEDBACK, Measure.OTHER: CaseKind.OTHER,
}


@dataclass(frozen=True)
class ItemEntry:
    """One item's result as entered: 是否检查, 核查方式, 检查结果, 发现问题情况, 后续处置措施."""

    checked: bool
    methods: tuple[CheckMethod, ...]
    codes: tuple[str, ...]
    findings: str
    measure: Measure


def check_entry(entry: ItemEntry) -> None:
    """Refuse an entry the standard does not allow, with the reason (ValueError)."""
    table = result_codes()
    unknown = [c for c in entry.codes if c not in table]
    if unknown:
        raise ValueError(f"unknown result code {unknown[0]!r}")
    if not entry.codes:
        raise ValueError("no result code given")
    check_combination(entry.codes)
    codes = set(entry.codes)
    if entry.checked and not entry.methods:
        raise ValueError("a checked item needs its 核查方式 (--method: 实地检查, 书面检查, 网络监测, 检验检测, ...)")
    if entry.checked and codes & GONE:
        code = min(codes & GONE)
        raise ValueError(f"result {code} ({table[code].label}) means the item could not be checked; record it as not checked")
    if not entry.checked and not codes <= NOT_CHECKED:
        allowed = "、".join(f"{c} {table[c].label}" for c in table if c in NOT_CHECKED)
        raise ValueError(f"an item not checked needs a result saying why ({allowed})")
    if codes & NEEDS_FOLLOW_UP and entry.measure is Measure.NONE:
        code = min(codes & NEEDS_FOLLOW_UP)
        raise ValueError(f"result {code} ({table[code].label}) needs a 后续处置措施 other than {Measure.NONE.label}")
    if codes == {"1"} and entry.measure is not Measure.NONE:
        raise ValueError(f"result 1 (未发现问题) takes the measure {Measure.NONE.label}")
    if codes & NEEDS_FOLLOW_UP and not entry.findings.strip():
        raise ValueError("a problem found needs its 发现问题情况 (--findings)")


def department_codes(entries: Iterable[ItemEntry]) -> tuple[str, ...]:
    """The 检查结果 a department publishes for its items on one visit, in table order:
    every code chosen, where 未发现问题 on one item gives way to what another item found."""
    chosen = {code for e in entries for code in e.codes}
    if len(chosen) > 1:
        chosen.discard("1")
    return tuple(code for code in result_codes() if code in chosen)


def result_text(codes: Iterable[str]) -> str:
    """The codes' Chinese labels as published, joined by "；"."""
    table = result_codes()
    return "；".join(table[c].label for c in codes)


def listing_grounds(codes: Iterable[str]) -> tuple[AbnormalGround, ...]:
    """The abnormal-list grounds these results propose, in table order."""
    chosen = set(codes)
    return tuple(LISTING[c] for c in result_codes() if c in LISTING and c in chosen)
