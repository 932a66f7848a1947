"""`spotcheck result import`: results of visits from CSV (UTF-8 or GB18030) or XLSX, English or
Chinese headers, under the very rules of `result record`; one bad row refuses the whole file,
naming every bad row, and nothing is stored. Both databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from inspection.enums import Measure
from tests.cli import test_assign
from tests.cli.test_assign import inspector, load_inspectors
from tests.cli.test_task import STATION_A, USCC, create, draw, load_small, rows
from tests.conftest import Env, snapshot

drawn = test_assign.drawn  # the fixture: task T1 (12 visits, March 2026, item K-01) drawn

ZH = ["检查编号", "检查事项编码", "录入人员编号", "是否检查", "核查方式", "检查结果", "发现问题情况", "后续处置措施", "检查日期"]
EN = ["visit", "item", "inspector", "checked", "methods", "results", "findings", "measure", "date"]
FINDINGS = "未按规定公示股东出资信息"


@pytest.fixture
def assigned(drawn: tuple[Env, dict[int, str]]) -> tuple[Env, dict[int, str]]:
    """T1 staffed by JC0001 and JC0002, the only ones qualified for K-01: every visit has the same
    team, so one of them may import a file of several visits (an inspector records only their own)."""
    env, u = drawn
    load_inspectors(env, [inspector(n, qualified="K-01" if n <= 2 else "K-02") for n in range(1, 5)])
    env.run("task", "assign", "T1")
    return env, u


@pytest.fixture
def two_items(env: Env, make_uscc: USCC) -> Env:
    """T1 on K-01 and K-02: each of its 12 visits covers both items."""
    def build() -> None:
        load_small(env, make_uscc)
        create(env, "T1", stations=[STATION_A], items=("K-01", "K-02"), extra="cross_station = true\nvisits_per_day = 2\n")
        draw(env, "T1")
        load_inspectors(env, [inspector(n, qualified="K-01;K-02") for n in range(1, 5)])
        env.run("task", "assign", "T1")

    snapshot(env, "two_items", build)
    return env


def team(env: Env, rank: int) -> list[str]:
    """The inspector numbers on visit T1/rank's team."""
    return [number for (number,) in rows(env, (
        "SELECT i.inspector_no FROM assignments a JOIN inspectors i ON i.id = a.inspector_id"
        " JOIN visits v ON v.id = a.visit_id JOIN tasks t ON t.id = v.task_id"
        f" WHERE t.code = 'T1' AND v.rank = {rank} ORDER BY i.inspector_no"
    ))]


def outsider(env: Env, rank: int) -> str:
    """An inspector of the directory who is not on visit T1/rank's team."""
    return next(n for n in (f"JC{k:04d}" for k in range(1, 5)) if n not in team(env, rank))


def uscc_of(env: Env, rank: int) -> str:
    return str(env.scalar(
        "SELECT e.uscc FROM visits v JOIN enterprises e ON e.id = v.enterprise_id JOIN tasks t ON t.id = v.task_id"
        f" WHERE t.code = 'T1' AND v.rank = {rank}"
    ))


def clean(env: Env, rank: int, item: str = "K-01", **change: str) -> list[str]:
    """A row of the Chinese layout: item checked on site, nothing found; ``change`` by English name."""
    row = dict(zip(EN, [f"T1/{rank}", item, team(env, rank)[0], "是", "实地检查", "1", "", "", ""]))
    row.update(change)
    return [row[name] for name in EN]


def nothing_stored(env: Env) -> None:
    assert env.scalar("SELECT count(*) FROM item_results") == 0
    assert env.scalar("SELECT count(*) FROM visit_results") == 0


def write_xlsx(path: Path, header: list[str], data: list[list[Any]], title: str = "results") -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append(header)
    for row in data:
        sheet.append(row)
    book.save(path)
    return path


class TestRecorded:
    """Good files are recorded exactly as `result record` would record them."""

    @pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
    def test_csv_with_chinese_headers(self, assigned: tuple[Env, dict[int, str]], encoding: str) -> None:
        env, _ = assigned
        data = [
            clean(env, 1),
            clean(env, 2, methods="实地检查、书面检查", results="A;2;B", findings=FINDINGS, measure="责令改正", date="2026-03-20"),
            clean(env, 3, checked="否", methods="", results="F"),
            clean(env, 4, visit=f"T1/{uscc_of(env, 4)}", checked="", methods="书面检查；网络监测", results="未发现问题"),
        ]
        path = env.csv("results.csv", ZH, data, encoding=encoding)
        assert env.json("result", "import", str(path)) == {"visits": 4, "items": 4}

        first = env.json("result", "show", "T1/1")
        assert first["state"] == "录入"
        assert first["items"] == [{
            "item": "K-01", "name": "登记事项的检查", "department": "市场监督管理局", "recorded": True, "checked": True,
            "methods": ["实地检查"], "result_codes": ["1"], "findings": "", "measure": Measure.NONE.label, "recorded_by": team(env, 1)[0],
        }]
        second = env.json("result", "show", "T1/2")
        assert second["checked_on"] == "2026-03-20"
        item = second["items"][0]
        assert (item["methods"], item["result_codes"], item["findings"], item["measure"]) == (
            ["实地检查", "书面检查"], ["A", "2", "B"], FINDINGS, Measure.ORDER.label)
        third = env.json("result", "show", "T1/3")["items"][0]
        assert (third["checked"], third["result_codes"], third["measure"]) == (False, ["F"], Measure.NONE.label)
        fourth = env.json("result", "show", "T1/4")["items"][0]
        assert (fourth["checked"], fourth["methods"], fourth["result_codes"]) == (True, ["书面检查", "网络监测"], ["1"])
        # The check date defaults to the visit's scheduled day.
        scheduled = env.scalar("SELECT v.scheduled_on FROM visits v JOIN tasks t ON t.id = v.task_id WHERE t.code = 'T1' AND v.rank = 1")
        assert first["checked_on"] == str(scheduled)[:10]
        assert env.scalar("SELECT count(*) FROM item_results") == 4

    def test_xlsx_with_english_headers_and_typed_cells(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        data: list[list[Any]] = [
            [f"T1/{r}", "K-01", team(env, r)[1], True, "onsite", 1, None, None, dt.date(2026, 3, 2 + r)] for r in (5, 6)
        ]
        data.append(["T1/7", "K-01", team(env, 7)[0], False, None, "7", None, "其他", None])
        path = write_xlsx(env.tmp / "results.xlsx", EN, data)
        out = env.run("result", "import", str(path)).stdout
        assert out.strip() == "results.xlsx: 3 item result(s) on 3 visit(s) recorded"
        fifth = env.json("result", "show", "T1/5")
        assert fifth["checked_on"] == "2026-03-07"
        assert fifth["items"][0]["result_codes"] == ["1"] and fifth["items"][0]["recorded_by"] == team(env, 5)[1]
        seventh = env.json("result", "show", "T1/7")["items"][0]
        assert (seventh["checked"], seventh["result_codes"], seventh["measure"]) == (False, ["7"], Measure.OTHER.label)

    def test_xlsx_other_sheet(self, assigned: tuple[Env, dict[int, str]]) -> None:
        import openpyxl

        env, _ = assigned
        path = write_xlsx(env.tmp / "book.xlsx", ["说明"], [["见第二页"]], title="readme")
        book = openpyxl.load_workbook(path)
        sheet = book.create_sheet("结果")
        sheet.append(ZH)
        sheet.append(clean(env, 1))
        book.save(path)
        assert env.json("result", "import", str(path), "--sheet", "结果") == {"visits": 1, "items": 1}
        assert "missing required column(s)" in env.run("result", "import", str(path), expect=1).stderr

    def test_rows_of_one_visit_from_two_members(self, two_items: Env) -> None:
        env = two_items
        first, second = team(env, 1)
        data = [clean(env, 1, "K-01", inspector=first), clean(env, 1, "K-02", inspector=second, methods="书面检查")]
        assert env.json("result", "import", str(env.csv("r.csv", ZH, data))) == {"visits": 1, "items": 2}
        items = env.json("result", "show", "T1/1")["items"]
        assert [(i["item"], i["recorded_by"]) for i in items] == [("K-01", first), ("K-02", second)]
        # Complete now: a member can submit it.
        env.run("result", "submit", "T1/1", "--inspector", second)

    def test_reimport_rerecords_while_entered(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        env.run("result", "import", str(env.csv("a.csv", ZH, [clean(env, 1)])))
        changed = clean(env, 1, results="A;2;B", findings=FINDINGS, measure="order")
        env.run("result", "import", str(env.csv("b.csv", ZH, [changed])))
        assert env.json("result", "show", "T1/1")["items"][0]["result_codes"] == ["A", "2", "B"]


class TestRefused:
    """Any bad row refuses the file: every bad row is named with its row number, nothing is stored."""

    def test_every_bad_row_named_and_nothing_stored(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        data = [
            clean(env, 1),                                                   # row 2: good
            clean(env, 2, inspector=outsider(env, 2)),                       # row 3: not on the team
            clean(env, 3, results="Z"),                                      # row 4: unknown code
            clean(env, 4, results="1;A;2;B", findings=FINDINGS, measure="责令改正"),  # row 5: 1 with others
            clean(env, 5, results="A;2;B", findings=FINDINGS),               # row 6: a problem without measure
            clean(env, 6),                                                   # row 7: good
            clean(env, 7, inspector=""),                                     # row 8: required value missing
            clean(env, 8, item="K-99"),                                      # row 9: not an item of the visit
            clean(env, 9, date="2026-13-01"),                                # row 10: bad date
            clean(env, 10, checked="也许"),                                  # row 11: bad 是否检查
        ]
        err = env.run("result", "import", str(env.csv("results.csv", ZH, data)), expect=1).stderr
        assert "results.csv: 8 of 10 row(s) refused; nothing was recorded" in err
        assert "results.csv: row 3: " in err and f"({outsider(env, 2)}) is not on the team of visit T1/2" in err
        assert "results.csv: row 4: unknown result code 'Z'" in err
        assert "results.csv: row 5: result 1 (未发现问题) cannot be combined with other results" in err
        assert "results.csv: row 6: a result other than 未发现问题 needs its 后续处置措施" in err
        assert "results.csv: row 8: inspector: missing required value" in err
        assert "results.csv: row 9: visit T1/8 does not cover item 'K-99'" in err
        assert "results.csv: row 10: date: unparseable date '2026-13-01'" in err
        assert "results.csv: row 11: checked: not a yes/no value" in err
        assert "row 2:" not in err and "row 7:" not in err
        nothing_stored(env)

    @pytest.mark.parametrize(("change", "reason"), [
        ({"results": "9", "measure": "其他"}, "result 9 (注销) means the item could not be checked"),
        ({"results": "A;2;B", "measure": "无需后续处置", "findings": FINDINGS}, "needs a 后续处置措施 other than"),
        ({"results": "A;2;B", "measure": "责令改正"}, "a problem found needs its 发现问题情况"),
        ({"methods": ""}, "a checked item needs its 核查方式"),
        ({"methods": "飞行检查"}, "unknown value '飞行检查'"),
        ({"visit": "T1/99"}, "task T1 has no visit '99'"),
        ({"inspector": "JC9999"}, "no inspector 'JC9999'"),
        ({"date": "2026-04-02"}, "outside task T1's window"),
    ])
    def test_rule_of_result_record(self, assigned: tuple[Env, dict[int, str]], change: dict[str, str], reason: str) -> None:
        env, _ = assigned
        data = [clean(env, 1), clean(env, 2, **change)]
        err = env.run("result", "import", str(env.csv("r.csv", ZH, data)), expect=1).stderr
        assert "r.csv: row 3: " in err and reason in err
        nothing_stored(env)

    def test_line_breaks_and_huge_values_give_one_short_line(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        data = [clean(env, 1), clean(env, 2, methods="实地检查\r\nrow 9: 伪造"), clean(env, 3, visit="T1/3\n伪造的第二行"),
                clean(env, 4, methods="检" * 20_000)]
        err = env.run("result", "import", str(env.csv("r.csv", ZH, data)), expect=1).stderr
        lines = [line for line in err.splitlines() if not line.startswith("{")]  # not the JSON log event
        assert [line.split(": ")[1] for line in lines if line.startswith("r.csv: row")] == ["row 3", "row 4", "row 5"], err
        assert "unknown value '实地检查\\r\\nrow 9: 伪造'" in err and "'3\\n伪造的第二行'" in err
        assert not [line for line in lines if line.startswith(("row 9", "伪造"))]
        huge = next(line for line in lines if line.startswith("r.csv: row 5: "))
        assert "characters left out" in huge and len(huge) < 600, len(huge)
        nothing_stored(env)

    def test_same_visit_and_item_twice(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        # The second row names the same visit by its USCC.
        data = [clean(env, 1), clean(env, 2), clean(env, 1, visit=f"T1/{uscc_of(env, 1)}", results="E")]
        err = env.run("result", "import", str(env.csv("r.csv", ZH, data)), expect=1).stderr
        assert "r.csv: row 4: visit T1/1 item K-01 is already given in row 2" in err
        nothing_stored(env)

    def test_two_dates_for_one_visit(self, two_items: Env) -> None:
        env = two_items
        data = [clean(env, 1, "K-01", date="2026-03-10"), clean(env, 1, "K-02", date="2026-03-11")]
        err = env.run("result", "import", str(env.csv("r.csv", ZH, data)), expect=1).stderr
        assert "r.csv: row 3: 检查日期 2026-03-11 differs from 2026-03-10 given for visit T1/1 in row 2" in err
        nothing_stored(env)

    def test_submitted_results_are_refused(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        env.run("result", "import", str(env.csv("a.csv", ZH, [clean(env, 1)])))
        env.run("result", "submit", "T1/1", "--inspector", team(env, 1)[0])
        err = env.run("result", "import", str(env.csv("b.csv", ZH, [clean(env, 2), clean(env, 1)])), expect=1).stderr
        assert "b.csv: row 3: the results of visit T1/1 are 待审核" in err
        assert env.scalar("SELECT count(*) FROM item_results") == 1

    def test_many_bad_rows_are_capped(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        data = [clean(env, 1, results="Z") for _ in range(60)]
        err = env.run("result", "import", str(env.csv("r.csv", ZH, data)), expect=1).stderr
        assert "r.csv: row 51: unknown result code 'Z'" in err and "r.csv: row 52:" not in err
        assert "... and 10 more" in err
        nothing_stored(env)


class TestFile:
    """File-level problems, as in the directory imports."""

    def test_missing_required_column(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        header = [h for h in ZH if h != "检查结果"]
        data = [[c for h, c in zip(ZH, clean(env, 1)) if h != "检查结果"]]
        err = env.run("result", "import", str(env.csv("r.csv", header, data)), expect=1).stderr
        assert "r.csv: missing required column(s): results (检查结果)" in err
        nothing_stored(env)

    def test_header_only(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        err = env.run("result", "import", str(env.csv("r.csv", ZH, [])), expect=1).stderr
        assert "r.csv: the file has a header but no data rows" in err

    def test_unknown_extension(self, assigned: tuple[Env, dict[int, str]]) -> None:
        env, _ = assigned
        path = env.tmp / "r.txt"
        path.write_text(",".join(ZH) + "\n", encoding="utf-8")
        assert "r.txt: unsupported file type .txt; use .csv or .xlsx" in env.run("result", "import", str(path), expect=1).stderr
