"""Group commit of joined students' batches: one thread per server writes every batch that waits,
many students' in one transaction, and answers each request after the COMMIT.

A request hands its checked batch over (`GroupWriter.submit`) and awaits the answer; the thread
takes what has queued (up to `max_group` batches, one per student: a student's second batch waits
for the next group, so it sees the first one stored), reads every student's standing in the
transaction (removed? lesson ended? newest stored sample), checks each batch's times against it,
spends its rate budget, derives the records and stores the group. A batch refused there is
answered with its refusal and the others go on; a group whose write fails is answered with that
error, each batch (and its rate budget) as if never sent: the pages send them again. Nothing is
answered before the COMMIT, so a 200 means stored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from dashboard.join.ingest import AttentionBook, Derived, Ingested, derive
from dashboard.join.limits import RateLimiter, sample_budget
from dashboard.join.payload import (
    MAX_SAMPLES_PER_BATCH,
    OFFLINE_BUFFER_S,
    JoinSample,
    Refusal,
    check_times,
)
from storage.db import write_transaction
from storage.join import StudentAtLesson
from storage.join_writes import Standing, record_batches, standings
from storage.schema import to_epoch_ms

log = logging.getLogger(__name__)

MAX_GROUP = 256  # batches in one transaction at most (a few thousand rows)


@dataclass(slots=True)
class Job:
    """One student's parsed batch and the answer its request waits for."""

    found: StudentAtLesson  # who sent it (their lesson's settings too), as the token named them
    samples: list[JoinSample]
    budget_key: str  # the rate budget's key (the token's hash)
    answer: Future[Ingested] = field(default_factory=Future)


class GroupWriter:
    """The server's writer thread for join batches, started at the first batch."""

    def __init__(self, engine: Callable[[], Engine], book: AttentionBook, budgets: RateLimiter,
                 clock: Callable[[], datetime], monotonic: Callable[[], float],
                 max_group: int = MAX_GROUP) -> None:  # fmt: skip
        self._engine, self._book, self._budgets = engine, book, budgets
        self._clock, self._monotonic, self._max_group = clock, monotonic, max_group
        self._queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.groups = 0  # transactions written (for tests and logs)
        self.largest = 0  # the most batches one of them held

    def submit(self, job: Job) -> Future[Ingested]:
        """Queue a batch; its future gets the outcome, or the Refusal or error it came to."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="join-writer", daemon=True)
                self._thread.start()
        self._queue.put(job)
        return job.answer

    def _run(self) -> None:
        waiting: list[Job] = []
        while True:
            group, waiting = self._take(waiting)
            if not group:
                continue
            try:
                self.write(group)
            except Exception as exc:  # answered as the database's failure; the thread goes on
                for job in group:
                    if not job.answer.done():
                        job.answer.set_exception(exc)

    def _take(self, waiting: list[Job]) -> tuple[list[Job], list[Job]]:
        """The next group (at most one batch per student) and the batches left for the one after."""
        pending = waiting or [self._queue.get()]
        while len(pending) < 4 * self._max_group:
            try:
                pending.append(self._queue.get_nowait())
            except queue.Empty:
                break
        group, later, students = [], [], set()
        for job in pending:
            if job.found.student_id in students or len(group) >= self._max_group:
                later.append(job)
            elif job.answer.set_running_or_notify_cancel():  # else its request is gone: dropped
                students.add(job.found.student_id)
                group.append(job)
        return group, later

    def write(self, group: list[Job]) -> None:
        """Write one group in one transaction and answer each of its batches after the COMMIT."""
        now = self._clock()
        accepted: list[tuple[Job, Derived]] = []
        refused: list[tuple[Job, Refusal]] = []
        spent: list[tuple[str, float, float, int]] = []
        try:
            with write_transaction(self._engine()) as conn:
                standing = standings(conn, [job.found.student_id for job in group])
                for job in group:
                    try:
                        last = self._admit(job, standing.get(job.found.student_id), now, spent)
                        accepted.append((job, derive(conn, self._book, job.found, job.samples, last)))
                    except Refusal as refusal:
                        refused.append((job, refusal))
                stored = record_batches(conn, [derived.batch for _, derived in accepted], now)
        except BaseException:
            for key, capacity, refill, n in spent:  # as if never sent: the page sends it again
                self._budgets.give_back(key, self._monotonic(), n, capacity, refill)
            raise
        self.groups += 1
        self.largest = max(self.largest, len(group))
        for job, derived in accepted:
            derived.keep(self._book)
            new = stored.get(job.found.student_id, 0)
            job.answer.set_result(Ingested(new, len(job.samples) - new))
        for job, refusal in refused:
            job.answer.set_exception(refusal)

    def _admit(self, job: Job, standing: Standing | None, now: datetime,
               spent: list[tuple[str, float, float, int]]) -> int | None:  # fmt: skip
        """Refuse the batch of a student removed, of a lesson ended, off the clock or over its
        rate budget; else spend the budget and return the student's newest stored sample time."""
        lesson = job.found.lesson
        if standing is None:
            raise Refusal(401, "this token is not one of this lesson's; join again")
        if not standing.lesson_open:
            raise Refusal(410, "this lesson has ended")
        if standing.removed:
            raise Refusal(403, "the teacher removed you from this lesson")
        check_times(job.samples, now_ms=to_epoch_ms(now), rate_hz=lesson.sample_rate_hz,
                    joined_ms=to_epoch_ms(job.found.student.joined_at),
                    last_t_ms=standing.last_t_ms)  # fmt: skip
        capacity, refill = sample_budget(lesson.sample_rate_hz, OFFLINE_BUFFER_S, MAX_SAMPLES_PER_BATCH)
        wait = self._budgets.take(job.budget_key, self._monotonic(), len(job.samples), capacity, refill)
        if wait:
            raise Refusal(429, "more samples than this lesson's rate needs; slow down", wait)
        spent.append((job.budget_key, capacity, refill, len(job.samples)))
        return standing.last_t_ms
