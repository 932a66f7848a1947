"""Shared fixtures: a migrated database on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from cli.main import cli
from credit.db import make_engine

PG_ENV = "SPOTCHECK_TEST_DATABASE_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
UNDER_CI = os.environ.get("CI") == "true"


def _postgres_base_url() -> str:
    return os.environ.get(PG_ENV) or PG_DEFAULT


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh schema of the PostgreSQL test database, dropped afterwards; a skip with
    the reason when no server answers (a failure under CI=true)."""
    base = _postgres_base_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        reason = f"PostgreSQL at {base} is not reachable (set {PG_ENV} to another server): {exc}"
        if UNDER_CI:
            pytest.fail(f"{reason}; under CI=true the PostgreSQL tests must run, not skip")
        pytest.skip(reason)
    try:
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh schema of the PostgreSQL test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with postgres_schema() as url:
        yield url


# English headers of the two big directories, for hand-made test files.
ENTERPRISE_HEADER = [
    "uscc", "name", "entity_type", "legal_rep", "registered_on", "status", "district_code",
    "station", "industry_code", "address", "new_economy_since", "key_supervision",
]
RECORD_HEADER = [
    "uscc", "kind", "severity", "sector", "ground", "substantiated", "result_codes",
    "occurred_on", "department", "document_no", "effective_until",
]


# The users every test database starts with, one per role but the inspector's (an inspector user
# is tied to a directory entry, so Env makes one the first time a test acts as that inspector).
USERS = {"admin": "admin", "planner": "planner", "reviewer": "reviewer", "auditor": "auditor"}


def _action(args: Sequence[str]) -> str | None:
    """The action (credit.roles.ACTIONS) of the command ``args`` names, or None (db commands)."""
    command: Any = cli
    for token in args:
        if not isinstance(command, click.Group):
            break
        if token.startswith("-"):
            continue
        command = command.get_command(click.Context(command), token)
        if command is None:
            return None
    return getattr(getattr(command, "callback", None), "spotcheck_action", None)


@dataclass
class Env:
    """A database URL plus helpers to run the CLI against it.

    Commands run as a user whose role may perform them (the planner for planning, the reviewer
    for reviews, the inspector named by --inspector for results) unless ``user=`` says who.
    """

    url: str
    tmp: Path
    inspectors: set[str] = field(default_factory=set)
    snapshots: bool = True  # may snapshot() copy a scenario built by an earlier test

    def run(self, *args: str, expect: int | None = 0, user: str | None = None) -> Result:
        runner = CliRunner()
        who = user if user is not None else self.default_user(args)
        acting = ["--user", who] if who else []
        result = runner.invoke(cli, ["--database-url", self.url, "--log-format", "json", *acting, *args], catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        if tuple(args[:2]) == ("db", "upgrade") and result.exit_code == 0 and not self.scalar("SELECT count(*) FROM users"):
            # A migrated test database has the users of USERS.
            for name, role in USERS.items():
                self.add_user(name, role)
        return result

    def json(self, *args: str, expect: int = 0, user: str | None = None) -> Any:
        return json.loads(self.run(*args, "--json", expect=expect, user=user).stdout)

    def default_user(self, args: Sequence[str]) -> str | None:
        from credit.roles import Role, roles_for

        action = _action(args)
        if action is None:
            return None
        allowed = roles_for(action)
        for role in (Role.PLANNER, Role.REVIEWER, Role.AUDITOR, Role.ADMIN):
            if role in allowed:
                return USERS[role.value]
        number = _option(args, "--inspector") or _first_inspector(args) or self.scalar("SELECT min(inspector_no) FROM inspectors")
        return self.inspector_user(number) if number else None

    def inspector_user(self, number: str) -> str:
        """The user of inspector ``number``, added the first time it is needed."""
        name = f"inspector-{number}"
        if number not in self.inspectors:
            exists = self.scalar(f"SELECT count(*) FROM users WHERE name = '{name}'")
            if not exists:
                self.add_user(name, "inspector", number)
            self.inspectors.add(number)
        return name

    def add_user(self, name: str, role: str, inspector_no: str | None = None) -> None:
        """Add a user directly through the service, as the administrator (quicker than the CLI)."""
        from credit import audit
        from credit.roles import Actor, Role
        from inspection.users import add_user

        engine = make_engine(self.url)
        try:
            with Session(engine) as session, session.begin():
                session.info[audit.ACTOR] = Actor("admin", Role.ADMIN)
                add_user(session, name, Role(role), inspector_no)
        finally:
            engine.dispose()

    def csv(self, name: str, header: Sequence[str], rows: Sequence[Sequence[Any]], encoding: str = "utf-8") -> Path:
        path = self.tmp / name
        with path.open("w", encoding=encoding, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the test database; whatever it did not commit is rolled back at the end."""
        engine = make_engine(self.url)
        try:
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()

    def grades(self, run: int, enterprise_ids: Sequence[int] | None = None) -> Any:
        """The stored grades of a run (credit.grade_store.RunGrades)."""
        from credit import grade_store

        with self.session() as session:
            return grade_store.load(session, run, enterprise_ids)

    def score(self, run: int, enterprise_id: int) -> int | None:
        """An enterprise's stored score in a run (hundredths), or None when not graded."""
        grades = self.grades(run, [enterprise_id])
        return int(grades.score[0]) if len(grades) else None

    def scalar(self, sql: str) -> Any:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar()
        finally:
            engine.dispose()


# Scenarios built once per test process on SQLite: name → (saved directory, value, inspector users).
_SNAPSHOTS: dict[str, tuple[Path, Any, frozenset[str]]] = {}


def snapshot(env: Env, name: str, build: Callable[[], Any]) -> Any:
    """``build()`` the scenario ``name`` on ``env``, or on SQLite copy it from the first test of
    this process that built it: the database file and every file the build wrote in ``env.tmp``.

    Many tests start from the same few scenarios; building each through the CLI cost seconds a
    test. PostgreSQL builds every time, so both databases still run each scenario end to end.
    """
    if not (env.snapshots and env.url.startswith("sqlite:///")):
        return build()
    database = Path(env.url.removeprefix("sqlite:///"))
    saved = _SNAPSHOTS.get(name)
    if saved is None:
        value = build()
        with sqlite3.connect(database) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        store = Path(tempfile.mkdtemp(prefix=f"spotcheck-{name}-"))
        shutil.copyfile(database, store / "database")
        shutil.copytree(env.tmp, store / "tmp", ignore=shutil.ignore_patterns(f"{database.name}*"))
        _SNAPSHOTS[name] = (store, copy.deepcopy(value), frozenset(env.inspectors))
        return value
    store, value, inspectors = saved
    for leftover in database.parent.glob(f"{database.name}*"):
        leftover.unlink()
    shutil.copyfile(store / "database", database)
    shutil.copytree(store / "tmp", env.tmp, dirs_exist_ok=True)
    env.inspectors |= inspectors
    return copy.deepcopy(value)


def _option(args: Sequence[str], name: str) -> str | None:
    for i, token in enumerate(args):
        if token == name and i + 1 < len(args):
            return args[i + 1]
        if token.startswith(name + "="):
            return token.split("=", 1)[1]
    return None


def _first_inspector(args: Sequence[str]) -> str | None:
    """The 录入人员编号 of the first row of a results file (``result import FILE``)."""
    from credit.tabular import open_table

    files = [a for a in args if a.endswith((".csv", ".xlsx")) and Path(a).is_file()]
    if not files:
        return None
    try:
        with open_table(Path(files[0]), _option(args, "--sheet")) as table:
            header = [str(h or "").strip() for h in table.header]
            column = next((i for i, h in enumerate(header) if h in ("inspector", "录入人员编号", "inspector_no", "inspector_id", "检查人员编号")), None)
            for _, cells in table.rows:
                return str(cells[column]).strip() if column is not None and column < len(cells) and cells[column] else None
    except Exception:  # a malformed file is what the test is about: let the command say so
        return None
    return None


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Env:
    """A database migrated to head, with the users of USERS."""
    e = Env(database_url, tmp_path)
    e.run("db", "upgrade")
    return e


@pytest.fixture
def make_uscc() -> Callable[[int, str], str]:
    """Valid USCCs from a serial number: ``make_uscc(7)`` → 9150010600000000 7 + check."""
    from stdnum.cn import uscc

    def make(serial: int, district: str = "500106", kind: str = "1") -> str:
        body = f"9{kind}{district}{serial:09d}"
        return body + uscc.calc_check_digit(body)

    return make
