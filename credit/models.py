"""ORM classes of the credit side: districts, departments, enterprises, credit records, imports."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from credit.db import Base, enum_type, one_of, utcnow
from credit.enums import AbnormalGround, EnterpriseStatus, EntityType, RecordKind, Sector, Severity


class District(Base):
    """A GB/T 2260 administrative division (行政区划)."""

    __tablename__ = "districts"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


class Department(Base):
    """A regulating department (部门) that owns items and inspectors."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)


class ImportRun(Base):
    """One committed directory import: what file, what it changed. Rows point back here."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(512))
    file_sha256: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    inserted: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)


# No longer under this bureau's supervision: not graded (credit.grading).
NOT_SUPERVISED = ("cancelled", "revoked", "moved_out")
NOT_SUPERVISED_SQL = f"status IN ({', '.join(repr(s) for s in NOT_SUPERVISED)})"


class Enterprise(Base):
    """An entry of the 检查对象名录库, keyed by its USCC."""

    __tablename__ = "enterprises"
    __table_args__ = (
        one_of("entity_type", EntityType), one_of("status", EnterpriseStatus),
        # A grading reads the few enterprises it does not grade and the few 四新认定日期 from these
        # partial indexes, not from the whole table (0.3 s at 1M enterprises).
        Index("ix_enterprises_not_supervised", "status", sqlite_where=text(NOT_SUPERVISED_SQL), postgresql_where=text(NOT_SUPERVISED_SQL)),
        Index("ix_enterprises_new_economy", "new_economy_since", sqlite_where=text("new_economy_since IS NOT NULL"),
              postgresql_where=text("new_economy_since IS NOT NULL")),
        # A draw reads its population from this index alone, grouped by what decides which items
        # apply (inspection/population.py): every column a task's scope may name is in it, and
        # within a group the USCCs come in order. It is led by id % 2, so that the draw's two
        # processes each seek to their own half. The whole table read row by row took twice as long.
        Index("ix_enterprises_draw", text("(id % 2)"), "status", "entity_type", "industry_code", "uscc", "district_code", "station"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    entity_type: Mapped[EntityType] = mapped_column(enum_type(EntityType))
    legal_rep: Mapped[str | None] = mapped_column(String(64))
    registered_on: Mapped[dt.date]
    status: Mapped[EnterpriseStatus] = mapped_column(enum_type(EnterpriseStatus))
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    station: Mapped[str | None] = mapped_column(String(128))
    industry_code: Mapped[str] = mapped_column(String(5))
    address: Mapped[str | None] = mapped_column(String(512))
    new_economy_since: Mapped[dt.date | None]
    key_supervision: Mapped[bool] = mapped_column(default=False)
    # Digest of the fields above, so a re-import compares one integer per enterprise.
    content_hash: Mapped[int]
    # The import (and row of its file) that last wrote this entry.
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    source_row: Mapped[int | None]


# Spot checks known from outside (imported), as opposed to this system's published results; the
# draw's yearly-cap query spells the same condition so both databases use the partial index.
OUTSIDE_SPOT_CHECKS = "kind = 'spot_check' AND from_result = false"


class CreditRecord(Base):
    """A credit record (信用记录). Append-only: a correction is a new row that supersedes the old."""

    __tablename__ = "credit_records"
    __table_args__ = (
        one_of("kind", RecordKind),
        one_of("severity", Severity),
        one_of("sector", Sector),
        one_of("ground", AbnormalGround),
        CheckConstraint("effective_until IS NULL OR effective_until >= occurred_on", name="effective_after_occurred"),
        CheckConstraint("kind != 'penalty' OR (severity IS NOT NULL AND sector IS NOT NULL)", name="penalty_details"),
        CheckConstraint("kind != 'abnormal_in' OR ground IS NOT NULL", name="abnormal_ground"),
        CheckConstraint("kind != 'complaint' OR substantiated IS NOT NULL", name="complaint_substantiated"),
        CheckConstraint("kind != 'spot_check' OR result_codes IS NOT NULL", name="spot_check_codes"),
        # One index serves the foreign key and the re-import check (covering: no table reads).
        # Led by the enterprise, it grows nearly in order when files are grouped by enterprise;
        # a separate index on the random digest made 10M-row loads slow down as it outgrew the cache.
        Index("ix_credit_records_enterprise_key", "enterprise_id", "key_hash", "key_check", "content_hash"),
        # The draw counts each enterprise's spot checks in a year (the yearly cap): a partial
        # index holds only those records, so imports of other kinds pay nothing for it.
        # Spot checks recorded by this system's own publication are left out: their visits count already.
        Index("ix_credit_records_spot_checks", "occurred_on", "enterprise_id", sqlite_where=text(OUTSIDE_SPOT_CHECKS), postgresql_where=text(OUTSIDE_SPOT_CHECKS)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    kind: Mapped[RecordKind] = mapped_column(enum_type(RecordKind))
    severity: Mapped[Severity | None] = mapped_column(enum_type(Severity))
    sector: Mapped[Sector | None] = mapped_column(enum_type(Sector))
    ground: Mapped[AbnormalGround | None] = mapped_column(enum_type(AbnormalGround))
    substantiated: Mapped[bool | None]
    result_codes: Mapped[str | None] = mapped_column(String(64))
    occurred_on: Mapped[dt.date]
    department: Mapped[str] = mapped_column(String(128))
    document_no: Mapped[str | None] = mapped_column(String(128))
    effective_until: Mapped[dt.date | None]
    # Identity of the record: (enterprise, kind, document_no) when it has a document number,
    # otherwise its whole content, as a 128-bit digest split in two: the first half is indexed.
    # The content digest tells an unchanged re-import from a correction without reading fields.
    key_hash: Mapped[int]
    key_check: Mapped[int]
    content_hash: Mapped[int]
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"), index=True)
    # Made by publishing this system's results (抽查—公示—信用), not imported.
    from_result: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    source_row: Mapped[int | None]
