"""双向评价: the enterprise's evaluation of a visit (a score 1–5 and a comment), entered by staff,
and its report per inspector and per department.

An evaluation is the enterprise's statement: one per visit, never overwritten. It counts for every
inspector on the visit's team, and once for each department that had an inspector on the team.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import audit
from credit.errors import SpotcheckError
from credit.models import Department
from inspection.models import Inspector
from inspection.result_models import Evaluation
from inspection.task_models import Assignment, Task, Visit
from inspection.tasks import get_task
from inspection.visits import find_visit, team_of, visit_ref

SCORES = range(1, 6)


@dataclass(frozen=True)
class Recorded:
    """A stored evaluation and the visit's reference (TASK/RANK)."""

    visit: str
    score: int
    comment: str


def record_evaluation(session: Session, ref: str, score: int, comment: str, entered_by: str,
                      on: dt.date, today: dt.date) -> Recorded:
    """Store the enterprise's evaluation of the visit ``ref``, given on ``on`` (not after today),
    once the visit has a team and has taken place; a second evaluation of a visit is refused."""
    if score not in SCORES:
        raise SpotcheckError(f"score {score} is not between 1 and 5")
    if on > today:
        raise SpotcheckError(f"--on {on} is in the future (today is {today})")
    visit, task = find_visit(session, ref)
    canonical = visit_ref(task.code, visit.rank)
    _require_taken_place(session, visit, task, canonical, on)
    _refuse_second(session, visit, canonical)
    session.add(Evaluation(visit_id=visit.id, score=score, comment=comment, entered_by=entered_by))
    try:
        session.flush()
    except sa_exc.IntegrityError as exc:  # another evaluation of the visit came in meanwhile
        raise SpotcheckError(f"visit {canonical} already has an evaluation; it is not overwritten") from exc
    audit.record(session, "evaluation.record", f"visit {canonical}: evaluation {score}/5 entered", task=task.code, subject=canonical, detail={"score": score, "on": on.isoformat()})
    return Recorded(canonical, score, comment)


def _require_taken_place(session: Session, visit: Visit, task: Task, ref: str, on: dt.date) -> None:
    if visit.scheduled_on is None or not team_of(session, visit):
        raise SpotcheckError(f"visit {ref} has no team yet: run `spotcheck task assign {task.code}` first")
    if visit.scheduled_on > on:
        raise SpotcheckError(f"the visit on {visit.scheduled_on} has not taken place yet (evaluation date {on})")


def _refuse_second(session: Session, visit: Visit, ref: str) -> None:
    existing = session.get(Evaluation, visit.id)
    if existing is not None:
        raise SpotcheckError(
            f"visit {ref} already has an evaluation (score {existing.score}, entered by {existing.entered_by} "
            f"on {existing.entered_at:%Y-%m-%d}); an evaluation is the enterprise's statement and is not overwritten"
        )


# The report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """How many evaluations gave each score 1..5."""

    counts: tuple[int, int, int, int, int]

    @classmethod
    def of(cls, scores: Iterable[int]) -> Tally:
        counts = [0] * len(SCORES)
        for score in scores:
            counts[score - 1] += 1
        return cls(tuple(counts))  # type: ignore[arg-type]

    @property
    def evaluated(self) -> int:
        return sum(self.counts)

    @property
    def mean(self) -> Decimal:
        """The mean score to 2 decimals, halves rounded up."""
        total = sum(score * n for score, n in zip(SCORES, self.counts))
        return (Decimal(total) / Decimal(self.evaluated)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def as_dict(self) -> dict[str, object]:
        return {"evaluated": self.evaluated, "mean": float(self.mean),
                "scores": {str(score): n for score, n in zip(SCORES, self.counts)}}


@dataclass(frozen=True)
class InspectorLine:
    number: str
    name: str
    department: str  # code
    tally: Tally

    def as_dict(self) -> dict[str, object]:
        return {"inspector": self.number, "name": self.name, "department": self.department, **self.tally.as_dict()}


@dataclass(frozen=True)
class DepartmentLine:
    code: str
    name: str
    tally: Tally

    def as_dict(self) -> dict[str, object]:
        return {"department": self.code, "name": self.name, **self.tally.as_dict()}


@dataclass(frozen=True)
class Report:
    inspectors: list[InspectorLine]
    departments: list[DepartmentLine]

    def as_dict(self) -> dict[str, object]:
        return {"inspectors": [line.as_dict() for line in self.inspectors],
                "departments": [line.as_dict() for line in self.departments]}


def evaluation_report(session: Session, task_code: str | None = None) -> Report:
    """Evaluations per inspector (every inspector on the visit's team) and per department (once
    per visit that had an inspector of it), of one task or of all; read in one query."""
    rows = _team_scores(session, task_code)
    return Report(_per_inspector(rows), _per_department(rows))


# (visit id, score, inspector number, inspector name, department code, department name)
_Row = tuple[int, int, str, str, str, str]


def _team_scores(session: Session, task_code: str | None) -> list[_Row]:
    """One row per evaluation and member of the visit's team."""
    query = (
        select(Evaluation.visit_id, Evaluation.score, Inspector.inspector_no, Inspector.name, Department.code, Department.name)
        .join(Assignment, Assignment.visit_id == Evaluation.visit_id)
        .join(Inspector, Inspector.id == Assignment.inspector_id)
        .join(Department, Department.id == Inspector.department_id)
    )
    if task_code is not None:
        task = get_task(session, task_code)
        query = query.join(Visit, Visit.id == Evaluation.visit_id).where(Visit.task_id == task.id)
    return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def _per_inspector(rows: list[_Row]) -> list[InspectorLine]:
    scores: dict[tuple[str, str, str], list[int]] = {}
    for _, score, number, name, department, _ in rows:
        scores.setdefault((number, name, department), []).append(score)
    return [InspectorLine(number, name, department, Tally.of(s)) for (number, name, department), s in sorted(scores.items())]


def _per_department(rows: list[_Row]) -> list[DepartmentLine]:
    visits: dict[tuple[str, str], dict[int, int]] = {}
    for visit_id, score, _, _, code, name in rows:
        visits.setdefault((code, name), {})[visit_id] = score  # once per visit
    return [DepartmentLine(code, name, Tally.of(v.values())) for (code, name), v in sorted(visits.items())]
