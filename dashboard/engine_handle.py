"""The engine this dashboard started, as remembered in the data folder (data/engine.json).

A handle names the process (pid and start time: a recycled pid is not mistaken for it), its three
files beside each other in data/engine-logs/ — the log (for people and tracebacks), the events
file (`engine.protocol`, what the dashboard reads) and the stop file (written to stop it) — and the
launch it serves. It holds no secret: a stream URL is stored masked, the database URL not at all.
A page reload or a dashboard restart finds the engine again through it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path

from dashboard.launch import LessonLaunch
from engine.processes import ProcessRef

STATE_FILE = "engine.json"
LOG_DIR = "engine-logs"


@dataclass(frozen=True)
class EngineHandle:
    """A started engine process: its pid, files and the launch it serves."""

    pid: int
    log_path: str
    started_at: str  # ISO-8601 UTC: when the dashboard started it
    launch: LessonLaunch
    started_s: float | None = None  # the process's own start time (engine.processes.ProcessRef)
    events_path: str = ""  # where it writes its events ("" in a state file from before events)
    stop_path: str = ""  # the file that asks it to stop

    @property
    def process(self) -> ProcessRef:
        return ProcessRef(self.pid, self.started_s)

    def to_json(self) -> str:
        """The handle as stored: a stream URL's password and tokens masked, nothing secret."""
        raw = asdict(self)
        raw["launch"]["source"] = self.launch.spec.shown
        return json.dumps(raw, indent=2)

    @classmethod
    def from_json(cls, text: str) -> EngineHandle:
        """A stored handle; an older file's fields (db_url, start_ticks) are dropped."""
        raw = json.loads(text)
        known = {f.name for f in fields(LessonLaunch)}
        started_s = raw.get("started_s")
        return cls(
            pid=int(raw["pid"]),
            log_path=str(raw["log_path"]),
            started_at=str(raw["started_at"]),
            launch=LessonLaunch(**{k: v for k, v in raw["launch"].items() if k in known}),
            started_s=None if started_s is None else float(started_s),
            events_path=str(raw.get("events_path") or ""),
            stop_path=str(raw.get("stop_path") or ""),
        )


def log_folder(data_dir: Path) -> Path:
    """Where engines' logs, events and stop files are kept."""
    return Path(data_dir) / LOG_DIR


def new_log_path(data_dir: Path, now: datetime) -> Path:
    """A log file name of its own: the start time, to the microsecond (a standby and a lesson may
    start within one second)."""
    return log_folder(data_dir) / f"engine-{now:%Y%m%d-%H%M%S-%f}.log"


def events_path_for(log_path: Path) -> Path:
    """The events file beside an engine's log."""
    return log_path.with_suffix(".events.jsonl")


def stop_path_for(log_path: Path) -> Path:
    """The stop file beside an engine's log."""
    return log_path.with_suffix(".stop")


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_FILE


def save_handle(data_dir: Path, handle: EngineHandle) -> None:
    """Remember the engine this dashboard started."""
    state_path(data_dir).write_text(handle.to_json(), encoding="utf-8")


def load_handle(data_dir: Path) -> EngineHandle | None:
    """The last engine this dashboard started (alive or not), or None."""
    try:
        return EngineHandle.from_json(state_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def drop_handle(data_dir: Path, handle: EngineHandle | None) -> None:
    """Forget the engine: its state file and its stop file go (its log and events stay)."""
    if handle is not None and handle.stop_path:
        Path(handle.stop_path).unlink(missing_ok=True)
    state_path(data_dir).unlink(missing_ok=True)


def read_log(handle: EngineHandle, max_bytes: int = 64_000) -> str:
    """The tail of the engine's log (for a person: tracebacks), '' when it cannot be read."""
    try:
        with open(handle.log_path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - max_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
