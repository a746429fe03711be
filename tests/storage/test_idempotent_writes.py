"""No sample stored twice: the engine's retry after a lost COMMIT, a resent batch, and the
migration that removes copies stored before the keys existed (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError

from storage.db import downgrade_database, upgrade_database, write_transaction
from storage.lessons import LessonSpec, create_lesson
from storage.recorder import Recorder
from storage.records import AttentionState, Observation, Sample
from storage.rollups import SUM_COLUMNS, rebuild_rollups
from storage.schema import ObservationRollup, ObservationRow, SampleRow
from storage.synthetic import seed_lesson
from storage.write_policy import RetryPolicy
from storage.writes import Stored, insert_samples, write_samples
from tests.storage.conftest import T0, make_sample

A = AttentionState


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _rollups(engine, lesson_id: int) -> list[tuple]:
    """A lesson's rollup rows, sums rounded (PostgreSQL may add in another order)."""
    columns = [getattr(ObservationRollup, name) for name in SUM_COLUMNS]
    with engine.connect() as conn:
        return [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in conn.execute(
            select(ObservationRollup.slot_ms, ObservationRollup.track_id, *columns)
            .where(ObservationRollup.lesson_id == lesson_id)
            .order_by(ObservationRollup.slot_ms, ObservationRollup.track_id)
        )]  # fmt: skip


def _batch(first_s: int, n: int) -> list[Sample]:
    return [make_sample(first_s + s * 0.5, {1: (A.ATTENTIVE, 80.0), 2: (A.LOOKING_AWAY, 30.0)})
            for s in range(n)]  # fmt: skip


def test_writing_the_same_batch_again_stores_nothing_twice(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    batch = _batch(0, 30)
    assert write_samples(engine, lesson_id, batch) == 60
    once = _rollups(engine, lesson_id)
    assert write_samples(engine, lesson_id, batch) == 60  # the engine's retry: same rows
    assert (_count(engine, SampleRow), _count(engine, ObservationRow)) == (30, 60)
    assert _rollups(engine, lesson_id) == once


def test_a_partly_stored_batch_adds_only_its_new_rows_and_says_how_many(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    with write_transaction(engine) as conn:
        assert insert_samples(conn, lesson_id, _batch(0, 10)) == Stored(10, 20)
    with write_transaction(engine) as conn:  # overlaps the first by 4 samples
        assert insert_samples(conn, lesson_id, _batch(3, 10)) == Stored(6, 12)
    assert (_count(engine, SampleRow), _count(engine, ObservationRow)) == (16, 32)
    before = _rollups(engine, lesson_id)
    rebuild_rollups(engine, lesson_id)
    assert _rollups(engine, lesson_id) == before


def test_two_streams_of_one_lesson_may_share_an_instant(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    samples = [
        Sample(
            ts=T0,
            faces_detected=1,
            processing_ms=0.0,
            stream=track,
            observations=(Observation(ts=T0, track_id=track, state=A.ATTENTIVE, engagement=90.0),),
        )
        for track in (1, 2)
    ]
    write_samples(engine, lesson_id, samples)
    write_samples(engine, lesson_id, samples)
    with engine.connect() as conn:
        streams = conn.execute(select(SampleRow.stream).order_by(SampleRow.stream)).scalars().all()
    assert streams == [1, 2]
    assert _count(engine, ObservationRow) == 2


def _lost_reply(dialect: str) -> OperationalError:
    """The error a client sees when the server committed but the connection dropped before the reply."""
    if dialect == "sqlite":
        return OperationalError(
            "COMMIT", {}, sqlite3.OperationalError("disk I/O error: database is locked")
        )
    import psycopg

    return OperationalError(
        "COMMIT",
        {},
        psycopg.OperationalError(
            "consuming input failed: server closed the connection unexpectedly"
        ),
    )


def test_the_recorders_retry_after_a_commit_whose_reply_was_lost_stores_one_copy(engine):
    """Modelled with a `commit` event that commits on the driver's connection, then raises the
    error a dropped connection gives: the server has the rows, the client thinks it failed."""
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    lost = []

    def commit_then_lose_the_reply(conn) -> None:
        if not lost:
            lost.append(True)
            conn.connection.dbapi_connection.commit()
            raise _lost_reply(engine.dialect.name)

    event.listen(engine, "commit", commit_then_lose_the_reply)
    try:
        recorder = Recorder(engine, lesson_id, batch_max=1000, flush_interval_s=60,
                            retry=RetryPolicy(first_delay_s=0.05, max_delay_s=0.05))  # fmt: skip
        recorder.add_many(_batch(0, 40))
        recorder.flush(timeout_s=60)
        recorder.close()
    finally:
        event.remove(engine, "commit", commit_then_lose_the_reply)
    assert lost and recorder.failed_attempts == 1
    assert (recorder.samples_written, recorder.samples_dropped) == (40, 0)
    assert (_count(engine, SampleRow), _count(engine, ObservationRow)) == (40, 80)
    before = _rollups(engine, lesson_id)
    rebuild_rollups(engine, lesson_id)
    assert _rollups(engine, lesson_id) == before


@pytest.mark.parametrize("same_student", [False, True])
def test_writers_of_one_lesson_at_once_keep_its_rollups_exact(engine, same_student):
    """Students posting at the same moment, or one student's batches taken by two servers at once."""
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        track = 1 if same_student else k
        try:
            start.wait()
            for second in range(0, 20, 2):
                ts = [T0 + timedelta(seconds=second + s, milliseconds=100 * k) for s in (0, 1)]
                write_samples(engine, lesson_id, [Sample(ts=t, faces_detected=1, processing_ms=0.0,
                    stream=track, observations=(Observation(ts=t, track_id=track,
                    state=A.ATTENTIVE, engagement=float(k)),)) for t in ts])  # fmt: skip
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    concurrent = _rollups(engine, lesson_id)
    rebuild_rollups(engine, lesson_id)
    assert concurrent == _rollups(engine, lesson_id)
    assert sum(row[2] for row in concurrent) == 6 * 20  # n over every slot and student


def _copy_rows_as_before_the_keys(engine, lesson_id: int) -> None:
    """At revision 0006: store a lesson's samples and observations a second time, as the engine's
    retry after a lost COMMIT did, with the rollups counting the copies."""
    obs_columns = [c.name for c in ObservationRow.__table__.columns if c.name != "id"]
    sample_columns = ["lesson_id", "ts", "t_ms", "faces_detected", "processing_ms"]
    with write_transaction(engine) as conn:
        for table, columns in (("samples", sample_columns), ("observations", obs_columns)):
            names = ", ".join(columns)
            conn.execute(text(f"INSERT INTO {table} ({names}) SELECT {names} FROM {table} "
                              "WHERE lesson_id = :id"), {"id": lesson_id})  # fmt: skip
    rebuild_rollups(engine, lesson_id)


def test_the_migration_deletes_rows_stored_twice_and_recomputes_their_rollups(engine):
    doubled = seed_lesson(engine, students=3, hours=0.01, seed=1, title="doubled")
    clean = seed_lesson(engine, students=2, hours=0.01, seed=2, title="clean")
    counts = (_count(engine, SampleRow), _count(engine, ObservationRow))
    rollups = {lesson: _rollups(engine, lesson) for lesson in (doubled, clean)}
    downgrade_database(engine, "0006")
    _copy_rows_as_before_the_keys(engine, doubled)
    assert _rollups(engine, doubled) != rollups[doubled]
    upgrade_database(engine)
    assert (_count(engine, SampleRow), _count(engine, ObservationRow)) == counts
    assert {lesson: _rollups(engine, lesson) for lesson in (doubled, clean)} == rollups
    with engine.connect() as conn:
        kept = conn.execute(select(func.min(SampleRow.id), func.max(SampleRow.id))
                            .where(SampleRow.lesson_id == doubled)).one()  # fmt: skip
        assert kept[1] - kept[0] + 1 == counts[0] - _samples_of(conn, clean)  # the first copies


def _samples_of(conn, lesson_id: int) -> int:
    return conn.execute(select(func.count()).select_from(SampleRow)
                        .where(SampleRow.lesson_id == lesson_id)).scalar_one()  # fmt: skip


def test_a_sample_of_a_negative_stream_is_refused():
    with pytest.raises(ValueError, match="stream must be >= 0"):
        Sample(ts=T0, faces_detected=0, processing_ms=0.0, stream=-1)
