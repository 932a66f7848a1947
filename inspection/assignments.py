"""One inspector's assignments (检查任务清单): read, and written as CSV, XLSX or an iCalendar file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit.errors import ExportError, SpotcheckError
from credit.models import Department, Enterprise
from credit.tabular import write_table
from inspection.enums import CheckMethod
from inspection.models import CheckItem, Inspector
from inspection.task_models import Assignment, AssignmentRun, Task, TaskItem, Visit, VisitItem
from inspection.visits import visit_ref

HEADER = ["检查日期", "检查编号", "任务编号", "任务名称", "企业名称", "统一社会信用代码", "住所", "检查事项", "检查组成员", "随带文书"]
# What every team brings (执法人员出示执法证件; the notice told the enterprise once what to prepare).
DOCUMENTS = ("执法证件", "检查通知书", "现场检查笔录")


@dataclass(frozen=True)
class AssignedVisit:
    day: dt.date
    visit: str  # 检查编号 (TASK/NUMBER): how results are recorded against the visit
    task: str
    task_name: str
    enterprise: str
    uscc: str
    address: str
    items: tuple[str, ...]
    team: tuple[str, ...]  # "name (number)"
    documents: tuple[str, ...]

    def row(self) -> list[object]:
        return [self.day, self.visit, self.task, self.task_name, self.enterprise, self.uscc, self.address,
                "；".join(self.items), "、".join(self.team), "、".join(self.documents)]


def inspector_assignments(session: Session, number: str, task_code: str | None = None) -> tuple[Inspector, list[AssignedVisit]]:
    """An inspector's visits (of one task, or of every assigned task), by date."""
    inspector = session.scalar(select(Inspector).where(Inspector.inspector_no == number))
    if inspector is None:
        raise SpotcheckError(f"no inspector {number!r} in the inspector directory")
    query = (
        select(Visit, Task, Enterprise).join(Assignment, Assignment.visit_id == Visit.id)
        .join(Task, Task.id == Visit.task_id).join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .join(AssignmentRun, AssignmentRun.task_id == Task.id)
        .where(Assignment.inspector_id == inspector.id).order_by(Visit.scheduled_on, Task.code, Enterprise.uscc)
    )
    if task_code is not None:
        if session.scalar(select(Task.id).where(Task.code == task_code)) is None:
            raise SpotcheckError(f"no task {task_code!r}")
        query = query.where(Task.code == task_code)
    out = []
    for visit, task, enterprise in session.execute(query):
        items = session.execute(
            select(CheckItem.name, CheckItem.methods).join(TaskItem, TaskItem.item_id == CheckItem.id)
            .join(VisitItem, VisitItem.task_item_id == TaskItem.id).where(VisitItem.visit_id == visit.id).order_by(CheckItem.code)
        ).all()
        team = session.execute(
            select(Inspector.name, Inspector.inspector_no, Department.name).join(Assignment, Assignment.inspector_id == Inspector.id)
            .join(Department, Department.id == Inspector.department_id).where(Assignment.visit_id == visit.id).order_by(Inspector.inspector_no)
        ).all()
        methods = {m for _, ms in items for m in filter(None, ms.split(";"))}
        documents = DOCUMENTS if CheckMethod.ONSITE.value in methods else DOCUMENTS[:2]
        out.append(AssignedVisit(
            visit.scheduled_on, visit_ref(task.code, visit.rank), task.code, task.name, enterprise.name, enterprise.uscc, enterprise.address or "",
            tuple(name for name, _ in items), tuple(f"{n}（{no}，{d}）" for n, no, d in team), documents,
        ))
    return inspector, out


def write_assignments(path: Path, inspector: Inspector, rows: list[AssignedVisit]) -> int:
    """Write .csv or .xlsx (Chinese headers), or .ics: one all-day event per visit."""
    suffix = path.suffix.lower()
    if suffix == ".ics":
        path.write_bytes(calendar(inspector, rows))
        return len(rows)
    if suffix not in (".csv", ".xlsx"):
        raise ExportError(f"{path.name}: unsupported file type {suffix or '(none)'}; use .csv, .xlsx or .ics")
    return write_table(path, HEADER, [r.row() for r in rows], sheet_title="检查任务清单")


def calendar(inspector: Inspector, rows: list[AssignedVisit]) -> bytes:
    """RFC 5545: a visit is an all-day event on its date (Asia/Shanghai), with a stable UID."""
    cal = Calendar()
    cal.add("prodid", "-//spotcheck//检查任务清单//ZH")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{inspector.name}（{inspector.inspector_no}）检查任务")
    cal.add("x-wr-timezone", "Asia/Shanghai")
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for r in rows:
        event = Event()
        event.add("uid", f"{r.task}-{r.uscc}-{inspector.inspector_no}@spotcheck")
        event.add("dtstamp", stamp)
        event.add("dtstart", r.day)
        event.add("dtend", r.day + dt.timedelta(days=1))
        event.add("summary", f"抽查：{r.enterprise}")
        event.add("location", r.address)
        event.add("description", f"检查编号 {r.visit}\n任务 {r.task} {r.task_name}\n统一社会信用代码 {r.uscc}\n检查事项：{'；'.join(r.items)}\n"
                                 f"检查组：{'、'.join(r.team)}\n随带文书：{'、'.join(r.documents)}")
        cal.add_component(event)
    return cal.to_ical()
