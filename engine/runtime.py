"""Process-wide tuning for a long-running engine process (called by its entry points, not by the library)."""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.abc
import importlib.machinery
import importlib.util
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


# MediaPipe's drawing helpers: imported by `mediapipe.tasks.python.vision`'s package init, they
# import matplotlib.pyplot at their top, for plotting the engine never does.
MEDIAPIPE_DRAWING = (
    "mediapipe.tasks.python.vision.drawing_utils",
    "mediapipe.tasks.python.vision.drawing_styles",
)


class _LazyModules(importlib.abc.MetaPathFinder):
    """Finds the named modules as usual, but with a loader that runs their code on first attribute use."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def defer_pyplot() -> bool:
    """Load MediaPipe's drawing helpers, and so matplotlib, only when something uses them; returns
    whether it was deferred.

    `mediapipe.tasks.python.vision` imports its drawing helpers, which import matplotlib.pyplot at
    their top: about 0.35 s of every engine start on a two-core machine (0.8 s under load) for
    pyplot, and another 0.33 s for the matplotlib package itself, for plotting the engine never
    does. Call it before MediaPipe is imported; the helpers (and pyplot) work as ever for whoever
    uses them: their module runs on its first attribute read.
    """
    if any(name in sys.modules for name in MEDIAPIPE_DRAWING):
        return False
    if not any(isinstance(finder, _LazyModules) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LazyModules(MEDIAPIPE_DRAWING))
    return True
