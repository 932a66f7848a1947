"""`spotcheck import` / `export`: every rejection reason, strictness, idempotence, round trips."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.cli.test_task import rows as rows_of
from tests.conftest import ENTERPRISE_HEADER, RECORD_HEADER, Env

INSPECTOR_HEADER = [
    "inspector_id", "name", "department", "certificate_no", "certificate_expires", "qualifications",
    "district_code", "station", "status", "leave", "conflicts",
]
ITEM_HEADER = ["code", "name", "category", "department", "legal_basis", "kind", "entity_types", "industries", "method", "version"]
FUTURE = (dt.date.today() + dt.timedelta(days=400)).isoformat()
# Far enough ahead that a run crossing midnight still sees it in the future.
TOMORROW = (dt.date.today() + dt.timedelta(days=7)).isoformat()


def enterprise(code: str, **changes: str) -> list[str]:
    row = {
        "uscc": code, "name": "重庆山城商贸有限公司", "entity_type": "企业", "legal_rep": "张三",
        "registered_on": "2015-03-01", "status": "存续", "district_code": "500106", "station": "井口所",
        "industry_code": "F5211", "address": "沙坪坝区井口镇1号", "new_economy_since": "", "key_supervision": "否",
    }
    row.update(changes)
    return [row[h] for h in ENTERPRISE_HEADER]


def record(uscc: str, **changes: str) -> list[str]:
    row = {
        "uscc": uscc, "kind": "行政处罚", "severity": "一般", "sector": "食品", "ground": "", "substantiated": "",
        "result_codes": "", "occurred_on": "2025-01-02", "department": "市场监管局",
        "document_no": "渝沙市监处罚〔2025〕1号", "effective_until": "2028-01-02",
    }
    row.update(changes)
    return [row[h] for h in RECORD_HEADER]


def inspector(number: str, **changes: str) -> list[str]:
    row = {
        "inspector_id": number, "name": "赵六", "department": "SCJG", "certificate_no": "渝500106001",
        "certificate_expires": FUTURE, "qualifications": "SCJG-01;食品安全", "district_code": "500106",
        "station": "井口所", "status": "在岗", "leave": "2026-12-01..2026-12-03", "conflicts": "",
    }
    row.update(changes)
    return [row[h] for h in INSPECTOR_HEADER]


ITEMS = [
    ["SCJG-01", "企业公示信息检查", "企业信息公示", "SCJG", "《企业信息公示暂行条例》第十四条", "一般", "企业;个体工商户", "", "书面", "2026"],
    ["SCJG-02", "食品销售检查", "食品安全", "市场监督管理局", "《食品安全法》第八十七条", "重点", "", "F52;H62", "现场", "2026"],
]


@pytest.fixture
def base(env: Env) -> Env:
    """Departments and items loaded."""
    env.run("import", "departments", str(env.csv("departments.csv", ["code", "name"], [["SCJG", "市场监督管理局"], ["WJW", "卫生健康委员会"]])))
    env.run("import", "items", str(env.csv("items.csv", ITEM_HEADER, ITEMS)))
    return env


def import_json(env: Env, kind: str, path: Path, *extra: str, expect: int = 0) -> dict[str, int]:
    return json.loads(env.run("import", kind, str(path), "--json", *extra, expect=expect).stdout.splitlines()[-1])


class TestEnterprises:
    def test_insert_then_unchanged_then_updated(self, base: Env, make_uscc) -> None:
        """Re-importing is idempotent; a changed field counts as updated."""
        rows = [enterprise(make_uscc(1)), enterprise(make_uscc(2), name="沙坪坝区王五小吃店", entity_type="个体工商户")]
        path = base.csv("e.csv", ENTERPRISE_HEADER, rows)
        assert import_json(base, "enterprises", path) == {"inserted": 2, "updated": 0, "unchanged": 0, "rejected": 0}
        assert import_json(base, "enterprises", path) == {"inserted": 0, "updated": 0, "unchanged": 2, "rejected": 0}
        rows[1] = enterprise(make_uscc(2), status="注销")
        path = base.csv("e.csv", ENTERPRISE_HEADER, rows)
        assert import_json(base, "enterprises", path) == {"inserted": 0, "updated": 1, "unchanged": 1, "rejected": 0}
        assert base.scalar(f"SELECT status FROM enterprises WHERE uscc = '{make_uscc(2)}'") == "cancelled"

    @pytest.mark.parametrize(
        ("changes", "column", "reason"),
        [
            ({"uscc": "91500106000000001X"}, "uscc", "bad USCC check character"),
            ({"district_code": "110101"}, "district_code", "unknown district code 110101"),
            ({"district_code": "5001"}, "district_code", "must be 6 digits"),
            ({"registered_on": TOMORROW}, "registered_on", "is in the future"),
            ({"registered_on": "2015-13-45"}, "registered_on", "unparseable date"),
            ({"entity_type": "公司"}, "entity_type", "unknown value"),
            ({"industry_code": "Z99"}, "industry_code", "is not GB/T 4754"),
            ({"name": ""}, "name", "missing required value"),
            ({"key_supervision": "maybe"}, "key_supervision", "not a yes/no value"),
            ({"new_economy_since": "2010-01-01"}, "new_economy_since", "before the registration date"),
        ],
    )
    def test_each_rejection_reason(self, base: Env, make_uscc, changes: dict[str, str], column: str, reason: str) -> None:
        """A bad row is reported with file, row, column and reason, and nothing is written."""
        path = base.csv("bad.csv", ENTERPRISE_HEADER, [enterprise(make_uscc(1)), enterprise(make_uscc(2), **changes)])
        result = base.run("import", "enterprises", str(path), expect=1)
        assert f"bad.csv: row 3: {column}: " in result.stdout
        assert reason in result.stdout
        assert "1 row(s) rejected; nothing was written" in result.stderr
        assert "Traceback" not in result.stderr
        assert base.scalar("SELECT count(*) FROM enterprises") == 0
        assert base.scalar("SELECT count(*) FROM imports WHERE kind = 'enterprises'") == 0

    def test_duplicate_key_in_file(self, base: Env, make_uscc) -> None:
        path = base.csv("dup.csv", ENTERPRISE_HEADER, [enterprise(make_uscc(1)), enterprise(make_uscc(1))])
        result = base.run("import", "enterprises", str(path), expect=1)
        assert f"dup.csv: row 3: uscc: duplicate USCC {make_uscc(1)} (also on row 2)" in result.stdout

    def test_skip_invalid_writes_good_rows_and_rejects_file(self, base: Env, make_uscc) -> None:
        """--skip-invalid loads the valid rows; --rejects keeps every refused row with its reason."""
        rows = [enterprise(make_uscc(1)), enterprise("91500106000000001X"), enterprise(make_uscc(3), registered_on="bad")]
        path = base.csv("mixed.csv", ENTERPRISE_HEADER, rows)
        rejects = base.tmp / "rejects.csv"
        counts = import_json(base, "enterprises", path, "--skip-invalid", "--rejects", str(rejects))
        assert counts == {"inserted": 1, "updated": 0, "unchanged": 0, "rejected": 2}
        with rejects.open(encoding="utf-8-sig", newline="") as fh:
            lines = list(csv.reader(fh))
        assert lines[0][:3] == ["行号(row)", "列(column)", "原因(reason)"]
        assert lines[1][:2] == ["3", "uscc"] and lines[1][2].startswith("bad USCC check character")
        assert lines[2][:2] == ["4", "registered_on"] and lines[2][2].startswith("unparseable date")
        assert lines[1][3] == "91500106000000001X"
        assert base.scalar("SELECT count(*) FROM enterprises") == 1

    def test_rejects_file_as_xlsx(self, base: Env, make_uscc) -> None:
        path = base.csv("mixed.csv", ENTERPRISE_HEADER, [enterprise(make_uscc(1)), enterprise("bad")])
        rejects = base.tmp / "rejects.xlsx"
        import_json(base, "enterprises", path, "--skip-invalid", "--rejects", str(rejects))
        sheet = openpyxl.load_workbook(rejects).worksheets[0]
        assert [c.value for c in sheet[2]][:2] == [3, "uscc"]

    def test_skip_invalid_needs_rejects(self, base: Env, make_uscc) -> None:
        path = base.csv("e.csv", ENTERPRISE_HEADER, [enterprise(make_uscc(1))])
        result = base.run("import", "enterprises", str(path), "--skip-invalid", expect=2)
        assert "--skip-invalid needs --rejects FILE" in result.stderr

    def test_chinese_headers_and_gb18030(self, base: Env, make_uscc) -> None:
        """Chinese headers in a GB18030 file are understood."""
        header = ["统一社会信用代码", "企业名称", "主体类型", "成立日期", "登记状态", "行政区划代码", "行业代码"]
        path = base.csv("gb.csv", header, [[make_uscc(1), "重庆山城商贸有限公司", "企业", "2015/3/1", "在业", "500107", "H6210"]], encoding="gb18030")
        assert import_json(base, "enterprises", path)["inserted"] == 1
        assert base.scalar("SELECT registered_on FROM enterprises") in (dt.date(2015, 3, 1), "2015-03-01")

    def test_utf8_with_bom(self, base: Env, make_uscc) -> None:
        path = base.csv("bom.csv", ENTERPRISE_HEADER, [enterprise(make_uscc(1))], encoding="utf-8-sig")
        assert import_json(base, "enterprises", path)["inserted"] == 1

    def test_xlsx_first_sheet_and_named_sheet(self, base: Env, make_uscc) -> None:
        book = openpyxl.Workbook()
        book.active.title = "说明"
        book.active.append(["uscc"])
        book.active.append(["not a row"])
        first = book.create_sheet("企业")
        first.append(ENTERPRISE_HEADER)
        row = enterprise(make_uscc(1))
        row[4] = dt.date(2015, 3, 1)  # a real date cell
        first.append(row)
        path = base.tmp / "e.xlsx"
        book.save(path)
        result = base.run("import", "enterprises", str(path), expect=1)
        assert "missing required column(s): name (企业名称)" in result.stderr
        assert import_json(base, "enterprises", path, "--sheet", "企业")["inserted"] == 1
        result = base.run("import", "enterprises", str(path), "--sheet", "Nope", expect=1)
        assert "no sheet named 'Nope'; the sheets are: 说明, 企业" in result.stderr

    def test_formula_cells_are_refused(self, base: Env, make_uscc) -> None:
        book = openpyxl.Workbook()
        book.active.append(ENTERPRISE_HEADER)
        row = enterprise(make_uscc(1))
        row[1] = '=HYPERLINK("http://x","点击")'
        book.active.append(row)
        path = base.tmp / "f.xlsx"
        book.save(path)
        result = base.run("import", "enterprises", str(path), expect=1)
        assert "row 2: name: formula cells are not accepted" in result.stdout


def test_bulk_rows_keep_every_character(env: Env, make_uscc) -> None:
    """Enough rows for the bulk path (a staging table on SQLite, COPY on PostgreSQL): backslashes,
    COPY's own NULL marker \\N, quotes and tabs arrive as written."""
    odd = ["\\N", "C:\\路径\\", '引号"和\'单引号', "制表\t符", "反斜杠\\t不是制表符", "  前后空格  "]
    rows = [enterprise(make_uscc(n), address=f"{odd[n % len(odd)]}{n}") for n in range(1, 301)]
    counts = env.json("import", "enterprises", str(env.csv("odd.csv", ENTERPRISE_HEADER, rows)))
    assert counts["inserted"] == 300 and counts["rejected"] == 0, counts
    stored = dict(rows_of(env, "SELECT uscc, address FROM enterprises"))
    assert stored == {row[0]: row[ENTERPRISE_HEADER.index("address")].strip() for row in rows}
    assert env.scalar("SELECT count(*) FROM enterprises WHERE address IS NULL") == 0


class TestFileProblems:
    """Whole-file problems: one clear line, exit 1, no traceback, database unchanged."""

    def check(self, env: Env, path: Path, message: str, kind: str = "enterprises", code: int = 1) -> None:
        result = env.run("import", kind, str(path), expect=code)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert env.scalar("SELECT count(*) FROM imports") == 0

    def test_empty_file(self, env: Env) -> None:
        path = env.tmp / "empty.csv"
        path.write_bytes(b"")
        self.check(env, path, "empty.csv: the file is empty")

    def test_header_only(self, env: Env) -> None:
        self.check(env, env.csv("h.csv", ENTERPRISE_HEADER, []), "h.csv: the file has a header but no data rows")

    def test_missing_required_column(self, env: Env) -> None:
        self.check(env, env.csv("m.csv", ["uscc", "name"], [["x", "y"]]), "missing required column(s): entity_type (主体类型)")

    def test_wrong_encoding(self, env: Env) -> None:
        path = env.tmp / "latin.csv"
        path.write_bytes(b"uscc,name\n" + bytes([0xFF, 0xFE, 0x80, 0x81, 0xFF]) + b"\n")
        self.check(env, path, "latin.csv: the file is neither UTF-8 nor GB18030 text")

    def test_utf16_is_refused(self, env: Env) -> None:
        path = env.tmp / "u16.csv"
        path.write_bytes("uscc,name\n".encode("utf-16"))
        self.check(env, path, "UTF-16 files are not supported")

    def test_not_a_workbook(self, env: Env) -> None:
        path = env.tmp / "fake.xlsx"
        path.write_text("uscc,name\n")
        self.check(env, path, "fake.xlsx: not a readable .xlsx workbook")

    def test_damaged_stylesheet_prints_nothing_on_stdout(self, env: Env) -> None:
        """openpyxl prints an out-of-range style index to stdout before it fails; --json output
        must stay clean (empty on an error)."""
        book = openpyxl.Workbook()
        book.active.append(ENTERPRISE_HEADER)
        good, path = env.tmp / "good.xlsx", env.tmp / "styles.xlsx"
        book.save(good)
        with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename == "xl/styles.xml":
                    data = re.sub(rb'(<cellStyle [^>]*xfId=")\d+', rb"\g<1>99", data)
                target.writestr(item, data)
        result = env.run("import", "enterprises", str(path), "--json", expect=1)
        assert "styles.xlsx: not a readable .xlsx workbook (IndexError)" in result.stderr
        assert result.stdout == ""
        assert env.scalar("SELECT count(*) FROM imports") == 0

    def test_missing_file(self, env: Env) -> None:
        self.check(env, env.tmp / "nope.csv", "nope.csv: no such file")

    def test_unsupported_extension_is_a_usage_error(self, env: Env) -> None:
        path = env.tmp / "e.txt"
        path.write_text("x")
        self.check(env, path, "unsupported file type .txt; use .csv or .xlsx", code=2)

    def test_duplicate_header(self, env: Env) -> None:
        self.check(env, env.csv("d.csv", ["uscc", "统一社会信用代码"], [["a", "b"]]), "column uscc (统一社会信用代码) appears twice")


class TestRecords:
    @pytest.fixture
    def firms(self, base: Env, make_uscc) -> Env:
        base.run("import", "enterprises", str(base.csv("e.csv", ENTERPRISE_HEADER, [enterprise(make_uscc(1)), enterprise(make_uscc(2))])))
        return base

    def test_every_kind_and_idempotence(self, firms: Env, make_uscc) -> None:
        u = make_uscc(1)
        rows = [
            record(u),
            record(u, kind="投诉举报", severity="", sector="", substantiated="是", document_no="", effective_until=""),
            record(u, kind="列入经营异常名录", severity="", sector="", ground="4", document_no="渝异〔2025〕2号", effective_until=""),
            record(u, kind="abnormal_out", severity="", sector="", document_no="渝异〔2025〕3号", effective_until=""),
            record(u, kind="列入严重违法失信名单", severity="", sector="", document_no="渝严〔2025〕1号"),
            record(u, kind="移出严重违法失信名单", severity="", sector="", document_no="渝严〔2025〕2号", effective_until=""),
            record(u, kind="未按时年报", severity="", sector="", document_no="", effective_until=""),
            record(u, kind="抽查结果", severity="", sector="", result_codes="A;2;B", document_no="", effective_until=""),
            record(u, kind="违背信用承诺", severity="", sector="", document_no="", effective_until=""),
            record(u, kind="守信激励", severity="", sector="", document_no="", effective_until=""),
        ]
        path = firms.csv("r.csv", RECORD_HEADER, rows)
        assert import_json(firms, "records", path) == {"inserted": 10, "updated": 0, "unchanged": 0, "rejected": 0}
        assert import_json(firms, "records", path) == {"inserted": 0, "updated": 0, "unchanged": 10, "rejected": 0}
        assert firms.scalar("SELECT result_codes FROM credit_records WHERE kind = 'spot_check'") == "A;2;B"
        assert firms.scalar("SELECT ground FROM credit_records WHERE kind = 'abnormal_in'") == "unreachable"

    def test_the_trail_holds_each_written_row_as_it_reads_back(self, firms: Env, make_uscc) -> None:
        """Imports hash the rows they write from the values written, not read back: the trail must
        hold what `audit verify` reads, for every type (enums, dates, flags, NULLs, a superseded id)."""
        u = make_uscc(3)
        firms.run("import", "enterprises", str(firms.csv("e3.csv", ENTERPRISE_HEADER, [
            enterprise(u, key_supervision="是", new_economy_since="2024-05-06", legal_rep="", station="")])))
        rows = [
            record(u),
            record(u, kind="投诉举报", severity="", sector="", substantiated="否", document_no="", effective_until=""),
            record(u, kind="列入经营异常名录", severity="", sector="", ground="4", document_no="渝异〔2025〕2号", effective_until=""),
            record(u, kind="抽查结果", severity="", sector="", result_codes="A;2;B", document_no="", effective_until=""),
        ]
        import_json(firms, "records", firms.csv("r.csv", RECORD_HEADER, rows))
        import_json(firms, "records", firms.csv("fix.csv", RECORD_HEADER, [record(u, severity="较重")]))
        assert firms.scalar("SELECT count(*) FROM credit_records WHERE supersedes_id IS NOT NULL") == 1
        report = firms.json("audit", "verify", "--json")
        assert report["intact"] and report["findings"] == [], report
        # Every record has its own hash in the trail, under its id, in the imports' packs.
        packed = firms.scalar("SELECT sum(rows) FROM audit_packs WHERE tbl = 'credit_records'")
        assert packed == firms.scalar("SELECT count(*) FROM credit_records") == 5
        assert firms.scalar("SELECT count(*) FROM audit_rows WHERE tbl = 'credit_records'") == 0

    def test_correction_supersedes_and_keeps_both(self, firms: Env, make_uscc) -> None:
        """A changed record with the same document number is a new record pointing at the old one."""
        path = firms.csv("r.csv", RECORD_HEADER, [record(make_uscc(1))])
        import_json(firms, "records", path)
        path = firms.csv("r.csv", RECORD_HEADER, [record(make_uscc(1), severity="较重")])
        assert import_json(firms, "records", path) == {"inserted": 0, "updated": 1, "unchanged": 0, "rejected": 0}
        assert firms.scalar("SELECT count(*) FROM credit_records") == 2
        assert firms.scalar("SELECT supersedes_id FROM credit_records WHERE severity = 'major'") == firms.scalar(
            "SELECT id FROM credit_records WHERE severity = 'general'"
        )
        # Re-importing the old version does not flip the correction back.
        path = firms.csv("r.csv", RECORD_HEADER, [record(make_uscc(1))])
        assert import_json(firms, "records", path)["unchanged"] == 1
        assert firms.scalar("SELECT count(*) FROM credit_records") == 2

    @pytest.mark.parametrize(
        ("changes", "column", "reason"),
        [
            ({"kind": "罚款"}, "kind", "unknown value"),
            ({"severity": ""}, "severity", "required for 行政处罚"),
            ({"kind": "投诉举报", "substantiated": ""}, "substantiated", "required for 投诉举报"),
            ({"kind": "列入经营异常名录", "ground": ""}, "ground", "required for 列入经营异常名录"),
            ({"kind": "抽查结果", "result_codes": "Q"}, "result_codes", "unknown result code 'Q'"),
            ({"occurred_on": TOMORROW}, "occurred_on", "is in the future"),
            ({"occurred_on": "yesterday"}, "occurred_on", "unparseable date"),
            ({"effective_until": "2020-01-01"}, "effective_until", "is before the record date"),
        ],
    )
    def test_each_rejection_reason(self, firms: Env, make_uscc, changes: dict[str, str], column: str, reason: str) -> None:
        path = firms.csv("r.csv", RECORD_HEADER, [record(make_uscc(2), document_no="ok"), record(make_uscc(1), **changes)])
        result = firms.run("import", "records", str(path), expect=1)
        assert f"r.csv: row 3: {column}: " in result.stdout and reason in result.stdout
        assert firms.scalar("SELECT count(*) FROM credit_records") == 0

    def test_duplicates_in_file_do_not_depend_on_what_is_stored(self, firms: Env, make_uscc) -> None:
        """A file repeating a row (or a document number) is refused whether or not the row is already stored."""
        complaint = record(make_uscc(1), kind="投诉举报", severity="", sector="", substantiated="否", document_no="", effective_until="")
        import_json(firms, "records", firms.csv("one.csv", RECORD_HEADER, [complaint, record(make_uscc(1))]))
        twice = firms.csv("twice.csv", RECORD_HEADER, [complaint, complaint])
        assert "row 3: duplicate: the same record is on row 2" in firms.run("import", "records", str(twice), expect=1).stdout
        both = firms.csv("both.csv", RECORD_HEADER, [record(make_uscc(1)), record(make_uscc(1), severity="较重")])
        out = firms.run("import", "records", str(both), expect=1).stdout
        assert "row 3: duplicate: a record with the same document number is on row 2" in out
        assert firms.scalar("SELECT count(*) FROM credit_records") == 2

    @pytest.mark.parametrize(
        ("codes", "reason"),
        [
            ("1;E", "result 1 (未发现问题) cannot be combined with other results"),
            ("A", "result A (发现问题待后续处理) needs at least one more specific result"),
            ("B", "result B (未按规定公示应当公示的信息) needs its parent 2"),
            ("A;2", "result 2 (违反工商行政管理相关规定) needs at least one more specific result"),
        ],
    )
    def test_result_code_combinations(self, firms: Env, make_uscc, codes: str, reason: str) -> None:
        row = record(make_uscc(1), kind="抽查结果", severity="", sector="", result_codes=codes, document_no="", effective_until="")
        out = firms.run("import", "records", str(firms.csv("r.csv", RECORD_HEADER, [row])), expect=1).stdout
        assert f"row 2: result_codes: {reason}" in out

    def test_details_of_another_kind_are_refused(self, firms: Env, make_uscc) -> None:
        row = record(make_uscc(1), kind="投诉举报", severity="严重", sector="", ground="4", substantiated="是", document_no="")
        out = firms.run("import", "records", str(firms.csv("r.csv", RECORD_HEADER, [row])), expect=1).stdout
        assert "row 2: severity: 处罚程度 applies only to 行政处罚, not to 投诉举报" in out
        assert "row 2: ground: 列入事由 applies only to 列入经营异常名录, not to 投诉举报" in out

    def test_unknown_enterprise(self, firms: Env, make_uscc) -> None:
        path = firms.csv("r.csv", RECORD_HEADER, [record(make_uscc(99)), record("91500106000000001X", document_no="x")])
        result = firms.run("import", "records", str(path), expect=1)
        assert f"row 2: uscc: no enterprise {make_uscc(99)} in the directory" in result.stdout
        assert "row 3: uscc: bad USCC check character in '91500106000000001X': expected 4, found X" in result.stdout

    def test_duplicate_in_file(self, firms: Env, make_uscc) -> None:
        rows = [record(make_uscc(1)), record(make_uscc(1)), record(make_uscc(1), severity="严重")]
        result = firms.run("import", "records", str(firms.csv("r.csv", RECORD_HEADER, rows)), expect=1)
        assert "row 3: duplicate: the same record is on row 2" in result.stdout
        assert "row 4: duplicate: a record with the same document number is on row 2" in result.stdout


class TestInspectorsAndItems:
    def test_inspectors_insert_update_unchanged(self, base: Env, make_uscc) -> None:
        rows = [inspector("JC001", conflicts=make_uscc(1)), inspector("JC002", department="卫生健康委员会", qualifications="")]
        path = base.csv("i.csv", INSPECTOR_HEADER, rows)
        assert import_json(base, "inspectors", path)["inserted"] == 2
        assert import_json(base, "inspectors", path)["unchanged"] == 2
        rows[0] = inspector("JC001", conflicts="", leave="")
        path = base.csv("i.csv", INSPECTOR_HEADER, rows)
        assert import_json(base, "inspectors", path) == {"inserted": 0, "updated": 1, "unchanged": 1, "rejected": 0}
        assert base.scalar("SELECT count(*) FROM inspector_conflicts") == 0
        assert base.scalar("SELECT count(*) FROM inspector_qualifications") == 2

    @pytest.mark.parametrize(
        ("changes", "column", "reason"),
        [
            ({"certificate_expires": "2020-01-01"}, "certificate_expires", "certificate expired on 2020-01-01"),
            ({"certificate_no": "", "certificate_expires": ""}, "certificate_no", "needs an enforcement certificate"),
            ({"qualifications": "SCJG-99"}, "qualifications", "unknown item or item category: SCJG-99"),
            ({"department": "税务局"}, "department", "unknown department '税务局'"),
            ({"district_code": "110101"}, "district_code", "unknown district code 110101"),
            ({"leave": "2026-12-05..2026-12-01"}, "leave", "ends before it starts"),
            ({"leave": "2026-12-05"}, "leave", "must be written start..end"),
            ({"conflicts": "91500106000000001X"}, "conflicts", "bad USCC check character"),
            ({"status": "休假"}, "status", "unknown value"),
        ],
    )
    def test_each_rejection_reason(self, base: Env, changes: dict[str, str], column: str, reason: str) -> None:
        path = base.csv("i.csv", INSPECTOR_HEADER, [inspector("JC001"), inspector("JC002", **changes)])
        result = base.run("import", "inspectors", str(path), expect=1)
        assert f"i.csv: row 3: {column}: " in result.stdout and reason in result.stdout
        assert base.scalar("SELECT count(*) FROM inspectors") == 0

    def test_inactive_inspector_may_hold_an_expired_certificate(self, base: Env) -> None:
        path = base.csv("i.csv", INSPECTOR_HEADER, [inspector("JC009", status="离岗", certificate_expires="2020-01-01")])
        assert import_json(base, "inspectors", path)["inserted"] == 1

    def test_item_versions_are_never_rewritten(self, base: Env) -> None:
        """Changing a loaded (code, version) is refused; the same content under a new version is added."""
        changed = [ITEMS[0][:4] + ["《新条例》第一条"] + ITEMS[0][5:]]
        result = base.run("import", "items", str(base.csv("v.csv", ITEM_HEADER, changed)), expect=1)
        assert "is already loaded with other content; a version is never rewritten" in result.stdout
        changed[0][-1] = "2027"
        assert import_json(base, "items", base.csv("v.csv", ITEM_HEADER, changed))["inserted"] == 1
        assert base.scalar("SELECT legal_basis FROM check_items WHERE code = 'SCJG-01' AND version = '2026'") == ITEMS[0][4]

    def test_item_rejections(self, base: Env) -> None:
        rows = [
            ["X-1", "n", "", "税务局", "依据", "一般", "", "", "现场", "2026"],
            ["X-2", "n", "", "SCJG", "依据", "特别", "", "", "现场", "2026"],
            ["X-3", "n", "", "SCJG", "依据", "一般", "公司", "", "现场", "2026"],
            ["X-4", "n", "", "SCJG", "依据", "一般", "", "52", "现场", "2026"],
            ["X-5", "n", "", "SCJG", "依据", "一般", "", "", "电话", "2026"],
            ["X-5", "n", "", "SCJG", "依据", "一般", "", "", "现场", "2026"],
            ["X-6", "n", "", "SCJG", "依据", "一般", "", ";".join(f"C{n}" for n in range(13, 100)), "现场", "2026"],
        ]
        out = base.run("import", "items", str(base.csv("bad.csv", ITEM_HEADER, rows)), expect=1).stdout
        assert "row 2: department: unknown department '税务局'" in out
        assert "row 3: kind: unknown value" in out
        assert "row 4: entity_types: unknown value '公司'" in out
        assert "row 5: industries: industry code '52' is not GB/T 4754" in out
        assert "row 6: method: unknown value '电话'" in out
        assert "row 8: industries: more than 256 characters of industry prefixes" in out
        # Row 6 was refused while parsing, so row 7 is the file's first valid X-5, not a duplicate.
        assert "row 7:" not in out
        assert base.scalar("SELECT count(*) FROM check_items") == 2

    def test_department_rename_and_name_clash(self, base: Env) -> None:
        path = base.csv("d.csv", ["部门代码", "部门名称"], [["SCJG", "市场监管局"]])
        assert import_json(base, "departments", path)["updated"] == 1
        path = base.csv("d.csv", ["code", "name"], [["NEW", "卫生健康委员会"]])
        assert "name 卫生健康委员会 already belongs to department WJW" in base.run("import", "departments", str(path), expect=1).stdout


class TestExport:
    @pytest.fixture
    def loaded(self, base: Env, make_uscc) -> Env:
        firms = [enterprise(make_uscc(1), name="=cmd|' /C calc'!A0"), enterprise(make_uscc(2), new_economy_since="2020-01-01", key_supervision="是")]
        base.run("import", "enterprises", str(base.csv("e.csv", ENTERPRISE_HEADER, firms)))
        records = [record(make_uscc(1)), record(make_uscc(2), kind="投诉举报", severity="", sector="", substantiated="否", document_no="", effective_until="")]
        base.run("import", "records", str(base.csv("r.csv", RECORD_HEADER, records)))
        base.run("import", "records", str(base.csv("r.csv", RECORD_HEADER, [record(make_uscc(1), severity="严重")])))
        base.run("import", "inspectors", str(base.csv("i.csv", INSPECTOR_HEADER, [inspector("JC001", conflicts=make_uscc(2))])))
        return base

    @pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
    @pytest.mark.parametrize("kind", ["enterprises", "records", "departments", "inspectors", "items", "districts"])
    def test_round_trip_is_unchanged(self, loaded: Env, kind: str, suffix: str) -> None:
        """An export imports back with every row unchanged."""
        path = loaded.tmp / f"{kind}{suffix}"
        rows = json.loads(loaded.run("export", kind, str(path), "--json").stdout)["rows"]
        counts = import_json(loaded, kind, path)
        assert counts == {"inserted": 0, "updated": 0, "unchanged": rows, "rejected": 0}
        assert rows > 0

    def test_records_export_holds_current_versions(self, loaded: Env) -> None:
        path = loaded.tmp / "r.csv"
        loaded.run("export", "records", str(path))
        text = path.read_text(encoding="utf-8-sig")
        assert "严重" in text and ",一般," not in text

    def test_formulas_are_neutralised(self, loaded: Env) -> None:
        csv_path, xlsx_path = loaded.tmp / "e.csv", loaded.tmp / "e.xlsx"
        loaded.run("export", "enterprises", str(csv_path))
        loaded.run("export", "enterprises", str(xlsx_path), "--headers", "en")
        assert "'=cmd|' /C calc'!A0" in csv_path.read_text(encoding="utf-8-sig")
        sheet = openpyxl.load_workbook(xlsx_path).worksheets[0]
        assert sheet["A1"].value == "uscc"
        cells = [sheet.cell(row=r, column=2) for r in (2, 3)]
        formula_cell = next(c for c in cells if str(c.value).startswith("="))
        assert formula_cell.data_type == "s"

    def test_unwritable_target_is_one_line(self, loaded: Env) -> None:
        result = loaded.run("export", "enterprises", str(loaded.tmp / "missing" / "e.csv"), expect=1)
        assert "missing/e.csv: No such file or directory" in result.stderr and "Traceback" not in result.stderr

    def test_chinese_headers_by_default(self, loaded: Env) -> None:
        path = loaded.tmp / "e.csv"
        loaded.run("export", "enterprises", str(path))
        assert path.read_text(encoding="utf-8-sig").splitlines()[0].startswith("统一社会信用代码,企业名称,主体类型")


class TestLogging:
    def test_one_summary_event_per_command(self, base: Env, make_uscc) -> None:
        """Logs go to stderr as JSON with one command_finished event carrying the counts."""
        path = base.csv("e.csv", ENTERPRISE_HEADER, [enterprise(make_uscc(1))])
        result = base.run("import", "enterprises", str(path))
        events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        finished = [e for e in events if e["event"] == "command_finished"]
        assert len(finished) == 1
        assert finished[0]["command"] == "import" and finished[0]["inserted"] == 1 and "seconds" in finished[0]
        assert finished[0]["encoding"] == "utf-8"
        assert "command_finished" not in result.stdout

    def test_failure_logs_command_failed(self, base: Env) -> None:
        path = base.csv("e.csv", ENTERPRISE_HEADER, [enterprise("bad")])
        result = base.run("import", "enterprises", str(path), expect=1)
        events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        failed = [e for e in events if e["event"] == "command_failed"]
        assert len(failed) == 1 and failed[0]["rejected"] == 1 and failed[0]["level"] == "error"

    def test_level_and_console_format(self, base: Env, make_uscc) -> None:
        """--log-level warning drops the info summary; --log-format console renders text, not JSON."""
        from click.testing import CliRunner

        from cli.main import cli

        path = base.csv("e.csv", ENTERPRISE_HEADER, [enterprise(make_uscc(1))])
        quiet = CliRunner().invoke(cli, ["--database-url", base.url, "--user", "planner", "--log-format", "json", "--log-level", "warning", "import", "enterprises", str(path)])
        assert quiet.exit_code == 0 and "command_finished" not in quiet.stderr
        console = CliRunner().invoke(cli, ["--database-url", base.url, "--user", "planner", "--log-format", "console", "export", "enterprises", str(base.tmp / "x.csv")])
        assert console.exit_code == 0
        assert "command_finished" in console.stderr and not console.stderr.lstrip().startswith("{")

