"""Process-wide tuning for a long-running engine process (called by its entry points, not by the library)."""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.abc
import importlib.machinery
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


# MediaPipe's drawing helpers: imported by `mediapipe.tasks.python.vision`'s package init, they
# import matplotlib.pyplot at their top, for plotting the engine never does.
MEDIAPIPE_DRAWING = (
    "mediapipe.tasks.python.vision.drawing_utils",
    "mediapipe.tasks.python.vision.drawing_styles",
)


class _DeferredModule(types.ModuleType):
    """A module that imports itself on first use: any attribute read imports the real one and reads that.

    Dunder reads are the import system's and `inspect`'s probes (torch's import runs
    `inspect.getmodule`, which reads every loaded module's `__file__`): they do not count as use.
    """

    def __getattr__(self, attr: str) -> object:
        if attr.startswith("__"):
            raise AttributeError(attr)
        _DEFERRED.released.add(self.__name__)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


class _Deferring(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the named modules as `_DeferredModule`s until one is first used (then as themselves).

    Through the import system, not by writing sys.modules: their package still gets them as its
    attributes (MediaPipe's `vision/__init__.py` reads `drawing_styles` right after importing it).
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = frozenset(names)
        self.released: set[str] = set()

    def find_spec(self, fullname: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names or fullname in self.released:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _DeferredModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing runs until first use."""


_DEFERRED = _Deferring(MEDIAPIPE_DRAWING)


def defer_pyplot() -> bool:
    """Import MediaPipe's drawing helpers, and so matplotlib, only when something uses them; returns
    whether it was deferred.

    `mediapipe.tasks.python.vision` imports its drawing helpers, which import matplotlib.pyplot at
    their top: about 0.35 s of every engine start on a two-core machine (0.8 s under load) for
    pyplot, and 0.2-0.33 s for the matplotlib package, for plotting the engine never does. Call it
    before MediaPipe is imported; the helpers (and pyplot) work as ever for whoever uses them.
    """
    if any(name in sys.modules for name in MEDIAPIPE_DRAWING):
        return False
    if _DEFERRED not in sys.meta_path:
        sys.meta_path.insert(0, _DEFERRED)
    return True
