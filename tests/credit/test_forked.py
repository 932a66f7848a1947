"""credit.forked: the second reader process of grading and the draw."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from credit import forked


def test_the_child_result_comes_back() -> None:
    assert forked.start(sum, [1, 2, 3])() == 6


def test_a_nice_child_yields_to_the_parent() -> None:
    mine = os.nice(0)
    assert forked.start(os.nice, 0, nice=5)() == min(mine + 5, 19)
    assert forked.start(os.nice, 0)() == mine
    assert os.nice(0) == mine  # the parent keeps its own


def test_the_child_error_comes_back() -> None:
    with pytest.raises(ZeroDivisionError):
        forked.start(divmod, 1, 0)()


def test_a_failing_block_waits_for_its_reader_first() -> None:
    """No reader process is left behind when the work beside it fails."""
    waited: list[int] = []
    child = forked.start(os.getpid)

    def wait() -> int:
        waited.append(child())
        return waited[-1]

    with pytest.raises(ZeroDivisionError), forked.reaped(wait):
        1 / 0  # noqa: B018
    assert len(waited) == 1 and waited[0] != os.getpid()
    with pytest.raises(ChildProcessError):
        os.waitpid(waited[0], os.WNOHANG)  # reaped already
    with forked.reaped(None):  # no reader: the block just runs
        pass


def _big(pid_file: str) -> bytes:
    Path(pid_file).write_text(str(os.getpid()))
    return b"x" * (20 << 20)


def _state(pid: int) -> str:
    # /proc/PID/stat: "pid (comm) state ..."; Z once the process has exited, before it is reaped.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_big_result_does_not_keep_the_child_waiting(tmp_path: Path) -> None:
    """The parent takes the result in as it comes: a child done first exits at once, instead of
    waiting on a full pipe until the parent asks for its 20 MB."""
    pid_file = tmp_path / "pid"
    wait = forked.start(_big, str(pid_file))
    deadline, state = time.monotonic() + 10, ""
    while time.monotonic() < deadline and state != "Z":
        time.sleep(0.05)
        if pid_file.exists() and pid_file.read_text():
            state = _state(int(pid_file.read_text()))
    assert state == "Z"
    assert wait() == b"x" * (20 << 20)
