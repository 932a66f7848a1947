"""ORM classes of the inspection side: the inspector directory and the spot-check item list."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from credit.db import Base, enum_type, one_of, utcnow
from inspection.enums import InspectorStatus, ItemKind


class Inspector(Base):
    """An entry of the 执法检查人员名录库."""

    __tablename__ = "inspectors"
    __table_args__ = (one_of("status", InspectorStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspector_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    certificate_no: Mapped[str | None] = mapped_column(String(64))
    certificate_expires: Mapped[dt.date | None]
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"))
    station: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[InspectorStatus] = mapped_column(enum_type(InspectorStatus))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))


class InspectorQualification(Base):
    """An item code or item category (事项类别) an inspector may check."""

    __tablename__ = "inspector_qualifications"

    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id", ondelete="CASCADE"), primary_key=True)
    item: Mapped[str] = mapped_column(String(128), primary_key=True)


class InspectorLeave(Base):
    """A leave period (请假), both days included."""

    __tablename__ = "inspector_leaves"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="ends_after_start"),)

    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id", ondelete="CASCADE"), primary_key=True)
    starts_on: Mapped[dt.date] = mapped_column(primary_key=True)
    ends_on: Mapped[dt.date]


class InspectorConflict(Base):
    """An enterprise the inspector must withdraw from (回避), by USCC."""

    __tablename__ = "inspector_conflicts"

    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id", ondelete="CASCADE"), primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)


class CheckItem(Base):
    """One item of a version of the 随机抽查事项清单. A version, once loaded, is never rewritten."""

    __tablename__ = "check_items"
    __table_args__ = (UniqueConstraint("code", "version"), one_of("kind", ItemKind))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    category: Mapped[str | None] = mapped_column(String(128))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    legal_basis: Mapped[str] = mapped_column(String(1024))
    kind: Mapped[ItemKind] = mapped_column(enum_type(ItemKind))
    # ";"-joined codes; empty means every entity type / industry.
    entity_types: Mapped[str] = mapped_column(String(128), default="")
    industries: Mapped[str] = mapped_column(String(256), default="")
    methods: Mapped[str] = mapped_column(String(64))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))


class HolidaySchedule(Base):
    """A State Council holiday schedule (部分节假日安排) loaded for a year chinese-calendar does not
    know yet (workdays.py reads it). Never changed once loaded: deadlines were counted with it."""

    __tablename__ = "holiday_schedules"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    operator: Mapped[str] = mapped_column(String(64))
