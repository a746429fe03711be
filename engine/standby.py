"""A warm engine: `python -m engine standby` imports what a lesson needs, then waits for one.

Most of a fresh engine's start is imports (torch alone about 1.5 s of the 3 s to a first sample on
this project's 2-core reference machine, `python -m engine.bench_start`). The dashboard keeps one
standby process waiting while its start form is shown, so that a click on Start skips them. What
the engine is asked to do arrives as one JSON line on stdin: the same `engine.protocol.StartRequest`
a fresh `python -m engine serve` reads, with the environment and working folder a freshly spawned
engine would get. From then on the process is that engine, with the same checks, events, log lines
and exit status. Stdin reaching its end without a request (the dashboard stopped, restarted or let
go of it), a SIGTERM, or its idle time passing without one, ends the process with nothing done.
Nothing but imports happens before the request: no database is opened, no camera, screen or model
file is touched, so a standby that is never used leaves no trace.
"""

from __future__ import annotations

import importlib
import os
import select
import time
from collections.abc import Sequence
from typing import TextIO

from engine.protocol import StartRequest, read_request

# What a lesson imports on its way to a first sample, heaviest first.
PRELOADED = (
    "torch",
    "models.classify",
    "models.registry",
    "engine.expressions",
    "engine.faces",
    "engine.pipeline",
    "engine.sources",
    "engine.lesson",
    "storage.db",
    "storage.lessons",
    "storage.recorder",
    "storage.viewers",
)
READY_LINE = "engine standby: ready"  # the line it prints once its imports are done


def preload(modules: Sequence[str] = PRELOADED) -> float:
    """Import the modules a lesson needs; the seconds it took."""
    t0 = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    return time.perf_counter() - t0


def wait_for_request(stream: TextIO, idle_exit_s: float | None = None) -> StartRequest | None:
    """Block until the dashboard's line arrives; None when the stream ends without one, or when
    nothing arrived within `idle_exit_s` (the dashboard hands no lesson to a standby that old)."""
    if idle_exit_s is not None:
        try:
            readable, _, _ = select.select([stream], [], [], idle_exit_s)
        except (OSError, ValueError):  # no select on this stream (Windows pipes): wait without an end
            readable = [stream]
        if not readable:
            return None
    return read_request(stream)


def become(request: StartRequest) -> None:
    """Take the request's working folder and environment (when it names them), exactly as a fresh
    engine would have them."""
    if request.cwd is not None:
        os.chdir(request.cwd)
    if request.env is not None:
        os.environ.clear()
        os.environ.update(request.env)
