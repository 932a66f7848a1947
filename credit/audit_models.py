"""ORM classes of the audit trail and of the people who act: events, row hashes, the chain's
head, users."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from credit.db import Base, enum_type, one_of, utcnow
from credit.roles import Role


class AuditEvent(Base):
    """One state change (or refused attempt), linked to the event before it by its hash."""

    __tablename__ = "audit_events"

    # Numbered by the trail itself, not the database: a gap is a deleted event.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(8))  # done | refused
    task: Mapped[str | None] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(256))
    summary: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON
    rows: Mapped[int]
    rows_sha256: Mapped[str] = mapped_column(String(64))
    prev_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))


class AuditRow(Base):
    """An audited row an event changed: its hash before and after (None: new, deleted)."""

    __tablename__ = "audit_rows"
    __table_args__ = (
        # What each row must look like now is the after of its latest event: (tbl, key, event).
        Index("ix_audit_rows_event_id", "event_id"),
        {"sqlite_with_rowid": False},
    )

    tbl: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), primary_key=True)
    before: Mapped[str | None] = mapped_column(String(32))
    after: Mapped[str | None] = mapped_column(String(32))


class AuditPack(Base):
    """Rows a bulk write inserted under new keys (an import's batch, a draw's visits), set down
    together: their keys and their hashes. Each row is followed as an ``audit_rows`` row would
    be, before None and after its hash, at a fraction of the storage and of the work.

    A table's packs never share a key: packed rows are inserted under ids no row had
    (``bulk.allocate_ids``), and the system deletes none of them. ``lo`` and ``hi`` are the
    first and last key's first column, so the pack holding a key is the one with the smallest
    ``hi`` at or above it.
    """

    __tablename__ = "audit_packs"
    __table_args__ = (Index("ix_audit_packs_tbl_hi", "tbl", "hi"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # the pack's place in its event
    tbl: Mapped[str] = mapped_column(String(40))
    lo: Mapped[int]
    hi: Mapped[int]
    rows: Mapped[int]
    keys: Mapped[str] = mapped_column(Text)  # the row keys as audit_rows spells them, one a line
    hashes: Mapped[bytes] = mapped_column(LargeBinary)  # 16 bytes a row, in the order of keys


class AuditHead(Base):
    """The chain's last event and hash, one row, locked by each writer to append in turn."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))


class User(Base):
    """A person who may act, in one role; an inspector is tied to their directory entry."""

    __tablename__ = "users"
    __table_args__ = (one_of("role", Role),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(enum_type(Role))
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("inspectors.id"), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
