"""Users and their roles: who may act, and the check every command makes before it acts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credit import audit
from credit.audit_models import User
from credit.errors import SpotcheckError
from credit.roles import ACTIONS, Actor, Role, may, roles_for
from inspection.models import Inspector


class AccessRefused(SpotcheckError):
    """The acting user is unknown, disabled, or not in a role that may do this."""


class UserError(SpotcheckError):
    """A user cannot be added or changed as asked."""


def _inspector(session: Session, role: Role, inspector_no: str | None) -> Inspector | None:
    if role is Role.INSPECTOR and not inspector_no:
        raise UserError("an inspector user needs --inspector-id: their number in the inspector directory")
    if role is not Role.INSPECTOR:
        if inspector_no:
            raise UserError(f"--inspector-id is for the inspector role, not {role.value}")
        return None
    found = session.scalars(select(Inspector).where(Inspector.inspector_no == inspector_no)).one_or_none()
    if found is None:
        raise UserError(f"no inspector {inspector_no} in the inspector directory (spotcheck import inspectors FILE)")
    taken = session.scalars(select(User.name).where(User.inspector_id == found.id)).first()
    if taken is not None:
        raise UserError(f"inspector {inspector_no} is already the user {taken}")
    return found


def is_empty(session: Session) -> bool:
    """No user yet: the first one may be added by anyone, and must be an administrator."""
    return not session.scalar(select(func.count()).select_from(User))


def add_user(session: Session, name: str, role: Role, inspector_no: str | None) -> tuple[User, bool]:
    """Add a user; returns it and whether it was the first (the bootstrap administrator)."""
    name = name.strip()
    if not name:
        raise UserError("a user needs a name")
    first = is_empty(session)
    if first and role is not Role.ADMIN:
        raise UserError("the first user must be an administrator: spotcheck user add NAME --role admin")
    if session.scalars(select(User).where(User.name == name)).first() is not None:
        raise UserError(f"user {name} already exists")
    inspector = _inspector(session, role, inspector_no)
    actor = Actor(name, Role.ADMIN) if first else audit.actor_of(session)
    user = User(name=name, role=role, inspector_id=inspector.id if inspector else None, created_by=actor.name)
    session.add(user)
    what = f"user {name} added as {role.value}" + (f" (inspector {inspector_no})" if inspector_no else "") + (" (first administrator)" if first else "")
    audit.record(session, "user.add", what, subject=name, detail={"role": role.value, "inspector": inspector_no}, actor=actor)
    return user, first


def _user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise UserError(f"no user {name}")
    return user


def set_role(session: Session, name: str, role: Role, inspector_no: str | None) -> User:
    """Change a user's role; the last active administrator cannot give up the role."""
    user = _user(session, name)
    if user.role is Role.ADMIN and role is not Role.ADMIN and _admins(session) == 1 and user.active:
        raise UserError(f"{name} is the last administrator: add another first")
    old = user.role
    user.inspector_id = None
    session.flush()
    inspector = _inspector(session, role, inspector_no)
    user.role, user.inspector_id = role, inspector.id if inspector else None
    audit.record(session, "user.role", f"user {name}: {old.value} → {role.value}", subject=name, detail={"from": old.value, "to": role.value, "inspector": inspector_no})
    return user


def set_active(session: Session, name: str, active: bool) -> User:
    """Disable a user (they can no longer act) or enable them again; users are never deleted."""
    user = _user(session, name)
    if not active and user.role is Role.ADMIN and user.active and _admins(session) == 1:
        raise UserError(f"{name} is the last administrator: add another first")
    user.active = active
    audit.record(session, "user.enable" if active else "user.disable", f"user {name} {'enabled' if active else 'disabled'}", subject=name)
    return user


def _admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.active.is_(True))) or 0


def list_users(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(User, Inspector.inspector_no).outerjoin(Inspector, Inspector.id == User.inspector_id).order_by(User.name)
    ).all()
    return [
        {"name": u.name, "role": u.role.value, "inspector": no, "active": u.active, "created_by": u.created_by,
         "created_at": u.created_at.isoformat(timespec="seconds")}
        for u, no in rows
    ]


def authorize(session: Session, name: str | None, action: str) -> Actor:
    """The acting user, if they exist, are active and their role may perform ``action``."""
    if action not in ACTIONS:
        raise KeyError(action)
    if not name:
        raise AccessRefused("no acting user: give --user NAME or set SPOTCHECK_USER (spotcheck user list shows the users)")
    row = session.execute(
        select(User, Inspector.inspector_no).outerjoin(Inspector, Inspector.id == User.inspector_id).where(User.name == name)
    ).one_or_none()
    if row is None:
        hint = "the first user must be an administrator: spotcheck user add NAME --role admin" if is_empty(session) else "an administrator adds users with spotcheck user add"
        raise AccessRefused(f"unknown user {name}: {hint}")
    user, inspector_no = row
    if not user.active:
        raise AccessRefused(f"user {name} is disabled")
    if not may(user.role, action):
        allowed = ", ".join(r.value for r in roles_for(action))
        raise AccessRefused(f"{name} is {user.role.value}: {action} is for {allowed}")
    return Actor(user.name, user.role, user.inspector_id, inspector_no)


def role_of(session: Session, name: str | None) -> str | None:
    """The role of a named user, for the record of a refused attempt (None: no such user)."""
    if not name:
        return None
    role = session.scalar(select(User.role).where(User.name == name))
    return role.value if role else None


def acting_inspector(actor: Actor, given: str | None) -> str:
    """The inspector number an inspector acts under: their own; naming another is refused."""
    if actor.inspector_no is None:
        raise AccessRefused(f"{actor.name} is not tied to an inspector (spotcheck user role {actor.name} --role inspector --inspector-id NO)")
    if given is not None and given != actor.inspector_no:
        raise AccessRefused(f"{actor.name} is inspector {actor.inspector_no}: cannot act as inspector {given}")
    return actor.inspector_no
