"""ORM classes of credit grading: runs, the grade of each enterprise in a run, repair requests."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from credit.db import Base, enum_type, one_of, utcnow
from credit.enums import RepairStatus


class GradingRun(Base):
    """One grading run (信用风险分类): never rewritten; later runs are new rows."""

    __tablename__ = "grading_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    policy_version: Mapped[str] = mapped_column(String(64))
    policy_sha256: Mapped[str] = mapped_column(String(64))
    # The policy as given, so anyone can re-run the grading from the run alone.
    policy_text: Mapped[str] = mapped_column(Text)
    # Records and repairs are append-only: these bounds let anyone re-run exactly this grading.
    max_record_id: Mapped[int]
    max_repair_id: Mapped[int]
    enterprises: Mapped[int]
    records: Mapped[int]
    count_a: Mapped[int]
    count_b: Mapped[int]
    count_c: Mapped[int]
    count_d: Mapped[int]
    # SHA-256 over every (USCC, tier, score, reasons) of the run, in USCC order: two runs on the
    # same data and policy have the same digest.
    result_sha256: Mapped[str] = mapped_column(String(64))
    seconds: Mapped[float]


class Grade(Base):
    """An enterprise's tier in one run, with its score (in hundredths of a point) and reasons."""

    __tablename__ = "grades"
    __table_args__ = (
        CheckConstraint("tier = 'A' OR tier = 'B' OR tier = 'C' OR tier = 'D'", name="tier"),
        # A run writes a million rows: one B-tree (the primary key, rows stored in it on SQLite)
        # and no other index. Every reader asks for one run, a range of that key.
        {"sqlite_with_rowid": False},
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id"), primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), primary_key=True)
    tier: Mapped[str] = mapped_column(String(1))
    score: Mapped[int]
    flags: Mapped[int] = mapped_column(SmallInteger)
    reasons: Mapped[str] = mapped_column(String(256))


class CreditRepair(Base):
    """A credit-repair request (信用修复) on one record; an approved one stops the record counting
    in later runs. The record itself is never changed or deleted."""

    __tablename__ = "credit_repairs"
    __table_args__ = (one_of("status", RepairStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"), index=True)
    status: Mapped[RepairStatus] = mapped_column(enum_type(RepairStatus))
    reason: Mapped[str] = mapped_column(Text)
    requested_on: Mapped[dt.date]
    eligible_from: Mapped[dt.date]
    decided_on: Mapped[dt.date | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class GradingColumns(Base):
    """The credit records of ids ``low_id < id <= high_id`` as the grader reads them, as arrays
    (credit.grading_columns). Derived from the records, which are append-only; ``audit verify``
    derives them again and compares."""

    __tablename__ = "grading_columns"

    id: Mapped[int] = mapped_column(primary_key=True)
    low_id: Mapped[int]
    high_id: Mapped[int]
    records: Mapped[int]
    # What the arrays mean (credit.grading_columns.LAYOUT); rows of another are derived again.
    layout: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
