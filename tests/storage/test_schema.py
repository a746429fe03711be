"""Schema rules: aware-UTC timestamps, refused naive ones, cascading deletes, constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, StatementError

from storage.db import write_transaction
from storage.lessons import LessonSpec, create_lesson, delete_lesson, finish_lesson, get_lesson
from storage.records import AttentionState
from storage.schema import (
    Lesson,
    ObservationRollup,
    ObservationRow,
    SampleRow,
    from_epoch_ms,
    to_epoch_ms,
)
from storage.writes import write_samples
from tests.storage.conftest import T0, make_sample

A = AttentionState


def test_naive_datetime_is_refused_by_the_column(engine):
    with pytest.raises(StatementError, match="naive datetime"), write_transaction(engine) as conn:
        conn.execute(
            insert(Lesson).values(
                title="t",
                group_name="g",
                started_at=datetime(2025, 1, 1),
                status="running",
                source="",
                sample_rate_hz=2.0,
                attention_only=False,
                settings={},
            )  # fmt: skip
        )


def test_naive_started_at_is_refused_by_lesson_spec():
    with pytest.raises(ValueError, match="timezone-aware"):
        LessonSpec(title="t", group_name="g", started_at=datetime(2025, 1, 1))


def test_timestamps_come_back_aware_utc_from_any_offset(engine):
    paris = timezone(timedelta(hours=1))
    lesson_id = create_lesson(
        engine, LessonSpec("t", "g", datetime(2025, 1, 1, 10, 30, tzinfo=paris))
    )
    started = get_lesson(engine, lesson_id)["started_at"]
    assert started == datetime(2025, 1, 1, 9, 30, tzinfo=UTC)
    assert started.utcoffset() == timedelta(0)


def test_epoch_ms_round_trips_to_the_millisecond():
    ts = datetime(2025, 3, 3, 9, 0, 0, 500000, tzinfo=UTC)
    assert to_epoch_ms(ts) == 1740992400500
    assert from_epoch_ms(to_epoch_ms(ts)) == ts


def test_deleting_a_lesson_deletes_its_samples_observations_and_rollups(engine):
    keep = create_lesson(engine, LessonSpec("keep", "g", T0))
    gone = create_lesson(engine, LessonSpec("gone", "g", T0))
    for lesson_id in (keep, gone):
        write_samples(
            engine, lesson_id, [make_sample(s, {1: (A.ATTENTIVE, 80.0)}) for s in range(3)]
        )
    finish_lesson(engine, gone)  # a lesson still recording is refused (tests/storage/test_lessons.py)
    assert delete_lesson(engine, gone) is True
    assert delete_lesson(engine, gone) is False
    with engine.connect() as conn:
        for table in (SampleRow, ObservationRow, ObservationRollup):
            counts = dict(
                conn.execute(select(table.lesson_id, func.count()).group_by(table.lesson_id)).all()
            )
            assert gone not in counts and counts[keep] > 0


def test_observation_for_a_missing_lesson_violates_the_foreign_key(engine):
    with pytest.raises(IntegrityError, match="(?i)foreign key"):
        write_samples(engine, 424242, [make_sample(0, {1: (A.ATTENTIVE, 50.0)})])


def test_unknown_attention_state_violates_the_check_constraint(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    with (
        pytest.raises(IntegrityError, match="ck_observations_state|CHECK constraint failed: state"),
        write_transaction(engine) as conn,
    ):
        conn.execute(
            insert(ObservationRow).values(
                lesson_id=lesson_id,
                ts=T0,
                t_ms=to_epoch_ms(T0),
                track_id=1,
                state="asleep",
                engagement=10.0,
            )  # fmt: skip
        )
