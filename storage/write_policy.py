"""How the recorder rides out a busy or unreachable database or a full disk: which errors to retry,
when, how many samples to keep meanwhile, and what it tells its caller (`WritesPaused`,
`WritesResumed`). Pure logic: times are passed in, nothing here sleeps or writes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from storage.db import StorageError
from storage.records import LessonStatus, Sample

# Why a write waits, in the words the engine's events and the log use (`transient_reason`).
DISK_FULL = "disk full"
LOCKED = "database is locked"
BUSY = "database is busy"
UNREACHABLE = "database unreachable"

# SQLite result codes (and their extended forms, e.g. SQLITE_BUSY_SNAPSHOT) worth retrying:
# another connection holds the lock, or the disk is full (the same write succeeds once space is
# freed: SQLite rolls the failed transaction back and the file stays consistent).
_SQLITE_TRANSIENT = (("SQLITE_BUSY", LOCKED), ("SQLITE_LOCKED", LOCKED), ("SQLITE_FULL", DISK_FULL))
_SQLITE_TRANSIENT_TEXT = (
    ("database is locked", LOCKED), ("database is busy", LOCKED),
    ("database table is locked", LOCKED), ("database or disk is full", DISK_FULL),
)  # fmt: skip
# PostgreSQL SQLSTATEs worth retrying: connection exceptions (class 08), serialization failure,
# deadlock, lock timeout (lock_not_available), the server shutting down or starting, too many
# connections, disk full (53100; not out of memory 53200, nor 53000 insufficient resources in
# general). A constraint violation (class 23) or a bad statement is a bug and is not here.
_PG_TRANSIENT_CLASSES = (("08", UNREACHABLE),)
_PG_TRANSIENT_STATES = {
    "40001": BUSY, "40P01": BUSY, "55P03": BUSY, "53300": BUSY,
    "57P01": UNREACHABLE, "57P02": UNREACHABLE, "57P03": UNREACHABLE,
    "53100": DISK_FULL,
}  # fmt: skip


class WaitingError(StorageError):
    """A write storage itself cannot make yet, for a reason that passes (`reason`, e.g. DISK_FULL)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def is_transient(exc: BaseException) -> bool:
    """Whether a failed write may succeed unchanged later (a lock, a lost connection, a full disk),
    not a bug."""
    return transient_reason(exc) is not None


def transient_reason(exc: BaseException) -> str | None:
    """Why a failed write may succeed unchanged later (DISK_FULL, LOCKED, BUSY, UNREACHABLE), or
    None when it will not: a bug, or something a person must fix."""
    if isinstance(exc, WaitingError):
        return exc.reason
    if isinstance(exc, PoolTimeoutError):  # no connection free in the pool within its timeout
        return BUSY
    if not isinstance(exc, DBAPIError):
        return None
    if exc.connection_invalidated:  # SQLAlchemy recognised a disconnect
        return UNREACHABLE
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg 3
    if sqlstate:
        by_class = (reason for prefix, reason in _PG_TRANSIENT_CLASSES if sqlstate.startswith(prefix))
        return _PG_TRANSIENT_STATES.get(sqlstate) or next(by_class, None)
    errorname = getattr(orig, "sqlite_errorname", None)  # sqlite3, Python 3.11+
    if errorname:
        return next((reason for code, reason in _SQLITE_TRANSIENT if errorname.startswith(code)), None)
    if not isinstance(exc, OperationalError):
        return None
    if type(orig).__module__.startswith("psycopg"):  # an OperationalError without a SQLSTATE: the link
        return UNREACHABLE
    text = str(orig).lower()
    return next((reason for phrase, reason in _SQLITE_TRANSIENT_TEXT if phrase in text), None)


@dataclass(frozen=True, slots=True)
class WritesPaused:
    """A write failed for a reason that passes: the recorder keeps trying, samples wait in memory."""

    lesson_id: int
    reason: str  # DISK_FULL, LOCKED, BUSY or UNREACHABLE
    detail: str  # the database's own words, one line
    samples_waiting: int  # the batch being tried and those buffered behind it
    where: str  # the database file's folder, or the server (host:port)


@dataclass(frozen=True, slots=True)
class WritesResumed:
    """Writes go through again after a pause: everything buffered that was not dropped follows."""

    lesson_id: int
    reason: str
    failed_attempts: int
    waited_s: float


@dataclass(frozen=True, slots=True)
class LessonEnd:
    """How `Recorder.end_lesson` closed the lesson: the status and cause it stored (or meant to)."""

    status: LessonStatus
    cause: str | None
    write_error: StorageError | None  # why some samples could not be stored; None when all were
    not_recorded: str | None = None  # why the database did not take the ending (None: it did)

    @property
    def recorded(self) -> bool:
        """Whether the ending is stored (else the caller must say it where it will be found)."""
        return self.not_recorded is None


def lesson_ending(
    status: LessonStatus, cause: str | None, file_lost: str | None, write_failure: str | None
) -> tuple[LessonStatus, str | None]:
    """The status and cause a lesson is stored with: `failed` with the storage's own cause when its
    file was lost or its samples could not all be stored, else what the caller said."""
    if file_lost:
        return LessonStatus.FAILED, file_lost
    if write_failure:
        return LessonStatus.FAILED, write_failure
    return status, cause


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Back-off between attempts at one batch, and how long closing may wait for the last ones.

    Delays double from `first_delay_s` up to `max_delay_s`, so a database that comes back is
    written to again within `max_delay_s`. While recording there is no limit on attempts: the
    buffer bound limits what waiting costs. Closing gives up once the next attempt would start
    more than `close_wait_s` after close was asked for.
    """

    first_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 15.0
    close_wait_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.first_delay_s <= self.max_delay_s:
            raise ValueError(
                f"need 0 < first_delay_s <= max_delay_s, got {self.first_delay_s}, {self.max_delay_s}"
            )
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        if self.close_wait_s < 0:
            raise ValueError(f"close_wait_s must be >= 0, got {self.close_wait_s}")

    def next_delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed attempt (1 for the first failure)."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        exponent = min(attempt - 1, 64)  # beyond that the cap has long been reached
        return min(self.max_delay_s, self.first_delay_s * self.factor**exponent)

    def retry_at(self, attempt: int, now_s: float, close_asked_s: float | None) -> float | None:
        """When to try again after the `attempt`-th failure at `now_s`; None when closing gives up."""
        at = now_s + self.next_delay(attempt)
        if close_asked_s is not None and at > close_asked_s + self.close_wait_s:
            return None
        return at


def sample_weight(sample: Sample) -> int:
    """What a sample costs the buffer: its observations, and a frame without faces counts as one."""
    return max(1, len(sample.observations))


class SampleBuffer:
    """Samples waiting to be written, oldest first, with a bound of `max_observations` (see
    sample_weight) that `trim` enforces.

    Trimming drops the oldest samples and says how many: while the database is away the newest
    part of the lesson is kept, and memory stays bounded.
    """

    def __init__(self, max_observations: int) -> None:
        if max_observations < 1:
            raise ValueError(f"max_observations must be >= 1, got {max_observations}")
        self.max_observations = max_observations
        self._samples: deque[Sample] = deque()
        self._weight = 0

    def __len__(self) -> int:
        return len(self._samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self._samples)

    @property
    def observations(self) -> int:
        """The buffer's weight: observations held, a faceless sample counting as one."""
        return self._weight

    def push(self, sample: Sample) -> None:
        """Add a sample as the newest."""
        self._samples.append(sample)
        self._weight += sample_weight(sample)

    def trim(self) -> int:
        """Drop the oldest samples until the buffer is within its bound; return how many went."""
        dropped = 0
        # The newest sample always stays, even one heavier than the whole bound.
        while self._weight > self.max_observations and len(self._samples) > 1:
            self._weight -= sample_weight(self._samples.popleft())
            dropped += 1
        return dropped

    def take(self, n: int) -> list[Sample]:
        """Remove and return up to `n` of the oldest samples."""
        out = [self._samples.popleft() for _ in range(min(n, len(self._samples)))]
        self._weight -= sum(sample_weight(s) for s in out)
        return out

    def clear(self) -> int:
        """Empty the buffer; return how many samples it held."""
        count = len(self._samples)
        self._samples.clear()
        self._weight = 0
        return count


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, without driver noise."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
