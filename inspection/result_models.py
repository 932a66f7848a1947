"""ORM classes of the closed loop: results (检查结果), publication (一公开), follow-up (后续处置),
and the enterprise's evaluation of the visit (双向评价)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from credit.db import Base, enum_type, one_of, utcnow
from inspection.enums import CaseKind, CasePhase, Measure, ResultState


class VisitResult(Base):
    """The results of one visit as a whole: its check date and where it stands in review."""

    __tablename__ = "visit_results"
    __table_args__ = (one_of("state", ResultState), CheckConstraint("revision >= 1", name="revision_positive"))

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), primary_key=True, autoincrement=False)
    state: Mapped[ResultState] = mapped_column(enum_type(ResultState))
    # 检查日期: the publication deadline counts from it.
    checked_on: Mapped[dt.date]
    # 1 for the first results; a correction after publication starts the next revision.
    revision: Mapped[int] = mapped_column(default=1)
    correction_reason: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("inspectors.id"))
    submitted_at: Mapped[dt.datetime | None]
    reviewer: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[dt.datetime | None]
    return_reason: Mapped[str | None] = mapped_column(Text)  # the last 退回 reason
    published_on: Mapped[dt.date | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ItemResult(Base):
    """The result of one item of a visit (检查事项结果), as recorded by a member of the team."""

    __tablename__ = "item_results"
    __table_args__ = (one_of("measure", Measure),)

    visit_id: Mapped[int] = mapped_column(ForeignKey("visit_results.visit_id"), primary_key=True)
    task_item_id: Mapped[int] = mapped_column(ForeignKey("task_items.id"), primary_key=True)
    checked: Mapped[bool]  # 是否检查
    methods: Mapped[str] = mapped_column(String(128))  # ";"-joined CheckMethod codes (核查方式)
    result_codes: Mapped[str] = mapped_column(String(64))  # ";"-joined standard codes, table order
    findings: Mapped[str] = mapped_column(Text, default="")  # 发现问题情况
    measure: Mapped[Measure] = mapped_column(enum_type(Measure))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("inspectors.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Publication(Base):
    """A publication record (公示信息) of one department's results on one visit. Never updated: a
    correction is a new record that supersedes it, and both stay public."""

    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("visit_id", "department_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(128), unique=True)  # 公示编号
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    revision: Mapped[int]
    enterprise_name: Mapped[str] = mapped_column(String(256))
    uscc: Mapped[str] = mapped_column(String(18))
    task_code: Mapped[str] = mapped_column(String(64))
    task_name: Mapped[str] = mapped_column(String(256))
    checked_on: Mapped[dt.date]
    department_name: Mapped[str] = mapped_column(String(128))
    result: Mapped[str] = mapped_column(Text)  # 检查结果, the labels joined by "；"
    result_codes: Mapped[str] = mapped_column(String(64))
    deadline: Mapped[dt.date]
    published_on: Mapped[dt.date]
    late: Mapped[bool]
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("publications.id"), unique=True)
    correction_reason: Mapped[str | None] = mapped_column(Text)
    # The credit record the publication made (抽查—公示—信用); None when the policy makes none.
    credit_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"))
    # SHA-256 of the public fields (publishing.record_digest): a later edit behind the system's back shows.
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    operator: Mapped[str] = mapped_column(String(64))


class FollowupCase(Base):
    """A follow-up case (后续处置) of one department on one visit, open until its closing step."""

    __tablename__ = "followup_cases"
    __table_args__ = (
        one_of("kind", CaseKind),
        one_of("phase", CasePhase),
        CheckConstraint("(phase = 'closed') = (closed_on IS NOT NULL)", name="closed_with_date"),
        CheckConstraint("phase != 'closed' OR outcome IS NOT NULL", name="closed_with_outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    kind: Mapped[CaseKind] = mapped_column(enum_type(CaseKind))
    phase: Mapped[CasePhase] = mapped_column(enum_type(CasePhase))
    opened_on: Mapped[dt.date]
    deadline: Mapped[dt.date]  # of the current phase
    rectify_by: Mapped[dt.date | None]  # 责令改正期限
    receiver: Mapped[str | None] = mapped_column(String(256))  # 移送/抄告 to whom
    ground: Mapped[str | None] = mapped_column(String(32))  # a listing proposal's AbnormalGround
    publication_id: Mapped[int | None] = mapped_column(ForeignKey("publications.id"))
    credit_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"))
    closed_on: Mapped[dt.date | None]
    outcome: Mapped[str | None] = mapped_column(Text)


class FollowupItem(Base):
    """An item of a visit that a case follows up (the failed items a 复查 checks again)."""

    __tablename__ = "followup_items"

    case_id: Mapped[int] = mapped_column(ForeignKey("followup_cases.id"), primary_key=True)
    task_item_id: Mapped[int] = mapped_column(ForeignKey("task_items.id"), primary_key=True)


class FollowupStep(Base):
    """One step of a case, in order: opened, deadline set, re-check, referred, reported back, closed."""

    __tablename__ = "followup_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("followup_cases.id"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    phase: Mapped[CasePhase] = mapped_column(enum_type(CasePhase))  # the phase after the step
    happened_on: Mapped[dt.date]
    note: Mapped[str] = mapped_column(Text, default="")
    operator: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Recheck(Base):
    """复查: a visit of a case's failed items only, linked to the original visit, by two or more inspectors."""

    __tablename__ = "rechecks"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("followup_cases.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))  # the original visit
    checked_on: Mapped[dt.date]
    rectified: Mapped[bool]
    findings: Mapped[str] = mapped_column(Text, default="")
    inspectors: Mapped[str] = mapped_column(String(256))  # ";"-joined inspector numbers
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Evaluation(Base):
    """双向评价: the enterprise's score of a visit (1–5), entered by staff for the enterprise."""

    __tablename__ = "evaluations"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), primary_key=True, autoincrement=False)
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
