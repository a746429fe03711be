"""Starting and stopping the capture engine as its own process, and finding it again after a reload.

What the teacher asked for arrives checked, as a `dashboard.launch.LessonLaunch`. The engine is
`python -m engine serve`, started detached (`engine.processes`: it outlives the script run, a page
reload and a dashboard restart) and handed its `engine.protocol.StartRequest` on stdin — or, when
one waits, the warm engine (`dashboard.warm_engine`) is handed the same request. Its pid and what
it was asked (no secret) are kept in data/engine.json (`dashboard.engine_handle`); how it is doing
is read from the events it writes, never from its log. Stop writes its stop file: the engine flushes
its last samples and marks the lesson finished; only after a grace period is it terminated.

A video uploaded for the lesson is deleted once the engine has exited, however it ended, the first
time the dashboard looks.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from dashboard.engine_handle import (
    LOG_DIR,
    STATE_FILE,
    EngineHandle,
    drop_handle,
    events_path_for,
    load_handle,
    log_folder,
    new_log_path,
    read_log,
    save_handle,
    stop_path_for,
)
from dashboard.engine_request import start_request
from dashboard.launch import LessonLaunch, discard_upload
from dashboard.launch import sweep_uploads as sweep_upload_folder
from dashboard.warm_engine import WarmEngine, release
from engine import processes
from engine.protocol import (
    Event,
    Failed,
    Finished,
    SourceLost,
    Started,
    StartRequest,
    read_events,
    storage_waiting_now,
    untold_ending,
)
from storage.endings import record_cause
from storage.write_policy import RetryPolicy

log = logging.getLogger(__name__)

__all__ = [  # what the pages and tests use from here, the handle's names included
    "LOG_DIR", "STATE_FILE", "ControlError", "EngineHandle", "EngineStatus", "LessonLaunch",
    "announced_lesson", "engine_for_lesson", "engine_status", "find_engine", "forget_engine",
    "load_handle", "read_log", "serve_command", "settle_dead_engine", "start_engine", "stop_engine",
    "stop_lesson", "sweep_uploads",
]  # fmt: skip


class ControlError(Exception):
    """The engine could not be started or stopped; the message is one line for a person."""


def serve_command(python: str = sys.executable) -> list[str]:
    """The command of a fresh engine: it reads its start request on stdin."""
    return [python, "-m", "engine", "serve"]


_START_LOCK = threading.Lock()  # from the running-engine check to its state file written


def start_engine(
    launch: LessonLaunch,
    data_dir: Path,
    *,
    db_url: str | None = None,
    cwd: Path | None = None,
    warm: WarmEngine | None = None,
) -> EngineHandle:
    """Start the lesson's engine (the warm one when it waits) and remember it in the state file.

    `db_url` (the dashboard's database) reaches the engine in the request's environment; without it
    the engine reads this process's environment as `engine run` would. A launch that cannot start
    takes its uploaded video with it.
    """
    try:
        with _START_LOCK:  # two sessions clicking Start at once: one engine, the other is refused
            running = find_engine(data_dir)
            if running is not None:
                raise ControlError(f"an engine is already running (pid {running.pid}); stop it first")
            return _spawn(launch, Path(data_dir), db_url, cwd or Path.cwd(), warm)
    except ControlError:
        discard_upload(launch, data_dir)
        raise


def _spawn(
    launch: LessonLaunch, data_dir: Path, db_url: str | None, cwd: Path, warm: WarmEngine | None
) -> EngineHandle:
    try:
        log_folder(data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ControlError(f"cannot create {log_folder(data_dir)}: {exc.strerror or exc}") from exc
    now = datetime.now(UTC)
    standby = warm.take(data_dir, cwd) if warm is not None else None
    if standby is not None:
        log_path = standby.log_path
        request = _request(launch, log_path, db_url, cwd)
        if not standby.hand(request):  # it died just now: a fresh engine instead
            release(standby)
            standby = None
    if standby is None:
        log_path = new_log_path(data_dir, now)
        request = _request(launch, log_path, db_url, cwd)
        pid = _fresh_engine(request, log_path, cwd).pid
    else:
        pid = standby.process.pid
    ref = processes.process_ref(pid)
    handle = EngineHandle(pid, str(log_path), now.isoformat(), launch,
                          started_s=None if ref is None else ref.started_s,
                          events_path=request.events_path or "", stop_path=request.stop_path or "")
    save_handle(data_dir, handle)
    log.info("engine started%s: pid %d, log %s", " (warm)" if standby else "", pid, log_path)
    return handle


def _request(launch: LessonLaunch, log_path: Path, db_url: str | None, cwd: Path) -> StartRequest:
    """The launch's start request, its events and stop files beside the engine's log."""
    return start_request(launch, events_path=events_path_for(log_path),
                         stop_path=stop_path_for(log_path), db_url=db_url, cwd=cwd)  # fmt: skip


def _fresh_engine(request: StartRequest, log_path: Path, cwd: Path) -> subprocess.Popen[str]:
    """`python -m engine serve`, detached, handed the request on its stdin."""
    try:
        process = processes.spawn_detached(serve_command(), log_path=log_path, cwd=cwd,
                                           env=request.env or {})  # fmt: skip
    except OSError as exc:
        raise ControlError(f"cannot start the engine: {exc.strerror or exc}") from exc
    with contextlib.suppress(OSError):  # an engine that died at once says so in its log and events
        process.stdin.write(request.to_line())
        process.stdin.close()
    return process


# --- finding it again, and how it is doing ----------------------------------------------------


@dataclass(frozen=True)
class EngineStatus:
    """The engine this dashboard started, as one look at its process and its events found it."""

    handle: EngineHandle
    alive: bool
    lesson_id: int | None  # the lesson it announced; None before it has, or when it failed to start
    message: str | None  # how it ended, in words (its one-line error when it failed); None until then
    events: tuple[Event, ...] = ()


def _lesson_of(events: list[Event]) -> int | None:
    """The lesson the engine named: announced, or named on its way out (stopped before that)."""
    for event in events:
        if isinstance(event, Started | SourceLost | Finished | Failed) and event.lesson_id is not None:
            return event.lesson_id
    return None


def _ending_of(events: list[Event]) -> str | None:
    endings = [e for e in events if isinstance(e, Finished | Failed)]
    return endings[-1].text if endings else None


def announced_lesson(handle: EngineHandle) -> int | None:
    """The lesson an engine named in its events, None when it named none."""
    return _lesson_of(read_events(handle.events_path))


def status_of(handle: EngineHandle) -> EngineStatus:
    """How an engine stands: whether it runs, then (so an ended one's last words are all in) its events."""
    alive = processes.is_alive(handle.pid, handle.started_s)
    events = read_events(handle.events_path)
    return EngineStatus(handle, alive, _lesson_of(events), _ending_of(events), tuple(events))


def engine_status(data_dir: Path) -> EngineStatus | None:
    """How the engine this dashboard started stands (alive or not), None when it started none."""
    handle = load_handle(data_dir)
    if handle is None:
        return None
    status = status_of(handle)
    if not status.alive:
        discard_upload(handle.launch, data_dir)
    return status


def engine_for_lesson(data_dir: Path, lesson_id: int) -> EngineStatus | None:
    """The engine this dashboard started when it serves `lesson_id`, else None (started elsewhere)."""
    status = engine_status(data_dir)
    return status if status is not None and status.lesson_id == lesson_id else None


def settle_dead_engine(data_dir: Path, database: Engine) -> int | None:
    """Store how the lesson of this dashboard's engine ended when the engine is gone and could not
    store it itself: the cause its last events give ("disk full"); the lesson's id when stored.

    For the check of dead engines on each page load, before storage marks what is left
    `interrupted` (it also settles a lesson already marked so without a cause).
    """
    handle = load_handle(data_dir)
    if handle is None or processes.is_alive(handle.pid, handle.started_s):
        return None
    untold = untold_ending(read_events(handle.events_path))
    if untold is None:
        return None
    settled = record_cause(database, untold.lesson_id, untold.cause, is_alive=processes.is_alive,
                           title=untold.title)  # fmt: skip
    return untold.lesson_id if settled else None


def find_engine(data_dir: Path) -> EngineHandle | None:
    """The engine this dashboard started, when it is still running (an ended one's upload goes)."""
    handle = load_handle(data_dir)
    if handle is None:
        return None
    if not processes.is_alive(handle.pid, handle.started_s):
        discard_upload(handle.launch, data_dir)
        return None
    return handle


def forget_engine(data_dir: Path) -> None:
    """Remove the state file, the stop file and the engine's uploaded video (once it has exited)."""
    handle = load_handle(data_dir)
    if handle is not None and not processes.is_alive(handle.pid, handle.started_s):
        discard_upload(handle.launch, data_dir)
    drop_handle(data_dir, handle)


def sweep_uploads(data_dir: Path, *, grace_s: float | None = None) -> int:
    """Delete uploaded videos no running engine plays (left by a crash or a restart); how many."""
    running = find_engine(data_dir)
    playing = None if running is None else Path(running.launch.source)
    if grace_s is None:
        return sweep_upload_folder(data_dir, playing)
    return sweep_upload_folder(data_dir, playing, grace_s=grace_s)


# --- stopping -------------------------------------------------------------------------------


# While the engine's writes wait (a full disk, the database away) its recorder keeps trying for
# `close_wait_s` after the stop: a stop waits that long, and a little more, before terminating it.
SAVING_GRACE_S = RetryPolicy().close_wait_s + 15.0


def stop_grace_s(handle: EngineHandle, timeout_s: float = processes.STOP_GRACE_S) -> float:
    """How long a stop of this engine waits for it to close its lesson: longer while samples wait."""
    waiting = storage_waiting_now(read_events(handle.events_path))
    return timeout_s if waiting is None else max(timeout_s, SAVING_GRACE_S)


def stop_engine(
    handle: EngineHandle, timeout_s: float = processes.STOP_GRACE_S, *, force: bool = True
) -> bool:
    """Ask the engine to stop (its stop file) and wait for it to close its lesson; True once it has
    exited. After `timeout_s` (longer while its samples wait to be written: `stop_grace_s`) it is
    terminated, then killed (unless not `force`). A pid that now belongs to another process is never
    touched."""
    stop_path = Path(handle.stop_path) if handle.stop_path else None
    return processes.stop_process(handle.process, stop_path, grace_s=stop_grace_s(handle, timeout_s),
                                  force=force)


def stop_lesson(
    data_dir: Path, handle: EngineHandle, timeout_s: float = processes.STOP_GRACE_S,
    *, force: bool = True,
) -> bool:  # fmt: skip
    """Stop the engine and, once it has exited, forget it; False when it is still running."""
    stopped = stop_engine(handle, timeout_s, force=force)
    if stopped:
        forget_engine(data_dir)
    return stopped
