"""The messages between the dashboard and the engine, defined once, as JSON lines.

- **The start request** (`StartRequest`): what an engine is asked to record. The dashboard writes it
  as one line to the stdin of a fresh `python -m engine serve` or of the waiting warm engine
  (`python -m engine standby`): the same request, the same way. It may hold secrets (a stream URL's
  password, the database URL in its environment), so it travels through a pipe, never the command
  line, and is never written to a file.
- **The engine's events** (`Started`, `RateShortfall`, `RateRecovered`, `StorageWaiting`,
  `StorageResumed`, `SourceLost`, `Finished`, `Failed`): appended, one JSON line each, to the
  events file the request names, which the dashboard reads with `read_events` (after a restart
  too). The engine's log is for people and tracebacks; nothing parses it. `storage_waiting_now`
  reads from them whether the engine's writes wait now (the Live page's notice); `untold_ending`
  how a lesson ended when its engine could not store that itself.
"""

from __future__ import annotations

import json
import logging
import threading
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TextIO

log = logging.getLogger(__name__)


def _build(cls: type, raw: dict[str, Any], what: str) -> Any:
    """An instance of the dataclass `cls` from a JSON object: every field it needs, each of its
    declared type, and no other; ValueError (one line, naming the field, never its value) if not."""
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"not {what}: unknown field {unknown[0]!r}")
    for f in fields(cls):
        if f.name not in raw:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ValueError(f"not {what}: {f.name} is missing")
        elif not _is_a(raw[f.name], hints[f.name]):
            raise ValueError(f"not {what}: {f.name} must be {_type_words(hints[f.name])}")
    return cls(**raw)


def _is_a(value: object, hint: object) -> bool:
    """Whether a JSON value is of a field's type (str, int, float, bool, a str map, or | None)."""
    if isinstance(hint, types.UnionType):
        return any(_is_a(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typing.get_origin(hint) is Mapping:
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
    return isinstance(value, hint)  # type: ignore[arg-type]


def _type_words(hint: object) -> str:
    if isinstance(hint, types.UnionType):
        return " or ".join(_type_words(arm) for arm in typing.get_args(hint))
    if typing.get_origin(hint) is Mapping:
        return "a map of strings to strings"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _json_object(line: str, what: str) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not {what}: {type(exc).__name__}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"not {what}: {type(raw).__name__}")
    return raw


# --- the start request -----------------------------------------------------------------------


@dataclass(frozen=True)
class StartRequest:
    """What an engine is asked to record; None leaves a setting to the engine's defaults
    (EngineSettings, filled from CLASSPULSE_* in its environment)."""

    title: str
    source: str = field(repr=False)  # the source grammar (engine.source_spec); may hold a password
    group_name: str = ""
    rate_hz: float | None = None
    attention_only: bool | None = None
    max_faces: int | None = None
    realtime: bool = False  # play a file at real-time pace
    loop: bool = False  # play a file (or the demo) again and again until stopped
    max_seconds: float | None = None
    owner: str | None = None  # the account the lesson belongs to
    quiet: bool = True  # no live status line on stderr
    events_path: str | None = None  # where the engine appends its events
    stop_path: str | None = None  # the file whose appearance asks the engine to stop
    env: Mapping[str, str] | None = field(default=None, repr=False)  # the engine's whole environment
    cwd: str | None = None  # its working folder

    KIND: ClassVar[str] = "start"

    def to_line(self) -> str:
        """The request as the one line an engine reads."""
        raw = asdict(self)
        raw["env"] = None if self.env is None else dict(self.env)
        return json.dumps({"message": self.KIND, **raw}) + "\n"

    @classmethod
    def from_line(cls, line: str) -> StartRequest:
        """Parse a line; ValueError (one line, no secret in it) for anything else."""
        what = "a start request"
        raw = _json_object(line, what)
        if raw.pop("message", None) != cls.KIND:
            raise ValueError(f"not {what}: no \"message\": \"{cls.KIND}\"")
        return _build(cls, raw, what)


def read_request(stream: TextIO) -> StartRequest | None:
    """The request on the next line of `stream`; None when the stream ends without one."""
    line = stream.readline()
    return StartRequest.from_line(line) if line.strip() else None


# --- the engine's events ---------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """The lesson exists and its first sample is stored: the dashboard shows it from now on."""

    lesson_id: int
    title: str
    source: str  # as the lesson stores it: a URL's secrets masked

    KIND: ClassVar[str] = "started"

    @property
    def text(self) -> str:
        return f"lesson {self.lesson_id} started: {self.title} from {self.source}"


@dataclass(frozen=True)
class RateShortfall:
    """The machine manages under 80 % of the asked sample rate (engine.pipeline.PaceCheck)."""

    achieved_hz: float
    asked_hz: float

    KIND: ClassVar[str] = "rate_shortfall"


@dataclass(frozen=True)
class RateRecovered:
    """The machine is back at the asked sample rate (90 % of it) after a shortfall."""

    achieved_hz: float
    asked_hz: float

    KIND: ClassVar[str] = "rate_recovered"


@dataclass(frozen=True)
class StorageWaiting:
    """The database does not take the lesson's samples for now: they wait in memory (bounded) and
    are written once it does. Said once per episode, when the first write fails."""

    lesson_id: int
    reason: str  # disk full, database is locked, database is busy, database unreachable
    samples_waiting: int  # when it began; more wait as the lesson goes on
    where: str  # the database file's folder, or "the database server host:port"

    KIND: ClassVar[str] = "storage_waiting"

    @property
    def text(self) -> str:
        """`disk full: 44 samples waiting — free space on /srv/classpulse`."""
        waiting = f"{self.reason}: {self.samples_waiting} samples waiting"
        return f"{waiting} — free space on {self.where}" if self.reason == "disk full" else waiting


@dataclass(frozen=True)
class StorageResumed:
    """The database takes the lesson's samples again; those that waited are being written."""

    lesson_id: int
    reason: str  # what it was waiting for (as in StorageWaiting)
    waited_s: float

    KIND: ClassVar[str] = "storage_resumed"

    @property
    def text(self) -> str:
        return f"writing again after {self.waited_s:.0f} s ({self.reason}): the waiting samples are stored"


@dataclass(frozen=True)
class SourceLost:
    """The camera, screen, stream or video was lost; the lesson ends as source_lost."""

    lesson_id: int
    reason: str

    KIND: ClassVar[str] = "source_lost"


@dataclass(frozen=True)
class Finished:
    """The lesson ended and is closed in the database: how, after how many samples, and why."""

    lesson_id: int | None  # None: stopped before a lesson was created
    status: str  # storage.records.LessonStatus
    samples: int
    reason: str  # end_of_source, stopped, max_seconds, truncated or source_lost
    dropped: int = 0  # samples that could not be stored

    KIND: ClassVar[str] = "finished"

    @property
    def text(self) -> str:
        """`lesson 3 finished: 80 samples (end_of_source)`, `lesson 3 ended early (source_lost): ...`,
        with `; 12 samples could not be stored` when the database was away too long."""
        ended = "finished" if self.status == "finished" else f"ended early ({self.status})"
        lost = f"; {self.dropped} samples could not be stored" if self.dropped else ""
        name = "no lesson" if self.lesson_id is None else f"lesson {self.lesson_id}"
        return f"{name} {ended}: {self.samples} samples ({self.reason}){lost}"


@dataclass(frozen=True)
class Failed:
    """The engine could not start its lesson, or the lesson failed: one line for a person.

    `cause` is the lesson's stored cause in a few words ("disk full", "database file removed"):
    whoever finds it after the engine is gone records it when the database did not take it
    (`untold_ending`). `recovery_path`: the lesson is not in the database the engine was given but
    in this file (its database file was removed or replaced during the lesson).
    """

    message: str
    lesson_id: int | None = None
    cause: str | None = None
    recovery_path: str | None = None

    KIND: ClassVar[str] = "failed"

    @property
    def text(self) -> str:
        return self.message


Event = (Started | RateShortfall | RateRecovered | StorageWaiting | StorageResumed | SourceLost
         | Finished | Failed)  # fmt: skip
EVENTS: dict[str, type[Event]] = {
    cls.KIND: cls
    for cls in (Started, RateShortfall, RateRecovered, StorageWaiting, StorageResumed, SourceLost,
                Finished, Failed)  # fmt: skip
}


def storage_waiting_now(events: Sequence[Event]) -> StorageWaiting | None:
    """The wait the engine is in now, as its events tell it (for the Live page's notice: its
    `text`); None when its writes go through, or once the lesson has ended."""
    waiting = None
    for event in events:
        if isinstance(event, StorageWaiting):
            waiting = event
        elif isinstance(event, StorageResumed | Finished | Failed | Started):
            waiting = None
    return waiting


@dataclass(frozen=True)
class UntoldEnding:
    """How an engine's lesson ended, as its last events tell it: to be stored if it is not."""

    lesson_id: int
    cause: str
    title: str | None  # the lesson's title, as announced (None when it was not)


def untold_ending(events: Sequence[Event]) -> UntoldEnding | None:
    """The lesson and cause an ended engine's events give, for its lesson to be settled with.

    Its last ending is `failed` with a cause (its database may not have taken it), or it has none
    (killed) while its writes were waiting (`storage_waiting` not followed by `storage_resumed`):
    the cause is that wait's reason. None when it closed its lesson (`finished`), named none,
    failed without a cause, or its lesson is in a recovery file rather than this database.
    """
    lesson_id, title, waiting, ending = None, None, None, None
    for event in events:
        if isinstance(event, Started):
            lesson_id, title = event.lesson_id, event.title
        elif isinstance(event, StorageWaiting):
            lesson_id, waiting = event.lesson_id, event
        elif isinstance(event, StorageResumed):
            waiting = None
        elif isinstance(event, Finished | Failed):
            ending = event
            lesson_id = event.lesson_id if event.lesson_id is not None else lesson_id
    if isinstance(ending, Finished) or lesson_id is None:
        return None
    if isinstance(ending, Failed):
        if ending.cause is None or ending.recovery_path is not None or ending.lesson_id is None:
            return None
        return UntoldEnding(ending.lesson_id, ending.cause, title)
    return None if waiting is None else UntoldEnding(lesson_id, waiting.reason, title)


def event_line(event: Event) -> str:
    """An event as the one JSON line the engine appends."""
    return json.dumps({"event": event.KIND, **asdict(event)}) + "\n"


def parse_event(line: str) -> Event:
    """An event from its line; ValueError (one line) for anything else."""
    what = "an event"
    raw = _json_object(line, what)
    cls = EVENTS.get(raw.pop("event", None))
    if cls is None:
        raise ValueError(f"not {what}: unknown or missing \"event\"")
    return _build(cls, raw, what)


def read_events(path: str | Path | None) -> list[Event]:
    """The events in an engine's events file, oldest first ([] when there is none yet).

    A last line still being written (no newline yet) waits for the next read; a line that is not an
    event is logged and skipped.
    """
    if not path:
        return []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    events = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n") or not line.strip():
            continue
        try:
            events.append(parse_event(line))
        except ValueError as exc:
            log.warning("%s: skipped a line: %s", path, exc)
    return events


class EventWriter:
    """Appends an engine's events to its events file (nothing without one); safe across threads."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        """Append one event, flushed at once (a failure to write is logged, not raised)."""
        if self.path is None:
            return
        with self._lock:
            try:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(event_line(event))
            except OSError as exc:
                log.warning("cannot write the event %s to %s: %s", event.KIND, self.path, exc)
