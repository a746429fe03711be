"""The recorder's policy for a busy database: which errors are retried, the back-off, the buffer bound."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import psycopg
import pytest
from psycopg import errors as pg
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from storage.records import AttentionState, LessonStatus, Observation, Sample
from storage.write_policy import (
    BUSY,
    DISK_FULL,
    LOCKED,
    UNREACHABLE,
    RetryPolicy,
    SampleBuffer,
    is_transient,
    lesson_ending,
    sample_weight,
    transient_reason,
)
from tests.storage.conftest import T0

# --- which errors are transient ------------------------------------------------------------------


def _sqlite_error(tmp_path, statement: str, *, lock: bool = False) -> DBAPIError:
    """The error SQLAlchemy raises for `statement` on a real SQLite file (optionally locked)."""
    path = tmp_path / "policy.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.executescript("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY, y TEXT NOT NULL)")
    setup.execute("INSERT OR IGNORE INTO t VALUES (1, 'one')")
    if lock:
        setup.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement)
    except DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
        setup.close()
    pytest.fail(f"{statement!r} did not fail")


def test_sqlite_database_is_locked_is_transient(tmp_path):
    exc = _sqlite_error(tmp_path, "INSERT INTO t VALUES (2, 'two')", lock=True)
    assert isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
    assert is_transient(exc)


@pytest.mark.parametrize(
    "statement",
    ["INSERT INTO t VALUES (1, 'again')", "INSERT INTO t VALUES (3, NULL)", "INSERT INTO nowhere VALUES (1)"],
    ids=["unique", "not-null", "no-such-table"],
)
def test_sqlite_constraint_violations_and_bad_statements_are_not_transient(tmp_path, statement):
    exc = _sqlite_error(tmp_path, statement)
    assert not is_transient(exc)


def _wrapped(orig: Exception, kind: type[DBAPIError] = OperationalError) -> DBAPIError:
    return kind("INSERT INTO samples ...", {}, orig)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_wrapped(pg.SerializationFailure("could not serialize access")), True),
        (_wrapped(pg.DeadlockDetected("deadlock detected")), True),
        (_wrapped(pg.LockNotAvailable("canceling statement due to lock timeout")), True),
        (_wrapped(pg.AdminShutdown("terminating connection due to administrator command")), True),
        (_wrapped(pg.CannotConnectNow("the database system is starting up")), True),
        (_wrapped(pg.TooManyConnections("sorry, too many clients already")), True),
        (_wrapped(pg.ConnectionFailure("connection failure")), True),
        (_wrapped(psycopg.OperationalError("server closed the connection unexpectedly")), True),
        (_wrapped(pg.UniqueViolation("duplicate key value"), IntegrityError), False),
        (_wrapped(pg.ForeignKeyViolation("violates foreign key constraint"), IntegrityError), False),
        (_wrapped(pg.CheckViolation("violates check constraint"), IntegrityError), False),
        (_wrapped(pg.UndefinedTable('relation "samples" does not exist'), ProgrammingError), False),
        (_wrapped(pg.DiskFull("could not extend file")), True),
        (ValueError("engagement must be within 0..100"), False),
    ],
    ids=lambda v: type(getattr(v, "orig", v)).__name__ if isinstance(v, Exception) else str(v),
)
def test_postgres_errors_are_transient_only_for_locks_serialization_the_connection_and_a_full_disk(error, transient):
    assert is_transient(error) is transient


def test_a_full_sqlite_database_is_a_transient_disk_full(tmp_path):
    path = tmp_path / "full.db"
    setup = sqlite3.connect(path)
    setup.execute("CREATE TABLE t (x TEXT)")
    setup.commit()
    setup.close()
    engine = create_engine(f"sqlite:///{path}")
    try:
        with pytest.raises(OperationalError) as info, engine.begin() as conn:
            # SQLite's own cap on the file's pages gives the very error a full disk gives
            conn.exec_driver_sql(f"PRAGMA max_page_count = {path.stat().st_size // 4096}")
            conn.exec_driver_sql("INSERT INTO t VALUES (?)", (("x" * 100_000),))
    finally:
        engine.dispose()
    assert str(info.value.orig) == "database or disk is full"
    assert transient_reason(info.value) == DISK_FULL and is_transient(info.value)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (_wrapped(pg.DiskFull("could not extend file")), DISK_FULL),  # SQLSTATE 53100
        (_wrapped(pg.OutOfMemory("out of memory")), None),  # 53200: not waited out
        (_wrapped(pg.InsufficientResources("insufficient resources")), None),  # 53000
        (_wrapped(pg.TooManyConnections("sorry, too many clients already")), BUSY),
        (_wrapped(pg.AdminShutdown("terminating connection")), UNREACHABLE),
        (_wrapped(pg.ConnectionFailure("connection failure")), UNREACHABLE),
        (_wrapped(sqlite3.OperationalError("database is locked")), LOCKED),
        (_wrapped(sqlite3.OperationalError("database or disk is full")), DISK_FULL),
    ],
    ids=["53100", "53200", "53000", "53300", "57P01", "08006", "sqlite-locked", "sqlite-full-text"],
)
def test_each_transient_error_has_its_reason_in_words(error, reason):
    assert transient_reason(error) == reason


def test_a_disconnect_sqlalchemy_recognised_is_transient():
    error = OperationalError("SELECT 1", {}, psycopg.errors.InternalError_("lost"),
                             connection_invalidated=True)  # fmt: skip
    assert is_transient(error)


# --- back-off ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "delay_s"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 15.0), (7, 15.0), (10_000, 15.0)],
)
def test_delay_doubles_from_half_a_second_up_to_fifteen(attempt, delay_s):
    assert RetryPolicy().next_delay(attempt) == delay_s


def test_attempts_count_from_one():
    with pytest.raises(ValueError, match="attempt counts from 1, got 0"):
        RetryPolicy().next_delay(0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first_delay_s": 0.0}, "need 0 < first_delay_s <= max_delay_s"),
        ({"first_delay_s": 20.0}, "need 0 < first_delay_s <= max_delay_s"),
        ({"factor": 0.5}, "factor must be >= 1"),
        ({"close_wait_s": -1.0}, "close_wait_s must be >= 0"),
    ],
)
def test_policy_refuses_settings_that_make_no_sense(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


def test_while_recording_attempts_go_on_for_as_long_as_the_database_is_away():
    policy, clock = RetryPolicy(), FakeClock()
    waits = []
    for attempt in range(1, 200):  # an hour and more of failures, each taking SQLite's 30 s busy wait
        clock.advance(30.0)
        retry_at = policy.retry_at(attempt, clock.now_s, close_asked_s=None)
        assert retry_at is not None
        waits.append(retry_at - clock.now_s)
        clock.now_s = retry_at
    assert waits[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0] and set(waits[6:]) == {15.0}


def test_closing_tries_again_only_while_the_next_attempt_starts_within_the_close_wait():
    policy, clock = RetryPolicy(close_wait_s=60.0), FakeClock()
    close_asked_s = clock.now_s
    attempts = []
    attempt = 0
    while True:
        clock.advance(30.0)  # each attempt waits out SQLite's busy timeout, then fails
        attempt += 1
        retry_at = policy.retry_at(attempt, clock.now_s, close_asked_s)
        if retry_at is None:
            break
        attempts.append(retry_at - close_asked_s)
        clock.now_s = retry_at
    assert attempts == [30.5]  # tried again at 30.5 s; the next would start at 61.5 s > 60 s
    assert clock.now_s - close_asked_s == 60.5  # the last attempt ended within one busy timeout


def test_a_close_wait_of_zero_gives_up_at_the_first_failure():
    assert RetryPolicy(close_wait_s=0.0).retry_at(1, 5.0, close_asked_s=5.0) is None


# --- the buffer bound ----------------------------------------------------------------------------


def sample(second: float, faces: int) -> Sample:
    ts = T0 + timedelta(seconds=second)
    obs = tuple(Observation(ts=ts, track_id=t, state=AttentionState.ATTENTIVE, engagement=50.0)
                for t in range(1, faces + 1))  # fmt: skip
    return Sample(ts=ts, faces_detected=faces, processing_ms=1.0, observations=obs)


@pytest.mark.parametrize(("faces", "weight"), [(0, 1), (1, 1), (3, 3), (50, 50)])
def test_a_sample_weighs_its_observations_and_an_empty_seat_counts_as_one(faces, weight):
    assert sample_weight(sample(0, faces)) == weight


def test_within_the_bound_trimming_drops_nothing():
    buffer = SampleBuffer(max_observations=10)
    for s in range(5):
        buffer.push(sample(s, 2))
    assert buffer.trim() == 0
    assert (len(buffer), buffer.observations) == (5, 10)


def test_pushing_never_drops_and_trimming_drops_the_oldest_past_the_bound():
    buffer = SampleBuffer(max_observations=10)
    for s in range(5):
        buffer.push(sample(s, 2))
    buffer.push(sample(5, 3))  # 13 observations: over the bound until trimmed
    assert (len(buffer), buffer.observations) == (6, 13)
    assert buffer.trim() == 2  # the two oldest (4 observations) go
    assert [x.ts.second for x in buffer] == [2, 3, 4, 5]
    assert buffer.observations == 9
    buffer.push(sample(6, 0))  # an empty seat weighs one: exactly at the bound
    assert buffer.trim() == 0 and buffer.observations == 10


def test_a_sample_heavier_than_the_whole_bound_is_kept_alone():
    buffer = SampleBuffer(max_observations=10)
    buffer.push(sample(0, 1))
    buffer.push(sample(1, 50))
    assert buffer.trim() == 1
    assert [x.ts.second for x in buffer] == [1] and buffer.observations == 50


def test_take_removes_the_oldest_and_clear_says_how_many_it_held():
    buffer = SampleBuffer(max_observations=100)
    for s in range(7):
        buffer.push(sample(s, 1 + s % 2))
    batch = buffer.take(3)
    assert [x.ts.second for x in batch] == [0, 1, 2]
    assert buffer.observations == 2 + 1 + 2 + 1
    assert buffer.take(10)[-1].ts.second == 6 and len(buffer) == 0 and buffer.observations == 0
    buffer.push(sample(9, 4))
    assert buffer.clear() == 1 and buffer.observations == 0


def test_a_buffer_needs_room_for_one_observation():
    with pytest.raises(ValueError, match="max_observations must be >= 1, got 0"):
        SampleBuffer(0)


# --- the status a lesson is stored with -----------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "lost", "failure", "stored"),
    [
        ((LessonStatus.FINISHED, None), None, None, (LessonStatus.FINISHED, None)),
        ((LessonStatus.SOURCE_LOST, None), None, None, (LessonStatus.SOURCE_LOST, None)),
        ((LessonStatus.FINISHED, None), None, "disk full", (LessonStatus.FAILED, "disk full")),
        ((LessonStatus.FAILED, "RuntimeError: boom"), None, None, (LessonStatus.FAILED, "RuntimeError: boom")),
        ((LessonStatus.FINISHED, None), "database file removed", "disk full",
         (LessonStatus.FAILED, "database file removed")),
    ],
    ids=["finished", "source-lost", "samples-lost", "engine-failed", "file-lost"],
)  # fmt: skip
def test_the_storages_own_cause_wins_over_the_status_asked(asked, lost, failure, stored):
    assert lesson_ending(*asked, lost, failure) == stored
