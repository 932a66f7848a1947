"""The click context object: configuration, built lazily so ``--help`` never opens a database."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
import structlog
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import sessionmaker

from credit import audit
from credit.db import make_engine, make_sessionmaker
from credit.errors import SpotcheckError
from credit.roles import Actor
import inspection.tables  # noqa: F401  (every table known to the audit trail)

log = structlog.get_logger()
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    """Settings from the root group, and the engine made from them on first use."""

    database_url: str
    # The name given by --user / SPOTCHECK_USER, and the user it turned out to be.
    user: str | None = None
    actor: Actor | None = None
    _engine: Engine | None = field(default=None, repr=False)
    _sessions: sessionmaker | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    @property
    def sessions(self) -> sessionmaker:
        """Session factory; commands use ``with app.sessions.begin() as session``."""
        if self._sessions is None:
            self._sessions = make_sessionmaker(self.engine)
        return self._sessions

    @contextmanager
    def session(self, *, at_head: bool = True) -> Iterator[Any]:
        """One transaction for a command, after checking the schema is at head; the audit
        trail records its changes as the acting user's."""
        if at_head:
            from cli.schema import require_head

            require_head(self.engine)
        with self.sessions.begin() as session:
            if self.actor is not None:
                session.info[audit.ACTOR] = self.actor
            yield session

    def authorize(self, action: str, *, bootstrap: bool = False) -> None:
        """Check that the acting user may perform ``action``; a refusal is recorded, then raised.

        ``bootstrap`` lets anyone act while there is no user at all (adding the first administrator).
        """
        from inspection.users import AccessRefused, authorize, is_empty

        with self.session() as session:
            if bootstrap and is_empty(session):
                return
            try:
                self.actor = authorize(session, self.user, action)
                return
            except AccessRefused as exc:
                refused = exc
        self.record_refusal(action, refused)
        raise refused

    def record_refusal(self, action: str, refused: SpotcheckError) -> None:
        """Append a refused attempt to the audit trail, in a transaction of its own."""
        from inspection.users import role_of

        with self.sessions.begin() as session:
            role = role_of(session, self.user)
        audit.record_refusal(self.sessions, self.user or "(none)", role, action, str(refused))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


pass_app = click.make_pass_decorator(App)


@contextmanager
def summary(command: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Time a command and emit its one summary event; callers add counts to the dict."""
    started = time.perf_counter()
    facts: dict[str, Any] = dict(fields)
    with structlog.contextvars.bound_contextvars(command=command):
        try:
            yield facts
        except BaseException as exc:
            log.error("command_failed", seconds=round(time.perf_counter() - started, 3), error=str(exc) or type(exc).__name__, **facts)
            raise
        log.info("command_finished", seconds=round(time.perf_counter() - started, 3), **facts)


def requires(action: str, *, bootstrap: bool = False) -> Callable[[F], F]:
    """The command performs ``action`` (credit.roles.ACTIONS): the acting user must be allowed.

    A refusal inside the command (an inspector acting on another team's visit) is recorded too.
    Place it below ``@domain_errors`` so refusals become one-line errors.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from inspection.users import AccessRefused

            app = click.get_current_context().find_object(App)
            assert app is not None
            app.authorize(action, bootstrap=bootstrap)
            try:
                return func(*args, **kwargs)
            except AccessRefused as exc:
                app.record_refusal(action, exc)
                raise

        wrapper.spotcheck_action = action  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def domain_errors(func: F) -> F:
    """Turn domain and connection errors into click errors so users never see a traceback.

    A malformed database URL is a usage error (exit 2); a database that cannot be reached
    or refuses the work, and any domain error, exit 1.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpotcheckError as exc:
            raise click.ClickException(str(exc)) from exc
        except sa_exc.ArgumentError as exc:
            raise click.UsageError(f"invalid --database-url: {exc}") from exc
        except sa_exc.DBAPIError as exc:  # unreachable server, locked file, refused statement
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise click.ClickException(f"database error: {reason}") from exc
        except OSError as exc:  # an output file in a missing or read-only folder
            raise click.ClickException(f"{exc.filename or 'file'}: {exc.strerror or exc}") from exc

    return wrapper  # type: ignore[return-value]
