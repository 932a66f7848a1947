"""`spotcheck credit`: grading, explanations, as-of dates, determinism, drift, lists, what-if,
credit repair and bad input, end to end through the CLI on SQLite and PostgreSQL.

One small hand-made data set (``load``) is graded as of AS_OF = 2026-06-30; every record is dated
in the past, so the expectations never depend on the day the tests run.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from credit.policy import default_policy_text
from tests.conftest import ENTERPRISE_HEADER, RECORD_HEADER, Env

AS_OF = "2026-06-30"
DAY_AFTER = "2026-07-01"

LIST_HEADER = ["统一社会信用代码", "企业名称", "行政区划代码", "行政区划", "监管所", "信用风险分类", "分值", "主要原因"]

# Serial numbers of the enterprises (make_uscc(serial)) and what each is built to show.
A_CLEAN = 1  # a clean spot check (result code 1): -5 → A
A_COMMENDED = 2  # a commendation: -10 → A
B_NONE = 3  # no records → B
C_ABNORMAL = 4  # on the abnormal-operations list: 20 points, but at least C
C_POINTS = 5  # one major penalty: 30 points → C, and only because of it
D_SERIOUS = 6  # on the serious-violation list → D
D_POINTS = 7  # severe penalty 60 + commitment breach 30 = 90 → D
CANCELLED = 8  # 注销, with a serious-list entry: not graded
EXPLAIN = 9  # every kind of not-counting record, and a complaint on its last day
LATER = 10  # a major penalty dated the day after AS_OF: B as of AS_OF, C the day after
REPAIR = 11  # a first general penalty (首违不罚) then a second one that counts: repair target
REPAIR_FOOD = 12  # a general penalty in the food sector: 12 months before repair

NAMES = {
    A_CLEAN: "重庆清朗商贸有限公司", A_COMMENDED: "重庆守信餐饮有限公司", B_NONE: "重庆无记录科技有限公司",
    C_ABNORMAL: "重庆异常名录贸易有限公司", C_POINTS: "重庆较重处罚建材有限公司", D_SERIOUS: "重庆严重失信物流有限公司",
    D_POINTS: "重庆高分值化工有限公司", CANCELLED: "重庆已注销百货有限公司", EXPLAIN: "重庆解释示例食品有限公司",
    LATER: "重庆后来处罚五金有限公司", REPAIR: "重庆信用修复服装有限公司", REPAIR_FOOD: "重庆食品修复饮品有限公司",
}
TIER_AS_OF = {A_CLEAN: "A", A_COMMENDED: "A", B_NONE: "B", C_ABNORMAL: "C", C_POINTS: "C", D_SERIOUS: "D", D_POINTS: "D",
              EXPLAIN: "B", LATER: "B", REPAIR: "B", REPAIR_FOOD: "B"}


def _enterprise(uscc: str, name: str, status: str = "存续") -> list[str]:
    return [uscc, name, "企业", "张三", "2015-03-01", status, "500106", "井口所", "F5211", "沙坪坝区井口镇1号", "", "否"]


def _enterprises(u: dict[int, str], changed: dict[int, str] | None = None) -> list[list[str]]:
    """The enterprise rows; ``changed`` maps a serial to another 登记状态."""
    status = {CANCELLED: "注销", **(changed or {})}
    return [_enterprise(u[s], NAMES[s], status.get(s, "存续")) for s in NAMES]


def _record(uscc: str, kind: str, occurred_on: str, document_no: str, **details: str) -> list[str]:
    row = {"uscc": uscc, "kind": kind, "occurred_on": occurred_on, "department": "沙坪坝区市场监督管理局", "document_no": document_no, **details}
    return [row.get(h, "") for h in RECORD_HEADER]


def load(env: Env, make_uscc: Callable[..., str]) -> dict[int, str]:
    """Departments, the twelve enterprises and their records; returns serial → USCC."""
    u = {serial: make_uscc(serial) for serial in NAMES}
    env.run("import", "departments", str(env.csv("departments.csv", ["code", "name"], [["SCJG", "市场监督管理局"]])))
    env.run("import", "enterprises", str(env.csv("enterprises.csv", ENTERPRISE_HEADER, _enterprises(u))))
    penalty = lambda severity, sector: {"severity": severity, "sector": sector}  # noqa: E731
    records = [
        _record(u[A_CLEAN], "抽查结果", "2026-03-01", "SC-1", result_codes="1"),
        _record(u[A_COMMENDED], "表彰", "2026-01-10", "BZ-2"),
        _record(u[C_ABNORMAL], "列入经营异常名录", "2025-10-01", "YC-4", ground="未按规定报送年度报告"),
        _record(u[C_POINTS], "行政处罚", "2025-09-01", "CF-5", **penalty("较重", "其他")),
        _record(u[D_SERIOUS], "列入严重违法失信名单", "2025-11-01", "YZ-6"),
        _record(u[D_POINTS], "行政处罚", "2025-08-01", "CF-7", **penalty("严重", "其他")),
        _record(u[D_POINTS], "违背信用承诺", "2025-12-01", "CN-7"),
        _record(u[CANCELLED], "列入严重违法失信名单", "2025-11-01", "YZ-8"),
        # EXPLAIN: a first food penalty (首违不罚, 0 points), a second food penalty within 24 months
        # (10 points), a first penalty of another sector (首违不罚 again: the sector counts), a late
        # annual report whose last day is the day before AS_OF, an abnormal-list entry removed, and
        # a substantiated complaint dated exactly 12 months before AS_OF.
        _record(u[EXPLAIN], "行政处罚", "2025-01-10", "CF-9-1", **penalty("一般", "食品")),
        _record(u[EXPLAIN], "行政处罚", "2025-06-15", "CF-9-2", **penalty("一般", "食品")),
        _record(u[EXPLAIN], "行政处罚", "2025-07-01", "CF-9-3", **penalty("一般", "其他")),
        _record(u[EXPLAIN], "未按时年报", "2025-06-29", "NB-9"),
        _record(u[EXPLAIN], "列入经营异常名录", "2025-03-01", "YC-9-IN", ground="未按规定报送年度报告"),
        _record(u[EXPLAIN], "移出经营异常名录", "2025-08-01", "YC-9-OUT"),
        _record(u[EXPLAIN], "投诉举报", "2025-06-30", "TS-9", substantiated="是"),
        _record(u[LATER], "行政处罚", DAY_AFTER, "CF-10", **penalty("较重", "其他")),
        _record(u[REPAIR], "行政处罚", "2025-11-15", "CF-11-1", **penalty("一般", "其他")),
        _record(u[REPAIR], "行政处罚", "2025-12-15", "CF-11-2", **penalty("一般", "其他")),
        _record(u[REPAIR_FOOD], "行政处罚", "2025-09-01", "CF-12", **penalty("一般", "食品")),
    ]
    counts = env.json("import", "records", str(env.csv("records.csv", RECORD_HEADER, records)))
    assert counts == {"inserted": len(records), "updated": 0, "unchanged": 0, "rejected": 0}
    return u


@pytest.fixture
def data(env: Env, make_uscc: Callable[..., str]) -> tuple[Env, dict[int, str]]:
    return env, load(env, make_uscc)


def record_id(env: Env, document_no: str) -> int:
    return int(env.scalar(f"SELECT id FROM credit_records WHERE document_no = '{document_no}'"))


def grade(env: Env, as_of: str, *extra: str) -> dict[str, Any]:
    return env.json("credit", "grade", "--as-of", as_of, *extra)


def by_doc(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["document_no"]: line for line in lines}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


# 1. Tiers -----------------------------------------------------------------------------------------


def test_grade_counts_each_tier_and_skips_deregistered(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    result = grade(env, AS_OF)
    assert result == {"run": 1, "tiers": {"A": 2, "B": 5, "C": 2, "D": 2}}
    assert len(env.grades(1)) == 11
    # Each enterprise lands where it was built to land; the deregistered one is not graded.
    for serial, tier in TIER_AS_OF.items():
        shown = env.json("credit", "show", u[serial], "--run", "1")
        assert shown["tier"] == tier, (serial, shown)
        assert shown["stored"] is None, (serial, shown)  # the recomputation matches the stored grade
    cancelled = env.json("credit", "show", u[CANCELLED], "--run", "1")
    assert cancelled["stored"]["graded"] is False
    assert "注销" in cancelled["stored"]["why"]


def test_scores_and_reasons_of_the_tier_cases(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    run = grade(env, AS_OF)["run"]
    show = lambda serial: env.json("credit", "show", u[serial], "--run", str(run))  # noqa: E731
    clean, commended, none = show(A_CLEAN), show(A_COMMENDED), show(B_NONE)
    assert (clean["score"], clean["counting"][0]["category"]) == (-5, "spot_check.clean")
    assert (commended["score"], commended["counting"][0]["category"]) == (-10, "commendation")
    assert (none["score"], none["reasons"], none["counting"], none["not_counting"]) == (0, "no_records", [], [])
    abnormal = show(C_ABNORMAL)
    assert (abnormal["score"], abnormal["reasons"]) == (20, "abnormal_list;abnormal_in:1:20")
    assert abnormal["counting"][0]["last_day"] is None  # until removed
    assert show(C_POINTS)["score"] == 30
    serious = show(D_SERIOUS)
    assert (serious["score"], serious["reasons"]) == (60, "serious_list;serious_in:1:60")
    points = show(D_POINTS)
    assert (points["score"], points["reasons"]) == (90, "penalty:1:60;commitment_breach:1:30")


def test_grade_text_output_and_runs(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    out = env.run("credit", "grade", "--as-of", AS_OF).stdout.splitlines()
    assert out[0].startswith(f"grading run 1 as of {AS_OF}, policy default-2026.1 (")
    # 17 records: the deregistered enterprise's and the one dated after AS_OF are not read.
    assert out[1].startswith("11 enterprises from 17 records: A 2  B 5  C 2  D 2")
    runs = env.run("credit", "runs").stdout.splitlines()
    assert runs == [f"1\t{AS_OF}\tdefault-2026.1\t11 enterprises\tA2 B5 C2 D2"]


SPOT_CHECKS = [  # result codes → category, points, tier
    ("A;3;E", "spot_check.problem", 15, "B"),  # the worst result wins
    ("8", "spot_check.obstructed", 40, "C"),
    ("E", "spot_check.corrected", 5, "B"),
    ("7", "spot_check.other", 0, "B"),  # counts, for no points
    ("F", "spot_check.clean", -5, "A"),
]


def test_spot_check_result_codes(data: tuple[Env, dict[int, str]], make_uscc: Callable[..., str]) -> None:
    env, _ = data
    usccs = [make_uscc(20 + i) for i in range(len(SPOT_CHECKS))]
    env.run("import", "enterprises", str(env.csv("more.csv", ENTERPRISE_HEADER, [_enterprise(u, f"重庆抽查示例{i}有限公司") for i, u in enumerate(usccs)])))
    rows = [_record(u, "抽查结果", "2026-05-01", f"SC-{i}", result_codes=codes) for i, (u, (codes, *_)) in enumerate(zip(usccs, SPOT_CHECKS, strict=True))]
    env.run("import", "records", str(env.csv("more-records.csv", RECORD_HEADER, rows)))
    result = grade(env, AS_OF)
    assert result["tiers"] == {"A": 3, "B": 8, "C": 3, "D": 2}
    for uscc, (codes, category, points, tier) in zip(usccs, SPOT_CHECKS, strict=True):
        shown = env.json("credit", "show", uscc, "--run", str(result["run"]))
        assert [(line["category"], line["points"]) for line in shown["counting"]] == [(category, points)], codes
        assert (shown["tier"], shown["score"], shown["stored"]) == (tier, points, None), codes


# 2. Explanations and impact periods ---------------------------------------------------------------


def test_show_counting_and_not_counting(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    run = grade(env, AS_OF)["run"]
    shown = env.json("credit", "show", u[EXPLAIN], "--run", str(run))
    assert (shown["uscc"], shown["name"], shown["as_of"], shown["run"]) == (u[EXPLAIN], NAMES[EXPLAIN], AS_OF, run)
    assert (shown["tier"], shown["score"]) == ("B", 15)
    counting = by_doc(shown["counting"])
    assert set(counting) == {"CF-9-2", "TS-9"}
    assert (counting["CF-9-2"]["points"], counting["CF-9-2"]["last_day"], counting["CF-9-2"]["status"]) == (10, "2028-06-15", "counts")
    # Civil-code reckoning: a complaint of 2025-06-30 counts through 2026-06-30, its last day.
    assert (counting["TS-9"]["points"], counting["TS-9"]["last_day"]) == (5, AS_OF)
    assert counting["TS-9"]["kind"] == "投诉举报"
    other = by_doc(shown["not_counting"])
    assert {d: (line["status"], line["points"]) for d, line in other.items()} == {
        "CF-9-1": ("first_offence", 0),  # 首违不罚: the first food penalty
        "CF-9-3": ("first_offence", 0),  # the first penalty of another sector
        "NB-9": ("expired", 0),  # as of the day after its last day
        "YC-9-IN": ("expired", 0),  # removed from the list
        "YC-9-OUT": ("not_scored", 0),
    }
    assert other["NB-9"]["last_day"] == "2026-06-29"
    assert other["YC-9-IN"]["last_day"] == "2025-07-31"  # the day before the removal
    assert shown["reasons"] == "penalty:1:10;complaint:1:5"


def test_show_text_output(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    run = grade(env, AS_OF)["run"]
    out = env.run("credit", "show", u[EXPLAIN], "--run", str(run)).stdout
    assert f"run {run} as of {AS_OF}" in out and "tier B, score 15" in out
    assert "+10 points, counts through 2028-06-15" in out
    assert "首违不罚" in out
    assert "expired after 2026-06-29" in out


def test_complaint_stops_counting_the_day_after_its_last_day(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    on_last_day = grade(env, AS_OF)["run"]
    day_after = grade(env, DAY_AFTER)["run"]
    before = env.json("credit", "show", u[EXPLAIN], "--run", str(on_last_day))
    after = env.json("credit", "show", u[EXPLAIN], "--run", str(day_after))
    assert "TS-9" in by_doc(before["counting"])
    assert "TS-9" not in by_doc(after["counting"])
    complaint = by_doc(after["not_counting"])["TS-9"]
    assert (complaint["status"], complaint["last_day"], complaint["points"]) == ("expired", AS_OF, 0)
    assert (before["score"], after["score"]) == (15, 10)
    # Stored grades agree with the explanation.
    eid = env.scalar(f"SELECT id FROM enterprises WHERE uscc = '{u[EXPLAIN]}'")
    assert env.score(on_last_day, eid) == 1500
    assert env.score(day_after, eid) == 1000


def test_only_record_on_its_last_day(data: tuple[Env, dict[int, str]], make_uscc: Callable[..., str]) -> None:
    """An enterprise whose only record is on its last day is graded by it; the day after it has none."""
    env, _ = data
    commended, listed = make_uscc(30), make_uscc(31)
    env.run("import", "enterprises", str(env.csv("more.csv", ENTERPRISE_HEADER, [_enterprise(commended, "重庆末日表彰有限公司"), _enterprise(listed, "重庆末日失信有限公司")])))
    rows = [
        _record(commended, "表彰", "2025-06-30", "BZ-30"),  # 12 months: last day AS_OF
        _record(listed, "列入严重违法失信名单", "2025-01-15", "YZ-31", effective_until=AS_OF),  # its own last day wins
    ]
    env.run("import", "records", str(env.csv("more-records.csv", RECORD_HEADER, rows)))
    on_last_day, day_after = grade(env, AS_OF)["run"], grade(env, DAY_AFTER)["run"]
    first = env.json("credit", "show", commended, "--run", str(on_last_day))
    assert (first["tier"], first["score"], first["reasons"]) == ("A", -10, "commendation:1:-10")
    assert first["counting"][0]["last_day"] == AS_OF
    second = env.json("credit", "show", listed, "--run", str(on_last_day))
    assert (second["tier"], second["reasons"], second["counting"][0]["last_day"]) == ("D", "serious_list;serious_in:1:60", AS_OF)
    for uscc in (commended, listed):
        later = env.json("credit", "show", uscc, "--run", str(day_after))
        assert (later["tier"], later["score"], later["reasons"], later["counting"]) == ("B", 0, "no_records", [])
        assert [line["status"] for line in later["not_counting"]] == ["expired"]


# 3. As-of grading ---------------------------------------------------------------------------------


def test_record_after_as_of_is_ignored(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    run = grade(env, AS_OF)["run"]
    shown = env.json("credit", "show", u[LATER], "--run", str(run))
    assert (shown["tier"], shown["score"], shown["reasons"]) == ("B", 0, "no_records")
    assert shown["counting"] == [] and shown["not_counting"] == []
    later = grade(env, DAY_AFTER)
    assert later["tiers"] == {"A": 2, "B": 4, "C": 3, "D": 2}
    shown = env.json("credit", "show", u[LATER], "--run", str(later["run"]))
    assert (shown["tier"], shown["score"]) == ("C", 30)
    assert [line["document_no"] for line in shown["counting"]] == ["CF-10"]


# 4. Determinism -----------------------------------------------------------------------------------


def test_same_inputs_same_result(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    first, second = grade(env, AS_OF), grade(env, AS_OF)
    other = grade(env, DAY_AFTER)
    assert (first["run"], second["run"], other["run"]) == (1, 2, 3)
    assert first["tiers"] == second["tiers"]
    runs = {r["run"]: r for r in env.json("credit", "runs")}
    assert set(runs) == {1, 2, 3}
    assert runs[1]["result_sha256"] == runs[2]["result_sha256"]
    assert len(runs[1]["result_sha256"]) == 64
    assert runs[3]["result_sha256"] != runs[1]["result_sha256"]  # the digest follows the result
    assert runs[1]["policy_sha256"] == runs[2]["policy_sha256"] == runs[3]["policy_sha256"]
    assert (runs[1]["as_of"], runs[1]["enterprises"], runs[1]["policy_version"]) == (AS_OF, 11, "default-2026.1")
    assert runs[1]["tiers"] == runs[2]["tiers"] == first["tiers"]
    # Grades stored the same, enterprise for enterprise.
    one, two = env.grades(1), env.grades(2)
    stored = lambda g: [(e, g.tier_of(i), s, g.reasons_of(i)) for i, (e, s) in enumerate(zip(g.enterprise.tolist(), g.score.tolist()))]  # noqa: E731
    assert stored(one) == stored(two) and len(stored(one)) == 11


def test_corrected_record_replaces_the_old_version(data: tuple[Env, dict[int, str]]) -> None:
    """A correction (same document number, new content) supersedes the record from the next run on."""
    env, u = data
    before = grade(env, AS_OF)["run"]
    old_id = record_id(env, "CF-5")
    fixed = [_record(u[C_POINTS], "行政处罚", "2025-09-01", "CF-5", severity="一般", sector="其他")]
    assert env.json("import", "records", str(env.csv("fix.csv", RECORD_HEADER, fixed))) == {"inserted": 0, "updated": 1, "unchanged": 0, "rejected": 0}
    after = grade(env, AS_OF)
    assert after["tiers"] == {"A": 2, "B": 6, "C": 1, "D": 2}
    shown = env.json("credit", "show", u[C_POINTS], "--run", str(after["run"]))
    assert (shown["tier"], shown["score"]) == ("B", 0)
    assert [(line["status"], line["id"] != old_id) for line in shown["not_counting"]] == [("first_offence", True)]
    # The earlier run is still explained from the records it saw.
    old = env.json("credit", "show", u[C_POINTS], "--run", str(before))
    assert (old["tier"], old["score"], old["stored"]) == ("C", 30, None)
    assert [line["id"] for line in old["counting"]] == [old_id]
    refused = env.run("credit", "repair", "request", str(old_id), "--reason", "x", "--on", "2026-06-01", expect=1)
    assert "corrected by a later record" in refused.stderr


# 5. Drift -----------------------------------------------------------------------------------------


def _psi(before: dict[str, int], after: dict[str, int]) -> float:
    nb, na = sum(before.values()), sum(after.values())
    total = 0.0
    for t in "ABCD":
        p, q = max(before[t] / nb, 0.0001), max(after[t] / na, 0.0001)
        total += (q - p) * math.log(q / p)
    return total


def _verdict(psi: float) -> str:
    return "stable" if psi < 0.10 else "watch" if psi < 0.25 else "shift"


def test_drift_one_enterprise_moves(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    a, b = grade(env, AS_OF), grade(env, DAY_AFTER)
    result = env.json("credit", "drift", str(a["run"]), str(b["run"]))
    assert (result["run_a"], result["run_b"]) == (a["run"], b["run"])
    assert result["matrix"] == {
        "A": {"A": 2, "B": 0, "C": 0, "D": 0},
        "B": {"A": 0, "B": 4, "C": 1, "D": 0},
        "C": {"A": 0, "B": 0, "C": 2, "D": 0},
        "D": {"A": 0, "B": 0, "C": 0, "D": 2},
    }
    assert (result["counts_a"], result["counts_b"]) == (a["tiers"], b["tiers"])
    assert (result["only_a"], result["only_b"]) == (0, 0)
    expected = _psi(a["tiers"], b["tiers"])
    assert result["psi"] == pytest.approx(expected, abs=1e-6)
    assert result["psi"] == pytest.approx(0.057146, abs=1e-5)
    assert result["verdict"] == _verdict(result["psi"]) == "stable"


def test_drift_under_a_stricter_policy_is_a_shift(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    strict = env.tmp / "strict.toml"
    strict.write_text(default_policy_text().replace("c = 30\nd = 80", "c = 5\nd = 10"), encoding="utf-8")
    a, b = grade(env, AS_OF), grade(env, AS_OF, "--policy", str(strict))
    assert b["tiers"] == {"A": 2, "B": 3, "C": 0, "D": 6}
    result = env.json("credit", "drift", str(a["run"]), str(b["run"]))
    assert result["matrix"]["B"] == {"A": 0, "B": 3, "C": 0, "D": 2}
    assert result["matrix"]["C"] == {"A": 0, "B": 0, "C": 0, "D": 2}
    assert result["psi"] == pytest.approx(_psi(a["tiers"], b["tiers"]), abs=1e-6)
    assert result["psi"] >= 0.25 and result["verdict"] == "shift"
    text = env.run("credit", "drift", str(a["run"]), str(b["run"])).stdout
    assert "shift" in text and f"PSI {result['psi']:.4f}" in text


def test_drift_enterprise_deregistered_between_runs(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    a = grade(env, AS_OF)
    rows = _enterprises(u, {D_SERIOUS: "注销"})
    assert env.json("import", "enterprises", str(env.csv("e2.csv", ENTERPRISE_HEADER, rows)))["updated"] == 1
    b = grade(env, AS_OF)
    assert b["tiers"] == {"A": 2, "B": 5, "C": 2, "D": 1}
    result = env.json("credit", "drift", str(a["run"]), str(b["run"]))
    assert (result["only_a"], result["only_b"]) == (1, 0)
    assert result["matrix"]["D"] == {"A": 0, "B": 0, "C": 0, "D": 1}
    assert sum(sum(row.values()) for row in result["matrix"].values()) == 10
    assert result["psi"] == pytest.approx(_psi(a["tiers"], b["tiers"]), abs=1e-6)
    assert result["verdict"] == _verdict(result["psi"])
    assert [r["uscc"] for r in env.json("credit", "list", "--tier", "D")["enterprises"]] == [u[D_POINTS]]


# 6. Lists -----------------------------------------------------------------------------------------


def test_list_tier_d_json(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    run = grade(env, AS_OF)["run"]
    listed = env.json("credit", "list", "--tier", "D")
    assert listed["run"] == run
    rows = listed["enterprises"]
    assert [r["uscc"] for r in rows] == [u[D_POINTS], u[D_SERIOUS]]  # worst score first; the cancelled one is absent
    assert rows[0] == {
        "uscc": u[D_POINTS], "name": NAMES[D_POINTS], "district_code": "500106", "district": rows[0]["district"],
        "station": "井口所", "tier": "D", "score": 90, "reasons": "penalty:1:60;commitment_breach:1:30",
    }
    assert rows[0]["district"]  # the district's name from the shipped table
    both = env.json("credit", "list", "--tier", "C", "--tier", "D")
    assert {r["uscc"] for r in both["enterprises"]} == {u[C_ABNORMAL], u[C_POINTS], u[D_POINTS], u[D_SERIOUS]}
    assert env.json("credit", "list", "--tier", "D", "--district", "500107")["enterprises"] == []


def test_list_to_csv_and_xlsx(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    run = grade(env, AS_OF)["run"]
    out_csv, out_xlsx = env.tmp / "d.csv", env.tmp / "d.xlsx"
    assert env.json("credit", "list", "--tier", "D", "--out", str(out_csv)) == {"run": run, "rows": 2}
    with out_csv.open(encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == LIST_HEADER
    assert [line[0] for line in lines[1:]] == [u[D_POINTS], u[D_SERIOUS]]
    assert lines[1][1] == NAMES[D_POINTS] and lines[1][5] == "D"
    assert float(lines[1][6]) == 90 and float(lines[2][6]) == 60
    env.run("credit", "list", "--tier", "D", "--out", str(out_xlsx))
    sheet = openpyxl.load_workbook(out_xlsx).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == LIST_HEADER
    assert [v[0] for v in values[1:]] == [u[D_POINTS], u[D_SERIOUS]]
    assert values[1][6] == 90 and values[2][7] == "serious_list;serious_in:1:60"


# 7. What-if ---------------------------------------------------------------------------------------


def test_what_if_one_record(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    result = env.json("credit", "what-if", u[C_POINTS], "--as-of", AS_OF)
    assert (result["uscc"], result["as_of"], result["tier"], result["score"]) == (u[C_POINTS], AS_OF, "C", 30)
    assert result["improving"] == [{
        "record": record_id(env, "CF-5"), "kind": "行政处罚", "occurred_on": "2025-09-01", "points": 30,
        "tier_without_it": "B", "repair_possible_from": "2026-03-02", "expires_after": "2028-09-01",
    }]
    assert (result["better_on"], result["better_tier"]) == ("2028-09-02", "B")  # the day after its last day


def test_what_if_list_entry_and_nothing_to_improve(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    abnormal = env.json("credit", "what-if", u[C_ABNORMAL], "--as-of", AS_OF)
    assert [(i["record"], i["tier_without_it"], i["expires_after"], i["repair_possible_from"]) for i in abnormal["improving"]] == [
        (record_id(env, "YC-4"), "B", None, "2025-10-01"),
    ]
    assert (abnormal["better_on"], abnormal["better_tier"]) == (None, None)  # counts until removed
    none = env.json("credit", "what-if", u[B_NONE], "--as-of", AS_OF)
    assert (none["tier"], none["improving"], none["better_on"]) == ("B", [], None)
    # B with records: neither record alone, nor their expiry, gives a better tier than B.
    explain = env.json("credit", "what-if", u[EXPLAIN], "--as-of", AS_OF)
    assert (explain["tier"], explain["score"], explain["improving"], explain["better_on"]) == ("B", 15, [], None)
    text = env.run("credit", "what-if", u[EXPLAIN], "--as-of", AS_OF).stdout
    assert "no single record's repair or expiry would improve the tier" in text


# 8. Credit repair ---------------------------------------------------------------------------------


def test_repair_general_penalty_refused_then_approved(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    rid = record_id(env, "CF-11-2")  # 2025-12-15, sector 其他: eligible after 6 months
    refused = env.run("credit", "repair", "request", str(rid), "--reason", "罚款已缴纳", "--on", "2026-06-15", expect=1)
    assert error_lines(refused.stderr) == [
        f"Error: record {rid} (行政处罚, 2025-12-15) is not eligible for repair before 2026-06-16"
    ]
    assert env.scalar("SELECT count(*) FROM credit_repairs") == 0
    accepted = env.json("credit", "repair", "request", str(rid), "--reason", "罚款已缴纳", "--on", "2026-06-16")
    assert accepted == {"request": accepted["request"], "record": rid, "eligible_from": "2026-06-16"}
    req = str(accepted["request"])
    assert env.scalar(f"SELECT status FROM credit_repairs WHERE id = {req}") == "requested"
    again = env.run("credit", "repair", "request", str(rid), "--reason", "again", "--on", "2026-06-17", expect=1)
    assert f"already has repair request {req}" in again.stderr
    early = env.run("credit", "repair", "approve", req, "--on", "2026-06-10", expect=1)
    assert "before the request date 2026-06-16" in early.stderr
    approved = env.run("credit", "repair", "approve", req, "--on", "2026-07-15")
    assert f"approved on 2026-07-15: record {rid} no longer counts" in approved.stdout
    assert env.scalar(f"SELECT status FROM credit_repairs WHERE id = {req}") == "approved"
    assert str(env.scalar(f"SELECT decided_on FROM credit_repairs WHERE id = {req}")) == "2026-07-15"
    twice = env.run("credit", "repair", "approve", req, "--on", "2026-07-16", expect=1)
    assert "already decided" in twice.stderr
    # Request and approval are in the audit trail, and the trail accounts for every row.
    assert [e["summary"] for e in env.json("audit", "log") if e["action"] == "credit.repair"] == [
        f"repair request {req} on record {rid}: 罚款已缴纳", f"repair request {req} approved on 2026-07-15"]
    assert env.json("audit", "verify")["intact"]


def test_repair_dates_in_the_future_refused(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    rid = str(record_id(env, "CF-11-2"))
    result = env.run("credit", "repair", "request", rid, "--reason", "罚款已缴纳", "--on", tomorrow, expect=1)
    assert f"the request date {tomorrow} is in the future" in result.stderr
    req = str(env.json("credit", "repair", "request", rid, "--reason", "罚款已缴纳", "--on", "2026-06-16")["request"])
    result = env.run("credit", "repair", "approve", req, "--on", tomorrow, expect=1)
    assert f"the approval date {tomorrow} is in the future" in result.stderr
    assert env.scalar(f"SELECT status FROM credit_repairs WHERE id = {req}") == "requested"


def _approve(env: Env, document_no: str, requested: str, approved: str) -> int:
    rid = record_id(env, document_no)
    req = env.json("credit", "repair", "request", str(rid), "--reason", "已履行", "--on", requested)["request"]
    env.run("credit", "repair", "approve", str(req), "--on", approved)
    return rid


def test_repaired_record_stops_counting_from_the_approval_date(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    _approve(env, "CF-11-2", "2026-06-16", "2026-07-15")
    after = grade(env, "2026-07-15")["run"]
    shown = env.json("credit", "show", u[REPAIR], "--run", str(after))
    assert shown["counting"] == []
    assert by_doc(shown["not_counting"])["CF-11-2"]["status"] == "repaired"
    assert (shown["score"], shown["tier"]) == (0, "B")
    assert "repaired (信用修复)" in env.run("credit", "show", u[REPAIR], "--run", str(after)).stdout

    before = grade(env, "2026-07-14")["run"]  # graded later, but as of the day before the approval
    shown = env.json("credit", "show", u[REPAIR], "--run", str(before))
    assert (by_doc(shown["counting"])["CF-11-2"]["points"], shown["score"]) == (10, 10)
    eid = env.scalar(f"SELECT id FROM enterprises WHERE uscc = '{u[REPAIR]}'")
    assert env.score(after, eid) == 0
    assert env.score(before, eid) == 1000


def test_run_before_the_approval_keeps_its_explanation(data: tuple[Env, dict[int, str]]) -> None:
    """A run stores the repairs it saw: approving later does not rewrite its explanation."""
    env, u = data
    run = grade(env, "2026-07-20")["run"]
    _approve(env, "CF-11-2", "2026-06-20", "2026-07-01")
    shown = env.json("credit", "show", u[REPAIR], "--run", str(run))
    assert (shown["score"], shown["stored"]) == (10, None)
    assert grade(env, "2026-07-20")["run"] == run + 1
    assert env.json("credit", "show", u[REPAIR])["score"] == 0  # the latest run


def test_repaired_abnormal_list_entry_lifts_the_floor(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    _approve(env, "YC-4", "2025-10-01", "2025-10-08")  # abnormal_months = 0: eligible at once
    result = grade(env, AS_OF)
    assert result["tiers"] == {"A": 2, "B": 6, "C": 1, "D": 2}
    shown = env.json("credit", "show", u[C_ABNORMAL], "--run", str(result["run"]))
    assert (shown["tier"], shown["score"], shown["counting"]) == ("B", 0, [])
    assert by_doc(shown["not_counting"])["YC-4"]["status"] == "repaired"


def test_repair_food_penalty_waits_twelve_months_and_reject(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    rid = record_id(env, "CF-12")  # 2025-09-01, sector 食品
    refused = env.run("credit", "repair", "request", str(rid), "--reason", "已整改", "--on", "2026-09-01", expect=1)
    assert "not eligible for repair before 2026-09-02" in refused.stderr
    req = env.json("credit", "repair", "request", str(rid), "--reason", "已整改", "--on", "2026-09-02")
    assert req["eligible_from"] == "2026-09-02"
    rejected = env.run("credit", "repair", "reject", str(req["request"]), "--reason", "材料不全", "--on", "2026-09-10")
    assert f"repair request {req['request']} rejected on 2026-09-10" in rejected.stdout
    assert env.scalar(f"SELECT status FROM credit_repairs WHERE id = {req['request']}") == "rejected"
    assert env.scalar(f"SELECT decision_reason FROM credit_repairs WHERE id = {req['request']}") == "材料不全"
    late = env.run("credit", "repair", "approve", str(req["request"]), "--on", "2026-09-11", expect=1)
    assert "already decided" in late.stderr
    # A rejected request leaves the record open to a new one.
    assert env.json("credit", "repair", "request", str(rid), "--reason", "补充材料", "--on", "2026-09-11")["request"] == req["request"] + 1


def test_rejected_repair_still_counts(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    rid = record_id(env, "CF-7")  # severe penalty of 2025-08-01, sector 其他: eligible from 2026-02-02
    req = env.json("credit", "repair", "request", str(rid), "--reason", "已整改", "--on", "2026-03-01")["request"]
    env.run("credit", "repair", "reject", str(req), "--reason", "罚款未缴纳", "--on", "2026-03-05")
    result = grade(env, AS_OF)
    assert result["tiers"] == {"A": 2, "B": 5, "C": 2, "D": 2}
    shown = env.json("credit", "show", u[D_POINTS], "--run", str(result["run"]))
    assert (shown["tier"], shown["score"], by_doc(shown["counting"])["CF-7"]["points"]) == ("D", 90, 60)


def test_reject_needs_a_reason(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    req = env.json("credit", "repair", "request", str(record_id(env, "CF-12")), "--reason", "已整改", "--on", "2026-09-02")["request"]
    missing = env.run("credit", "repair", "reject", str(req), "--on", "2026-09-10", expect=2)
    assert "--reason" in missing.stderr
    assert env.scalar(f"SELECT status FROM credit_repairs WHERE id = {req}") == "requested"


def test_complaint_is_not_repairable(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    result = env.run("credit", "repair", "request", str(record_id(env, "TS-9")), "--reason", "已处理", "--on", "2026-06-01", expect=1)
    assert "投诉举报" in result.stderr and "credit repair covers" in result.stderr
    assert env.scalar("SELECT count(*) FROM credit_repairs") == 0


# 9. Bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ('version = "default-2026.1"', 'version = "default-2026.1"\ncolour = "red"', "colour", "unknown key"),
        ("d = 80", "d = 80\ne = 99", "tiers.e", "unknown key"),
        ("c = 30", 'c = "thirty"', "tiers.c", "expected an integer or a number, got str 'thirty'"),
        ("enabled = true", "enabled = 1", "first_offence.enabled", "expected true or false"),
        ("c = 30\nd = 80", "c = 90\nd = 80", "tiers.b", "thresholds out of order"),
    ],
)
def test_bad_policy_refused_without_a_run(env: Env, old: str, new: str, key: str, reason: str) -> None:
    text = default_policy_text()
    assert old in text
    bad = env.tmp / "bad.toml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    for command in (("credit", "grade", "--as-of", AS_OF, "--policy", str(bad)), ("credit", "policy", "--policy", str(bad))):
        result = env.run(*command, expect=1)
        errors = error_lines(result.stderr)
        assert len(errors) == 1, result.stderr
        assert errors[0].startswith(f"Error: {bad}: {key}: ")
        assert reason in errors[0]
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert env.scalar("SELECT count(*) FROM grading_runs") == 0


def test_show_unknown_enterprise(data: tuple[Env, dict[int, str]], make_uscc: Callable[..., str]) -> None:
    env, _ = data
    result = env.run("credit", "show", make_uscc(999), expect=1)
    assert error_lines(result.stderr) == [f"Error: no enterprise {make_uscc(999)} in the directory"]
    assert "Traceback" not in result.stderr
    assert "no enterprise" in env.run("credit", "what-if", make_uscc(999), "--as-of", AS_OF, expect=1).stderr


def test_show_and_list_before_any_run(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    assert "no grading run yet" in env.run("credit", "show", u[B_NONE], expect=1).stderr
    assert "no grading run yet" in env.run("credit", "list", "--tier", "D", expect=1).stderr
    assert env.json("credit", "runs") == []


def test_show_unknown_run(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    grade(env, AS_OF)
    assert error_lines(env.run("credit", "show", u[B_NONE], "--run", "7", expect=1).stderr) == ["Error: no grading run 7"]


def test_grade_in_the_future_refused(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    result = env.run("credit", "grade", "--as-of", tomorrow, expect=1)
    assert f"--as-of {tomorrow} is in the future" in result.stderr
    assert "Traceback" not in result.stderr
    assert env.scalar("SELECT count(*) FROM grading_runs") == 0


def test_drift_unknown_run(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    grade(env, AS_OF)
    result = env.run("credit", "drift", "1", "99", expect=1)
    assert error_lines(result.stderr) == ["Error: no grading run 99"]


# 10. Policy command -------------------------------------------------------------------------------


def test_policy_print_and_validate(env: Env) -> None:
    printed = env.run("credit", "policy", "--print").stdout
    assert printed.rstrip("\n") == default_policy_text().rstrip("\n")
    default = env.run("credit", "policy").stdout.strip()
    assert default.startswith("policy default-2026.1 sha256 ") and default.endswith(": valid")
    # The printed text is a valid policy file; comments and layout do not change its SHA-256.
    copy = env.tmp / "copy.toml"
    copy.write_text("# our bureau's copy\n" + printed, encoding="utf-8")
    assert env.run("credit", "policy", "--policy", str(copy)).stdout.strip() == default
    changed = env.tmp / "changed.toml"
    changed.write_text(printed.replace("complaint = 5 ", "complaint = 6 "), encoding="utf-8")
    other = env.run("credit", "policy", "--policy", str(changed)).stdout.strip()
    assert other.endswith(": valid") and other != default
    missing = env.run("credit", "policy", "--policy", str(env.tmp / "nope.toml"), expect=1)
    assert "cannot read the policy file" in missing.stderr


def test_grade_stores_the_policy_it_used(data: tuple[Env, dict[int, str]]) -> None:
    env, u = data
    lenient = env.tmp / "lenient.toml"
    lenient.write_text(default_policy_text().replace('serious_list = "D"', 'serious_list = "C"'), encoding="utf-8")
    run = grade(env, AS_OF, "--policy", str(lenient))
    assert run["tiers"] == {"A": 2, "B": 5, "C": 3, "D": 1}
    assert env.json("credit", "show", u[D_SERIOUS], "--run", str(run["run"]))["tier"] == "C"
    stored = env.scalar(f"SELECT policy_text FROM grading_runs WHERE id = {run['run']}")
    assert 'serious_list = "C"' in stored


# The data set above, graded as of AS_OF with the shipped policy. Both databases must give this
# digest: a run's result does not depend on where the data lives. (A change to the default policy
# or to the data set changes it; then re-derive it from a SQLite run.)
GOLDEN_RESULT_SHA256 = "e06786472edbd448bfc630eeba3622cb4e257eff8fc195caf0207cb05668a703"


def test_same_digest_on_every_database(data: tuple[Env, dict[int, str]]) -> None:
    env, _ = data
    grade(env, AS_OF)
    (run,) = env.json("credit", "runs")
    assert run["result_sha256"] == GOLDEN_RESULT_SHA256


# 9. The bulk reader ---------------------------------------------------------------------------------


def _read(env: Env, as_of: dt.date, *, fork: bool) -> tuple[Any, list[tuple[int, ...]]]:
    """The population a grading run reads, its records as sorted (enterprise id, category, sector,
    occurred, until, repaired) tuples, as a run holding the write lock reads them."""
    from sqlalchemy.orm import Session

    from credit.db import make_engine
    from credit.grading import hold_write_lock, read_population, record_bounds

    engine = make_engine(env.url)
    try:
        with Session(engine) as session:
            hold_write_lock(session)
            population = read_population(session, as_of, *record_bounds(session), fork=fork)
            session.rollback()
    finally:
        engine.dispose()
    r = population.records
    rows = zip(population.ids[r.enterprise].tolist(), r.category.tolist(), r.sector.tolist(), r.occurred.tolist(), r.until.tolist(), r.repaired.tolist(), strict=True)
    return population, sorted(rows)


def _one_query(env: Env, as_of: dt.date, graded: set[int]) -> list[tuple[int, ...]]:
    """The same records through ``records_sql``, the one query a row at a time (PostgreSQL's path)."""
    import numpy as np
    from sqlalchemy.orm import Session

    from credit.db import make_engine
    from credit.grading import record_bounds, records_sql, stream_rows, unpack_records

    engine = make_engine(env.url)
    try:
        with Session(engine) as session:
            max_record, max_repair = record_bounds(session)
            params = {"as_of": as_of, "max_record": max_record, "max_repair": max_repair}
            with stream_rows(session, records_sql(engine.dialect.name, with_id=False, one_enterprise=False), params) as stream:
                packed = np.array([v for row in stream for v in row], np.int64)
    finally:
        engine.dispose()
    r = unpack_records(packed, packed[0::2] >> 9)  # "enterprise" holds the id itself here
    rows = zip(r.enterprise.tolist(), r.category.tolist(), r.sector.tolist(), r.occurred.tolist(), r.until.tolist(), r.repaired.tolist(), strict=True)
    return sorted(row for row in rows if row[0] in graded)


def _stored_columns(env: Env) -> list[tuple[int, int, int, bytes]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(env.url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT low_id, high_id, records, data FROM grading_columns ORDER BY low_id"))]
    finally:
        engine.dispose()


def test_stored_and_derived_columns_read_what_the_one_query_reader_reads(data: tuple[Env, dict[int, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The grader reads the records as the import stored them (credit.grading_columns); derived
    again by SQL, in ranges of a few ids and half of them by a forked process on SQLite, they are
    the same bytes, and the same records, repairs and corrections as the one query."""
    import credit.forked

    env, u = data
    _approve(env, "CF-11-2", "2026-06-16", "2026-07-15")
    fixed = [_record(u[C_POINTS], "行政处罚", "2025-09-01", "CF-5", severity="一般", sector="其他")]
    env.run("import", "records", str(env.csv("fix.csv", RECORD_HEADER, fixed)))
    as_of = dt.date(2026, 7, 15)
    stored = _stored_columns(env)
    assert [(low, high, n) for low, high, n, _ in stored] == [(0, 19, 19), (19, 20, 1)]  # one range per import
    forks: list[Any] = []
    real_start = credit.forked.start
    monkeypatch.setattr("credit.forked.start", lambda *args, **options: forks.append(args[0]) or real_start(*args, **options))

    population, whole = _read(env, as_of, fork=False)
    reference = _one_query(env, as_of, set(population.ids.tolist()))
    assert whole == reference and len(whole) == 18  # every record but the cancelled one's and the corrected version
    assert sum(row[5] for row in whole) == 1  # the repair
    assert population.usccs.tolist() == sorted(population.usccs.tolist()) and len(population.usccs) == 11
    assert forks == []

    monkeypatch.setattr("credit.grading_columns.CHUNK_IDS", 2)
    monkeypatch.setattr("credit.grading.PARALLEL_FROM", 0)
    _delete_columns(env)
    assert _read(env, as_of, fork=True)[1] == reference
    sqlite = env.url.startswith("sqlite")
    assert [f.__name__ for f in forks] == (["_derive_file", "_enterprises_from_file"] if sqlite else [])
    # _read rolls back: derived again, in ranges of two ids, and kept this time by a grading.
    grade(env, "2026-07-15")
    derived = _stored_columns(env)
    assert [(low, high) for low, high, _, _ in derived] == [(i, i + 2) for i in range(0, 20, 2)]
    assert b"".join(_decoded(d) for d in derived) == b"".join(_decoded(d) for d in stored)


def _delete_columns(env: Env) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(env.url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM grading_columns"))
    finally:
        engine.dispose()


def _decoded(row: tuple[int, int, int, bytes]) -> bytes:
    """A stored range's records, one per line, comparable across ranges of other bounds."""
    from credit.grading_columns import Columns

    low, _, count, data = row
    c = Columns.decode(bytes(data), low, count)
    return b"".join(f"{r}\n".encode() for r in zip(c.ids.tolist(), c.enterprise.tolist(), c.occurred.tolist(), c.until.tolist(), c.code.tolist()))


def test_forked_reader_gives_the_same_run(data: tuple[Env, dict[int, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    env, _ = data
    first = grade(env, AS_OF)
    _delete_columns(env)
    monkeypatch.setattr("credit.grading_columns.CHUNK_IDS", 3)
    monkeypatch.setattr("credit.grading.PARALLEL_FROM", 0)
    second = grade(env, AS_OF)
    runs = {r["run"]: r for r in env.json("credit", "runs")}
    assert runs[first["run"]]["result_sha256"] == runs[second["run"]]["result_sha256"] == GOLDEN_RESULT_SHA256


def test_unreadable_stored_date_is_refused_not_dropped(tmp_path: Path, make_uscc: Callable[..., str]) -> None:
    """A date SQLite cannot read (written around the application) would drop its record from the
    text the reader parses; the run is refused instead. (A PostgreSQL date column cannot hold one.)"""
    import sqlite3

    env = Env(f"sqlite:///{tmp_path / 'test.db'}", tmp_path)
    env.run("db", "upgrade")
    load(env, make_uscc)
    with sqlite3.connect(tmp_path / "test.db") as connection:
        connection.execute("UPDATE credit_records SET occurred_on = '2025-99-99' WHERE document_no = 'CF-5'")
        # The import stored the record's columns as they were; a grading derives them only
        # for the records no stored range covers.
        connection.execute("DELETE FROM grading_columns")
    result = env.run("credit", "grade", "--as-of", AS_OF, expect=1)
    assert "credit records" in result.stderr and "readable" in result.stderr and "Traceback" not in result.stderr
    assert env.json("credit", "runs") == []


def test_grading_run_holds_sqlite_write_lock_from_its_first_read(tmp_path: Path) -> None:
    """Its forked reader and its own reads see one state: no one else commits until the run does."""
    import sqlite3

    from sqlalchemy.orm import Session

    from credit.db import make_engine
    from credit.grading import hold_write_lock

    env = Env(f"sqlite:///{tmp_path / 'test.db'}", tmp_path)
    env.run("db", "upgrade")
    engine = make_engine(env.url)
    other = sqlite3.connect(tmp_path / "test.db", timeout=0, isolation_level=None)
    try:
        with Session(engine) as session:
            hold_write_lock(session)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            session.rollback()
        other.execute("BEGIN IMMEDIATE")  # free again once the run's transaction ends
        other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_stored_grades_survive_a_downgrade_and_an_upgrade(data: tuple[Env, dict[int, str]]) -> None:
    """The migration to grade parts converts stored runs both ways: grade rows again below it,
    the same parts, reasons and digest above it."""
    env, u = data
    run = grade(env, AS_OF)["run"]
    stored = lambda g: [(e, g.tier_of(i), s, g.reasons_of(i)) for i, (e, s) in enumerate(zip(g.enterprise.tolist(), g.score.tolist()))]  # noqa: E731
    before = stored(env.grades(run))
    env.run("db", "downgrade", "ae12f1ac9732")
    eid = env.scalar(f"SELECT id FROM enterprises WHERE uscc = '{u[EXPLAIN]}'")
    assert env.scalar(f"SELECT count(*) FROM grades WHERE run_id = {run}") == len(before) == 11
    row = next(r for r in before if r[0] == eid)
    assert env.scalar(f"SELECT tier || ' ' || score || ' ' || reasons FROM grades WHERE run_id = {run} AND enterprise_id = {eid}") == " ".join(map(str, row[1:]))
    env.run("db", "upgrade")
    assert stored(env.grades(run)) == before
    report = env.json("audit", "verify", expect=None)
    assert not [f for f in report["findings"] if f["check"] == "grades"]
