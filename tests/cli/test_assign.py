"""`spotcheck task assign`: every visit dated and staffed by eligible inspectors, balanced, checked,
stored once; a shortage is refused with the visits and reasons, storing nothing. Both databases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.test_task import A_SERIALS, STATION_A, STATION_B, USCC, create, draw, execute, load_small, task_toml, write
from tests.conftest import Env

INSPECTOR_HEADER = ["inspector_id", "name", "department", "certificate_no", "certificate_expires", "qualifications",
                    "district_code", "station", "status", "leave", "conflicts"]


def inspector(n: int, *, station: str = STATION_B, qualified: str = "K-01", leave: str = "", conflicts: str = "",
              district: str = "500106", expires: str = "2030-12-31", status: str = "在岗") -> list[str]:
    return [f"JC{n:04d}", f"检查员{n}", "SCJG", f"渝{n:06d}", expires, qualified, district, station, status, leave, conflicts]


def load_inspectors(env: Env, rows: list[list[str]]) -> None:
    counts = env.json("import", "inspectors", str(env.csv("inspectors.csv", INSPECTOR_HEADER, rows)))
    assert counts["rejected"] == 0, counts


@pytest.fixture
def drawn(env: Env, make_uscc: USCC) -> tuple[Env, dict[int, str]]:
    """The small data set with task T1 (station 甲所, K-01 at 100%: 12 visits, March 2026) drawn."""
    u = load_small(env, make_uscc)
    create(env, "T1", stations=[STATION_A], extra="cross_station = true\nvisits_per_day = 2\n")
    assert draw(env, "T1")["visits"] == len(A_SERIALS)
    return env, u


def teams(env: Env, code: str) -> dict[str, list[str]]:
    from tests.cli.test_task import rows

    out: dict[str, list[str]] = {}
    for uscc, number, day in rows(env, (
        "SELECT e.uscc, i.inspector_no, v.scheduled_on FROM assignments a JOIN visits v ON v.id = a.visit_id"
        " JOIN enterprises e ON e.id = v.enterprise_id JOIN inspectors i ON i.id = a.inspector_id"
        f" JOIN tasks t ON t.id = v.task_id WHERE t.code = '{code}' ORDER BY e.uscc, i.inspector_no"
    )):
        out.setdefault(uscc, []).append(number)
        assert day is not None
    return out


class TestAssign:
    """Teams of two from the eligible, balanced, the same for the same key, assigned once."""

    def test_every_visit_gets_two_eligible_inspectors_balanced(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, u = drawn
        # Four station-B inspectors (cross-station mode keeps station A's away), one on leave all
        # March, one conflicted with enterprise 1, one of station A, one not qualified.
        load_inspectors(env, [
            inspector(1), inspector(2), inspector(3), inspector(4),
            inspector(5, leave="2026-03-01..2026-03-31"), inspector(6, conflicts=u[1]),
            inspector(7, station=STATION_A), inspector(8, qualified="K-02"),
        ])
        result = env.json("task", "assign", "T1")
        assert result["visits"] == 12 and result["assigned"] == 12
        got = teams(env, "T1")
        assert len(got) == 12 and all(len(team) == 2 for team in got.values())
        used = {n for team in got.values() for n in team}
        assert used <= {"JC0001", "JC0002", "JC0003", "JC0004", "JC0006"}
        assert "JC0006" not in got[u[1]]
        loads = [sum(n in team for team in got.values()) for n in sorted(used)]
        assert max(loads) - min(loads) <= 1 and (result["load_min"], result["load_max"]) == (min(loads), max(loads))
        # Working days in March only, at most 2 visits per inspector per day.
        days = env.scalar("SELECT count(*) FROM visits v JOIN tasks t ON t.id = v.task_id WHERE t.code = 'T1' AND (v.scheduled_on < '2026-03-01' OR v.scheduled_on > '2026-03-28')")
        assert days == 0

    def test_assigned_once(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, _ = drawn
        load_inspectors(env, [inspector(n) for n in range(1, 5)])
        env.run("task", "assign", "T1")
        result = env.run("task", "assign", "T1", expect=1)
        assert "already assigned" in result.stderr

    def test_shortage_names_visits_and_reasons_and_stores_nothing(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, _ = drawn
        load_inspectors(env, [inspector(1), inspector(2, leave="2026-03-01..2026-03-31"), inspector(3, station=STATION_A)])
        result = env.run("task", "assign", "T1", expect=1)
        assert "12 of 12 visits cannot be staffed" in result.stderr
        assert "needs 2 SCJG inspector(s); 1 eligible; of the others: 1 on leave that day, 1 from the enterprise's own station (所所交叉)" in result.stderr
        assert env.scalar("SELECT count(*) FROM assignments") == 0
        assert env.scalar("SELECT count(*) FROM visits WHERE scheduled_on IS NOT NULL") == 0

    def test_undrawn_task_is_refused(self, env: Env, make_uscc: USCC) -> None:
        load_small(env, make_uscc)
        create(env, "T1", stations=[STATION_A])
        assert "has not been drawn" in env.run("task", "assign", "T1", expect=1).stderr


def test_same_key_same_teams(env: Env, make_uscc: USCC, tmp_path: Any) -> None:
    """Two identical databases give identical teams (the lottery depends on USCC and number only)."""
    results = []
    for n in range(2):
        other = Env(env.url if n == 0 else f"sqlite:///{tmp_path / 'second.db'}", tmp_path / f"d{n}")
        other.tmp.mkdir(exist_ok=True)
        if n:
            other.run("db", "upgrade")
        load_small(other, make_uscc)
        create(other, "T1", stations=[STATION_A])
        draw(other, "T1")
        load_inspectors(other, [inspector(i) for i in range(1, 7)])
        results.append((other.json("task", "assign", "T1")["result_sha256"], teams(other, "T1")))
    assert results[0] == results[1]


class TestAssignmentsList:
    """An inspector's visits as text, JSON, CSV, XLSX and iCalendar."""

    def test_every_format(self, drawn: tuple[Env, dict[int, str]]) -> None:
        import icalendar
        import openpyxl

        from tests.cli.test_task import read_csv

        env, _ = drawn
        load_inspectors(env, [inspector(n) for n in range(1, 5)])
        env.run("task", "assign", "T1")
        got = teams(env, "T1")
        mine = sorted(u for u, team in got.items() if "JC0001" in team)
        listed = env.json("assignments", "--inspector", "JC0001", "--task", "T1")
        assert sorted(r["uscc"] for r in listed) == mine
        assert all(len(r["team"]) == 2 and r["documents"][0] == "执法证件" for r in listed)
        days = [r["day"] for r in listed]
        assert days == sorted(days)
        # The 检查编号 names the visit the inspector records results against.
        for r in listed:
            assert env.json("result", "show", r["visit"])["visit"] == env.json("result", "show", f"T1/{r['uscc']}")["visit"] == r["visit"]

        env.run("assignments", "--inspector", "JC0001", "--out", str(env.tmp / "a.csv"))
        rows = read_csv(env.tmp / "a.csv")
        assert rows[0][:6] == ["检查日期", "检查编号", "任务编号", "任务名称", "企业名称", "统一社会信用代码"] and len(rows) == len(mine) + 1
        assert all(row[1].startswith("T1/") for row in rows[1:])

        env.run("assignments", "--inspector", "JC0001", "--out", str(env.tmp / "a.xlsx"))
        sheet = openpyxl.load_workbook(env.tmp / "a.xlsx").active
        assert sheet.max_row == len(mine) + 1

        env.run("assignments", "--inspector", "JC0001", "--out", str(env.tmp / "a.ics"))
        cal = icalendar.Calendar.from_ical((env.tmp / "a.ics").read_bytes())
        events = [c for c in cal.walk() if c.name == "VEVENT"]
        assert len(events) == len(mine)
        assert sorted(str(e["uid"]).split("-", 1)[1].split("-JC0001")[0] for e in events) == mine
        assert [e.decoded("dtstart").isoformat() for e in events] == days

    def test_unknown_inspector_and_format(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, _ = drawn
        assert "no inspector" in env.run("assignments", "--inspector", "NOPE", expect=1).stderr
        load_inspectors(env, [inspector(n) for n in range(1, 5)])
        result = env.run("assignments", "--inspector", "JC0001", "--out", str(env.tmp / "a.pdf"), expect=1)
        assert "a.pdf: unsupported file type .pdf; use .csv, .xlsx or .ics" in result.stderr


class TestNotices:
    """One 检查通知书 per visit: every item, the documents to prepare once, the team."""

    def test_one_notice_per_visit(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, u = drawn
        assert "no assignment yet" in env.run("task", "notices", "T1", "--out", str(env.tmp / "n"), expect=1).stderr
        load_inspectors(env, [inspector(n) for n in range(1, 5)])
        env.run("task", "assign", "T1")
        assert env.run("task", "notices", "T1", "--out", str(env.tmp / "n")).stdout.startswith("12 notices written")
        files = sorted((env.tmp / "n").glob("*.html"))
        assert len(files) == 12
        got = teams(env, "T1")
        first = files[0].read_text(encoding="utf-8")
        uscc = files[0].stem.split("-", 1)[1]
        assert uscc in got and "检查通知书" in first and "登记事项的检查" in first and "营业执照" in first
        assert all(f"检查员{int(n[2:])}" in first for n in got[uscc])
        assert "信用风险" not in first and "A类" not in first  # tiers are never shown


class TestReplace:
    """递补: only the withdrawing inspector's visits change; each gets an eligible inspector of
    the same department; the replacement is recorded; a shortage changes nothing."""

    def test_only_the_affected_visits_change(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, _ = drawn
        load_inspectors(env, [inspector(n) for n in range(1, 6)])
        env.run("task", "assign", "T1")
        before = teams(env, "T1")
        leaving = {u for u, team in before.items() if "JC0002" in team}
        done = env.json("task", "replace", "T1", "--inspector", "JC0002", "--reason", "病假")
        assert {r["uscc"] for r in done} == leaving and leaving
        after = teams(env, "T1")
        for uscc, team in before.items():
            if uscc in leaving:
                assert "JC0002" not in after[uscc] and len(after[uscc]) == 2
                kept = [n for n in team if n != "JC0002"]
                assert set(kept) <= set(after[uscc])
            else:
                assert after[uscc] == team
        assert env.scalar("SELECT count(*) FROM replacements WHERE reason = '病假'") == len(leaving)

    def test_from_date_keeps_earlier_visits(self, drawn: tuple[Env, dict[int, str]]) -> None:
        from tests.cli.test_task import rows

        env, _ = drawn
        load_inspectors(env, [inspector(n) for n in range(1, 6)])
        env.run("task", "assign", "T1")
        mine = rows(env, "SELECT v.scheduled_on FROM assignments a JOIN visits v ON v.id = a.visit_id JOIN inspectors i ON i.id = a.inspector_id WHERE i.inspector_no = 'JC0001' ORDER BY v.scheduled_on")
        days = sorted({str(d) for (d,) in mine})
        assert len(days) >= 2
        cut = days[-1]
        done = env.json("task", "replace", "T1", "--inspector", "JC0001", "--reason", "调岗", "--from", cut)
        assert {r["day"] for r in done} == {cut}
        left = rows(env, "SELECT v.scheduled_on FROM assignments a JOIN visits v ON v.id = a.visit_id JOIN inspectors i ON i.id = a.inspector_id WHERE i.inspector_no = 'JC0001'")
        assert {str(d) for (d,) in left} == set(days[:-1])

    def test_no_one_to_take_the_place_changes_nothing(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, _ = drawn
        load_inspectors(env, [inspector(1), inspector(2)])
        env.run("task", "assign", "T1")
        before = teams(env, "T1")
        result = env.run("task", "replace", "T1", "--inspector", "JC0001", "--reason", "回避", expect=1)
        assert "cannot be given another inspector; nothing was changed" in result.stderr
        assert teams(env, "T1") == before
        assert env.scalar("SELECT count(*) FROM replacements") == 0

    def test_bad_requests(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, _ = drawn
        load_inspectors(env, [inspector(n) for n in range(1, 5)] + [inspector(9, station=STATION_A)])
        assert "no assignment yet" in env.run("task", "replace", "T1", "--inspector", "JC0001", "--reason", "x", expect=1).stderr
        env.run("task", "assign", "T1")
        assert "no inspector" in env.run("task", "replace", "T1", "--inspector", "NOPE", "--reason", "x", expect=1).stderr
        assert "has no visit" in env.run("task", "replace", "T1", "--inspector", "JC0009", "--reason", "x", expect=1).stderr
        assert "must not be empty" in env.run("task", "replace", "T1", "--inspector", "JC0001", "--reason", " ", expect=1).stderr


class TestVerify:
    """`task verify` re-solves the assignment from the facts it recorded: identical when nothing
    changed (replacements included), the first difference when a table was edited behind the
    system's back."""

    @pytest.fixture
    def assigned(self, drawn: tuple[Env, dict[int, str]]) -> Env:
        env, _ = drawn
        load_inspectors(env, [inspector(n) for n in range(1, 7)])
        env.run("task", "assign", "T1")
        return env

    def test_identical_then_after_replacement(self, assigned: Env) -> None:
        env = assigned
        result = env.json("task", "verify", "T1")
        assert result["identical"] and result["assigned"], result
        assert "the assignment re-solves to the stored dates and teams" in env.run("task", "verify", "T1").stdout
        env.run("task", "replace", "T1", "--inspector", "JC0003", "--reason", "病假")
        # Later directory changes do not matter: the run re-solves from what it recorded.
        execute(env, "UPDATE inspectors SET status = 'inactive' WHERE inspector_no = 'JC0001'")
        assert env.json("task", "verify", "T1")["identical"]

    def test_edited_team_is_found(self, assigned: Env) -> None:
        env = assigned
        busy = teams(env, "T1")
        uscc, team = next(iter(busy.items()))
        outsider = next(f"JC{n:04d}" for n in range(1, 7) if f"JC{n:04d}" not in team)
        execute(env, 
            f"UPDATE assignments SET inspector_id = (SELECT id FROM inspectors WHERE inspector_no = '{outsider}')"
            f" WHERE inspector_id = (SELECT id FROM inspectors WHERE inspector_no = '{team[0]}')"
            f" AND visit_id = (SELECT v.id FROM visits v JOIN enterprises e ON e.id = v.enterprise_id WHERE e.uscc = '{uscc}')"
        )
        result = env.run("task", "verify", "T1", expect=1)
        assert f"teams: {uscc}: stored team" in result.stdout

    def test_edited_date_is_found(self, assigned: Env) -> None:
        env = assigned
        execute(env, "UPDATE visits SET scheduled_on = '2026-03-31' WHERE rank = 1")
        found = env.json("task", "verify", "T1", expect=1)["findings"]
        assert [f["check"] for f in found] == ["dates"] and "is stored on 2026-03-31" in found[0]["message"]

    def test_edited_inputs_are_found(self, assigned: Env) -> None:
        env = assigned
        execute(env, "UPDATE assignment_runs SET inputs_sha256 = '" + "0" * 64 + "'")
        found = env.json("task", "verify", "T1", expect=1)["findings"]
        assert found == [{"check": "assignment", "message": "the stored assignment inputs do not match their recorded hash"}]

    def test_edited_result_hash_is_found(self, assigned: Env) -> None:
        env = assigned
        execute(env, "UPDATE assignment_runs SET result_sha256 = '" + "0" * 64 + "'")
        found = env.json("task", "verify", "T1", expect=1)["findings"]
        assert {"check": "assignment", "message": "re-solving from the recorded inputs does not give the recorded result hash"} in found


class TestCooperation:
    """跨区协作: inspectors of another district work there only when the task names both districts
    in one cooperation group."""

    def test_cooperating_district_staffs_the_visits(self, env: Env, make_uscc: USCC) -> None:
        load_small(env, make_uscc)
        load_inspectors(env, [inspector(n, district="500107") for n in range(1, 5)])
        create(env, "T1", stations=[STATION_A])
        draw(env, "T1")
        assert "from another district (属地管辖)" in env.run("task", "assign", "T1", expect=1).stderr
        create(env, "T2", stations=[STATION_A], kind="recheck", extra='cooperation = [["500106", "500107"]]\n', starts="2026-04-01")
        draw(env, "T2")
        result = env.json("task", "assign", "T2")
        assert result["assigned"] == len(A_SERIALS) and result["status"] == "assigned" and result["reproducible"]
        assert result["report"]["split_days_after"] <= result["report"]["split_days_before"]
        assert env.json("task", "show", "T2")["cooperation"] == [["500106", "500107"]]
        assert env.json("task", "verify", "T2")["identical"]

    @pytest.mark.parametrize(("value", "reason"), [
        ('[["500106"]]', "group 1 must be a list of at least two district codes"),
        ('[["500106", "5001"]]', "'5001' is not a 6-digit GB/T 2260 code"),
        ('[["500106", "500107"], ["500107", "500108"]]', "district 500107 is in two cooperation groups"),
        ('[["500106", "999999"]]', "unknown district 999999"),
    ])
    def test_bad_cooperation_is_refused_with_the_line(self, env: Env, make_uscc: USCC, value: str, reason: str) -> None:
        load_small(env, make_uscc)
        path = write(env, "bad.toml", task_toml("T9", extra=f"cooperation = {value}\n"))
        result = env.run("task", "create", str(path), expect=1)
        assert "bad.toml:" in result.stderr and reason in result.stderr
        assert env.scalar("SELECT count(*) FROM tasks") == 0
