"""Process settings for the commands that work on arrays of ten million numbers.

Grading makes some forty temporary arrays of ten million elements. Two defaults make each of
them cost its memory afresh, measured on this machine class (1M enterprises, 10M records):

- numpy advises the kernel to back every array over 4 MB with transparent huge pages. On these
  VMs none are granted (AnonHugePages stays 0) and the advice slows every new array: reading
  the population took 1.35 s with it, 1.0 s without. numpy reads NUMPY_MADVISE_HUGEPAGE when it
  is imported, so the command line sets it first (cli/__init__.py).
- glibc maps every allocation over 32 MB on its own and unmaps it when freed, so each new
  temporary is faulted in page by page again. Kept in the heap instead (mallopt(3): no
  mappings, no trimming), freed arrays are reused: scoring took 1.5 s instead of 2.1 s.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4


def no_huge_page_advice() -> None:
    """Before numpy is imported: no madvise(MADV_HUGEPAGE) for its arrays, unless the
    environment says otherwise."""
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


def keep_freed_memory() -> bool:
    """Have glibc keep freed memory for reuse for the rest of the process (a command's);
    False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - glibc only: its parameters mean something else elsewhere
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) and mallopt(_M_TOP_PAD, 256 << 20))
