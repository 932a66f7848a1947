"""The audit trail reads rows changed by key through the primary key's index, and keeps only the
rows it was told of: for a composite key it asks for every row of the key's first column and
leaves the others out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import inspection.tables  # noqa: F401  (every table)
from credit import audit
from credit.audit_models import AuditEvent, AuditPack, AuditRow
from inspection.task_models import VisitItem

VISIT_ITEMS = VisitItem.__table__


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://")  # foreign keys off: visit items without their visits
    with engine.begin() as connection:
        for table in (VISIT_ITEMS, AuditEvent.__table__, AuditRow.__table__, AuditPack.__table__):
            table.create(connection)
        connection.execute(sa.insert(VISIT_ITEMS), [{"visit_id": v, "task_item_id": i} for v in range(1, 2001) for i in (10, 11, 12)])
    yield engine
    engine.dispose()


def test_a_composite_key_is_looked_up_through_its_index(engine: sa.Engine) -> None:
    keys = [(v, 11) for v in range(1, 600)]
    query = sa.select(*VISIT_ITEMS.columns).where(audit._key_clause(VISIT_ITEMS, keys))
    with engine.connect() as connection:
        compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
    # A row-value IN, (visit_id, task_item_id) IN (…), is a SCAN of the whole table on SQLite.
    assert "SEARCH" in plan and "SCAN visit_items" not in plan, plan


def test_only_the_rows_touched_are_noted(engine: sa.Engine) -> None:
    touched = [(v, 11) for v in range(1, 1201, 2)]  # 600 keys: two chunks; rows (v, 10) and (v, 12) untouched
    with Session(engine) as session, session.begin():
        audit.touch(session, VISIT_ITEMS, touched)
        audit.checkpoint(session)
        pending = session.info[audit.PENDING]
        noted = sorted(pending.memory)
        pending.memory.clear()  # nothing is recorded: the commit must not ask for an event
    assert noted == sorted(("visit_items", f"{v}|11") for v, _ in touched)
