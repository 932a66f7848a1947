"""`spotcheck demo --size small`: a generated district through the whole loop, on SQLite and
PostgreSQL; it starts from nothing and refuses a database that holds data."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli
from tests.conftest import Env, postgres_schema

STEPS = ["users", "generated", "import", "import", "import", "grade", "task", "draw", "assign", "results", "review",
         "publish", "follow-up", "report", "audit"]


def run_demo(url: str, out: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["demo", "--size", "small", "--database-url", url, "--out", str(out), *extra], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_small_demo_runs_the_loop(database_url: str, tmp_path: Path) -> None:
    code, out, err = run_demo(database_url, tmp_path / "demo")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert [re.split(r"\]\s+", line, maxsplit=1)[1].split()[0] for line in lines] == STEPS
    assert "5,000 enterprises" in out and "intact" in lines[-1]
    assert "Try next" in out and "spotcheck task show 2026-DEMO-2-1" in out
    # What it built is there for the newcomer to look at.
    for made in ("publication/index.html", "report/index.html", "announcement/announcement.html", "data/enterprises.csv", "task.toml"):
        assert (tmp_path / "demo" / made).is_file(), made
    env = Env(database_url, tmp_path)
    verified = env.json("audit", "verify", user="审计员")
    assert verified["intact"] and verified["tasks"] == 1 and verified["publications"] >= 1
    draw = env.json("task", "show", "2026-DEMO-2-1", user="计划科")
    visits = env.scalar("SELECT count(*) FROM visits")
    assert visits == draw["draw"]["visits"] > 0 and env.scalar("SELECT count(*) FROM visit_results WHERE state = 'published'") == visits
    # Each result was recorded by an inspector of the visit's own team, under their own user.
    recorders = env.scalar("SELECT count(DISTINCT actor) FROM audit_events WHERE action = 'result.submit' AND role = 'inspector'")
    assert recorders >= 2 and env.scalar("SELECT count(*) FROM audit_events WHERE action = 'result.submit' AND role <> 'inspector'") == 0


def test_a_sqlite_demo_starts_from_a_fresh_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    for _ in range(2):
        code, _, err = run_demo(url, tmp_path / "demo")
        assert code == 0, err
    env = Env(url, tmp_path)
    assert (env.scalar("SELECT count(*) FROM enterprises"), env.scalar("SELECT count(*) FROM draws")) == (5000, 1)
    # The draw used a secret seed from the operating system, not a test seed.
    assert env.scalar("SELECT seed_source FROM tasks") == "os"


def test_a_database_with_data_is_refused(tmp_path: Path) -> None:
    """Only a SQLite file is replaced (above); any other database must be empty."""
    with postgres_schema() as url:
        env = Env(url, tmp_path)
        env.run("db", "upgrade")
        code, _, err = run_demo(url, tmp_path / "demo")
        assert code == 1 and "the demo needs an empty database" in err and "Traceback" not in err
        assert json.loads(env.run("user", "list", "--json").stdout)  # the users it had are still there
