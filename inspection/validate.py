"""The independent check of an assignment, run on every solution before it is stored. Pure.

It shares no rule code with the model (eligibility.py, matching.py): it reads the same facts and
states each rule again, the way an auditor would, so a bug in the model is not repeated here.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from inspection.eligibility import InspectorFacts, VisitFacts


@dataclass(frozen=True)
class Violation:
    visit: int | None
    inspector: int | None
    rule: str
    detail: str

    def __str__(self) -> str:
        who = " ".join(p for p in (f"visit {self.visit}" if self.visit is not None else "", f"inspector {self.inspector}" if self.inspector is not None else "") if p)
        return f"{who}: {self.rule}: {self.detail}"


@dataclass(frozen=True)
class Rules:
    team_size: int
    window: tuple[dt.date, dt.date]
    working_days: Collection[dt.date]
    per_day: int
    per_task: int
    cross_station: bool
    # Groups of cooperating districts (跨区协作): inside a group, inspectors may cross the line.
    cooperation: Collection[frozenset[str]] = ()


def validate(visits: Sequence[VisitFacts], inspectors: Sequence[InspectorFacts], teams: Mapping[int, Sequence[int]], rules: Rules) -> list[Violation]:
    """Every broken rule of ``teams`` (visit id → inspector ids); empty when all hold."""
    found: list[Violation] = []
    people = {i.id: i for i in inspectors}
    per_day: Counter[tuple[int, dt.date]] = Counter()
    per_task: Counter[int] = Counter()
    for visit in visits:
        team = list(teams.get(visit.id, ()))
        if not rules.window[0] <= visit.day <= rules.window[1]:
            found.append(Violation(visit.id, None, "window", f"{visit.day} is outside {rules.window[0]}–{rules.window[1]}"))
        if visit.day not in rules.working_days:
            found.append(Violation(visit.id, None, "working_day", f"{visit.day} is not a working day"))
        if len(set(team)) != len(team):
            found.append(Violation(visit.id, None, "team", "an inspector appears twice in the team"))
        if len(set(team)) < rules.team_size:
            found.append(Violation(visit.id, None, "team", f"{len(set(team))} inspector(s), at least {rules.team_size} required"))
        sent = {people[i].department for i in team if i in people}
        for department in visit.items:
            if department not in sent:
                found.append(Violation(visit.id, None, "department", f"no inspector of {department}, whose items the visit covers"))
        for member in set(team):
            inspector = people.get(member)
            if inspector is None:
                found.append(Violation(visit.id, member, "unknown", "not in the inspector directory"))
                continue
            per_day[(member, visit.day)] += 1
            per_task[member] += 1
            found.extend(Violation(visit.id, member, rule, detail) for rule, detail in _member_problems(visit, inspector, rules))
    for (member, day), n in sorted(per_day.items()):
        if n > rules.per_day:
            found.append(Violation(None, member, "per_day", f"{n} visits on {day}, at most {rules.per_day}"))
    for member, n in sorted(per_task.items()):
        if n > rules.per_task:
            found.append(Violation(None, member, "per_task", f"{n} visits in the task, at most {rules.per_task}"))
    return found


def _member_problems(visit: VisitFacts, inspector: InspectorFacts, rules: Rules) -> list[tuple[str, str]]:
    problems = []
    if not inspector.active:
        problems.append(("active", "not 在岗"))
    if inspector.district != visit.district and not any({inspector.district, visit.district} <= group for group in rules.cooperation):
        problems.append(("territory", f"works in {inspector.district}, the enterprise is in {visit.district}, and the task has no cooperation between them"))
    mine = visit.items.get(inspector.department)
    if mine is None:
        problems.append(("department", f"{inspector.department} has no item on this visit"))
    else:
        for item in mine:
            held = inspector.qualifications
            if item.code not in held and (item.category is None or item.category not in held):
                problems.append(("qualification", f"not qualified for {item.code}"))
    expires = inspector.certificate_expires
    if expires is None:
        problems.append(("certificate", "no enforcement certificate"))
    elif expires < visit.day:
        problems.append(("certificate", f"certificate expired on {expires}"))
    for start, end in inspector.leave:
        if start <= visit.day <= end:
            problems.append(("leave", f"on leave {start}–{end}"))
    if visit.uscc in inspector.conflicts:
        problems.append(("recusal", "declared conflict with the enterprise (回避)"))
    if inspector.id in visit.previous:
        problems.append(("recusal", "inspected the enterprise's previous visit"))
    if rules.cross_station and visit.station is not None and visit.station == inspector.station:
        problems.append(("recusal", "from the enterprise's own station (所所交叉)"))
    return problems
