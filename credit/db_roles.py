"""Which PostgreSQL group role may write which table, and the SQL that grants it. Pure: no
SQLAlchemy, no I/O; :mod:`credit.db_grants` reads the catalog and runs the statements."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from credit.errors import SpotcheckError


class DatabaseRoleError(SpotcheckError):
    """Database roles cannot be created or granted as asked."""


# The application roles; each gets a NOLOGIN group role named ``{prefix}_{role}``.
ROLES: tuple[str, ...] = ("planner", "inspector", "reviewer", "auditor", "admin")
WRITER_ROLES: tuple[str, ...] = ("planner", "inspector", "reviewer", "admin")

WRITE: tuple[str, ...] = ("INSERT", "UPDATE", "DELETE")
APPEND: tuple[str, ...] = ("INSERT",)  # rows once written are kept as they are
HEAD: tuple[str, ...] = ("INSERT", "UPDATE")  # a single row moved forward, never removed

PLANNER_TABLES: tuple[str, ...] = (
    "districts", "departments", "imports", "enterprises", "credit_records", "grading_runs", "grade_parts", "grade_reasons", "grading_columns",
    "credit_repairs", "inspectors", "inspector_qualifications", "inspector_leaves", "inspector_conflicts",
    "check_items", "holiday_schedules", "plans", "plan_departments", "plan_batches", "tasks", "task_items",
    "draw_attempts", "draws", "visits", "visit_items", "assignment_runs", "assignments", "replacements",
)
INSPECTOR_TABLES: tuple[str, ...] = ("visit_results", "item_results")
REVIEWER_TABLES: tuple[str, ...] = (
    "visit_results", "item_results", "publications", "followup_cases", "followup_items", "followup_steps",
    "rechecks", "evaluations",
)
ADMIN_TABLES: tuple[str, ...] = ("users",)
# The audit trail is append-only for everyone: no role may change or remove what it records.
AUDIT_APPEND_TABLES: tuple[str, ...] = ("audit_events", "audit_rows", "audit_packs")
AUDIT_HEAD_TABLES: tuple[str, ...] = ("audit_head",)
# Known tables that nobody writes through the database roles (alembic writes its own table as
# the schema owner); every role reads them.
READ_ONLY_TABLES: tuple[str, ...] = ("alembic_version",)

_AUDIT_WRITES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(AUDIT_APPEND_TABLES, APPEND),
    **dict.fromkeys(AUDIT_HEAD_TABLES, HEAD),
}

# role → table → write privileges. Every role also gets SELECT on every table of the schema.
WRITES: dict[str, dict[str, tuple[str, ...]]] = {
    "planner": {**dict.fromkeys(PLANNER_TABLES, WRITE), **_AUDIT_WRITES},
    "inspector": {**dict.fromkeys(INSPECTOR_TABLES, WRITE), **_AUDIT_WRITES},
    # Publication feeds results back into the credit records: it adds records, never edits them.
    "reviewer": {**dict.fromkeys(REVIEWER_TABLES, WRITE), "credit_records": APPEND, **_AUDIT_WRITES},
    "auditor": {},
    "admin": {**dict.fromkeys(ADMIN_TABLES, WRITE), **_AUDIT_WRITES},
}

# Tables some engineer is adding right now: named in the mapping before they are in the models.
PENDING_TABLES: frozenset[str] = frozenset({"audit_events", "audit_rows", "audit_packs", "audit_head", "users"})

# PostgreSQL silently truncates longer identifiers, so two long role names could become one.
MAX_IDENTIFIER_BYTES = 63


def mapped_tables() -> frozenset[str]:
    """Every table the mapping names, written by some role or known to be read-only."""
    return frozenset(READ_ONLY_TABLES).union(*(tables for tables in WRITES.values()))


def role_name(prefix: str, role: str) -> str:
    """The group role of application role ``role``: ``{prefix}_{role}``."""
    if role not in ROLES:
        raise DatabaseRoleError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return check_role_name(f"{prefix}_{role}")


def check_role_name(name: str) -> str:
    """``name`` if PostgreSQL keeps it as written, else a :class:`DatabaseRoleError`."""
    if not name or "\x00" in name:
        raise DatabaseRoleError(f"invalid role name {name!r}")
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise DatabaseRoleError(f"role name {name!r} is longer than {MAX_IDENTIFIER_BYTES} bytes; choose a shorter prefix or login")
    return name


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL quoted identifier: always quoted, inner double quotes doubled."""
    if "\x00" in name:
        raise DatabaseRoleError(f"invalid identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as a PostgreSQL string literal (standard_conforming_strings, on since 9.1)."""
    if "\x00" in value:
        raise DatabaseRoleError("a string literal cannot contain a NUL character")
    return "'" + value.replace("'", "''") + "'"


def table_privileges(tables: Iterable[str]) -> dict[str, dict[str, tuple[str, ...]]]:
    """role → existing table → write privileges, for the tables in ``tables`` only."""
    existing = set(tables)
    return {role: {t: privs for t, privs in sorted(WRITES[role].items()) if t in existing} for role in ROLES}


def read_only_tables(tables: Iterable[str]) -> list[str]:
    """Existing tables the mapping does not name: every role reads them, none writes them."""
    return sorted(set(tables) - mapped_tables())


def absent_tables(tables: Iterable[str]) -> list[str]:
    """Tables the mapping names that the database does not have (yet)."""
    return sorted(mapped_tables() - set(tables))


def create_role_statements(prefix: str, existing_roles: Collection[str]) -> list[str]:
    """CREATE ROLE for each group role not in ``existing_roles``."""
    names = [role_name(prefix, role) for role in ROLES]
    return [f"CREATE ROLE {quote_ident(name)} NOLOGIN" for name in names if name not in existing_roles]


def grant_statements(
    prefix: str,
    schema: str,
    tables: Iterable[str],
    sequences: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """The REVOKE and GRANT statements that give the group roles exactly the mapped privileges.

    Everything is revoked first, so a re-run that narrows the mapping takes away what it no
    longer grants, and a second run leaves the same grants as the first.

    Args:
        prefix: group roles are ``{prefix}_{role}``.
        schema: the schema holding ``tables``.
        tables: the tables that exist in ``schema``.
        sequences: table → the sequences it owns (serial and identity columns); a role that
            may INSERT into a table gets USAGE and SELECT on them.
    """
    tables = sorted(set(tables))
    sequences = sequences or {}
    roles = {role: quote_ident(role_name(prefix, role)) for role in ROLES}
    everyone = ", ".join(roles.values())
    qschema = quote_ident(schema)

    def qualified(name: str) -> str:
        return f"{qschema}.{quote_ident(name)}"

    statements = [f"REVOKE ALL ON SCHEMA {qschema} FROM {everyone}", f"GRANT USAGE ON SCHEMA {qschema} TO {everyone}"]
    for table in tables:
        statements.append(f"REVOKE ALL ON TABLE {qualified(table)} FROM {everyone}")
    for sequence in sorted({s for table in tables for s in sequences.get(table, ())}):
        statements.append(f"REVOKE ALL ON SEQUENCE {qualified(sequence)} FROM {everyone}")
    for table in tables:
        statements.append(f"GRANT SELECT ON TABLE {qualified(table)} TO {everyone}")
    for role, writes in table_privileges(tables).items():
        for table, privileges in writes.items():
            statements.append(f"GRANT {', '.join(privileges)} ON TABLE {qualified(table)} TO {roles[role]}")
            if "INSERT" in privileges:
                for sequence in sequences.get(table, ()):
                    statements.append(f"GRANT USAGE, SELECT ON SEQUENCE {qualified(sequence)} TO {roles[role]}")
    return statements


def login_statements(
    prefix: str, login: str, role: str, *, exists: bool, member_of: Collection[str] = (), password: str | None = None,
) -> list[str]:
    """Create or alter LOGIN role ``login`` as a member of ``{prefix}_{role}`` only.

    Args:
        exists: whether the login role exists already (ALTER rather than CREATE).
        member_of: the roles ``login`` is a member of now; of these, the other group roles of
            ``prefix`` are revoked, so a login moved from planner to auditor loses the
            planner's writes.
        password: set as the login's password when given; otherwise a password is kept.
    """
    group = role_name(prefix, role)
    groups = [role_name(prefix, r) for r in ROLES]
    if check_role_name(login) in groups:
        raise DatabaseRoleError(f"login {login!r} is one of the group roles; choose another name")
    account = quote_ident(login)
    options = "LOGIN INHERIT" + (f" PASSWORD {quote_literal(password)}" if password is not None else "")
    statements = [f"{'ALTER' if exists else 'CREATE'} ROLE {account} WITH {options}"]
    others = [quote_ident(name) for name in groups if name != group and name in member_of]
    if others:
        statements.append(f"REVOKE {', '.join(others)} FROM {account}")
    statements.append(f"GRANT {quote_ident(group)} TO {account}")
    return statements
