"""Migrations are the only way the schema is made: up, down, up again, and no drift at head."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint, inspect, text
from sqlalchemy.exc import IntegrityError

import credit.grading_models  # noqa: F401  (registers the tables)
import credit.models  # noqa: F401
import inspection.models  # noqa: F401
import inspection.result_models  # noqa: F401
import inspection.task_models  # noqa: F401
from credit.db import Base, make_engine
from tests.conftest import Env

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class TestMigrations:
    def test_up_down_up_and_check(self, database_url: str, tmp_path) -> None:
        """Upgrade, downgrade to base and upgrade again leave a drift-free schema at head."""
        env = Env(database_url, tmp_path)
        assert "base (empty)" in env.run("db", "current").stdout
        env.run("db", "upgrade")
        assert "at head" in env.run("db", "current").stdout
        env.run("db", "check")
        env.run("db", "downgrade", "base")
        assert env.scalar("SELECT count(*) FROM alembic_version") == 0
        env.run("db", "upgrade")
        assert "no drift" in env.run("db", "check").stdout
        # The first migration seeds the Chongqing districts.
        assert env.scalar("SELECT name FROM districts WHERE code = '500106'") == "沙坪坝区"
        assert env.scalar("SELECT count(*) FROM districts") == 38

    def test_check_reports_drift(self, env: Env) -> None:
        """A column added behind alembic's back makes `db check` exit 1."""
        engine = make_engine(env.url)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE departments ADD COLUMN stray VARCHAR(10)"))
        engine.dispose()
        result = env.run("db", "check", expect=1)
        assert "schema drift" in result.stderr

    def test_check_finds_a_missing_expression_index(self, env: Env) -> None:
        """alembic compares no index on an expression on SQLite; `db check` looks for them by
        name there, and says nothing about alembic skipping them."""
        env.run("db", "upgrade")
        clean = env.run("db", "check")
        assert "no drift" in clean.stdout and "expression-based" not in clean.stderr
        engine = make_engine(env.url)
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_enterprises_draw"))
        engine.dispose()
        result = env.run("db", "check", expect=1)
        # PostgreSQL's reflection reads it, so alembic reports it there itself.
        assert "schema drift" in result.stderr and "ix_enterprises_draw" in result.stderr

    def test_check_constraints_match_the_models(self, env: Env) -> None:
        """alembic's drift check ignores CHECK constraints, so compare them here: same names, and
        on SQLite (which keeps the text as written) the same text."""
        engine = make_engine(env.url)
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            expected = {
                f"ck_{table.name}_{c.name}".replace(f"ck_{table.name}_ck_", "ck_"): " ".join(str(c.sqltext).split())
                for c in table.constraints
                if isinstance(c, CheckConstraint)
            }
            found = {c["name"]: " ".join(c["sqltext"].split()) for c in inspector.get_check_constraints(table.name)}
            assert set(found) == set(expected), table.name
            if engine.dialect.name == "sqlite":
                assert found == expected, table.name
        engine.dispose()

    def test_enum_columns_refuse_unknown_values(self, env: Env) -> None:
        """The enum CHECKs (OR chains since revision 5f0c2b7e41a9) still refuse a value outside the enum."""
        for kind in ("departments", "items", "enterprises", "records"):
            env.run("import", kind, str(EXAMPLES / f"{kind}.csv"))
        engine = make_engine(env.url)
        for table, column in [("credit_records", "severity"), ("enterprises", "status"), ("check_items", "kind")]:
            with engine.connect() as conn:
                with pytest.raises(IntegrityError, match=f"ck_{table}_"):
                    conn.execute(text(f"UPDATE {table} SET {column} = 'no_such_value'"))
                conn.rollback()
                # NULL stays allowed where the column allows it, as with the IN list before.
                if column == "severity":
                    conn.execute(text("UPDATE credit_records SET severity = NULL WHERE kind != 'penalty'"))
        engine.dispose()

    def test_commands_refuse_a_database_behind_head(self, database_url: str, tmp_path) -> None:
        """Any data command on an unmigrated database says to run `spotcheck db upgrade`."""
        env = Env(database_url, tmp_path)
        path = env.csv("departments.csv", ["code", "name"], [["SCJG", "市场监督管理局"]])
        result = env.run("import", "departments", str(path), expect=1)
        assert "Error: the database has no schema yet: run `spotcheck db upgrade`" in result.stderr

    def test_downgrade_below_the_packs_is_refused_while_the_trail_holds_some(self, env: Env) -> None:
        """Without audit_packs the rows an import packed could no longer be verified."""
        env.run("import", "enterprises", str(EXAMPLES / "enterprises.csv"))
        assert env.scalar("SELECT count(*) FROM audit_packs") > 0
        result = env.run("db", "downgrade", "6229d25cb4eb", expect=1)
        assert "audit_packs holds" in result.stderr and "Traceback" not in result.stderr
        assert "at head" in env.run("db", "current").stdout
        assert env.json("audit", "verify", user="auditor")["intact"]

    def test_unknown_revision_is_a_clean_error(self, env: Env) -> None:
        result = env.run("db", "downgrade", "nosuchrev", expect=1)
        assert "Error:" in result.stderr and "Traceback" not in result.stderr


def test_pure_core_modules_do_not_import_sqlalchemy() -> None:
    """Field parsers, table readers, the policy and the grading core stay free of SQLAlchemy (a pure core)."""
    code = "import sys, credit.fields, credit.tabular, credit.labels, credit.policy, credit.scoring; assert 'sqlalchemy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


class TestConnectionErrors:
    def test_malformed_url_is_a_usage_error(self, tmp_path) -> None:
        result = Env("nosuchdriver://x", tmp_path).run("db", "current", expect=2)
        assert "invalid --database-url" in result.stderr and "Traceback" not in result.stderr

    def test_unreachable_server_is_one_line(self, tmp_path) -> None:
        env = Env("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2", tmp_path)
        result = env.run("import", "departments", str(env.csv("d.csv", ["code", "name"], [["A", "B"]])), expect=1)
        assert result.stderr.count("Error: database error:") == 1 and "Traceback" not in result.stderr

    def test_unwritable_sqlite_path(self, tmp_path) -> None:
        result = Env(f"sqlite:///{tmp_path}/no/such/dir/x.db", tmp_path).run("db", "upgrade", expect=1)
        assert "Error: database error: unable to open database file" in result.stderr
