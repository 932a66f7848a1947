"""`spotcheck db grant`: PostgreSQL group roles that match the application roles, checked by
connecting as their logins; and the pure statement builder of credit/db_roles.py."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy import exc as sa_exc

from credit import db_roles
from credit.db import make_engine
from credit.db_grants import grant_roles
from credit.db_roles import DatabaseRoleError
from inspection.draw_concurrency import LOCK_SPACE
from tests.conftest import Env, postgres_schema

AUDIT_TABLES = ("audit_events", "audit_rows", "audit_head")
MODEL_MODULES = ("credit.models", "credit.grading_models", "inspection.models", "inspection.task_models", "inspection.result_models")


# The pure mapping and statement builder ----------------------------------------------------------


class TestMapping:
    def test_every_model_table_is_named(self) -> None:
        """Every table of the models is in the mapping, so a new table gets a deliberate decision;
        the mapping names no table the models lack, apart from the ones being added now."""
        for module in MODEL_MODULES:
            importlib.import_module(module)
        if importlib.util.find_spec("credit.audit_models") is not None:  # the audit trail and users, once added
            importlib.import_module("credit.audit_models")
        from credit.db import Base

        model_tables = set(Base.metadata.tables) - {"alembic_version"}
        mapped = db_roles.mapped_tables() - set(db_roles.READ_ONLY_TABLES)
        assert sorted(model_tables - mapped) == [], "tables in no write group: add them to credit/db_roles.py"
        extra = mapped - model_tables
        assert extra <= db_roles.PENDING_TABLES, f"the mapping names tables no model has: {sorted(extra - db_roles.PENDING_TABLES)}"
        if extra:
            pytest.skip(f"tables named in credit/db_roles.py but not yet in the models (being added): {', '.join(sorted(extra))}")

    def test_roles_are_the_application_roles(self) -> None:
        """One group role per application role of credit/roles.py."""
        from credit.roles import Role

        assert db_roles.ROLES == tuple(role.value for role in Role)

    def test_the_auditor_writes_nothing(self) -> None:
        """The auditor's role has no write privilege anywhere."""
        assert db_roles.WRITES["auditor"] == {}

    def test_the_audit_trail_is_append_only(self) -> None:
        """No role may UPDATE or DELETE audit events or rows; every writer may append and move the head."""
        for role, writes in db_roles.WRITES.items():
            for table in ("audit_events", "audit_rows"):
                assert writes.get(table) == (None if role == "auditor" else ("INSERT",))
            assert writes.get("audit_head") == (None if role == "auditor" else ("INSERT", "UPDATE"))

    def test_reviewer_only_adds_credit_records(self) -> None:
        """Publication feeds results into the credit records by adding them, never by editing."""
        assert db_roles.WRITES["reviewer"]["credit_records"] == ("INSERT",)

    def test_pure(self) -> None:
        """The mapping module imports no SQLAlchemy."""
        code = "import sys, credit.db_roles; assert 'sqlalchemy' not in sys.modules"
        subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


class TestStatements:
    def test_quoting_of_odd_names(self) -> None:
        """Identifiers are always double-quoted, inner double quotes doubled."""
        statements = db_roles.grant_statements('p"x', "Sch ema", ['odd"table', "departments"])
        assert 'GRANT SELECT ON TABLE "Sch ema"."odd""table" TO "p""x_planner", "p""x_inspector", "p""x_reviewer", "p""x_auditor", "p""x_admin"' in statements
        assert 'GRANT INSERT, UPDATE, DELETE ON TABLE "Sch ema"."departments" TO "p""x_planner"' in statements
        assert 'GRANT USAGE ON SCHEMA "Sch ema" TO "p""x_planner", "p""x_inspector", "p""x_reviewer", "p""x_auditor", "p""x_admin"' in statements
        assert db_roles.quote_ident('a"; DROP TABLE x; --') == '"a""; DROP TABLE x; --"'

    def test_leftovers_are_read_only(self) -> None:
        """A table in no group is read by every role and written by none, and is reported."""
        statements = db_roles.grant_statements("p", "s", ["mystery", "alembic_version", "departments"])
        assert [s for s in statements if '"mystery"' in s] == [
            'REVOKE ALL ON TABLE "s"."mystery" FROM "p_planner", "p_inspector", "p_reviewer", "p_auditor", "p_admin"',
            'GRANT SELECT ON TABLE "s"."mystery" TO "p_planner", "p_inspector", "p_reviewer", "p_auditor", "p_admin"',
        ]
        assert db_roles.read_only_tables(["mystery", "alembic_version", "departments"]) == ["mystery"]

    def test_revoke_before_grant(self) -> None:
        """Everything is revoked before anything is granted, so a re-run narrows."""
        statements = db_roles.grant_statements("p", "s", ["departments", "audit_events"], {"departments": ["departments_id_seq"]})
        kinds = [s.split()[0] for s in statements[2:]]
        assert kinds == sorted(kinds, key=lambda k: k != "REVOKE")
        assert 'REVOKE ALL ON SEQUENCE "s"."departments_id_seq" FROM "p_planner", "p_inspector", "p_reviewer", "p_auditor", "p_admin"' in statements

    def test_absent_tables_are_skipped(self) -> None:
        """Only existing tables are granted on; the mapping's others are reported as absent."""
        statements = db_roles.grant_statements("p", "s", ["departments"])
        assert not any('"users"' in s or '"audit_' in s for s in statements)
        assert "users" in db_roles.absent_tables(["departments"])

    def test_audit_grants(self) -> None:
        """Writers append to the audit trail and move its head; nobody updates or deletes it."""
        statements = db_roles.grant_statements("p", "s", AUDIT_TABLES)
        for writer in db_roles.WRITER_ROLES:
            assert f'GRANT INSERT ON TABLE "s"."audit_events" TO "p_{writer}"' in statements
            assert f'GRANT INSERT ON TABLE "s"."audit_rows" TO "p_{writer}"' in statements
            assert f'GRANT INSERT, UPDATE ON TABLE "s"."audit_head" TO "p_{writer}"' in statements
        granted = [s for s in statements if s.startswith("GRANT") and '"audit_' in s]
        assert not any("DELETE" in s for s in granted)
        # The auditor is named only in the SELECT granted to every role.
        assert all(s.startswith("GRANT SELECT ON") for s in granted if '"p_auditor"' in s)

    def test_sequences_follow_insert(self) -> None:
        """A role that may insert into a table may draw its ids; others may not."""
        statements = db_roles.grant_statements("p", "s", ["credit_records"], {"credit_records": ["credit_records_id_seq"]})
        granted = [s for s in statements if s.startswith("GRANT USAGE, SELECT ON SEQUENCE")]
        assert granted == [
            'GRANT USAGE, SELECT ON SEQUENCE "s"."credit_records_id_seq" TO "p_planner"',
            'GRANT USAGE, SELECT ON SEQUENCE "s"."credit_records_id_seq" TO "p_reviewer"',
        ]

    def test_create_missing_roles_only(self) -> None:
        assert db_roles.create_role_statements("p", {"p_planner", "p_admin"}) == [
            'CREATE ROLE "p_inspector" NOLOGIN', 'CREATE ROLE "p_reviewer" NOLOGIN', 'CREATE ROLE "p_auditor" NOLOGIN',
        ]

    def test_login(self) -> None:
        """A login is created or altered, leaves its other group roles and joins one."""
        assert db_roles.login_statements("p", "wang", "auditor", exists=False, password="it's") == [
            "CREATE ROLE \"wang\" WITH LOGIN INHERIT PASSWORD 'it''s'", 'GRANT "p_auditor" TO "wang"',
        ]
        assert db_roles.login_statements("p", "wang", "auditor", exists=True, member_of={"p_planner", "other"}) == [
            'ALTER ROLE "wang" WITH LOGIN INHERIT', 'REVOKE "p_planner" FROM "wang"', 'GRANT "p_auditor" TO "wang"',
        ]

    @pytest.mark.parametrize(
        ("prefix", "login", "role", "message"),
        [
            ("p", "wang", "nobody", "unknown role 'nobody'"),
            ("p", "p_admin", "auditor", "is one of the group roles"),
            ("p" * 60, "wang", "auditor", "longer than 63 bytes"),
            ("p", "", "auditor", "invalid role name"),
        ],
    )
    def test_refused(self, prefix: str, login: str, role: str, message: str) -> None:
        with pytest.raises(DatabaseRoleError, match=message):
            db_roles.login_statements(prefix, login, role, exists=False)


# The command, on SQLite and on PostgreSQL ---------------------------------------------------------


def test_sqlite_has_no_roles(tmp_path: Path) -> None:
    """On SQLite the command explains what to do instead and exits 1."""
    result = Env(f"sqlite:///{tmp_path / 'test.db'}", tmp_path).run("db", "grant", expect=1)
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        "Error: SQLite has no database roles: protect the database file with file permissions instead"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--login", "x", "--role", "nobody"], "Invalid value for '--role'"),
        (["--login", "x"], "--login and --role go together"),
        (["--password", "x"], "--password needs --login and --role"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    """Unknown roles and incomplete logins are usage errors (exit 2)."""
    result = Env(f"sqlite:///{tmp_path / 'test.db'}", tmp_path).run("db", "grant", *args, expect=2)
    assert message in result.stderr


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[tuple[Env, str]]:
    """A migrated PostgreSQL schema and a unique role prefix; the prefix's roles are dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    with postgres_schema() as url:
        env = Env(url, tmp_path)
        try:
            env.run("db", "upgrade")
            yield env, prefix
        finally:
            _drop_roles(url, prefix)


def _drop_roles(url: str, prefix: str) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            names = conn.execute(text("SELECT rolname FROM pg_roles WHERE starts_with(rolname, :p)"), {"p": f"{prefix}_"}).scalars().all()
            for name in names:
                quoted = db_roles.quote_ident(name)
                conn.execute(text(f"DROP OWNED BY {quoted}"))
                conn.execute(text(f"DROP ROLE IF EXISTS {quoted}"))
    finally:
        admin.dispose()


def login_url(url: str, login: str) -> str:
    """The same database and search_path, connected as ``login``."""
    return make_url(url).set(username=login, password=None).render_as_string(hide_password=False)


def execute(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def assert_denied(engine: Engine, sql: str) -> None:
    """``sql`` fails with insufficient_privilege (SQLSTATE 42501)."""
    from psycopg.errors import InsufficientPrivilege

    with engine.connect() as conn:
        with pytest.raises(sa_exc.ProgrammingError) as info:
            conn.execute(text(sql))
    assert isinstance(info.value.orig, InsufficientPrivilege), sql
    assert info.value.orig.sqlstate == "42501"


def existing_tables(env: Env) -> set[str]:
    return {r[0] for r in execute(env.url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}


def grants(env: Env, prefix: str) -> set[tuple[str, str, str]]:
    """(object, grantee, privilege) for every privilege of a role of ``prefix`` in the schema."""
    rows = execute(env.url, (
        "SELECT c.relname, r.rolname, a.privilege_type FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a"
        " JOIN pg_roles r ON r.oid = a.grantee"
        f" WHERE n.nspname = current_schema() AND starts_with(r.rolname, '{prefix}_')"
        " UNION ALL SELECT 'schema ' || n.nspname, r.rolname, a.privilege_type FROM pg_namespace n"
        " CROSS JOIN LATERAL aclexplode(n.nspacl) a JOIN pg_roles r ON r.oid = a.grantee"
        f" WHERE n.nspname = current_schema() AND starts_with(r.rolname, '{prefix}_')"
    ))
    return {(obj, grantee, privilege) for obj, grantee, privilege in rows}


def memberships(env: Env, prefix: str) -> set[tuple[str, str]]:
    """(member, group) among the roles of ``prefix``."""
    return set(execute(env.url, (
        "SELECT u.rolname, g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
        f" JOIN pg_roles u ON u.oid = m.member WHERE starts_with(u.rolname, '{prefix}_')"
    )))


def expected_grants(env: Env, prefix: str) -> set[tuple[str, str, str]]:
    """The privileges credit/db_roles.py maps to, for the tables and sequences the schema has."""
    tables = existing_tables(env)
    schema = execute(env.url, "SELECT current_schema()")[0][0]
    owned = execute(env.url, (
        "SELECT t.relname, s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid"
        " AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass JOIN pg_class t ON t.oid = d.refobjid"
        " WHERE s.relkind = 'S' AND s.relnamespace = current_schema()::regnamespace AND d.deptype IN ('a', 'i')"
    ))
    out = set()
    for role in db_roles.ROLES:
        name = f"{prefix}_{role}"
        out.add((f"schema {schema}", name, "USAGE"))
        out |= {(table, name, "SELECT") for table in tables}
        for table, privileges in db_roles.WRITES[role].items():
            if table in tables:
                out |= {(table, name, p) for p in privileges}
                if "INSERT" in privileges:
                    out |= {(seq, name, p) for t, seq in owned if t == table for p in ("USAGE", "SELECT")}
    return out


@pytest.mark.postgres
class TestGrantOnPostgres:
    def test_grants_match_the_mapping(self, pg: tuple[Env, str]) -> None:
        """Five NOLOGIN roles get exactly the mapped privileges on the tables that exist."""
        env, prefix = pg
        report = env.json("db", "grant", "--prefix", prefix)
        assert grants(env, prefix) == expected_grants(env, prefix)
        assert {r["name"] for r in report["roles"].values()} == {f"{prefix}_{r}" for r in db_roles.ROLES}
        assert all(r["created"] for r in report["roles"].values())
        assert report["read_only"] == []
        assert set(report["absent"]) == db_roles.mapped_tables() - existing_tables(env)
        assert report["roles"]["reviewer"]["writes"]["credit_records"] == ["INSERT"]
        assert report["roles"]["auditor"]["writes"] == {}
        logins = execute(env.url, f"SELECT rolname, rolcanlogin FROM pg_roles WHERE starts_with(rolname, '{prefix}_')")
        assert sorted(logins) == sorted((f"{prefix}_{r}", False) for r in db_roles.ROLES)

    def test_auditor_login_reads_but_cannot_write(self, pg: tuple[Env, str]) -> None:
        """Connected as an auditor's login, SELECT works and every write is refused with 42501."""
        env, prefix = pg
        login = f"{prefix}_aud"
        out = env.run("db", "grant", "--prefix", prefix, "--login", login, "--role", "auditor").stdout
        assert f"login {login}: created, member of {prefix}_auditor" in out
        as_auditor = Env(login_url(env.url, login), env.tmp)
        assert "at head" in as_auditor.run("db", "current").stdout
        engine = create_engine(as_auditor.url)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM enterprises")).scalar() == 0
                assert conn.execute(text("SELECT current_user")).scalar() == login
            assert_denied(engine, "INSERT INTO enterprises SELECT * FROM enterprises WHERE false")
            assert_denied(engine, "UPDATE enterprises SET name = name")
            assert_denied(engine, "DELETE FROM enterprises")
            assert_denied(engine, "TRUNCATE enterprises")
            assert_denied(engine, "INSERT INTO credit_records SELECT * FROM credit_records WHERE false")
            for table in sorted(set(AUDIT_TABLES) & existing_tables(env)):
                assert_denied(engine, f"INSERT INTO {table} SELECT * FROM {table} WHERE false")
                assert_denied(engine, f"UPDATE {table} SET {_first_column(env, table)} = {_first_column(env, table)}")
                assert_denied(engine, f"DELETE FROM {table}")
        finally:
            engine.dispose()

    def test_planner_login_writes_its_tables_only(self, pg: tuple[Env, str]) -> None:
        """A planner adds departments (drawing ids from the sequence) but cannot publish or edit the audit trail."""
        env, prefix = pg
        login = f"{prefix}_plan"
        env.run("db", "grant", "--prefix", prefix, "--login", login, "--role", "planner")
        engine = create_engine(login_url(env.url, login))
        try:
            with engine.begin() as conn:
                new_id = conn.execute(text("INSERT INTO departments (code, name) VALUES ('SCJ', '市场监管局') RETURNING id")).scalar()
                conn.execute(text("UPDATE departments SET name = '区市场监管局' WHERE id = :id"), {"id": new_id})
                conn.execute(text("DELETE FROM departments WHERE id = :id"), {"id": new_id})
            with engine.begin() as conn:  # a draw waits for draws of its districts (inspection.draw_concurrency)
                conn.execute(text("SELECT pg_advisory_xact_lock_shared(:space, 0), pg_advisory_xact_lock(:space, 500106)"), {"space": LOCK_SPACE})
            assert_denied(engine, "INSERT INTO publications SELECT * FROM publications WHERE false")
            assert_denied(engine, "UPDATE visit_results SET state = state")
            for table in sorted({"audit_events", "audit_rows"} & existing_tables(env)):
                assert_denied(engine, f"UPDATE {table} SET {_first_column(env, table)} = {_first_column(env, table)}")
                assert_denied(engine, f"DELETE FROM {table}")
            if "audit_head" in existing_tables(env):
                assert_denied(engine, "DELETE FROM audit_head")
        finally:
            engine.dispose()

    def test_reviewer_adds_credit_records_but_does_not_edit_them(self, pg: tuple[Env, str]) -> None:
        env, prefix = pg
        login = f"{prefix}_rev"
        env.run("db", "grant", "--prefix", prefix, "--login", login, "--role", "reviewer")
        engine = create_engine(login_url(env.url, login))
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO credit_records SELECT * FROM credit_records WHERE false"))
                conn.execute(text("SELECT nextval('credit_records_id_seq')"))
                conn.execute(text("INSERT INTO publications SELECT * FROM publications WHERE false"))
            assert_denied(engine, "UPDATE credit_records SET kind = kind")
            assert_denied(engine, "DELETE FROM credit_records")
            assert_denied(engine, "INSERT INTO departments (code, name) VALUES ('X', 'X')")
        finally:
            engine.dispose()

    def test_rerun_is_idempotent_and_narrows(self, pg: tuple[Env, str]) -> None:
        """A second run leaves the same grants, and takes away what was granted by hand in between."""
        env, prefix = pg
        login = f"{prefix}_aud"
        env.run("db", "grant", "--prefix", prefix, "--login", login, "--role", "auditor")
        first_grants, first_members = grants(env, prefix), memberships(env, prefix)
        assert first_members == {(login, f"{prefix}_auditor")}

        execute(env.url, (
            f'GRANT INSERT, TRUNCATE ON enterprises TO "{prefix}_auditor"; GRANT DELETE ON credit_records TO "{prefix}_reviewer";'
            f' GRANT CREATE ON SCHEMA {execute(env.url, "SELECT current_schema()")[0][0]} TO "{prefix}_planner";'
            f' GRANT "{prefix}_planner" TO "{login}"'
        ))
        assert grants(env, prefix) != first_grants

        report = env.json("db", "grant", "--prefix", prefix, "--login", login, "--role", "auditor")
        assert grants(env, prefix) == first_grants == expected_grants(env, prefix)
        assert memberships(env, prefix) == first_members
        assert not any(r["created"] for r in report["roles"].values())
        assert report["login"] == {
            "name": login, "role": "auditor", "group": f"{prefix}_auditor", "created": False, "password_set": False,
            "revoked": [f"{prefix}_planner"],
        }
        out = env.run("db", "grant", "--prefix", prefix).stdout
        assert f"roles existing: {', '.join(f'{prefix}_{r}' for r in db_roles.ROLES)}" in out
        assert grants(env, prefix) == first_grants

    def test_new_table_is_read_only_and_reported(self, pg: tuple[Env, str]) -> None:
        """A table in no write group is readable by all, writable by none, and named in the output."""
        env, prefix = pg
        execute(env.url, 'CREATE TABLE "odd""name" (id serial PRIMARY KEY)')
        out = env.run("db", "grant", "--prefix", prefix).stdout
        assert 'read-only: not in any write group: odd"name' in out
        assert {(g, p) for t, g, p in grants(env, prefix) if t == 'odd"name'} == {(f"{prefix}_{r}", "SELECT") for r in db_roles.ROLES}
        assert not {g for t, g, p in grants(env, prefix) if t == 'odd"name_id_seq'}

    def test_login_password_is_quoted(self, pg: tuple[Env, str]) -> None:
        """A password with quotes and percent signs is stored, and never echoed."""
        env, prefix = pg
        login = f"{prefix}_pw"
        secret = "it's 100%s \"x\""
        result = env.run("db", "grant", "--prefix", prefix, "--login", login, "--role", "admin", "--password", secret)
        assert secret not in result.stdout and secret not in result.stderr
        assert "password set" in result.stdout
        stored = execute(env.url, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{login}'")[0][0]
        assert stored.startswith(("SCRAM-SHA-256$", "md5"))

    def test_service_runs_in_the_callers_transaction(self, pg: tuple[Env, str]) -> None:
        """On a Connection in a transaction, the grants are the caller's to commit or roll back."""
        env, prefix = pg
        engine = make_engine(env.url)
        try:
            with engine.connect() as conn:
                conn.begin()
                report = grant_roles(conn, prefix, login=f"{prefix}_x", role="inspector")
                assert report.login is not None and report.login.created
                assert conn.execute(text(f"SELECT count(*) FROM pg_roles WHERE starts_with(rolname, '{prefix}_')")).scalar() == 6
                conn.rollback()
        finally:
            engine.dispose()
        assert execute(env.url, f"SELECT count(*) FROM pg_roles WHERE starts_with(rolname, '{prefix}_')") == [(0,)]

    def test_account_without_createrole(self, pg: tuple[Env, str]) -> None:
        """An account that cannot create roles, or does not own the tables, gets a clear error."""
        env, prefix = pg
        weak = f"{prefix}_weak"
        schema = execute(env.url, "SELECT current_schema()")[0][0]
        execute(env.url, f'CREATE ROLE "{weak}" LOGIN')
        as_weak = Env(login_url(env.url, weak), env.tmp)
        result = as_weak.run("db", "grant", "--prefix", prefix, expect=1)
        assert f"Error: the connected account {weak} lacks CREATEROLE" in result.stderr

        execute(env.url, f'ALTER ROLE "{weak}" CREATEROLE')
        result = as_weak.run("db", "grant", "--prefix", prefix, expect=1)
        assert f"Error: no schema of the search_path ({schema}) exists that {weak} may use" in result.stderr

        execute(env.url, f'GRANT USAGE ON SCHEMA "{schema}" TO "{weak}"')
        result = as_weak.run("db", "grant", "--prefix", prefix, expect=1)
        assert f"Error: the connected account {weak} does not own " in result.stderr
        # Nothing was created: the run was one transaction.
        assert execute(env.url, f"SELECT count(*) FROM pg_roles WHERE rolname = '{prefix}_planner'") == [(0,)]


def _first_column(env: Env, table: str) -> str:
    return execute(env.url, (
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        f" AND table_name = '{table}' ORDER BY ordinal_position LIMIT 1"
    ))[0][0]


def test_grant_help_names_roles() -> None:
    """--role lists the application roles."""
    result = Env("sqlite://", Path(".")).run("db", "grant", "--help")
    assert "[planner|inspector|reviewer|auditor|admin]" in result.stdout
