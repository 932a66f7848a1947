"""Shared fixtures: a migrated database on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

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


@dataclass
class Env:
    """A database URL plus helpers to run the CLI against it."""

    url: str
    tmp: Path

    def run(self, *args: str, expect: int | None = 0) -> Result:
        runner = CliRunner()
        result = runner.invoke(cli, ["--database-url", self.url, "--log-format", "json", *args], catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        return result

    def json(self, *args: str, expect: int = 0) -> Any:
        return json.loads(self.run(*args, "--json", expect=expect).stdout)

    def csv(self, name: str, header: Sequence[str], rows: Sequence[Sequence[Any]], encoding: str = "utf-8") -> Path:
        path = self.tmp / name
        with path.open("w", encoding=encoding, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    def scalar(self, sql: str) -> Any:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar()
        finally:
            engine.dispose()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Env:
    """A database migrated to head."""
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
