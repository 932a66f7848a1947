"""Plan and task definition files, and the [draw] section of the policy: the examples parse, and
every refusal names the file, the exact line of the offending key or value, and the reason."""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest

from credit.policy import (
    PolicyError,
    check_tier_ratios,
    default_policy_text,
    format_percent,
    load_policy,
    parse_percent,
    parse_policy,
)
from inspection.definitions import DefinitionError, Scope, Source, parse_plan, parse_task
from inspection.enums import TaskKind

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
PLAN = (EXAMPLES / "plan.toml").read_text(encoding="utf-8")
TASK = (EXAMPLES / "task.toml").read_text(encoding="utf-8")
POLICY = default_policy_text()

BATCH2_SCOPE = 'quantity = 60\nscope = { districts = ["500106", "500107"] }'
TASK_SCOPE = 'scope = { districts = ["500106", "500107"] }'
TASK_RATIOS = 'ratios = { A = "2%", B = "5%" }'
YJJ_ITEMS = 'items = ["YJJ-01", { code = "YJJ-02", ratios = { C = "50%", D = "100%" } }]'


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the one occurrence of ``old`` replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based line of the one occurrence of ``needle`` in ``text``."""
    assert text.count(needle) == 1, f"{needle!r} occurs {text.count(needle)} times"
    return text.count("\n", 0, text.index(needle)) + 1


def refusal(parse: Callable[[str, str], Any], name: str, text: str) -> str:
    with pytest.raises(DefinitionError) as info:
        parse(name, text)
    return str(info.value)


def assert_refused_at(parse: Callable[[str, str], Any], name: str, text: str, at: str, *reasons: str) -> str:
    """The refusal starts with ``name:LINE:`` where LINE is the line holding ``at``."""
    message = refusal(parse, name, text)
    assert message.startswith(f"{name}:{line_of(text, at)}: "), message
    for reason in reasons:
        assert reason in message, message
    return message


def policy_edit(old: str, new: str) -> str:
    return edit(POLICY, old, new)


def policy_refusal(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.toml")
    message = str(info.value)
    assert message.startswith("p.toml: "), message
    return message


# --------------------------------------------------------------------------------------------
# The example files
# --------------------------------------------------------------------------------------------


class TestExamplePlan:
    """examples/plan.toml parses as shipped, into the values it spells out."""

    def test_top_level_values(self) -> None:
        plan = parse_plan("plan.toml", PLAN)
        assert plan.code == "2026-SPB-JLP"
        assert plan.name.startswith("沙坪坝区、九龙坡区2026年度")
        assert plan.year == 2026
        assert plan.departments == ("SCJG", "WJW", "YJJ")
        assert plan.source.name == "plan.toml" and plan.source.text == PLAN

    def test_batches_with_dates_quantity_and_scope(self) -> None:
        first, second = parse_plan("plan.toml", PLAN).batches
        assert (first.number, first.name, first.quantity) == (1, "第一批次", 40)
        assert (first.starts_on, first.ends_on) == (dt.date(2026, 3, 1), dt.date(2026, 6, 30))
        assert (second.number, second.name, second.quantity) == (2, "第二批次（部门联合）", 60)
        assert (second.starts_on, second.ends_on) == (dt.date(2026, 9, 1), dt.date(2026, 12, 31))
        for batch in (first, second):
            assert batch.scope == Scope(districts=("500106", "500107"))

    def test_batch_name_defaults_to_its_number(self) -> None:
        plan = parse_plan("plan.toml", edit(PLAN, 'name = "第二批次（部门联合）"\n', ""))
        assert plan.batches[1].name == "第2批次"

    def test_dates_may_be_strings(self) -> None:
        plan = parse_plan("plan.toml", edit(PLAN, "starts_on = 2026-09-01", 'starts_on = "2026-09-01"'))
        assert plan.batches[1].starts_on == dt.date(2026, 9, 1)

    def test_batch_scope_as_a_subtable(self) -> None:
        text = edit(PLAN, BATCH2_SCOPE, 'quantity = 60\n[batch.scope]\ndistricts = ["500106"]\nindustries = ["C", "F52"]')
        assert parse_plan("plan.toml", text).batches[1].scope == Scope(districts=("500106",), industries=("C", "F52"))

    def test_no_scope_means_no_restriction(self) -> None:
        plan = parse_plan("plan.toml", edit(PLAN, BATCH2_SCOPE, "quantity = 60"))
        assert plan.batches[1].scope == Scope()


class TestExampleTask:
    """examples/task.toml parses as shipped, into the values it spells out."""

    def test_top_level_values(self) -> None:
        task = parse_task("task.toml", TASK)
        assert task.code == "2026-SPB-JLP-2-1"
        assert task.plan == "2026-SPB-JLP" and task.batch == 2
        assert task.kind is TaskKind.ROUTINE
        assert task.lead == "SCJG"
        assert task.grading_run is None  # "latest"
        assert task.item_version == "2026"
        assert (task.starts_on, task.ends_on) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
        assert task.inspectors_per_visit == 2
        assert task.scope == Scope(districts=("500106", "500107"))
        assert task.replaces is None and task.replace_reason is None

    def test_task_wide_ratios_are_exact_fractions_of_the_tiers_given(self) -> None:
        ratios = parse_task("task.toml", TASK).ratios
        assert ratios == {"A": Fraction(2, 100), "B": Fraction(5, 100)}
        assert all(type(r) is Fraction for r in ratios.values())

    def test_departments_with_their_items(self) -> None:
        departments = parse_task("task.toml", TASK).departments
        assert [d.code for d in departments] == ["SCJG", "WJW", "YJJ"]
        assert [i.code for i in departments[0].items] == ["SCJG-01", "SCJG-02", "SCJG-03", "SCJG-05"]
        assert [i.code for i in departments[1].items] == ["WJW-01"]
        assert [i.code for i in departments[2].items] == ["YJJ-01", "YJJ-02"]
        assert [d.path for d in departments] == [("department", 0), ("department", 1), ("department", 2)]
        assert all(i.path == ("department", 2, "items") for i in departments[2].items)

    def test_per_item_ratios_only_for_the_tiers_given(self) -> None:
        yjj = parse_task("task.toml", TASK).departments[2]
        assert yjj.items[0].ratios == {}
        assert yjj.items[1].ratios == {"C": Fraction(1, 2), "D": Fraction(1)}

    def test_optional_keys_take_their_defaults(self) -> None:
        text = TASK
        for old in ('kind = "routine"', 'grading_run = "latest"', "inspectors_per_visit = 2", TASK_SCOPE, TASK_RATIOS):
            text = edit(text, old, "")
        task = parse_task("task.toml", text)
        assert task.kind is TaskKind.ROUTINE
        assert task.grading_run is None
        assert task.inspectors_per_visit is None  # the policy's
        assert task.scope == Scope()
        assert task.ratios == {}

    def test_other_accepted_spellings(self) -> None:
        text = edit(TASK, 'kind = "routine"', 'kind = "复查"')
        text = edit(text, 'grading_run = "latest"', "grading_run = 7")
        text = edit(text, "starts_on = 2026-12-01", 'starts_on = "2026-12-01"')
        text = edit(text, "inspectors_per_visit = 2", "inspectors_per_visit = 20")
        text = edit(text, TASK_SCOPE, 'scope = { stations = ["沙坪坝所"], entity_types = ["企业", "个体户", "cooperative"], industries = ["C", "C13", "F5211"] }')
        task = parse_task("task.toml", text)
        assert task.kind is TaskKind.RECHECK
        assert task.grading_run == 7
        assert task.starts_on == dt.date(2026, 12, 1)
        assert task.inspectors_per_visit == 20
        assert task.scope == Scope(stations=("沙坪坝所",), entity_types=("enterprise", "individual", "cooperative"), industries=("C", "C13", "F5211"))

    def test_a_replacement_names_the_task_and_the_reason(self) -> None:
        text = edit(TASK, "ends_on = 2026-12-31\n", 'ends_on = 2026-12-31\nreplaces = "2026-SPB-JLP-2-0"\nreplace_reason = "  抽取结果公示前发现名录错误  "\n')
        task = parse_task("task.toml", text)
        assert task.replaces == "2026-SPB-JLP-2-0"
        assert task.replace_reason == "抽取结果公示前发现名录错误"

    def test_any_percentage_is_taken_here_the_tier_rules_come_later(self) -> None:
        """The task parser checks each ratio is a percentage; 不免抽 and the ordering of tiers
        are create_task's business, once the policy defaults are merged in."""
        task = parse_task("task.toml", edit(TASK, TASK_RATIOS, 'ratios = { A = "0%", B = "0.5%", C = "100%" }'))
        assert task.ratios == {"A": Fraction(0), "B": Fraction(1, 200), "C": Fraction(1)}

    def test_the_item_table_is_read_in_a_table_header_form_too(self) -> None:
        text = edit(TASK, TASK_SCOPE, "")
        text = edit(text, TASK_RATIOS, "")
        text = edit(text, "[[department]]\ncode = \"SCJG\"", '[scope]\ndistricts = ["500106"]\n\n[ratios]\nA = "2%"\n\n[[department]]\ncode = "SCJG"')
        task = parse_task("task.toml", text)
        assert task.scope == Scope(districts=("500106",))
        assert task.ratios == {"A": Fraction(1, 50)}


# --------------------------------------------------------------------------------------------
# Refusals: file, line, reason
# --------------------------------------------------------------------------------------------


class TestInvalidToml:
    """A file that is not TOML is refused as such, with tomllib's own line and column."""

    def test_plan(self) -> None:
        text = edit(PLAN, "year = 2026", "year = 20 26")
        message = refusal(parse_plan, "plan.toml", text)
        assert message.startswith("plan.toml: not valid TOML: "), message
        assert f"(at line {line_of(text, 'year = 20 26')}, column" in message

    def test_task(self) -> None:
        text = edit(TASK, 'items = ["WJW-01"]', 'items = ["WJW-01"')
        message = refusal(parse_task, "task.toml", text)
        assert message.startswith("task.toml: not valid TOML: "), message
        assert "(at line " in message


PLAN_REFUSALS = [
    # (id, old, new, the text on the offending line, reason)
    ("unknown top-level key", "year = 2026\n", 'year = 2026\ncolour = "red"\n', 'colour = "red"', "colour: unknown key"),
    ("unknown key in the second batch", "quantity = 60\n", "quantity = 60\npriority = 1\n", "priority = 1", "batch[1].priority: unknown key"),
    ("bad value of a key both batches have", "quantity = 60", "quantity = 0", "quantity = 0", "batch[1].quantity: must be between 1 and 100000000, got 0"),
    ("year as a string", "year = 2026", 'year = "2026"', 'year = "2026"', "year: expected an integer, got '2026'"),
    ("year as a boolean", "year = 2026", "year = true", "year = true", "year: expected an integer, got True"),
    ("year out of range", "year = 2026", "year = 1999", "year = 1999", "year: must be between 2000 and 2100, got 1999"),
    ("code not a code", 'code = "2026-SPB-JLP"', 'code = "2026 SPB"', 'code = "2026 SPB"', "code: '2026 SPB' is not a code"),
    ("empty name", 'name = "沙坪坝区', 'name = "  " # 沙坪坝区', 'name = "  "', "name: must not be empty"),
    ("no departments", 'departments = ["SCJG", "WJW", "YJJ"]', "departments = []", "departments = []", "departments: at least one department is needed"),
    ("a department twice", 'departments = ["SCJG", "WJW", "YJJ"]', 'departments = ["SCJG", "WJW", "SCJG"]', "departments =", "departments: 'SCJG' is listed twice"),
    ("a department not a string", 'departments = ["SCJG", "WJW", "YJJ"]', 'departments = ["SCJG", 3]', "departments =", "departments: item 2 must be a non-empty string, got 3"),
    ("batch start before the plan year", "starts_on = 2026-03-01", "starts_on = 2025-03-01", "starts_on = 2025-03-01", "batch[0].starts_on: 2025-03-01 is outside the plan's year 2026"),
    ("batch end after the plan year", "ends_on = 2026-12-31", "ends_on = 2027-01-31", "ends_on = 2027-01-31", "batch[1].ends_on: 2027-01-31 is outside the plan's year 2026"),
    ("batch ends before it starts", "ends_on = 2026-12-31", "ends_on = 2026-08-31", "ends_on = 2026-08-31", "batch[1].ends_on: 2026-08-31 is before starts_on 2026-09-01"),
    ("duplicate batch number", "number = 2", "number = 1  # again", "# again", "batch[1].number: batch 1 is defined twice"),
    ("batch number zero", "number = 1", "number = 0", "number = 0", "batch[0].number: must be between 1 and 999, got 0"),
    ("bad district in batch 2", BATCH2_SCOPE, 'quantity = 60\nscope = { districts = ["500106", "5001"] }', '"5001"', "batch[1].scope.districts: '5001' is not a 6-digit GB/T 2260 code"),
    ("bad district on its own line", BATCH2_SCOPE, 'quantity = 60\nscope = { districts = [\n  "500106",\n  "5001",\n] }', '"5001"', "batch[1].scope.districts: '5001'"),
    ("unknown key in a batch scope", BATCH2_SCOPE, 'quantity = 60\nscope = { districts = ["500106"], towns = ["x"] }', "towns", "batch[1].scope.towns: unknown key"),
    ("bad industry in a batch scope", BATCH2_SCOPE, 'quantity = 60\nscope = { industries = ["c13"] }', '"c13"', "batch[1].scope.industries: 'c13' is not a GB/T 4754 code or prefix"),
    ("date not a date", "starts_on = 2026-09-01", 'starts_on = "2026-13-01"', '"2026-13-01"', "batch[1].starts_on: expected a date such as 2026-12-01, got '2026-13-01'"),
    ("datetime not a date", "starts_on = 2026-09-01", "starts_on = 2026-09-01T08:00:00", "2026-09-01T08", "batch[1].starts_on: expected a date such as 2026-12-01, got a date and time 2026-09-01 08:00:00"),
    ("time not a date", "starts_on = 2026-09-01", "starts_on = 08:00:00", "08:00:00", "batch[1].starts_on: expected a date or a string, got datetime.time(8, 0)"),
]


class TestPlanRefusals:
    """A plan file with a mistake is refused at the line of the offending key or value."""

    @pytest.mark.parametrize(("old", "new", "at", "reason"), [case[1:] for case in PLAN_REFUSALS], ids=[case[0] for case in PLAN_REFUSALS])
    def test_refused_at_the_line(self, old: str, new: str, at: str, reason: str) -> None:
        assert_refused_at(parse_plan, "plan.toml", edit(PLAN, old, new), at, reason)

    def test_missing_key_in_a_batch_points_at_that_batch_header(self) -> None:
        text = edit(PLAN, "quantity = 60\n", "")
        header = text.count("\n", 0, text.index("number = 2"))  # the [[batch]] line just above
        message = refusal(parse_plan, "plan.toml", text)
        assert message.startswith(f"plan.toml:{header}: "), message
        assert "batch[1].quantity is missing" in message

    def test_missing_top_level_key_has_no_line_to_point_at(self) -> None:
        """Documented by Source.line: a missing key has no line; at top level there is no table
        header either, so the message names the file and the key only."""
        text = edit(PLAN, 'code = "2026-SPB-JLP"\n', "")
        assert refusal(parse_plan, "plan.toml", text) == "plan.toml: code is missing"

    def test_no_batches(self) -> None:
        text = PLAN[: PLAN.index("[[batch]]")] + "batch = []\n"
        assert_refused_at(parse_plan, "plan.toml", text, "batch = []", "batch: at least one is needed")

    def test_a_batch_that_is_not_a_table(self) -> None:
        text = PLAN[: PLAN.index("[[batch]]")] + "batch = [1]\n"
        assert_refused_at(parse_plan, "plan.toml", text, "batch = [1]", "batch: entry 1 must be a table ([[batch]])")


class TestPlanLinesInSubtables:
    """Lines inside [batch.scope] sub-tables and dotted keys point at the batch that has them."""

    def test_bad_district_in_the_second_batch_scope_subtable(self) -> None:
        text = edit(PLAN, 'quantity = 40                            # targets planned for the batch (抽查户数)\nscope = { districts = ["500106", "500107"] }',
                    'quantity = 40\n[batch.scope]\ndistricts = ["500106", "500107"]')
        text = edit(text, BATCH2_SCOPE, 'quantity = 60\n[batch.scope]\ndistricts = ["500106", "5001"]')
        assert_refused_at(parse_plan, "plan.toml", text, '"5001"', "batch[1].scope.districts: '5001' is not a 6-digit")

    def test_bad_district_under_a_dotted_key(self) -> None:
        text = edit(PLAN, BATCH2_SCOPE, 'quantity = 60\nscope.districts = ["5001"]')
        assert_refused_at(parse_plan, "plan.toml", text, '"5001"', "batch[1].scope.districts: '5001' is not a 6-digit")

    def test_bad_district_in_the_first_batch_scope_subtable(self) -> None:
        text = edit(PLAN, 'quantity = 40                            # targets planned for the batch (抽查户数)\nscope = { districts = ["500106", "500107"] }',
                    'quantity = 40\n[batch.scope]\ndistricts = ["500106", "5001"]')
        assert_refused_at(parse_plan, "plan.toml", text, '"5001"', "batch[0].scope.districts: '5001' is not a 6-digit")


TASK_REFUSALS = [
    ("unknown top-level key", "inspectors_per_visit = 2\n", "inspectors_per_visit = 2\ncolour = 1\n", "colour = 1", "colour: unknown key"),
    ("unknown key in the second department", 'items = ["WJW-01"]', 'items = ["WJW-01"]\nhead = "x"', 'head = "x"', "department[1].head: unknown key"),
    ("unknown key in an item table", '{ code = "YJJ-02", ratios', '{ code = "YJJ-02", weight = 2, ratios', "weight = 2", "department[2].items.weight: unknown key"),
    ("unknown tier", TASK_RATIOS, 'ratios = { A = "2%", B = "5%", E = "1%" }', "E = ", "ratios.E: unknown key"),
    ("code not a code", 'code = "2026-SPB-JLP-2-1"', 'code = "2026/SPB"', '"2026/SPB"', "code: '2026/SPB' is not a code"),
    ("batch as a string", "batch = 2", 'batch = "2"', 'batch = "2"', "batch: expected an integer, got '2'"),
    ("item version too long", 'item_version = "2026"', f'item_version = "{"9" * 33}"', "item_version =", "item_version: longer than 32 characters"),
    ("unknown kind", 'kind = "routine"', 'kind = "unknown"', 'kind = "unknown"', "kind: unknown value 'unknown'; expected one of 日常抽查/复查/投诉举报核查"),
    ("grading run neither a number nor latest", 'grading_run = "latest"', 'grading_run = "first"', 'grading_run = "first"', "grading_run: expected a grading run number or \"latest\", got 'first'"),
    ("grading run a float", 'grading_run = "latest"', "grading_run = 1.5", "grading_run = 1.5", "grading_run: expected an integer or a string, got 1.5"),
    ("one inspector per visit", "inspectors_per_visit = 2", "inspectors_per_visit = 1", "inspectors_per_visit = 1", "inspectors_per_visit: must be between 2 (执法人员不得少于两人) and 20, got 1"),
    ("too many inspectors per visit", "inspectors_per_visit = 2", "inspectors_per_visit = 21", "inspectors_per_visit = 21", "got 21"),
    ("inspectors per visit a boolean", "inspectors_per_visit = 2", "inspectors_per_visit = true", "inspectors_per_visit = true", "expected an integer, got True"),
    ("impossible date string", "starts_on = 2026-12-01", 'starts_on = "2026-13-01"', '"2026-13-01"', "starts_on: expected a date such as 2026-12-01, got '2026-13-01'"),
    ("datetime", "starts_on = 2026-12-01", "starts_on = 2026-12-01T09:30:00+08:00", "T09:30", "starts_on: expected a date such as 2026-12-01, got a date and time 2026-12-01 09:30:00+08:00"),
    ("ends before it starts", "ends_on = 2026-12-31", "ends_on = 2026-11-30", "ends_on = 2026-11-30", "ends_on: 2026-11-30 is before starts_on 2026-12-01"),
    ("bad district in the scope", TASK_SCOPE, 'scope = { districts = ["500106", "5001"] }', '"5001"', "scope.districts: '5001' is not a 6-digit GB/T 2260 code"),
    ("unknown entity type", TASK_SCOPE, 'scope = { districts = ["500106"], entity_types = ["企业", "公司"] }', '"公司"', "scope.entity_types: unknown value '公司'; expected one of 企业/个体工商户/农民专业合作社/其他"),
    ("bad industry letter", TASK_SCOPE, 'scope = { industries = ["C13", "Z1"] }', '"Z1"', "scope.industries: 'Z1' is not a GB/T 4754 code or prefix"),
    ("industry too long", TASK_SCOPE, 'scope = { industries = ["C13111"] }', '"C13111"', "'C13111' is not a GB/T 4754 code"),
    ("a district twice", TASK_SCOPE, 'scope = { districts = ["500106", "500106"] }', "scope = {", "scope.districts: '500106' is listed twice"),
    ("item in two departments", 'items = ["WJW-01"]', 'items = ["WJW-01", "SCJG-02"]', '"SCJG-02"]', "department[1].items: item SCJG-02 is listed twice (also under SCJG)"),
    ("item twice, as a table the second time", YJJ_ITEMS, 'items = ["YJJ-01", { code = "WJW-01" }]', '{ code = "WJW-01" }', "department[2].items: item WJW-01 is listed twice (also under WJW)"),
    ("item given as a number", 'items = ["WJW-01"]', 'items = ["WJW-01", 7]', "7]", "department[1].items: entry 2 must be an item code or { code = ..., ratios = {...} }, got 7"),
    ("no items", 'items = ["WJW-01"]', "items = []", "items = []", "department[1].items: at least one item is needed"),
    ("item table without a code", YJJ_ITEMS, 'items = ["YJJ-01", { ratios = { C = "50%" } }]', "{ ratios", "department[2].items.code is missing"),
    ("item table with a bad code", YJJ_ITEMS, 'items = ["YJJ-01", { code = "YJJ 02" }]', '"YJJ 02"', "department[2].items.code: 'YJJ 02' is not a code"),
    ("department twice", 'code = "WJW"', 'code = "SCJG"  # again', "# again", "department[1].code: department SCJG is listed twice"),
    ("task ratio without percent sign", TASK_RATIOS, 'ratios = { A = "2%", B = "3" }', 'B = "3"', "ratios.B: expected a percentage such as \"3%\", got '3'"),
    ("task ratio as a number", TASK_RATIOS, 'ratios = { A = "2%", B = 0.03 }', "B = 0.03", "ratios.B: expected a string, got 0.03"),
    ("item ratio without percent sign", YJJ_ITEMS, 'items = ["YJJ-01", { code = "YJJ-02", ratios = { C = "3", D = "100%" } }]', 'C = "3"', "department[2].items.ratios.C: expected a percentage such as \"3%\", got '3'"),
    ("item ratio above 100%", YJJ_ITEMS, 'items = ["YJJ-01", { code = "YJJ-02", ratios = { C = "50%", D = "150%" } }]', 'D = "150%"', "department[2].items.ratios.D: a percentage must be between 0% and 100%, got '150%'"),
    ("item ratios not a table", YJJ_ITEMS, 'items = ["YJJ-01", { code = "YJJ-02", ratios = "50%" }]', "YJJ-02", "department[2].items.ratios: expected a table, got '50%'"),
    ("lead not taking part", 'lead = "SCJG"', 'lead = "AMR"', 'lead = "AMR"', "lead: the lead department AMR must take part: add a [[department]] for it"),
    ("replaces not a code", "ends_on = 2026-12-31\n", 'ends_on = 2026-12-31\nreplaces = "no such/code"\nreplace_reason = "x"\n', "replaces =", "replaces: 'no such/code' is not a code"),
]


class TestTaskRefusals:
    """A task file with a mistake is refused at the line of the offending key or value."""

    @pytest.mark.parametrize(("old", "new", "at", "reason"), [case[1:] for case in TASK_REFUSALS], ids=[case[0] for case in TASK_REFUSALS])
    def test_refused_at_the_line(self, old: str, new: str, at: str, reason: str) -> None:
        assert_refused_at(parse_task, "task.toml", edit(TASK, old, new), at, reason)

    def test_lead_outside_the_departments_after_removing_its_table(self) -> None:
        text = edit(TASK, '[[department]]\ncode = "SCJG"\nitems = ["SCJG-01", "SCJG-02", "SCJG-03", "SCJG-05"]\n', "")
        assert_refused_at(parse_task, "task.toml", text, 'lead = "SCJG"', "the lead department SCJG must take part")

    def test_ratio_in_a_ratios_table_header(self) -> None:
        text = edit(TASK, TASK_RATIOS, "")
        text = edit(text, '[[department]]\ncode = "SCJG"', '[ratios]\nA = "2%"\nB = "3"\n\n[[department]]\ncode = "SCJG"')
        assert_refused_at(parse_task, "task.toml", text, 'B = "3"', "ratios.B: expected a percentage")

    def test_unknown_key_in_the_third_department(self) -> None:
        text = edit(TASK, YJJ_ITEMS, YJJ_ITEMS + "\nitems_note = 1")
        assert_refused_at(parse_task, "task.toml", text, "items_note = 1", "department[2].items_note: unknown key")

    def test_missing_department_code_points_at_its_header(self) -> None:
        text = edit(TASK, '[[department]]\ncode = "WJW"\n', "[[department]]  # WJW\n")
        assert_refused_at(parse_task, "task.toml", text, "[[department]]  # WJW", "department[1].code is missing")

    def test_replaces_without_replace_reason_is_refused(self) -> None:
        text = edit(TASK, "ends_on = 2026-12-31\n", 'ends_on = 2026-12-31\nreplaces = "2026-SPB-JLP-2-0"\n')
        message = refusal(parse_task, "task.toml", text)
        assert "replaces: a replacement names the task it replaces and gives replace_reason, both or neither" in message

    def test_replace_reason_without_replaces_is_refused(self) -> None:
        text = edit(TASK, "ends_on = 2026-12-31\n", 'ends_on = 2026-12-31\nreplace_reason = "名录错误"\n')
        message = refusal(parse_task, "task.toml", text)
        assert "replace_reason: a replacement names the task it replaces and gives replace_reason, both or neither" in message

    def test_replaces_without_replace_reason_points_at_replaces(self) -> None:
        text = edit(TASK, "ends_on = 2026-12-31\n", 'ends_on = 2026-12-31\nreplaces = "2026-SPB-JLP-2-0"\n')
        assert_refused_at(parse_task, "task.toml", text, "replaces =", "both or neither")

    def test_replace_reason_without_replaces_points_at_replace_reason(self) -> None:
        text = edit(TASK, "ends_on = 2026-12-31\n", 'ends_on = 2026-12-31\nreplace_reason = "名录错误"\n')
        assert_refused_at(parse_task, "task.toml", text, "replace_reason =", "both or neither")

    @pytest.mark.parametrize("bad", ["  ", "WJW 01!"])
    def test_item_given_as_a_string_must_be_a_code(self, bad: str) -> None:
        text = edit(TASK, 'items = ["WJW-01"]', f'items = ["WJW-01", "{bad}"]')
        assert_refused_at(parse_task, "task.toml", text, f'"{bad}"', "department[1].items")


# --------------------------------------------------------------------------------------------
# Source.line
# --------------------------------------------------------------------------------------------


class TestSourceLine:
    """Source.line finds keys, array-of-tables entries and values in nested paths."""

    def test_plan_paths(self) -> None:
        source = Source("plan.toml", PLAN)
        second_header = PLAN.count("\n", 0, PLAN.index("number = 2"))
        assert source.line(("year",)) == line_of(PLAN, "year = 2026")
        assert source.line(("batch", 0)) == line_of(PLAN, "number = 1") - 1
        assert source.line(("batch", 1)) == second_header
        assert source.line(("batch", 1, "quantity")) == line_of(PLAN, "quantity = 60")
        assert source.line(("batch", 1, "scope", "districts"), "500107") == line_of(PLAN, BATCH2_SCOPE) + 1
        assert source.line(("batch", 0, "scope", "districts")) == line_of(PLAN, "quantity = 40") + 1

    def test_task_paths(self) -> None:
        source = Source("task.toml", TASK)
        assert source.line(("department", 2, "items", "ratios", "D")) == line_of(TASK, YJJ_ITEMS)
        assert source.line(("department", 2, "items"), "YJJ-02") == line_of(TASK, YJJ_ITEMS)
        assert source.line(("department", 1, "items"), "WJW-01") == line_of(TASK, 'items = ["WJW-01"]')
        assert source.line(("department", 1, "code")) == line_of(TASK, 'code = "WJW"')
        assert source.line(("ratios", "B")) == line_of(TASK, TASK_RATIOS)
        assert source.line(("scope", "districts"), "500107") == line_of(TASK, TASK_SCOPE)

    def test_what_cannot_be_found(self) -> None:
        source = Source("plan.toml", PLAN)
        assert source.line(()) is None
        assert source.line(("nothing",)) is None
        assert source.line(("batch", 2)) is None  # only two batches
        assert source.line(("batch", 1, "nothing")) == PLAN.count("\n", 0, PLAN.index("number = 2"))  # the header
        assert source.line(("year",), 1999) == line_of(PLAN, "year = 2026")  # value not there: the key

    def test_quoted_keys_headers_and_multiline_arrays(self) -> None:
        text = 'a = 1\n"code" = "x"\n\n[["batch"]]\nnumber = 1\n\n[[ batch ]]  # second\nnumber = 2\ndistricts = [\n  "500106",\n  "5001",\n]\n'
        source = Source("x.toml", text)
        assert source.line(("code",)) == 2
        assert source.line(("batch", 0, "number")) == 5
        assert source.line(("batch", 1)) == 7
        assert source.line(("batch", 1, "number")) == 8
        assert source.line(("batch", 1, "districts"), "5001") == 11

    def test_key_in_a_table_header_section(self) -> None:
        text = 'code = "t"\n\n[scope]\ndistricts = ["5001"]\n\n[ratios]\nA = "2%"\n'
        source = Source("x.toml", text)
        assert source.line(("scope",)) == 3
        assert source.line(("scope", "districts"), "5001") == 4
        assert source.line(("ratios", "A")) == 7

    def test_error_message_forms(self) -> None:
        source = Source("x.toml", 'code = "t"\n[scope]\ndistricts = ["5001"]\n')
        assert str(source.error(("scope", "districts"), "bad", "5001")) == "x.toml:3: scope.districts: bad"
        assert str(source.error(("department", 1, "items"), "bad")) == "x.toml: department[1].items: bad"
        assert str(source.error((), "bad")) == "x.toml: bad"
        assert isinstance(source.error((), "bad"), DefinitionError)


# --------------------------------------------------------------------------------------------
# Scope
# --------------------------------------------------------------------------------------------


BATCH_SCOPE = Scope(districts=("500106", "500107"))


class TestScopeWithin:
    """within() reports the first restriction of an inner scope that reaches outside the outer
    one; a field the inner scope leaves empty inherits the outer one's (narrowed)."""

    def test_same_or_narrower_is_within(self) -> None:
        assert BATCH_SCOPE.within(BATCH_SCOPE) is None
        assert Scope(districts=("500106",)).within(BATCH_SCOPE) is None
        assert Scope(districts=("500106",), stations=("所",), entity_types=("enterprise",), industries=("C",)).within(BATCH_SCOPE) is None

    def test_anything_is_within_an_unrestricted_scope(self) -> None:
        assert Scope().within(Scope()) is None
        assert Scope(districts=("999999",), industries=("Z",)).within(Scope()) is None

    def test_a_district_outside(self) -> None:
        assert Scope(districts=("500106", "500108")).within(BATCH_SCOPE) == ("districts", "500108")

    def test_an_empty_field_inherits_the_outer_restriction(self) -> None:
        assert Scope().within(BATCH_SCOPE) is None
        assert Scope().narrowed(BATCH_SCOPE) == BATCH_SCOPE
        assert Scope(districts=("500106",)).within(Scope(stations=("所",))) is None
        assert Scope(districts=("500106",)).narrowed(Scope(stations=("所",))) == Scope(districts=("500106",), stations=("所",))

    def test_fields_are_checked_in_order(self) -> None:
        inner = Scope(districts=("500108",), stations=("other",))
        assert inner.within(Scope(districts=("500106",), stations=("所",))) == ("districts", "500108")

    def test_industries_by_prefix(self) -> None:
        outer = Scope(industries=("C", "F52"))
        assert Scope(industries=("C13", "F5211", "C")).within(outer) is None
        assert Scope(industries=("F5",)).within(outer) == ("industries", "F5")  # wider than F52
        assert Scope(industries=("G",)).within(outer) == ("industries", "G")
        assert Scope().within(outer) is None

    def test_a_parsed_task_without_scope_takes_the_batch_scope(self) -> None:
        """A task with no scope under batch 2 (two districts) covers the batch's two districts."""
        batch = parse_plan("plan.toml", PLAN).batches[1]
        task = parse_task("task.toml", edit(TASK, TASK_SCOPE, ""))
        assert task.scope == Scope()
        assert task.scope.within(batch.scope) is None
        assert task.scope.narrowed(batch.scope) == batch.scope
        assert parse_task("task.toml", TASK).scope.within(batch.scope) is None


class TestScopeNarrowed:
    """narrowed() fills in the outer restrictions where the scope has none, keeping its own."""

    def test_fills_in_and_keeps(self) -> None:
        outer = Scope(districts=("500106", "500107"), entity_types=("enterprise",), industries=("C",))
        inner = Scope(districts=("500106",), stations=("所",))
        assert inner.narrowed(outer) == Scope(districts=("500106",), stations=("所",), entity_types=("enterprise",), industries=("C",))
        assert Scope().narrowed(outer) == outer
        assert inner.narrowed(Scope()) == inner

    def test_a_narrowed_scope_is_within_the_outer_one(self) -> None:
        """Whenever within() holds, the narrowed scope keeps the inner restrictions and is itself
        within the outer scope."""
        values = [(), ("500106",), ("500106", "500107")]
        industries = [(), ("C",), ("C13",)]
        scopes = [Scope(districts=d, industries=i) for d in values for i in industries]
        for outer in scopes:
            for inner in scopes:
                if inner.within(outer) is None:
                    narrowed = inner.narrowed(outer)
                    assert narrowed.within(outer) is None
                    assert narrowed.districts == (inner.districts or outer.districts)

    def test_dict_round_trip(self) -> None:
        scope = Scope(("500106",), ("所",), ("enterprise",), ("C13",))
        assert scope.as_dict() == {"districts": ["500106"], "stations": ["所"], "entity_types": ["enterprise"], "industries": ["C13"]}
        assert Scope.from_dict(scope.as_dict()) == scope
        assert Scope.from_dict({"districts": ["500106"]}) == Scope(districts=("500106",))


# --------------------------------------------------------------------------------------------
# Policy [draw]
# --------------------------------------------------------------------------------------------


class TestPolicyDrawDefaults:
    """The shipped policy draws A 1%, B 3%, C 10%, D 30%, with the frequency rules of 54号."""

    def test_default_values(self) -> None:
        policy = load_policy()
        assert policy.draw_ratios == ("1%", "3%", "10%", "30%")
        assert policy.general_max_ratio == "50%"
        assert policy.recheck_months == 12
        assert policy.yearly_cap == 4
        assert policy.inspectors_per_visit == 2

    def test_ratios_are_stored_in_canonical_spelling(self) -> None:
        policy = parse_policy(policy_edit('B = "3%"', 'B = "3.00%"'), "p.toml")
        assert policy.draw_ratios[1] == "3%"
        assert policy.sha256 == load_policy().sha256

    def test_equal_tiers_and_other_values_are_accepted(self) -> None:
        text = policy_edit('ratios = { A = "1%", B = "3%", C = "10%", D = "30%" }', 'ratios = { A = "0.5%", B = "0.5%", C = "12.25%", D = "100%" }')
        text = edit(text, 'general_max_ratio = "50%"', 'general_max_ratio = "100%"')
        text = edit(text, "yearly_cap = 4 ", "yearly_cap = 366 ")
        text = edit(text, "recheck_months = 12 ", "recheck_months = 0 ")
        policy = parse_policy(text, "p.toml")
        assert policy.draw_ratios == ("0.5%", "0.5%", "12.25%", "100%")
        assert (policy.general_max_ratio, policy.yearly_cap, policy.recheck_months) == ("100%", 366, 0)
        assert policy.sha256 != load_policy().sha256


POLICY_REFUSALS = [
    ("a tier at 0%", 'A = "1%"', 'A = "0%"', ["draw.ratios: tier A has ratio 0%", "不免抽"]),
    ("D below C", 'D = "30%"', 'D = "5%"', ["draw.ratios: tier D (5%) is below tier C (10%): a riskier tier is never drawn less"]),
    ("B below A", 'A = "1%"', 'A = "3.5%"', ["draw.ratios: tier B (3%) is below tier A (3.5%)"]),
    ("above general_max_ratio", 'D = "30%"', 'D = "60%"', ["draw.ratios: tier D (60%) is above general_max_ratio (50%)", "一般检查事项"]),
    ("general_max_ratio 0%", 'general_max_ratio = "50%"', 'general_max_ratio = "0%"', ["draw.general_max_ratio: must be above 0%"]),
    ("general_max_ratio not a percentage", 'general_max_ratio = "50%"', 'general_max_ratio = "50"', ["draw.general_max_ratio: expected a percentage such as \"3%\", got '50'"]),
    ("yearly_cap 0", "yearly_cap = 4 ", "yearly_cap = 0 ", ["draw.yearly_cap: checks per enterprise per year must be between 1 and 366, got 0"]),
    ("yearly_cap 367", "yearly_cap = 4 ", "yearly_cap = 367 ", ["draw.yearly_cap:", "got 367"]),
    ("yearly_cap a string", "yearly_cap = 4 ", 'yearly_cap = "4" ', ["draw.yearly_cap: expected an integer, got str '4'"]),
    ("one inspector", "inspectors_per_visit = 2 ", "inspectors_per_visit = 1 ", ["draw.inspectors_per_visit: must be between 2 (执法人员不得少于两人) and 20, got 1"]),
    ("recheck_months negative", "recheck_months = 12 ", "recheck_months = -1 ", ["draw.recheck_months: months must be between 0 and 1200, got -1"]),
    ("a missing tier", ', D = "30%"', "", ["draw.ratios.D: missing"]),
    ("a tier without percent sign", 'B = "3%"', 'B = "3"', ["draw.ratios.B: expected a percentage such as \"3%\", got '3'"]),
    ("a tier as a number", 'B = "3%"', "B = 0.03", ["draw.ratios.B: expected a string, got float 0.03"]),
    ("a tier above 100%", 'D = "30%"', 'D = "130%"', ["draw.ratios.D: a percentage must be between 0% and 100%, got '130%'"]),
    ("an unknown tier", 'D = "30%"', 'D = "30%", E = "40%"', ["draw.ratios.E: unknown key"]),
    ("an unknown key in [draw]", "yearly_cap = 4 ", "yearly_cap = 4\ncolour = 1 ", ["draw.colour: unknown key"]),
    ("ratios not a table", 'ratios = { A = "1%", B = "3%", C = "10%", D = "30%" }', 'ratios = "1%"', ["draw.ratios: expected a table, got str '1%'"]),
]


class TestPolicyDrawRefusals:
    """A [draw] section that breaks the rules is refused with the key and the reason."""

    @pytest.mark.parametrize(("old", "new", "reasons"), [case[1:] for case in POLICY_REFUSALS], ids=[case[0] for case in POLICY_REFUSALS])
    def test_refused(self, old: str, new: str, reasons: list[str]) -> None:
        message = policy_refusal(policy_edit(old, new))
        for reason in reasons:
            assert reason in message, message

    def test_no_draw_section(self) -> None:
        text = POLICY[: POLICY.index("[draw]")]
        assert "draw: missing" in policy_refusal(text)


class TestCheckTierRatios:
    """check_tier_ratios: every tier drawn (no 0%), a riskier tier never drawn less."""

    def test_good_ratios(self) -> None:
        assert check_tier_ratios({"A": Fraction(1, 100), "B": Fraction(3, 100), "C": Fraction(1, 10), "D": Fraction(3, 10)}) is None
        assert check_tier_ratios(dict.fromkeys("ABCD", Fraction(1, 200))) is None

    def test_zero_tier(self) -> None:
        problem = check_tier_ratios({"A": Fraction(1, 100), "B": Fraction(3, 100), "C": Fraction(0), "D": Fraction(3, 10)})
        assert problem == "tier C has ratio 0%: no tier is exempt from the draw (不免抽)"

    def test_decreasing(self) -> None:
        problem = check_tier_ratios({"A": Fraction(1, 100), "B": Fraction(3, 100), "C": Fraction(1, 10), "D": Fraction(1, 200)})
        assert problem == "tier D (0.5%) is below tier C (10%): a riskier tier is never drawn less"


class TestPercent:
    """parse_percent is exact; format_percent is its canonical inverse."""

    @pytest.mark.parametrize(
        ("text", "ratio"),
        [("3%", Fraction(3, 100)), ("0.5%", Fraction(1, 200)), ("100%", Fraction(1)), ("0%", Fraction(0)),
         ("12.25%", Fraction(49, 400)), (" 3 % ", Fraction(3, 100)), ("3.0%", Fraction(3, 100)), ("0.001%", Fraction(1, 100_000))],
    )
    def test_parse(self, text: str, ratio: Fraction) -> None:
        parsed = parse_percent(text)
        assert parsed == ratio and type(parsed) is Fraction

    def test_exact_where_floats_are_not(self) -> None:
        assert parse_percent("3%") * 100 == 3
        assert parse_percent("0.1%") + parse_percent("0.2%") == parse_percent("0.3%")

    @pytest.mark.parametrize(
        ("value", "message"),
        [("3", 'expected a percentage such as "3%"'), ("abc%", 'expected a percentage such as "3%"'), ("%", 'expected a percentage such as "3%"'),
         (0.03, 'expected a percentage such as "3%"'), ("-1%", "a percentage must be between 0% and 100%, got '-1%'"),
         ("101%", "a percentage must be between 0% and 100%"), ("100.01%", "between 0% and 100%"), ("NaN%", "between 0% and 100%"), ("Infinity%", "between 0% and 100%")],
    )
    def test_refused(self, value: Any, message: str) -> None:
        with pytest.raises(ValueError, match="^") as info:
            parse_percent(value)
        assert message in str(info.value)

    @pytest.mark.parametrize("text", ["0.5%", "3%", "100%", "12.25%", "0%", "0.001%", "99.999%"])
    def test_format_round_trips(self, text: str) -> None:
        assert format_percent(parse_percent(text)) == text

    def test_format_canonical(self) -> None:
        assert format_percent(Fraction(3, 100)) == "3%"
        assert format_percent(Fraction(1, 200)) == "0.5%"
        assert format_percent(Fraction(1)) == "100%"
        assert format_percent(Fraction(1, 10)) == "10%"
        assert format_percent(parse_percent("3.000%")) == "3%"
