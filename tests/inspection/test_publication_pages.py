"""一公开: the public CSV, JSON and HTML pages of a task's results show every record with its
correction chain, are safe to open (no formulas, no markup from data), deterministic, and carry
nothing but what the public may see."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from inspection.publication_pages import CSV_HEADER, PublishedRecord, row_ids, write_pages

TASK = "2026-SPB-JLP-2"
TASK_NAME = "2026年九龙坡区食品经营者联合抽查"
ORIGINAL = "2026-SPB-JLP-2-1/7-SCJG"
CORRECTION = ORIGINAL + "-R2"
UNTOUCHED = "2026-SPB-JLP-2-2/7-SCJG"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "headless_shell")


def record(number: str, name: str = "重庆市九龙坡区某某餐饮有限公司", **change: object) -> PublishedRecord:
    base = PublishedRecord(
        number=number, enterprise_name=name, uscc="91500107MA5U7JXX3K", task_code=TASK, task_name=TASK_NAME,
        checked_on=dt.date(2026, 12, 3), department_name="九龙坡区市场监督管理局", result="未发现问题",
        published_on=dt.date(2026, 12, 20), corrects=None, corrected_by=None, correction_reason=None,
    )
    return dataclasses.replace(base, **change)  # type: ignore[arg-type]


RECORDS = [
    record(ORIGINAL, result="未发现问题", corrected_by=CORRECTION),
    record(UNTOUCHED, name="重庆某某超市有限公司", uscc="91500107MA60AB1234", result="发现问题已责令整改；未按规定公示信息"),
    record(CORRECTION, result="发现问题已责令整改", published_on=dt.date(2026, 12, 28), corrects=ORIGINAL,
           correction_reason="检查结果录入错误"),
]


@pytest.fixture
def pages(tmp_path: Path) -> list[Path]:
    return write_pages(tmp_path / "out" / TASK, TASK, TASK_NAME, RECORDS)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


class Table(HTMLParser):
    """The rows of the page's tbody (id, class, cell texts), every id and every in-page link."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, object]] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.scripts = 0
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "a" and a.get("href"):
            self.hrefs.append(str(a["href"]))
        self.scripts += tag == "script"
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append({"id": a.get("id"), "class": a.get("class"), "cells": []})
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append("".join(self._cell).strip())  # type: ignore[union-attr]
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> Table:
    parser = Table()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


class TestFiles:
    def test_three_files_in_order(self, pages: list[Path], tmp_path: Path) -> None:
        assert [p.name for p in pages] == ["results.csv", "results.json", "index.html"]
        assert all(p.parent == tmp_path / "out" / TASK and p.is_file() for p in pages)

    def test_the_record_has_no_field_for_inspectors_or_credit(self) -> None:
        """The public page cannot leak what the record does not carry."""
        assert [f.name for f in dataclasses.fields(PublishedRecord)] == [
            "number", "enterprise_name", "uscc", "task_code", "task_name", "checked_on", "department_name",
            "result", "published_on", "corrects", "corrected_by", "correction_reason"]

    def test_a_repeated_number_is_refused_before_writing(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="twice"):
            write_pages(tmp_path / "x", TASK, TASK_NAME, [record(UNTOUCHED), record(UNTOUCHED)])
        assert not (tmp_path / "x").exists()


class TestCsv:
    def test_bom_and_exact_header(self, pages: list[Path]) -> None:
        raw = pages[0].read_bytes()
        assert raw.startswith(codecs.BOM_UTF8)
        assert raw[len(codecs.BOM_UTF8):].split(b"\r\n")[0].decode() == (
            "公示编号,企业名称,统一社会信用代码,任务编号,任务名称,检查日期,检查实施部门,检查结果,公示日期,状态,更正说明")
        assert tuple(csv_rows(pages[0])[0]) == CSV_HEADER

    def test_rows_in_given_order_with_dates(self, pages: list[Path]) -> None:
        rows = csv_rows(pages[0])
        assert [r["公示编号"] for r in rows] == [ORIGINAL, UNTOUCHED, CORRECTION]
        assert rows[1]["检查日期"] == "2026-12-03" and rows[2]["公示日期"] == "2026-12-28"
        assert rows[1]["检查结果"] == "发现问题已责令整改；未按规定公示信息" and rows[1]["任务编号"] == TASK

    def test_statuses_and_notes_of_a_correction_chain(self, pages: list[Path]) -> None:
        original, untouched, correction = csv_rows(pages[0])
        assert (original["状态"], original["更正说明"]) == ("已更正", f"已由公示编号 {CORRECTION} 更正")
        assert (correction["状态"], correction["更正说明"]) == ("更正", f"更正公示编号 {ORIGINAL} 的记录：检查结果录入错误")
        assert (untouched["状态"], untouched["更正说明"]) == ("有效", "")

    def test_a_corrected_correction_is_corrected(self, tmp_path: Path) -> None:
        middle = record("N-R2", corrects="N", corrected_by="N-R3", correction_reason="日期有误")
        rows = csv_rows(write_pages(tmp_path, TASK, TASK_NAME, [middle])[0])
        assert rows[0]["状态"] == "已更正"
        assert rows[0]["更正说明"] == "更正公示编号 N 的记录：日期有误；已由公示编号 N-R3 更正"

    def test_formulas_are_neutralised(self, tmp_path: Path) -> None:
        evil = record(UNTOUCHED, name="=HYPERLINK(\"http://x\")", result="-1+1", department_name="@SUM(A1)")
        row = csv_rows(write_pages(tmp_path, TASK, TASK_NAME, [evil])[0])[0]
        assert row["企业名称"] == "'=HYPERLINK(\"http://x\")"
        assert row["检查结果"] == "'-1+1" and row["检查实施部门"] == "'@SUM(A1)"
        assert row["公示编号"] == UNTOUCHED  # ordinary cells untouched


class TestJson:
    def test_round_trip(self, pages: list[Path]) -> None:
        document = json.loads(pages[1].read_text(encoding="utf-8"))
        assert (document["task"], document["task_name"]) == (TASK, TASK_NAME)
        original, untouched, correction = document["records"]
        assert original == {
            "number": ORIGINAL, "enterprise_name": RECORDS[0].enterprise_name, "uscc": "91500107MA5U7JXX3K",
            "task": TASK, "task_name": TASK_NAME, "checked_on": "2026-12-03", "department": "九龙坡区市场监督管理局",
            "result": "未发现问题", "published_on": "2026-12-20", "status": "corrected", "corrects": None,
            "corrected_by": CORRECTION, "correction_reason": None}
        assert (untouched["status"], correction["status"]) == ("current", "correction")
        assert (correction["corrects"], correction["correction_reason"]) == (ORIGINAL, "检查结果录入错误")
        rebuilt = [dt.date.fromisoformat(r["checked_on"]) for r in document["records"]]
        assert rebuilt == [r.checked_on for r in RECORDS]

    def test_chinese_is_not_escaped(self, pages: list[Path]) -> None:
        assert TASK_NAME in pages[1].read_text(encoding="utf-8")

    def test_deterministic(self, tmp_path: Path) -> None:
        first = write_pages(tmp_path / "a", TASK, TASK_NAME, RECORDS)
        second = write_pages(tmp_path / "b", TASK, TASK_NAME, RECORDS)
        for a, b in zip(first, second, strict=True):
            assert a.read_bytes() == b.read_bytes(), a.name


class TestHtml:
    def test_one_row_per_record_with_unique_ids(self, pages: list[Path]) -> None:
        page = parse(pages[2])
        assert len(page.rows) == len(RECORDS)
        assert [r["id"] for r in page.rows] == ["r-2026-SPB-JLP-2-1_7-SCJG", "r-2026-SPB-JLP-2-2_7-SCJG",
                                                "r-2026-SPB-JLP-2-1_7-SCJG-R2"]
        assert len(set(page.ids)) == len(page.ids)
        assert [r["cells"][0] for r in page.rows] == ["1", "2", "3"]  # type: ignore[index]
        assert page.rows[1]["cells"][1:3] == ["重庆某某超市有限公司", "91500107MA60AB1234"]  # type: ignore[index]

    def test_correction_links_both_ways(self, pages: list[Path]) -> None:
        page = parse(pages[2])
        assert all(h.startswith("#") and h[1:] in page.ids for h in page.hrefs)
        original, untouched, correction = page.rows
        assert sorted(page.hrefs) == sorted([f"#{original['id']}", f"#{correction['id']}"])
        assert original["class"] == "corrected" and "已更正" in original["cells"][-1]  # type: ignore[index]
        assert correction["class"] == "correction" and "检查结果录入错误" in correction["cells"][-1]  # type: ignore[index]
        assert untouched["cells"][-1] == "有效"  # type: ignore[index]

    def test_corrected_rows_are_struck_through(self, pages: list[Path]) -> None:
        assert "tr.corrected td.data { text-decoration: line-through;" in pages[2].read_text(encoding="utf-8")

    def test_a_number_not_on_the_page_is_named_not_linked(self, tmp_path: Path) -> None:
        late = record("N-R2", corrects="N", correction_reason="名称有误")
        page = parse(write_pages(tmp_path, TASK, TASK_NAME, [late])[2])
        assert page.hrefs == [] and "公示编号 N 的记录：名称有误" in page.rows[0]["cells"][-1]  # type: ignore[index]

    def test_title_lead_and_footer(self, pages: list[Path]) -> None:
        text = pages[2].read_text(encoding="utf-8")
        assert f"<title>{TASK_NAME} 抽查检查结果公示</title>" in text and "抽查检查结果公示" in text
        assert f"任务编号：{TASK}" in text and "双随机、一公开" in text
        assert "共 3 条记录，其中更正 1 条。" in text

    def test_markup_in_a_name_is_escaped(self, tmp_path: Path) -> None:
        evil = record(UNTOUCHED, name="<script>alert(1)</script>某公司")
        path = write_pages(tmp_path, TASK, "<b>任务</b>", [evil])[2]
        text = path.read_text(encoding="utf-8")
        assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;某公司" in text
        assert "<b>任务</b>" not in text
        page = parse(path)
        assert page.scripts == 0 and page.rows[0]["cells"][1] == "<script>alert(1)</script>某公司"  # type: ignore[index]

    def test_no_credit_tier_and_no_external_resource(self, pages: list[Path]) -> None:
        text = pages[2].read_text(encoding="utf-8")
        assert "类" not in text and "信用风险" not in text
        assert "http://" not in text and "https://" not in text and "src=" not in text
        assert '<html lang="zh-CN">' in text and '<meta charset="utf-8">' in text

    def test_colliding_ids_stay_unique(self) -> None:
        ids = row_ids([record("a/b"), record("a_b"), record("a b")])
        assert list(ids.values()) == ["r-a_b", "r-a_b-2", "r-a_b-3"]


def test_headless_browser_renders_the_table(pages: list[Path]) -> None:
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if browser is None:
        pytest.skip("no headless Chromium on this machine (looked for chromium, chromium-browser, google-chrome, headless_shell)")
    result = subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom", pages[2].resolve().as_uri()],
        capture_output=True, text=True, timeout=60, check=True,
    )
    for row_id in row_ids(RECORDS).values():
        assert f'id="{row_id}"' in result.stdout
    assert result.stdout.count("<tr") == len(RECORDS) + 1
