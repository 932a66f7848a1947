"""检查通知书: one printable notice per visit, in Chinese, telling the enterprise once (一次告知)
every item of the joint visit and every document to prepare."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit.errors import SpotcheckError
from credit.models import Department, Enterprise
from inspection.enums import CheckMethod
from inspection.models import CheckItem, Inspector
from inspection.task_models import Assignment, AssignmentRun, Task, TaskItem, Visit, VisitItem

# Always asked for; each item adds what its subject needs.
BASE_DOCUMENTS = ("营业执照（或其他主体资格证明）副本", "法定代表人（负责人）身份证明，委托他人配合检查的，另附授权委托书")


def _documents(items: list[tuple[str, str | None, str]]) -> list[str]:
    """What the enterprise prepares, once for the whole visit: the base papers, then for each
    item the licences, ledgers and records its subject concerns, without repeats."""
    out = list(BASE_DOCUMENTS)
    for name, category, _ in items:
        subject = category or name
        line = f"与“{subject}”相关的许可证件、台账、记录和资料（检查事项：{name}）"
        if line not in out:
            out.append(line)
    if any(CheckMethod.ONSITE.value in methods.split(";") for _, _, methods in items):
        out.append("检查当日请开放经营场所，安排熟悉情况的人员陪同现场检查")
    return out


def write_notices(session: Session, task: Task, out_dir: Path) -> list[Path]:
    """One HTML file per visit of an assigned task, named by rank and USCC."""
    if session.scalar(select(AssignmentRun.id).where(AssignmentRun.task_id == task.id)) is None:
        raise SpotcheckError(f"task {task.code} has no assignment yet: run `spotcheck task assign {task.code}` first")
    lead = session.get(Department, task.lead_department_id)
    items: dict[int, list[tuple[str, str | None, str, str, str]]] = defaultdict(list)
    for visit_id, name, category, methods, basis, department in session.execute(
        select(VisitItem.visit_id, CheckItem.name, CheckItem.category, CheckItem.methods, CheckItem.legal_basis, Department.name)
        .join(TaskItem, TaskItem.id == VisitItem.task_item_id).join(CheckItem, CheckItem.id == TaskItem.item_id)
        .join(Department, Department.id == TaskItem.department_id).join(Visit, Visit.id == VisitItem.visit_id)
        .where(Visit.task_id == task.id).order_by(VisitItem.visit_id, CheckItem.code)
    ):
        items[visit_id].append((name, category, methods, basis, department))
    teams: dict[int, list[dict[str, str]]] = defaultdict(list)
    for visit_id, name, certificate, department in session.execute(
        select(Assignment.visit_id, Inspector.name, Inspector.certificate_no, Department.name)
        .join(Inspector, Inspector.id == Assignment.inspector_id).join(Department, Department.id == Inspector.department_id)
        .join(Visit, Visit.id == Assignment.visit_id).where(Visit.task_id == task.id).order_by(Inspector.inspector_no)
    ):
        teams[visit_id].append({"name": name, "certificate": certificate or "", "department": department})
    template = Environment(loader=PackageLoader("inspection", "templates"), autoescape=select_autoescape(["html"])).get_template("notice.html")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for visit, enterprise in session.execute(
        select(Visit, Enterprise).join(Enterprise, Enterprise.id == Visit.enterprise_id).where(Visit.task_id == task.id).order_by(Visit.rank)
    ).all():
        mine = items[visit.id]
        path = out_dir / f"{visit.rank:05d}-{enterprise.uscc}.html"
        path.write_text(template.render(
            number=f"{task.code}-{visit.rank:05d}", enterprise=enterprise.name, uscc=enterprise.uscc, task=task.code,
            task_name=task.name, departments=sorted({d for *_, d in mine}), day=f"{visit.scheduled_on:%Y年%m月%d日}",
            items=[{"name": n, "basis": b, "department": d, "methods": "、".join(CheckMethod(m).labels[1] for m in filter(None, ms.split(";")))} for n, _, ms, b, d in mine],
            documents=_documents([(n, c, ms) for n, c, ms, _, _ in mine]), team=teams[visit.id],
            lead=lead.name if lead else "", issued=f"{dt.date.today():%Y年%m月%d日}",
        ), encoding="utf-8")
        files.append(path)
    return files
