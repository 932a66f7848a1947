"""Spot-check tasks (抽查任务): create from a definition with a seed commitment, read back."""

from __future__ import annotations

import hashlib
import json
import secrets
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import audit
from credit.errors import SpotcheckError
from credit.grading import get_run
from credit.models import Department, District
from credit.policy import TIERS, Policy, check_tier_ratios, format_percent, parse_percent
from inspection.definitions import Scope, TaskDefinition
from inspection.enums import ItemKind, TaskStatus
from inspection.models import CheckItem
from inspection.plans import check_districts, departments_by_code
from inspection.sampling import seed_commitment
from inspection.task_models import Draw, Plan, PlanBatch, PlanDepartment, Task, TaskItem


def parse_seed(text: str) -> bytes:
    """A seed given as 64 hex digits (tests and re-enactments only)."""
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise SpotcheckError("--seed must be 64 hexadecimal digits (32 bytes)") from None
    if len(seed) != 32:
        raise SpotcheckError(f"--seed must be 64 hexadecimal digits (32 bytes), got {len(text)} characters")
    return seed


def create_task(session: Session, definition: TaskDefinition, policy: Policy, seed: bytes | None = None) -> Task:
    """Check a task definition against the plan, the directories and the policy, and store it
    with the commitment to a fresh secret seed (or to ``seed``, recorded as given)."""
    source = definition.source
    if session.scalar(select(Task.id).where(Task.code == definition.code)) is not None:
        raise source.error(("code",), f"task {definition.code} already exists; a task is never rewritten: give the new task another code", definition.code)
    plan = session.scalar(select(Plan).where(Plan.code == definition.plan))
    if plan is None:
        raise source.error(("plan",), f"no plan {definition.plan!r}; create it first with `spotcheck plan create`", definition.plan)
    batch = session.scalar(select(PlanBatch).where(PlanBatch.plan_id == plan.id, PlanBatch.number == definition.batch))
    if batch is None:
        raise source.error(("batch",), f"plan {plan.code} has no batch {definition.batch}")
    if definition.starts_on < batch.starts_on or definition.ends_on > batch.ends_on:
        key = "starts_on" if definition.starts_on < batch.starts_on else "ends_on"
        raise source.error((key,), f"the inspection window {definition.starts_on}–{definition.ends_on} must lie within batch {batch.number} ({batch.starts_on}–{batch.ends_on})")
    batch_scope = Scope.from_dict(json.loads(batch.scope))
    outside = definition.scope.within(batch_scope)
    if outside:
        raise source.error(("scope", outside[0]), f"{outside[1]} is outside batch {batch.number}'s scope ({', '.join(getattr(batch_scope, outside[0]))})", outside[1])
    scope = definition.scope.narrowed(batch_scope)
    check_districts(session, definition.scope, source, ("scope",))
    cooperating = [d for group in definition.cooperation for d in group]
    known = set(session.scalars(select(District.code).where(District.code.in_(cooperating))))
    for code in cooperating:
        if code not in known:
            raise source.error(("cooperation",), f"unknown district {code}: no enterprise or inspector directory names it", code)
        if definition.scope.districts and code not in definition.scope.districts:
            raise source.error(("cooperation",), f"district {code} cooperates but is not in the task's scope districts", code)

    in_plan = set(session.scalars(select(Department.code).join(PlanDepartment, PlanDepartment.department_id == Department.id).where(PlanDepartment.plan_id == plan.id)))
    for choice in definition.departments:
        if choice.code not in in_plan:
            raise source.error((*choice.path, "code"), f"department {choice.code} is not in plan {plan.code} ({', '.join(sorted(in_plan))})", choice.code)
    departments = departments_by_code(session, [d.code for d in definition.departments], source, ("department",))

    try:
        run = get_run(session, definition.grading_run)
    except SpotcheckError as exc:
        raise source.error(("grading_run",), str(exc)) from None

    per_visit = definition.inspectors_per_visit or policy.inspectors_per_visit
    default = {t: parse_percent(r) for t, r in zip(TIERS, policy.draw_ratios, strict=True)}
    general_max = parse_percent(policy.general_max_ratio)
    items: list[tuple[CheckItem, Department, dict[str, Fraction]]] = []
    for choice in definition.departments:
        department = departments[choice.code]
        for pick in choice.items:
            item = session.scalar(select(CheckItem).where(CheckItem.code == pick.code, CheckItem.version == definition.item_version))
            if item is None:
                raise source.error(pick.path, f"item {pick.code} is not in version {definition.item_version} of the published item list (随机抽查事项清单): an item not on a published list may not be inspected", pick.code)
            if item.department_id != department.id:
                owner = session.get(Department, item.department_id)
                raise source.error(pick.path, f"item {pick.code} belongs to department {owner.code if owner else '?'}, not {department.code}", pick.code)
            ratios = {t: pick.ratios.get(t, definition.ratios.get(t, default[t])) for t in TIERS}
            problem = check_tier_ratios(ratios)
            if problem:
                raise source.error(pick.path, f"item {pick.code}: {problem}", pick.code)
            if item.kind == ItemKind.GENERAL:
                over = [t for t in TIERS if ratios[t] > general_max]
                if over:
                    raise source.error(pick.path, f"item {pick.code} is a 一般检查事项: its ratio for tier {over[0]} ({format_percent(ratios[over[0]])}) is above the policy's ceiling {policy.general_max_ratio}; only a 重点检查事项 may go higher", pick.code)
            items.append((item, department, ratios))

    replaced = None
    if definition.replaces:
        replaced = session.scalar(select(Task).where(Task.code == definition.replaces))
        if replaced is None:
            raise source.error(("replaces",), f"no task {definition.replaces!r} to replace", definition.replaces)
        if replaced.status != TaskStatus.DRAWN:
            state = "has not been drawn: change nothing, just draw it" if replaced.status == TaskStatus.CREATED else "was already replaced"
            raise source.error(("replaces",), f"task {replaced.code} {state}", definition.replaces)
        other = session.scalar(select(Task.code).where(Task.replaces_task_id == replaced.id))
        if other:
            raise source.error(("replaces",), f"task {replaced.code} is already named as replaced by task {other}", definition.replaces)

    secret = seed if seed is not None else secrets.token_bytes(32)
    task = Task(
        code=definition.code, name=definition.name, kind=definition.kind, status=TaskStatus.CREATED,
        plan_id=plan.id, batch_id=batch.id, lead_department_id=departments[definition.lead].id,
        grading_run_id=run.id, item_version=definition.item_version,
        scope=json.dumps(scope.as_dict(), ensure_ascii=False), starts_on=definition.starts_on,
        ends_on=definition.ends_on, inspectors_per_visit=per_visit, recheck_months=policy.recheck_months,
        visits_per_day=definition.visits_per_day or policy.visits_per_day,
        visits_per_task=definition.visits_per_task or policy.visits_per_task,
        cross_station=policy.cross_station if definition.cross_station is None else definition.cross_station,
        cooperation=json.dumps([list(g) for g in definition.cooperation]),
        yearly_cap=policy.yearly_cap, seed_commitment=seed_commitment(secret), seed_hex=secret.hex(),
        seed_source="given" if seed is not None else "os",
        replaces_task_id=replaced.id if replaced else None, replace_reason=definition.replace_reason,
        policy_sha256=policy.sha256, definition=source.text,
        definition_sha256=hashlib.sha256(source.text.encode()).hexdigest(),
    )
    session.add(task)
    session.flush()
    session.add_all(
        TaskItem(task_id=task.id, item_id=item.id, department_id=department.id,
                 **{f"ratio_{t.lower()}": format_percent(ratios[t]) for t in TIERS})
        for item, department, ratios in items
    )
    audit.record(session, "task.create", f"task {task.code} created: {len(items)} item(s), window {task.starts_on}–{task.ends_on}"
                 + (f", replacing {replaced.code}: {definition.replace_reason}" if replaced else ""),
                 task=task.code, subject=task.code, detail={"definition_sha256": task.definition_sha256, "policy_sha256": task.policy_sha256})
    # The commitment is its own event: what the announcement publishes before the draw.
    audit.record(session, "task.seed", f"task {task.code}: seed committed, SHA-256 {task.seed_commitment}" + (" (seed given with --seed)" if seed is not None else ""),
                 task=task.code, subject=task.code, detail={"seed_commitment": task.seed_commitment, "seed_source": task.seed_source})
    return task


def get_task(session: Session, code: str) -> Task:
    task = session.scalar(select(Task).where(Task.code == code))
    if task is None:
        raise SpotcheckError(f"no task {code!r}; `spotcheck task list` shows the tasks")
    return task


def task_items(session: Session, task: Task) -> list[tuple[TaskItem, CheckItem, Department]]:
    """The task's items in code order (the order of the draw's flags and parameters)."""
    rows = session.execute(
        select(TaskItem, CheckItem, Department)
        .join(CheckItem, CheckItem.id == TaskItem.item_id).join(Department, Department.id == TaskItem.department_id)
        .where(TaskItem.task_id == task.id).order_by(CheckItem.code)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def task_summary(session: Session, task: Task) -> dict[str, Any]:
    """What `task show` prints: the definition as stored, the commitment, the draw if any. The
    secret seed is shown only once the draw has revealed it."""
    lead = session.get(Department, task.lead_department_id)
    plan = session.get(Plan, task.plan_id)
    batch = session.get(PlanBatch, task.batch_id)
    draw = session.scalar(select(Draw).where(Draw.task_id == task.id))
    replaced = session.get(Task, task.replaces_task_id) if task.replaces_task_id else None
    replaced_by = session.scalar(select(Task.code).where(Task.replaces_task_id == task.id))
    data: dict[str, Any] = {
        "code": task.code, "name": task.name, "kind": task.kind.value, "status": task.status.value,
        "plan": plan.code if plan else None, "batch": batch.number if batch else None,
        "lead_department": lead.code if lead else None, "grading_run": task.grading_run_id,
        "item_version": task.item_version, "scope": json.loads(task.scope),
        "starts_on": task.starts_on.isoformat(), "ends_on": task.ends_on.isoformat(),
        "inspectors_per_visit": task.inspectors_per_visit, "visits_per_day": task.visits_per_day,
        "visits_per_task": task.visits_per_task, "cross_station": task.cross_station, "cooperation": json.loads(task.cooperation), "recheck_months": task.recheck_months,
        "yearly_cap": task.yearly_cap, "seed_commitment": task.seed_commitment, "seed_source": task.seed_source,
        "replaces": replaced.code if replaced else None, "replace_reason": task.replace_reason,
        "replaced_by": replaced_by, "definition_sha256": task.definition_sha256,
        "items": [
            {"code": item.code, "name": item.name, "kind": item.kind.value, "department": department.code,
             "ratios": {t: getattr(ti, f"ratio_{t.lower()}") for t in TIERS}}
            for ti, item, department in task_items(session, task)
        ],
        "draw": None,
    }
    if draw is not None:
        report = json.loads(draw.report)
        data["draw"] = {
            "drawn_at": draw.drawn_at.isoformat(), "operator": draw.operator, "algorithm": draw.algorithm,
            "entropy": draw.entropy, "seed": draw.seed_hex, "key": draw.key_hex,
            "population_sha256": draw.population_sha256, "population": draw.population_size,
            "result_sha256": draw.result_sha256, "visits": draw.visits, "matters": draw.matters,
            "separate_visits": draw.separate_visits, **report,
        }
    return data


def list_tasks(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(Task, Plan.code).join(Plan, Plan.id == Task.plan_id).order_by(Task.id)).all()
    return [
        {"code": t.code, "name": t.name, "plan": plan, "kind": t.kind.value, "status": t.status.value,
         "starts_on": t.starts_on.isoformat(), "ends_on": t.ends_on.isoformat()}
        for t, plan in rows
    ]
