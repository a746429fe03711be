"""The one place for what differs between Linux, macOS and Windows in running an engine process.

Both sides use it: the dashboard starts a detached engine, asks whether it still runs and stops it;
the engine watches for that stop and for Ctrl-C; the dashboard lists the cameras. Everything here
goes through `psutil`, `subprocess` and OpenCV rather than `/proc`, `/dev` or POSIX-only calls:

- **Spawn**: a new session on POSIX, a new process group without a console on Windows, so the
  engine outlives the dashboard's script run, a page reload and a dashboard restart; its stdin is a
  pipe (the start request arrives there, `engine.protocol`), its output goes to a log file.
- **Alive**: a pid *and* its start time (`psutil.Process.create_time`), so a pid the system has
  since given to another process reads dead; a zombie is dead (and reaped when it is our child).
- **Graceful stop**: a stop file the engine polls (Windows has no SIGTERM worth the name: it is a
  hard kill there), which works as well after a dashboard restart, when the pipe is gone; only
  after a grace period is the process terminated, then killed.
- **Cameras**: indexes probed with OpenCV on each system's own backend; no device paths.

What runs on Windows and macOS is chosen by the `platform` argument (`sys.platform` by default), so
tests on Linux check what those branches would call; see docs/engine.md for what was not run there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

# Windows process-creation flags (winbase.h), spelt out: `subprocess` defines them on Windows only.
CREATE_NEW_PROCESS_GROUP = 0x00000200  # Ctrl-C in the dashboard's console does not reach it
DETACHED_PROCESS = 0x00000008  # no console: closing the dashboard's window does not end it
STOP_GRACE_S = 20.0  # how long a stopped engine may take to flush and close its lesson
KILL_WAIT_S = 5.0  # after terminate, then after kill: how long to wait for the process to go
STOP_POLL_S = 0.2  # how often the engine looks for its stop file
# psutil rebuilds a Linux process's start time from the boot time (/proc/stat btime, whole seconds of
# the wall clock) at every call: a clock step (NTP, a resume) moves it by seconds. A pid reused by
# another process started seconds after the recorded one is out of reach (the first must end and
# the pids wrap round first), so a few seconds of slack tells them apart without mistaking a live
# engine for a dead one.
START_TIME_SLACK_S = 5.0
MAX_CAMERAS = 6  # camera indexes probed: 0-5
CAMERA_PROBE_S = 8.0  # the whole probe gives up after this long (a driver that hangs)
# Each system's own capture backend (the names of OpenCV's constants): DirectShow opens a camera
# in a fraction of Media Foundation's time on Windows; AVFoundation on macOS; V4L2 on Linux.
CAMERA_BACKENDS = {"win32": "CAP_DSHOW", "darwin": "CAP_AVFOUNDATION", "linux": "CAP_V4L2"}


def is_windows(platform: str = sys.platform) -> bool:
    """Whether `platform` (as `sys.platform` spells it) is Windows."""
    return platform.startswith("win")


# --- who a process is, and whether it still runs ---------------------------------------------


@dataclass(frozen=True)
class ProcessRef:
    """A process as recorded: its pid and when it started (seconds since the epoch, as psutil
    reads it), which tells it apart from a later process given the same pid."""

    pid: int
    started_s: float | None = None


def process_ref(pid: int) -> ProcessRef | None:
    """The running process with this pid, with its start time; None when there is none."""
    try:
        return ProcessRef(pid, psutil.Process(pid).create_time())
    except psutil.AccessDenied:
        return ProcessRef(pid)  # another account's: its pid is all there is to go by
    except (psutil.NoSuchProcess, ValueError, OverflowError):
        return None


def this_process() -> ProcessRef:
    """This process, as the engine records itself as a lesson's owner."""
    return process_ref(os.getpid()) or ProcessRef(os.getpid())


def _running(pid: int, started_s: float | None) -> psutil.Process | None:
    """The psutil handle of that very process while it runs (not a zombie), else None."""
    try:
        proc = psutil.Process(pid)
        if started_s is not None and abs(proc.create_time() - started_s) > START_TIME_SLACK_S:
            return None  # the pid now names another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(psutil.Error, ChildProcessError):
                proc.wait(timeout=0)  # our own child: reap it
            return None
        return proc
    except (psutil.NoSuchProcess, ValueError, OverflowError):
        return None


def is_alive(pid: int, started_s: float | None = None) -> bool:
    """Whether the process runs: gone, a zombie or a pid now given to a process that started at
    another time than `started_s` all count as dead. Another account's process counts as alive."""
    try:
        return _running(pid, started_s) is not None
    except psutil.AccessDenied:
        return True


# --- starting a detached engine ---------------------------------------------------------------


def detach_options(platform: str = sys.platform) -> dict[str, object]:
    """What `subprocess.Popen` needs for a child that outlives this process on `platform`."""
    if is_windows(platform):
        return {"creationflags": CREATE_NEW_PROCESS_GROUP | DETACHED_PROCESS}
    return {"start_new_session": True}  # its own session: no signal meant for ours reaches it


def spawn_detached(
    command: Sequence[str], *, log_path: Path, cwd: Path, env: Mapping[str, str]
) -> subprocess.Popen[str]:
    """Start `command` detached from this process, stdin a pipe, stdout and stderr appended to
    log_path (OSError when it cannot be started)."""
    with Path(log_path).open("ab") as out:
        return subprocess.Popen(
            list(command), stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
            cwd=cwd, env=dict(env), text=True, encoding="utf-8", **detach_options(),
        )  # fmt: skip


def become(command: Sequence[str], platform: str = sys.platform) -> int:
    """Turn this process into `command` (the `classpulse run` launcher becoming the server): on POSIX
    by exec, so a service manager's SIGTERM or the terminal's Ctrl-C reaches the server itself;
    Windows has no such exec, so there it runs `command` as a child and returns its exit status
    (Ctrl-C reaches the whole console group). OSError when it cannot be started."""
    if is_windows(platform):
        try:
            return subprocess.call(list(command))
        except KeyboardInterrupt:
            return 130
    sys.stdout.flush()
    os.execv(command[0], list(command))
    raise AssertionError("unreachable: exec returned")  # pragma: no cover


# --- stopping: the dashboard's side ----------------------------------------------------------


def request_stop(stop_path: Path) -> None:
    """Ask the engine that watches `stop_path` to end its lesson (it flushes and closes it)."""
    stop_path.parent.mkdir(parents=True, exist_ok=True)
    stop_path.write_text("stop\n", encoding="utf-8")


def end_child(process: subprocess.Popen[str], timeout_s: float) -> None:
    """Wait up to timeout_s for a child of ours to end by itself, then kill it; it is reaped."""
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_ended(ref: ProcessRef, timeout_s: float, poll_s: float = 0.1) -> bool:
    """Wait up to timeout_s for the process to end; whether it has."""
    deadline = time.monotonic() + timeout_s
    while is_alive(ref.pid, ref.started_s):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def stop_process(
    ref: ProcessRef,
    stop_path: Path | None,
    *,
    grace_s: float = STOP_GRACE_S,
    force: bool = True,
    kill_wait_s: float = KILL_WAIT_S,
) -> bool:
    """Stop a process gracefully; True once it has ended.

    Its stop file is written and it gets `grace_s` to finish; then, when `force`, it is terminated
    (SIGTERM on POSIX, TerminateProcess on Windows) and, if still there, killed. A pid that now
    belongs to another process is never touched.
    """
    if not is_alive(ref.pid, ref.started_s):
        return True
    if stop_path is not None:
        request_stop(stop_path)
    if wait_ended(ref, grace_s) or not force:
        return not is_alive(ref.pid, ref.started_s)
    log.warning("process %d did not stop within %g s: terminating it", ref.pid, grace_s)
    for end in ("terminate", "kill"):
        try:
            proc = _running(ref.pid, ref.started_s)
            if proc is None:
                return True
            getattr(proc, end)()
        except psutil.NoSuchProcess:
            return True
        except psutil.AccessDenied:
            return False
        if wait_ended(ref, kill_wait_s):
            return True
    return False


# --- stopping: the engine's side -------------------------------------------------------------


def watch_stop_file(
    stop_path: Path, stop: threading.Event, poll_s: float = STOP_POLL_S
) -> threading.Thread:
    """Set `stop` once `stop_path` exists (the dashboard's request); the watcher ends with it."""

    def watch() -> None:
        while not stop.wait(poll_s):
            if stop_path.exists():
                log.info("stop requested (%s)", stop_path)
                stop.set()

    thread = threading.Thread(target=watch, name="classpulse-stop-watch", daemon=True)
    thread.start()
    return thread


def stop_signal_names(platform: str = sys.platform) -> tuple[str, ...]:
    """The signals a person or the system sends to end a program on `platform`: Ctrl-C and SIGTERM,
    and on Windows Ctrl-Break (the only console event a process group of its own receives)."""
    return ("SIGINT", "SIGTERM", "SIGBREAK") if is_windows(platform) else ("SIGINT", "SIGTERM")


def on_stop_signals(callback: Callable[[], None], platform: str = sys.platform) -> bool:
    """Call `callback` on Ctrl-C, SIGTERM (and Ctrl-Break on Windows) instead of dying; whether the
    handlers were set (only the main thread may set them)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for name in stop_signal_names(platform):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, lambda _signum, _frame: callback())
    return True


# --- cameras ---------------------------------------------------------------------------------


def camera_backend(platform: str = sys.platform) -> str:
    """The name of the OpenCV capture backend used to probe cameras on `platform`."""
    if is_windows(platform):
        return CAMERA_BACKENDS["win32"]
    return CAMERA_BACKENDS.get(platform, CAMERA_BACKENDS["linux"])


def _camera_opens(index: int, backend: int) -> bool:
    """Whether OpenCV opens camera `index` with `backend` (released at once)."""
    import cv2

    capture = cv2.VideoCapture(index, backend)
    try:
        return bool(capture.isOpened())
    finally:
        capture.release()


_probing = threading.Lock()  # held while a probe runs (a hung driver's thread keeps it)


def list_cameras(
    max_index: int = MAX_CAMERAS,
    *,
    platform: str = sys.platform,
    timeout_s: float = CAMERA_PROBE_S,
    opens: Callable[[int, int], bool] = _camera_opens,
) -> list[int]:
    """The camera indexes that open, probed 0..max_index-1 with the system's own backend.

    Quiet (OpenCV's warnings for a missing index are silenced) and bounded: a driver that hangs
    ends the probe after `timeout_s` with what was found. Each camera found is opened for a moment:
    the caller caches the answer, and does not probe while a lesson uses a camera.
    """
    import cv2

    backend = getattr(cv2, camera_backend(platform))
    found: list[int] = []
    if not _probing.acquire(blocking=False):  # a driver still hung in an earlier probe: no pile-up
        log.warning("an earlier camera probe has not finished; no camera is listed for now")
        return []

    def probe() -> None:
        try:
            for index in range(max_index):
                with contextlib.suppress(cv2.error):
                    if opens(index, backend):
                        found.append(index)
        finally:
            _probing.release()
            cv2.utils.logging.setLogLevel(level)  # once the last probe is over, hung or not

    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    worker = threading.Thread(target=probe, name="classpulse-cameras", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        log.warning("camera probe stopped after %g s; cameras found so far: %s", timeout_s, found)
    return sorted(found)
