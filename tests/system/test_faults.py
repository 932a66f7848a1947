"""SIGKILL in the middle of an import, a grading run, a draw and an assignment, on SQLite and
PostgreSQL, with the `spotcheck` console script run as a real process: the database is exactly as
it was (every row of every table, the audit trail included, and `audit verify` says intact),
nothing of the killed command keeps running (the parsing process a big import forks ends too),
and the same command run again completes.

The steps run one after another on the shipped examples, as the README's order of work has them:
import a big records file, grade, draw the example task, assign it. Each is killed once, then run
again to completion, and the next step starts from there.

"The middle" is made certain rather than hoped for. Once the command's log shows it at work
(`import_progress` after two seconds of importing, `grading_scored`, `draw_read`,
`assign_solved`), the process is stopped with SIGSTOP and the database is asked whether the
command's transaction has written: SQLite's write lock is taken, or the PostgreSQL session has a
transaction id. Only then is it killed: a stopped process cannot commit in between. On
PostgreSQL the test also holds the audit events table (SHARE) while the command runs; every
command appends its audit event just before it commits, so it can write but never commit. On
SQLite a command that ends before it can be caught is undone from a copy and run again; an
import too quick to report progress is tried again with a file twice as big.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_task import EXAMPLE_TASK, SEED, load_examples, rows
from tests.conftest import Env, postgres_schema
from tests.system.procs import (
    HOLD_AUDIT_APPENDS, Finished, SqliteWriter, Watched, application_name, differences, dump, generate, group_members, holding,
    kill_while_writing, named, rows_of, run, server, sessions, sqlite_copy, wait_until,
)

ATTEMPTS = 4
AS_OF = "2026-11-01"
DRAW_ENTROPY = "福彩3D 2026335期 开奖号码 5 8 1"
# Records per enterprise of the file whose import is killed: enough for a few seconds of
# importing, so that the import reports progress (every 2 s) while it still has rows to write.
RECORDS_PER_ENTERPRISE = {"sqlite": 170, "postgresql": 100}


@dataclass
class Step:
    name: str
    args: list[str]
    trigger: str  # the log event that shows the command at work, inside its transaction or just before it writes
    check: Callable[[Env, Finished], None]  # what the completed re-run must have done
    bigger: Callable[[], list[str]] | None = None  # new arguments when the command was too quick to catch


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'faults.db'}"
        return
    with postgres_schema() as url:
        yield url


def count(env: Env, table: str) -> int:
    return int(env.scalar(f"SELECT count(*) FROM {table}"))


def intact(env: Env) -> None:
    verified = env.run("audit", "verify", user="auditor")
    assert verified.stdout.startswith("intact:"), verified.stdout


def caught(env: Env, step: Step, backend: str, attempt: int) -> bool:
    """Run the step's command and SIGKILL it once its log shows it at work, while its transaction
    has written and not committed. False when it was too quick for that: on SQLite it completed
    first; on PostgreSQL it wrote everything and waited to commit before its log event (it is
    killed all the same, and nothing is left of it)."""
    name = application_name(step.name)
    with ExitStack() as stack:
        if backend == "postgresql":
            url = named(env.url, name)
            pg = stack.enter_context(server(env.url))
            release = stack.enter_context(holding(env.url, HOLD_AUDIT_APPENDS))

            def writing() -> bool:
                return sessions(pg, name, "backend_xid IS NOT NULL") > 0

            def blocked() -> bool:  # written everything and waiting to commit, without the trigger
                return sessions(pg, name, "wait_event_type = 'Lock' AND backend_xid IS NOT NULL") > 0
        else:
            url, blocked = env.url, None
            writing = SqliteWriter(Path(env.url.removeprefix("sqlite:///")))
            stack.callback(writing.close)
        watched = Watched(url, *step.args, user="planner", stdout=env.tmp / f"{step.name}-{attempt}.out")
        stack.callback(watched.close)
        event = watched.wait_for(step.trigger, also=blocked)
        if event is None and watched.proc.poll() is not None:
            done = watched.finished()
            assert done.code == 0, done.describe()
            return False  # it completed before its log showed it at work
        killed = kill_while_writing(watched, writing)
        if backend == "postgresql":
            release()
            # The server rolls the dead client's transaction back and ends its session.
            wait_until(lambda: sessions(pg, name) == 0, f"the killed {step.name}'s session to end")
        if not killed:
            done = watched.finished()
            assert done.code == 0, done.describe()
            return False
        assert watched.proc.returncode == -9, watched.describe()
        assert watched.seen("command_finished") is None, watched.describe()
        # Nothing of it keeps running: a child it forked (the parsing process of a big import)
        # notices its parent is gone and ends.
        wait_until(lambda: not group_members(watched.proc.pid), f"every process of the killed {step.name} to end", timeout=15)
        return event is not None


def kill_then_rerun(env: Env, step: Step, backend: str) -> None:
    before = dump(env.url)
    path = Path(env.url.removeprefix("sqlite:///"))
    copy = env.tmp / f"before-{step.name}.db"
    if backend == "sqlite":
        sqlite_copy(path, copy)
    for attempt in range(1, ATTEMPTS + 1):
        if caught(env, step, backend, attempt):
            break
        # Completed too quickly to be caught in the middle: undo it, and try again (with a bigger
        # input where there is one).
        if backend == "sqlite":
            sqlite_copy(copy, path)
        if step.bigger is not None:
            step.args = step.bigger()
        assert not differences(before, dump(env.url)), f"{step.name}: the database could not be put back for another attempt"
    else:
        pytest.fail(f"{step.name}: in {ATTEMPTS} attempts the command always completed before it could be killed in the middle")

    changed = differences(before, dump(env.url))
    assert not changed, f"{step.name} killed mid-transaction left changes behind:\n" + "\n".join(changed)
    intact(env)
    again = run(env.url, *step.args, "--json", user="planner")
    step.check(env, again)


def steps(env: Env, backend: str) -> list[Step]:
    """Import a big records file, grade, draw the example task, assign it: each with what its
    completed run must have done."""
    made: dict[str, Any] = {"per_enterprise": RECORDS_PER_ENTERPRISE[backend]}

    def records_file() -> list[str]:
        made["file"] = generate(env.tmp / f"generated-{made['per_enterprise']}", made["per_enterprise"])
        return ["import", "records", str(made["file"])]

    def bigger_file() -> list[str]:
        made["per_enterprise"] *= 2
        return records_file()

    records_before = count(env, "credit_records")

    def imported(env: Env, done: Finished) -> None:
        counts = json.loads(done.stdout)
        assert counts["rejected"] == 0 and counts["inserted"] + counts["updated"] + counts["unchanged"] == rows_of(made["file"]), counts
        assert counts["inserted"] > 5000, counts
        assert count(env, "credit_records") == records_before + counts["inserted"] + counts["updated"]
        assert count(env, "imports") == 6  # the five example directories, and this one

    def graded(env: Env, done: Finished) -> None:
        result = json.loads(done.stdout)
        assert count(env, "grading_runs") == 2
        stored = rows(env, f"SELECT count_a, count_b, count_c, count_d, enterprises FROM grading_runs WHERE id = {result['run']}")[0]
        assert [result["tiers"][t] for t in "ABCD"] == list(stored[:4]) and sum(stored[:4]) == stored[4] > 0
        assert rows(env, "SELECT sum(enterprises) FROM grade_parts")[0][0] == 2 * stored[4]

    def drawn(env: Env, done: Finished) -> None:
        result = json.loads(done.stdout)
        assert result["entropy"] == DRAW_ENTROPY and result["visits"] > 0
        assert count(env, "draws") == 1 and count(env, "visits") == result["visits"]
        # The killed attempt left no trace; the completed one is the only attempt.
        assert rows(env, "SELECT outcome FROM draw_attempts") == [("drawn",)]
        assert env.json("task", "verify", EXAMPLE_TASK)["identical"] is True

    def assigned(env: Env, done: Finished) -> None:
        result = json.loads(done.stdout)
        assert result["status"] == "assigned" and result["visits"] == count(env, "visits")
        assert count(env, "assignment_runs") == 1 and count(env, "assignments") >= 2 * result["visits"]
        assert count(env, "visits WHERE scheduled_on IS NULL") == 0
        verified = env.json("task", "verify", EXAMPLE_TASK)
        assert verified["identical"] is True and verified["assigned"] is True

    return [
        Step("import", records_file(), "import_progress", imported, bigger_file),
        Step("grade", ["credit", "grade", "--as-of", AS_OF], "grading_scored", graded),
        Step("draw", ["task", "draw", EXAMPLE_TASK, "--entropy", DRAW_ENTROPY], "draw_read", drawn),
        Step("assign", ["task", "assign", EXAMPLE_TASK], "assign_solved", assigned),
    ]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_sigkill_in_the_middle_changes_nothing_and_the_rerun_completes(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url:
        env = Env(url, tmp_path)
        env.run("db", "upgrade")
        load_examples(env)  # the directories, a grading run as of 2026-11-01, the example plan
        env.run("task", "create", str(Path(__file__).resolve().parents[2] / "examples" / "task.toml"), "--seed", SEED)
        for step in steps(env, backend):
            kill_then_rerun(env, step, backend)
        intact(env)
