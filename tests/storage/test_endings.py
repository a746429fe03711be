"""How a lesson ended and why: the cause stored with it, by its engine or from its engine's last words."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.endings import record_cause
from storage.lessons import (
    CAUSE_MAX,
    LessonSpec,
    create_lesson,
    engine_owner,
    finish_lesson,
    mark_dead_engines_interrupted,
)
from storage.queries import find_lesson
from storage.records import AttentionState, LessonStatus
from storage.schema import Lesson
from storage.viewers import Viewer
from storage.writes import write_samples
from tests.storage.conftest import T0, make_sample

LIVE_PID, DEAD_PID = 4242, 4343


def _is_alive(pid: int, started_s: float | None) -> bool:
    return pid == LIVE_PID


def _lesson(engine, pid: int | None = DEAD_PID) -> int:
    settings = {} if pid is None else {"engine": engine_owner(pid, None)}
    return create_lesson(engine, LessonSpec("Maths", "7B", T0, settings=settings))


def _ending(engine, lesson_id: int) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(select(Lesson.status, Lesson.ended_cause, Lesson.ended_at)
                                  .where(Lesson.id == lesson_id)).one())  # fmt: skip


def test_an_engine_stores_the_cause_with_the_status_and_the_dashboard_reads_it(engine):
    lesson_id = _lesson(engine)
    finish_lesson(engine, lesson_id, LessonStatus.FAILED, T0 + timedelta(seconds=9), cause="disk full")
    assert _ending(engine, lesson_id) == ("failed", "disk full", T0 + timedelta(seconds=9))
    found = find_lesson(engine, lesson_id, viewer=Viewer.everyone())
    assert (found["status"], found["ended_cause"]) == ("failed", "disk full")


def test_a_cause_is_stored_as_one_line_bounded_and_masked(engine):
    lesson_id = _lesson(engine)
    long = "could not reach postgresql://teacher:s3cret@db.school.lan/x\n  " + "x" * 2000
    finish_lesson(engine, lesson_id, LessonStatus.FAILED, cause=long)
    stored = _ending(engine, lesson_id)[1]
    assert "\n" not in stored and "s3cret" not in stored and len(stored) == CAUSE_MAX
    finish_lesson(engine, lesson_id, LessonStatus.FINISHED, cause="  ")
    assert _ending(engine, lesson_id)[1] is None


def test_the_cause_settles_a_dead_engines_running_lesson_at_its_last_sample(engine):
    lesson_id = _lesson(engine)
    write_samples(engine, lesson_id, [make_sample(s, {1: (AttentionState.ATTENTIVE, 70.0)}) for s in (0, 6)])
    assert record_cause(engine, lesson_id, "disk full", is_alive=_is_alive)
    assert _ending(engine, lesson_id) == ("failed", "disk full", T0 + timedelta(seconds=6))
    assert not record_cause(engine, lesson_id, "something else", is_alive=_is_alive)  # settled once
    assert _ending(engine, lesson_id)[1] == "disk full"


def test_the_cause_replaces_stopped_unexpectedly_but_never_an_ending_its_engine_gave(engine):
    interrupted, finished, explained = _lesson(engine), _lesson(engine), _lesson(engine)
    assert mark_dead_engines_interrupted(engine, _is_alive) == [interrupted, finished, explained]
    finish_lesson(engine, finished, LessonStatus.FINISHED)
    finish_lesson(engine, explained, LessonStatus.INTERRUPTED, cause="killed by the teacher")
    assert [record_cause(engine, i, "disk full") for i in (interrupted, finished, explained)] == [
        True, False, False]  # fmt: skip
    assert _ending(engine, interrupted)[:2] == ("failed", "disk full")
    assert _ending(engine, finished)[:2] == ("finished", None)
    assert _ending(engine, explained)[:2] == ("interrupted", "killed by the teacher")


def test_a_lesson_whose_engine_still_runs_is_left_to_that_engine(engine):
    live = _lesson(engine, LIVE_PID)
    assert not record_cause(engine, live, "disk full", is_alive=_is_alive)
    assert _ending(engine, live)[:2] == ("running", None)
    assert record_cause(engine, live, "disk full")  # no one to ask: the caller saw its last words


def test_a_lesson_of_another_title_is_not_the_one_the_events_speak_of(engine):
    lesson_id = _lesson(engine)
    assert not record_cause(engine, lesson_id, "disk full", title="Physics")
    assert _ending(engine, lesson_id)[:2] == ("running", None)
    assert record_cause(engine, lesson_id, "disk full", title="Maths")


def test_an_unknown_lesson_or_a_running_status_is_refused(engine):
    assert not record_cause(engine, 999, "disk full")
    with pytest.raises(ValueError, match="a lesson ends as one of"):
        record_cause(engine, _lesson(engine), "disk full", status="running")
