"""The recorder against a SQLite file whose write lock another process holds: a pause, not a lost lesson.

The lock is held by a real second process (tests/storage/lock_holder.py). The quick tests give the
recorder's connections a 100 ms busy timeout so each attempt fails fast; the slow one keeps the
real 30 s and holds the lock for 35 s.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select

from storage.db import StorageError, dispose_engines, open_database
from storage.lessons import LessonSpec, create_lesson
from storage.recorder import Recorder
from storage.records import AttentionState
from storage.write_policy import RetryPolicy
from tests.storage.conftest import T0, make_sample

ROOT = Path(__file__).resolve().parents[2]
A = AttentionState
WAIT_S = 120  # a safety net for a stuck process or thread, not a measure of speed
FAST = RetryPolicy(first_delay_s=0.01, max_delay_s=0.05, close_wait_s=60.0)


class LockHolder:
    """A second process holding the database's write lock until released (or for `hold_s`)."""

    def __init__(self, db: Path, hold_s: float | None = None) -> None:
        args = [] if hold_s is None else [str(hold_s)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.storage.lock_holder", str(db), *args],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline().strip()
        assert line == "locked", f"the lock holder did not take the lock: {line!r}"

    def release(self) -> None:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        self.wait_released()

    def wait_released(self) -> None:
        line = self.process.stdout.readline().strip()
        assert line == "released", f"the lock holder did not release: {line!r}"
        assert self.process.wait(timeout=WAIT_S) == 0


@pytest.fixture
def lock_holders() -> Iterator[Callable[..., LockHolder]]:
    started: list[LockHolder] = []

    def start(db: Path, hold_s: float | None = None) -> LockHolder:
        started.append(LockHolder(db, hold_s))
        return started[-1]

    yield start
    for holder in started:
        if holder.process.poll() is None:
            holder.process.kill()
        holder.process.wait(timeout=WAIT_S)


def open_with_busy_timeout(url: str, busy_timeout_ms: int | None) -> Engine:
    """The opened database; with `busy_timeout_ms`, its new connections give up on a lock that soon."""
    engine = open_database(url)
    if busy_timeout_ms is not None:

        @event.listens_for(engine, "connect")
        def _short_busy_timeout(dbapi_connection, _record) -> None:  # after storage's own pragmas
            dbapi_connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")

        engine.dispose()  # connections made so far keep the long timeout
    return engine


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[tuple[Path, str]]:
    db = tmp_path / "contended.db"
    yield db, f"sqlite:///{db}"
    dispose_engines()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` (bounded); fail with `what` if it never holds."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.01)


def stored_seconds(engine: Engine) -> list[float]:
    from storage.schema import SampleRow

    with engine.connect() as conn:
        stamps = conn.execute(select(SampleRow.ts).order_by(SampleRow.ts)).scalars().all()
    return [(ts - T0).total_seconds() for ts in stamps]


def observation_count(engine: Engine) -> int:
    from storage.schema import ObservationRow

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(ObservationRow)).scalar_one()


def two_students(second: float):
    return make_sample(second, {1: (A.ATTENTIVE, 80.0), 2: (A.LOOKING_AWAY, 20.0)})


def test_a_held_write_lock_pauses_the_recorder_and_every_sample_lands(sqlite_db, lock_holders, caplog):
    db, url = sqlite_db
    engine = open_with_busy_timeout(url, 100)
    lesson_id = create_lesson(engine, LessonSpec("locked", "g", T0))
    holder = lock_holders(db)
    caplog.set_level(logging.WARNING, logger="storage.recorder")
    recorder = Recorder(engine, lesson_id, batch_max=10, flush_interval_s=0.05, retry=FAST)
    recorder.add(two_students(0))
    wait_until(lambda: recorder.failed_attempts >= 3, "the recorder's writes to fail on the lock")
    for second in range(1, 40):  # the lesson goes on while the lock is held
        recorder.add(two_students(second))
    assert stored_seconds(engine) == []
    holder.release()
    recorder.close()
    assert stored_seconds(engine) == [float(s) for s in range(40)]
    assert observation_count(engine) == 80
    assert (recorder.samples_written, recorder.samples_dropped) == (40, 0)
    retries = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) == 1 and "database is locked" in retries[0]  # one line per episode
    assert any("writing again after" in r.getMessage() for r in caplog.records)


def test_past_the_buffer_bound_the_oldest_samples_are_dropped_counted_and_logged_once(
    sqlite_db, lock_holders, caplog
):
    db, url = sqlite_db
    engine = open_with_busy_timeout(url, 100)
    lesson_id = create_lesson(engine, LessonSpec("locked", "g", T0))
    holder = lock_holders(db)
    caplog.set_level(logging.WARNING, logger="storage.recorder")
    recorder = Recorder(engine, lesson_id, flush_interval_s=0.05, max_buffered_observations=10, retry=FAST)
    recorder.add(two_students(0))  # the batch being tried: kept whatever comes after
    wait_until(lambda: recorder.failed_attempts >= 1, "the first write to fail on the lock")
    for second in range(1, 21):
        recorder.add(two_students(second))  # 2 observations each: the buffer keeps the newest 5
    assert recorder.samples_dropped == 15
    holder.release()
    recorder.close()
    assert stored_seconds(engine) == [0.0, 16.0, 17.0, 18.0, 19.0, 20.0]
    assert (recorder.samples_written, recorder.samples_dropped) == (6, 15)
    drops = [r for r in caplog.records if "could not be stored" in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in drops] == [
        ("WARNING", f"lesson {lesson_id}: 15 samples could not be stored: the database was away "
                    "longer than the buffer of 10 observations holds, so the oldest were dropped")
    ]  # fmt: skip


def test_while_writes_succeed_a_bulk_hand_over_past_the_bound_loses_nothing(sqlite_db):
    _db, url = sqlite_db
    engine = open_database(url)
    lesson_id = create_lesson(engine, LessonSpec("seeded", "g", T0))
    with Recorder(engine, lesson_id, batch_max=7, max_buffered_observations=10) as recorder:
        recorder.add_many(two_students(second) for second in range(50))  # 100 observations at once
    assert stored_seconds(engine) == [float(s) for s in range(50)]
    assert (recorder.samples_written, recorder.samples_dropped, recorder.failed_attempts) == (50, 0, 0)


def test_flush_returns_once_everything_added_is_stored_or_dropped(sqlite_db, lock_holders):
    db, url = sqlite_db
    engine = open_with_busy_timeout(url, 100)
    lesson_id = create_lesson(engine, LessonSpec("locked", "g", T0))
    holder = lock_holders(db)
    recorder = Recorder(engine, lesson_id, flush_interval_s=0.05, max_buffered_observations=4, retry=FAST)
    recorder.add(two_students(0))
    wait_until(lambda: recorder.failed_attempts >= 1, "the first write to fail on the lock")
    for second in range(1, 8):
        recorder.add(two_students(second))
    holder.release()
    recorder.flush()
    assert stored_seconds(engine) == [0.0, 6.0, 7.0]
    recorder.add(two_students(8))  # the recorder goes on normally afterwards
    recorder.close()
    assert stored_seconds(engine) == [0.0, 6.0, 7.0, 8.0]
    assert (recorder.samples_written, recorder.samples_dropped) == (4, 5)


def test_closing_gives_up_after_its_wait_and_says_how_many_samples_were_lost(sqlite_db, lock_holders):
    db, url = sqlite_db
    engine = open_with_busy_timeout(url, 100)
    lesson_id = create_lesson(engine, LessonSpec("locked", "g", T0))
    lock_holders(db)  # never released during the test
    recorder = Recorder(engine, lesson_id, flush_interval_s=60,
                        retry=RetryPolicy(first_delay_s=0.05, max_delay_s=0.05, close_wait_s=0.5))  # fmt: skip
    for second in range(3):
        recorder.add(two_students(second))
    with pytest.raises(StorageError, match=(
        rf"^recording lesson {lesson_id} failed: could not store the last 3 samples within 0.5 s "
        r"of closing: database is locked$"
    )):  # fmt: skip
        recorder.close()
    assert recorder.failed_attempts >= 2  # it did try again before giving up
    assert (recorder.samples_written, recorder.samples_dropped) == (0, 3)


def test_a_constraint_violation_is_not_retried(sqlite_db):
    _db, url = sqlite_db
    engine = open_database(url)
    recorder = Recorder(engine, 404, flush_interval_s=0.05, retry=FAST)  # no such lesson
    recorder.add(two_students(0))
    with pytest.raises(StorageError, match="(?i)recording lesson 404 failed: .*foreign key"):
        recorder.flush()
    assert recorder.failed_attempts == 0
    assert recorder.samples_dropped == 1


@pytest.mark.slow
def test_a_write_lock_held_35_s_by_another_process_costs_a_pause_not_the_samples(sqlite_db, lock_holders):
    """SQLite's real 30 s busy timeout runs out once while the lock is held, and closing waits."""
    db, url = sqlite_db
    engine = open_database(url)
    lesson_id = create_lesson(engine, LessonSpec("locked", "g", T0))
    recorder = Recorder(engine, lesson_id, batch_max=5, flush_interval_s=0.05)
    for second in range(5):
        recorder.add(two_students(second))
    recorder.flush()
    holder = lock_holders(db, hold_s=35)
    for second in range(5, 60):
        recorder.add(two_students(second))
    wait_until(lambda: recorder.failed_attempts >= 1, "a write to outlast the 30 s busy timeout")
    recorder.close()  # still locked for a few seconds: the final flush retries
    holder.wait_released()
    assert stored_seconds(engine) == [float(s) for s in range(60)]
    assert (recorder.samples_written, recorder.samples_dropped) == (60, 0)


@pytest.mark.postgres
def test_on_postgres_a_lock_timeout_is_retried_until_the_table_is_free(pg_schema_url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(pg_schema_url)
    options = url.query["options"]
    engine = open_database(url.update_query_dict({"options": f"{options} -clock_timeout=100"})
                           .render_as_string(hide_password=False))  # fmt: skip
    lesson_id = create_lesson(engine, LessonSpec("locked", "g", T0))
    other = create_engine(pg_schema_url)  # another session of the server
    try:
        with other.connect() as conn:
            conn.execute(text("LOCK TABLE samples IN EXCLUSIVE MODE"))  # until this transaction ends
            recorder = Recorder(engine, lesson_id, flush_interval_s=0.05, retry=FAST)
            recorder.add(two_students(0))
            wait_until(lambda: recorder.failed_attempts >= 2, "the recorder's writes to time out on the lock")
            recorder.add(two_students(1))
            conn.rollback()
        recorder.close()
    finally:
        other.dispose()
    assert stored_seconds(engine) == [0.0, 1.0]
    assert (recorder.samples_written, recorder.samples_dropped) == (2, 0)
