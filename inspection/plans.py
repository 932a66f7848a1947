"""Annual spot-check plans (年度抽查工作计划): create from a definition, read back."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import audit
from credit.errors import SpotcheckError
from credit.models import Department, District
from inspection.definitions import PlanDefinition, Scope, Source
from inspection.task_models import Plan, PlanBatch, PlanDepartment


def departments_by_code(session: Session, codes: list[str] | tuple[str, ...], source: Source, path: tuple[str | int, ...]) -> dict[str, Department]:
    """The departments named, or an error at the first unknown code."""
    found = {d.code: d for d in session.scalars(select(Department).where(Department.code.in_(codes)))}
    for code in codes:
        if code not in found:
            raise source.error(path, f"unknown department {code!r}; import it with `spotcheck import departments`", code)
    return found


def check_districts(session: Session, scope: Scope, source: Source, path: tuple[str | int, ...]) -> None:
    known = set(session.scalars(select(District.code).where(District.code.in_(scope.districts))))
    for code in scope.districts:
        if code not in known:
            raise source.error((*path, "districts"), f"unknown district {code}: no enterprise or inspector directory names it", code)


def create_plan(session: Session, definition: PlanDefinition) -> Plan:
    """Store a plan; its code must be new."""
    source = definition.source
    if session.scalar(select(Plan.id).where(Plan.code == definition.code)) is not None:
        raise source.error(("code",), f"plan {definition.code} already exists; plans are never rewritten: give the new plan another code", definition.code)
    departments = departments_by_code(session, definition.departments, source, ("departments",))
    for n, batch in enumerate(definition.batches):
        check_districts(session, batch.scope, source, ("batch", n, "scope"))
    plan = Plan(code=definition.code, name=definition.name, year=definition.year, definition=source.text,
                definition_sha256=hashlib.sha256(source.text.encode()).hexdigest())
    session.add(plan)
    session.flush()
    session.add_all(PlanDepartment(plan_id=plan.id, department_id=departments[c].id) for c in definition.departments)
    session.add_all(
        PlanBatch(plan_id=plan.id, number=b.number, name=b.name, starts_on=b.starts_on, ends_on=b.ends_on,
                  quantity=b.quantity, scope=json.dumps(b.scope.as_dict(), ensure_ascii=False))
        for b in definition.batches
    )
    audit.record(session, "plan.create", f"plan {plan.code} ({plan.year}) created: {len(definition.batches)} batch(es)", subject=plan.code,
                 detail={"definition_sha256": plan.definition_sha256})
    return plan


def get_plan(session: Session, code: str) -> Plan:
    plan = session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        raise SpotcheckError(f"no plan {code!r}; `spotcheck plan list` shows the plans")
    return plan


def plan_summary(session: Session, plan: Plan) -> dict[str, Any]:
    departments = session.scalars(
        select(Department.code).join(PlanDepartment, PlanDepartment.department_id == Department.id)
        .where(PlanDepartment.plan_id == plan.id).order_by(Department.code)
    ).all()
    batches = session.scalars(select(PlanBatch).where(PlanBatch.plan_id == plan.id).order_by(PlanBatch.number)).all()
    return {
        "code": plan.code, "name": plan.name, "year": plan.year, "departments": list(departments),
        "definition_sha256": plan.definition_sha256,
        "batches": [
            {"number": b.number, "name": b.name, "starts_on": b.starts_on.isoformat(), "ends_on": b.ends_on.isoformat(),
             "quantity": b.quantity, "scope": json.loads(b.scope)}
            for b in batches
        ],
    }


def list_plans(session: Session) -> list[dict[str, Any]]:
    return [
        {"code": p.code, "name": p.name, "year": p.year}
        for p in session.scalars(select(Plan).order_by(Plan.year, Plan.code))
    ]
