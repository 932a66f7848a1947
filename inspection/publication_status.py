"""Where every visit's results stand against the publication deadline (20 working days)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credit.models import Enterprise
from credit.policy import Policy
from inspection.calendar import Workdays
from inspection.enums import ResultState
from inspection.result_models import Publication, VisitResult
from inspection.task_models import Task, Visit
from inspection.visits import visit_ref

NOT_RECORDED = "未录入"


@dataclass(frozen=True)
class StatusRow:
    visit: str
    enterprise: str
    state: str  # 未录入, 录入, 待审核, 已审核, 已公示
    checked_on: dt.date  # the check date, or the scheduled day while nothing is recorded
    deadline: dt.date
    published_on: dt.date | None
    working_days_left: int | None  # None once published, or overdue in a year without a schedule
    timeliness: str  # on_time, due_soon, overdue; published_on_time, published_late


def publication_status(session: Session, policy: Policy, as_of: dt.date, task: str | None = None) -> list[StatusRow]:
    """Every visit that has results or whose day has come, most urgent first."""
    first_published = (
        select(Publication.visit_id, func.min(Publication.published_on).label("on")).where(Publication.revision == 1)
        .group_by(Publication.visit_id).subquery()
    )
    query = (
        select(Visit.rank, Visit.scheduled_on, Task.code, Enterprise.name, VisitResult.state, VisitResult.checked_on, first_published.c.on)
        .join(Task, Task.id == Visit.task_id).join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .outerjoin(VisitResult, VisitResult.visit_id == Visit.id).outerjoin(first_published, first_published.c.visit_id == Visit.id)
        .where(Visit.scheduled_on.is_not(None))
    )
    if task is not None:
        query = query.where(Task.code == task)
    days = Workdays(session)
    rows = []
    for rank, scheduled_on, code, name, state, checked_on, published_on in session.execute(query.order_by(Task.code, Visit.rank)):
        day = checked_on or scheduled_on
        if state is None and day > as_of:
            continue  # not visited yet: no deadline runs
        deadline = days.add(day, policy.publish_working_days, "the publication deadline")
        if published_on is not None:
            left, timeliness = None, "published_late" if published_on > deadline else "published_on_time"
        else:
            left = days.left(as_of, deadline)
            timeliness = "overdue" if left is None or left < 0 else "due_soon" if left <= policy.publish_due_soon else "on_time"
        label = ResultState(state).label if state is not None else NOT_RECORDED
        rows.append(StatusRow(visit_ref(code, rank), name, label, day, deadline, published_on, left, timeliness))
    order = {"overdue": 0, "due_soon": 1, "on_time": 2, "published_late": 3, "published_on_time": 4}
    rows.sort(key=lambda r: (order[r.timeliness], r.deadline, r.visit))
    return rows


def summarise(rows: list[StatusRow]) -> dict[str, dict[str, int]]:
    """Counts by state and by timeliness."""
    return {"states": dict(sorted(Counter(r.state for r in rows).items())), "timeliness": dict(sorted(Counter(r.timeliness for r in rows).items()))}
