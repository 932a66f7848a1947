"""`spotcheck plan` and `spotcheck task` end to end through the CLI, on SQLite and PostgreSQL:
the shipped examples, the determinism of the draw (across databases, row orders and the forked
reader), the exclusions of the frame, one draw per task and replacements, `task verify` against
tampering, the announcement, bad input, and the listings.

Two data sets: the shipped examples (``load_examples``), and a small hand-made one (``load_small``)
whose tasks draw 100 % of every stratum of 重点 items, so which enterprise is drawn is certain and
only the exclusions decide it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import random
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine, text

import inspection.tables  # noqa: F401  (every audited table)
from credit import audit
from credit.audit_chain import unpack
from credit.audit_models import AuditPack
from credit.db import make_engine
from inspection.task_models import Visit, VisitItem
from credit.policy import default_policy_text
from tests.conftest import ENTERPRISE_HEADER, RECORD_HEADER, Env, postgres_schema, snapshot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORDER = ("departments", "items", "enterprises", "records", "inspectors")
EXAMPLE_PLAN = "2026-SPB-JLP"
EXAMPLE_TASK = "2026-SPB-JLP-2-1"
SEED = "5eed" * 16
OTHER_SEED = "0123456789abcdef" * 4
ENTROPY = "福彩3D 2026330期 开奖号码 3 7 2"
TIER_WORDS = ("A类", "B类", "C类", "D类")

USCC = Callable[..., str]


# Helpers ------------------------------------------------------------------------------------------


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def write(env: Env, name: str, content: str) -> Path:
    path = env.tmp / name
    path.write_text(content, encoding="utf-8")
    return path


def rows(env: Env, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(env.url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def execute(env: Env, sql: str) -> None:
    """A statement behind the application's back (tampering), committed."""
    engine = create_engine(env.url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def show(env: Env, code: str) -> dict[str, Any]:
    return env.json("task", "show", code)


def draw(env: Env, code: str, entropy: str = ENTROPY) -> dict[str, Any]:
    return env.json("task", "draw", code, "--entropy", entropy)


def expected_drawn(ratio: str, size: int) -> int:
    """round(ratio × size), halves up, at least 1 of a non-empty stratum: computed here, exactly."""
    assert ratio.endswith("%")
    exact = Fraction(Decimal(ratio[:-1])) / 100 * size
    if size == 0:
        return 0
    return min(size, max(1, int((2 * exact + 1) // 2)))


def visit_items(env: Env, code: str) -> set[tuple[str, str]]:
    """(USCC, item code) of every visit of task ``code``."""
    return set(rows(env, (
        "SELECT e.uscc, ci.code FROM visits v JOIN tasks t ON t.id = v.task_id"
        " JOIN enterprises e ON e.id = v.enterprise_id JOIN visit_items vi ON vi.visit_id = v.id"
        " JOIN task_items ti ON ti.id = vi.task_item_id JOIN check_items ci ON ci.id = ti.item_id"
        f" WHERE t.code = '{code}'"
    )))


def attempts(env: Env, code: str, outcome: str) -> int:
    return int(env.scalar(
        f"SELECT count(*) FROM draw_attempts a JOIN tasks t ON t.id = a.task_id WHERE t.code = '{code}' AND a.outcome = '{outcome}'"
    ))


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def load_examples(env: Env, enterprises: Path | None = None) -> None:
    """The examples in the README's order, graded as of 2026-11-01, and the example plan."""
    for kind in ORDER:
        path = enterprises if kind == "enterprises" and enterprises else EXAMPLES / f"{kind}.csv"
        counts = env.json("import", kind, str(path))
        assert counts["rejected"] == 0, (kind, counts)
    env.run("credit", "grade", "--as-of", "2026-11-01")
    env.run("plan", "create", str(EXAMPLES / "plan.toml"))


def example_task(env: Env, seed: str = SEED) -> None:
    env.run("task", "create", str(EXAMPLES / "task.toml"), "--seed", seed)


def shuffled_enterprises(env: Env) -> Path:
    """The example enterprises with their rows in another order, content unchanged."""
    with (EXAMPLES / "enterprises.csv").open(encoding="utf-8", newline="") as fh:
        header, *body = list(csv.reader(fh))
    random.Random(20261101).shuffle(body)
    assert body != read_csv(EXAMPLES / "enterprises.csv")[1:]
    return env.csv("enterprises-shuffled.csv", header, body)


def sqlite_env(tmp_path: Path, name: str) -> Env:
    folder = tmp_path / name
    folder.mkdir()
    e = Env(f"sqlite:///{folder / 'test.db'}", folder)
    e.run("db", "upgrade")
    return e


@pytest.fixture
def sqlite_and_postgres(tmp_path: Path) -> Iterator[tuple[Env, Env]]:
    """One migrated SQLite database and one migrated PostgreSQL schema, side by side."""
    with postgres_schema() as url:
        folder = tmp_path / "pg"
        folder.mkdir()
        pg = Env(url, folder)
        pg.run("db", "upgrade")
        yield sqlite_env(tmp_path, "sqlite"), pg


# The small hand-made data set -----------------------------------------------------------------------

STATION_A = "沙坪坝区市场监管局甲所"
STATION_B = "沙坪坝区市场监管局乙所"
A_SERIALS = tuple(range(1, 13))  # 12 enterprises of station A, in business
B_SERIALS = tuple(range(13, 25))  # 12 enterprises of station B, in business
CAP_VISIT = 1  # three spot checks in 2026: one visit more reaches the yearly cap of 4
CAP4 = 13  # four spot checks in 2026: at the yearly cap
CAP_OLD = 14  # four spot checks in 2025: not at the cap of 2026
OPERATING = (15, 16)  # 在业: in business too
GONE = {25: "注销", 26: "注销", 27: "吊销", 28: "迁出", 29: "停业"}
GONE_COUNTS = {"cancelled": 2, "revoked": 1, "moved_out": 1, "suspended": 1}
INDIVIDUAL = 30  # 个体工商户 of station B: K-01 applies, K-02 (企业 only) does not
LATE = (31, 32)  # imported after the grading run: drawn in the policy's default tier
IN_BUSINESS = (*A_SERIALS, *B_SERIALS, INDIVIDUAL, *LATE)
ALL_RATIOS = '{ A = "100%", B = "100%", C = "100%", D = "100%" }'

ITEM_HEADER = ["code", "name", "category", "department", "legal_basis", "kind", "entity_types", "industries", "method", "version"]
ITEMS = [
    ["K-01", "登记事项的检查", "登记事项监管", "SCJG", "《市场主体登记管理条例》第三十八条", "重点", "", "", "现场", "2026"],
    ["K-02", "企业公示信息的检查", "企业信息公示", "SCJG", "《企业信息公示暂行条例》第十四条", "重点", "企业", "", "书面", "2026"],
    ["G-01", "工贸企业安全生产的检查", "安全生产", "YJJ", "《安全生产法》第六十五条", "一般", "", "", "现场", "2026"],
]
PLANS = '''\
code = "P-2026"
name = "2026年度抽查工作计划"
year = 2026
departments = ["SCJG", "YJJ"]

[[batch]]
number = 1
starts_on = 2026-01-01
ends_on = 2026-06-30
quantity = 100

[[batch]]
number = 2
starts_on = 2026-07-01
ends_on = 2026-12-31
quantity = 100
'''
PLAN_2027 = '''\
code = "P-2027"
name = "2027年度抽查工作计划"
year = 2027
departments = ["SCJG", "YJJ"]

[[batch]]
number = 1
starts_on = 2027-01-01
ends_on = 2027-12-31
quantity = 100
'''


def enterprise_row(uscc: str, serial: int, status: str | None = None) -> list[str]:
    station = STATION_A if serial in A_SERIALS else STATION_B
    entity = "个体工商户" if serial == INDIVIDUAL else "企业"
    status = status or GONE.get(serial) or ("在业" if serial in OPERATING else "存续")
    return [uscc, f"重庆测试{serial:02d}有限公司", entity, "张三", "2015-03-01", status, "500106", station, "F5211", f"沙坪坝区测试路{serial}号", "", "否"]


def spot_check(uscc: str, day: str, n: str) -> list[str]:
    row = {"uscc": uscc, "kind": "抽查结果", "result_codes": "1", "occurred_on": day, "department": "沙坪坝区市场监督管理局", "document_no": f"SC-{n}"}
    return [row.get(h, "") for h in RECORD_HEADER]


def small_enterprises(env: Env, u: dict[int, str], changed: dict[int, str] | None = None, serials: Sequence[int] = tuple(range(1, 31)), name: str = "enterprises.csv") -> Path:
    return env.csv(name, ENTERPRISE_HEADER, [enterprise_row(u[s], s, (changed or {}).get(s)) for s in serials])


def load_small(env: Env, make_uscc: USCC) -> dict[int, str]:
    """Departments, three items, 30 enterprises (5 not in business), spot-check records, a
    grading run as of 2026-02-01, two more enterprises after it, and plans P-2026 and P-2027.
    Returns serial → USCC."""
    return snapshot(env, "small", lambda: _load_small(env, make_uscc))


def _load_small(env: Env, make_uscc: USCC) -> dict[int, str]:
    u = {s: make_uscc(s) for s in range(1, 33)}
    env.run("import", "departments", str(env.csv("departments.csv", ["code", "name"], [["SCJG", "市场监督管理局"], ["YJJ", "应急管理局"]])))
    env.run("import", "items", str(env.csv("items.csv", ITEM_HEADER, ITEMS)))
    env.run("import", "enterprises", str(small_enterprises(env, u)))
    records = [spot_check(u[CAP4], f"2026-01-{d:02d}", f"CAP4-{d}") for d in (5, 12, 19, 26)]
    records += [spot_check(u[CAP_OLD], f"2025-0{m}-10", f"OLD-{m}") for m in (3, 5, 7, 9)]
    records += [spot_check(u[CAP_VISIT], f"2026-01-{d:02d}", f"VISIT-{d}") for d in (6, 13, 20)]
    counts = env.json("import", "records", str(env.csv("records.csv", RECORD_HEADER, records)))
    assert counts["inserted"] == len(records) and counts["rejected"] == 0, counts
    env.run("credit", "grade", "--as-of", "2026-02-01")
    env.run("import", "enterprises", str(small_enterprises(env, u, serials=LATE, name="late.csv")))
    env.run("plan", "create", str(write(env, "plans.toml", PLANS)))
    env.run("plan", "create", str(write(env, "plan-2027.toml", PLAN_2027)))
    return u


def task_toml(code: str, *, kind: str = "routine", starts: str = "2026-03-01", ends: str | None = None,
              items: Sequence[str] = ("K-01",), stations: Sequence[str] = (), ratios: str = ALL_RATIOS,
              plan: str | None = None, batch: int | None = None, extra: str = "") -> str:
    """A task of the small data set; the plan and batch follow from the window's start."""
    year, month = int(starts[:4]), int(starts[5:7])
    plan = plan or f"P-{year}"
    batch = batch or (1 if year == 2027 or month <= 6 else 2)
    ends = ends or f"{starts[:7]}-28"
    by_department: dict[str, list[str]] = {}
    for item in items:
        by_department.setdefault("YJJ" if item.startswith("G-") else "SCJG", []).append(item)
    scope = "scope = { stations = [" + ", ".join(f'"{s}"' for s in stations) + "] }\n" if stations else ""
    head = (
        f'code = "{code}"\nname = "测试任务 {code}"\nplan = "{plan}"\nbatch = {batch}\nkind = "{kind}"\n'
        f'lead = "{next(iter(by_department))}"\nitem_version = "2026"\nstarts_on = {starts}\nends_on = {ends}\n'
        f"{scope}ratios = {ratios}\n{extra}"
    )
    departments = "".join(f'\n[[department]]\ncode = "{d}"\nitems = {json.dumps(its)}\n' for d, its in by_department.items())
    return head + departments


def create(env: Env, code: str, **kwargs: Any) -> Path:
    path = write(env, f"{code}.toml", task_toml(code, **kwargs))
    env.run("task", "create", str(path), "--seed", SEED)
    return path


@pytest.fixture
def small(env: Env, make_uscc: USCC) -> tuple[Env, dict[int, str]]:
    return env, load_small(env, make_uscc)


# 1. The shipped examples ----------------------------------------------------------------------------


class TestShippedExamples:
    """The README's walk-through works as shipped: load, grade, plan, task, announce, draw, verify."""

    def test_walkthrough_announce_draw_show_verify(self, env: Env) -> None:
        load_examples(env)
        env.run("task", "create", str(EXAMPLES / "task.toml"), "--seed", SEED)
        before = env.tmp / "before"
        out = env.run("task", "announce", EXAMPLE_TASK, "--out", str(before)).stdout.splitlines()
        assert out == [str(before / n) for n in ("announcement.html", "announcement.csv", "items.csv")]
        assert not (before / "targets.csv").exists()
        commitment = hashlib.sha256(bytes.fromhex(SEED)).hexdigest()
        html = (before / "announcement.html").read_text(encoding="utf-8")
        assert commitment in html
        assert SEED not in html  # the seed stays secret until the draw
        summary = dict(read_csv(before / "announcement.csv")[1:])
        assert summary["随机种子承诺（SHA-256）"] == commitment
        assert "随机种子（已公开）" not in summary and SEED not in (before / "announcement.csv").read_text(encoding="utf-8-sig")
        assert [r[1] for r in read_csv(before / "items.csv")[1:]] == ["SCJG-01", "SCJG-02", "SCJG-03", "SCJG-05", "WJW-01", "YJJ-01", "YJJ-02"]
        shown = show(env, EXAMPLE_TASK)
        assert (shown["status"], shown["seed_commitment"], shown["draw"]) == ("created", commitment, None)
        assert SEED not in env.run("task", "show", EXAMPLE_TASK).stdout

        drawn = draw(env, EXAMPLE_TASK)
        shown = show(env, EXAMPLE_TASK)
        assert shown["status"] == "drawn"
        d = shown["draw"]
        assert _comparable(d) == _comparable(drawn)  # drawn_at: see test_draw_time_is_reported_alike
        assert (d["seed"], d["entropy"], d["algorithm"]) == (SEED, ENTROPY, "spotcheck-draw/1")
        key = hashlib.sha256(b"spotcheck-draw/1\n" + bytes.fromhex(SEED) + ENTROPY.encode()).hexdigest()
        assert d["key"] == key
        # The ratios applied: the task-wide A 2 %, B 5 %, the policy's C 10 %, D 30 %, and YJJ-02's own.
        ratios = {i["code"]: i["ratios"] for i in shown["items"]}
        assert ratios["SCJG-01"] == {"A": "2%", "B": "5%", "C": "10%", "D": "30%"}
        assert ratios["YJJ-02"] == {"A": "2%", "B": "5%", "C": "50%", "D": "100%"}
        assert len(d["strata"]) == 4 * len(ratios)
        per_item: dict[str, int] = {}
        for s in d["strata"]:
            assert s["ratio"] == ratios[s["item"]][s["tier"]], s
            assert s["drawn"] == expected_drawn(s["ratio"], s["size"]), s
            per_item[s["item"]] = per_item.get(s["item"], 0) + s["drawn"]
        # The minimum of 1 is exercised: a stratum whose ratio × size rounds to 0 still gives 1.
        assert any(s["drawn"] == 1 and 0 < Fraction(Decimal(s["ratio"][:-1])) / 100 * s["size"] < Fraction(1, 2) for s in d["strata"])
        assert d["drawn_per_item"] == per_item
        assert d["matters"] == sum(per_item.values())
        assert 0 < d["visits"] <= d["matters"]
        assert d["separate_visits"] >= d["visits"]
        assert sum(int(k) * v for k, v in d["matters_per_visit"].items()) == d["matters"]
        assert sum(d["matters_per_visit"].values()) == d["visits"]
        # Exclusions of the examples: the not-in-business ones are counted by status.
        statuses = [r[5] for r in read_csv(EXAMPLES / "enterprises.csv")[1:]]
        gone = {"注销": "cancelled", "吊销": "revoked", "迁出": "moved_out", "停业": "suspended"}
        assert d["in_scope"] == len(statuses) == 300
        assert d["not_in_business"] == {gone[s]: statuses.count(s) for s in sorted(set(statuses) & set(gone), key=gone.get)}
        assert d["recently_checked"] == {}
        assert d["population"] == d["eligible"] == 300 - sum(d["not_in_business"].values()) - d["no_item_applies"] - d["at_yearly_cap"]
        # The visits stored agree with the report.
        assert env.scalar(f"SELECT count(*) FROM visits v JOIN tasks t ON t.id = v.task_id WHERE t.code = '{EXAMPLE_TASK}'") == d["visits"]
        assert len(visit_items(env, EXAMPLE_TASK)) == d["matters"]

        verified = env.run("task", "verify", EXAMPLE_TASK)
        assert "identical" in verified.stdout and "NOT" not in verified.stdout
        assert env.json("task", "verify", EXAMPLE_TASK) == {"task": EXAMPLE_TASK, "identical": True, "assigned": False, "findings": []}

    def test_announcement_after_the_draw_lists_targets_without_tiers(self, env: Env) -> None:
        load_examples(env)
        example_task(env)
        d = draw(env, EXAMPLE_TASK)
        out = env.tmp / "after"
        files = env.run("task", "announce", EXAMPLE_TASK, "--out", str(out)).stdout.splitlines()
        assert files[-1] == str(out / "targets.csv")
        raw = (out / "targets.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
        header, *body = read_csv(out / "targets.csv")
        assert header == ["序号", "企业名称", "统一社会信用代码", "检查事项", "检查实施部门", "随机数"]
        assert len(body) == d["visits"]
        # Rank order: 1, 2, 3… by ascending random number, as the visits table has them.
        assert [int(r[0]) for r in body] == list(range(1, len(body) + 1))
        numbers = [int(r[5], 16) for r in body]
        assert numbers == sorted(numbers)
        stored = rows(env, (
            "SELECT v.rank, e.uscc, v.number, v.tier FROM visits v JOIN enterprises e ON e.id = v.enterprise_id"
            f" JOIN tasks t ON t.id = v.task_id WHERE t.code = '{EXAMPLE_TASK}' ORDER BY v.rank"
        ))
        assert [(int(r[0]), r[2], r[5]) for r in body] == [(rank, uscc, number) for rank, uscc, number, _ in stored]
        names = dict(rows(env, "SELECT uscc, name FROM enterprises"))
        assert all(r[1] == names[r[2]] for r in body)
        # Each row's items are the visit's items, by name.
        item_names = dict(rows(env, "SELECT code, name FROM check_items"))
        expected = {}
        for uscc, item in visit_items(env, EXAMPLE_TASK):
            expected.setdefault(uscc, set()).add(item_names[item])
        assert {r[2]: set(r[3].split("；")) for r in body} == expected
        # No credit tier: no column, no cell, nothing in the HTML's list of targets.
        assert not any(cell in ("A", "B", "C", "D") or any(w in cell for w in TIER_WORDS) or "信用" in cell for r in body for cell in r)
        html = (out / "announcement.html").read_text(encoding="utf-8")
        targets_html = html[html.index("四、抽查对象名单"):]
        assert not any(w in targets_html for w in TIER_WORDS)
        assert "信用风险" not in targets_html
        for _, uscc, _, tier in stored:
            assert f"{uscc}</td>" in targets_html
            assert f"<td>{tier}</td>" not in targets_html and f"<td>{tier}类</td>" not in targets_html
        assert "A类 2%" in html  # the ratios are policy, and public
        # The revealed seed, the entropy and the hashes.
        for value in (SEED, ENTROPY, d["key"], d["population_sha256"], d["result_sha256"]):
            assert value in html
        summary = dict(read_csv(out / "announcement.csv")[1:])
        assert (summary["随机种子（已公开）"], summary["公开随机数"], summary["抽取结果哈希（SHA-256）"]) == (SEED, ENTROPY, d["result_sha256"])
        assert summary["随机种子承诺（SHA-256）"] == hashlib.sha256(bytes.fromhex(SEED)).hexdigest()
        assert not any(any(w in cell for w in TIER_WORDS) for row in read_csv(out / "announcement.csv") for cell in row[:1])
        drawn_column = {r[1]: r[7] for r in read_csv(out / "items.csv")[1:]}
        assert drawn_column == {k: str(v) for k, v in d["drawn_per_item"].items()}


# 2. Determinism -------------------------------------------------------------------------------------


def _comparable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("drawn_at", "operator")}


class TestDeterminism:
    """The same seed and entropy give the same draw whatever the database or the row order; another
    entropy gives another draw."""

    def test_same_draw_on_sqlite_and_postgresql(self, sqlite_and_postgres: tuple[Env, Env]) -> None:
        lite, pg = sqlite_and_postgres
        for e in (lite, pg):
            load_examples(e)
            example_task(e)
        a, b = draw(lite, EXAMPLE_TASK), draw(pg, EXAMPLE_TASK)
        assert (a["result_sha256"], a["population_sha256"]) == (b["result_sha256"], b["population_sha256"])
        assert _comparable(a) == _comparable(b)
        assert sorted(visit_items(lite, EXAMPLE_TASK)) == sorted(visit_items(pg, EXAMPLE_TASK))

        # Replacements with the same seed: the replaced task's visits are no earlier check, so the
        # population is the same; another entropy gives another result, the same entropy the same.
        replacement = (EXAMPLES / "task.toml").read_text(encoding="utf-8").replace(
            f'code = "{EXAMPLE_TASK}"', f'code = "{EXAMPLE_TASK}-R"\nreplaces = "{EXAMPLE_TASK}"\nreplace_reason = "复核"')
        for e, entropy in ((lite, "福彩3D 2026331期 开奖号码 9 0 4"), (pg, ENTROPY)):
            e.run("task", "create", str(write(e, "replacement.toml", replacement)), "--seed", SEED)
            again = draw(e, f"{EXAMPLE_TASK}-R", entropy)
            assert again["population_sha256"] == a["population_sha256"]
            if entropy == ENTROPY:
                assert again["result_sha256"] == a["result_sha256"]
            else:
                assert again["result_sha256"] != a["result_sha256"]
                assert again["key"] != a["key"]

    def test_row_order_of_the_directory_does_not_matter(self, env: Env, tmp_path: Path) -> None:
        load_examples(env, enterprises=shuffled_enterprises(env))
        example_task(env)
        reference = sqlite_env(tmp_path, "reference")
        load_examples(reference)
        example_task(reference)
        # The shuffled import gives the enterprises other ids.
        first = read_csv(EXAMPLES / "enterprises.csv")[1][0]
        assert env.scalar(f"SELECT id FROM enterprises WHERE uscc = '{first}'") != 1
        a, b = draw(env, EXAMPLE_TASK), draw(reference, EXAMPLE_TASK)
        assert (a["result_sha256"], a["population_sha256"]) == (b["result_sha256"], b["population_sha256"])
        assert _comparable(a) == _comparable(b)


# 3. The forked reader -------------------------------------------------------------------------------


def _example_twice(tmp_path: Path) -> tuple[Env, Env]:
    """The shipped examples with the example task, on SQLite, and a copy of that database."""
    first = sqlite_env(tmp_path, "first")
    load_examples(first)
    example_task(first)
    second = Env(f"sqlite:///{tmp_path / 'second.db'}", tmp_path)
    with sqlite3.connect(tmp_path / "first" / "test.db") as source, sqlite3.connect(tmp_path / "second.db") as target:
        source.backup(target)
    return first, second


def _counting_forks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions started in forked processes from now on."""
    import credit.forked

    forks: list[str] = []
    real_start = credit.forked.start

    def counting_start(func: Any, *args: Any, **options: Any) -> Any:
        forks.append(func.__name__)
        return real_start(func, *args, **options)

    monkeypatch.setattr("credit.forked.start", counting_start)
    return forks


class TestPopulationRead:
    def test_each_id_comes_with_its_own_uscc(self, env: Env) -> None:
        """A group's ids and USCCs are two unordered aggregates of one query: they must pair up
        whatever order the rows are stored in (updated rows move to the end of PostgreSQL's heap)."""
        from inspection.population import part_sql, read_part

        load_examples(env)
        execute(env, "UPDATE enterprises SET name = name || '' WHERE id % 3 = 0")
        stored = dict(rows(env, "SELECT id, uscc FROM enterprises"))
        engine = make_engine(env.url)
        try:
            with engine.connect() as conn:
                parts = [read_part(lambda sql, p: conn.execute(text(sql), p).all(), conn.dialect.name, f"1 = 1 AND {part_sql(n)}", {}, lambda g: True)
                         for n in (0, 1)]
        finally:
            engine.dispose()
        read = [(i, u.decode()) for part in parts for i, u in zip(part.ids.tolist(), part.usccs.tolist(), strict=True)]
        assert len(read) > 250 and all(stored[i] == u for i, u in read)
        assert all(p.usccs.tolist() == sorted(p.usccs.tolist()) for p in parts)


class TestParallelReader:
    """A big population is read and hashed in two processes; it draws what the sequential path draws."""

    def test_forked_reader_gives_the_sequential_draw(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        sequential, parallel = _example_twice(tmp_path)
        forks = _counting_forks(monkeypatch)
        a = draw(sequential, EXAMPLE_TASK)
        assert forks == []  # 300 enterprises: below PARALLEL_FROM, read in the draw's transaction
        monkeypatch.setattr("inspection.frame.PARALLEL_FROM", 0)
        b = draw(parallel, EXAMPLE_TASK)
        assert forks == ["read_hashed_part_from_file"]  # a SQLite file: a reader of its own takes part of the ids
        assert (a["result_sha256"], a["population_sha256"]) == (b["result_sha256"], b["population_sha256"])
        assert _comparable(a) == _comparable(b)
        assert env_verified(parallel)
        # verify hashes nothing and reads in its own transaction: a second reader could see a
        # later commit (the draw holds the write lock; a verification does not).
        assert forks == ["read_hashed_part_from_file"]

    def test_one_reader_gives_the_forked_readers_draw(self, env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """On PostgreSQL (and SQLite in memory) a big draw reads both parts in its own process,
        forking no reader: the same draw as two processes give on a SQLite file."""
        reference = sqlite_env(tmp_path, "reference")
        for e in (env, reference):
            load_examples(e)
            example_task(e)
        monkeypatch.setattr("inspection.frame.PARALLEL_FROM", 0)
        forks = _counting_forks(monkeypatch)
        a = draw(reference, EXAMPLE_TASK)
        assert forks == ["read_hashed_part_from_file"]
        if env.url.startswith("sqlite"):
            monkeypatch.setattr("inspection.frame.read_hashed_part_from_file", None)  # must not be reached
            monkeypatch.setattr("inspection.frame._reader_file", lambda *args: None)
        b = draw(env, EXAMPLE_TASK)
        assert forks == ["read_hashed_part_from_file"]  # none more
        assert (a["result_sha256"], a["population_sha256"]) == (b["result_sha256"], b["population_sha256"])
        assert _comparable(a) == _comparable(b)
        assert env_verified(env)

    def test_the_forked_digests_are_the_threads(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A big draw's digests (the population snapshot; the result hash and the audit packs of
        its visits) are made in forked processes: the same as threads make for a small one."""
        import inspection.drawing

        threaded, forking = _example_twice(tmp_path)
        a = draw(threaded, EXAMPLE_TASK)
        made: list[str] = []
        monkeypatch.setattr("inspection.drawing.FORK_FROM", 0)
        for name in ("_snapshot", "_packs_and_result_hash"):
            real = getattr(inspection.drawing, name)
            monkeypatch.setattr(f"inspection.drawing.{name}", lambda *args, name=name, real=real: made.append(name) or real(*args))
        b = draw(forking, EXAMPLE_TASK)
        assert made == []  # made in forked processes: the parent's list never saw them
        monkeypatch.setattr("inspection.drawing.FORK_FROM", 10**9)
        (tmp_path / "again").mkdir()
        draw(_example_twice(tmp_path / "again")[0], EXAMPLE_TASK)
        assert sorted(made) == ["_packs_and_result_hash", "_snapshot"]  # a small draw makes them in threads
        assert (a["result_sha256"], a["population_sha256"]) == (b["result_sha256"], b["population_sha256"])
        blobs = [rows(e, "SELECT population FROM draws")[0][0] for e in (threaded, forking)]
        assert blobs[0] == blobs[1] and len(blobs[0]) > 0
        packs = "SELECT tbl, seq, lo, hi, rows, keys, hashes FROM audit_packs WHERE tbl IN ('visits', 'visit_items') ORDER BY tbl, seq"
        assert rows(threaded, packs) == rows(forking, packs) and len(rows(forking, packs)) == 2
        assert env_verified(forking)
        assert forking.run("audit", "verify").exit_code == 0

    def test_a_draw_without_the_compiled_hashing_is_the_same(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Where credit._sha256many was not built, Python computes the numbers and the audit
        hashes: the same draw, visits and trail, which the compiled build verifies."""
        import credit.sha256many

        compiled, python = _example_twice(tmp_path)
        a = draw(compiled, EXAMPLE_TASK)
        monkeypatch.setattr(credit.sha256many, "_compiled", None)
        hashed: list[bytes] = []
        real = credit.sha256many.SHA256
        monkeypatch.setattr(credit.sha256many, "SHA256", lambda message: hashed.append(message) or real(message))
        b = draw(python, EXAMPLE_TASK)
        assert len(hashed) > 300  # the numbers and the row hashes went through Python
        assert _comparable(a) == _comparable(b)
        trail = "SELECT tbl, seq, lo, hi, rows, keys, hashes FROM audit_packs WHERE tbl IN ('visits', 'visit_items') ORDER BY tbl, seq"
        assert rows(compiled, trail) == rows(python, trail) and len(rows(python, trail)) == 2
        monkeypatch.undo()
        assert env_verified(python) and python.run("audit", "verify").exit_code == 0

    def test_visits_staged_as_item_bits_or_as_pairs_are_the_same(self, env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Up to MASK_ITEMS items a visit's items are staged as the bits of one integer and the
        database writes the visit_items rows; beyond, a row per pair is bound. Both store the same
        visits, items and audit trail."""
        reference = sqlite_env(tmp_path, "reference")
        for e in (env, reference):
            load_examples(e)
            example_task(e)
        a = draw(reference, EXAMPLE_TASK)
        monkeypatch.setattr("inspection.drawing.MASK_ITEMS", 1)  # the example task has more items
        b = draw(env, EXAMPLE_TASK)
        assert _comparable(a) == _comparable(b)
        stored = "SELECT v.rank, v.number, v.tier, e.uscc FROM visits v JOIN enterprises e ON e.id = v.enterprise_id ORDER BY v.rank"
        assert rows(reference, stored) == rows(env, stored) and len(rows(env, stored)) == a["visits"]
        assert visit_items(reference, EXAMPLE_TASK) == visit_items(env, EXAMPLE_TASK)
        assert len(visit_items(env, EXAMPLE_TASK)) == a["matters"]
        for e in (env, reference):
            assert e.run("audit", "verify").exit_code == 0
            assert env_verified(e)

    def test_a_uscc_of_another_length_is_refused_not_misread(self, tmp_path: Path, make_uscc: USCC) -> None:
        """SQLite hands the draw a group's USCCs as one text, 18 characters each: a USCC of
        another length (written around the application) stops the draw, with nothing written."""
        env = sqlite_env(tmp_path, "db")
        load_small(env, make_uscc)
        create(env, "T1", stations=[STATION_A])
        with sqlite3.connect(tmp_path / "db" / "test.db") as connection:
            connection.execute("UPDATE enterprises SET uscc = uscc || 'X' WHERE id = (SELECT min(id) FROM enterprises WHERE station = ?)", (STATION_A,))
        refused = env.run("task", "draw", "T1", "--entropy", ENTROPY, expect=1)
        assert "USCCs of 18 characters expected" in refused.stderr and "Traceback" not in refused.stderr
        assert env.scalar("SELECT count(*) FROM visits") == 0
        assert env.scalar("SELECT count(*) FROM draws") == 0


def env_verified(e: Env) -> bool:
    return bool(e.json("task", "verify", EXAMPLE_TASK)["identical"])


# 4. Exclusions --------------------------------------------------------------------------------------


class TestExclusions:
    """Not in business, checked on the item within 12 months, at the yearly cap: never drawn, each
    counted in the draw report; re-checks and complaint checks are exempt from the frequency rules."""

    def test_routine_tasks_exclude_and_count(self, small: tuple[Env, dict[int, str]]) -> None:
        env, u = small
        create(env, "T1", stations=[STATION_A])
        first = draw(env, "T1")
        assert first["in_scope"] == 12
        assert (first["not_in_business"], first["recently_checked"], first["at_yearly_cap"]) == ({}, {}, 0)
        assert first["drawn_per_item"] == {"K-01": 12} and first["visits"] == 12
        assert visit_items(env, "T1") == {(u[s], "K-01") for s in A_SERIALS}

        # Six months later, everyone: station A was checked on K-01 (not on K-02); CAP_VISIT now has
        # three spot checks and a visit this year, CAP4 four spot checks; CAP_OLD's are of 2025.
        create(env, "T2", starts="2026-09-01", items=("K-01", "K-02"))
        d = draw(env, "T2")
        assert d["in_scope"] == 32
        assert d["not_in_business"] == GONE_COUNTS
        assert d["recently_checked"] == {"K-01": 12}
        assert d["at_yearly_cap"] == 2
        assert d["no_item_applies"] == 0
        assert d["ungraded_default_tier"] == 2
        expected = {(u[s], "K-02") for s in A_SERIALS if s != CAP_VISIT}
        expected |= {(u[s], i) for s in (*B_SERIALS, *LATE) if s != CAP4 for i in ("K-01", "K-02")}
        expected |= {(u[INDIVIDUAL], "K-01")}
        assert visit_items(env, "T2") == expected
        assert d["drawn_per_item"] == {"K-01": 14, "K-02": 24}
        assert (d["visits"], d["matters"], d["population"]) == (25, 38, 25)
        drawn = {uscc for uscc, _ in expected}
        assert not drawn & {u[s] for s in (*GONE, CAP4, CAP_VISIT)}
        assert u[CAP_OLD] in drawn
        # The enterprises registered after the grading run are drawn in the default tier, B.
        late_tiers = rows(env, (
            "SELECT v.tier FROM visits v JOIN enterprises e ON e.id = v.enterprise_id JOIN tasks t ON t.id = v.task_id"
            f" WHERE t.code = 'T2' AND e.uscc IN ('{u[LATE[0]]}', '{u[LATE[1]]}')"
        ))
        assert sorted(late_tiers) == [("B",), ("B",)]
        assert env.run("task", "verify", "T2").exit_code == 0

        # A re-check and a complaint check ignore both rules: every enterprise in business is drawn.
        everyone = {(u[s], i) for s in IN_BUSINESS for i in ("K-01", "K-02") if not (s == INDIVIDUAL and i == "K-02")}
        for code, kind in (("T3", "recheck"), ("T4", "complaint")):
            create(env, code, kind=kind, starts="2026-10-01", items=("K-01", "K-02"))
            d = draw(env, code)
            assert (d["recently_checked"], d["at_yearly_cap"]) == ({}, 0), code
            assert d["not_in_business"] == GONE_COUNTS
            assert visit_items(env, code) == everyone, code
            assert d["drawn_per_item"] == {"K-01": 27, "K-02": 26}
            assert show(env, code)["kind"] == kind

    def test_only_drawn_routine_tasks_count_as_earlier_checks(self, small: tuple[Env, dict[int, str]]) -> None:
        env, u = small
        create(env, "U1", items=("K-01", "K-02"))  # created, never drawn
        for code, kind in (("R1", "recheck"), ("C1", "complaint")):
            create(env, code, kind=kind, starts="2026-03-10", items=("K-01", "K-02"))
            draw(env, code)
        create(env, "T1", starts="2026-09-01", items=("K-01", "K-02"))
        d = draw(env, "T1")
        assert d["recently_checked"] == {}
        assert d["at_yearly_cap"] == 1  # CAP4; CAP_VISIT's re-check and complaint visits do not count
        assert {uscc for uscc, _ in visit_items(env, "T1")} == {u[s] for s in IN_BUSINESS if s != CAP4}

    def test_twelve_months_from_the_window_start(self, small: tuple[Env, dict[int, str]]) -> None:
        env, u = small
        create(env, "T1", stations=[STATION_A])
        draw(env, "T1")
        # 2027-02-28: T1 (2026-03-01) is within 12 months: K-01 excluded, K-02 drawn.
        create(env, "C", starts="2027-02-28", ends="2027-03-31", stations=[STATION_A], items=("K-01", "K-02"))
        c = draw(env, "C")
        assert c["recently_checked"] == {"K-01": 12}
        assert c["drawn_per_item"] == {"K-01": 0, "K-02": 12}
        # 2027-03-01: exactly 12 months after T1, which no longer counts; C checked K-02 only.
        create(env, "B", starts="2027-03-01", ends="2027-03-31", stations=[STATION_A])
        b = draw(env, "B")
        assert b["recently_checked"] == {}
        assert visit_items(env, "B") == {(u[s], "K-01") for s in A_SERIALS}
        # 2027-02-27: T1, C and B are all within 12 months; station A is excluded from both items.
        create(env, "D", starts="2027-02-27", ends="2027-03-31", items=("K-01", "K-02"))
        d = draw(env, "D")
        assert set(d["recently_checked"]) == {"K-01", "K-02"}
        outside_a = {u[s] for s in IN_BUSINESS if s not in A_SERIALS}
        assert {uscc for uscc, item in visit_items(env, "D") if item == "K-01"} == outside_a
        assert {uscc for uscc, item in visit_items(env, "D") if item == "K-02"} == outside_a - {u[INDIVIDUAL]}
        assert d["at_yearly_cap"] == 0  # two visits in 2027 (C and B); the 2026 records are of another year

    def test_an_enterprise_checked_twice_is_counted_once(self, small: tuple[Env, dict[int, str]]) -> None:
        """recently_checked counts the enterprises excluded, not the earlier visits."""
        env, u = small
        create(env, "T1", stations=[STATION_A])
        draw(env, "T1")
        create(env, "B", starts="2027-03-01", ends="2027-03-31", stations=[STATION_A])
        draw(env, "B")  # T1 is exactly 12 months earlier: station A is drawn on K-01 again
        # From 2027-02-27 both T1 and B are within 12 months: station A is excluded from K-01 once.
        create(env, "D", starts="2027-02-27", ends="2027-03-31", items=("K-01", "K-02"))
        d = draw(env, "D")
        assert {uscc for uscc, item in visit_items(env, "D") if item == "K-01"} == {u[s] for s in IN_BUSINESS if s not in A_SERIALS}
        assert d["recently_checked"] == {"K-01": 12}  # is {"K-01": 24}: T1's visits and B's


# 5. One draw per task, and replacements -------------------------------------------------------------


class TestOneDraw:
    """A task is drawn once; every attempt is recorded; a drawn task may be replaced once by a new task."""

    def test_second_draw_is_refused_and_recorded(self, small: tuple[Env, dict[int, str]]) -> None:
        env, _ = small
        create(env, "T1", stations=[STATION_A])
        first = draw(env, "T1")
        again = env.run("task", "draw", "T1", "--entropy", "another", expect=1)
        assert "already drawn" in again.stderr
        assert len(error_lines(again.stderr)) == 1 and "Traceback" not in again.stderr
        assert (attempts(env, "T1", "drawn"), attempts(env, "T1", "refused")) == (1, 1)
        assert env.scalar("SELECT entropy FROM draw_attempts WHERE outcome = 'refused'") == "another"
        assert env.scalar("SELECT count(*) FROM draws") == 1
        assert show(env, "T1")["draw"]["result_sha256"] == first["result_sha256"]
        assert env.json("task", "verify", "T1")["identical"] is True

    def test_the_trail_packs_each_visit_as_it_reads_back(self, small: tuple[Env, dict[int, str]]) -> None:
        """The draw spells its rows' hashes itself: they must be what `audit verify` reads back."""
        env, _ = small
        create(env, "T1", stations=[STATION_A])
        drawn = draw(env, "T1")
        engine = make_engine(env.url)
        try:
            with engine.connect() as connection:
                packed = {}
                for table, keys, hashes in connection.execute(sa.select(AuditPack.tbl, AuditPack.keys, AuditPack.hashes)
                                                              .where(AuditPack.tbl.in_(["visits", "visit_items"]))):
                    packed.update({(table, k): h for k, h in unpack(keys, hashes)})
                read = {(t.name, k): h for t in (Visit.__table__, VisitItem.__table__) for k, h in audit.row_hashes(connection, t, sa.true())}
        finally:
            engine.dispose()
        assert packed == read and len([k for k in read if k[0] == "visits"]) == drawn["visits"] > 0

    def test_draw_time_is_reported_alike(self, small: tuple[Env, dict[int, str]]) -> None:
        """`task draw --json` and `task show --json` report the same drawn_at, in UTC with its offset."""
        env, _ = small
        create(env, "T1", stations=[STATION_A])
        drawn = draw(env, "T1")
        assert dt.datetime.fromisoformat(drawn["drawn_at"]).utcoffset() == dt.timedelta(0)
        assert show(env, "T1")["draw"]["drawn_at"] == drawn["drawn_at"]

    def test_empty_entropy_is_refused_and_recorded(self, small: tuple[Env, dict[int, str]]) -> None:
        env, _ = small
        create(env, "T1", stations=[STATION_A])
        for entropy in ("", "   "):
            refused = env.run("task", "draw", "T1", "--entropy", entropy, expect=1)
            assert "--entropy must not be empty" in refused.stderr
        assert (attempts(env, "T1", "drawn"), attempts(env, "T1", "refused")) == (0, 2)
        assert show(env, "T1")["status"] == "created"
        assert env.scalar("SELECT count(*) FROM visits") == 0
        draw(env, "T1")  # still drawable with real entropy
        assert attempts(env, "T1", "drawn") == 1

    def test_replacement(self, small: tuple[Env, dict[int, str]]) -> None:
        env, u = small
        create(env, "T1", stations=[STATION_A])
        old = draw(env, "T1")
        replace = 'replaces = "T1"\nreplace_reason = "抽取时名录未更新"\n'
        create(env, "R1", stations=[STATION_A], starts="2026-04-01", extra=replace)
        # Named as replaced by R1 before R1 is drawn: no second replacement.
        second = env.run("task", "create", str(write(env, "R2.toml", task_toml("R2", stations=[STATION_A], extra=replace))), "--seed", SEED, expect=1)
        assert "already named as replaced by task R1" in second.stderr
        assert show(env, "T1")["status"] == "drawn"
        new = draw(env, "R1")
        # T1's visits are no earlier check for its replacement: the same enterprises are drawn.
        assert new["recently_checked"] == {}
        assert visit_items(env, "R1") == {(u[s], "K-01") for s in A_SERIALS}
        assert new["population_sha256"] == old["population_sha256"]
        t1, r1 = show(env, "T1"), show(env, "R1")
        assert (t1["status"], t1["replaced_by"]) == ("replaced", "R1")
        assert (r1["status"], r1["replaces"], r1["replace_reason"]) == ("drawn", "T1", "抽取时名录未更新")
        assert "replaced by task R1" in env.run("task", "show", "T1").stdout
        refused = env.run("task", "draw", "T1", "--entropy", "again", expect=1)
        assert "replaced by task R1" in refused.stderr
        assert attempts(env, "T1", "refused") == 1
        # Once replaced, never again.
        third = env.run("task", "create", str(write(env, "R3.toml", task_toml("R3", stations=[STATION_A], extra=replace))), "--seed", SEED, expect=1)
        assert "T1 was already replaced" in third.stderr
        assert {c for (c,) in rows(env, "SELECT code FROM tasks")} == {"T1", "R1"}

    def test_an_undrawn_task_cannot_be_replaced(self, small: tuple[Env, dict[int, str]]) -> None:
        env, _ = small
        create(env, "T1", stations=[STATION_A])
        path = write(env, "R1.toml", task_toml("R1", stations=[STATION_A], extra='replaces = "T1"\nreplace_reason = "重新抽取"\n'))
        refused = env.run("task", "create", str(path), "--seed", SEED, expect=1)
        assert "T1 has not been drawn" in refused.stderr
        missing = write(env, "R2.toml", task_toml("R2", extra='replaces = "NOPE"\nreplace_reason = "重新抽取"\n'))
        assert "no task 'NOPE' to replace" in env.run("task", "create", str(missing), "--seed", SEED, expect=1).stderr
        assert env.scalar("SELECT count(*) FROM tasks") == 1


class TestAnnouncementWarnings:
    """The announcement is written without deprecated library calls (the suite turns warnings into errors)."""

    def test_announce_under_warnings_as_errors(self, small: tuple[Env, dict[int, str]]) -> None:
        env, _ = small
        create(env, "T1", stations=[STATION_A])
        out = env.run("task", "announce", "T1", "--out", str(env.tmp / "announcement")).stdout.splitlines()
        assert len(out) == 3


# 6. Verify ------------------------------------------------------------------------------------------


def _findings(env: Env, code: str) -> list[dict[str, str]]:
    result = env.json("task", "verify", code, expect=1)
    assert result["identical"] is False
    return result["findings"]


class TestVerify:
    """`task verify` recomputes the draw and exits 1 naming what was tampered with."""

    @pytest.fixture
    def drawn(self, small: tuple[Env, dict[int, str]]) -> tuple[Env, dict[int, str]]:
        env, u = small
        create(env, "T1", stations=[STATION_A], ratios='{ A = "50%", B = "50%", C = "50%", D = "50%" }')
        d = draw(env, "T1")
        assert d["drawn_per_item"] == {"K-01": 6 + 1}  # B: 6 of 11, A: 1 of 1 (CAP_VISIT)
        assert env.json("task", "verify", "T1")["identical"] is True
        return env, u

    def test_changed_enterprise(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, u = drawn
        uscc = min(uscc for uscc, _ in visit_items(env, "T1"))
        serial = next(s for s, code in u.items() if code == uscc)
        env.run("import", "enterprises", str(small_enterprises(env, u, changed={serial: "注销"}, name="changed.csv")))
        findings = _findings(env, "T1")
        assert [f["check"] for f in findings] == ["population"], findings
        assert uscc in findings[0]["message"] and "not now" in findings[0]["message"]
        out = env.run("task", "verify", "T1", expect=1).stdout
        assert "NOT identical" in out and uscc in out

    def test_wrong_seed(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, _ = drawn
        execute(env, f"UPDATE draws SET seed_hex = '{OTHER_SEED}'")
        findings = _findings(env, "T1")
        assert "seed" in {f["check"] for f in findings}, findings
        assert "commitment" in next(f["message"] for f in findings if f["check"] == "seed")

    def test_visit_lost_its_items(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, _ = drawn
        uscc = env.scalar("SELECT e.uscc FROM visits v JOIN enterprises e ON e.id = v.enterprise_id WHERE v.id = (SELECT min(id) FROM visits)")
        execute(env, "DELETE FROM visit_items WHERE visit_id = (SELECT min(id) FROM visits)")
        findings = _findings(env, "T1")
        assert [f["check"] for f in findings] == ["visits"], findings
        assert uscc in findings[0]["message"]

    def test_visit_moved_to_another_enterprise(self, drawn: tuple[Env, dict[int, str]]) -> None:
        env, u = drawn
        original = env.scalar("SELECT e.uscc FROM visits v JOIN enterprises e ON e.id = v.enterprise_id WHERE v.id = (SELECT min(id) FROM visits)")
        drawn_usccs = {uscc for uscc, _ in visit_items(env, "T1")}
        other = next(u[s] for s in A_SERIALS if u[s] not in drawn_usccs)
        other_id = env.scalar(f"SELECT id FROM enterprises WHERE uscc = '{other}'")
        execute(env, f"UPDATE visits SET enterprise_id = {other_id} WHERE id = (SELECT min(id) FROM visits)")
        findings = _findings(env, "T1")
        assert [f["check"] for f in findings] == ["visits"], findings
        assert original in findings[0]["message"] or other in findings[0]["message"]


# 7. Bad input ---------------------------------------------------------------------------------------


class TestBadInput:
    """Refusals exit 1 (2 for usage) with one error line naming the file, line and reason, and
    leave nothing behind."""

    def _refused(self, env: Env, name: str, content: str, *extra: str) -> tuple[Path, str]:
        path = write(env, name, content)
        result = env.run("task", "create", str(path), *extra, expect=1)
        errors = error_lines(result.stderr)
        assert len(errors) == 1 and "Traceback" not in result.stderr and result.stdout == "", result.stderr
        return path, errors[0]

    def test_task_definition_refusals(self, small: tuple[Env, dict[int, str]]) -> None:
        env, _ = small
        # An unknown item, in the second department's multi-line list: the error names its line
        # (not the list's first line, nor the comment quoting it earlier).
        content = (
            'code = "X1"\nname = "坏任务"\nplan = "P-2026"\nbatch = 1\nlead = "SCJG"\nitem_version = "2026"\n'
            "starts_on = 2026-03-01\nends_on = 2026-03-31\n\n"
            '[[department]]\ncode = "SCJG"\n# not here: "NOPE-9" is listed under YJJ\nitems = ["K-01"]\n\n'
            '[[department]]\ncode = "YJJ"\nitems = [\n  "G-01",\n  "NOPE-9",\n]\n'
        )
        line = content.splitlines().index('  "NOPE-9",') + 1
        assert line == 19
        path, error = self._refused(env, "task.toml", content)
        assert f"{path}:{line}:" in error and "NOPE-9" in error and "not in version 2026" in error

        def refused(code: str, message: str, **kwargs: Any) -> str:
            _, error = self._refused(env, f"{code}.toml", task_toml(code, **kwargs))
            assert message in error, error
            return error

        refused("X2", "no plan 'P-NOPE'", plan="P-NOPE")
        refused("X3", "has no batch 7", batch=7)
        error = refused("X4", "must lie within batch 1", starts="2026-06-15", ends="2026-07-15", batch=1)
        assert f"X4.toml:{task_toml('X4', starts='2026-06-15', ends='2026-07-15', batch=1).splitlines().index('ends_on = 2026-07-15') + 1}:" in error
        refused("X5", "一般检查事项", items=("G-01",), ratios='{ A = "50%", B = "50%", C = "60%", D = "60%" }')
        assert env.scalar("SELECT count(*) FROM tasks") == 0
        assert env.scalar("SELECT count(*) FROM task_items") == 0

    def test_general_item_up_to_the_policy_ceiling(self, small: tuple[Env, dict[int, str]]) -> None:
        env, _ = small
        create(env, "G50", items=("G-01",), ratios='{ A = "50%", B = "50%", C = "50%", D = "50%" }')
        policy = write(env, "policy.toml", default_policy_text().replace('general_max_ratio = "50%"', 'general_max_ratio = "60%"'))
        path = write(env, "G60.toml", task_toml("G60", items=("G-01",), ratios='{ A = "60%", B = "60%", C = "60%", D = "60%" }'))
        assert "一般检查事项" in env.run("task", "create", str(path), "--seed", SEED, expect=1).stderr
        env.run("task", "create", str(path), "--seed", SEED, "--policy", str(policy))
        assert show(env, "G60")["items"][0]["ratios"] == {"A": "60%", "B": "60%", "C": "60%", "D": "60%"}

    def test_malformed_and_bad_options(self, small: tuple[Env, dict[int, str]]) -> None:
        env, _ = small
        _, error = self._refused(env, "broken.toml", 'code = "X1"\nname = \n')
        assert "not valid TOML" in error
        good = write(env, "T1.toml", task_toml("T1"))
        for seed in ("abc", "zz" * 32, "ab" * 31):
            result = env.run("task", "create", str(good), "--seed", seed, expect=1)
            assert "64 hexadecimal digits" in result.stderr, seed
        assert env.scalar("SELECT count(*) FROM tasks") == 0
        assert "no task 'NOPE'" in env.run("task", "show", "NOPE", expect=1).stderr
        assert "no task 'NOPE'" in env.run("task", "draw", "NOPE", "--entropy", "x", expect=1).stderr
        assert env.scalar("SELECT count(*) FROM draw_attempts") == 0
        env.run("task", "create", str(good), "--seed", SEED)
        missing = env.run("task", "draw", "T1", expect=2)
        assert "--entropy" in missing.stderr
        assert "not been drawn" in env.run("task", "verify", "T1", expect=1).stderr
        assert "no plan 'NOPE'" in env.run("plan", "show", "NOPE", expect=1).stderr
        assert env.scalar("SELECT count(*) FROM draw_attempts") == 0
        assert show(env, "T1")["status"] == "created"
        duplicate = env.run("task", "create", str(good), "--seed", SEED, expect=1)
        assert "task T1 already exists" in duplicate.stderr
        assert env.scalar("SELECT count(*) FROM tasks") == 1

    def test_duplicate_plan_changes_nothing(self, env: Env) -> None:
        load_examples(env)
        before = env.run("plan", "list").stdout
        result = env.run("plan", "create", str(EXAMPLES / "plan.toml"), expect=1)
        assert f"plan {EXAMPLE_PLAN} already exists" in result.stderr
        code_line = (EXAMPLES / "plan.toml").read_text(encoding="utf-8").splitlines().index(f'code = "{EXAMPLE_PLAN}"') + 1
        assert f"plan.toml:{code_line}:" in result.stderr
        assert env.run("plan", "list").stdout == before
        assert len(env.json("plan", "list")) == 1
        assert env.scalar("SELECT count(*) FROM plan_batches") == 2


# 8. Listings ----------------------------------------------------------------------------------------


class TestListings:
    """`plan list`, `plan show` and `task list` show what was created."""

    def test_plans_and_tasks(self, env: Env) -> None:
        load_examples(env)
        plan = env.json("plan", "show", EXAMPLE_PLAN)
        assert (plan["code"], plan["year"], plan["departments"]) == (EXAMPLE_PLAN, 2026, ["SCJG", "WJW", "YJJ"])
        assert plan["name"].startswith("沙坪坝区、九龙坡区2026年度")
        assert [(b["number"], b["name"], b["starts_on"], b["ends_on"], b["quantity"]) for b in plan["batches"]] == [
            (1, "第一批次", "2026-03-01", "2026-06-30", 40), (2, "第二批次（部门联合）", "2026-09-01", "2026-12-31", 60)]
        assert all(b["scope"]["districts"] == ["500106", "500107"] for b in plan["batches"])
        assert plan["definition_sha256"] == hashlib.sha256((EXAMPLES / "plan.toml").read_text(encoding="utf-8").encode()).hexdigest()
        text_out = env.run("plan", "show", EXAMPLE_PLAN).stdout
        assert "batch 2 第二批次（部门联合）: 2026-09-01 – 2026-12-31, 60 targets planned" in text_out
        assert env.run("plan", "list").stdout == f"{EXAMPLE_PLAN}\t2026\t{plan['name']}\n"
        assert env.json("plan", "list") == [{"code": EXAMPLE_PLAN, "name": plan["name"], "year": 2026}]

        assert env.run("task", "list").stdout == ""
        example_task(env)
        listed = env.json("task", "list")
        assert [(t["code"], t["status"], t["plan"], t["kind"], t["starts_on"], t["ends_on"]) for t in listed] == [
            (EXAMPLE_TASK, "created", EXAMPLE_PLAN, "routine", "2026-12-01", "2026-12-31")]
        draw(env, EXAMPLE_TASK)
        line = env.run("task", "list").stdout.splitlines()
        assert line == [f"{EXAMPLE_TASK}\tdrawn\t{EXAMPLE_PLAN}\t2026-12-01–2026-12-31\t{listed[0]['name']}"]
        shown = env.run("task", "show", EXAMPLE_TASK).stdout
        assert f"task {EXAMPLE_TASK} [drawn]" in shown and "result sha256" in shown


class TestUndecodableEntropy:
    """Entropy that is not valid text (a terminal in another encoding) is refused and recorded."""

    def test_refused_without_a_traceback(self, env: Env) -> None:
        load_examples(env)
        example_task(env)
        result = env.run("task", "draw", EXAMPLE_TASK, "--entropy", "lottery \udcff", expect=1)
        assert "not valid text" in result.stderr
        assert env.scalar("SELECT count(*) FROM draw_attempts WHERE outcome = 'refused'") == 1
        assert env.scalar("SELECT count(*) FROM draws") == 0
