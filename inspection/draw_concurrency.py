"""How concurrent draws on one PostgreSQL database stay correct without waiting for each other
more than they must (a province draws each district's task at once).

A draw's exclusions read every earlier draw's visits (the 12-month rule and the yearly cap), so
two draws whose scopes can share an enterprise must run one after the other; two districts' draws
cannot share one, and run side by side. Each draw takes, for the rest of its transaction,
PostgreSQL advisory locks: the whole province's key shared, then each district of its scope
exclusively, in ascending order (no deadlock); a task with no district in its scope takes the
province's key exclusively. Stations and the other scope fields narrow a district, never leave it.

The population is read from one snapshot in a read-only REPEATABLE READ transaction of its own,
begun after those locks are held, so it sees every overlapping draw that went before. The draw's
own transaction stays READ COMMITTED: it claims the task (a second claimant waits for the first,
then sees the task drawn), writes the visits and appends to the audit trail at its head, waiting
only for other appends, not for other draws' work. SQLite has one writer at a time: nothing to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# The first half of every advisory lock key of the draw (PostgreSQL's two-integer form); the
# second is a district code, or 0 for the whole province.
LOCK_SPACE = 0x5C0D
PROVINCE = 0


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_scope(session: Session, scope: dict[str, Any]) -> None:
    """Wait until no draw of an overlapping scope is running, and hold that until this
    transaction ends."""
    if not is_postgresql(session):
        return
    districts = sorted({int(code) for code in scope.get("districts") or []})
    if not districts:
        session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": LOCK_SPACE, "key": PROVINCE})
        return
    session.execute(text("SELECT pg_advisory_xact_lock_shared(:space, :key)"), {"space": LOCK_SPACE, "key": PROVINCE})
    for code in districts:
        session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": LOCK_SPACE, "key": code})


@contextmanager
def snapshot_reader(session: Session) -> Iterator[Session]:
    """A session that reads from one snapshot taken now: on PostgreSQL a read-only REPEATABLE
    READ transaction on a connection of its own; elsewhere ``session`` itself."""
    if not is_postgresql(session):
        yield session
        return
    bind = session.get_bind()
    engine = bind.engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with Session(bind=engine) as reader, reader.begin():
        yield reader
