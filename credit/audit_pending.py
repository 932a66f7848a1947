"""The row changes a transaction has made so far and no event has recorded yet.

A few changes (most commands) stay in memory. An import changes a row per line of its file, so past
``SPILL_AT`` changes they move to a temporary table: memory does not grow with the file, and
the database sorts them for the event's digest and copies them into ``audit_rows`` itself.

Rows a bulk write inserts under new keys are set aside as packs instead (``audit_packs``, up to
``audit_chain.PACK_ROWS`` rows each): their keys and hashes go to a temporary table at once, and only each
pack's digest stays in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from sqlalchemy import Connection

from credit.audit_chain import PackedRows, PackLine, digest_sorted
from credit.pg_copy import copy_rows

SPILL_AT = 20_000
_TABLE = "audit_pending"
_STAGE = "audit_pending_stage"
_PACKS = "audit_pending_packs"
_PACK_COLUMNS = "seq, tbl, lo, hi, rows, keys, hashes"


class Pending:
    """Row changes by (table, key). A later change of the same row replaces the earlier one;
    a change whose before and after are equal is kept as a marker until the end, so it can
    cancel a spilled one, and then dropped."""

    def __init__(self) -> None:
        self.memory: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        self.spilled = False
        self.packs: list[PackLine] = []

    def __bool__(self) -> bool:
        return bool(self.memory) or self.spilled or bool(self.packs)

    def pack(self, connection: Connection, table: str, packs: list[PackedRows]) -> None:
        """Set aside rows just inserted under new keys (nothing in the trail before them), packed
        (audit_chain.packed_rows)."""
        if packs and not self.packs:
            blob = "BYTEA" if connection.dialect.name == "postgresql" else "BLOB"
            _empty_temp_table(connection, _PACKS, "seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, lo BIGINT NOT NULL, "
                              f"hi BIGINT NOT NULL, rows INTEGER NOT NULL, keys TEXT NOT NULL, hashes {blob} NOT NULL")
        mark = _mark(connection)
        for packed in packs:
            line = PackLine(table, len(self.packs) + 1, packed.rows, packed.sha256)
            connection.exec_driver_sql(f"INSERT INTO {_PACKS} ({_PACK_COLUMNS}) VALUES ({', '.join([mark] * 7)})",
                                       (line.seq, table, packed.lo, packed.hi, line.rows, packed.keys, packed.hashes))
            self.packs.append(line)

    def put(self, connection: Connection, table: str, key: str, before: str | None, after: str | None) -> None:
        self.memory[(table, key)] = (before, after)
        if len(self.memory) >= SPILL_AT:
            self.spill(connection)

    def spill(self, connection: Connection) -> None:
        """Move the changes held in memory to the temporary table."""
        if not self.memory:
            return
        mark, quote = _mark(connection), connection.dialect.identifier_preparer.quote
        if not self.spilled:
            # Byte order on PostgreSQL, as SQLite and Python sort: the digest must not depend on a locale.
            text = ' COLLATE "C"' if connection.dialect.name == "postgresql" else ""
            _empty_temp_table(connection, _TABLE, f"tbl TEXT{text} NOT NULL, {quote('key')} TEXT{text} NOT NULL, "
                              f"{quote('before')} TEXT, {quote('after')} TEXT, PRIMARY KEY (tbl, {quote('key')})")
            self.spilled = True
        same = [(t, k) for (t, k), (b, a) in self.memory.items() if b == a]
        changed = [(t, k, b, a) for (t, k), (b, a) in self.memory.items() if b != a]
        if same:
            connection.exec_driver_sql(f"DELETE FROM {_TABLE} WHERE tbl = {mark} AND {quote('key')} = {mark}", same)
        if changed:
            names = f"tbl, {quote('key')}, {quote('before')}, {quote('after')}"
            upsert = (f"ON CONFLICT (tbl, {quote('key')}) DO UPDATE SET {quote('before')} = excluded.{quote('before')}, "
                      f"{quote('after')} = excluded.{quote('after')}")
            if connection.dialect.name == "postgresql":
                # COPY into a bare staging table, then one upsert (keys are unique within a spill).
                connection.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE {_TABLE})")
                copy_rows(connection, _STAGE, ["tbl", "key", "before", "after"], changed)
                connection.exec_driver_sql(f"INSERT INTO {_TABLE} ({names}) SELECT {names} FROM {_STAGE} {upsert}")
                connection.exec_driver_sql(f"DELETE FROM {_STAGE}")
            else:
                connection.exec_driver_sql(f"INSERT INTO {_TABLE} ({names}) VALUES ({mark}, {mark}, {mark}, {mark}) {upsert}", changed)
        self.memory.clear()

    def keys(self, connection: Connection) -> set[tuple[str, str]]:
        """Every (table, key) set aside so far."""
        found = set(self.memory)
        if self.spilled:
            found.update(tuple(row) for row in connection.exec_driver_sql(f"SELECT tbl, {connection.dialect.identifier_preparer.quote('key')} FROM {_TABLE}"))
        if self.packs:
            for table, keys in connection.exec_driver_sql(f"SELECT tbl, keys FROM {_PACKS}"):
                found.update((table, key) for key in keys.split("\n"))
        return found

    def summary(self, connection: Connection) -> tuple[int, str]:
        """How many rows changed, and the digest of the changes in (table, key) order followed by
        the packs in order."""
        packed = sum(p.rows for p in self.packs)
        if not self.spilled:
            changes = self._in_memory()
            return len(changes) + packed, digest_sorted(changes, self.packs)
        self.spill(connection)
        count = packed

        def ordered() -> Iterator[tuple[str, str, str | None, str | None]]:
            nonlocal count
            quote = connection.dialect.identifier_preparer.quote
            result = connection.exec_driver_sql(
                f"SELECT tbl, {quote('key')}, {quote('before')}, {quote('after')} FROM {_TABLE} ORDER BY tbl, {quote('key')}")
            while batch := result.fetchmany(10_000):
                count += len(batch)
                yield from batch

        digest = digest_sorted(ordered(), self.packs)
        return count, digest

    def store(self, connection: Connection, event_id: int) -> None:
        """Write the changes into ``audit_rows`` as event ``event_id``'s, and forget them."""
        quote = connection.dialect.identifier_preparer.quote
        names = f"tbl, {quote('key')}, event_id, {quote('before')}, {quote('after')}"
        if self.spilled:
            connection.exec_driver_sql(
                f"INSERT INTO audit_rows ({names}) SELECT tbl, {quote('key')}, {int(event_id)}, {quote('before')}, {quote('after')} FROM {_TABLE}")
            connection.exec_driver_sql(f"DELETE FROM {_TABLE}")
        else:
            changes = self._in_memory()
            if changes:
                # Straight to the DBAPI's executemany: no per-row Core work.
                mark = _mark(connection)
                connection.exec_driver_sql(f"INSERT INTO audit_rows ({names}) VALUES ({', '.join([mark] * 5)})",
                                           [(t, k, event_id, b, a) for t, k, b, a in changes])
        if self.packs:
            connection.exec_driver_sql(
                f"INSERT INTO audit_packs (event_id, {_PACK_COLUMNS}) SELECT {int(event_id)}, {_PACK_COLUMNS} FROM {_PACKS} ORDER BY seq")
            connection.exec_driver_sql(f"DELETE FROM {_PACKS}")
        self.memory.clear()
        self.spilled = False
        self.packs = []

    def _in_memory(self) -> list[tuple[str, str, str | None, str | None]]:
        """(table, key, before, after) of the changes held in memory, in (table, key) order."""
        return [(t, k, b, a) for (t, k), (b, a) in sorted(self.memory.items()) if b != a]


def _empty_temp_table(connection: Connection, name: str, columns: str) -> None:
    """The temporary table ``name``, made if missing and emptied: a pooled connection keeps its
    temporary tables, and what a transaction before set aside is not this one's."""
    connection.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns})")
    connection.exec_driver_sql(f"DELETE FROM {name}")


def _mark(connection: Connection) -> str:
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"
