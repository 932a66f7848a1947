"""Who may do what: the five roles and the actions each command performs. Pure.

Separation of duties: planning staff draw, inspectors record, reviewers approve and publish,
auditors read everything and change nothing, administrators manage users and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from credit.labels import Labeled


class Role(Labeled):
    PLANNER = "planner", "计划人员"
    INSPECTOR = "inspector", "执法检查人员"
    REVIEWER = "reviewer", "审核人员"
    AUDITOR = "auditor", "监督审计人员"
    ADMIN = "admin", "系统管理员"


P, I, R, A, M = Role.PLANNER, Role.INSPECTOR, Role.REVIEWER, Role.AUDITOR, Role.ADMIN

# Each action a command performs, and the roles that may perform it. Reading is open to the
# roles whose work needs it and always to the auditor; an inspector reads only their own
# assignments and visits (the services narrow what they see).
ACTIONS: dict[str, frozenset[Role]] = {
    "directory.import": frozenset({P}),
    "directory.export": frozenset({P, A}),
    "calendar.load": frozenset({P}),
    "calendar.read": frozenset({P, I, R, A}),
    "credit.grade": frozenset({P}),
    "credit.repair": frozenset({P}),
    "credit.read": frozenset({P, R, A}),
    "plan.create": frozenset({P}),
    "plan.read": frozenset({P, R, A}),
    "task.create": frozenset({P}),
    "task.draw": frozenset({P}),
    "task.assign": frozenset({P}),
    "task.replace": frozenset({P}),
    "task.notices": frozenset({P}),
    "task.read": frozenset({P, R, A}),
    "assignments.read": frozenset({P, I, R, A}),
    "result.record": frozenset({I}),
    "result.read": frozenset({P, I, R, A}),
    "result.review": frozenset({R}),
    "result.correct": frozenset({R}),
    "result.publish": frozenset({R}),
    "publication.read": frozenset({P, R, A}),
    "followup.update": frozenset({R}),
    "followup.read": frozenset({P, R, A}),
    "evaluation.record": frozenset({R}),
    "evaluation.read": frozenset({P, R, A}),
    "report.read": frozenset({P, R, A}),
    "audit.read": frozenset({A, M}),
    "user.manage": frozenset({M}),
    "user.read": frozenset({M, A}),
}


@dataclass(frozen=True)
class Actor:
    """The person a command acts for; an inspector carries their inspector number."""

    name: str
    role: Role
    inspector_id: int | None = None
    inspector_no: str | None = None


def may(role: Role, action: str) -> bool:
    """Whether ``role`` may perform ``action``; an unknown action is a programming error."""
    return role in ACTIONS[action]


def roles_for(action: str) -> list[Role]:
    """The roles that may perform ``action``, in the order of the enum."""
    return [role for role in Role if role in ACTIONS[action]]
