"""Lesson markers: stored with their lesson, read in time order, only by who may see the lesson."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.db import StorageError
from storage.lessons import LessonSpec, create_lesson, delete_lesson, finish_lesson
from storage.markers import add_marker, clean_label, delete_marker, lesson_markers
from storage.viewers import Viewer
from tests.storage.conftest import T0

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
