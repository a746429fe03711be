"""The warm engine: one `python -m engine standby` per dashboard process, imports done, waiting for
the next Start (engine.standby), so that a lesson starts about 2.5 s sooner.

`WarmEngine` holds it; the dashboard keeps one per process (`dashboard.state.warm_engine`, an
`st.cache_resource`). It holds the write end of the standby's stdin: the start request goes there,
and when this process ends, or lets go of it, the standby reads the end of its input and exits
unused, deleting its log.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dashboard.engine_handle import log_folder, new_log_path
from dashboard.engine_request import base_env
from engine import processes
from engine.protocol import StartRequest
from engine.standby import READY_LINE
from storage.db import URL_ENV

log = logging.getLogger(__name__)

STANDBY_IDLE_S = 1800.0  # a warm engine nobody started a lesson in exits after this long
STANDBY_MARGIN_S = 60.0  # ... and is not handed a lesson this close to it: never one it would miss


@dataclass
class Standby:
    """A waiting warm engine: its process (stdin a pipe), log, and what it may serve."""

    process: subprocess.Popen[str]
    log_path: Path
    data_dir: Path
    cwd: Path
    spawned_s: float  # time.monotonic() at its spawn

    def serves(self, data_dir: Path, cwd: Path) -> bool:
        """Whether it may take a lesson for this data folder and working folder now."""
        young = time.monotonic() - self.spawned_s < STANDBY_IDLE_S - STANDBY_MARGIN_S
        return (young and self.process.poll() is None and self.data_dir == Path(data_dir)
                and self.cwd == cwd)  # fmt: skip

    def hand(self, request: StartRequest) -> bool:
        """Give it the lesson (it becomes that lesson's engine); False when it died just now."""
        try:
            self.process.stdin.write(request.to_line())
            self.process.stdin.close()
        except (OSError, ValueError) as exc:  # a broken pipe, or one already let go of
            log.warning("the warm engine could not take the lesson (%s)", exc)
            return False
        return True


def standby_env() -> dict[str, str]:
    """A warm engine's own environment: no database URL; the lesson's environment, with it,
    reaches it in the request."""
    env = base_env()
    env.pop(URL_ENV, None)
    return env


class WarmEngine:
    """Keeps at most one warm engine waiting, safely across the dashboard's sessions (threads)."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._lock = threading.Lock()
        self._standby: Standby | None = None

    def keep(self, data_dir: Path, *, cwd: Path | None = None) -> int | None:
        """Have a warm engine waiting for the next lesson; its pid.

        Spawned once and kept while it lives (a second call costs nothing); one that died or is
        near its idle end is replaced. None when it cannot be started: a Start then spawns a fresh
        engine, as with CLASSPULSE_ENGINE_STANDBY=0.
        """
        cwd = cwd or Path.cwd()
        with self._lock:
            if self._standby is not None and self._standby.serves(data_dir, cwd):
                return self._standby.process.pid
            old, self._standby = self._standby, None
        release(old)  # outside the lock: it may wait for a standby still importing
        try:
            standby = self._spawn(Path(data_dir), cwd)
        except OSError as exc:
            log.warning("no warm engine waits for the next lesson: %s", exc.strerror or exc)
            return None
        with self._lock:
            if self._standby is None:  # another session may have made one meanwhile: keep the first
                self._standby = standby
                log.info("warm engine waiting: pid %d", standby.process.pid)
                return standby.process.pid
            kept = self._standby.process.pid
        release(standby)
        return kept

    def _spawn(self, data_dir: Path, cwd: Path) -> Standby:
        log_folder(data_dir).mkdir(parents=True, exist_ok=True)
        log_path = new_log_path(data_dir, datetime.now(UTC))
        command = [self.python, "-m", "engine", "standby", "--discard-log", str(log_path),
                   "--idle-exit", f"{STANDBY_IDLE_S:g}"]  # fmt: skip
        process = processes.spawn_detached(command, log_path=log_path, cwd=cwd, env=standby_env())
        return Standby(process, log_path, data_dir, cwd, time.monotonic())

    def pid(self) -> int | None:
        """The waiting warm engine's pid, None when none waits."""
        with self._lock:
            alive = self._standby is not None and self._standby.process.poll() is None
            return self._standby.process.pid if alive else None

    def take(self, data_dir: Path, cwd: Path) -> Standby | None:
        """The waiting engine, now the caller's to hand a lesson, when it may serve this one;
        None (and any unfit one let go of) otherwise."""
        with self._lock:
            standby, self._standby = self._standby, None
        if standby is None or not standby.serves(data_dir, cwd):
            release(standby)
            return None
        return standby

    def release(self) -> None:
        """Let the warm engine go (it exits unused); a later keep starts another."""
        with self._lock:
            old, self._standby = self._standby, None
        release(old)


def release(standby: Standby | None, timeout_s: float = 5.0) -> None:
    """End a warm engine never handed a lesson, and delete its log when it holds only its ready
    line (also when it was killed: no handler of its own deleted it). A log with more in it, a
    traceback of one that died by itself, is kept and named in this process's log."""
    if standby is None:
        return
    with contextlib.suppress(OSError):
        standby.process.stdin.close()
    processes.end_child(standby.process, timeout_s)
    try:
        text = standby.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return  # it deleted its own
    if all(line.startswith(READY_LINE) for line in text.splitlines() if line.strip()):
        standby.log_path.unlink(missing_ok=True)
    else:
        log.warning("the warm engine (pid %d) ended by itself; its log: %s", standby.process.pid,
                    standby.log_path)  # fmt: skip
