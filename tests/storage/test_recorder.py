"""Recorder: background batches land complete, flush acknowledges, write errors surface."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import StorageError
from storage.lessons import LessonSpec, create_lesson
from storage.recorder import Recorder
from storage.records import AttentionState, Observation, Sample
from storage.rollups import SUM_COLUMNS, rebuild_rollups
from storage.schema import ObservationRollup, ObservationRow, SampleRow
from tests.storage.conftest import T0, make_sample

A = AttentionState


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_flush_commits_everything_added_so_far(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    recorder = Recorder(engine, lesson_id, batch_max=7, flush_interval_s=60)
    for second in range(50):
        recorder.add(make_sample(second, {1: (A.ATTENTIVE, 80.0), 2: (A.LOOKING_AWAY, 30.0)}))
    recorder.flush()
    assert _count(engine, SampleRow) == 50
    assert _count(engine, ObservationRow) == 100
    assert recorder.observations_written == 100
    recorder.close()


def test_write_soon_commits_what_was_added_without_waiting_for_the_batch(engine):
    import time

    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    recorder = Recorder(engine, lesson_id, batch_max=1000, flush_interval_s=600)
    recorder.add(make_sample(0, {1: (A.ATTENTIVE, 80.0)}))
    recorder.write_soon()
    deadline = time.monotonic() + 60  # a bounded poll, not a speed check: without write_soon, 600 s
    while _count(engine, SampleRow) < 1:
        assert time.monotonic() < deadline, "write_soon did not lead to a commit"
        time.sleep(0.05)
    assert _count(engine, ObservationRow) == 1
    recorder.close()


def test_frames_without_faces_are_stored_as_samples(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    with Recorder(engine, lesson_id) as recorder:
        recorder.add(Sample(ts=T0, faces_detected=0, processing_ms=12.5))
    with engine.connect() as conn:
        row = conn.execute(
            select(SampleRow.faces_detected, SampleRow.processing_ms, SampleRow.ts)
        ).one()
    assert tuple(row) == (0, 12.5, T0)
    assert _count(engine, ObservationRow) == 0


def test_observation_values_round_trip_exactly(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    ts = T0 + timedelta(milliseconds=1500)
    obs = Observation(ts=ts, track_id=7, state=A.EYES_CLOSED, engagement=12.25, box=(1, 2, 3, 4),
                      probabilities=(0.1, 0.05, 0.05, 0.5, 0.1, 0.1, 0.1), expression="happy",
                      yaw_deg=-10.5, pitch_deg=3.25, roll_deg=0.5, eye_openness=0.08, gaze_offset=0.2)  # fmt: skip
    with Recorder(engine, lesson_id) as recorder:
        recorder.add(Sample(ts=ts, faces_detected=1, processing_ms=30.0, observations=(obs,)))
    with Session(engine) as session:
        row = session.scalars(select(ObservationRow)).one()
    assert (row.ts, row.track_id, row.state, row.engagement) == (ts, 7, "eyes_closed", 12.25)
    assert row.t_ms == int(ts.timestamp() * 1000)
    assert (row.box_x, row.box_y, row.box_w, row.box_h) == (1, 2, 3, 4)
    assert (row.p_angry, row.p_happy, row.p_neutral, row.expression) == (0.1, 0.5, 0.1, "happy")
    assert (row.yaw_deg, row.pitch_deg, row.roll_deg) == (-10.5, 3.25, 0.5)
    assert (row.eye_openness, row.gaze_offset) == (0.08, 0.2)
    assert row.ts.utcoffset() == timedelta(0)


def test_absent_and_attention_only_rows_store_nulls(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0, attention_only=True))
    with Recorder(engine, lesson_id) as recorder:
        recorder.add(make_sample(0, {1: (A.ABSENT, 0.0), 2: (A.ATTENTIVE, 90.0)}, expression=None))
    with Session(engine) as session:
        rows = session.scalars(select(ObservationRow).order_by(ObservationRow.track_id)).all()
    assert rows[0].state == "absent" and rows[0].box_x is None and rows[0].p_neutral is None
    assert rows[1].state == "attentive" and rows[1].p_neutral is None and rows[1].expression is None


def test_rollups_written_in_batches_equal_a_full_rebuild(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    # Batches of 3 samples at 0.5 s straddle the 10-second slots.
    with Recorder(engine, lesson_id, batch_max=3) as recorder:
        for i in range(90):
            state = A.ABSENT if i % 11 == 0 else A.ATTENTIVE
            recorder.add(
                make_sample(
                    i / 2,
                    {1: (state, 0.0 if state is A.ABSENT else i % 100), 2: (A.LOOKING_AWAY, 40.0)},
                )
            )

    def snapshot():
        with Session(engine) as session:
            stmt = select(ObservationRollup).order_by(
                ObservationRollup.slot_ms, ObservationRollup.track_id
            )
            return [
                tuple(round(getattr(r, c) or 0, 9) for c in SUM_COLUMNS)
                for r in session.scalars(stmt)
            ]

    incremental = snapshot()
    rebuild_rollups(engine, lesson_id)
    assert incremental == snapshot()
    assert sum(row[0] for row in incremental) == 180


def test_write_error_is_raised_by_flush_and_close(engine, caplog):
    recorder = Recorder(engine, 31337, flush_interval_s=0.05)  # no such lesson: foreign key fails
    recorder.add(make_sample(0, {1: (A.ATTENTIVE, 50.0)}))
    with pytest.raises(StorageError, match="recording lesson 31337 failed"):
        recorder.flush()
    assert recorder.error is not None
    with pytest.raises(StorageError, match="(?i)recording lesson 31337 failed: .*foreign key"):
        recorder.add(make_sample(1, {1: (A.ATTENTIVE, 50.0)}))
    with pytest.raises(StorageError, match="(?i)recording lesson 31337 failed: .*foreign key"):
        recorder.close()
    assert "could not write a batch" in caplog.text


def test_add_after_close_is_refused(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    recorder = Recorder(engine, lesson_id)
    recorder.close()
    recorder.close()
    with pytest.raises(StorageError, match="closed"):
        recorder.add(make_sample(0, {}))
