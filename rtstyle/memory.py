"""Keep freed memory in the process for the next frame instead of handing it back to the system.

Every frame allocates a few full-resolution float arrays (the network's input
and output, the guided upsampler's planes: 3.7 MB each at 640x480). glibc
serves blocks above its mmap threshold (128 KiB at start) with fresh mmap()s
and unmaps them on free, so each frame page-faults its memory in again, one
4 KiB page at a time, and the kernel zeroes every page. On the project's
virtual machine that cost more than the arithmetic: the guided upsampler at
640x480 took ~13 ms with fresh pages and ~3 ms with reused ones
(benchmarks/results/memory.md).

Raising the mmap threshold serves those blocks from the heap, and raising the
trim threshold keeps the freed heap for reuse: the process holds on to its
peak working set (tens of MB for a video stream) instead of faulting it in
per frame. A process-wide malloc setting, so the ``rtstyle`` command applies
it at start; Python API users may call it themselves.
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameter numbers (malloc.h)
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit: blocks up to this come from the heap
TRIM_THRESHOLD = 256 * 1024 * 1024  # free heap kept before any is returned to the system


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed frame-sized blocks; False where that is not possible
    (not Linux, or a C library without glibc's mallopt parameters: nothing is changed there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        gnu = libc.gnu_get_libc_version  # glibc only: musl's mallopt ignores these parameters
    except (OSError, AttributeError):
        return False
    del gnu
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
