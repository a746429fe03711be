"""Writing: the engine hands samples to a Recorder, a background thread bulk-inserts them in batches."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from storage.db import StorageError
from storage.db_file import FileLost, RecorderEvent, WriteTarget
from storage.lessons import finish_lesson
from storage.records import LessonStatus, Sample
from storage.write_policy import (
    DISK_FULL,
    LessonEnd,
    RetryPolicy,
    SampleBuffer,
    WritesPaused,
    WritesResumed,
    first_line,
    lesson_ending,
    transient_reason,
)
from storage.writes import write_samples

log = logging.getLogger(__name__)

# Samples kept in memory while the database is away, counted in observations (a frame without
# faces counts as one): about 60 MB, or 28 minutes of a 30-student class at 2 Hz.
MAX_BUFFERED_OBSERVATIONS = 100_000
DEFAULT_RETRY = RetryPolicy()


class Recorder:
    """Collects samples without blocking the caller and writes them from one background thread.

    Each batch (at most `batch_max` samples) is one transaction. A batch is written when it is
    full, when `flush_interval_s` has passed, or when `flush()`/`close()` asks. A batch that fails
    for a transient reason (a lock held elsewhere, a lost connection; `is_transient`) is tried
    again with back-off (`retry`); meanwhile new samples wait in a buffer held to
    `max_buffered_observations` (beyond the batch being tried): past that the oldest are dropped,
    counted in `samples_dropped` and logged once per episode. (While writes succeed nothing is
    dropped, so a bulk caller may hand over a whole lesson at once.) Closing keeps trying for
    `retry.close_wait_s`. Any other write error (a constraint violation is a bug) is logged, kept
    in `.error`, and raised (as StorageError) by the next `add`, `flush` or `close`; the recorder
    then stops writing. Trying a batch again is safe: the write inserts or ignores on each row's
    key (`storage.writes`), so a batch whose COMMIT reached the database while the reply was lost
    (a dropped PostgreSQL connection) is not stored twice. What `flush()` returned for is committed
    or counted as dropped (WAL: the committed part survives the process being killed).

    On a SQLite file it writes through a connection of its own, checking before each batch that
    the file is still at its path (`storage.db_file`; else all goes to a recovery file, `file_lost`).
    `on_event` hears of pauses, resumptions and a lost file; `end_lesson` closes the recorder and
    records how the lesson ended, with its cause, through that connection.
    """

    def __init__(
        self,
        engine: Engine,
        lesson_id: int,
        *,
        batch_max: int = 1000,
        flush_interval_s: float = 1.0,
        max_buffered_observations: int = MAX_BUFFERED_OBSERVATIONS,
        retry: RetryPolicy = DEFAULT_RETRY,
        on_event: Callable[[RecorderEvent], None] | None = None,  # from the writer thread: be quick
    ) -> None:
        if batch_max < 1:
            raise ValueError(f"batch_max must be >= 1, got {batch_max}")
        if flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        self._engine = engine
        self._lesson_id = lesson_id
        self._batch_max = batch_max
        self._flush_interval_s = flush_interval_s
        self._retry = retry
        self._cond = threading.Condition()
        self._pending = SampleBuffer(max_buffered_observations)
        # Samples are numbered in the order added. The pending ones are numbers
        # [_pending_from, _added); the batch being written starts at _in_flight_from.
        self._added = 0
        self._pending_from = 0
        self._in_flight_from: int | None = None
        self._committed = 0
        self._dropped = 0
        self._episode_dropped = 0  # dropped since the buffer last had room to spare
        self._failed_attempts = 0
        self._retrying = False  # a batch failed and is being tried again: the buffer bound applies
        self._flush_target = 0
        self._stopping = False
        self._close_asked_s: float | None = None
        self._closed = False
        self._error: BaseException | None = None
        self._observations_written = 0
        self._waiting_reason: str | None = None  # why writes wait now (or waited when closing gave up)
        self._target = WriteTarget(engine, lesson_id, on_event)
        self._tell = self._target.tell
        self._thread = threading.Thread(
            target=self._run, name=f"classpulse-recorder-{lesson_id}", daemon=True
        )
        self._thread.start()

    @property
    def lesson_id(self) -> int:
        """The lesson these samples belong to."""
        return self._lesson_id

    @property
    def error(self) -> BaseException | None:
        """The write error that stopped the recorder, if any."""
        return self._error

    @property
    def observations_written(self) -> int:
        """How many observations have been committed so far."""
        return self._observations_written

    @property
    def samples_written(self) -> int:
        """How many samples have been committed so far."""
        return self._committed

    @property
    def samples_dropped(self) -> int:
        """How many added samples will never be stored (buffer full, gave up at close, or failed)."""
        return self._dropped

    @property
    def file_lost(self) -> FileLost | None:
        """The database file was removed or replaced during the lesson: where its data went."""
        return self._target.lost

    @property
    def failed_attempts(self) -> int:
        """How many write attempts failed for a transient reason and were tried again (or given up)."""
        return self._failed_attempts

    def add(self, sample: Sample) -> None:
        """Queue one sample for writing; returns at once."""
        self.add_many((sample,))

    def add_many(self, samples: Iterable[Sample]) -> None:
        """Queue several samples at once; returns at once."""
        with self._cond:
            self._raise_if_failed()
            if self._closed:
                raise StorageError("recorder is closed")
            for sample in samples:
                self._added += 1
                self._pending.push(sample)
            if self._retrying:
                self._drop_oldest()
            if len(self._pending) >= self._batch_max:
                self._cond.notify_all()

    def write_soon(self) -> None:
        """Ask the writer to commit what was added so far now, not at the next batch; returns at once.

        For the first samples of a lesson, which the Live page should show without waiting; unlike
        `flush`, a busy database never holds up the caller (the capture loop).
        """
        with self._cond:
            self._flush_target = max(self._flush_target, self._added)
            self._cond.notify_all()

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until everything added so far is committed (or dropped); raise StorageError on a
        write error."""
        with self._cond:
            target = self._added
            self._flush_target = max(self._flush_target, target)
            self._cond.notify_all()
            done = self._cond.wait_for(
                lambda: self._unsettled_from() >= target or self._error is not None,
                timeout=timeout_s,
            )
            self._raise_if_failed()
            if not done:
                raise StorageError(f"recorder flush did not finish within {timeout_s} s")

    def close(self) -> None:
        """Flush what is queued (retrying for at most retry.close_wait_s), stop the writer thread,
        let go of the database file, and raise if a write failed."""
        self._stop_writer()
        self._target.close()
        with self._cond:
            self._raise_if_failed()

    def end_lesson(
        self, status: LessonStatus | str, ended_at: datetime | None = None, cause: str | None = None
    ) -> LessonEnd:
        """Close (as `close`, never raising; call it instead of `close`) and record how the lesson
        ended; what was stored.

        `failed` with the storage's own cause when samples could not be stored ("disk full") or the
        file was lost ("database file removed"), whatever the caller asked; written through the
        recorder's connection (the recovery file's after a loss). `recorded` False: the database
        did not take it (one log line says so).
        """
        self._stop_writer()
        not_recorded = None
        try:
            database = self._target.bind()  # a last look at the file, and where the ending goes
        except StorageError as exc:  # a lost file whose recovery file cannot be written (logged)
            database, not_recorded = None, transient_reason(exc) or first_line(exc)
        lost = self.file_lost
        failure = None if self._error is None else self._waiting_reason or first_line(self._error)
        status, cause = lesson_ending(LessonStatus(status), cause, lost and lost.cause, failure)
        try:
            if database is not None:
                finish_lesson(database, self._lesson_id, status, ended_at, cause=cause)
        except (StorageError, SQLAlchemyError) as exc:
            not_recorded = transient_reason(exc) or first_line(exc)
            log.error("lesson %d: could not record that it ended (%s, %s): %s", self._lesson_id,
                      status.value, cause, first_line(exc))  # fmt: skip
        finally:
            self._target.close()
        error = self._error
        if error is not None and not isinstance(error, StorageError):
            error = StorageError(f"could not store its samples: {first_line(error)}")
        return LessonEnd(status, cause, error, not_recorded)

    def _stop_writer(self) -> None:
        """Ask the writer to write what is queued and stop, and wait for it (idempotent)."""
        with self._cond:
            if not self._closed:
                self._closed = True
                self._stopping = True
                self._close_asked_s = time.monotonic()
                self._flush_target = self._added
                self._cond.notify_all()
        self._thread.join()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except StorageError:
            log.exception("recorder for lesson %d failed while closing", self._lesson_id)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise StorageError(
                f"recording lesson {self._lesson_id} failed: {first_line(self._error)}"
            ) from self._error

    def _drop_oldest(self) -> None:
        """Hold the buffer to its bound, counting what it drops (under the lock)."""
        dropped = self._pending.trim()
        if dropped:
            self._pending_from += dropped
            self._dropped += dropped
            self._episode_dropped += dropped
            self._cond.notify_all()  # a flush waiting for the dropped samples is done

    def _unsettled_from(self) -> int:
        """The number of the oldest sample neither committed nor dropped (= added when none)."""
        return self._pending_from if self._in_flight_from is None else self._in_flight_from

    def _should_write(self) -> bool:
        return bool(self._pending) and (
            self._stopping
            or len(self._pending) >= self._batch_max
            or self._flush_target > self._pending_from
        )

    def _run(self) -> None:
        deadline = time.monotonic() + self._flush_interval_s
        while True:
            with self._cond:
                while not self._should_write() and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if not self._pending:
                    deadline = time.monotonic() + self._flush_interval_s
                    if self._stopping:
                        self._log_drop_episode()
                        return
                    continue
                self._in_flight_from = self._pending_from
                batch = self._pending.take(self._batch_max)
                self._pending_from += len(batch)
            written = self._write_with_retry(batch)
            if written is None:
                return
            with self._cond:
                self._committed += len(batch)
                self._in_flight_from = None
                self._retrying = False
                self._observations_written += written
                if self._pending.observations <= self._pending.max_observations // 2:
                    self._log_drop_episode()
                if not self._pending:
                    deadline = time.monotonic() + self._flush_interval_s
                self._cond.notify_all()

    def _write_with_retry(self, batch: list[Sample]) -> int | None:
        """Write one batch, retrying transient failures; the observation count, or None on failure."""
        attempt, first_failure_s, reason = 0, 0.0, None
        while True:
            try:
                written = write_samples(self._target.bind(), self._lesson_id, batch)
            except Exception as exc:  # surfaced to the caller through .error / flush / close
                reason = transient_reason(exc)
                if reason is None:
                    log.error("lesson %d: could not write a batch: %s", self._lesson_id,
                              first_line(exc), exc_info=not isinstance(exc, StorageError))  # fmt: skip
                    self._fail(exc, batch)
                    return None
                attempt += 1
                now = time.monotonic()
                if attempt == 1:
                    first_failure_s = now
                    self._paused(reason, exc, batch)
                if not self._pause_before_retry(attempt, now):
                    self._give_up(exc, batch)
                    return None
                continue
            if attempt:
                waited_s = time.monotonic() - first_failure_s
                log.warning("lesson %d: writing again after %d failed attempt(s) over %.0f s (%s)",
                            self._lesson_id, attempt, waited_s, reason)  # fmt: skip
                self._waiting_reason = None
                self._tell(WritesResumed(self._lesson_id, reason, attempt, round(waited_s, 1)))
            return written

    def _paused(self, reason: str, exc: BaseException, batch: list[Sample]) -> None:
        """The first failure of an episode: one log line (no traceback) and one event."""
        with self._cond:
            waiting = len(batch) + len(self._pending)
            self._waiting_reason = reason
        where = self._target.where
        log.warning("lesson %d: %s (%s); trying again, %d samples wait in memory (up to %d "
                    "observations)%s", self._lesson_id, reason, first_line(exc), waiting,
                    self._pending.max_observations,
                    f"; free space on {where}" if reason == DISK_FULL else "")  # fmt: skip
        self._tell(WritesPaused(self._lesson_id, reason, first_line(exc), waiting, where))

    def _pause_before_retry(self, attempt: int, now_s: float) -> bool:
        """Wait out the back-off after a transient failure; False when closing should give up."""
        with self._cond:
            self._failed_attempts += 1
            self._retrying = True
            self._drop_oldest()
            self._cond.notify_all()
            retry_at = self._retry.retry_at(attempt, now_s, self._close_asked_s)
            # add() notifies often; only the clock, or close being asked, ends the pause.
            while retry_at is not None and (remaining := retry_at - time.monotonic()) > 0:
                self._cond.wait(remaining)
                if self._close_asked_s is not None:
                    retry_at = self._retry.retry_at(attempt, now_s, self._close_asked_s)
            return retry_at is not None

    def _fail(self, exc: BaseException, batch: list[Sample]) -> None:
        """Stop the recorder with `exc`; the batch and everything pending will not be stored."""
        with self._cond:
            self._error = exc
            self._dropped += len(batch) + self._pending.clear()
            self._in_flight_from = None
            self._pending_from = self._added
            self._cond.notify_all()

    def _give_up(self, exc: BaseException, batch: list[Sample]) -> None:
        """Closing waited its longest for a database that stayed away: fail with what is lost."""
        with self._cond:
            unstored = len(batch) + len(self._pending)
            error = StorageError(
                f"could not store the last {unstored} samples within "
                f"{self._retry.close_wait_s:g} s of closing: {first_line(exc)}"
            )
            error.__cause__ = exc
            log.error("lesson %d: %s", self._lesson_id, error)
            self._fail(error, batch)
            self._log_drop_episode()

    def _log_drop_episode(self) -> None:
        """One warning for the samples dropped since the buffer last had room (under the lock)."""
        if self._episode_dropped:
            log.warning("lesson %d: %d samples could not be stored: the database was away longer "
                        "than the buffer of %d observations holds, so the oldest were dropped",
                        self._lesson_id, self._episode_dropped, self._pending.max_observations)  # fmt: skip
            self._episode_dropped = 0
