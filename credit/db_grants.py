"""Create the PostgreSQL group roles of :mod:`credit.db_roles` and grant them the mapped privileges
on the current schema, in one transaction."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy import exc as sa_exc

from credit import db_roles
from credit.db_roles import DatabaseRoleError

DEFAULT_PREFIX = "spotcheck"

# SQLSTATE 42501, insufficient_privilege: the connected account may not do what was asked.
INSUFFICIENT_PRIVILEGE = "42501"


class NoDatabaseRoles(DatabaseRoleError):
    """The database has no roles to grant (SQLite)."""


class GrantPrivilegeError(DatabaseRoleError):
    """The connected account may not create the roles or grant on the schema's tables."""


@dataclass(frozen=True)
class RoleGrants:
    """One group role: whether this run created it, and what it may write besides reading."""

    role: str
    name: str
    created: bool
    writes: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class LoginGrant:
    """The LOGIN role made a member of one group role."""

    name: str
    role: str
    group: str
    created: bool
    password_set: bool
    revoked: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GrantReport:
    """What ``db grant`` did: roles, tables read by all, writes per role, and the leftovers."""

    schema: str
    prefix: str
    roles: list[RoleGrants]
    tables: list[str]
    read_only: list[str]
    absent: list[str]
    sequences: list[str]
    login: LoginGrant | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "prefix": self.prefix,
            "roles": {
                r.role: {"name": r.name, "created": r.created, "select": self.tables, "writes": {t: list(p) for t, p in r.writes.items()}}
                for r in self.roles
            },
            "read_only": self.read_only,
            "absent": self.absent,
            "sequences": self.sequences,
            "login": None if self.login is None else {
                "name": self.login.name, "role": self.login.role, "group": self.login.group, "created": self.login.created,
                "password_set": self.login.password_set, "revoked": self.login.revoked,
            },
        }


def grant_roles(
    bind: Engine | Connection,
    prefix: str = DEFAULT_PREFIX,
    *,
    login: str | None = None,
    role: str | None = None,
    password: str | None = None,
) -> GrantReport:
    """Create the group roles ``{prefix}_{role}`` if missing and (re)grant them on the current schema.

    The current schema is the first existing schema of the connection's search_path. Every role
    reads every table; writes follow :data:`credit.db_roles.WRITES`, for the tables that exist.
    With ``login`` and ``role``, the LOGIN role ``login`` is created or altered and made a member
    of ``{prefix}_{role}`` (and of no other group role of ``prefix``).

    Runs in one transaction: its own on an Engine, or the Connection's (begun if none is).
    """
    dialect = bind.dialect.name
    if dialect == "sqlite":
        raise NoDatabaseRoles("SQLite has no database roles: protect the database file with file permissions instead")
    if dialect != "postgresql":
        raise NoDatabaseRoles(f"database roles are granted on PostgreSQL only, not on {dialect}")
    if (login is None) != (role is None):
        raise DatabaseRoleError("a login needs a role and a role needs a login: give both or neither")
    if password is not None and login is None:
        raise DatabaseRoleError("a password is set on a login: give the login and its role too")
    # Names are checked before the database is touched.
    groups = {r: db_roles.role_name(prefix, r) for r in db_roles.ROLES}
    if login is not None:
        db_roles.login_statements(prefix, login, role or "", exists=False)

    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return _grant(conn, prefix, groups, login, role, password)
    with nullcontext() if bind.in_transaction() else bind.begin():
        return _grant(bind, prefix, groups, login, role, password)


def _grant(
    conn: Connection, prefix: str, groups: dict[str, str], login: str | None, role: str | None, password: str | None,
) -> GrantReport:
    account, superuser, createrole = conn.execute(
        text("SELECT rolname, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
    ).one()
    if not (superuser or createrole):
        raise GrantPrivilegeError(
            f"the connected account {account} lacks CREATEROLE: connect as a superuser or an account"
            f" with CREATEROLE (ALTER ROLE {account} CREATEROLE) that owns the schema's tables"
        )
    schema = conn.execute(text("SELECT current_schema()")).scalar()
    if schema is None:
        # current_schema() skips schemas that are missing or that the account may not use.
        path = conn.execute(text("SELECT current_setting('search_path')")).scalar()
        raise DatabaseRoleError(
            f"no schema of the search_path ({path}) exists that {account} may use:"
            " run `spotcheck db upgrade` first, or connect as the schema's owner"
        )
    tables = sorted(inspect(conn).get_table_names(schema=schema))
    if not superuser:
        _require_ownership(conn, account, schema)
    sequences = _owned_sequences(conn, schema)

    existing = dict(conn.execute(text("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(:names)"), {"names": list(groups.values())}).all())
    can_login = sorted(name for name, flag in existing.items() if flag)
    if can_login:
        raise DatabaseRoleError(
            f"role {', '.join(can_login)} exists and can log in, but group roles must be NOLOGIN:"
            " choose another prefix, or ALTER ROLE ... NOLOGIN if it is meant to be a group role"
        )

    statements = db_roles.create_role_statements(prefix, existing)
    statements += db_roles.grant_statements(prefix, schema, tables, sequences)
    login_grant = None
    if login is not None and role is not None:
        found = conn.execute(text("SELECT rolname FROM pg_roles WHERE rolname = :name"), {"name": login}).scalar() is not None
        member_of = set(conn.execute(
            text(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
                " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :name"
            ),
            {"name": login},
        ).scalars())
        statements += db_roles.login_statements(prefix, login, role, exists=found, member_of=member_of, password=password)
        revoked = sorted(name for r, name in groups.items() if r != role and name in member_of)
        login_grant = LoginGrant(login, role, groups[role], created=not found, password_set=password is not None, revoked=revoked)

    for statement in statements:
        _execute(conn, account, statement)

    writes = db_roles.table_privileges(tables)
    return GrantReport(
        schema=schema,
        prefix=prefix,
        roles=[RoleGrants(r, groups[r], groups[r] not in existing, writes[r]) for r in db_roles.ROLES],
        tables=tables,
        read_only=db_roles.read_only_tables(tables),
        absent=db_roles.absent_tables(tables),
        sequences=sorted({s for t in tables for s in sequences.get(t, ())}),
        login=login_grant,
    )


def _require_ownership(conn: Connection, account: str, schema: str) -> None:
    """Only an owner grants without a grant option; PostgreSQL would only warn, so check first."""
    foreign = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'S')"
            " AND NOT pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY c.relname"
        ),
        {"schema": schema},
    ).scalars().all()
    schema_owned = conn.execute(
        text("SELECT pg_has_role(current_user, nspowner, 'USAGE') FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
    ).scalar()
    if foreign or not schema_owned:
        objects = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "") if foreign else f"schema {schema}"
        raise GrantPrivilegeError(f"the connected account {account} does not own {objects}: connect as the owner of the schema and its tables")


def _owned_sequences(conn: Connection, schema: str) -> dict[str, list[str]]:
    """table → the sequences behind its serial and identity columns."""
    rows = conn.execute(
        text(
            "SELECT t.relname, s.relname FROM pg_class s"
            " JOIN pg_namespace n ON n.oid = s.relnamespace"
            " JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
            " JOIN pg_class t ON t.oid = d.refobjid"
            " WHERE s.relkind = 'S' AND n.nspname = :schema AND d.deptype IN ('a', 'i') ORDER BY 1, 2"
        ),
        {"schema": schema},
    ).all()
    owned: dict[str, list[str]] = {}
    for table, sequence in rows:
        owned.setdefault(table, []).append(sequence)
    return owned


def _execute(conn: Connection, account: str, statement: str) -> None:
    try:
        # No parameters: the driver sends the text as it is, so a '%' in a password stays one.
        conn.exec_driver_sql(statement)
    except sa_exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            reason = str(exc.orig).strip().splitlines()[0]
            raise GrantPrivilegeError(f"the connected account {account} may not do this: {reason}") from exc
        raise
