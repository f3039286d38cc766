"""Keep glibc from handing large freed blocks back to the OS.

A training step frees and re-allocates every activation; with glibc's defaults each large
array is a fresh mmap, and the page faults cost more than the maths (measured: 71 vs 45 ms
per GPT step). Raising the mmap and trim thresholds makes re-allocation reuse the heap.

Arrays above glibc's largest mmap threshold (32 MB: a GPT-2 step's logits and their softmax are
~200 MB each) are still fresh mmaps every step, and numpy asks the kernel for transparent huge
pages on every array of 4 MB or more. Faulting those in cost more than it saved here (GPT-2 small,
batch 4 x 256: cross-entropy forward 0.17-0.27 vs 0.42-0.59 s, the whole step 5.6-6.0 vs
6.1-6.4 s, alternating in one process), so that advice is switched off too, unless the user set
numpy's own ``NUMPY_MADVISE_HUGEPAGE``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def keep_freed_memory(threshold: int = 1 << 30) -> bool:
    """Apply the mallopt settings once; returns whether they took effect (glibc Linux only)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("TINYTORCH_NO_MALLOPT"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(_M_MMAP_THRESHOLD, min(threshold, 32 << 20))) and bool(mallopt(_M_TRIM_THRESHOLD, threshold))
    _done = ok
    return ok


def no_huge_page_advice() -> bool:
    """Stop numpy's madvise(MADV_HUGEPAGE) on large arrays (Linux), unless NUMPY_MADVISE_HUGEPAGE is set."""
    if not sys.platform.startswith("linux") or os.environ.get("TINYTORCH_NO_MALLOPT") \
            or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    import numpy as np

    setter = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)
    if setter is None:  # a numpy without the switch: keep its default
        return False
    setter(False)
    return True
