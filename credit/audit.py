"""The audit trail as a service: every state change appends one hash-chained event.

Writes are watched in the session: ORM flushes are seen by a listener, bulk statements call
:func:`touch`, :func:`touch_where` or :func:`touch_fresh`. :func:`record` then hashes every
touched row as it now is, compares it with what the trail last said, and appends the event with
those row changes. A transaction that changed an audited row without recording an event is not
allowed to commit: the trail cannot miss a change the system made.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Table, event, select
from sqlalchemy.orm import Session, sessionmaker

from credit.audit_chain import PackedRows, canonical_json, event_hash, packed_rows, row_hash, row_key, unpack
from credit.audit_models import AuditEvent, AuditHead, AuditPack, AuditRow
from credit.audit_pending import Pending
from credit.db import Base, utcnow
from credit.roles import Actor

TOUCHED = "audit_touched"  # session.info: table name → {key text: primary key values}
FRESH = "audit_fresh"  # session.info: table name → highest id before this transaction's inserts
ACTOR = "actor"  # session.info: the Actor the session works for
PENDING = "audit_pending"  # session.info: the Pending changes hashed so far

# Not audited row by row: the trail itself, alembic's bookkeeping, the grades of a run, a million
# each, which carry their own digest (grading_runs.result_sha256) instead, and the grading
# columns, derived from the records and checked by deriving them again.
UNAUDITED = frozenset({"audit_events", "audit_rows", "audit_packs", "audit_head", "alembic_version", "grade_parts", "grade_reasons",
                       "grading_columns"})
_CHUNK = 500


def audited_tables() -> list[Table]:
    """Every table whose rows the trail follows, in name order."""
    return [t for name, t in sorted(Base.metadata.tables.items()) if name not in UNAUDITED]


def _audited(table: Table) -> bool:
    return table.name not in UNAUDITED and table.name in Base.metadata.tables


def touch(session: Session, table: Table, keys: Iterable[Sequence[Any]]) -> None:
    """Note rows about to change (or just changed) by a bulk statement, by primary key."""
    if not _audited(table):
        return
    seen = session.info.setdefault(TOUCHED, {}).setdefault(table.name, {})
    for pk in keys:
        seen[row_key(pk)] = tuple(pk)


def touch_where(session: Session, table: Table, clause: Any) -> None:
    """Note the rows matching ``clause``; call it before a DELETE, before or after an UPDATE."""
    if _audited(table):
        pk = list(table.primary_key.columns)
        touch(session, table, session.connection().execute(select(*pk).where(clause)).all())


def touch_fresh(session: Session, table: Table) -> None:
    """Before a bulk INSERT that numbers its own rows: every row above today's highest id is new."""
    if not _audited(table) or table.name in session.info.get(FRESH, {}):
        return
    (pk,) = table.primary_key.columns
    top = session.connection().execute(select(sa.func.max(pk))).scalar()
    session.info.setdefault(FRESH, {})[table.name] = top or 0


def note_new(session: Session, table: Table, keys: list[str], hashes: list[str]) -> None:
    """Set aside rows just inserted under fresh keys (their text) with their hashes: the trail
    has nothing before them, and the caller hashed what it wrote. They are stored in packs
    (``audit_packs``), not a row each: ``table``'s key must start with an integer id."""
    if _audited(table) and keys:
        note_packed(session, table, packed_rows(keys, hashes))


def note_packed(session: Session, table: Table, packs: list[PackedRows]) -> None:
    """``note_new`` for rows already packed (audit_chain.packed_rows)."""
    if _audited(table):
        # str(): table.name is a quoted_name, which sqlite3 asks for __conform__ at every bind.
        _pending(session).pack(session.connection(), str(table.name), packs)


@event.listens_for(Session, "after_flush")
def _watch_flush(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        mapper = sa.inspect(obj).mapper
        touch(session, mapper.local_table, [mapper.primary_key_from_instance(obj)])


@event.listens_for(Session, "do_orm_execute")
def _watch_statement(state: Any) -> None:
    # INSERT, UPDATE or DELETE through session.execute: note the rows, before the statement runs.
    # An executemany UPDATE or DELETE (a list of parameter sets) cannot be resolved here; its
    # callers touch() the rows themselves.
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = state.statement.table
    if not isinstance(table, Table) or not _audited(table):
        return
    session, params = state.session, state.parameters
    pk = list(table.primary_key.columns)
    if state.is_insert:
        rows = params if isinstance(params, list) else [params or {}]
        if all(c.key in row for row in rows for c in pk):
            touch(session, table, ([row[c.key] for c in pk] for row in rows))
        else:
            touch_fresh(session, table)
    elif not isinstance(params, list):
        query = select(*pk)
        if state.statement.whereclause is not None:
            query = query.where(state.statement.whereclause)
        touch(session, table, session.connection().execute(query, params or {}).all())


@event.listens_for(Session, "before_commit")
def _refuse_unrecorded(session: Session) -> None:
    session.flush()
    pending = sorted({*session.info.get(TOUCHED, {}), *session.info.get(FRESH, {})})
    if pending or session.info.get(PENDING):
        pending = pending or ["rows set aside by audit.checkpoint"]
        _forget(session)
        raise RuntimeError(f"changes to {', '.join(pending)} without an audit event: the service must call audit.record")


def actor_of(session: Session) -> Actor:
    """The person the session works for; set by the command layer before any work."""
    actor = session.info.get(ACTOR)
    if actor is None:
        raise RuntimeError("no acting user on this session")
    return actor


@functools.cache
def _hashed_columns(dialect: str, table: Table) -> tuple[Any, ...]:
    """``table``'s columns as row_hash reads them. Enum columns come as the text stored, which is
    the member's value, what ``plain`` makes of the member; on SQLite dates too, stored as the ISO
    text ``plain`` gives. The hashes are the same; skipped are SQLAlchemy turning each value into
    an object and ``plain`` turning it back (a fifth of a records import's time)."""
    out: list[Any] = []
    for column in table.columns:
        raw = isinstance(column.type, sa.Enum) or (dialect == "sqlite" and type(column.type) is sa.Date)
        out.append(sa.type_coerce(column, sa.String).label(column.name) if raw else column)
    return tuple(out)


def row_hashes(connection: Connection, table: Table, clause: Any) -> Iterator[tuple[str, str]]:
    """Each matching row's key and hash, read as they come."""
    pk_positions = [i for i, c in enumerate(table.columns) if c.primary_key]
    columns = _hashed_columns(connection.dialect.name, table)
    rows = connection.execute(select(*columns).where(clause).execution_options(yield_per=10_000))
    if len(pk_positions) == 1 and table.columns[pk_positions[0]].type.python_type is int:
        # A plain integer id, the big tables' key: its text is the key.
        (position,) = pk_positions
        for row in rows:
            yield str(row[position]), row_hash(row)
        return
    for row in rows:
        yield row_key([row[i] for i in pk_positions]), row_hash(row)


def _key_clause(table: Table, keys: list[tuple[Any, ...]]) -> Any:
    """A condition that matches at least the rows of ``keys``, through the primary key's index.

    For a composite key it names the key's first column only: SQLite answers a row-value
    ``(a, b) IN (…)`` by scanning the whole table, once per chunk (a draw of 121,430 visit items
    scanned visit_items 243 times). The caller keeps only the rows it asked for.
    """
    first = table.primary_key.columns.values()[0]
    return first.in_(sorted({k[0] for k in keys}))


def latest_after(connection: Connection, table: str, keys: list[str]) -> dict[str, str | None]:
    """What the trail last said each row looks like (absent: never recorded)."""
    found: dict[str, str | None] = {}
    for start in range(0, len(keys), _CHUNK):
        query = (
            select(AuditRow.key, AuditRow.after)
            .where(AuditRow.tbl == table, AuditRow.key.in_(keys[start:start + _CHUNK]))
            .order_by(AuditRow.event_id)
        )
        found.update(connection.execute(query).all())
    # A row with no audit_rows entry may have been inserted in a pack; any later change of it
    # is an audit_rows entry, found above.
    found.update(packed_after(connection, table, [k for k in keys if k not in found]))
    return found


def packed_after(connection: Connection, table: str, keys: list[str]) -> dict[str, str]:
    """The hash each of ``keys`` was packed with, for those in a pack of ``table``."""
    wanted = sorted((int(first), key) for key in keys if (first := key.split("|", 1)[0]).isdecimal())  # else never packed
    found: dict[str, str] = {}
    hi, packed = -1, {}
    for first, key in wanted:
        if first > hi:
            # The pack with the smallest hi at or above this key's id is the only one that may
            # hold it (packs of a table share no key); later keys may fall in it too.
            row = connection.execute(
                select(AuditPack.hi, AuditPack.keys, AuditPack.hashes)
                .where(AuditPack.tbl == table, AuditPack.hi >= first).order_by(AuditPack.hi).limit(1)
            ).first()
            if row is None:
                break
            hi, packed = row.hi, dict(unpack(row.keys, row.hashes))
        if key in packed:
            found[key] = packed[key]
    return found


def _pending(session: Session) -> Pending:
    return session.info.setdefault(PENDING, Pending())


def checkpoint(session: Session) -> None:
    """Hash the rows changed so far and set their changes aside for the coming event.

    An import calls it after each batch: the hashing then overlaps the parsing of the next
    batch, and the rows to hash stay few.
    """
    session.flush()
    touched: dict[str, dict[str, tuple[Any, ...]]] = session.info.pop(TOUCHED, {})
    fresh: dict[str, int] = session.info.pop(FRESH, {})
    if not (touched or fresh):
        return
    connection = session.connection()
    pending = _pending(session)
    for name in sorted({*touched, *fresh}):
        table = Base.metadata.tables[name]
        new_keys: set[str] = set()
        if name in fresh:
            # Rows above the watermark are new: nothing in the trail before them.
            (pk,) = table.primary_key.columns
            for key, after in row_hashes(connection, table, pk > fresh[name]):
                new_keys.add(key)
                pending.put(connection, name, key, None, after)
        keys = [(k, v) for k, v in sorted(touched.get(name, {}).items()) if k not in new_keys]
        for start in range(0, len(keys), _CHUNK):
            chunk = dict(keys[start:start + _CHUNK])
            now = {key: after for key, after in row_hashes(connection, table, _key_clause(table, list(chunk.values()))) if key in chunk}
            before = latest_after(connection, name, list(chunk))
            for key in chunk:
                pending.put(connection, name, key, before.get(key), now.get(key))


@event.listens_for(Session, "after_commit")
def _forget(session: Session) -> None:
    # Whatever was noted belongs to a transaction that is over.
    for name in (TOUCHED, FRESH, PENDING):
        session.info.pop(name, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous: Any) -> None:
    # A savepoint rolled back (a refused row of a result import) leaves the outer work standing.
    if previous.parent is None:
        _forget(session)


@dataclass(frozen=True)
class Recorded:
    """An appended event: its number, hash and how many rows it changed."""

    id: int
    sha256: str
    rows: int


def _append(connection: Connection, actor: str, role: str | None, action: str, outcome: str, summary: str,
            task: str | None, subject: str | None, detail: dict[str, Any] | None, changes: Pending, *, adopt: bool = True) -> Recorded:
    # The head row is locked first, so writers append one after another (FOR UPDATE on
    # PostgreSQL; SQLite has one writer at a time anyway).
    head = connection.execute(select(AuditHead.event_id, AuditHead.sha256).where(AuditHead.id == 1).with_for_update()).one()
    if head.event_id == 0 and adopt:
        head = _adopt(connection, actor, role, changes) or head
    count, digest = changes.summary(connection)
    fields: dict[str, Any] = {
        "id": head.event_id + 1, "at": utcnow(), "actor": actor, "role": role, "action": action, "outcome": outcome,
        "task": task, "subject": subject, "summary": summary, "detail": canonical_json(detail or {}),
        "rows": count, "rows_sha256": digest, "prev_sha256": head.sha256,
    }
    fields["sha256"] = event_hash(fields)
    connection.execute(sa.insert(AuditEvent), fields)
    changes.store(connection, fields["id"])
    connection.execute(sa.update(AuditHead).where(AuditHead.id == 1).values(event_id=fields["id"], sha256=fields["sha256"]))
    return Recorded(fields["id"], fields["sha256"], count)


def _adopt(connection: Connection, actor: str, role: str | None, first: Pending) -> Any:
    """Before the first event: take the rows the database already holds (the shipped district
    table, or data from before the trail existed) into the trail, so later changes are measured
    against them. Rows the first event itself changed are left to it. Returns the new head, or
    None when there was nothing to adopt."""
    mine = first.keys(connection)
    adopted, count = Pending(), 0
    for table in audited_tables():
        for key, after in row_hashes(connection, table, sa.true()):
            if (table.name, key) not in mine:
                adopted.put(connection, table.name, key, None, after)
                count += 1
    if not count:
        return None
    _append(connection, actor, role, "audit.adopt", "done", f"the audit trail starts: {count} existing row(s) taken in",
            None, None, {"rows": count}, adopted, adopt=False)
    return connection.execute(select(AuditHead.event_id, AuditHead.sha256).where(AuditHead.id == 1)).one()


def record(session: Session, action: str, summary: str, *, task: str | None = None, subject: str | None = None,
           detail: dict[str, Any] | None = None, actor: Actor | None = None, outcome: str = "done") -> Recorded:
    """Append the event for the work done so far in this transaction, with every row it changed."""
    checkpoint(session)
    who = actor or actor_of(session)
    return _append(session.connection(), who.name, who.role.value, action, outcome, summary, task, subject, detail, _pending(session))


def record_refusal(sessions: sessionmaker, actor: str, role: str | None, action: str, reason: str,
                   task: str | None = None, subject: str | None = None) -> Recorded:
    """Append a refused attempt in a transaction of its own: the refused work itself is rolled back."""
    with sessions.begin() as session:
        return _append(session.connection(), actor, role, action, "refused", reason, task, subject, None, Pending())


def head(connection: Connection) -> tuple[int, str]:
    """The last event's number and hash (0 and the genesis hash before the first)."""
    row = connection.execute(select(AuditHead.event_id, AuditHead.sha256).where(AuditHead.id == 1)).one()
    return row.event_id, row.sha256


def since(day: dt.date) -> dt.datetime:
    """Midnight UTC starting ``day``: the lower bound of ``audit log --since``."""
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def events(session: Session, *, task: str | None = None, user: str | None = None, since_day: dt.date | None = None,
           with_rows: bool = False) -> list[dict[str, Any]]:
    """The trail in order, narrowed by task, user and first day; with each event's row changes if asked."""
    conditions = []
    if task is not None:
        conditions.append(AuditEvent.task == task)
    if user is not None:
        conditions.append(AuditEvent.actor == user)
    if since_day is not None:
        conditions.append(AuditEvent.at >= since(since_day))
    found = list(session.scalars(select(AuditEvent).where(*conditions).order_by(AuditEvent.id)))
    changes: dict[int, list[dict[str, Any]]] = {}
    if with_rows and found:
        # One query for the rows of all the events asked for, not one per event.
        rows = (select(AuditRow).join(AuditEvent, AuditEvent.id == AuditRow.event_id).where(*conditions)
                .order_by(AuditRow.event_id, AuditRow.tbl, AuditRow.key))
        for r in session.scalars(rows):
            changes.setdefault(r.event_id, []).append({"table": r.tbl, "key": r.key, "before": r.before, "after": r.after})
        packs = (select(AuditPack.event_id, AuditPack.tbl, AuditPack.keys, AuditPack.hashes)
                 .join(AuditEvent, AuditEvent.id == AuditPack.event_id).where(*conditions).order_by(AuditPack.event_id, AuditPack.seq))
        for event_id, table, keys, hashes in session.execute(packs):
            changes.setdefault(event_id, []).extend({"table": table, "key": k, "before": None, "after": a} for k, a in unpack(keys, hashes))
        for listed in changes.values():
            listed.sort(key=lambda c: (c["table"], c["key"]))
    out = []
    for e in found:
        item: dict[str, Any] = {
            "id": e.id, "at": e.at.astimezone(dt.UTC).isoformat(timespec="seconds"), "actor": e.actor, "role": e.role,
            "action": e.action, "outcome": e.outcome, "task": e.task, "subject": e.subject, "summary": e.summary,
            "rows": e.rows, "sha256": e.sha256,
        }
        if with_rows:
            item["changes"] = changes.get(e.id, [])
        out.append(item)
    return out
