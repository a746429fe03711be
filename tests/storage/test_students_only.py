"""Aggregates count live students only: still pictures (camera_off) and tracks marked "not a student"
are left out of concentration, shares, students seen and the per-student table."""

from __future__ import annotations

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
    assert row["students_seen"] == 2
    assert row["mean_concentration"] == pytest.approx(60.0)
    assert row["share_attentive"] == pytest.approx(1.0)
    timeline = queries.lesson_timeline(engine, lesson, 10.0, viewer=EVERYONE)
    assert list(timeline["concentration"]) == pytest.approx([60.0, 60.0])
    students = queries.student_summary(engine, lesson, viewer=EVERYONE).set_index("track_id")
    assert students.loc[2, "time_present_s"] == 0.0
    assert students.loc[2, "share_camera_off"] == pytest.approx(1.0)
    assert students.loc[1, "share_camera_off"] == pytest.approx(0.0)


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
