"""Starting and stopping the capture engine as its own process, and finding it again after a reload.

What the teacher asked for arrives checked, as a `dashboard.launch.LessonLaunch`. The engine runs
`python -m engine run ...` in a new session (it outlives the Streamlit script run and a page
reload); its pid and what it was asked to do are kept in a small JSON file under the
data folder, its output in data/engine-logs/. Stopping sends SIGTERM: the engine flushes its last
samples and marks the lesson finished.

Secrets stay off the command line (which every account on the machine can read in `ps`) and out
of the JSON file: the database URL and a stream URL reach the engine through its environment,
which only this account can read. A video uploaded for the lesson is deleted once the engine has
exited, however it ended, the first time the dashboard looks.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from dashboard.launch import LessonLaunch, is_upload, upload_folder
from engine.source_spec import SourceKind
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
_NOISE = re.compile(r"^(?:[WIEF]\d{4} |INFO: |WARNING: Logging before|WARNING: All log messages)")


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
    spec = launch.spec
    source = [] if spec.kind is SourceKind.URL else ["--source", launch.source]
    command = [
        python,
        "-m",
        "engine",
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
    env = dict(os.environ if base is None else base, PYTHONUNBUFFERED="1", GLOG_minloglevel="2")
    env.pop(SOURCE_ENV, None)
    if db_url:
        env[URL_ENV] = db_url
    if launch.spec.kind is SourceKind.URL:
        env[SOURCE_ENV] = launch.source
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
        running = find_engine(data_dir)
        if running is not None:
            raise ControlError(f"an engine is already running (pid {running.pid}); stop it first")
        return _spawn(launch, data_dir, db_url, cwd)
    except ControlError:
        _discard_upload(launch, data_dir)
        raise


def _spawn(
    launch: LessonLaunch, data_dir: Path, db_url: str | None, cwd: Path | None
) -> EngineHandle:
    logs = Path(data_dir) / LOG_DIR
    try:
        logs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ControlError(f"cannot create {logs}: {exc.strerror or exc}") from exc
    now = datetime.now(UTC)
    log_path = logs / f"engine-{now:%Y%m%d-%H%M%S}.log"
    try:
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                engine_command(launch),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=cwd or Path.cwd(),
                env=engine_env(launch, db_url),
            )
    except OSError as exc:
        raise ControlError(f"cannot start the engine: {exc.strerror or exc}") from exc
    handle = EngineHandle(
        pid=process.pid,
        log_path=str(log_path),
        started_at=now.isoformat(),
        launch=launch,
        start_ticks=process_start_ticks(process.pid),
    )
    _state_path(data_dir).write_text(handle.to_json(), encoding="utf-8")
    log.info("engine started: pid %d, log %s", process.pid, log_path)
    return handle


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
