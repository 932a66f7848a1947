"""`spotcheck report` on a worked example built through the CLI, on SQLite and PostgreSQL: every
report's figures against values computed by hand below, the text of one, and the HTML page.

The example. Task T1 (station 甲所, March 2026) checks K-01 (市场监督管理局, 100 %) and G-01
(应急管理局, a 一般 item at 50 %). Station A has 12 enterprises: one in tier A (three clean spot
checks in January), eleven in B. So K-01 draws all 12 and G-01 takes 1 of tier A and 6 of 11
(5.5, halves up) of tier B; the samples are coordinated, so there are 12 visits: 7 joint (both
items, J1 is the tier-A one) and 5 single (K-01 only), 19 matters.

Teams of two: a joint visit gets one SCJG and one YJJ inspector, a single one two SCJG. Four SCJG
inspectors are eligible everywhere: 5 × 2/4 + 7 × 1/4 = 17/4 expected visits each; two YJJ ones:
7 × 1/2 = 7/2 each (in all 4 × 17/4 + 2 × 7/2 = 24 = 2 × 12).

The visits, as of 2026-04-02 (deadline: 20 working days after the check, 03-02 → 03-30):

| visits | results (check date)                       | publication             |
|--------|--------------------------------------------|-------------------------|
| J1–J3, S1 | recorded 03-02, approved 03-03          | 03-10: on time          |
| J4, S2 | recorded 03-02, approved 03-04             | 03-31: late             |
| J5, S3 | recorded 03-02                             | open, overdue           |
| J6, S4 | recorded 03-12 (deadline 04-10)            | open, due soon (5 left) |
| J7     | recorded 03-20                             | open, on time           |
| S5     | nothing (its day moved to 03-02)           | open, overdue           |

Problems found, and their follow-up cases:
- J2 K-01 责令改正: opened 03-02, re-checked and closed 03-20 (14 working days);
- S1 K-01 抄告: opened 03-03, reported back 03-24 (15 working days);
- J4 G-01 移送 (YJJ): opened 03-04, deadline 04-01: red;
- S2 K-01 其他: opened 03-04, deadline 04-01: red; its result 6 (住所无法联系) also opens a
  listing proposal on publication (03-31, 10 working days): green.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from credit.drift import psi
from tests.cli.test_assign import inspector, load_inspectors
from tests.cli.test_result_import import EN
from tests.cli.test_task import SEED, STATION_A, USCC, draw, execute, load_small, rows, task_toml, write
from tests.conftest import Env

AS_OF = "2026-04-02"
HALF = '[{ code = "G-01", ratios = { A = "50%", B = "50%", C = "50%", D = "50%" } }]'
FINDINGS = "未按规定公示股东出资信息"
CHARTS = ("按信用等级的抽查覆盖", "每户检查事项数分布", "按部门的公示及时性", "每周完结案件数及累计", "检查人员实际分配与期望户次", "各等级企业占比")
TITLES = ("抽查覆盖情况", "联合抽查", "公示及时性", "后续处置闭环", "公平性", "信用风险分类")


@dataclass
class Example:
    env: Env
    joint: list[int]  # J1..J7 (J1 the tier-A visit)
    single: list[int]  # S1..S5

    def ref(self, name: str) -> str:
        """"J2" → the reference (T1/RANK) of the second joint visit."""
        group = self.joint if name[0] == "J" else self.single
        return f"T1/{group[int(name[1:]) - 1]}"


def teams(env: Env) -> dict[str, list[str]]:
    """Every T1 visit's team (inspector numbers in order), in one query."""
    out: dict[str, list[str]] = defaultdict(list)
    for rank, number in rows(env, "SELECT v.rank, i.inspector_no FROM assignments a JOIN visits v ON v.id = a.visit_id"
                                  " JOIN inspectors i ON i.id = a.inspector_id ORDER BY v.rank, i.inspector_no"):
        out[f"T1/{rank}"].append(number)
    return out


@pytest.fixture
def example(env: Env, make_uscc: USCC) -> Example:
    load_small(env, make_uscc)
    toml = task_toml("T1", stations=[STATION_A], items=("K-01", "G-01"), extra="cross_station = true\nvisits_per_day = 2\n")
    env.run("task", "create", str(write(env, "T1.toml", toml.replace('items = ["G-01"]', f"items = {HALF}"))), "--seed", SEED)
    assert draw(env, "T1")["visits"] == 12
    yjj = [inspector(n, qualified="G-01") for n in (5, 6)]
    for row in yjj:
        row[2] = "YJJ"
    load_inspectors(env, [inspector(n) for n in range(1, 5)] + yjj)
    env.run("task", "assign", "T1")

    per_visit = rows(env, "SELECT v.rank, count(*), min(v.tier) FROM visits v JOIN visit_items vi ON vi.visit_id = v.id GROUP BY v.rank ORDER BY v.rank")
    joint = sorted((r for r, n, _ in per_visit if n == 2), key=lambda r: (next(t for k, _, t in per_visit if k == r) != "A", r))
    single = [r for r, n, _ in per_visit if n == 1]
    assert (len(joint), len(single)) == (7, 5) and [t for r, _, t in per_visit if t == "A"] == ["A"]
    ex = Example(env, joint, single)
    r = ex.ref
    team = teams(env)
    problem = {
        ("J2", "K-01"): ("A;2;B", "责令改正"), ("S1", "K-01"): ("A;5", "抄告"),
        ("J4", "G-01"): ("A;5", "移送"), ("S2", "K-01"): ("A;2;6", "其他"),
    }
    dates = {**dict.fromkeys(("J1", "J2", "J3", "S1", "J4", "S2", "J5", "S3"), "2026-03-02"),
             "J6": "2026-03-12", "S4": "2026-03-12", "J7": "2026-03-20"}
    by_recorder: dict[str, list[list[str]]] = defaultdict(list)
    for name, date in dates.items():
        for item in ("K-01", "G-01") if name[0] == "J" else ("K-01",):
            codes, measure = problem.get((name, item), ("1", ""))
            recorder = team[r(name)][0]
            by_recorder[recorder].append([r(name), item, recorder, "是", "实地检查", codes, FINDINGS if measure else "", measure, date])
    for n, (_, lines) in enumerate(sorted(by_recorder.items())):
        env.run("result", "import", str(env.csv(f"results-{n}.csv", EN, lines)))
    # S5 has no results; its day is moved to the first working day, so its deadline has passed.
    execute(env, f"UPDATE visits SET scheduled_on = '2026-03-02' WHERE rank = {ex.single[4]}")

    def approve(names: tuple[str, ...], on: str) -> None:
        by_member: dict[str, list[str]] = defaultdict(list)  # one submit per inspector, for each of their visits
        for name in names:
            by_member[team[r(name)][0]].append(r(name))
        for member, refs in by_member.items():
            env.run("result", "submit", *refs, "--inspector", member)
        env.run("result", "review", *(r(n) for n in names), "--approve", "--on", on)

    approve(("J1", "J2", "J3", "S1"), "2026-03-03")
    env.run("publish", "T1", "--on", "2026-03-10", "--out", str(env.tmp / "pub1"))
    approve(("J4", "S2"), "2026-03-04")
    env.run("publish", "T1", "--on", "2026-03-31", "--out", str(env.tmp / "pub2"))

    cases = {(c["visit"], c["kind"]): str(c["id"]) for c in env.json("followup", "list", "--as-of", "2026-03-20")}
    order, notify = cases[(r("J2"), "责令改正")], cases[(r("S1"), "抄告")]
    env.run("followup", "update", order, "--recheck", "JC0001,JC0002", "--rectified", "--on", "2026-03-20")
    env.run("followup", "update", order, "--close", "--outcome", "已按期改正", "--on", "2026-03-20")
    env.run("followup", "update", notify, "--reported-back", "--outcome", "已转交相关部门处理", "--on", "2026-03-24")
    env.run("credit", "grade", "--as-of", AS_OF)
    return ex


def counts(planned: int, drawn: int, visited: int, published: int, visits: int) -> dict[str, Any]:
    return {"planned": planned, "drawn": drawn, "visited": visited, "published": published, "visits": visits,
            "visited_share": round(visited / drawn, 4) if drawn else None, "published_share": round(published / drawn, 4) if drawn else None}


def check_coverage(got: dict[str, Any]) -> None:
    assert got["total"] == counts(19, 19, 18, 10, 12)
    assert [(t["key"], t["status"]) for t in got["by_task"]] == [("T1", "drawn")]
    assert {k: v for k, v in got["by_task"][0].items() if k not in ("key", "label", "status")} == counts(19, 19, 18, 10, 12)
    tiers = {t["key"]: {k: v for k, v in t.items() if k not in ("key", "label")} for t in got["by_tier"]}
    assert list(tiers) == ["A", "B", "C", "D"]  # every tier, zeros included
    assert tiers == {"A": counts(2, 2, 2, 2, 1), "B": counts(17, 17, 16, 8, 11), "C": counts(0, 0, 0, 0, 0), "D": counts(0, 0, 0, 0, 0)}
    departments = {d["key"]: (d["label"], *(d[k] for k in ("planned", "drawn", "visited", "published", "visits"))) for d in got["by_department"]}
    assert departments == {"SCJG": ("市场监督管理局", 12, 12, 11, 6, 12), "YJJ": ("应急管理局", 7, 7, 7, 4, 7)}


def check_joint(got: dict[str, Any]) -> None:
    assert (got["visits"], got["matters"], got["matters_per_visit"]) == (12, 19, {"1": 5, "2": 7})
    assert (got["joint_visits"], got["joint_share"]) == (7, round(7 / 12, 4))
    # Separately, SCJG would have visited its 12 and YJJ its 7: 19 visits; one joint draw made 12.
    assert (got["separate_visits"], got["drawn_visits"], got["visits_saved"], got["saved_share"]) == (19, 12, 7, round(7 / 19, 4))
    assert got["mean_matters_per_visit"] == round(19 / 12, 4)


def check_timeliness(got: dict[str, Any], ex: Example) -> None:
    lines = {d["key"]: d for d in got["departments"]}
    keys = ("published_on_time", "published_late", "on_time", "due_soon", "overdue")
    assert {k: [lines[k][t] for t in keys] for k in lines} == {"SCJG": [4, 2, 1, 2, 3], "YJJ": [3, 1, 1, 1, 1]}
    assert [got["total"][t] for t in keys] == [7, 3, 2, 3, 4] and got["total"]["total"] == 19
    assert (lines["SCJG"]["on_time_share"], lines["YJJ"]["on_time_share"]) == (round(4 / 6, 4), 0.75)
    assert got["deadline_working_days"] == 20
    r = ex.ref
    assert sorted((d["visit"], d["department"]) for d in got["overdue"]) == sorted(
        [(r("J5"), "SCJG"), (r("J5"), "YJJ"), (r("S3"), "SCJG"), (r("S5"), "SCJG")])


def check_closure(got: dict[str, Any], ex: Example) -> None:
    assert (got["cases"], got["closed"], got["open"]) == (5, 2, 3)
    assert got["by_phase"] == {"责令改正": 0, "复查": 0, "待反馈": 1, "待决定": 1, "处置中": 1, "已完结": 2}
    assert got["by_light"] == {"red": 2, "yellow": 0, "green": 1, "closed": 2}
    assert got["median_working_days_to_close"] == 14.5  # median of 14 and 15
    assert got["weekly"] == [{"week": "2026-03-16", "closed": 1, "cumulative": 1}, {"week": "2026-03-23", "closed": 1, "cumulative": 2}]
    overdue = [(c["visit"], c["kind"], c["deadline"], c["working_days_left"]) for c in got["overdue"]]
    assert sorted(overdue) == sorted([(ex.ref("J4"), "移送", "2026-04-01", -1), (ex.ref("S2"), "其他处置", "2026-04-01", -1)])


def check_fairness(got: dict[str, Any]) -> None:
    lines = {i["number"]: i for i in got["inspectors"]}
    assert sorted(lines) == ["JC0001", "JC0002", "JC0003", "JC0004", "JC0005", "JC0006"]
    assert {n: lines[n]["expected_exact"] for n in lines} == {**dict.fromkeys(["JC0001", "JC0002", "JC0003", "JC0004"], "17/4"),
                                                             "JC0005": "7/2", "JC0006": "7/2"}
    assert got["expected"] == 24.0 and got["assigned"] == 24
    scjg = sorted(lines[n]["assigned"] for n in ("JC0001", "JC0002", "JC0003", "JC0004"))
    yjj = sorted(lines[n]["assigned"] for n in ("JC0005", "JC0006"))
    assert (scjg, yjj) == ([4, 4, 4, 5], [3, 4])  # balanced: 17 seats over four, 7 over two
    for line in lines.values():
        assert line["ratio"] == round(line["assigned"] / (4.25 if line["department"] == "SCJG" else 3.5), 4)
    yearly = got["yearly_checks"]
    # 2026: eleven enterprises with their T1 visit only; enterprise 1 with three January records
    # and its visit, enterprise 13 with four records: both at the cap of 4, none over it.
    assert yearly == {"cap": 4, "distribution": {"2026": {"1": 11, "4": 2}}, "max": 4, "at_cap": 2, "over_cap": []}
    assert got["repeated_checks"] == [] and got["repeated_checks_note"] == "no enterprise was checked twice on the same item within 12 months"
    assert got["unassigned_tasks"] == []


def check_credit(got: dict[str, Any], env: Env) -> None:
    runs = got["runs"]
    assert [(r["run"], r["as_of"]) for r in runs] == [(1, "2026-02-01"), (2, AS_OF)]
    first, second = runs
    # Run 1: enterprises 1, 13 and 14 had only clean spot checks (A); the rest had none (B).
    # Run 2: the published clean visit J3 joins A; the two enterprises imported after run 1 are new.
    assert (first["counts"]["A"], second["counts"]["A"]) == (3, 4)
    assert (first["counts"]["C"], first["counts"]["D"], second["counts"]["C"], second["counts"]["D"]) == (0, 0, 0, 0)
    assert second["enterprises"] == first["enterprises"] + 2 == env.scalar("SELECT enterprises FROM grading_runs WHERE id = 2")
    [d] = got["drifts"]
    assert (d["run_a"], d["run_b"], d["riskier"], d["safer"], d["only_a"], d["only_b"]) == (1, 2, 0, 1, 0, 2)
    assert d["stayed"] == first["enterprises"] - 1 and d["matrix"]["B"]["A"] == 1
    assert d["psi"] == round(psi(first["counts"], second["counts"]), 6)


def check_every_report(example: Example) -> None:
    env = example.env
    every = env.json("report", "all", "--as-of", AS_OF)
    assert list(every) == ["coverage", "joint", "timeliness", "closure", "fairness", "credit"]
    assert {k: (s["tasks"], s["as_of"], s["message"]) for k, s in every.items()} == dict.fromkeys(every, (["T1"], AS_OF, None))
    check_coverage(every["coverage"])
    check_joint(every["joint"])
    check_timeliness(every["timeliness"], example)
    check_closure(every["closure"], example)
    check_fairness(every["fairness"])
    check_credit(every["credit"], env)

    # One kind alone is that section's object, the same figures; --task and --year select alike.
    alone = env.json("report", "timeliness", "--task", "T1", "--as-of", AS_OF)
    assert alone == {**every["timeliness"], "task": "T1"}
    assert env.json("report", "coverage", "--year", "2026", "--as-of", AS_OF)["total"] == every["coverage"]["total"]

    text = env.run("report", "coverage", "--as-of", AS_OF).stdout
    assert "== coverage (抽查覆盖情况) ==" in text
    table = {line.split()[0]: line.split()[1:] for line in text.splitlines() if re.match(r"\s+[A-D]\s", line)}
    assert table == {"A": ["2", "2", "2", "2", "1", "100.0%", "100.0%"], "B": ["17", "17", "16", "8", "11", "94.1%", "47.1%"],
                     "C": ["0", "0", "0", "0", "0", "-", "-"], "D": ["0", "0", "0", "0", "0", "-", "-"]}
    assert re.search(r"^\s+SCJG\s+12\s+12\s+11\s+6\s+12\s", text, re.M)

    out = env.tmp / "report"
    printed = env.run("report", "all", "--as-of", AS_OF, "--html", str(out)).stdout
    assert "== credit (信用风险分类) ==" in printed and f"page: {out / 'index.html'}" in printed
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count('<img src="data:image/png;base64,') == len(CHARTS)
    for title in (*TITLES, *CHARTS):
        assert title in page, title
    assert "无：没有企业在 12 个月内就同一事项被重复检查。" in page
    assert "计划抽查 19 户次，实际抽取 19 户次（12 户），已检查 18 户次（94.7%），已公示 10 户次（52.6%）。" in page
    assert "已完结案件自立案至完结的工作日数中位数为 14.5 天" in page


# The worked example on each database is one test; the two are kept apart in the file so that
# pytest-xdist, which hands out consecutive tests, runs them on different workers.


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_report_on_sqlite(example: Example) -> None:
    check_every_report(example)


def test_unknown_task_and_a_year_without_tasks(env: Env) -> None:
    """An unknown task is an error; a year without tasks is an empty report that says so."""
    refused = env.run("report", "coverage", "--task", "NOPE", expect=1)
    assert "Error: no task 'NOPE'" in refused.stderr and "Traceback" not in refused.stderr
    assert env.run("report", "nonsense", expect=2).exit_code == 2

    empty = env.json("report", "all", "--year", "2030", "--as-of", "2030-06-30")
    for kind in ("coverage", "joint", "timeliness", "closure", "fairness"):
        assert empty[kind]["message"] == "no tasks in 2030" and empty[kind]["tasks"] == []
    assert empty["credit"]["message"] == "no grading runs in 2030"
    assert [t["key"] for t in empty["coverage"]["by_tier"]] == ["A", "B", "C", "D"]
    assert empty["coverage"]["total"]["drawn"] == 0 and empty["closure"]["median_working_days_to_close"] is None
    assert "no tasks in 2030" in env.run("report", "joint", "--year", "2030").stdout

    out = env.tmp / "empty"
    env.run("report", "all", "--year", "2030", "--html", str(out))
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "2030年没有抽查任务。" in page and page.count('<img src="data:image/png;base64,') == len(CHARTS)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_report_on_postgresql(example: Example) -> None:
    check_every_report(example)
