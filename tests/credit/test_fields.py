"""Cell parsers: USCC, dates, flags, labels, industry codes and lists."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from credit import fields as f
from credit.enums import EntityType, RecordKind
from credit.tabular import Formula

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: 0-9 and A-Z without I, O, Z, S, V
bodies = st.tuples(
    st.sampled_from("9"), st.sampled_from("123"), st.from_regex(r"[0-9]{6}", fullmatch=True),
    st.text(alphabet=ALPHABET, min_size=9, max_size=9),
).map("".join)


class TestUscc:
    @given(bodies)
    def test_valid_codes_are_accepted(self, body: str) -> None:
        """Any body with its computed check character is accepted as it is."""
        code = body + stdnum_uscc.calc_check_digit(body)
        assert f.uscc(code) == code

    @given(bodies, st.sampled_from(ALPHABET))
    def test_a_wrong_check_character_is_refused_with_the_expected_one(self, body: str, wrong: str) -> None:
        right = stdnum_uscc.calc_check_digit(body)
        if wrong == right:
            return
        with pytest.raises(ValueError, match=f"expected {right}, found {wrong}"):
            f.uscc(body + wrong)

    def test_lowercase_and_spaces_are_compacted(self) -> None:
        assert f.uscc(" 91110000600037341l ") == "91110000600037341L"

    @pytest.mark.parametrize("value", ["9111000060003734", "91110000600037341LL", "911100006000373I1L", ""])
    def test_malformed(self, value: str) -> None:
        with pytest.raises(ValueError, match="USCC"):
            f.uscc(value)


class TestDates:
    @pytest.mark.parametrize("text", ["2024-03-01", "2024/3/1", "20240301", "2024.03.01", "2024年3月1日"])
    def test_formats(self, text: str) -> None:
        assert f.date(text) == dt.date(2024, 3, 1)

    def test_date_cells(self) -> None:
        assert f.date(dt.datetime(2024, 3, 1, 8, 30)) == dt.date(2024, 3, 1)

    def test_future_is_refused_for_past_dates_only(self) -> None:
        today = dt.date(2026, 11, 21)
        assert f.past_date(today)("2026-11-21") == today
        with pytest.raises(ValueError, match="2026-11-22 is in the future"):
            f.past_date(today)("2026-11-22")
        assert f.date("2030-01-01") == dt.date(2030, 1, 1)

    @pytest.mark.parametrize("text", ["2024-02-30", "01/03/2024", "soon", "2024-3"])
    def test_unparseable(self, text: str) -> None:
        with pytest.raises(ValueError, match="unparseable date"):
            f.date(text)


class TestOthers:
    @pytest.mark.parametrize(("text", "value"), [("是", True), ("否", False), ("TRUE", True), ("0", False), ("", False), (True, True)])
    def test_boolean(self, text: object, value: bool) -> None:
        assert f.boolean(text) is value

    def test_labels_and_codes(self) -> None:
        assert f.labeled(EntityType)("个体工商户") is EntityType.INDIVIDUAL
        assert f.labeled(EntityType)("Individual") is EntityType.INDIVIDUAL
        assert f.labeled(RecordKind)("守信激励") is RecordKind.COMMENDATION
        with pytest.raises(ValueError, match="expected one of 企业/个体工商户/农民专业合作社/其他"):
            f.labeled(EntityType)("公司")

    @pytest.mark.parametrize("code", ["F", "F52", "F521", "F5211", "c1391"])
    def test_industry_codes(self, code: str) -> None:
        assert f.industry_code(code) == code.upper()

    @pytest.mark.parametrize("code", ["52", "F5", "F52111", "Z52", "FF52"])
    def test_bad_industry_codes(self, code: str) -> None:
        with pytest.raises(ValueError, match="GB/T 4754"):
            f.industry_code(code)

    def test_lists_accept_full_width_separators_and_drop_duplicates(self) -> None:
        assert f.split_list("a; b；a;;") == ["a", "b"]

    def test_formula_cells_are_refused(self) -> None:
        with pytest.raises(ValueError, match="formula cells are not accepted"):
            f.text(Formula("=1+1"))

    def test_neutralised_text_reads_back(self) -> None:
        assert f.text("'=SUM(A1)") == "=SUM(A1)"
        assert f.text("'plain") == "'plain"

    def test_bounded_length(self) -> None:
        with pytest.raises(ValueError, match="longer than 3 characters"):
            f.bounded(3)("abcd")


def test_codes_take_ascii_digits_only() -> None:
    """Unicode digits such as ٥ match \\d but are not GB/T 2260 or GB/T 4754 codes."""
    with pytest.raises(ValueError, match="6 digits"):
        f.district_code("٥٠٠١٠٦")
    with pytest.raises(ValueError, match="GB/T 4754"):
        f.industry_code("F٥٢")


def test_memo_parses_each_text_once_and_repeats_refusals() -> None:
    calls: list[object] = []

    def parse(cell: object) -> object:
        calls.append(cell)
        return f.date(cell)

    remembered = f.memo(parse, limit=3)
    assert remembered("2025-01-02") == remembered("2025-01-02") == dt.date(2025, 1, 2)
    for _ in range(2):  # a refusal is remembered too, and raised every time with its reason
        with pytest.raises(ValueError, match="unparseable date 'soon'"):
            remembered("soon")
    assert calls == ["2025-01-02", "soon"]
    assert remembered(dt.date(2025, 1, 3)) == dt.date(2025, 1, 3)  # not text: parsed, not remembered
    remembered("2025-01-04")
    remembered("2025-01-05")  # past the limit: memory starts afresh
    remembered("2025-01-02")
    assert calls[-3:] == ["2025-01-04", "2025-01-05", "2025-01-02"] and len(calls) == 6
