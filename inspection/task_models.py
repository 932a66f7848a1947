"""ORM classes of plans, tasks and draws: 年度抽查工作计划, 抽查任务, the draw and its visits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column

from credit.db import Base, enum_type, one_of, utcnow
from inspection.enums import DrawOutcome, TaskKind, TaskStatus


class Plan(Base):
    """An annual spot-check plan (年度抽查工作计划), as defined in its TOML file."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    year: Mapped[int]
    definition: Mapped[str] = mapped_column(Text)
    definition_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PlanDepartment(Base):
    """A department taking part in a plan."""

    __tablename__ = "plan_departments"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)


class PlanBatch(Base):
    """A batch (批次) of a plan: its scope, planned quantity and timing."""

    __tablename__ = "plan_batches"
    __table_args__ = (
        UniqueConstraint("plan_id", "number"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    number: Mapped[int]
    name: Mapped[str] = mapped_column(String(256))
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    quantity: Mapped[int]
    # JSON: {"districts": [...], "stations": [...], "entity_types": [...], "industries": [...]};
    # an empty list means no restriction.
    scope: Mapped[str] = mapped_column(Text)


class Task(Base):
    """A spot-check task (抽查任务). Drawn at most once; a replacement is a new task naming it."""

    __tablename__ = "tasks"
    __table_args__ = (
        one_of("kind", TaskKind),
        one_of("status", TaskStatus),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint("inspectors_per_visit >= 2", name="two_inspectors"),
        CheckConstraint("(replaces_task_id IS NULL) = (replace_reason IS NULL)", name="replacement_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[TaskKind] = mapped_column(enum_type(TaskKind))
    status: Mapped[TaskStatus] = mapped_column(enum_type(TaskStatus))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("plan_batches.id"))
    lead_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    grading_run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id"))
    item_version: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(Text)  # JSON, as PlanBatch.scope, already within the batch's
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    inspectors_per_visit: Mapped[int]
    # Inspector matching: caps per inspector, and 所所交叉 (no inspector from the enterprise's station).
    visits_per_day: Mapped[int] = mapped_column(server_default="3")
    visits_per_task: Mapped[int] = mapped_column(server_default="80")
    cross_station: Mapped[bool] = mapped_column(server_default=sa_false())
    # 跨区协作: JSON list of groups of district codes whose inspectors may work across the line.
    cooperation: Mapped[str] = mapped_column(Text, server_default="[]")
    recheck_months: Mapped[int]
    yearly_cap: Mapped[int]
    # SHA-256 of the secret seed, published in the announcement before the draw; the seed itself
    # is revealed by the draw. "os": from the operating system's secure source; "given": --seed.
    seed_commitment: Mapped[str] = mapped_column(String(64))
    seed_hex: Mapped[str] = mapped_column(String(64))
    seed_source: Mapped[str] = mapped_column(String(8))
    replaces_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), unique=True)
    replace_reason: Mapped[str | None] = mapped_column(Text)
    policy_sha256: Mapped[str] = mapped_column(String(64))
    definition: Mapped[str] = mapped_column(Text)
    definition_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TaskItem(Base):
    """An item of a task, the department that checks it, and its ratio per credit tier."""

    __tablename__ = "task_items"
    __table_args__ = (UniqueConstraint("task_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("check_items.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    # Exact percentages as written ("3%"): they decide sample sizes, so no floating point.
    ratio_a: Mapped[str] = mapped_column(String(16))
    ratio_b: Mapped[str] = mapped_column(String(16))
    ratio_c: Mapped[str] = mapped_column(String(16))
    ratio_d: Mapped[str] = mapped_column(String(16))


class DrawAttempt(Base):
    """Every attempt to draw a task, refused ones included."""

    __tablename__ = "draw_attempts"
    __table_args__ = (one_of("outcome", DrawOutcome),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    attempted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    operator: Mapped[str] = mapped_column(String(64))
    entropy: Mapped[str] = mapped_column(Text)
    outcome: Mapped[DrawOutcome] = mapped_column(enum_type(DrawOutcome))
    reason: Mapped[str | None] = mapped_column(Text)


class Draw(Base):
    """The one draw of a task, with everything needed to re-run it."""

    __tablename__ = "draws"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), unique=True)
    drawn_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    operator: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(32))
    entropy: Mapped[str] = mapped_column(Text)
    seed_hex: Mapped[str] = mapped_column(String(64))
    key_hex: Mapped[str] = mapped_column(String(64))
    # JSON: items in order, their ratios, the exclusion rules and their reference dates, the
    # grading run and the bound of the credit records read.
    parameters: Mapped[str] = mapped_column(Text)
    population_sha256: Mapped[str] = mapped_column(String(64))
    population_size: Mapped[int]
    # The population snapshot (sampling.snapshot), zlib-compressed: verify names the first
    # enterprise that changed.
    population: Mapped[bytes] = mapped_column(LargeBinary)
    result_sha256: Mapped[str] = mapped_column(String(64))
    visits: Mapped[int]
    matters: Mapped[int]
    separate_visits: Mapped[int]
    report: Mapped[str] = mapped_column(Text)  # JSON: strata, exclusions, matters per visit
    seconds: Mapped[float]


class Visit(Base):
    """A drawn enterprise: one visit (进一次门) covering every item it was drawn for."""

    __tablename__ = "visits"
    __table_args__ = (UniqueConstraint("task_id", "enterprise_id"), UniqueConstraint("task_id", "rank"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    # No index of its own: a draw writes 50,000 visits at once, and every reader so far comes
    # by task (the unique key below leads with it).
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    # Position by random number within the task (1 = smallest); the number in 16 hex digits.
    rank: Mapped[int]
    number: Mapped[str] = mapped_column(String(16))
    # The credit tier the draw used: internal, never published.
    tier: Mapped[str] = mapped_column(String(1))
    # The working day of the visit, set by the assignment.
    scheduled_on: Mapped[dt.date | None]


class VisitItem(Base):
    """An item a visit covers."""

    __tablename__ = "visit_items"

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), primary_key=True)
    task_item_id: Mapped[int] = mapped_column(ForeignKey("task_items.id"), primary_key=True, index=True)


class AssignmentRun(Base):
    """The one assignment of a task's visits to inspectors, with what is needed to re-run it."""

    __tablename__ = "assignment_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), unique=True)
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    operator: Mapped[str] = mapped_column(String(64))
    solver: Mapped[str] = mapped_column(String(64))  # e.g. "ortools 9.15.6755 SimpleMinCostFlow"
    parameters: Mapped[str] = mapped_column(Text)  # JSON
    result_sha256: Mapped[str] = mapped_column(String(64))
    # The facts solved from (inputs.pack, zlib) and their SHA-256: verify re-solves from them.
    inputs: Mapped[bytes | None] = mapped_column(LargeBinary)
    inputs_sha256: Mapped[str | None] = mapped_column(String(64))
    # False when a wall-clock safety limit cut the CP-SAT polish short (a re-run may differ).
    reproducible: Mapped[bool] = mapped_column(server_default=sa_true())
    report: Mapped[str] = mapped_column(Text, server_default="{}")  # JSON: pairs, CP-SAT blocks, seconds
    visits: Mapped[int]
    inspectors: Mapped[int]
    load_min: Mapped[int]
    load_max: Mapped[int]
    seconds: Mapped[float]


class Assignment(Base):
    """An inspector on a visit's team."""

    __tablename__ = "assignments"
    __table_args__ = ({"sqlite_with_rowid": False},)

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"), primary_key=True, index=True)


class Replacement(Base):
    """递补: an inspector withdrew from a visit and another took the place, by the same lottery."""

    __tablename__ = "replacements"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    withdrawn_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"))
    replacement_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"))
    reason: Mapped[str] = mapped_column(Text)
    from_date: Mapped[dt.date | None]
    replaced_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    operator: Mapped[str] = mapped_column(String(64))
