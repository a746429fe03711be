"""The SQLite file a recorder writes, held open from the lesson's start, so that a file removed or
replaced under a running lesson loses nothing.

The recorder writes through one connection of its own (`SqliteFile.engine`), opened when it starts:
it pins the file's inode and its WAL, so what was written stays readable after `rm`. Before each
batch the recorder asks `check()` whether the file at the path is still that file (device and inode).
When it is gone or another file took its place, the database as this connection sees it is copied
with SQLite's backup API to a recovery file beside the path (`x.db.recovered-20261207T153000Z.db`;
in the temporary folder when the path's folder is gone too), and every later write goes there. No
connection is ever opened to the path again: that would make an empty database there, or read the
other file. The old file's `-wal` and `-shm` beside the path (the ones this connection opened) are
unlinked then: SQLite would take a `-wal` it finds beside a database for that database's own, and
lay the old file's pages over the new one's. What the caller then does (the engine ends the lesson
as failed, with its cause) is its own rule.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine

from storage.db import (
    SQLITE_CACHE_KIB,
    SQLITE_WRITER_CACHE_KIB,
    StorageError,
    set_cache_kib,
    sqlite_file_engine,
)
from storage.sqlite_files import sqlite_path
from storage.write_policy import DISK_FULL, WaitingError, WritesPaused, WritesResumed

log = logging.getLogger(__name__)

REMOVED = "removed"
REPLACED = "replaced"
RECOVERY_NOT_WRITTEN = "the recovery file could not be written"


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Which file a path names: its device and inode."""

    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity | None:
        """The file at `path` now; None when there is none (raises OSError when it cannot be told)."""
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return cls(st.st_dev, st.st_ino)


def file_change(recorded: FileIdentity, current: FileIdentity | None) -> str | None:
    """REMOVED when no file is at the path, REPLACED when another is, None when it is the same."""
    if current is None:
        return REMOVED
    return None if current == recorded else REPLACED


def recovery_name(path: Path, now: datetime) -> str:
    """The recovery file's name for the database at `path`, stamped with the UTC time `now`."""
    return f"{path.name}.recovered-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.db"


@dataclass(frozen=True, slots=True)
class FileLost:
    """The database file was removed or replaced during a lesson; its data is in `recovery`."""

    lesson_id: int
    path: Path
    change: str  # REMOVED or REPLACED
    recovery: Path

    @property
    def cause(self) -> str:
        """The lesson's stored cause: `database file removed` / `database file replaced`."""
        return f"database file {self.change}"

    def words(self, samples: int) -> str:
        """The one line for a person: what happened, and where the lesson's samples are."""
        return (f"the database file {self.path} was {self.change} during lesson {self.lesson_id}; "
                f"its {samples} samples are kept in {self.recovery} "
                f"(open it with --db sqlite:///{self.recovery.as_posix()})")  # fmt: skip


def save_recovery(source: sqlite3.Connection, path: Path, now: datetime) -> Path:
    """Copy the database `source` holds open to a new recovery file beside `path` (or in the
    temporary folder when that folder is gone or not writable); its path.

    The copy is written under a `.part` name and renamed when complete. WaitingError when it could
    be written nowhere (DISK_FULL when for want of space): the caller tries again later.
    """
    failures = []
    for folder in dict.fromkeys((path.parent, Path(tempfile.gettempdir()))):
        target = _free_name(folder, recovery_name(path, now))
        part = target.with_name(target.name + ".part")
        try:
            copy = sqlite3.connect(part)
            try:
                source.backup(copy)
            finally:
                copy.close()
            os.replace(part, target)
            return target
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(OSError):
                part.unlink()
            failures.append(exc)
            log.warning("cannot write the recovery file %s: %s", target, exc)
    full = any(getattr(e, "errno", None) == errno.ENOSPC or "full" in str(e) for e in failures)
    raise WaitingError(f"{RECOVERY_NOT_WRITTEN}: {failures[-1]}", DISK_FULL if full else RECOVERY_NOT_WRITTEN)


def _companions(path: Path) -> tuple[Path, Path]:
    """The WAL and shared-memory files SQLite keeps beside a database in WAL mode."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/name-2.db`, ... when a file of that name exists."""
    target = folder / name
    n = 2
    while target.exists():
        target = folder / f"{name.removesuffix('.db')}-{n}.db"
        n += 1
    return target


class SqliteFile:
    """A recorder's own connection to its SQLite file (one of the caller's Engine, held for the
    lesson: its pragmas and events as the caller set them), watched for the file going away.

    `bind` is where the recorder writes: that connection, then (once `check` found the file gone
    or replaced) an Engine on the recovery file. `lost` says what happened, None while all is well.
    """

    def __init__(
        self, engine: Engine, path: Path, lesson_id: int, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.path = path
        self.lesson_id = lesson_id
        self._clock = clock or (lambda: datetime.now(UTC))
        before = FileIdentity.of(path)
        if before is None:  # connecting would make an empty database at the path
            raise StorageError(f"the database file {path} is gone")
        self._held = engine.connect()
        try:  # a read: the WAL is open from now on
            set_cache_kib(self._held, SQLITE_WRITER_CACHE_KIB)  # an appender: back to the pool's on close
            self._held.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar_one()
            self._held.rollback()
        except BaseException:
            self._held.close()
            raise
        after = FileIdentity.of(path)
        if before != after:
            self._held.invalidate()
            raise StorageError(f"the database file {path} changed while the lesson started")
        self._identity = after
        # its WAL and shared-memory files, held open by this connection from now on
        self._companions = {side: FileIdentity.of(side) for side in _companions(path)}
        self._recovery: Engine | None = None
        self.lost: FileLost | None = None

    @property
    def bind(self) -> Engine | Connection:
        """Where the next write goes: the held connection, or the recovery file's Engine."""
        return self._held if self._recovery is None else self._recovery

    @classmethod
    def for_engine(cls, engine: Engine, lesson_id: int) -> SqliteFile | None:
        """The watched file of a SQLite Engine; None for another database (nothing to watch)."""
        path = sqlite_path(engine.url)
        return None if path is None else cls(engine, path, lesson_id)

    def check(self) -> FileLost | None:
        """Whether the file was found gone or replaced (now or before): the recovery file is then
        written and `bind` is its Engine. WaitingError when it cannot be written yet."""
        if self.lost is not None:
            return self.lost
        try:
            change = file_change(self._identity, FileIdentity.of(self.path))
        except OSError:  # the folder cannot be read now: nothing is known to have changed
            return None
        if change is None:
            return None
        recovery = save_recovery(self._held.connection.driver_connection, self.path, self._clock())
        self._unlink_companions()
        self._recovery = sqlite_file_engine(recovery)
        self.lost = FileLost(self.lesson_id, self.path, change, recovery)
        log.error("lesson %d: the database file %s was %s; its data is copied to %s, and written there "
                  "from now on", self.lesson_id, self.path, change, recovery)  # fmt: skip
        return self.lost

    def _unlink_companions(self) -> None:
        """Unlink the old file's -wal and -shm at the path, when they are still the ones this
        connection opened (this connection keeps them; a file at the path must not find them)."""
        for side, identity in self._companions.items():
            try:
                if identity is not None and FileIdentity.of(side) == identity:
                    side.unlink()
            except OSError as exc:
                log.warning("cannot remove %s, left by the lost database file: %s", side, exc)

    def close(self) -> None:
        """Let go of the connections: the held one back to its pool (closed, when its file was
        lost: no one else may write to that file), the recovery file's Engine disposed."""
        if self.lost is not None and not self._held.invalidated and not self._held.closed:
            self._held.invalidate()
        if not self._held.invalidated and not self._held.closed:
            set_cache_kib(self._held, SQLITE_CACHE_KIB)
        self._held.close()
        if self._recovery is not None:
            self._recovery.dispose()


# What a recorder tells its caller as it happens (from its writer thread).
RecorderEvent = WritesPaused | WritesResumed | FileLost


class WriteTarget:
    """Where a recorder writes: its Engine, or on a SQLite file its own watched connection
    (`SqliteFile`); and whom it tells what happens (`on_event`, told once of a lost file)."""

    def __init__(
        self, engine: Engine, lesson_id: int, on_event: Callable[[RecorderEvent], None] | None
    ) -> None:
        self._engine = engine
        self._lesson_id = lesson_id
        self._file = SqliteFile.for_engine(engine, lesson_id)
        self._on_event = on_event
        self.where = place(engine)

    def tell(self, event: RecorderEvent) -> None:
        """Hand an event to the caller's handler; a failing handler is logged, never the writer's end."""
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # the caller's bug must not stop the writes
            log.exception("lesson %d: the recorder's event handler failed", self._lesson_id)

    @property
    def lost(self) -> FileLost | None:
        """What happened to the file, None while all is well (and for other databases)."""
        return None if self._file is None else self._file.lost

    def bind(self) -> Engine | Connection:
        """Where the next write goes, the file checked first (WaitingError: the recovery file
        cannot be written yet)."""
        if self._file is None:
            return self._engine
        before = self._file.lost
        lost = self._file.check()
        if lost is not None and before is None:
            self.tell(lost)
        return self._file.bind

    def close(self) -> None:
        """Let go of the file's connections (idempotent)."""
        if self._file is not None:
            self._file.close()


def place(engine: Engine) -> str:
    """Where the database keeps its data, for a person freeing space: a SQLite file's folder, else
    the server (`the database server host:port`)."""
    path = sqlite_path(engine.url)
    if path is not None:
        return str(path.parent)
    host = engine.url.host or "localhost"
    port = f":{engine.url.port}" if engine.url.port else ""
    return f"the database server {host}{port}"
