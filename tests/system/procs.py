"""Helpers of the system tests: the `spotcheck` console script run as real processes, their JSON
log events, locks the test holds to make processes meet, a SIGKILL while a process holds writes it
has not committed, and dumps of a whole database to compare before and after."""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, text

from credit.db import make_engine

# The console script installed next to this interpreter: what a user runs.
SPOTCHECK = Path(sys.executable).parent / "spotcheck"
REPO = Path(__file__).resolve().parents[2]
# Every command appends its audit event in the transaction of its work, just before it commits: a
# test holding this lock lets commands read and write but not commit (reading the trail still works).
HOLD_AUDIT_APPENDS = "LOCK TABLE audit_events IN SHARE MODE"


def command(url: str, *args: str, user: str | None = None) -> list[str]:
    acting = ["--user", user] if user else []
    return [str(SPOTCHECK), "--database-url", url, "--log-format", "json", *acting, *args]


def environment() -> dict[str, str]:
    """This environment without SPOTCHECK_* settings: each command names its database and user."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SPOTCHECK_")}


def json_events(stderr: str) -> list[dict[str, Any]]:
    """The structured log events of a command's stderr (``--log-format json``)."""
    events = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    return events


@dataclass
class Finished:
    """A command that has ended: its exit code and what it wrote."""

    args: list[str]
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        shown = " ".join(self.args[5:])  # after the script, --database-url URL --log-format json
        return f"spotcheck {shown}: exit {self.code}\n--- stdout:\n{self.stdout}\n--- stderr:\n{self.stderr}"


def start(url: str, *args: str, user: str | None = None) -> subprocess.Popen[str]:
    """Start a command; its own session, so that it and any child it forks can be killed together."""
    return subprocess.Popen(command(url, *args, user=user), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", env=environment(), start_new_session=True)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL a process started here and whatever it forked (its session's process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> Finished:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        raise AssertionError(f"{' '.join(map(str, proc.args))} did not end within {timeout} s\n{err}") from None
    return Finished([str(a) for a in proc.args], proc.returncode, out, err)


def run(url: str, *args: str, user: str | None = None, expect: int | None = 0) -> Finished:
    done = finish(start(url, *args, user=user))
    if expect is not None:
        assert done.code == expect, done.describe()
    return done


@contextmanager
def reaped(procs: list[subprocess.Popen[str]]) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started in the block are killed if still running when it ends (a failed test),
    and their pipes closed."""
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                kill_group(proc)
            proc.communicate()


def one_line_error(done: Finished) -> str:
    """The `Error:` line of a command that failed as a user error should: exit 1, exactly one such
    line, no traceback, and nothing else on stderr but JSON log events. Returns the line."""
    assert done.code == 1, done.describe()
    lines = done.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, done.describe()
    assert "Traceback" not in done.stderr, done.describe()
    for line in lines:
        if not line.startswith("Error:"):
            assert line.startswith("{") and isinstance(json.loads(line), dict), f"not a log event: {line!r}\n{done.describe()}"
    assert not any("exception" in event for event in json_events(done.stderr)), done.describe()
    return errors[0]


# PostgreSQL: sessions of the server, and locks the test holds -----------------------------------------


def application_name(purpose: str) -> str:
    """A name unique to this test run, to find a command's session among the server's."""
    return f"spotcheck-{purpose}-{uuid.uuid4().hex[:10]}"


def named(url: str, name: str) -> str:
    """The URL with the PostgreSQL application_name ``name``: the command's sessions carry it."""
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


@contextmanager
def server(url: str) -> Iterator[Connection]:
    """An autocommit connection to look at the server's sessions."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def sessions(conn: Connection, name: str, condition: str = "true") -> int:
    """How many sessions named ``name`` meet ``condition`` (SQL on pg_stat_activity)."""
    return int(conn.execute(text(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND ({condition})"),
                            {"name": name}).scalar_one())


@contextmanager
def holding(url: str, statement: str) -> Iterator[Callable[[], None]]:
    """Run ``statement`` in a transaction left open, so its locks are held until ``release()`` is
    called or the block ends (the transaction is rolled back: the test changes nothing)."""
    engine = create_engine(url)
    conn = engine.connect()
    transaction = conn.begin()
    conn.execute(text(statement))
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            transaction.rollback()

    try:
        yield release
    finally:
        release()
        conn.close()
        engine.dispose()


def wait_until(condition: Callable[[], bool], what: str, procs: Sequence[subprocess.Popen[str]] = (), timeout: float = 120) -> None:
    """Poll ``condition``; fail with the output of any process that ends first, or on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"waiting for {what}, a command ended first:\n{finish(proc).describe()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.02)


# A command watched as it runs, stopped and killed -----------------------------------------------------


class Watched:
    """A running command whose stderr (JSON log events) is read as it comes, in this thread."""

    def __init__(self, url: str, *args: str, user: str | None, stdout: Path) -> None:
        self.args = command(url, *args, user=user)
        self._stdout = stdout.open("wb")
        self.proc = subprocess.Popen(self.args, stdout=self._stdout, stderr=subprocess.PIPE, env=environment(), start_new_session=True)
        assert self.proc.stderr is not None
        self._fd = self.proc.stderr.fileno()
        os.set_blocking(self._fd, False)
        self._raw = b""
        self._partial = b""
        self.events: list[dict[str, Any]] = []
        self.eof = False
        self._stdout_path = stdout

    def pump(self, timeout: float) -> None:
        """Read what the command has written to stderr, waiting at most ``timeout`` seconds."""
        if self.eof:
            time.sleep(timeout)
            return
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return
        try:
            chunk = os.read(self._fd, 1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            self.eof = True
            return
        self._raw += chunk
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        self.events.extend(json_events(b"\n".join(lines).decode("utf-8", "replace")))

    def seen(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("event") == name), None)

    def wait_for(self, name: str, also: Callable[[], bool] | None = None, timeout: float = 180) -> dict[str, Any] | None:
        """The command's first log event ``name``; None if it ended without one, or if ``also()``
        became true first."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.seen(name)
            if event is not None:
                return event
            if self.eof and self.proc.poll() is not None:
                return None
            if also is not None and also():
                self.pump(0.05)  # the event may have been written just before
                return self.seen(name)
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for the log event {name!r}\n{self.describe()}")
            self.pump(0.005)

    def finished(self) -> Finished:
        """Wait for the command to end and read the rest of its output."""
        self.proc.wait()
        while not self.eof:
            self.pump(0.05)
        self._stdout.flush()
        return Finished([str(a) for a in self.args], self.proc.returncode, self._stdout_path.read_text(encoding="utf-8"),
                        self._raw.decode("utf-8", "replace"))

    def describe(self) -> str:
        return f"spotcheck {' '.join(self.args[5:])}\n--- stderr so far:\n{self._raw.decode('utf-8', 'replace')}"

    def close(self) -> None:
        if self.proc.poll() is None:
            kill_group(self.proc)
            self.proc.wait()
        # Whatever is left of its process group (a child it forked, when a test failed before
        # checking it ended) is ended by its own id.
        for pid in group_members(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        self._stdout.close()


def group_members(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` (a session started here), from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _state(pid: int) -> str | None:
    """The process state letter from /proc (R, S, D, T, Z …), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def stop(proc: subprocess.Popen[Any]) -> bool:
    """SIGSTOP ``proc`` and wait until it is stopped; False when it has ended instead."""
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while True:
        state = _state(proc.pid)
        if state in ("T", "t"):
            return True
        if state in (None, "Z", "X"):
            return False
        if time.monotonic() > deadline:
            raise AssertionError(f"process {proc.pid} did not stop (state {state})")
        time.sleep(0.0002)


def kill_while_writing(watched: Watched, writing: Callable[[], bool], timeout: float = 180) -> bool:
    """SIGKILL the command at a moment its transaction has written and not committed.

    The process is stopped first (SIGSTOP), so it cannot commit while the database is asked
    whether it holds uncommitted writes; if it does, it is killed; if not, it goes on (SIGCONT) and
    is looked at again a moment later. False when it ended before such a moment was found."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not stop(watched.proc):
            watched.proc.wait()
            return False
        if writing():
            os.kill(watched.proc.pid, signal.SIGKILL)
            watched.proc.wait()
            return True
        os.kill(watched.proc.pid, signal.SIGCONT)
        watched.pump(0.001)
    raise AssertionError(f"the command never held uncommitted writes within {timeout} s\n{watched.describe()}")


class SqliteWriter:
    """Asks whether a transaction holds SQLite's write lock (WAL: one writer, from its first write
    to its commit): a BEGIN IMMEDIATE that must not wait fails exactly then."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=0, isolation_level=None)

    def __call__(self) -> bool:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return True
            raise
        self.conn.execute("ROLLBACK")
        return False

    def close(self) -> None:
        self.conn.close()


def sqlite_copy(source: Path, target: Path) -> None:
    """Copy a SQLite database, committed content only, through SQLite's backup API."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


# Dumps ------------------------------------------------------------------------------------------------


def dump(url: str) -> dict[str, list[str]]:
    """Every row of every table of the database (of the schema, on PostgreSQL), as sorted text."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                names = [n for (n,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            else:
                names = [n for (n,) in conn.execute(text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                    " AND table_type = 'BASE TABLE' ORDER BY table_name"))]
            quote = conn.dialect.identifier_preparer.quote
            return {name: sorted(repr(tuple(row)) for row in conn.exec_driver_sql(f"SELECT * FROM {quote(name)}")) for name in names}
    finally:
        engine.dispose()


def differences(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """What changed between two dumps, table by table, with an example row."""
    found = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if old is None or new is None:
            found.append(f"table {name} {'appeared' if old is None else 'disappeared'}")
            continue
        added, removed = Counter(new) - Counter(old), Counter(old) - Counter(new)
        example = next(iter(added or removed))
        found.append(f"{name}: {sum(added.values())} row(s) added, {sum(removed.values())} removed, e.g. {example[:300]}")
    return found


def generate(out: Path, records_per_enterprise: float) -> Path:
    """bench/generate.py with the arguments the shipped examples were made with, but more records
    per enterprise: the enterprises are the examples' own, so the records import into them.
    Returns records.csv."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(REPO / "bench" / "generate.py"), "--enterprises", "300",
                    "--records-per-enterprise", str(records_per_enterprise), "--departments", "3", "--inspectors", "60",
                    "--items", "10", "--districts", "500106,500107", "--seed", "20261101", "--today", "2026-11-01",
                    "--out", str(out), "--quiet"], check=True)
    examples = REPO / "examples" / "enterprises.csv"
    assert (out / "enterprises.csv").read_bytes() == examples.read_bytes(), "bench/generate.py no longer makes the examples' enterprises"
    return out / "records.csv"


def rows_of(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for _ in fh) - 1
