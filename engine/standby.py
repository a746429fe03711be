"""A warm engine: `python -m engine standby` imports what a lesson needs, then waits for one.

Most of a fresh engine's start is imports (torch alone about 1.5 s of the 3 s to a first sample on
this project's 2-core reference machine, `python -m engine.bench_start`). The dashboard keeps one
standby process waiting while its start form is shown, so that a click on Start skips them. What
the engine is asked to do arrives as one JSON line on stdin (`StartRequest`): the arguments of
`python -m engine`, the environment and the working folder a freshly spawned engine would get.
From then on the process is that engine, with the same checks, log lines and exit status. Stdin
reaching its end without a request (the dashboard stopped, restarted or let go of it), a SIGTERM,
or its idle time passing without one, ends the process with nothing done. Nothing but imports happens before the request: no database is opened,
no camera, screen or model file is touched, so a standby that is never used leaves no trace.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

# What `engine run` imports on its way to a first sample, heaviest first.
PRELOADED = (
    "torch",
    "models.classify",
    "models.registry",
    "engine.expressions",
    "engine.faces",
    "engine.pipeline",
    "engine.sources",
    "storage.db",
    "storage.lessons",
    "storage.recorder",
    "storage.viewers",
)
READY_LINE = "engine standby: ready"  # the line it prints once its imports are done


@dataclass(frozen=True)
class StartRequest:
    """What the waiting engine is asked to become: `python -m engine <args>` with this environment
    and working folder. It travels through a pipe, never the command line, as it may hold secrets."""

    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "."

    def to_line(self) -> str:
        """The request as the one line the standby reads."""
        return json.dumps({"args": list(self.args), "env": dict(self.env), "cwd": self.cwd}) + "\n"

    @classmethod
    def from_line(cls, line: str) -> StartRequest:
        """Parse the dashboard's line; ValueError (one line) for anything else."""
        try:
            raw = json.loads(line)
            args, env, cwd = raw["args"], raw["env"], raw["cwd"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a start request: {type(exc).__name__}") from exc
        if not (isinstance(args, list) and all(isinstance(a, str) for a in args) and args):
            raise ValueError("not a start request: args must be a non-empty list of strings")
        if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
            raise ValueError("not a start request: env must map strings to strings")
        if not isinstance(cwd, str):
            raise ValueError("not a start request: cwd must be a string")
        return cls(tuple(args), env, cwd)


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
    line = stream.readline()
    if not line.strip():
        return None
    return StartRequest.from_line(line)


def become(request: StartRequest) -> None:
    """Take the request's working folder and environment, exactly as a fresh engine would have them."""
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
