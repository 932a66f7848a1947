"""Users and roles: every command acts as a user whose role may do it; a refusal is a clear error,
exit 1, and an audit event; an inspector sees and records only their own visits."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from cli.main import cli
from credit.roles import ACTIONS, Role
from tests.cli.test_result_import import assigned, drawn  # noqa: F401  (fixtures)
from tests.cli.test_task import rows
from tests.conftest import Env

# Commands that act on no data: the database's own administration and printing the shipped policy;
# and the demo, which builds a fresh database with users of its own.
UNCHECKED = {("db", "upgrade"), ("db", "downgrade"), ("db", "current"), ("db", "check"), ("db", "grant"), ("credit", "policy"), ("demo",)}


def leaf_commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            out += leaf_commands(command, (*path, name))
        else:
            out.append(((*path, name), command))
    return out


def test_every_command_declares_its_action() -> None:
    """No command can forget the check: each names an action of the role table (or acts on no data)."""
    for path, command in leaf_commands(cli):
        action = getattr(command.callback, "spotcheck_action", None)
        if path in UNCHECKED:
            assert action is None, path
        else:
            assert action in ACTIONS, (path, action)


def invocations(tmp: Path) -> dict[str, list[str]]:
    """One command line per action, with arguments that parse, so the role check is reached."""
    toml = tmp / "x.toml"
    toml.write_text("", encoding="utf-8")
    csv = tmp / "x.csv"
    csv.write_text("uscc\n", encoding="utf-8")
    return {
        "directory.import": ["import", "enterprises", str(csv)],
        "directory.export": ["export", "enterprises", str(tmp / "out.csv")],
        "calendar.load": ["calendar", "load", str(toml)],
        "calendar.read": ["calendar", "list"],
        "credit.grade": ["credit", "grade", "--as-of", "2026-01-01"],
        "credit.repair": ["credit", "repair", "reject", "999", "--reason", "x"],
        "credit.read": ["credit", "runs"],
        "plan.create": ["plan", "create", str(toml)],
        "plan.read": ["plan", "list"],
        "task.create": ["task", "create", str(toml)],
        "task.draw": ["task", "draw", "NOPE", "--entropy", "x"],
        "task.assign": ["task", "assign", "NOPE"],
        "task.replace": ["task", "replace", "NOPE", "--inspector", "JC0001", "--reason", "x"],
        "task.notices": ["task", "notices", "NOPE", "--out", str(tmp / "notices")],
        "task.read": ["task", "list"],
        "assignments.read": ["assignments", "--inspector", "JC0001"],
        "result.record": ["result", "record", "NOPE/1", "--item", "K-01", "--method", "实地检查", "--result", "1"],
        "result.read": ["result", "show", "T1/1"],
        "result.review": ["result", "review", "NOPE/1", "--approve"],
        "result.correct": ["result", "correct", "NOPE/1", "--reason", "x"],
        "result.publish": ["publish", "NOPE", "--out", str(tmp / "pub")],
        "publication.read": ["publication", "status"],
        "followup.update": ["followup", "update", "999", "--close", "--outcome", "x"],
        "followup.read": ["followup", "list"],
        "evaluation.record": ["evaluation", "record", "NOPE/1", "--score", "5", "--comment", ""],
        "evaluation.read": ["evaluation", "report"],
        "report.read": ["report", "coverage"],
        "audit.read": ["audit", "log"],
        "user.manage": ["user", "role", "nobody", "--role", "auditor"],
        "user.read": ["user", "list"],
    }


def test_every_role_refused_where_it_must_be_and_allowed_where_it_may(assigned: tuple[Env, dict[int, str]], tmp_path: Path) -> None:  # noqa: F811
    env, _ = assigned
    users = {Role.PLANNER: "planner", Role.REVIEWER: "reviewer", Role.AUDITOR: "auditor", Role.ADMIN: "admin",
             Role.INSPECTOR: env.inspector_user("JC0001")}
    lines = invocations(tmp_path)
    assert set(lines) == set(ACTIONS)
    refusals = 0
    for action, args in lines.items():
        for role, user in users.items():
            result = env.run(*args, user=user, expect=None)
            refused = f"{user} is {role.value}: {action} is for "
            if role in ACTIONS[action]:
                assert refused not in result.stderr, (action, role, result.stderr)
            else:
                assert result.exit_code == 1 and result.stderr.splitlines()[-1].startswith(f"Error: {refused}"), (action, role, result.stderr)
                refusals += 1
    # Every refusal is in the trail, with who tried what.
    recorded = rows(env, "SELECT actor, action FROM audit_events WHERE outcome = 'refused'")
    assert len(recorded) == refusals == sum(len(Role) - len(roles) for roles in ACTIONS.values())
    assert ("auditor", "task.draw") in recorded and ("admin", "credit.grade") in recorded


class TestActingUser:
    def test_unknown_and_missing_user(self, env: Env) -> None:
        assert env.run("task", "list", user="nobody", expect=1).stderr.splitlines()[-1] + "\n" == (
            "Error: unknown user nobody: an administrator adds users with spotcheck user add\n")
        assert env.run("task", "list", user="", expect=1).stderr.splitlines()[-1].startswith("Error: no acting user: give --user NAME or set SPOTCHECK_USER")
        assert rows(env, "SELECT actor, action, outcome FROM audit_events WHERE outcome = 'refused'") == [
            ("nobody", "task.read", "refused"), ("(none)", "task.read", "refused")]

    def test_environment_variable(self, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPOTCHECK_USER", "auditor")
        assert env.run("user", "list", user="").stdout.splitlines()[0] == "admin\tadmin"

    def test_disabled_user(self, env: Env) -> None:
        env.run("user", "disable", "planner")
        assert env.run("task", "list", user="planner", expect=1).stderr.splitlines()[-1] == "Error: user planner is disabled"
        env.run("user", "enable", "planner")
        env.run("task", "list", user="planner")

    def test_role_change_is_recorded(self, env: Env) -> None:
        assert env.run("user", "role", "reviewer", "--role", "planner").stdout == "reviewer: now planner\n"
        env.run("task", "list", user="reviewer")
        last = env.json("audit", "log", "--user", "admin")[-1]
        assert (last["action"], last["summary"]) == ("user.role", "user reviewer: reviewer → planner")


class TestFirstUser:
    def test_bootstrap(self, tmp_path: Path) -> None:
        env = Env(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)
        runner_args = ["--database-url", env.url, "db", "upgrade"]
        from click.testing import CliRunner

        assert CliRunner().invoke(cli, runner_args).exit_code == 0
        # Not the test helper's users: a fresh database has none.
        assert env.run("user", "add", "王敏", "--role", "planner", user="", expect=1).stderr.splitlines()[-1] + "\n" == (
            "Error: the first user must be an administrator: spotcheck user add NAME --role admin\n")
        assert "the first administrator" in env.run("user", "add", "王敏", "--role", "admin", user="").stdout
        # From now on only an administrator adds users.
        assert env.run("user", "add", "李强", "--role", "admin", user="", expect=1).stderr.splitlines()[-1].startswith("Error: no acting user")
        env.run("user", "add", "李强", "--role", "planner", user="王敏")
        assert env.run("user", "add", "张伟", "--role", "planner", user="李强", expect=1).stderr.splitlines()[-1] + "\n" == (
            "Error: 李强 is planner: user.manage is for admin\n")
        assert env.run("user", "role", "王敏", "--role", "auditor", user="王敏", expect=1).stderr.splitlines()[-1] + "\n" == (
            "Error: 王敏 is the last administrator: add another first\n")


class TestInspector:
    def test_an_inspector_acts_only_on_their_own_visits(self, assigned: tuple[Env, dict[int, str]]) -> None:  # noqa: F811
        env, _ = assigned
        mine = env.inspector_user("JC0001")
        outsider = env.inspector_user("JC0003")  # in the directory, on no team of T1
        # Their own assignments, by default and by their number; not another inspector's.
        assert env.json("assignments", user=mine) == env.json("assignments", "--inspector", "JC0001", user=mine)
        assert env.run("assignments", "--inspector", "JC0002", user=mine, expect=1).stderr.splitlines()[-1] + "\n" == (
            "Error: inspector-JC0001 is inspector JC0001: cannot act as inspector JC0002\n")
        # Results: the team records and reads; another inspector neither.
        record = ["result", "record", "T1/1", "--item", "K-01", "--method", "实地检查", "--result", "1"]
        env.run(*record, user=mine)
        assert env.run(*record, "--inspector", "JC0002", user=mine, expect=1).stderr.splitlines()[-1].startswith("Error: inspector-JC0001 is inspector JC0001")
        assert env.run(*record, user=outsider, expect=1).stderr.splitlines()[-1].startswith("Error: 检查员3 (JC0003) is not on the team of visit T1/1")
        assert env.run("result", "show", "T1/1", user=outsider, expect=1).stderr.splitlines()[-1] + "\n" == (
            "Error: inspector-JC0003 is not on the team of visit T1/1: an inspector sees only their own visits\n")
        assert env.json("result", "show", "T1/1", user=mine)["state"] == "录入"
        refused = rows(env, "SELECT actor, action FROM audit_events WHERE outcome = 'refused' ORDER BY id")
        assert refused == [(mine, "assignments.read"), (mine, "result.record"), (outsider, "result.record"), (outsider, "result.read")]

    def test_an_inspector_user_needs_a_directory_entry(self, env: Env) -> None:
        assert env.run("user", "add", "x", "--role", "inspector", expect=1).stderr.splitlines()[-1] + "\n" == (
            "Error: an inspector user needs --inspector-id: their number in the inspector directory\n")
        assert env.run("user", "add", "x", "--role", "inspector", "--inspector-id", "JC9999", expect=1).stderr.splitlines()[-1] + "\n" == (
            "Error: no inspector JC9999 in the inspector directory (spotcheck import inspectors FILE)\n")
