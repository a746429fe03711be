"""Starting and stopping the capture engine as its own process, and finding it again after a reload.

What the teacher asked for arrives checked, as a `dashboard.launch.LessonLaunch`. The engine runs
`python -m engine run ...` in a new session (it outlives the Streamlit script run and a page
reload); its pid and what it was asked to do are kept in a small JSON file under the
data folder, its output in data/engine-logs/. Stopping sends SIGTERM: the engine flushes its last
samples and marks the lesson finished. While the Live form is shown, a warm engine waits with its
imports done (`keep_standby`), and Start hands it the lesson instead of spawning one: the same
engine, about 2.5 s sooner.

Secrets stay off the command line (which every account on the machine can read in `ps`) and out
of the JSON file: the database URL and a stream URL reach the engine through its environment,
which only this account can read. A video uploaded for the lesson is deleted once the engine has
exited, however it ended, the first time the dashboard looks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from dashboard.launch import LessonLaunch, is_upload, upload_folder
from engine.source_spec import SourceKind
from engine.standby import READY_LINE, StartRequest
from storage.db import URL_ENV
from storage.lessons import process_start_ticks
from storage.masking import mask_secrets

log = logging.getLogger(__name__)

STATE_FILE = "engine.json"
LOG_DIR = "engine-logs"
FILE_SOURCES_PLAYED_IN_REAL_TIME = True
SOURCE_ENV = "CLASSPULSE_SOURCE"  # how a stream URL reaches the engine (`engine run` reads it)
# An upload no running engine plays is deleted once it is this old: long enough for the Live
# form to save a video and start its engine, so a sweep in another session never races a start.
UPLOAD_GRACE_S = 300.0
_LESSON_STARTED = re.compile(r"^lesson (\d+) started", re.MULTILINE)
# MediaPipe / TensorFlow Lite chatter on stderr: not what a teacher needs to read.
# The warm engine's ready line is no word of the lesson's engine either.
_NOISE = re.compile(r"^(?:[WIEF]\d{4} |INFO: |WARNING: Logging before|WARNING: All log messages|"
                    + re.escape(READY_LINE) + ")")


class ControlError(Exception):
    """The engine could not be started or stopped; the message is one line for a person."""


@dataclass(frozen=True)
class EngineHandle:
    """A started engine process: its pid, log file and the launch it serves."""

    pid: int
    log_path: str
    started_at: str  # ISO-8601 UTC
    launch: LessonLaunch
    start_ticks: int | None = None  # the kernel's start time of that pid: tells a recycled pid apart

    def to_json(self) -> str:
        """The handle as stored: a stream URL's password and tokens masked, nothing secret."""
        raw = asdict(self)
        raw["launch"]["source"] = self.launch.spec.shown
        return json.dumps(raw, indent=2)

    @classmethod
    def from_json(cls, text: str) -> EngineHandle:
        raw = json.loads(text)
        known = {f.name for f in fields(LessonLaunch)}  # an older file's db_url is dropped
        return cls(
            pid=int(raw["pid"]),
            log_path=str(raw["log_path"]),
            started_at=str(raw["started_at"]),
            launch=LessonLaunch(**{k: v for k, v in raw["launch"].items() if k in known}),
            start_ticks=raw.get("start_ticks"),
        )


def engine_command(launch: LessonLaunch, python: str = sys.executable) -> list[str]:
    """The engine's command line for a launch (recordings play at real-time pace, as in a lesson).

    It holds no secret: no database URL, and a stream URL goes in the environment (engine_env).
    """
    return [python, "-m", "engine", *engine_args(launch)]


def engine_args(launch: LessonLaunch) -> list[str]:
    """What follows `python -m engine` for a launch: the same for a fresh engine and a standby one."""
    spec = launch.spec
    source = [] if spec.kind is SourceKind.URL else ["--source", launch.source]
    command = [
        "run",
        *source,
        "--rate",
        f"{launch.rate_hz:g}",
        "--lesson",
        launch.title.strip(),
        "--group",
        launch.group_name.strip(),
        "--quiet",
    ]
    if launch.attention_only:
        command.append("--attention-only")
    if launch.owner:
        command += ["--teacher", launch.owner]
    if launch.max_faces is not None:
        command += ["--max-faces", str(launch.max_faces)]
    if FILE_SOURCES_PLAYED_IN_REAL_TIME and not spec.live:
        command.append("--realtime")
    if spec.kind is SourceKind.DEMO:
        command.append("--loop")  # the 40 s clip plays until the teacher stops the lesson
    return command


def engine_env(
    launch: LessonLaunch, db_url: str | None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The engine's environment: the database URL and a stream URL travel here, not in argv."""
    env = _base_env(base)
    if db_url:
        env[URL_ENV] = db_url
    if launch.spec.kind is SourceKind.URL:
        env[SOURCE_ENV] = launch.source
    return env


def _base_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Any engine's environment before its lesson's own: unbuffered, MediaPipe's chatter off, and
    no stream URL left over from this process's environment."""
    env = dict(os.environ if base is None else base, PYTHONUNBUFFERED="1", GLOG_minloglevel="2")
    env.pop(SOURCE_ENV, None)
    return env


def start_engine(
    launch: LessonLaunch, data_dir: Path, *, db_url: str | None = None, cwd: Path | None = None
) -> EngineHandle:
    """Start the engine in its own session, log to a file, remember it in the state file.

    `db_url` (the dashboard's database) reaches the engine as CLASSPULSE_DB_URL; without it the
    engine reads this process's environment as `engine run` would. A launch that cannot start
    takes its uploaded video with it.
    """
    try:
        with _start_lock:  # two sessions clicking Start at once: one engine, the other is refused
            running = find_engine(data_dir)
            if running is not None:
                raise ControlError(f"an engine is already running (pid {running.pid}); stop it first")
            return _spawn(launch, data_dir, db_url, cwd)
    except ControlError:
        _discard_upload(launch, data_dir)
        raise


_start_lock = threading.Lock()  # from the running-engine check to its state file written


def _spawn(
    launch: LessonLaunch, data_dir: Path, db_url: str | None, cwd: Path | None
) -> EngineHandle:
    logs = Path(data_dir) / LOG_DIR
    try:
        logs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ControlError(f"cannot create {logs}: {exc.strerror or exc}") from exc
    now = datetime.now(UTC)
    cwd = cwd or Path.cwd()
    warm = _hand_to_standby(launch, data_dir, db_url, cwd)
    if warm is not None:
        pid, log_path = warm
    else:
        log_path = _new_log_path(logs, now)
        try:
            pid = _engine_process(engine_command(launch), log_path, cwd, engine_env(launch, db_url)).pid
        except OSError as exc:
            raise ControlError(f"cannot start the engine: {exc.strerror or exc}") from exc
    handle = EngineHandle(
        pid=pid,
        log_path=str(log_path),
        started_at=now.isoformat(),
        launch=launch,
        start_ticks=process_start_ticks(pid),
    )
    _state_path(data_dir).write_text(handle.to_json(), encoding="utf-8")
    log.info("engine started%s: pid %d, log %s", " (warm)" if warm else "", pid, log_path)
    return handle


def _engine_process(
    command: list[str], log_path: Path, cwd: Path, env: dict[str, str], *, stdin: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    """An engine process in a session of its own (it outlives the script run), logging to log_path."""
    with log_path.open("ab") as out:
        return subprocess.Popen(command, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=cwd, env=env, text=True)


def _new_log_path(logs: Path, now: datetime) -> Path:
    """A log file name of its own: the start time, to the microsecond (a standby and a lesson may
    start within one second)."""
    return logs / f"engine-{now:%Y%m%d-%H%M%S-%f}.log"


# --- the warm engine --------------------------------------------------------------------------
# One `python -m engine standby` per dashboard process waits, imports done, for the next Start
# (engine.standby). It holds the write end of its stdin here: when this process ends, or lets go
# of it, the standby reads the end of its input and exits unused, deleting its empty log.


STANDBY_IDLE_S = 1800.0  # a warm engine nobody started a lesson in exits after this long
STANDBY_MARGIN_S = 60.0  # ... and is not handed a lesson this close to it: never one it would miss


@dataclass
class _Standby:
    process: subprocess.Popen[str]
    log_path: Path
    data_dir: Path
    cwd: Path
    spawned_s: float  # time.monotonic() at its spawn

    def serves(self, data_dir: Path, cwd: Path) -> bool:
        young = time.monotonic() - self.spawned_s < STANDBY_IDLE_S - STANDBY_MARGIN_S
        return young and self.process.poll() is None and self.data_dir == Path(data_dir) and self.cwd == cwd


_standby: _Standby | None = None
_standby_lock = threading.Lock()


def keep_standby(data_dir: Path, *, cwd: Path | None = None) -> int | None:
    """Have a warm engine waiting for the next lesson started from this dashboard; its pid.

    Spawned once and kept while it lives (a second call costs nothing); one that died or is near
    its idle end is replaced. None when it cannot be started: a Start then spawns a fresh engine,
    as with CLASSPULSE_ENGINE_STANDBY=0.
    """
    global _standby
    cwd = cwd or Path.cwd()
    with _standby_lock:
        if _standby is not None and _standby.serves(data_dir, cwd):
            return _standby.process.pid
        old, _standby = _standby, None
    _release(old)  # outside the lock: it may wait for a standby still importing
    logs = Path(data_dir) / LOG_DIR
    try:
        logs.mkdir(parents=True, exist_ok=True)
        log_path = _new_log_path(logs, datetime.now(UTC))
        command = [sys.executable, "-m", "engine", "standby", "--discard-log", str(log_path),
                   "--idle-exit", f"{STANDBY_IDLE_S:g}"]
        process = _engine_process(command, log_path, cwd, _standby_env(), stdin=subprocess.PIPE)
    except OSError as exc:
        log.warning("no warm engine waits for the next lesson: %s", exc.strerror or exc)
        return None
    standby = _Standby(process, log_path, Path(data_dir), cwd, time.monotonic())
    with _standby_lock:
        if _standby is None:  # another session may have made one meanwhile: keep the first
            _standby = standby
            log.info("warm engine waiting: pid %d", process.pid)
            return process.pid
        kept = _standby.process.pid
    _release(standby)
    return kept


def _standby_env() -> dict[str, str]:
    """A warm engine's own environment: neither the database URL nor a stream URL; the lesson's
    environment, both included, reaches it with the request."""
    env = _base_env()
    env.pop(URL_ENV, None)
    return env


def standby_pid() -> int | None:
    """The waiting warm engine's pid, None when none waits."""
    with _standby_lock:
        alive = _standby is not None and _standby.process.poll() is None
        return _standby.process.pid if alive else None


def release_standby() -> None:
    """Let the warm engine go (it exits unused); a later keep_standby starts another."""
    global _standby
    with _standby_lock:
        old, _standby = _standby, None
    _release(old)


def _release(standby: _Standby | None, timeout_s: float = 5.0) -> None:
    """End a warm engine never handed a lesson, and delete its log when it holds only its ready
    line (also when it was killed: no handler of its own deleted it). A log with more in it, a
    traceback of one that died by itself, is kept and named in this process's log."""
    if standby is None:
        return
    with contextlib.suppress(OSError):
        standby.process.stdin.close()
    try:
        standby.process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        standby.process.kill()
        standby.process.wait()
    try:
        text = standby.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return  # it deleted its own
    if last_message(text) is None:
        standby.log_path.unlink(missing_ok=True)
    else:
        log.warning("the warm engine (pid %d) ended by itself; its log: %s", standby.process.pid,
                    standby.log_path)


def _hand_to_standby(
    launch: LessonLaunch, data_dir: Path, db_url: str | None, cwd: Path
) -> tuple[int, Path] | None:
    """Give the launch to the waiting engine: its pid and log, or None when none can take it."""
    global _standby
    with _standby_lock:
        standby, _standby = _standby, None
    if standby is None or not standby.serves(data_dir, cwd):
        _release(standby)
        return None
    request = StartRequest(tuple(engine_args(launch)), engine_env(launch, db_url), str(cwd))
    try:
        standby.process.stdin.write(request.to_line())
        standby.process.stdin.close()
    except OSError as exc:  # it died just now: a fresh engine instead
        log.warning("the warm engine could not take the lesson (%s); starting a fresh one", exc)
        _release(standby)
        return None
    return standby.process.pid, standby.log_path


def _state_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_FILE


def load_handle(data_dir: Path) -> EngineHandle | None:
    """The last engine this dashboard started (alive or not), or None."""
    path = _state_path(data_dir)
    try:
        return EngineHandle.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget_engine(data_dir: Path) -> None:
    """Remove the state file and the engine's uploaded video (once it has exited)."""
    handle = load_handle(data_dir)
    if handle is not None and not is_alive(handle.pid, handle.start_ticks):
        _discard_upload(handle.launch, data_dir)
    _state_path(data_dir).unlink(missing_ok=True)


def _discard_upload(launch: LessonLaunch, data_dir: Path) -> None:
    """Delete the video uploaded for a launch (nothing for any other source)."""
    if is_upload(launch.source, data_dir):
        try:
            Path(launch.spec.target).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot delete the uploaded video %s: %s", launch.spec.target, exc)


def sweep_uploads(data_dir: Path, *, grace_s: float = UPLOAD_GRACE_S) -> int:
    """Delete uploaded videos no running engine plays (left by a crash or a restart); how many.

    Files younger than `grace_s` are left for a moment: one may be about to be started.
    """
    running = find_engine(data_dir)
    playing = None if running is None else Path(running.launch.source)
    now = time.time()
    removed = 0
    try:
        leftovers = [p for p in upload_folder(data_dir).iterdir() if p != playing]
    except OSError:
        return 0
    for path in leftovers:
        try:
            if path.is_file() and now - path.stat().st_mtime >= grace_s:
                path.unlink()
                removed += 1
        except OSError as exc:
            log.warning("cannot delete the uploaded video %s: %s", path, exc)
    if removed:
        log.info("deleted %d uploaded video(s) no lesson plays", removed)
    return removed


def is_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Whether the process runs (a finished child is reaped; a zombie counts as dead).

    With `start_ticks`, a pid the kernel has since given to another process counts as dead.
    """
    if start_ticks is not None and process_start_ticks(pid) not in (start_ticks, None):
        return False
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started before a server restart): ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def find_engine(data_dir: Path) -> EngineHandle | None:
    """The engine this dashboard started, when it is still running (an ended one's upload goes)."""
    handle = load_handle(data_dir)
    if handle is None:
        return None
    if not is_alive(handle.pid, handle.start_ticks):
        _discard_upload(handle.launch, data_dir)
        return None
    return handle


@dataclass(frozen=True)
class EngineStatus:
    """The engine this dashboard started, as one look at its process and its log found it."""

    handle: EngineHandle
    alive: bool
    lesson_id: int | None  # the lesson it announced; None before it has, or when it failed to start
    message: str | None  # its last line worth showing a person (its one-line error when it failed)


def engine_status(data_dir: Path) -> EngineStatus | None:
    """How the engine this dashboard started stands (alive or not), None when it started none."""
    handle = load_handle(data_dir)
    if handle is None:
        return None
    text = read_log(handle)
    alive = is_alive(handle.pid, handle.start_ticks)
    if not alive:
        _discard_upload(handle.launch, data_dir)
    return EngineStatus(handle, alive, lesson_id_from_log(text), last_message(text))


def engine_for_lesson(data_dir: Path, lesson_id: int) -> EngineStatus | None:
    """The engine this dashboard started when it serves `lesson_id`, else None (started elsewhere)."""
    status = engine_status(data_dir)
    return status if status is not None and status.lesson_id == lesson_id else None


def stop_lesson(data_dir: Path, handle: EngineHandle, timeout_s: float = 20.0) -> bool:
    """Stop the engine and, once it has exited, forget it; False when it is still running."""
    stopped = stop_engine(handle, timeout_s)
    if stopped:
        forget_engine(data_dir)
    return stopped


def stop_engine(handle: EngineHandle, timeout_s: float = 20.0) -> bool:
    """SIGTERM the engine and wait for it to finish its lesson; True when it has exited.

    A pid that now belongs to another process (the engine ended long ago) is never signalled.
    """
    if not is_alive(handle.pid, handle.start_ticks):
        return True
    try:
        os.kill(handle.pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(handle.pid, handle.start_ticks):
            return True
        time.sleep(0.2)
    return not is_alive(handle.pid, handle.start_ticks)


def read_log(handle: EngineHandle, max_bytes: int = 64_000) -> str:
    """The tail of the engine's log, '' when it cannot be read."""
    try:
        with open(handle.log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def lesson_id_from_log(text: str) -> int | None:
    """The lesson id the engine announced ("lesson N started: ..."), None before it has."""
    found = _LESSON_STARTED.findall(text)
    return int(found[-1]) if found else None


def last_message(text: str) -> str | None:
    """The engine's last line worth showing a person (its one-line error when it failed).

    Any URL in it is masked (storage.masking), as everywhere the dashboard shows one.
    """
    lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines()]
    lines = [ln for ln in lines if ln and not _NOISE.match(ln)]
    for line in reversed(lines):
        if line.startswith("Error:"):
            return mask_secrets(line.removeprefix("Error:").strip())
    return mask_secrets(lines[-1]) if lines else None


def webcam_indices(dev: Path = Path("/dev")) -> list[int]:
    """Camera indices the machine offers (/dev/videoN); no device is opened."""
    found = []
    for path in dev.glob("video*"):
        suffix = path.name.removeprefix("video")
        if suffix.isdigit():
            found.append(int(suffix))
    return sorted(found)
