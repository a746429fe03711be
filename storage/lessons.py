"""Lesson lifecycle: create, finish, mark interrupted, look up, delete, purge and retention."""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from storage.db import StorageError, write_transaction
from storage.masking import mask_secrets
from storage.records import LessonStatus
from storage.schema import Lesson, SampleRow
from storage.viewers import owner_name

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

RETENTION_ENV = "CLASSPULSE_RETENTION_DAYS"
# The source of a lesson students join from their browser (storage/join.py): it has no engine of its
# own, so only its join ends it (the teacher's Stop, or storage/join_lessons.py for one left open).
JOIN_SOURCE = "join"

_LESSON_COLUMNS = (
    Lesson.id,
    Lesson.title,
    Lesson.group_name,
    Lesson.started_at,
    Lesson.ended_at,
    Lesson.status,
    Lesson.source,
    Lesson.sample_rate_hz,
    Lesson.model_name,
    Lesson.attention_only,
    Lesson.settings,
)


@dataclass(frozen=True)
class LessonSpec:
    """What a new lesson is: names, where frames come from, how it is sampled and classified."""

    title: str
    group_name: str
    started_at: datetime
    source: str = ""
    sample_rate_hz: float = 2.0
    model_name: str | None = None
    attention_only: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None  # the account that starts it (storage.viewers); None: no login

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None or self.started_at.utcoffset() is None:
            raise ValueError(
                f"started_at must be timezone-aware, got {self.started_at.isoformat()}"
            )
        if self.sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be > 0, got {self.sample_rate_hz}")


def create_lesson(engine: Engine, spec: LessonSpec) -> int:
    """Insert a running lesson and return its id; a password or token in the source is stored masked."""
    values = {
        "title": spec.title,
        "group_name": spec.group_name,
        "started_at": spec.started_at,
        "ended_at": None,
        "status": LessonStatus.RUNNING.value,
        "source": mask_secrets(spec.source),
        "sample_rate_hz": spec.sample_rate_hz,
        "model_name": spec.model_name,
        "attention_only": spec.attention_only,
        "settings": dict(spec.settings),
        "owner": owner_name(spec.owner),
    }
    with write_transaction(engine) as conn:
        lesson_id = conn.execute(insert(Lesson).values(**values).returning(Lesson.id)).scalar_one()
    log.info("lesson %d started: %s (%s)", lesson_id, spec.title, spec.group_name)
    return int(lesson_id)


# How a lesson may end: every status but running.
ENDED_STATUSES: tuple[LessonStatus, ...] = tuple(
    status for status in LessonStatus if status is not LessonStatus.RUNNING
)


CAUSE_MAX = 500  # characters of a stored cause: a few words, or one line of a driver's error


def finish_lesson(
    engine: Engine | Connection,
    lesson_id: int,
    status: LessonStatus | str = LessonStatus.FINISHED,
    ended_at: datetime | None = None,
    *,
    cause: str | None = None,
) -> None:
    """Close a lesson with how it ended (finished, source_lost, failed, interrupted), when, and why
    when the status alone does not say it (`cause`: "disk full"; a secret in it is masked)."""
    if status not in ENDED_STATUSES:
        choices = ", ".join(repr(s.value) for s in ENDED_STATUSES)
        raise ValueError(f"a lesson ends as one of {choices}, not {status!r}")
    ended_at = ended_at or datetime.now(UTC)
    with write_transaction(engine) as conn:
        result = conn.execute(
            update(Lesson)
            .where(Lesson.id == lesson_id)
            .values(status=LessonStatus(status).value, ended_at=ended_at, ended_cause=stored_cause(cause))
        )
    if result.rowcount == 0:
        raise StorageError(f"no lesson with id {lesson_id}")


def stored_cause(cause: str | None) -> str | None:
    """A cause as stored: one line, secrets masked, at most CAUSE_MAX characters; None when empty."""
    line = " ".join((cause or "").split())
    return mask_secrets(line)[:CAUSE_MAX] or None


def engine_owner(pid: int | None = None, started_s: float | None = None) -> dict[str, Any]:
    """Who runs a lesson (host, process id and its start time), kept in its settings as "engine".

    The start time (seconds since the epoch, as the engine's process module reads it) tells the
    engine apart from a later process given the same pid. Storage only records it: whether that
    process still runs is the caller's to say (an `IsAlive`).
    """
    return {
        "host": socket.gethostname(),
        "pid": os.getpid() if pid is None else pid,
        "started_s": started_s,
    }


# Whether the process with this pid, started at that time (None: unknown), still runs.
IsAlive = Callable[[int, "float | None"], bool]


def owner_alive(settings: dict[str, Any] | None, is_alive: IsAlive | None) -> bool | None:
    """Whether the engine that owns a lesson still runs: None when that cannot be known from here
    (an owner on another host, none recorded, or no `is_alive` to ask)."""
    owner = (settings or {}).get("engine")
    if is_alive is None or not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return None
    try:
        pid = int(owner["pid"])
    except (KeyError, TypeError, ValueError):
        return None
    if pid <= 0:
        return None
    started_s = owner.get("started_s")  # absent from lessons recorded before it was kept
    if isinstance(started_s, bool) or not isinstance(started_s, int | float):
        started_s = None
    return is_alive(pid, started_s)


def _last_sample_ts():
    """The newest sample time of the lesson in the enclosing query (a correlated subquery)."""
    return (
        select(SampleRow.ts)
        .where(SampleRow.lesson_id == Lesson.id)
        .order_by(SampleRow.ts.desc())
        .limit(1)
        .scalar_subquery()
    )


def _interrupt(conn: Connection, lesson_id: int, ended_at: datetime) -> bool:
    """Mark one lesson interrupted at `ended_at` if it is still running; whether it was."""
    result = conn.execute(
        update(Lesson)
        .where(Lesson.id == lesson_id, Lesson.status == LessonStatus.RUNNING.value)
        .values(status=LessonStatus.INTERRUPTED.value, ended_at=ended_at)
    )
    return bool(result.rowcount)


def mark_stale_running_interrupted(
    engine: Engine,
    *,
    is_alive: IsAlive | None = None,
    now: datetime | None = None,
    quiet_after_s: float = 600.0,
) -> list[int]:
    """Mark lessons left 'running' by a crashed engine as interrupted; return their ids.

    Call it once when an engine starts, before it creates its own lesson. A lesson whose engine
    ran on this host is stale when `is_alive` says that process is gone; one from another host (a
    shared PostgreSQL server), or any when no `is_alive` is given, only when nothing was written to
    it for `quiet_after_s`. The end time is
    the lesson's last sample (or its start when it has none). A join lesson (source JOIN_SOURCE) has
    no engine: it is left running unless the process that recorded itself as its owner (`python -m
    dashboard join`) is known to be gone; one nobody stopped is storage.join_lessons' to close.
    """
    now = now or datetime.now(UTC)
    stale: list[int] = []
    with write_transaction(engine) as conn:
        running = conn.execute(
            select(
                Lesson.id, Lesson.started_at, Lesson.settings, Lesson.source,
                _last_sample_ts().label("last_ts"),
            ).where(Lesson.status == LessonStatus.RUNNING.value)
        ).all()
        for lesson_id, started_at, settings, source, last_ts in running:
            alive = owner_alive(settings, is_alive)
            if source == JOIN_SOURCE and alive is not False:
                continue  # its students' pages write to it, not an engine: quiet is no crash
            last_activity = last_ts or started_at
            quiet = (now - last_activity).total_seconds() > quiet_after_s
            if alive is True or (alive is None and not quiet):
                continue
            if _interrupt(conn, lesson_id, last_activity):
                stale.append(int(lesson_id))
    if stale:
        log.warning("marked running lessons as interrupted: %s", stale)
    return stale


MAX_RUNNING_CHECKED = 100  # the dashboard's check per page load stays bounded


def mark_dead_engines_interrupted(
    engine: Engine, is_alive: IsAlive, *, limit: int = MAX_RUNNING_CHECKED
) -> list[int]:
    """Mark running lessons whose engine on this host has died as interrupted; return their ids.

    Cheap enough for every page load: one read of the running lessons (at most `limit`), a look
    at each owner's process, and a write only when one has died (killed, crashed, pid reused).
    Lessons of engines on other hosts, or without a recorded owner, are left to
    `mark_stale_running_interrupted`. The end time is the lesson's last sample (or its start).
    """
    with engine.connect() as conn:
        running = conn.execute(
            select(Lesson.id, Lesson.settings)
            .where(Lesson.status == LessonStatus.RUNNING.value)
            .order_by(Lesson.id)
            .limit(limit)
        ).all()
    dead = [
        int(lesson_id)
        for lesson_id, settings in running
        if owner_alive(settings, is_alive) is False
    ]
    if not dead:
        return []
    marked: list[int] = []
    with write_transaction(engine) as conn:
        ends = conn.execute(
            select(Lesson.id, Lesson.started_at, _last_sample_ts()).where(Lesson.id.in_(dead))
        ).all()
        for lesson_id, started_at, last_ts in ends:
            if _interrupt(conn, lesson_id, last_ts or started_at):
                marked.append(int(lesson_id))
    if marked:
        log.warning("lessons whose engine died marked interrupted: %s", marked)
    return marked


def get_lesson(engine: Engine, lesson_id: int) -> dict[str, Any] | None:
    """One lesson's stored fields as a dict, or None when there is no such lesson."""
    with engine.connect() as conn:
        row = (
            conn.execute(select(*_LESSON_COLUMNS).where(Lesson.id == lesson_id)).mappings().first()
        )
    return dict(row) if row is not None else None


def running_lessons(engine: Engine) -> pd.DataFrame:
    """Lessons currently marked running, newest first."""
    import pandas as pd  # here, not at the top: the capture engine imports this module and never needs it

    stmt = (
        select(*_LESSON_COLUMNS)
        .where(Lesson.status == LessonStatus.RUNNING.value)
        .order_by(Lesson.started_at.desc())
    )
    with engine.connect() as conn:
        result = conn.execute(stmt)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    for column in ("started_at", "ended_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


class LessonRunningError(StorageError):
    """A lesson that is still being recorded cannot be deleted: its engine must stop first."""


def delete_lesson(engine: Engine, lesson_id: int, *, is_alive: IsAlive | None = None) -> bool:
    """Delete a lesson and (by cascade) its samples and observations; False when it did not exist.

    A lesson still being recorded is refused with LessonRunningError (its engine would go on
    writing into a lesson that is gone); with `is_alive`, one whose engine has died is marked
    interrupted first (the dashboard also does so on every page load).
    """
    if is_alive is not None:
        mark_dead_engines_interrupted(engine, is_alive)
    with write_transaction(engine) as conn:
        status = conn.execute(
            select(Lesson.status).where(Lesson.id == lesson_id)
        ).scalar_one_or_none()
        if status is None:
            return False
        if status == LessonStatus.RUNNING.value:
            raise LessonRunningError(f"lesson {lesson_id} is still recording; stop it first")
        conn.execute(delete(Lesson).where(Lesson.id == lesson_id))
    log.info("lesson %d deleted", lesson_id)
    return True


def purge_older_than(
    engine: Engine, days: float, now: datetime, *, is_alive: IsAlive | None = None
) -> int:
    """Delete ended lessons that started more than `days` before `now` (interrupted ones too).

    Lessons still being recorded are kept; with `is_alive`, one whose engine has died is marked
    interrupted first, so a killed engine does not keep its lesson from the purge.
    """
    if not math.isfinite(days) or days < 0:
        raise ValueError(f"days must be a finite number >= 0, got {days}")
    if is_alive is not None:
        mark_dead_engines_interrupted(engine, is_alive)
    cutoff = now - timedelta(days=days)
    with write_transaction(engine) as conn:
        deleted = conn.execute(
            delete(Lesson).where(
                Lesson.started_at < cutoff, Lesson.status != LessonStatus.RUNNING.value
            )
        ).rowcount
    log.info("purged %d lessons started before %s", deleted, cutoff.isoformat())
    return int(deleted)


def retention_days_from_env(environ: dict[str, str] | None = None) -> float | None:
    """The retention period from $CLASSPULSE_RETENTION_DAYS; None (keep everything) when unset."""
    environ = os.environ if environ is None else environ
    raw = (environ.get(RETENTION_ENV) or "").strip()
    if not raw:
        return None
    try:
        days = float(raw)
    except ValueError as exc:
        raise StorageError(f"{RETENTION_ENV} must be a number of days, got {raw!r}") from exc
    if days < 0:
        raise StorageError(f"{RETENTION_ENV} must be >= 0, got {raw!r}")
    return days


def apply_retention(
    engine: Engine, days: float | None, now: datetime, *, is_alive: IsAlive | None = None
) -> int:
    """Purge lessons older than the retention period; keep everything when `days` is None."""
    if days is None:
        return 0
    return purge_older_than(engine, days, now, is_alive=is_alive)
