"""Run one function in a forked child while the parent works on, so that reading a million-row
table uses both cores (the draw's population, the grading's records). POSIX only; callers fall
back to calling the function directly where fork is unavailable."""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

AVAILABLE = hasattr(os, "fork")


def start(func: Callable[..., T], *args: Any, nice: int = 0) -> Callable[[], T]:
    """Start ``func(*args)`` in a child process; the returned function waits for its result
    (or raises the child's exception). The child never touches the parent's database
    connections: ``func`` must open its own. A ``nice`` child yields the CPU to the parent
    (os.nice): for work with time to spare while the parent does what everything waits for."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child; its result is checked by the parent
        os.close(read_fd)
        try:
            if nice:
                os.nice(nice)
            payload = pickle.dumps((True, func(*args)), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            payload = pickle.dumps((False, exc))
        with os.fdopen(write_fd, "wb") as out:
            out.write(payload)
        os._exit(0)  # no atexit handlers, no pool clean-up of the parent's connections
    os.close(write_fd)
    # The result is read as the child writes it, by a thread: a pipe holds 64 KB, and a child
    # done before the parent would otherwise wait for it to copy tens of megabytes over. The
    # read releases the GIL, as do the parent's queries meanwhile.
    received: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(read_fd, received), name="forked-result", daemon=True)
    reader.start()

    def wait() -> T:
        reader.join()  # the whole result, before waitpid: a full pipe would block the child
        payload = received[0] if received else b""
        _, status = os.waitpid(pid, 0)
        if not payload:
            raise RuntimeError(f"the reader process ended without a result (status {status})")
        ok, value = pickle.loads(payload)
        if not ok:
            raise value
        return value

    return wait


def _drain(fd: int, into: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as pipe:
        into.append(pipe.read())


@contextlib.contextmanager
def reaped(wait: Callable[[], Any] | None) -> Iterator[None]:
    """Run the block beside the started child (``wait``, or None when there is none); if the
    block fails, wait for the child first, so none is left behind, then let the error through."""
    try:
        yield
    except BaseException:
        if wait:
            with contextlib.suppress(Exception):
                wait()
        raise
