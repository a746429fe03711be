"""Lesson markers: stored with their lesson, read in time order, only by who may see the lesson."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from storage.db import StorageError
from storage.lessons import LessonSpec, create_lesson, delete_lesson, finish_lesson
from storage.markers import (
    CONTEXT_COLUMNS,
    add_marker,
    clean_label,
    delete_marker,
    lesson_markers,
    marker_context,
)
from storage.records import AttentionState
from storage.viewers import Viewer
from storage.writes import write_samples
from tests.storage.conftest import T0, make_sample

EVERYONE = Viewer.everyone()


@pytest.fixture
def lesson(engine) -> int:
    spec = LessonSpec("Fractions", "7A", T0, sample_rate_hz=1.0, owner="ana")
    return create_lesson(engine, spec)


def test_markers_come_back_in_time_order_with_their_labels(engine, lesson) -> None:
    add_marker(engine, lesson, T0 + timedelta(minutes=9), "break", viewer=EVERYONE, created_at=T0)
    add_marker(engine, lesson, T0 + timedelta(minutes=2), "  quiz\n", viewer=EVERYONE,
               created_at=T0)
    add_marker(engine, lesson, T0 + timedelta(minutes=5), None, viewer=EVERYONE, created_at=T0)
    frame = lesson_markers(engine, lesson, viewer=EVERYONE)
    assert list(frame["label"]) == ["quiz", "", "break"]
    assert [ts.to_pydatetime() for ts in frame["ts"]] == [
        T0 + timedelta(minutes=m) for m in (2, 5, 9)
    ]


def test_a_teacher_marks_only_their_own_lessons(engine, lesson) -> None:
    with pytest.raises(StorageError, match=f"no lesson with id {lesson}"):
        add_marker(engine, lesson, T0, "quiz", viewer=Viewer.teacher("bo"), created_at=T0)
    add_marker(engine, lesson, T0, "quiz", viewer=Viewer.teacher("Ana"), created_at=T0)
    assert lesson_markers(engine, lesson, viewer=Viewer.teacher("bo")).empty
    assert len(lesson_markers(engine, lesson, viewer=Viewer.teacher("ana"))) == 1


def test_a_marker_can_be_taken_back(engine, lesson) -> None:
    marker = add_marker(engine, lesson, T0, "quiz", viewer=EVERYONE, created_at=T0)
    assert not delete_marker(engine, lesson, marker, viewer=Viewer.teacher("bo"))
    assert delete_marker(engine, lesson, marker, viewer=EVERYONE)
    assert lesson_markers(engine, lesson, viewer=EVERYONE).empty


def test_markers_go_with_their_lesson(engine, lesson) -> None:
    add_marker(engine, lesson, T0, "quiz", viewer=EVERYONE, created_at=T0)
    finish_lesson(engine, lesson)
    assert delete_lesson(engine, lesson)
    assert lesson_markers(engine, lesson, viewer=EVERYONE).empty


def test_a_label_longer_than_the_column_is_refused_in_words() -> None:
    assert clean_label("group   work") == "group work"
    with pytest.raises(ValueError, match="at most 100 characters, got 101"):
        clean_label("x" * 101)


def test_each_marker_lists_the_class_concentration_before_and_after_it(engine) -> None:
    lesson_id = create_lesson(engine, LessonSpec("Quiz day", "7A", T0, sample_rate_hz=1.0))
    # 10 minutes at 1 Hz: two students at 80 for 6 minutes, then at 30 (the quiz starts at 6:00)
    samples = []
    for s in range(600):
        level = 80.0 if s < 360 else 30.0
        samples.append(make_sample(s, {1: (AttentionState.ATTENTIVE, level),
                                       2: (AttentionState.ATTENTIVE, level)}))
    write_samples(engine, lesson_id, samples)
    add_marker(engine, lesson_id, T0, "start", viewer=EVERYONE, created_at=T0)
    add_marker(engine, lesson_id, T0 + timedelta(minutes=6), "quiz", viewer=EVERYONE,
               created_at=T0)
    frame = marker_context(engine, lesson_id, viewer=EVERYONE, window_s=120.0)
    start, quiz = frame.itertuples(index=False)
    assert math.isnan(start.concentration_before) and start.concentration_after == pytest.approx(80.0)
    assert quiz.concentration_before == pytest.approx(80.0)
    assert quiz.concentration_after == pytest.approx(30.0)
    assert (start.before_s, start.after_s, start.into_s) == (0.0, 120.0, 0.0)
    assert (quiz.before_s, quiz.after_s, quiz.into_s) == (120.0, 120.0, 360.0)
    assert list(frame.columns) == list(CONTEXT_COLUMNS)


@pytest.mark.parametrize(("at_s", "before_s", "after_s"), [
    (0, 0.0, 170.0),  # at the start: nothing before, the lesson's 2:50 after (its last sample)
    (60, 60.0, 110.0),
    (170, 170.0, 0.0),  # on the last sample
    (175, 170.0, 0.0),  # marked after the last stored sample
])  # fmt: skip
def test_a_markers_window_is_cut_at_the_lesson_and_says_what_it_covered(engine, at_s, before_s, after_s):
    lesson_id = create_lesson(engine, LessonSpec("Short", "7A", T0, sample_rate_hz=1.0))
    write_samples(engine, lesson_id, [
        make_sample(s, {1: (AttentionState.ATTENTIVE, float(s % 50))}) for s in range(171)])
    add_marker(engine, lesson_id, T0 + timedelta(seconds=at_s), "", viewer=EVERYONE, created_at=T0)
    (row,) = marker_context(engine, lesson_id, viewer=EVERYONE).itertuples(index=False)
    assert (row.before_s, row.after_s, row.into_s) == (before_s, after_s, float(at_s))
    values = {s: float(s % 50) for s in range(171)}
    before = [v for s, v in values.items() if s < at_s]
    after = [v for s, v in values.items() if s >= at_s]
    assert _same(row.concentration_before, sum(before) / len(before) if before else math.nan)
    assert _same(row.concentration_after, sum(after) / len(after) if after else math.nan)


def _same(got: float, want: float) -> bool:
    return math.isnan(got) if math.isnan(want) else got == pytest.approx(want)
