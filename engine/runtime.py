"""Process-wide tuning for a long-running engine process (called by its entry points, not by the library)."""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import importlib.util
import logging
import sys
import types

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


class _DeferredModule(types.ModuleType):
    """A module that imports itself on first use: any attribute read imports the real one and reads that."""

    def __getattr__(self, attr: str) -> object:
        if attr.startswith("__"):  # the import system's own probes do not count as use
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def defer_pyplot() -> bool:
    """Import matplotlib.pyplot only when something uses it; returns whether it was deferred.

    MediaPipe's package init imports its drawing helpers, which import pyplot at their top: about
    0.35 s of every engine start on a two-core machine (0.8 s under load), for plotting the engine
    never does. Call it before MediaPipe is imported; pyplot works as ever for whoever uses it.
    """
    if "matplotlib.pyplot" in sys.modules or importlib.util.find_spec("matplotlib") is None:
        return False
    import matplotlib

    stub = _DeferredModule("matplotlib.pyplot")
    stub.__spec__ = None
    sys.modules["matplotlib.pyplot"] = stub
    matplotlib.pyplot = stub  # what `import matplotlib.pyplot as plt` binds
    return True
