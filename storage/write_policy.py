"""How the recorder rides out a busy or unreachable database: which errors to retry, when, and
how many samples to keep meanwhile. Pure logic: times are passed in, nothing here sleeps or writes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from storage.records import Sample

# SQLite result codes (and their extended forms, e.g. SQLITE_BUSY_SNAPSHOT) that mean "another
# connection holds the lock": the same write succeeds once it lets go.
_SQLITE_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED")
_SQLITE_TRANSIENT_TEXT = ("database is locked", "database is busy", "database table is locked")
# PostgreSQL SQLSTATEs worth retrying: connection exceptions (class 08), serialization failure,
# deadlock, lock timeout (lock_not_available), the server shutting down or starting, too many
# connections. A constraint violation (class 23) or a bad statement is a bug and is not here.
_PG_TRANSIENT_CLASSES = ("08",)
_PG_TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"})


def is_transient(exc: BaseException) -> bool:
    """Whether a failed write may succeed unchanged later (a lock, a lost connection), not a bug."""
    if isinstance(exc, PoolTimeoutError):  # no connection free in the pool within its timeout
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # SQLAlchemy recognised a disconnect
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg 3
    if sqlstate:
        return sqlstate.startswith(_PG_TRANSIENT_CLASSES) or sqlstate in _PG_TRANSIENT_STATES
    errorname = getattr(orig, "sqlite_errorname", None)  # sqlite3, Python 3.11+
    if errorname:
        return errorname.startswith(_SQLITE_TRANSIENT)
    if not isinstance(exc, OperationalError):
        return False
    if type(orig).__module__.startswith("psycopg"):  # an OperationalError without a SQLSTATE: the link
        return True
    text = str(orig).lower()
    return any(phrase in text for phrase in _SQLITE_TRANSIENT_TEXT)


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
