"""Keys already met in the file being imported, kept in a temporary table so memory stays flat."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table
from sqlalchemy.orm import Session

from credit.bulk import fetch_in, insert_rows

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")
_table = Table(
    "import_seen_keys",
    MetaData(),
    Column("key_hash", _BIGINT, index=True),
    Column("key_check", _BIGINT),
    Column("content_hash", _BIGINT),
    Column("source_row", _BIGINT),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="drop",
)

Key = tuple[int, int]


class SeenKeys:
    """(key, content digest, row) of rows met earlier in this file, by 128-bit key digest."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.count = 0

    def find(self, keys: set[Key]) -> dict[Key, tuple[int, int]]:
        """Earlier (content digest, row number) for each of ``keys`` met before."""
        if not self.count or not keys:
            return {}
        found = fetch_in(self.session, f"SELECT key_hash, key_check, content_hash, source_row FROM {_table.name}", "key_hash",
                         list({h for h, _ in keys}))
        return {(h, c): (content, row) for h, c, content, row in found if (h, c) in keys}

    def add(self, rows: list[tuple[int, int, int, int]]) -> None:
        """Remember (key_hash, key_check, content digest, row number) tuples."""
        if not rows:
            return
        if not self.count:
            connection = self.session.connection()
            # A table left by an earlier import on this pooled connection is dropped first.
            _table.drop(connection, checkfirst=True)
            _table.create(connection)
        insert_rows(self.session, _table, ("key_hash", "key_check", "content_hash", "source_row"), rows, stage=False)
        self.count += len(rows)
