"""`spotcheck evaluation`: 双向评价 recorded once per visit that has taken place, and reported per
inspector (every member of the team) and per department (once per visit). Both databases."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.cli import test_assign
from tests.cli.test_assign import inspector, load_inspectors
from tests.cli.test_task import execute, rows
from tests.conftest import Env

VISITS = range(1, 13)  # T1's ranks
drawn = test_assign.drawn  # the fixture: task T1 drawn, not yet assigned


@pytest.fixture
def assigned(drawn: tuple[Env, dict[int, str]]) -> Env:
    """T1 (12 visits, March 2026) staffed by JC0001..JC0004, two per visit."""
    env, _ = drawn
    load_inspectors(env, [inspector(n) for n in range(1, 5)])
    env.run("task", "assign", "T1")
    return env


def teams(env: Env) -> dict[int, list[tuple[str, str]]]:
    """rank → the team as (inspector number, department code)."""
    out: dict[int, list[tuple[str, str]]] = {}
    for rank, number, department in rows(env, (
        "SELECT v.rank, i.inspector_no, d.code FROM assignments a JOIN visits v ON v.id = a.visit_id"
        " JOIN inspectors i ON i.id = a.inspector_id JOIN departments d ON d.id = i.department_id"
        " JOIN tasks t ON t.id = v.task_id WHERE t.code = 'T1' ORDER BY v.rank, i.inspector_no"
    )):
        out.setdefault(rank, []).append((number, department))
    return out


def days(env: Env) -> dict[int, dt.date]:
    """rank → the visit's scheduled day."""
    found = rows(env, "SELECT v.rank, v.scheduled_on FROM visits v JOIN tasks t ON t.id = v.task_id WHERE t.code = 'T1'")
    return {rank: day if isinstance(day, dt.date) else dt.date.fromisoformat(day) for rank, day in found}


def mean(scores: list[int]) -> float:
    return float((Decimal(sum(scores)) / len(scores)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def expected(scores: list[int]) -> dict[str, object]:
    return {"evaluated": len(scores), "mean": mean(scores), "scores": {str(s): scores.count(s) for s in range(1, 6)}}


def width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def stored(env: Env) -> list[tuple[int, int, str, str]]:
    return rows(env, "SELECT v.rank, e.score, e.comment, e.entered_by FROM evaluations e JOIN visits v ON v.id = e.visit_id ORDER BY v.rank")


class TestRecordAndReport:
    def test_report_per_inspector_and_department(self, assigned: Env, monkeypatch: pytest.MonkeyPatch) -> None:
        env = assigned
        env.add_user("窗口-王", "reviewer")
        monkeypatch.setenv("SPOTCHECK_USER", "窗口-王")
        # JC0001 moves to YJJ: a visit of JC0001 with an SCJG colleague counts once for each department.
        execute(env, "UPDATE inspectors SET department_id = (SELECT id FROM departments WHERE code = 'YJJ') WHERE inspector_no = 'JC0001'")
        scores = {rank: rank % 5 + 1 for rank in VISITS if rank != 12}  # visit 12 not evaluated
        for rank, score in scores.items():
            result = env.run("evaluation", "record", f"T1/{rank}", "--score", str(score), "--comment", f"评价{rank}", user="")
            assert result.stdout == f"visit T1/{rank}: evaluation recorded, score {score}\n"
        assert stored(env) == [(rank, score, f"评价{rank}", "窗口-王") for rank, score in scores.items()]

        team = teams(env)
        by_inspector: dict[tuple[str, str], list[int]] = {}
        by_department: dict[str, list[int]] = {}
        for rank, score in scores.items():
            for member in team[rank]:
                by_inspector.setdefault(member, []).append(score)
            for department in {d for _, d in team[rank]}:
                by_department.setdefault(department, []).append(score)
        assert set(by_department) == {"SCJG", "YJJ"}
        assert sum(len(s) for s in by_inspector.values()) == 2 * len(scores)

        report = env.json("evaluation", "report")
        assert report["inspectors"] == [
            {"inspector": number, "name": f"检查员{int(number[2:])}", "department": department, **expected(s)}
            for (number, department), s in sorted(by_inspector.items())
        ]
        names = {"SCJG": "市场监督管理局", "YJJ": "应急管理局"}
        assert report["departments"] == [{"department": d, "name": names[d], **expected(s)} for d, s in sorted(by_department.items())]
        assert env.json("evaluation", "report", "--task", "T1") == report

        text = env.run("evaluation", "report").stdout.splitlines()
        assert text[0] == "per inspector:" and "per department:" in text
        header = text[1]
        assert header.split() == ["inspector", "name", "department", "visits", "mean", "1", "2", "3", "4", "5"]
        number, department = sorted(by_inspector)[0]
        first = text[2].split()
        assert first[:5] == [number, f"检查员{int(number[2:])}", department, str(len(by_inspector[number, department])),
                             f"{mean(by_inspector[number, department]):.2f}"]
        # Aligned: every line of the inspector table is as wide as its header (汉字 count two).
        inspector_lines = text[1:2 + len(by_inspector)]
        assert len({width(line) for line in inspector_lines}) == 1
        assert text[-1].split()[:2] == ["YJJ", "应急管理局"]

    def test_by_uscc_and_json(self, assigned: Env) -> None:
        env = assigned
        uscc = rows(env, "SELECT e.uscc FROM visits v JOIN enterprises e ON e.id = v.enterprise_id WHERE v.rank = 2")[0][0]
        assert env.json("evaluation", "record", f"T1/{uscc}", "--score", "5", "--comment", "") == {"visit": "T1/2", "score": 5}
        assert stored(env)[0][:3] == (2, 5, "")

    def test_on_the_visit_day_itself(self, assigned: Env) -> None:
        env = assigned
        day = days(env)[1]
        env.run("evaluation", "record", "T1/1", "--score", "3", "--comment", "一般", "--on", day.isoformat())
        assert stored(env)[0][:2] == (1, 3)


class TestRefusals:
    def test_one_evaluation_per_visit(self, assigned: Env) -> None:
        env = assigned
        env.run("evaluation", "record", "T1/3", "--score", "4", "--comment", "好")
        result = env.run("evaluation", "record", "T1/3", "--score", "1", "--comment", "改主意了", expect=1)
        assert "already has an evaluation (score 4" in result.stderr and "not overwritten" in result.stderr
        assert stored(env) == [(3, 4, "好", stored(env)[0][3])]

    @pytest.mark.parametrize("score", ["0", "6", "x"])
    def test_score_out_of_range_is_a_usage_error(self, assigned: Env, score: str) -> None:
        env = assigned
        result = env.run("evaluation", "record", "T1/1", "--score", score, "--comment", "c", expect=2)
        assert "--score" in result.stderr
        assert stored(env) == []

    def test_unknown_visit(self, assigned: Env) -> None:
        env = assigned
        assert "task T1 has no visit '99'" in env.run("evaluation", "record", "T1/99", "--score", "3", "--comment", "c", expect=1).stderr
        assert "no task 'NOPE'" in env.run("evaluation", "record", "NOPE/1", "--score", "3", "--comment", "c", expect=1).stderr
        assert "is not a visit" in env.run("evaluation", "record", "T1", "--score", "3", "--comment", "c", expect=1).stderr

    def test_unassigned_task(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, _ = drawn
        result = env.run("evaluation", "record", "T1/1", "--score", "3", "--comment", "c", expect=1)
        assert "no team yet" in result.stderr and "spotcheck task assign T1" in result.stderr
        assert stored(env) == []

    def test_dates(self, assigned: Env) -> None:
        env = assigned
        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        result = env.run("evaluation", "record", "T1/1", "--score", "3", "--comment", "c", "--on", tomorrow, expect=1)
        assert f"--on {tomorrow} is in the future" in result.stderr
        rank, day = max(days(env).items(), key=lambda item: (item[1], item[0]))
        before = (day - dt.timedelta(days=1)).isoformat()
        result = env.run("evaluation", "record", f"T1/{rank}", "--score", "3", "--comment", "c", "--on", before, expect=1)
        assert f"the visit on {day} has not taken place yet" in result.stderr
        assert stored(env) == []


class TestEmptyReport:
    def test_no_evaluations(self, env: Env) -> None:
        assert env.run("evaluation", "report").stdout == "no evaluations\n"
        assert env.json("evaluation", "report") == {"inspectors": [], "departments": []}

    def test_assigned_but_not_evaluated_and_unknown_task(self, assigned: Env) -> None:
        env = assigned
        assert env.run("evaluation", "report", "--task", "T1").stdout == "no evaluations for task T1\n"
        assert env.json("evaluation", "report", "--task", "T1") == {"inspectors": [], "departments": []}
        assert "no task 'NOPE'" in env.run("evaluation", "report", "--task", "NOPE", expect=1).stderr
