"""Finding a visit by its reference (检查编号): ``TASK/RANK`` or ``TASK/USCC``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from credit.errors import SpotcheckError
from credit.models import Enterprise
from inspection.task_models import Assignment, Task, Visit
from inspection.tasks import get_task


def visit_ref(task_code: str, rank: int) -> str:
    """The reference shown to users: the task code and the visit's rank in the draw."""
    return f"{task_code}/{rank}"


def find_visit(session: Session, ref: str) -> tuple[Visit, Task]:
    """The visit named ``TASK/RANK`` (as in the assignments) or ``TASK/USCC``."""
    task_code, slash, which = ref.strip().rpartition("/")
    if not slash or not task_code or not which:
        raise SpotcheckError(f"{ref!r} is not a visit: write TASK/NUMBER (检查编号, as in `spotcheck assignments`) or TASK/USCC")
    task = get_task(session, task_code)
    if which.isdigit() and len(which) < 18:
        visit = session.scalar(select(Visit).where(Visit.task_id == task.id, Visit.rank == int(which)))
    else:
        visit = session.scalar(
            select(Visit).join(Enterprise, Enterprise.id == Visit.enterprise_id)
            .where(Visit.task_id == task.id, Enterprise.uscc == which.upper())
        )
    if visit is None:
        raise SpotcheckError(f"task {task.code} has no visit {which!r}")
    return visit, task


def team_of(session: Session, visit: Visit) -> set[int]:
    """Inspector ids on the visit's team now (after any 递补)."""
    return set(session.scalars(select(Assignment.inspector_id).where(Assignment.visit_id == visit.id)))
