"""Concurrency on PostgreSQL, with the `spotcheck` console script run as real processes:

- eight draws of one task at the same moment: exactly one draws; the seven others are refused
  with one `Error:` line each and no traceback; one draw is stored, every attempt is recorded
  (draw_attempts and the audit trail), and the trail verifies. A draw of another task at the same
  moment completes too;
- draws and assignments of two districts' tasks run side by side: each does all its work while
  the other holds its uncommitted writes; a draw of the same district as a running one waits for
  it, and then leaves out the enterprises it drew (checked on the same item within 12 months); a
  second assignment of a task being assigned waits for the first, then is refused;
- fifty result submissions in flight together: none is lost, and the trail verifies;
- a grading run while a records import commits: the run is the grading of the directory before
  the import or of the one after it, never a mix.

"At the same moment" is made certain with the database's own locks rather than left to timing:
the test holds a lock the commands need (the tasks table; the audit events table, to which every
command appends its event just before it commits), waits until every process is blocked on it,
then lets go.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_assign import inspector, load_inspectors
from tests.cli.test_task import (
    ENTROPY, ITEM_HEADER, ITEMS, PLANS, STATION_A, STATION_B, USCC, create, draw, load_small, rows, write,
)
from tests.conftest import ENTERPRISE_HEADER, Env, postgres_schema
from tests.system.procs import (
    HOLD_AUDIT_APPENDS, application_name, finish, generate, holding, named, one_line_error, reaped, rows_of, server,
    sessions, start, wait_until,
)

pytestmark = pytest.mark.postgres

DRAWS = 8
SUBMISSIONS = 50
VISITS = 54  # one visit per enterprise: 50 are submitted together, 4 stay as they were
BATCH = 10  # submissions in flight at once: ten processes at a time are what two cores bear
AS_OF = "2026-11-01"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def audit_ok(env: Env) -> None:
    verified = env.run("audit", "verify", user="auditor")
    assert verified.stdout.startswith("intact:"), verified.stdout


def test_simultaneous_draws_of_one_task_one_wins(tmp_path: Path, make_uscc: USCC) -> None:
    with postgres_schema() as url:
        env = Env(url, tmp_path)
        env.run("db", "upgrade")
        load_small(env, make_uscc)
        create(env, "T1", stations=[STATION_A])
        create(env, "T2", stations=[STATION_B], starts="2026-04-01")
        name = application_name("draw")
        entropies = [f"{ENTROPY} 第{n}路" for n in range(DRAWS)]
        # The test locks the tasks table against writes, so no draw can claim its task. Once the
        # eight draws of T1, and one of another task, T2, are all blocked, the lock goes.
        with server(url) as pg, holding(url, "LOCK TABLE tasks IN EXCLUSIVE MODE") as release, reaped([]) as procs:
            procs += [start(named(url, name), "task", "draw", "T1", "--entropy", e, "--json", user="planner") for e in entropies]
            procs.append(start(named(url, name), "task", "draw", "T2", "--entropy", ENTROPY, "--json", user="planner"))
            wait_until(lambda: sessions(pg, name, "wait_event_type = 'Lock'") == DRAWS + 1, f"all {DRAWS + 1} draws to be blocked", procs)
            release()
            *results, other = [finish(p) for p in procs]

        # Another task's draw at the same moment is no reason to fail: it is drawn too.
        assert other.code == 0, other.describe()
        assert json.loads(other.stdout)["visits"] > 0
        winners = [r for r in results if r.code == 0]
        assert len(winners) == 1, "\n\n".join(r.describe() for r in results)
        won = json.loads(winners[0].stdout)
        assert not [line for line in winners[0].stderr.splitlines() if line.startswith("Error:")]
        losers = [r for r in results if r.code != 0]
        assert len(losers) == DRAWS - 1
        for loser in losers:
            message = one_line_error(loser)
            assert "task T1 was" in message and "drawn" in message and "a draw is never repeated" in message, message

        # One draw stored, with the winner's visits; every attempt recorded, the winner's entropy
        # with the draw, the others' with their refusals.
        assert rows(env, "SELECT t.code, d.entropy FROM draws d JOIN tasks t ON t.id = d.task_id ORDER BY t.code") == [
            ("T1", won["entropy"]), ("T2", ENTROPY)]
        assert env.scalar("SELECT count(*) FROM visits v JOIN tasks t ON t.id = v.task_id WHERE t.code = 'T1'") == won["visits"] > 0
        attempts = rows(env, "SELECT outcome, entropy FROM draw_attempts a JOIN tasks t ON t.id = a.task_id WHERE t.code = 'T1'")
        assert sorted(o for o, _ in attempts) == ["drawn"] + ["refused"] * (DRAWS - 1)
        assert {e for o, e in attempts if o == "drawn"} == {won["entropy"]}
        assert sorted(e for _, e in attempts) == sorted(entropies)
        assert env.json("task", "show", "T1")["status"] == "drawn"

        events = [e for e in env.json("audit", "log", "--task", "T1", user="auditor") if e["action"] == "task.draw"]
        assert sorted(e["outcome"] for e in events) == ["done"] + ["refused"] * (DRAWS - 1)
        assert all(e["actor"] == "planner" for e in events)
        audit_ok(env)
        assert env.json("task", "verify", "T1")["identical"] is True
        assert env.json("task", "verify", "T2")["identical"] is True


# Draws of several districts -------------------------------------------------------------------------

PER_DISTRICT = 20
HALF = '{ A = "50%", B = "50%", C = "50%", D = "50%" }'


def district_scope(code: str) -> str:
    return f'scope = {{ districts = ["{code}"] }}\n'


def drawn_enterprises(env: Env, task: str) -> set[str]:
    return {uscc for (uscc,) in rows(env, (
        "SELECT e.uscc FROM visits v JOIN enterprises e ON e.id = v.enterprise_id JOIN tasks t ON t.id = v.task_id"
        f" WHERE t.code = '{task}'"))}


def test_two_districts_draw_and_assign_side_by_side_one_district_draws_in_turn(tmp_path: Path, make_uscc: USCC) -> None:
    with postgres_schema() as url:
        env = Env(url, tmp_path)
        env.run("db", "upgrade")
        env.run("import", "departments", str(env.csv("departments.csv", ["code", "name"], [["SCJG", "市场监督管理局"], ["YJJ", "应急管理局"]])))
        env.run("import", "items", str(env.csv("items.csv", ITEM_HEADER, ITEMS)))
        districts = {"500106": "沙坪坝区市场监管局甲所", "500107": "九龙坡区市场监管局甲所"}
        enterprises = [[make_uscc(k * PER_DISTRICT + n), f"重庆区县并行测试{k}{n:02d}有限公司", "企业", "张三", "2015-03-01", "存续", code,
                        station, "F5211", f"测试路{n}号", "", "否"]
                       for k, (code, station) in enumerate(districts.items()) for n in range(PER_DISTRICT)]
        env.run("import", "enterprises", str(env.csv("enterprises.csv", ENTERPRISE_HEADER, enterprises)))
        env.run("credit", "grade", "--as-of", "2026-02-01")
        env.run("plan", "create", str(write(env, "plans.toml", PLANS)))
        # X1 and Y1: half of each district on K-01. X2, a month later in X1's district: all of it,
        # less what X1 drew (checked on K-01 within 12 months).
        create(env, "X1", ratios=HALF, extra=district_scope("500106"))
        create(env, "Y1", ratios=HALF, extra=district_scope("500107"))
        create(env, "X2", starts="2026-04-01", extra=district_scope("500106"))

        first, other, same = application_name("draw-x1"), application_name("draw-y1"), application_name("draw-x2")
        # Every draw writes its visits, then waits to append its audit event, which the test holds up.
        with server(url) as pg, holding(url, HOLD_AUDIT_APPENDS) as release, reaped([]) as procs:
            written = "wait_event_type = 'Lock' AND backend_xid IS NOT NULL"
            procs.append(start(named(url, first), "task", "draw", "X1", "--entropy", ENTROPY, "--json", user="planner"))
            wait_until(lambda: sessions(pg, first, written) == 1, "X1 to have written its visits", procs)
            # Another district's draw does all its work while X1's visits are uncommitted.
            procs.append(start(named(url, other), "task", "draw", "Y1", "--entropy", ENTROPY, "--json", user="planner"))
            wait_until(lambda: sessions(pg, other, written) == 1, "Y1 to have written its visits beside X1", procs)
            # The same district's next draw waits for X1 before it reads anything.
            procs.append(start(named(url, same), "task", "draw", "X2", "--entropy", ENTROPY, "--json", user="planner"))
            wait_until(lambda: sessions(pg, same, "wait_event = 'advisory'") == 1, "X2 to wait for X1's district", procs)
            assert sessions(pg, same, "backend_xid IS NOT NULL AND query LIKE '%pg_advisory_xact_lock%'") == 1
            release()
            results = [finish(p) for p in procs]

        for result in results:
            assert result.code == 0, result.describe()
        x1, y1, x2 = (drawn_enterprises(env, t) for t in ("X1", "Y1", "X2"))
        in_x = {row[0] for row in enterprises if row[6] == "500106"}
        assert len(x1) == len(y1) == PER_DISTRICT // 2
        assert x1 < in_x and not y1 & in_x
        # X2 read after X1 committed: it drew every enterprise of the district X1 did not.
        assert x2 == in_x - x1
        assert json.loads(results[2].stdout)["recently_checked"] == {"K-01": PER_DISTRICT // 2}

        # The two districts' assignments: each solves and writes while the other's is uncommitted.
        # A second assignment of X1 meanwhile waits for the first, then is refused.
        load_inspectors(env, [inspector(k * 10 + n, district=code, station=station.replace("甲所", "乙所"))
                              for k, (code, station) in enumerate(districts.items()) for n in range(1, 5)])
        assigning, again = application_name("assign"), application_name("assign-again")
        with server(url) as pg, holding(url, HOLD_AUDIT_APPENDS) as release, reaped([]) as procs:
            procs += [start(named(url, assigning), "task", "assign", task, "--json", user="planner") for task in ("X1", "Y1")]
            wait_until(lambda: sessions(pg, assigning, written) == 2, "both assignments to have written their teams", procs)
            procs.append(start(named(url, again), "task", "assign", "X1", "--json", user="planner"))
            wait_until(lambda: sessions(pg, again, "wait_event_type = 'Lock'") == 1, "the second assignment of X1 to wait for the first", procs)
            release()
            *assigned, repeated = [finish(p) for p in procs]
        for result in assigned:
            assert result.code == 0, result.describe()
            assert json.loads(result.stdout)["visits"] == PER_DISTRICT // 2
        assert repeated.code == 1, repeated.describe()
        assert "task X1 is already assigned" in one_line_error(repeated)
        assert env.scalar("SELECT count(*) FROM assignment_runs") == 2
        # Each district's visits are staffed by that district's inspectors (属地).
        staffed = rows(env, ("SELECT DISTINCT t.code, i.district_code FROM assignments a JOIN inspectors i ON i.id = a.inspector_id"
                             " JOIN visits v ON v.id = a.visit_id JOIN tasks t ON t.id = v.task_id ORDER BY t.code"))
        assert staffed == [("X1", "500106"), ("Y1", "500107")]
        audit_ok(env)
        for task in ("X1", "Y1", "X2"):
            assert env.json("task", "verify", task)["identical"] is True


# Fifty submissions ----------------------------------------------------------------------------------


def load_visits(env: Env, make_uscc: USCC) -> None:
    """Task T1 with one visit per enterprise (K-01 at 100 % of VISITS station-B enterprises),
    assigned to station-A inspectors, every visit's result recorded by its team (录入)."""
    env.run("import", "departments", str(env.csv("departments.csv", ["code", "name"], [["SCJG", "市场监督管理局"], ["YJJ", "应急管理局"]])))
    env.run("import", "items", str(env.csv("items.csv", ITEM_HEADER, ITEMS)))
    enterprises = [[make_uscc(n), f"重庆并发测试{n:02d}有限公司", "企业", "张三", "2015-03-01", "存续", "500106", STATION_B, "F5211",
                    f"沙坪坝区并发路{n}号", "", "否"] for n in range(1, VISITS + 1)]
    env.run("import", "enterprises", str(env.csv("enterprises.csv", ENTERPRISE_HEADER, enterprises)))
    env.run("credit", "grade", "--as-of", "2026-02-01")
    env.run("plan", "create", str(write(env, "plans.toml", PLANS)))
    create(env, "T1", stations=[STATION_B], extra="cross_station = true\n")
    assert draw(env, "T1")["visits"] == VISITS
    load_inspectors(env, [inspector(n, station=STATION_A) for n in range(1, 9)])
    env.run("task", "assign", "T1")
    by_recorder: dict[str, list[list[str]]] = {}
    for rank, number in team_member(env).items():
        by_recorder.setdefault(number, []).append([f"T1/{rank}", "K-01", number, "是", "实地检查", "1", "", "", ""])
    header = ["visit", "item", "inspector", "checked", "methods", "results", "findings", "measure", "date"]
    for number, data in by_recorder.items():
        env.run("result", "import", str(env.csv(f"results-{number}.csv", header, data)), user=env.inspector_user(number))


def team_member(env: Env, last: bool = False) -> dict[int, str]:
    """Visit rank → the first (or last) inspector number of its team."""
    aggregate = "max" if last else "min"
    return {rank: number for rank, number in rows(env, (
        f"SELECT v.rank, {aggregate}(i.inspector_no) FROM visits v JOIN assignments a ON a.visit_id = v.id"
        " JOIN inspectors i ON i.id = a.inspector_id GROUP BY v.rank"))}


def test_concurrent_result_submissions_are_all_kept(tmp_path: Path, make_uscc: USCC) -> None:
    with postgres_schema() as url:
        env = Env(url, tmp_path)
        env.run("db", "upgrade")
        load_visits(env, make_uscc)
        assert env.scalar("SELECT count(*) FROM visit_results WHERE state = 'entered'") == VISITS
        # Each visit is submitted by the other member of its team than the one who recorded it.
        submitter = team_member(env, last=True)
        ranks = sorted(submitter)[:SUBMISSIONS]
        users = {rank: env.inspector_user(submitter[rank]) for rank in ranks}

        results = []
        for first in range(0, SUBMISSIONS, BATCH):
            batch = ranks[first:first + BATCH]
            name = application_name("submit")
            # Each submission changes its visit's results, then waits to append its audit event,
            # which the test holds up: the whole batch is in flight at once before any commits.
            with server(url) as pg, holding(url, HOLD_AUDIT_APPENDS) as release, reaped([]) as procs:
                procs += [start(named(url, name), "result", "submit", f"T1/{rank}", user=users[rank]) for rank in batch]
                wait_until(lambda: sessions(pg, name, "wait_event_type = 'Lock' AND backend_xid IS NOT NULL") == len(batch),
                           f"{len(batch)} submissions to have written and wait to commit", procs)
                release()
                results += [finish(p) for p in procs]

        for rank, result in zip(ranks, results, strict=True):
            assert result.code == 0, result.describe()
            assert result.stdout.strip() == f"T1/{rank}: submitted for review (待审核)", result.describe()
        # Every submission is there, by the inspector who made it; the other visits are untouched.
        stored = {rank: (state, number) for rank, state, number in rows(env, (
            "SELECT v.rank, r.state, i.inspector_no FROM visit_results r JOIN visits v ON v.id = r.visit_id"
            " LEFT JOIN inspectors i ON i.id = r.submitted_by"))}
        assert {rank: stored[rank] for rank in ranks} == {rank: ("submitted", submitter[rank]) for rank in ranks}
        assert {rank: stored[rank] for rank in stored if rank not in ranks} == {rank: ("entered", None) for rank in sorted(submitter)[SUBMISSIONS:]}
        events = [e for e in env.json("audit", "log", "--task", "T1", user="auditor") if e["action"] == "result.submit"]
        assert sorted(e["subject"] for e in events) == sorted(f"T1/{rank}" for rank in ranks)
        assert all(e["outcome"] == "done" and e["actor"] == users[int(e["subject"].split("/")[1])] for e in events)
        audit_ok(env)


# Grading during an import ---------------------------------------------------------------------------


def tiers_and_digest(env: Env, run: int) -> tuple[dict[str, int], str, int]:
    (a, b, c, d, digest, bound), = rows(env, f"SELECT count_a, count_b, count_c, count_d, result_sha256, max_record_id FROM grading_runs WHERE id = {run}")
    return {"A": a, "B": b, "C": c, "D": d}, digest, bound


def test_grading_during_a_records_import_sees_before_or_after(tmp_path: Path) -> None:
    with postgres_schema() as url:
        env = Env(url, tmp_path)
        env.run("db", "upgrade")
        for kind in ("departments", "items", "enterprises", "records"):
            env.run("import", kind, str(EXAMPLES / f"{kind}.csv"))
        before = env.json("credit", "grade", "--as-of", AS_OF)["run"]
        # Thousands of records on the examples' 300 enterprises: most of them change tier.
        records = generate(tmp_path / "generated", 40)
        assert rows_of(records) > 5000

        importing, grading = application_name("import"), application_name("grade")
        with (server(url) as pg, holding(url, HOLD_AUDIT_APPENDS) as let_import_commit,
              holding(url, "LOCK TABLE credit_repairs IN ACCESS EXCLUSIVE MODE") as let_grading_read, reaped([]) as procs):
            # The import writes every record, then waits to append its audit event and commit.
            procs.append(start(named(url, importing), "import", "records", str(records), "--json", user="planner"))
            wait_until(lambda: sessions(pg, importing, "wait_event_type = 'Lock' AND backend_xid IS NOT NULL") == 1,
                       "the import to have written its records and wait to commit", procs)
            # The grading starts while the import is uncommitted. It waits for every transaction
            # adding records to end before it reads the highest record id (credit.grading_columns:
            # a range of records is stored only once all of it is committed).
            procs.append(start(named(url, grading), "credit", "grade", "--as-of", AS_OF, "--json", user="planner"))
            wait_until(lambda: sessions(pg, grading, "wait_event_type = 'Lock' AND query LIKE '%LOCK TABLE credit_records%'") == 1,
                       "the grading to wait for the import's records", procs)
            # Now the import commits; the grading reads on, then waits for the repairs table,
            # which the test holds: its transaction is under way, with the import's records.
            let_import_commit()
            imported = finish(procs[0])
            wait_until(lambda: sessions(pg, grading, "wait_event_type = 'Lock' AND query LIKE '%credit_repairs%'") == 1,
                       "the grading to have begun reading and wait for the repairs table", procs)
            assert procs[1].poll() is None, finish(procs[1]).describe()
            let_grading_read()
            graded = finish(procs[1])
        assert imported.code == 0, imported.describe()
        assert graded.code == 0, graded.describe()
        counts = json.loads(imported.stdout)
        assert counts["rejected"] == 0 and counts["inserted"] > 5000, counts
        during = json.loads(graded.stdout)["run"]
        after = env.json("credit", "grade", "--as-of", AS_OF)["run"]

        # The trail agrees: the import's event comes before the grading run's.
        events = [(e["id"], e["action"], e["subject"]) for e in env.json("audit", "log", user="auditor")]
        import_event = max(i for i, action, _ in events if action == "directory.import")
        grade_event = next(i for i, action, subject in events if action == "credit.grade" and subject == f"run {during}")
        assert import_event < grade_event, events

        seen = tiers_and_digest(env, during)
        old, new = tiers_and_digest(env, before), tiers_and_digest(env, after)
        assert old[:2] != new[:2], "the import must change tiers, or the test cannot tell before from after"
        # Counts, digest and the record bound all of one side: the directory before or after.
        assert seen in (old, new), {"during": seen, "before": old, "after": new}
        assert json.loads(graded.stdout)["tiers"] == seen[0]
        # A run re-derives from its stored bound: audit verify grades every run again if need be.
        audit_ok(env)
