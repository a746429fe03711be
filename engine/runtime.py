"""Process-wide tuning for a long-running engine process (called by its entry points, not by the library)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas(count: int = 2) -> bool:
    """Cap glibc's malloc arenas; call it before MediaPipe and the face-finder pool start their threads.

    glibc gives busy threads arenas of their own (up to 8 per core). With MediaPipe's task threads and
    the finder's pool, a 10-minute run grew by about 30 MB before leveling off, and stayed about 70 MB
    above a run capped at 2 arenas, which is flat from the first minute and no slower
    (docs/engine.md). The same as MALLOC_ARENA_MAX=2 in the environment. Returns whether it applied
    (False off glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    applied = bool(mallopt(_M_ARENA_MAX, count))
    log.debug("malloc arenas capped at %d: %s", count, applied)
    return applied
