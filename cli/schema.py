"""Schema version checks: commands refuse to run on a database that is not at head."""

from __future__ import annotations

import functools

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, text

from credit.errors import SchemaNotAtHead
from migrations import alembic_config


@functools.cache
def head_revision() -> str:
    """The newest migration shipped with this code (read once a process: every command's
    session checks it, and reading the migration scripts takes 0.02 s)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_head(engine: Engine) -> None:
    """Raise ``SchemaNotAtHead`` unless the database is at the shipped head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = "has no schema yet" if current is None else f"is at revision {current}, this spotcheck needs {head}"
        raise SchemaNotAtHead(f"the database {where}: run `spotcheck db upgrade`")


def missing_expression_indexes(connection: Connection) -> list[str]:
    """The models' indexes on an expression (which alembic's check skips) that the database
    does not have, by name."""
    import inspection.tables  # noqa: F401  (every table, so that every index is known)
    from credit.db import Base

    wanted = sorted(index.name for table in Base.metadata.tables.values() for index in table.indexes
                    if index.name and any(not isinstance(e, Column) for e in index.expressions))
    if connection.dialect.name == "postgresql":
        found = set(connection.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")).scalars())
    else:
        found = set(connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
    return [name for name in wanted if name not in found]
