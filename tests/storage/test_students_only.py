"""Aggregates count live students only: still pictures (camera_off) and tracks marked "not a student"
are left out of concentration, shares, students seen and the per-student table; a still picture
has only its camera-off share there."""

from __future__ import annotations

import pandas as pd
import pytest

from storage import queries
from storage.exclusions import exclude_track, excluded_tracks, include_track
from storage.lessons import LessonSpec, create_lesson, finish_lesson
from storage.records import AttentionState
from storage.viewers import Viewer
from storage.writes import write_samples
from tests.storage.conftest import T0, make_sample

A = AttentionState
EVERYONE = Viewer.everyone()


@pytest.fixture
def lesson(engine) -> int:
    """Track 1 attentive at 80, track 2 a still picture, track 3 (the teacher's self-view) at 40."""
    lesson_id = create_lesson(engine, LessonSpec("Mixed call", "7A", T0, sample_rate_hz=1.0))
    states = {1: (A.ATTENTIVE, 80.0), 2: (A.CAMERA_OFF, 0.0), 3: (A.ATTENTIVE, 40.0)}
    write_samples(engine, lesson_id, [make_sample(s, states) for s in range(20)])
    finish_lesson(engine, lesson_id)
    return lesson_id


def _summary(engine, lesson_id: int):
    frame = queries.lessons_summary(engine, viewer=EVERYONE)
    return frame[frame["id"] == lesson_id].iloc[0]


def test_a_still_picture_is_left_out_of_the_class_figures(engine, lesson) -> None:
    row = _summary(engine, lesson)
    assert (row["students_seen"], row["students_camera_off"]) == (2, 1)
    assert row["mean_concentration"] == pytest.approx(60.0)
    assert row["share_attentive"] == pytest.approx(1.0)
    timeline = queries.lesson_timeline(engine, lesson, 10.0, viewer=EVERYONE)
    assert list(timeline["concentration"]) == pytest.approx([60.0, 60.0])
    assert list(timeline["students_camera_off"]) == [1, 1]
    students = queries.student_summary(engine, lesson, viewer=EVERYONE).set_index("track_id")
    photo = students.loc[2]
    assert photo["share_camera_off"] == pytest.approx(1.0)
    assert photo.drop("share_camera_off").isna().all()  # no time present, engagement, expression
    assert students.loc[1, "share_camera_off"] == pytest.approx(0.0)


@pytest.mark.parametrize(("live_samples", "still_samples", "counted"), [
    (3, 17, False),  # a photo the still-picture check caught after 3 s: camera off
    (10, 10, True),  # live for half the lesson: a student, with both shares
    (12, 8, True),
    (0, 20, False),
])  # fmt: skip
def test_a_track_counts_when_its_camera_was_live_for_at_least_half_its_samples(
    engine, live_samples, still_samples, counted
) -> None:
    lesson_id = create_lesson(engine, LessonSpec("Camera off", "7A", T0, sample_rate_hz=1.0))
    write_samples(engine, lesson_id, [
        make_sample(s, {1: (A.ATTENTIVE, 90.0),
                        2: (A.LOOKING_AWAY, 30.0) if s < live_samples else (A.CAMERA_OFF, 0.0)})
        for s in range(live_samples + still_samples)
    ])  # fmt: skip
    row = _summary(engine, lesson_id)
    assert (row["students_seen"], row["students_camera_off"]) == (1 + counted, 1 - counted)
    assert row["mean_concentration"] == pytest.approx((90.0 + 30.0) / 2 if counted else 90.0)
    photo = queries.student_summary(engine, lesson_id, viewer=EVERYONE).set_index("track_id").loc[2]
    assert photo["share_camera_off"] == pytest.approx(still_samples / (live_samples + still_samples))
    assert pd.isna(photo["share_looking_away"]) != counted


def test_a_track_marked_not_a_student_leaves_every_aggregate_of_the_lesson(engine, lesson) -> None:
    exclude_track(engine, lesson, 3, T0)
    exclude_track(engine, lesson, 3, T0)  # twice is fine
    assert excluded_tracks(engine, lesson) == [3]
    row = _summary(engine, lesson)
    assert row["students_seen"] == 1 and row["mean_concentration"] == pytest.approx(80.0)
    timeline = queries.lesson_timeline(engine, lesson, 10.0, viewer=EVERYONE)
    assert list(timeline["concentration"]) == pytest.approx([80.0, 80.0])
    assert 3 not in set(queries.student_summary(engine, lesson, viewer=EVERYONE)["track_id"])
    include_track(engine, lesson, 3)
    assert _summary(engine, lesson)["mean_concentration"] == pytest.approx(60.0)
