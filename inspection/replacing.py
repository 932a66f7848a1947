"""递补: an inspector withdraws from an assigned task; only their visits are re-solved, by the same
lottery, around everything that stays; the whole task is validated again before anything changes."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from credit import audit
from credit.errors import SpotcheckError
from inspection import matching
from inspection.assigning import AssignmentShort, inspector_facts, rules_of, task_params, visit_facts
from inspection.calendar import working_days
from inspection.eligibility import eligibility, explain, zone, zones
from inspection.models import Inspector
from inspection.task_models import Assignment, AssignmentRun, Draw, Replacement, Visit
from inspection.tasks import get_task
from inspection.staffing import AWAY_COST, on_duty
from inspection.validate import validate


@dataclass(frozen=True)
class Replaced:
    visit: int
    uscc: str
    day: dt.date
    replacement: str  # inspector number


def replace_inspector(session: Session, code: str, number: str, reason: str, operator: str, start: dt.date | None = None) -> list[Replaced]:
    """Take inspector ``number`` off their visits of task ``code`` (those on or after ``start``,
    or all), and give each visit another eligible inspector of the same department."""
    if not reason.strip():
        raise SpotcheckError("--reason must not be empty: a replacement records why")
    task = get_task(session, code)
    if session.scalar(select(AssignmentRun.id).where(AssignmentRun.task_id == task.id)) is None:
        raise SpotcheckError(f"task {code} has no assignment yet: nothing to replace")
    withdrawn = session.scalar(select(Inspector).where(Inspector.inspector_no == number))
    if withdrawn is None:
        raise SpotcheckError(f"no inspector {number!r} in the inspector directory")
    draw = session.scalar(select(Draw).where(Draw.task_id == task.id))
    assert draw is not None

    days = working_days(session, task.starts_on, task.ends_on)
    params = task_params(session, task, days)
    # The visits keep the dates they were given (the date stage is not run again).
    visits, _ = visit_facts(session, task, days, stored_dates=True)
    teams: dict[int, list[int]] = defaultdict(list)
    for visit_id, inspector_id in session.execute(
        select(Assignment.visit_id, Assignment.inspector_id).join(Visit, Visit.id == Assignment.visit_id).where(Visit.task_id == task.id)
    ):
        teams[visit_id].append(inspector_id)
    affected = [n for n, v in enumerate(visits) if withdrawn.id in teams[v.id] and (start is None or v.day >= start)]
    if not affected:
        when = f" on or after {start}" if start else ""
        raise SpotcheckError(f"inspector {number} has no visit in task {code}{when}: nothing to replace")

    inspectors = inspector_facts(session, {d for v in visits for d in v.items})
    numbers = {i.id: i.number for i in inspectors}
    department = next(i.department for i in inspectors if i.id == withdrawn.id)
    others = [i for i in inspectors if i.id != withdrawn.id and i.department == department]
    leaving = {visits[n].id for n in affected}
    load: Counter[int] = Counter()
    on_day: Counter[tuple[int, dt.date]] = Counter()
    for v in visits:
        for member in teams[v.id]:
            if member != withdrawn.id or v.id not in leaving:
                load[member] += 1
                on_day[(member, v.day)] += 1
    found = eligibility([visits[n] for n in affected], others, task.cross_station, zones(params.cooperation))
    pair_slot, pair_inspector, pair_day, room, labels, away = [], [], [], [], [], []
    index = {i.id: n for n, i in enumerate(others)}
    for s, n in enumerate(affected):
        visit = visits[n]
        for inspector_id in found.eligible[(visit.id, department)]:
            if inspector_id in teams[visit.id]:
                continue  # already on this team
            pair_slot.append(s)
            pair_inspector.append(index[inspector_id])
            pair_day.append(days.index(visit.day))
            room.append(max(0, task.visits_per_day - on_day[(inspector_id, visit.day)]))
            labels.append(f"{visit.uscc}:{numbers[inspector_id]}")
            away.append(others[index[inspector_id]].district != visit.district)
    current = np.array([load[i.id] for i in others], float)
    availability = np.array([sum(on_duty(i, d) for d in days) for i in others], float)
    # Fair shares within each cooperation zone (or district): the visits its inspectors can serve.
    partners = zones(params.cooperation)
    zone_names = sorted({zone(partners, i.district) for i in others} | {zone(partners, visits[n].district) for n in affected})
    zone_of = np.array([zone_names.index(zone(partners, i.district)) for i in others], np.int64)
    demand = np.array([current[zone_of == z].sum() for z in range(len(zone_names))], float)
    for n in affected:
        demand[zone_names.index(zone(partners, visits[n].district))] += 1
    fair = matching.targets(demand, zone_of, availability)
    instance = matching.Instance(
        slot_visit=np.arange(len(affected), dtype=np.int64), slot_count=np.ones(len(affected), np.int64),
        capacity=np.maximum(0, task.visits_per_task - current).astype(np.int64),
        target=np.maximum(0.0, fair - current),  # toward each one's fair share of the task in their zone
        pair_slot=np.array(pair_slot, np.int64), pair_inspector=np.array(pair_inspector, np.int64),
        pair_day=np.array(pair_day, np.int64), pair_cost=matching.lottery(bytes.fromhex(draw.key_hex), labels) + AWAY_COST * np.array(away, np.int64),
        per_day=task.visits_per_day, pair_day_room=np.array(room, np.int64),
    )
    solution = matching.solve(instance)
    if not solution.complete:
        lines = []
        for s, missing in enumerate(solution.short.tolist()):
            if missing:
                visit = visits[affected[s]]
                key = (visit.id, department)
                lines.append(f"  {visit.uscc} on {visit.day}: {explain(department, 1, len(found.eligible[key]), found.refused[key])}")
        raise AssignmentShort(f"{len(lines)} of {len(affected)} visits of inspector {number} cannot be given another inspector; nothing was changed:\n" + "\n".join(lines[:10]))

    chosen = {pair_slot[p]: others[pair_inspector[p]].id for p in np.flatnonzero(solution.chosen).tolist()}
    for s, n in enumerate(affected):
        team = teams[visits[n].id]
        team[team.index(withdrawn.id)] = chosen[s]
    problems = validate(visits, inspectors, teams, rules_of(params))
    if problems:
        raise SpotcheckError(f"task {code}: the replacement breaks {len(problems)} rule(s), nothing changed (a bug, please report): " + "; ".join(map(str, problems[:5])))

    out = []
    for s, n in enumerate(affected):
        visit = visits[n]
        session.execute(delete(Assignment).where(Assignment.visit_id == visit.id, Assignment.inspector_id == withdrawn.id))
        session.add(Assignment(visit_id=visit.id, inspector_id=chosen[s]))
        session.add(Replacement(task_id=task.id, visit_id=visit.id, withdrawn_id=withdrawn.id, replacement_id=chosen[s],
                                reason=reason, from_date=start, operator=operator))
        out.append(Replaced(visit.id, visit.uscc, visit.day, numbers[chosen[s]]))
    audit.record(session, "task.replace", f"task {code}: inspector {number} withdrawn from {len(out)} visit(s) ({reason}); replaced by lottery",
                 task=code, subject=number, detail={"withdrawn": number, "reason": reason, "from": start.isoformat() if start else None,
                                                    "replacements": [[r.uscc, r.replacement] for r in out]})
    return out
