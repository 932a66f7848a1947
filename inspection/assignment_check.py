"""Re-solve a stored assignment from the facts it recorded and compare: part of `task verify`.

The dates are recomputed from the draw ranks, the teams by the same pure pipeline
(staffing.py) with the same key, the result hashed as at assignment time, every rule checked
again by the validator, and the teams stored now must be the re-solved ones with each recorded
replacement (递补) applied in order: anything else was changed behind the system's back.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from credit.models import Enterprise
from inspection import inputs
from inspection.assigning import rules_of
from inspection.dating import kind, spread
from inspection.models import Inspector
from inspection.staffing import result_text, staff
from inspection.task_models import Assignment, AssignmentRun, Draw, Replacement, Task, Visit
from inspection.validate import validate


def check_assignment(session: Session, task: Task) -> list[tuple[str, str]]:
    """(check, message) for every difference; empty when the assignment reproduces exactly.
    A task not assigned yet has nothing to check."""
    run = session.scalar(select(AssignmentRun).where(AssignmentRun.task_id == task.id))
    if run is None:
        return []
    if run.inputs is None or run.inputs_sha256 is None:
        return [("assignment", "the run was stored before assignments kept their inputs: it cannot be re-solved")]
    if inputs.digest(run.inputs) != run.inputs_sha256:
        return [("assignment", "the stored assignment inputs do not match their recorded hash")]
    draw = session.scalar(select(Draw).where(Draw.task_id == task.id))
    assert draw is not None
    visits, ranks, inspectors, params = inputs.unpack(run.inputs)
    out: list[tuple[str, str]] = []
    if not run.reproducible:
        out.append(("assignment", "the CP-SAT polish was cut short by its wall-clock safety limit when it ran, so a re-run may differ"))

    dated = spread([(v.id, v.district, kind(v.items), rank) for v, rank in zip(visits, ranks)], list(params.days))
    wrong = next((v for v in visits if dated[v.id] != v.day), None)
    if wrong is not None:
        out.append(("dates", f"{wrong.uscc}: the date stage gives {dated[wrong.id]}, the inputs say {wrong.day}"))
    stored = {vid: (uscc, day) for vid, uscc, day in session.execute(
        select(Visit.id, Enterprise.uscc, Visit.scheduled_on).join(Enterprise, Enterprise.id == Visit.enterprise_id).where(Visit.task_id == task.id))}
    moved = next((v for v in visits if stored.get(v.id) != (v.uscc, v.day)), None)
    if moved is not None or len(stored) != len(visits):
        what = f"{moved.uscc} is stored on {stored.get(moved.id, (None, None))[1]}, solved on {moved.day}" if moved else "the task's visits are not the ones solved"
        out.append(("dates", what))

    staffing = staff(visits, inspectors, params, bytes.fromhex(draw.key_hex))
    if staffing.shortage:
        out.append(("assignment", "re-solving from the recorded inputs cannot staff every visit: " + staffing.shortage.splitlines()[0]))
        return out
    numbers: dict[int, str] = {i: n for i, n in session.execute(select(Inspector.id, Inspector.inspector_no))}
    if hashlib.sha256(result_text(visits, staffing.teams, numbers)).hexdigest() != run.result_sha256:
        out.append(("assignment", "re-solving from the recorded inputs does not give the recorded result hash"))
    problems = validate(visits, inspectors, staffing.teams, rules_of(params))
    if problems:
        out.append(("rules", f"the re-solved assignment breaks {len(problems)} rule(s), first: {problems[0]}"))

    expected = {v: list(team) for v, team in staffing.teams.items()}
    for visit_id, withdrawn, replacement in session.execute(
        select(Replacement.visit_id, Replacement.withdrawn_id, Replacement.replacement_id)
        .where(Replacement.task_id == task.id).order_by(Replacement.id)
    ):
        team = expected.setdefault(visit_id, [])
        team[:] = [replacement if member == withdrawn else member for member in team]
    now: dict[int, list[int]] = defaultdict(list)
    for visit_id, inspector_id in session.execute(
        select(Assignment.visit_id, Assignment.inspector_id).join(Visit, Visit.id == Assignment.visit_id).where(Visit.task_id == task.id)
    ):
        now[visit_id].append(inspector_id)
    for v in visits:
        want, have = sorted(numbers.get(i, str(i)) for i in expected.get(v.id, ())), sorted(numbers.get(i, str(i)) for i in now.get(v.id, ()))
        if want != have:
            out.append(("teams", f"{v.uscc}: stored team {', '.join(have) or 'none'}, re-solved with the recorded replacements {', '.join(want)}"))
            break
    return out
