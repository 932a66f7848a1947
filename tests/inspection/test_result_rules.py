"""The result-code rules (domain.md §4–§5): which entries an item's result may take, with the
reason for a refusal, and what a visit's results mean downstream (a department's published
检查结果, the listing grounds). Pure: no database.

The standard's table and rules are written out again here, independently of the implementation,
so that the property tests compare the implementation with the rules, not with itself. The
reasons are matched by their exact text: a change of wording should be a conscious decision.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from credit.enums import AbnormalGround
from credit.result_codes import check_combination, parse_result_codes, result_codes
from inspection.enums import CheckMethod, Measure
from inspection.result_rules import (
    GONE, NEEDS_FOLLOW_UP, NOT_CHECKED, ItemEntry, check_entry, department_codes, listing_grounds, result_text,
)
from inspection.results import parse_entry

# The standard table, in its order: code → (parent, label).
TABLE: dict[str, tuple[str | None, str]] = {
    "1": (None, "未发现问题"),
    "A": (None, "发现问题待后续处理"),
    "2": ("A", "违反工商行政管理相关规定"),
    "B": ("2", "未按规定公示应当公示的信息"),
    "C": ("2", "公示信息隐瞒真实情况弄虚作假"),
    "6": ("2", "通过登记的住所（经营场所）无法联系"),
    "D": ("2", "违反其他工商行政管理规定行为"),
    "3": ("A", "违反食品药品相关规定"),
    "4": ("A", "违反质量技术监督相关规定"),
    "5": ("A", "违反其他部门相关规定"),
    "G": ("A", "违反公安部门相关规定"),
    "E": (None, "发现问题已责令改正"),
    "F": (None, "未发现开展本次抽查涉及的经营活动"),
    "7": (None, "已关闭停业或正在组织清算"),
    "8": (None, "不配合检查情节严重"),
    "9": (None, "注销"),
    "10": (None, "被吊销"),
    "11": (None, "被撤销"),
    "12": (None, "迁出"),
}
CODES = list(TABLE)
LABEL = {code: label for code, (_, label) in TABLE.items()}
A_CHILDREN = ["2", "3", "4", "5", "G"]
TWO_CHILDREN = ["B", "C", "6", "D"]
CHILDREN = {"A": set(A_CHILDREN), "2": set(TWO_CHILDREN)}
WHY_NOT_CHECKED = {"F", "7", "8", "9", "10", "11", "12"}
CANNOT_BE_CHECKED = {"7", "9", "10", "11", "12"}
FOLLOW_UP = {"A", "8"}
TOP_LEVEL = ["E", "F", "7", "8", "9", "10", "11", "12"]  # neither 1 nor in the A tree
NONE_LABEL = "未发现问题或相关问题已规范、已改正，无需后续处置"
FINDINGS = ["", "   ", "营业执照未悬挂", " 年报信息与实际不符 "]


def oracle(entry: ItemEntry) -> bool:
    """Is the entry legal, by the rules as the standard states them."""
    codes = set(entry.codes)
    if not codes or not codes <= set(TABLE):
        return False
    if "1" in codes and len(codes) > 1:  # 未发现问题 stands alone
        return False
    if any(TABLE[c][0] is not None and TABLE[c][0] not in codes for c in codes):  # a child needs its parent
        return False
    if any(parent in codes and not codes & kids for parent, kids in CHILDREN.items()):  # a parent needs a child
        return False
    if entry.checked:
        if not entry.methods or codes & CANNOT_BE_CHECKED:
            return False
    elif not codes <= WHY_NOT_CHECKED:  # not checked: the results only say why (none says what was found)
        return False
    if codes & FOLLOW_UP and (entry.measure is Measure.NONE or not entry.findings.strip()):
        return False
    if codes == {"1"} and entry.measure is not Measure.NONE:
        return False
    return True


def in_table_order(codes: set[str] | frozenset[str]) -> tuple[str, ...]:
    return tuple(c for c in CODES if c in codes)


def entry(codes: str, checked: bool = True, methods: tuple[CheckMethod, ...] = (CheckMethod.ONSITE,),
          findings: str = "", measure: Measure = Measure.NONE) -> ItemEntry:
    return ItemEntry(checked, methods, tuple(codes.split(";")) if codes else (), findings, measure)


def refused(e: ItemEntry, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_entry(e)


# --- strategies -----------------------------------------------------------------------------------

@st.composite
def legal_codes(draw: st.DrawFn, top: tuple[str, ...] = tuple(TOP_LEVEL), tree: bool = True) -> frozenset[str]:
    """A code set the combination rules allow: 1 alone, or top-level codes and an A subtree."""
    if tree and draw(st.integers(0, 5)) == 0:
        return frozenset({"1"})
    codes = set(draw(st.sets(st.sampled_from(top), max_size=3)))
    if tree and draw(st.booleans()):
        codes.add("A")
        kids = draw(st.sets(st.sampled_from(A_CHILDREN), min_size=1))
        codes |= kids
        if "2" in kids:
            codes |= draw(st.sets(st.sampled_from(TWO_CHILDREN), min_size=1))
    if not codes:
        codes.add(draw(st.sampled_from(top)))
    return frozenset(codes)


@st.composite
def near_legal_codes(draw: st.DrawFn) -> frozenset[str]:
    """A legal set with one code added or removed: mostly illegal, by a single rule."""
    codes = draw(legal_codes())
    flip = draw(st.sampled_from(CODES))
    return codes ^ {flip}


any_codes = st.one_of(
    legal_codes(), near_legal_codes(), st.sets(st.sampled_from(CODES), max_size=6).map(frozenset),
)
methods = st.lists(st.sampled_from(list(CheckMethod)), max_size=3, unique=True).map(tuple)


@st.composite
def any_entries(draw: st.DrawFn) -> ItemEntry:
    codes = list(draw(any_codes))
    if draw(st.integers(0, 19)) == 0:
        codes.append(draw(st.sampled_from(["X", "0", "a", "13", "1 "])))  # not in the table
    shuffled = tuple(draw(st.permutations(codes))) if codes else ()
    return ItemEntry(draw(st.booleans()), draw(methods), shuffled, draw(st.sampled_from(FINDINGS)),
                     draw(st.sampled_from(list(Measure))))


@st.composite
def legal_entries(draw: st.DrawFn) -> ItemEntry:
    """An entry legal by construction (from the rules, not from the implementation)."""
    checked = draw(st.booleans())
    if checked:
        codes = draw(legal_codes(top=("E", "F", "8")))
        chosen_methods = draw(st.lists(st.sampled_from(list(CheckMethod)), min_size=1, max_size=3, unique=True).map(tuple))
    else:
        codes = draw(legal_codes(top=tuple(c for c in TOP_LEVEL if c in WHY_NOT_CHECKED), tree=False))
        chosen_methods = draw(methods)
    if codes & FOLLOW_UP:
        measure = draw(st.sampled_from([m for m in Measure if m is not Measure.NONE]))
        findings = draw(st.sampled_from([f for f in FINDINGS if f.strip()]))
    else:
        measure = Measure.NONE if codes == {"1"} else draw(st.sampled_from(list(Measure)))
        findings = draw(st.sampled_from(FINDINGS))
    return ItemEntry(checked, chosen_methods, tuple(draw(st.permutations(sorted(codes)))), findings, measure)


@st.composite
def mutated_entries(draw: st.DrawFn) -> ItemEntry:
    """A legal entry with one field changed: each rule's boundary, one at a time."""
    e = draw(legal_entries())
    field = draw(st.sampled_from(["checked", "methods", "codes", "findings", "measure"]))
    if field == "checked":  # (with a method, so that the codes decide)
        return replace(e, checked=not e.checked, methods=e.methods or (CheckMethod.ONSITE,))
    if field == "methods":
        return replace(e, methods=() if e.methods else (CheckMethod.ONLINE,))
    if field == "codes":
        flip = draw(st.sampled_from(sorted(e.codes)) if draw(st.booleans()) else st.sampled_from(CODES))
        return replace(e, codes=tuple(draw(st.permutations(sorted(set(e.codes) ^ {flip})))))
    if field == "findings":
        return replace(e, findings=draw(st.sampled_from(FINDINGS)))
    return replace(e, measure=draw(st.sampled_from(list(Measure))))


entries = st.one_of(mutated_entries(), legal_entries(), any_entries())


# --- the table and the constants --------------------------------------------------------------------

class TestTable:
    def test_the_shipped_table_is_the_standard(self) -> None:
        table = result_codes()
        assert list(table) == CODES
        assert {c: (r.parent, r.label) for c, r in table.items()} == TABLE

    def test_the_rule_sets(self) -> None:
        assert NOT_CHECKED == WHY_NOT_CHECKED
        assert GONE == CANNOT_BE_CHECKED
        assert NEEDS_FOLLOW_UP == FOLLOW_UP
        assert Measure.NONE.label == NONE_LABEL


# --- combinations: example per rule, with the reason -----------------------------------------------

class TestCombination:
    @pytest.mark.parametrize("codes", [("1",), ("A", "3"), ("A", "2", "B"), ("A", "2", "C", "6", "3", "G"), ("E", "F"), ("7",), ("12",)])
    def test_legal(self, codes: tuple[str, ...]) -> None:
        check_combination(codes)

    @pytest.mark.parametrize(("codes", "reason"), [
        (("1", "E"), "result 1 (未发现问题) cannot be combined with other results"),
        (("1", "A", "3"), "result 1 (未发现问题) cannot be combined with other results"),
        (("A",), "result A (发现问题待后续处理) needs at least one more specific result"),
        (("A", "E"), "result A (发现问题待后续处理) needs at least one more specific result"),
        (("A", "2"), "result 2 (违反工商行政管理相关规定) needs at least one more specific result"),
        (("A", "2", "3"), "result 2 (违反工商行政管理相关规定) needs at least one more specific result"),
        (("3",), "result 3 (违反食品药品相关规定) needs its parent A (发现问题待后续处理)"),
        (("G", "E"), "result G (违反公安部门相关规定) needs its parent A (发现问题待后续处理)"),
        (("A", "B"), "result B (未按规定公示应当公示的信息) needs its parent 2 (违反工商行政管理相关规定)"),
        (("A", "3", "6"), "result 6 (通过登记的住所（经营场所）无法联系) needs its parent 2 (违反工商行政管理相关规定)"),
        (("2", "C"), "result 2 (违反工商行政管理相关规定) needs its parent A (发现问题待后续处理)"),
    ])
    def test_illegal_with_the_reason(self, codes: tuple[str, ...], reason: str) -> None:
        with pytest.raises(ValueError, match=re.escape(reason)):
            check_combination(codes)

    def test_parse_codes_and_labels(self) -> None:
        assert parse_result_codes("b;2；a") == ("A", "2", "B")
        assert parse_result_codes(" 发现问题待后续处理 ； 违反食品药品相关规定 ;;") == ("A", "3")
        assert parse_result_codes("通过登记的住所（经营场所）无法联系;2;A;C") == ("A", "2", "C", "6")
        assert parse_result_codes("10；9") == ("9", "10")

    @pytest.mark.parametrize(("text", "reason"), [
        ("A;Z", "unknown result code 'Z'"),
        ("未发现问题;违反法律", "unknown result code '违反法律'"),
        ("", "no result code given"),
        ("；; ;", "no result code given"),
        ("1;F", "result 1 (未发现问题) cannot be combined with other results"),
        ("违反工商行政管理相关规定;A", "result 2 (违反工商行政管理相关规定) needs at least one more specific result"),
    ])
    def test_parse_refuses_with_the_reason(self, text: str, reason: str) -> None:
        with pytest.raises(ValueError, match=re.escape(reason)):
            parse_result_codes(text)


# --- entries: example per rule, with the reason ----------------------------------------------------

class TestEntry:
    @pytest.mark.parametrize("e", [
        entry("1"),
        entry("E", measure=Measure.ORDER),
        entry("E"),
        entry("F"),
        entry("F", checked=False, methods=()),
        entry("7;9", checked=False, methods=()),
        entry("8", checked=False, methods=(), findings="拒不提供账册", measure=Measure.FEEDBACK),
        entry("8", findings="拒不提供账册", measure=Measure.FEEDBACK),
        entry("A;2;C", findings="年报资产虚报", measure=Measure.ORDER, methods=(CheckMethod.DOCUMENT, CheckMethod.ONLINE)),
        entry("A;3;E", findings="过期食品", measure=Measure.REFER),
    ])
    def test_legal(self, e: ItemEntry) -> None:
        check_entry(e)
        assert oracle(e)

    def test_unknown_and_empty(self) -> None:
        refused(entry("A;X", findings="x", measure=Measure.ORDER), "unknown result code 'X'")
        refused(entry("a;3", findings="x", measure=Measure.ORDER), "unknown result code 'a'")  # codes are parsed before
        refused(entry(""), "no result code given")

    def test_combination_reason_is_passed_on(self) -> None:
        refused(entry("1;E"), "result 1 (未发现问题) cannot be combined with other results")
        refused(entry("A", findings="x", measure=Measure.ORDER), "result A (发现问题待后续处理) needs at least one more specific result")

    def test_a_checked_item_needs_a_method(self) -> None:
        refused(entry("1", methods=()), "a checked item needs its 核查方式 (--method: 实地检查, 书面检查, 网络监测, 检验检测, ...)")

    @pytest.mark.parametrize(("codes", "code", "label"), [
        ("7", "7", "已关闭停业或正在组织清算"), ("9", "9", "注销"), ("10", "10", "被吊销"), ("11", "11", "被撤销"), ("12", "12", "迁出"),
    ])
    def test_a_checked_item_cannot_be_gone(self, codes: str, code: str, label: str) -> None:
        refused(entry(codes), f"result {code} ({label}) means the item could not be checked; record it as not checked")

    @pytest.mark.parametrize("codes", ["1", "E", "A;3", "A;2;B", "F;E"])
    def test_an_item_not_checked_needs_a_result_saying_why(self, codes: str) -> None:
        refused(entry(codes, checked=False, methods=(), findings="x", measure=Measure.ORDER),
                "an item not checked needs a result saying why (F 未发现开展本次抽查涉及的经营活动、7 已关闭停业或正在组织清算、"
                "8 不配合检查情节严重、9 注销、10 被吊销、11 被撤销、12 迁出)")

    def test_a_problem_needs_a_measure(self) -> None:
        refused(entry("A;4", findings="无证生产"), f"result A (发现问题待后续处理) needs a 后续处置措施 other than {NONE_LABEL}")
        refused(entry("8", checked=False, methods=(), findings="拒绝检查"), f"result 8 (不配合检查情节严重) needs a 后续处置措施 other than {NONE_LABEL}")

    def test_a_problem_needs_its_findings(self) -> None:
        for findings in ("", "  \n"):
            refused(entry("A;5", findings=findings, measure=Measure.NOTIFY), "a problem found needs its 发现问题情况 (--findings)")
            refused(entry("8", checked=False, methods=(), findings=findings, measure=Measure.FEEDBACK),
                    "a problem found needs its 发现问题情况 (--findings)")

    @pytest.mark.parametrize("measure", [m for m in Measure if m is not Measure.NONE])
    def test_nothing_found_takes_no_follow_up(self, measure: Measure) -> None:
        refused(entry("1", measure=measure), f"result 1 (未发现问题) takes the measure {NONE_LABEL}")


class TestParseEntry:
    def test_words_become_a_checked_entry(self) -> None:
        e = parse_entry(True, ["实地检查", "onsite", "书面"], "发现问题待后续处理；b；2", "  未公示股东出资 ", "责令改正")
        assert e == ItemEntry(True, (CheckMethod.ONSITE, CheckMethod.DOCUMENT), ("A", "2", "B"), "未公示股东出资", Measure.ORDER)

    @pytest.mark.parametrize(("checked", "codes"), [(True, "1"), (True, "E"), (True, "F"), (False, "F"), (True, "E;F")])
    def test_a_missing_measure_means_none_for_1_f_e(self, checked: bool, codes: str) -> None:
        for measure in (None, "", "  "):
            assert parse_entry(checked, ["现场"] if checked else [], codes, "", measure).measure is Measure.NONE

    @pytest.mark.parametrize(("checked", "codes"), [(True, "A;3"), (False, "7"), (False, "F;9"), (True, "8")])
    def test_a_missing_measure_is_refused_otherwise(self, checked: bool, codes: str) -> None:
        with pytest.raises(ValueError, match=re.escape("a result other than 未发现问题 needs its 后续处置措施 (--measure)")):
            parse_entry(checked, ["现场"], codes, "问题", None)

    def test_bad_words_are_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown value 'telepathy'"):
            parse_entry(True, ["telepathy"], "1", "", None)
        with pytest.raises(ValueError, match=re.escape("unknown result code 'Q'")):
            parse_entry(True, ["现场"], "Q", "", None)
        with pytest.raises(ValueError, match=re.escape("result 1 (未发现问题) takes the measure")):
            parse_entry(True, ["现场"], "1", "", "移送")


# --- properties -----------------------------------------------------------------------------------

class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(entries)
    def test_accepted_iff_the_rules_allow(self, e: ItemEntry) -> None:
        legal = oracle(e)
        event("legal" if legal else "illegal")
        if legal:
            check_entry(e)
        else:
            with pytest.raises(ValueError):
                check_entry(e)

    def test_accepted_iff_the_rules_allow_for_every_small_entry(self) -> None:
        """Exhaustively, every entry of up to three codes (and one unknown code)."""
        code_sets = [(c,) for c in [*CODES, "X"]] + [(a, b) for a in CODES for b in CODES if a < b] + [
            (a, b, c) for a in CODES for b in CODES for c in CODES if a < b < c]
        wrong = []
        for codes in code_sets:
            for checked in (True, False):
                for chosen_methods in ((), (CheckMethod.DOCUMENT,)):
                    for findings in ("", "有问题"):
                        for measure in Measure:
                            e = ItemEntry(checked, chosen_methods, codes, findings, measure)
                            try:
                                check_entry(e)
                                accepted = True
                            except ValueError:
                                accepted = False
                            if accepted != oracle(e):
                                wrong.append(e)
        assert not wrong, wrong[:5]

    def test_every_combination_of_the_a_tree(self) -> None:
        """Exhaustively, every subset of the A tree, alone or with 1 or E: the combination rules."""
        tree = ["A", *A_CHILDREN, *TWO_CHILDREN]
        for mask in range(1 << len(tree)):
            base = {c for n, c in enumerate(tree) if mask >> n & 1}
            for extra in (set(), {"1"}, {"E"}):
                codes = base | extra
                if not codes:
                    continue
                e = ItemEntry(True, (CheckMethod.ONSITE,), in_table_order(codes), "有问题", Measure.ORDER if "A" in codes else Measure.NONE)
                try:
                    check_combination(e.codes)
                    accepted = True
                except ValueError:
                    accepted = False
                assert accepted == oracle(e), codes

    @settings(max_examples=100, deadline=None)
    @given(legal_entries())
    def test_legal_by_construction_is_accepted(self, e: ItemEntry) -> None:
        assert oracle(e)
        check_entry(e)

    @settings(max_examples=150, deadline=None)
    @given(entries)
    def test_accepted_code_sets_are_closed(self, e: ItemEntry) -> None:
        try:
            check_entry(e)
        except ValueError:
            return
        codes = set(e.codes)
        for code in codes:
            parent = TABLE[code][0]
            assert parent is None or parent in codes, (code, codes)
            if code in CHILDREN:
                assert codes & CHILDREN[code], (code, codes)

    @settings(max_examples=150, deadline=None)
    @given(legal_codes(), st.data())
    def test_parse_is_order_and_label_insensitive(self, codes: frozenset[str], data: st.DataObject) -> None:
        spellings = [data.draw(st.sampled_from([c, c.lower(), LABEL[c], f" {c} ", f"{LABEL[c]} "])) for c in sorted(codes)]
        spellings += data.draw(st.lists(st.sampled_from(spellings), max_size=2))  # repeated
        tokens = data.draw(st.permutations(spellings))
        text = ""
        for n, token in enumerate(tokens):
            text += (data.draw(st.sampled_from([";", "；", " ; ", "；；"])) if n else "") + token
        assert parse_result_codes(text) == in_table_order(codes)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(legal_entries(), max_size=5))
    def test_department_codes(self, items: list[ItemEntry]) -> None:
        chosen = {c for e in items for c in e.codes}
        expected = chosen - {"1"} if chosen - {"1"} else chosen
        got = department_codes(items)
        assert got == in_table_order(expected)
        assert result_text(got) == "；".join(LABEL[c] for c in got)
        if items and chosen == {"1"}:
            assert got == ("1",) and result_text(got) == "未发现问题"

    def test_department_codes_examples(self) -> None:
        clean = entry("1")
        found = entry("A;2;B", findings="未公示", measure=Measure.ORDER)
        absent = entry("F", checked=False, methods=())
        assert department_codes([]) == ()
        assert department_codes([clean, clean]) == ("1",)
        assert department_codes([clean, found, absent]) == ("A", "2", "B", "F")
        assert result_text(("A", "2", "B", "F")) == "发现问题待后续处理；违反工商行政管理相关规定；未按规定公示应当公示的信息；未发现开展本次抽查涉及的经营活动"
        assert department_codes(iter([clean, found])) == ("A", "2", "B")  # any iterable

    @settings(max_examples=100, deadline=None)
    @given(any_codes, st.booleans())
    def test_listing_grounds(self, codes: frozenset[str], as_list: bool) -> None:
        given_codes: list[str] | frozenset[str] = sorted(codes) if as_list else codes
        grounds = listing_grounds(given_codes)
        assert (AbnormalGround.FALSE_INFO in grounds) == ("C" in codes)
        assert (AbnormalGround.UNREACHABLE in grounds) == ("6" in codes)
        assert len(grounds) == len(codes & {"C", "6"})
        assert list(grounds) == sorted(grounds, key=[AbnormalGround.FALSE_INFO, AbnormalGround.UNREACHABLE].index)

    def test_listing_grounds_of_an_iterator(self) -> None:
        # A one-shot iterator once lost 6 when the codes were read again for each table row.
        assert listing_grounds(iter(("A", "2", "C", "6"))) == (AbnormalGround.FALSE_INFO, AbnormalGround.UNREACHABLE)

    @settings(max_examples=100, deadline=None)
    @given(legal_entries())
    def test_parse_entry_default_measure(self, e: ItemEntry) -> None:
        words = [m.label for m in e.methods]
        text = "；".join(LABEL[c] for c in e.codes)
        if set(e.codes) <= {"1", "F", "E"}:
            assert parse_entry(e.checked, words, text, e.findings, None).measure is Measure.NONE
        else:
            with pytest.raises(ValueError, match=re.escape("needs its 后续处置措施 (--measure)")):
                parse_entry(e.checked, words, text, e.findings, None)
        got = parse_entry(e.checked, words, text, e.findings, e.measure.label)
        assert got == ItemEntry(e.checked, e.methods, in_table_order(set(e.codes)), e.findings.strip(), e.measure)
