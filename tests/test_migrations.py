"""Migrations are the only way the schema is made: up, down, up again, and no drift at head."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text

from credit.db import make_engine
from tests.conftest import Env


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

    def test_commands_refuse_a_database_behind_head(self, database_url: str, tmp_path) -> None:
        """Any data command on an unmigrated database says to run `spotcheck db upgrade`."""
        env = Env(database_url, tmp_path)
        path = env.csv("departments.csv", ["code", "name"], [["SCJG", "市场监督管理局"]])
        result = env.run("import", "departments", str(path), expect=1)
        assert "Error: the database has no schema yet: run `spotcheck db upgrade`" in result.stderr

    def test_unknown_revision_is_a_clean_error(self, env: Env) -> None:
        result = env.run("db", "downgrade", "nosuchrev", expect=1)
        assert "Error:" in result.stderr and "Traceback" not in result.stderr


def test_pure_core_modules_do_not_import_sqlalchemy() -> None:
    """Field parsers and table readers stay free of SQLAlchemy (a pure core)."""
    code = "import sys, credit.fields, credit.tabular, credit.labels; assert 'sqlalchemy' not in sys.modules"
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
