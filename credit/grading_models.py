"""ORM classes of credit grading: runs, the grade of each enterprise in a run, repair requests."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, LargeBinary, String, Text
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


class GradePart(Base):
    """The grades of up to credit.grade_store.PART enterprises of a run, in enterprise id order,
    as arrays: a run grades a million enterprises, and as many table rows cost more to write than
    the rest of the grading (credit.grade_store). Never rewritten."""

    __tablename__ = "grade_parts"

    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id"), primary_key=True)
    part: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    first_enterprise_id: Mapped[int]
    last_enterprise_id: Mapped[int]
    enterprises: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)


class GradeReason(Base):
    """One of a run's distinct reasons texts (a million enterprises share some fifty thousand),
    numbered as the grade parts refer to them."""

    __tablename__ = "grade_reasons"

    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id"), primary_key=True)
    code: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    text: Mapped[str] = mapped_column(String(256))


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
