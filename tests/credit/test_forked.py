"""credit.forked: the second reader process of grading and the draw."""

from __future__ import annotations

import os

import pytest

from credit import forked


def test_the_child_result_comes_back() -> None:
    assert forked.start(sum, [1, 2, 3])() == 6


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
