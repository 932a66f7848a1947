"""The closed loop through the CLI, on SQLite and PostgreSQL: results recorded by the team under
the code rules, review, publication on time (20 working days) with pages and corrections, credit
records from results and their effect on the next grading, follow-up cases to closure.

Task T1 of the small data set (12 station-A enterprises, March 2026) covers K-01 and K-02; after
the assignment K-02 is handed to 应急管理局 (YJJ), so a visit publishes one record per department,
as a joint task does.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import test_result_import
from tests.cli.test_assign import inspector, load_inspectors
from tests.cli.test_task import STATION_A, USCC, create, draw, execute, load_small, rows, task_toml, write
from tests.conftest import Env

ZERO_DAY = "2026-03-02"  # a Monday: 20 working days later is 2026-03-30 (no holiday in March 2026)
DEADLINE = "2026-03-30"


two_items = test_result_import.two_items  # the fixture: T1 on K-01 and K-02, drawn and assigned


@pytest.fixture
def joint(two_items: Env) -> Env:
    """T1 with K-02 handed to 应急管理局 after the assignment: a joint task of two departments."""
    execute(two_items, "UPDATE task_items SET department_id = (SELECT id FROM departments WHERE code = 'YJJ')"
                       " WHERE item_id IN (SELECT id FROM check_items WHERE code = 'K-02')")
    return two_items


def team(env: Env, rank: int) -> list[str]:
    return [n for (n,) in rows(env, (
        "SELECT i.inspector_no FROM assignments a JOIN inspectors i ON i.id = a.inspector_id JOIN visits v ON v.id = a.visit_id"
        f" JOIN tasks t ON t.id = v.task_id WHERE t.code = 'T1' AND v.rank = {rank} ORDER BY i.inspector_no"))]


def items(env: Env, rank: int) -> list[str]:
    return [c for (c,) in rows(env, (
        "SELECT ci.code FROM visit_items vi JOIN visits v ON v.id = vi.visit_id JOIN tasks t ON t.id = v.task_id"
        " JOIN task_items ti ON ti.id = vi.task_item_id JOIN check_items ci ON ci.id = ti.item_id"
        f" WHERE t.code = 'T1' AND v.rank = {rank} ORDER BY ci.code"))]


def two_item_visits(env: Env) -> list[int]:
    return [rank for (rank,) in rows(env, (
        "SELECT v.rank FROM visits v JOIN tasks t ON t.id = v.task_id JOIN visit_items vi ON vi.visit_id = v.id"
        " WHERE t.code = 'T1' GROUP BY v.rank HAVING count(*) = 2 ORDER BY v.rank"))]


def uscc_of(env: Env, rank: int) -> str:
    return rows(env, f"SELECT e.uscc FROM visits v JOIN enterprises e ON e.id = v.enterprise_id JOIN tasks t ON t.id = v.task_id WHERE t.code = 'T1' AND v.rank = {rank}")[0][0]


def record(env: Env, rank: int, item: str, result: str = "1", *args: str, expect: int = 0, date: str = ZERO_DAY) -> Any:
    who = team(env, rank)[0]
    method = () if "--not-checked" in args else ("--method", "实地检查")
    return env.run("result", "record", f"T1/{rank}", "--inspector", who, "--item", item, *method, "--result", result, "--date", date, *args, expect=expect)


def clean(env: Env, rank: int, **kw: Any) -> None:
    for item in items(env, rank):
        record(env, rank, item, **kw)


def through_review(env: Env, rank: int, on: str = "2026-03-03") -> dict[str, Any]:
    env.run("result", "submit", f"T1/{rank}", "--inspector", team(env, rank)[1])
    return env.json("result", "review", f"T1/{rank}", "--approve", "--on", on)


def problem(env: Env, rank: int, item: str, codes: str = "A;2;B", measure: str = "责令改正") -> None:
    record(env, rank, item, codes, "--findings", "未按规定公示股东出资信息", "--measure", measure)


class TestRecording:
    """The team records with the standard codes; the rules refuse what the standard does not allow."""

    @pytest.mark.parametrize(("args", "reason"), [
        (("1;A",), "cannot be combined"),
        (("A", "--findings", "x", "--measure", "责令改正"), "needs at least one more specific result"),
        (("A;2", "--findings", "x", "--measure", "责令改正"), "needs at least one more specific result"),
        (("B", "--findings", "x", "--measure", "责令改正"), "needs its parent 2"),
        (("Z",), "unknown result code"),
        (("A;2;B", "--findings", "x"), "needs its 后续处置措施"),
        (("A;2;B", "--findings", "x", "--measure", "无需后续处置"), "needs a 后续处置措施 other than"),
        (("A;2;B", "--measure", "责令改正"), "发现问题情况"),
        (("1", "--measure", "责令改正"), "takes the measure"),
        (("9", "--measure", "其他"), "could not be checked"),
        (("1", "--not-checked"), "not checked needs a result saying why"),
        (("1", "--measure", "nonsense"), "unknown value"),
    ])
    def test_illegal_results_are_refused_with_the_reason(self, joint: Env, args: tuple[str, ...], reason: str) -> None:
        result = record(joint, 1, "K-01", *args, expect=1)
        assert reason in result.stderr and "Traceback" not in result.stderr
        assert joint.scalar("SELECT count(*) FROM item_results") == 0

    def test_not_checked_needs_no_method_and_a_reason_code(self, joint: Env) -> None:
        record(joint, 1, "K-01", "9", "--not-checked", "--measure", "其他")
        shown = joint.json("result", "show", "T1/1")
        entry = next(i for i in shown["items"] if i["item"] == "K-01")
        assert entry["checked"] is False and entry["result_codes"] == ["9"] and entry["methods"] == []
        # A checked item needs its 核查方式.
        result = joint.run("result", "record", "T1/1", "--inspector", team(joint, 1)[0], "--item", "K-01", "--result", "1", expect=1)
        assert "核查方式" in result.stderr

    def test_only_the_team_records(self, joint: Env) -> None:
        outsider = next(f"JC{k:04d}" for k in range(1, 5) if f"JC{k:04d}" not in team(joint, 1))
        result = joint.run("result", "record", "T1/1", "--inspector", outsider, "--item", "K-01", "--method", "实地检查", "--result", "1", expect=1)
        assert "is not on the team" in result.stderr

    def test_item_date_and_visit_checks(self, joint: Env) -> None:
        assert "does not cover item 'G-01'" in record(joint, 1, "G-01", expect=1).stderr
        assert "outside task T1's window" in record(joint, 1, "K-01", date="2026-04-02", expect=1).stderr
        assert "in the future" in record(joint, 1, "K-01", date=(dt.date.today() + dt.timedelta(days=1)).isoformat(), expect=1).stderr
        assert "has no visit '99'" in joint.run("result", "record", "T1/99", "--inspector", "JC0001", "--item", "K-01", "--result", "1", "--method", "书面检查", expect=1).stderr
        assert "not a visit" in joint.run("result", "show", "T1", expect=1).stderr
        # TASK/USCC names the same visit as TASK/RANK.
        record(joint, 1, "K-01")
        assert joint.json("result", "show", f"T1/{uscc_of(joint, 1)}")["visit"] == "T1/1"


class TestReview:
    """录入 → 待审核 → 已审核, a return goes back to 录入 with its reason."""

    def test_submit_needs_every_item_and_locks_the_results(self, joint: Env) -> None:
        rank = two_item_visits(joint)[0]
        record(joint, rank, "K-01")
        refused = joint.run("result", "submit", f"T1/{rank}", "--inspector", team(joint, rank)[0], expect=1)
        assert "lacks the results of item(s) K-02" in refused.stderr
        record(joint, rank, "K-02")
        joint.run("result", "submit", f"T1/{rank}", "--inspector", team(joint, rank)[0])
        assert joint.json("result", "show", f"T1/{rank}")["state"] == "待审核"
        assert "only results in 录入 can be changed" in record(joint, rank, "K-01", expect=1).stderr

    def test_return_with_reason_then_approve(self, joint: Env) -> None:
        clean(joint, 1)
        joint.run("result", "submit", "T1/1", "--inspector", team(joint, 1)[0])
        assert "needs --reason" in joint.run("result", "review", "T1/1", "--return", expect=1).stderr
        assert joint.run("result", "review", "T1/1", expect=2).exit_code == 2
        joint.run("result", "review", "T1/1", "--return", "--reason", "核查方式不全")
        shown = joint.json("result", "show", "T1/1")
        assert shown["state"] == "录入" and shown["return_reason"] == "核查方式不全"
        clean(joint, 1)
        approved = through_review(joint, 1)
        assert approved["state"] == "已审核" and approved["cases"] == []
        assert "not 待审核" in joint.run("result", "review", "T1/1", "--approve", expect=1).stderr


def publish(env: Env, on: str, *extra: str) -> dict[str, Any]:
    return env.json("publish", "T1", "--on", on, "--out", str(env.tmp / "pub"), *extra)


class TestPublication:
    """Reviewed results become publication records, pages, credit records; late ones are marked."""

    def test_publish_records_pages_and_deadline(self, joint: Env) -> None:
        ranks = two_item_visits(joint)[:2]
        for rank in ranks:
            clean(joint, rank)
            through_review(joint, rank)
        first = json.loads(joint.run("publish", "T1", "--on", "2026-03-31", "--out", str(joint.tmp / "none"), "--json").stdout)
        assert (first["visits"], first["records"], first["late"], first["credit_records"]) == (2, 4, 4, 4)
        done = json.loads(joint.run("publish", "T1", "--on", "2026-03-31", "--out", str(joint.tmp / "pub2"), "--json").stdout)
        assert done["records"] == 0  # everything was already published by the first call
        got = rows(joint, "SELECT number, department_name, result, deadline, late FROM publications ORDER BY number")
        assert [(n, d, r) for n, d, r, _, _ in got] == [
            (f"T1/{ranks[0]}-SCJG", "市场监督管理局", "未发现问题"), (f"T1/{ranks[0]}-YJJ", "应急管理局", "未发现问题"),
            (f"T1/{ranks[1]}-SCJG", "市场监督管理局", "未发现问题"), (f"T1/{ranks[1]}-YJJ", "应急管理局", "未发现问题"),
        ]
        assert {str(d) for _, _, _, d, _ in got} == {DEADLINE}
        assert all(bool(late) for *_, late in got)  # published 2026-03-31, the day after the deadline
        with (joint.tmp / "none" / "results.csv").open(encoding="utf-8-sig") as fh:
            table = list(csv.reader(fh))
        assert table[0][:8] == ["公示编号", "企业名称", "统一社会信用代码", "任务编号", "任务名称", "检查日期", "检查实施部门", "检查结果"]
        assert len(table) == 5
        page = (joint.tmp / "none" / "index.html").read_text(encoding="utf-8")
        assert uscc_of(joint, ranks[0]) in page and "抽查检查结果公示" in page
        for number in team(joint, ranks[0]):
            assert number not in page
        names = [n for (n,) in rows(joint, "SELECT name FROM inspectors")]
        assert not any(name in page for name in names) and "类" not in page
        statuses = joint.json("publication", "status", "--task", "T1", "--as-of", "2026-04-01")
        assert statuses["timeliness"]["published_late"] == 2

    def test_on_time_and_status_lights(self, joint: Env) -> None:
        clean(joint, 1)
        through_review(joint, 1)
        clean(joint, 2)  # recorded, never submitted
        assert not publish(joint, DEADLINE)["late"]
        assert rows(joint, "SELECT DISTINCT late FROM publications") in ([(False,)], [(0,)])
        status = joint.json("publication", "status", "--task", "T1", "--as-of", "2026-03-23")
        by_visit = {v["visit"]: v for v in status["visits"]}
        assert by_visit["T1/1"]["timeliness"] == "published_on_time"
        # 2026-03-23 → 03-30: 5 working days left, so due soon; a day later 4.
        assert by_visit["T1/2"]["state"] == "录入" and by_visit["T1/2"]["working_days_left"] == 5
        assert by_visit["T1/2"]["timeliness"] == "due_soon"
        earlier = {v["visit"]: v for v in joint.json("publication", "status", "--task", "T1", "--as-of", "2026-03-20")["visits"]}
        assert earlier["T1/2"]["working_days_left"] == 6 and earlier["T1/2"]["timeliness"] == "on_time"
        late = {v["visit"]: v for v in joint.json("publication", "status", "--as-of", "2026-04-01")["visits"]}
        assert late["T1/2"]["timeliness"] == "overdue" and late["T1/2"]["working_days_left"] == -2
        # Visits whose day has come without any result are listed as 未录入.
        assert any(v["state"] == "未录入" for v in late.values())

    def test_nothing_to_publish_and_future_date(self, joint: Env) -> None:
        assert "no approved results" in joint.run("publish", "T1", "--on", DEADLINE, "--out", str(joint.tmp / "p"), expect=1).stderr
        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        assert "in the future" in joint.run("publish", "T1", "--on", tomorrow, expect=1).stderr
        clean(joint, 1, date="2026-03-10")
        joint.run("result", "submit", "T1/1", "--inspector", team(joint, 1)[0])
        assert "before the check date" in joint.run("result", "review", "T1/1", "--approve", "--on", "2026-03-09", expect=1).stderr
        joint.run("result", "review", "T1/1", "--approve", "--on", "2026-03-10")
        assert "before the check date" in joint.run("publish", "T1", "--on", "2026-03-09", expect=1).stderr
        blocked = joint.tmp / "a-file"
        blocked.write_text("not a folder")
        assert "Traceback" not in joint.run("publish", "T1", "--on", "2026-03-10", "--out", str(blocked / "sub"), expect=1).stderr
        assert joint.scalar("SELECT count(*) FROM publications") == 0 and joint.json("result", "show", "T1/1")["state"] == "已审核"

    def test_a_correction_is_a_new_record_and_both_are_shown(self, joint: Env) -> None:
        rank = two_item_visits(joint)[0]
        clean(joint, rank)
        through_review(joint, rank)
        publish(joint, "2026-03-10")
        original = rows(joint, "SELECT id, number, sha256, result FROM publications ORDER BY number")
        assert "needs --reason" in joint.run("result", "correct", f"T1/{rank}", "--reason", " ", expect=1).stderr
        assert "reopened as revision 2" in joint.run("result", "correct", f"T1/{rank}", "--reason", "K-01 结果录入错误").stdout
        assert "not 已公示" in joint.run("result", "correct", f"T1/{rank}", "--reason", "again", expect=1).stderr
        problem(joint, rank, "K-01")
        assert joint.json("result", "show", f"T1/{rank}")["revision"] == 2
        through_review(joint, rank)
        report = publish(joint, "2026-03-12")
        assert report["corrections"] == 2 and report["late"] == 0
        after = rows(joint, "SELECT id, number, sha256, result, supersedes_id, correction_reason FROM publications ORDER BY id")
        assert [tuple(r[:4]) for r in after[:2]] == [tuple(r) for r in original]  # never edited
        new = {r[1]: r for r in after[2:]}
        scjg = new[f"T1/{rank}-SCJG-R2"]
        assert scjg[3] == "发现问题待后续处理；违反工商行政管理相关规定；未按规定公示应当公示的信息"
        assert scjg[4] == next(r[0] for r in original if r[1].endswith("-SCJG")) and scjg[5] == "K-01 结果录入错误"
        data = json.loads((joint.tmp / "pub" / "results.json").read_text(encoding="utf-8"))
        status = {r["number"]: r["status"] for r in data["records"]}
        assert status[f"T1/{rank}-SCJG"] == "corrected" and status[f"T1/{rank}-SCJG-R2"] == "correction"
        # The credit record of the correction supersedes the first one.
        credit = rows(joint, f"SELECT id, result_codes, supersedes_id FROM credit_records WHERE from_result = true AND document_no = 'T1/{rank}-SCJG' ORDER BY id")
        assert [c[1] for c in credit] == ["1", "A;2;B"] and credit[1][2] == credit[0][0]


class TestCreditFeedback:
    """Published results become credit records the next grading counts; a listing proposal from
    results C and 6; the draw's yearly cap does not count a visit twice."""

    def test_results_change_the_next_grading(self, joint: Env) -> None:
        rank = two_item_visits(joint)[0]
        uscc = uscc_of(joint, rank)
        before = joint.json("credit", "show", uscc)
        problem(joint, rank, "K-01", codes="A;2;D")
        record(joint, rank, "K-02", "8", "--findings", "拒绝提供账簿", "--measure", "移送")
        through_review(joint, rank)
        publish(joint, "2026-03-05")
        joint.run("credit", "grade", "--as-of", "2026-03-31")
        after = joint.json("credit", "show", uscc)
        assert after["score"] == before["score"] + 15 + 40  # spot_check.problem and spot_check.obstructed

    def test_clean_record_follows_the_policy(self, joint: Env) -> None:
        clean(joint, 1)
        through_review(joint, 1)
        from credit.policy import default_policy_text

        policy = write(joint, "policy.toml", default_policy_text().replace("clean_record = true", "clean_record = false"))
        assert joint.json("publish", "T1", "--on", "2026-03-05", "--out", str(joint.tmp / "p"), "--policy", str(policy))["credit_records"] == 0
        clean(joint, 2)
        through_review(joint, 2)
        assert publish(joint, "2026-03-05")["credit_records"] == len(items(joint, 2))
        assert joint.scalar("SELECT count(*) FROM credit_records WHERE from_result = true AND result_codes = '1'") == len(items(joint, 2))

    def test_unreachable_opens_a_listing_proposal_decided_into_the_list(self, joint: Env) -> None:
        rank = two_item_visits(joint)[0]
        uscc = uscc_of(joint, rank)
        record(joint, rank, "K-01", "A;2;6", "--findings", "住所无人", "--measure", "其他")
        record(joint, rank, "K-02")
        through_review(joint, rank)
        assert publish(joint, "2026-03-05")["listing_proposals"] == 1
        cases = joint.json("followup", "list", "--as-of", "2026-03-06")
        listing = next(c for c in cases if c["kind"] == "列入经营异常名录建议")
        assert listing["deadline"] == "2026-03-19" and listing["light"] == "green"  # 10 working days after 03-05
        assert "closes with its decision" in joint.run("followup", "update", str(listing["id"]), "--close", "--outcome", "x", "--on", "2026-03-10", expect=1).stderr
        joint.run("followup", "update", str(listing["id"]), "--listed", "渝沙市监异〔2026〕7号", "--on", "2026-03-10")
        assert joint.scalar(f"SELECT count(*) FROM credit_records r JOIN enterprises e ON e.id = r.enterprise_id WHERE e.uscc = '{uscc}' AND r.kind = 'abnormal_in' AND r.ground = 'unreachable'") == 1
        joint.run("credit", "grade", "--as-of", "2026-03-31")
        assert joint.json("credit", "show", uscc)["tier"] in ("C", "D")  # on the abnormal list: at least C

    def test_published_results_do_not_count_twice_toward_the_yearly_cap(self, joint: Env) -> None:
        # Yearly cap 2: a T1 visit is one check; its published result is not a second one.
        for rank in range(1, 13):
            clean(joint, rank)
            through_review(joint, rank)
        publish(joint, "2026-03-31")
        from credit.policy import default_policy_text

        policy = write(joint, "cap2.toml", default_policy_text().replace("yearly_cap = 4", "yearly_cap = 2"))
        half = '{ A = "50%", B = "50%", C = "50%", D = "50%" }'
        path = write(joint, "T2.toml", task_toml("T2", stations=[STATION_A], items=("G-01",), starts="2026-05-04", ends="2026-05-29", ratios=half))
        joint.run("task", "create", str(path), "--seed", "ab" * 32, "--policy", str(policy))
        draw(joint, "T2")
        # Only the enterprise with three imported checks in 2026 is at the cap; each of the others
        # has one T1 visit, and its published result is that same check, not a second one.
        report = joint.json("task", "show", "T2")["draw"]
        assert report["at_yearly_cap"] == 1


class TestFollowup:
    """Each problem opens a case; it moves only by its steps and closes only after its closing step."""

    def test_order_recheck_close(self, joint: Env) -> None:
        rank = two_item_visits(joint)[0]
        problem(joint, rank, "K-01")
        record(joint, rank, "K-02")
        approved = through_review(joint, rank)
        assert len(approved["cases"]) == 1
        case = str(approved["cases"][0])
        listed = joint.json("followup", "list", "--as-of", "2026-03-03")
        assert listed[0]["kind"] == "责令改正" and listed[0]["items"] == ["K-01"] and listed[0]["department"] == "市场监督管理局"
        # Rectify within 10 working days of the check (03-16), re-check within 10 more (03-30).
        assert listed[0]["rectify_by"] == "2026-03-16" and listed[0]["deadline"] == "2026-03-30"
        assert "closes after a re-check" in joint.run("followup", "update", case, "--close", "--outcome", "ok", "--on", "2026-03-20", expect=1).stderr
        assert "at least two inspectors" in joint.run("followup", "update", case, "--recheck", "JC0001", "--rectified", "--on", "2026-03-20", expect=1).stderr
        assert "needs --rectified" in joint.run("followup", "update", case, "--recheck", "JC0001,JC0002", "--on", "2026-03-20", expect=2).stderr
        joint.run("followup", "update", case, "--recheck", "JC0001,JC0002", "--rectified", "--on", "2026-03-20")
        assert "give the outcome" in joint.run("followup", "update", case, "--close", "--on", "2026-03-20", expect=1).stderr
        joint.run("followup", "update", case, "--close", "--outcome", "已按期改正", "--on", "2026-03-20")
        shown = joint.json("followup", "show", case)
        assert shown["phase"] == "已完结" and [s["step"] for s in shown["steps"]] == ["opened", "recheck", "closed"]
        assert joint.json("followup", "list", "--as-of", "2026-03-21") == []
        assert "was closed" in joint.run("followup", "update", case, "--close", "--outcome", "again", expect=1).stderr
        assert joint.scalar("SELECT inspectors FROM rechecks") == "JC0001;JC0002"

    def test_not_rectified_then_referred_and_reported_back(self, joint: Env) -> None:
        rank = two_item_visits(joint)[0]
        problem(joint, rank, "K-01")
        problem(joint, rank, "K-02", codes="A;5", measure="抄告")
        case_ids = through_review(joint, rank)["cases"]
        by_kind = {c["kind"]: c for c in joint.json("followup", "list", "--as-of", "2026-03-03")}
        order, notify = str(by_kind["责令改正"]["id"]), str(by_kind["抄告"]["id"])
        assert sorted(int(c) for c in (order, notify)) == sorted(case_ids)
        assert by_kind["抄告"]["department"] == "应急管理局" and by_kind["抄告"]["phase"] == "待反馈"
        assert "has not passed" in joint.run("followup", "update", order, "--recheck", "JC0001,JC0002", "--not-rectified", "--findings", "仍未公示", "--on", "2026-03-10", expect=1).stderr
        joint.run("followup", "update", order, "--recheck", "JC0001,JC0002", "--not-rectified", "--findings", "仍未公示", "--on", "2026-03-17")
        joint.run("followup", "update", order, "--refer", "沙坪坝区市场监管局执法支队", "--on", "2026-03-17")
        assert "reports back" in joint.run("followup", "update", order, "--close", "--outcome", "x", "--on", "2026-03-18", expect=1).stderr
        joint.run("followup", "update", order, "--reported-back", "--outcome", "已立案查处", "--on", "2026-03-18")
        joint.run("followup", "update", notify, "--reported-back", "--outcome", "已转交相关部门处理", "--on", "2026-03-18")
        closed = joint.json("followup", "list", "--closed", "--as-of", "2026-03-19")
        assert {c["light"] for c in closed} == {"closed"} and len(closed) == 2

    def test_lights_overdue_and_department(self, joint: Env) -> None:
        rank = two_item_visits(joint)[0]
        problem(joint, rank, "K-01")
        problem(joint, rank, "K-02", codes="A;5", measure="抄告")
        through_review(joint, rank, on="2026-03-04")
        # 责令改正: rectify by 03-16, re-check by 03-30; 抄告: reported back within 20 working days of 03-04.
        early = {c["kind"]: c for c in joint.json("followup", "list", "--as-of", "2026-03-05")}
        assert early["抄告"]["deadline"] == "2026-04-01" and {c["light"] for c in early.values()} == {"green"}
        assert early["责令改正"]["working_days_left"] == 17
        yellow = {c["kind"]: c for c in joint.json("followup", "list", "--as-of", "2026-03-24")}
        assert yellow["责令改正"]["light"] == "yellow" and yellow["责令改正"]["working_days_left"] == 4
        assert yellow["抄告"]["light"] == "green"
        red = joint.json("followup", "list", "--overdue", "--as-of", "2026-03-31")
        assert [c["kind"] for c in red] == ["责令改正"] and red[0]["light"] == "red" and red[0]["working_days_left"] == -1
        assert [c["kind"] for c in joint.json("followup", "list", "--department", "YJJ", "--as-of", "2026-03-05")] == ["抄告"]
        assert "no department" in joint.run("followup", "list", "--department", "NOPE", expect=1).stderr
        assert "exactly one step" in joint.run("followup", "update", "1", expect=2).stderr
        assert "no follow-up case 99" in joint.run("followup", "update", "99", "--close", "--outcome", "x", expect=1).stderr
        assert "before case" in joint.run("followup", "update", "1", "--recheck", "JC0001,JC0002", "--rectified", "--on", "2026-03-01", expect=1).stderr


def test_deadline_in_a_year_without_schedule_is_refused_then_accepted(env: Env, make_uscc: USCC) -> None:
    """A December visit's deadline runs into 2027, which chinese-calendar does not know yet."""
    from tests.schedules import SCHEDULE_2027

    load_small(env, make_uscc)
    create(env, "TD", stations=[STATION_A], starts="2026-12-01", ends="2026-12-28", extra="cross_station = true\nvisits_per_day = 2\n")
    draw(env, "TD")
    load_inspectors(env, [inspector(n) for n in range(1, 5)])
    env.run("task", "assign", "TD")
    refused = env.run("publication", "status", "--as-of", "2027-01-20", expect=1)
    assert "no holiday schedule for 2027" in refused.stderr and "spotcheck calendar load FILE" in refused.stderr
    env.run("calendar", "load", str(write(env, "calendar-2027.toml", SCHEDULE_2027)))
    status = env.json("publication", "status", "--as-of", "2027-01-20")
    assert status["visits"] and all(v["state"] == "未录入" for v in status["visits"])
    late_december = [v for v in status["visits"] if v["checked_on"] >= "2026-12-15"]
    assert late_december and all(v["deadline"] >= "2027-01-01" for v in late_december)


def test_overdue_into_a_year_without_schedule_is_still_overdue(joint: Env) -> None:
    """Being overdue needs no guess; only counting the working days since would: the count is left
    out until the year's schedule is loaded, and the visit and the case are still red."""
    from tests.schedules import SCHEDULE_2027

    rank = two_item_visits(joint)[0]
    problem(joint, rank, "K-01")
    record(joint, rank, "K-02")
    through_review(joint, rank)
    status = {v["visit"]: v for v in joint.json("publication", "status", "--as-of", "2027-01-20")["visits"]}
    assert status[f"T1/{rank}"]["timeliness"] == "overdue" and status[f"T1/{rank}"]["working_days_left"] is None
    assert "load the later year's holiday schedule" in joint.run("publication", "status", "--as-of", "2027-01-20").stdout
    case = joint.json("followup", "list", "--as-of", "2027-01-20")[0]
    assert case["light"] == "red" and case["working_days_left"] is None
    joint.run("calendar", "load", str(write(joint, "calendar-2027.toml", SCHEDULE_2027)))
    counted = {v["visit"]: v for v in joint.json("publication", "status", "--as-of", "2027-01-20")["visits"]}
    assert counted[f"T1/{rank}"]["working_days_left"] < -150


def test_the_october_example_runs_through_the_loop(tmp_path: Path) -> None:
    """The shipped October task through the loop, with the demo's simulated results
    (inspection/simulation.py): one file per recording inspector."""
    from sqlalchemy.orm import Session

    from credit.db import make_engine
    from inspection.simulation import write_results
    from tests.cli.test_task import EXAMPLES, SEED, load_examples

    env = Env(f"sqlite:///{tmp_path / 'demo.db'}", tmp_path)
    env.run("db", "upgrade")
    load_examples(env)  # with the example plan
    env.run("task", "create", str(EXAMPLES / "task-october.toml"), "--seed", SEED)
    code = "2026-SPB-JLP-2-2"
    env.run("task", "draw", code, "--entropy", "x")
    env.run("task", "assign", code)
    out = tmp_path / "results"
    engine = make_engine(env.url)
    with Session(engine) as session:
        recorders = write_results(session, code, out)
    engine.dispose()
    assert sorted(recorders) == sorted(file.stem for file in out.glob("*.csv"))
    counts = {"visits": 0, "items": 0}
    for file in sorted(out.glob("*.csv")):  # one file per inspector, imported by that inspector
        for key, n in env.json("result", "import", str(file), user=env.inspector_user(file.stem)).items():
            counts[key] += n
    visits = rows(env, f"SELECT v.rank, min(i.inspector_no) FROM visits v JOIN tasks t ON t.id = v.task_id JOIN assignments a ON a.visit_id = v.id"
                       f" JOIN inspectors i ON i.id = a.inspector_id WHERE t.code = '{code}' GROUP BY v.rank ORDER BY v.rank")
    assert counts["visits"] == len(visits) > 5
    for rank, member in visits:
        env.run("result", "submit", f"{code}/{rank}", "--inspector", member)
    env.run("result", "review", *(f"{code}/{rank}" for rank, _ in visits), "--approve", "--on", "2026-11-16")
    report = env.json("publish", code, "--on", "2026-11-20", "--out", str(tmp_path / "pub"))
    assert report["visits"] == len(visits) and report["listing_proposals"] == 1 and report["late"] > 0
    assert any(c["kind"] == "责令改正" for c in env.json("followup", "list", "--as-of", "2026-11-20"))
    # Every change of the loop is in the audit trail: the auditor finds it intact.
    assert env.json("audit", "verify")["intact"]
