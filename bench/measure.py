"""Shared by the benchmarks: timed child processes and the ``spotcheck`` command to run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Timed:
    """What one child process took and printed."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_timed(name: str, argv: list[str], workdir: Path, *, env: dict[str, str] | None = None,
              cwd: Path | None = None, stream_stderr: bool = False) -> Timed:
    """Run ``argv``, timing it and reading its own peak RSS from ``os.wait4``.

    Output goes to files (never pipes a child could block on); stderr is echoed live
    when ``stream_stderr``.
    """
    out_path, err_path = workdir / f"{name}.stdout", workdir / f"{name}.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=None if stream_stderr else err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; tell Popen
    peak_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    return Timed(seconds, peak_mb, proc.returncode,
                 out_path.read_text(encoding="utf-8", errors="replace"),
                 err_path.read_text(encoding="utf-8", errors="replace"))


# Every command acts as a user: the benchmarks add an administrator and a planner right after
# `db upgrade` (USER_STEPS) and act as the planner.
os.environ["SPOTCHECK_USER"] = "bench"
USER_STEPS = [("user admin", ["user", "add", "bench-admin", "--role", "admin"]),
              ("user planner", ["--user", "bench-admin", "user", "add", "bench", "--role", "planner"])]


def user_steps(db: Path) -> list[tuple[str, list[str]]]:
    """The USER_STEPS still to run on the SQLite file ``db``: none when it has its users already
    (a database built by bench/import.py), since adding a user twice fails."""
    try:
        with sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True) as connection:
            names = {name for (name,) in connection.execute("SELECT name FROM users")}
        connection.close()
    except sqlite3.Error:  # no file or no users table yet: db upgrade comes first
        return list(USER_STEPS)
    return [] if {"bench-admin", "bench"} <= names else list(USER_STEPS)


def spotcheck_command(script: str) -> list[str]:
    """The ``spotcheck`` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "spotcheck"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("spotcheck")
    if found:
        return [found]
    sys.exit(f"{script}: no spotcheck command found; install the project (pip install -e .)")
