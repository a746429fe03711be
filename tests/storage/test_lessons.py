"""Lesson lifecycle: create, finish, interrupted after a crash, running list, purge and retention."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.db import StorageError
from storage.lessons import (
    LessonRunningError,
    LessonSpec,
    apply_retention,
    create_lesson,
    delete_lesson,
    engine_owner,
    finish_lesson,
    get_lesson,
    mark_dead_engines_interrupted,
    mark_stale_running_interrupted,
    owner_alive,
    purge_older_than,
    retention_days_from_env,
    running_lessons,
)
from storage.records import AttentionState, LessonStatus
from storage.writes import write_samples
from tests.storage.conftest import T0, make_sample

A = AttentionState


def _spec(title: str = "Maths", started_at=T0, settings=None, **kw) -> LessonSpec:
    return LessonSpec(title=title, group_name="7B", started_at=started_at, source="webcam 0",
                      sample_rate_hz=2.0, model_name="minixception",
                      settings=settings or {"window_s": 3}, **kw)  # fmt: skip


def test_created_lesson_is_running_with_its_fields(engine):
    lesson_id = create_lesson(engine, _spec(attention_only=True))
    lesson = get_lesson(engine, lesson_id)
    assert lesson["status"] == "running" and lesson["ended_at"] is None
    assert (lesson["title"], lesson["group_name"], lesson["source"]) == ("Maths", "7B", "webcam 0")
    assert lesson["sample_rate_hz"] == 2.0 and lesson["model_name"] == "minixception"
    assert lesson["attention_only"] is True and lesson["settings"] == {"window_s": 3}
    assert lesson["started_at"] == T0


def test_get_lesson_returns_none_for_unknown_id(engine):
    assert get_lesson(engine, 999) is None


def test_finish_lesson_records_status_and_end(engine):
    lesson_id = create_lesson(engine, _spec())
    finish_lesson(engine, lesson_id, ended_at=T0 + timedelta(minutes=45))
    lesson = get_lesson(engine, lesson_id)
    assert lesson["status"] == "finished" and lesson["ended_at"] == T0 + timedelta(minutes=45)


@pytest.mark.parametrize("status", ["finished", "source_lost", "failed", "interrupted"])
def test_a_lesson_ends_with_how_it_ended(engine, status):
    lesson_id = create_lesson(engine, _spec())
    finish_lesson(engine, lesson_id, LessonStatus(status), ended_at=T0 + timedelta(minutes=5))
    assert get_lesson(engine, lesson_id)["status"] == status


@pytest.mark.parametrize("status", ["running", "stopped"])
def test_a_lesson_cannot_end_as_running_or_an_unknown_status(engine, status):
    lesson_id = create_lesson(engine, _spec())
    with pytest.raises(ValueError, match=f"a lesson ends as one of .*'source_lost'.*not '{status}'"):
        finish_lesson(engine, lesson_id, status)
    assert get_lesson(engine, lesson_id)["status"] == "running"


def test_finish_unknown_lesson_raises_storage_error(engine):
    with pytest.raises(StorageError, match="no lesson with id 77"):
        finish_lesson(engine, 77)


def test_stale_running_lessons_become_interrupted_at_their_last_sample(engine):
    crashed = create_lesson(engine, _spec("crashed"))
    write_samples(engine, crashed, [make_sample(s, {1: (A.ATTENTIVE, 70.0)}) for s in (0, 5, 12)])
    empty = create_lesson(engine, _spec("empty"))
    done = create_lesson(engine, _spec("done"))
    finish_lesson(engine, done, ended_at=T0 + timedelta(hours=1))
    assert sorted(mark_stale_running_interrupted(engine)) == sorted([crashed, empty])
    assert get_lesson(engine, crashed)["status"] == "interrupted"
    assert get_lesson(engine, crashed)["ended_at"] == T0 + timedelta(seconds=12)
    assert get_lesson(engine, empty)["ended_at"] == T0
    assert get_lesson(engine, done)["status"] == "finished"
    assert running_lessons(engine).empty


def test_a_lesson_whose_engine_still_runs_is_left_running(engine):
    now = T0 + timedelta(minutes=1)
    live = create_lesson(engine, _spec("live", settings=_owned_by(LIVE_PID, STARTED_S)))
    crashed = create_lesson(engine, _spec("crashed", settings=_owned_by(DEAD_PID, STARTED_S)))
    elsewhere = create_lesson(engine, _spec("other host", settings={"engine": {"host": "elsewhere", "pid": 1}}))
    assert mark_stale_running_interrupted(engine, is_alive=_is_alive, now=now) == [crashed]
    assert get_lesson(engine, live)["status"] == "running"
    assert get_lesson(engine, elsewhere)["status"] == "running"  # recent: its engine may be alive
    later = T0 + timedelta(hours=1)
    assert mark_stale_running_interrupted(engine, is_alive=_is_alive, now=later) == [elsewhere]  # quiet
    assert get_lesson(engine, live)["status"] == "running"


def test_without_a_way_to_ask_this_hosts_engines_count_as_unknown(engine):
    crashed = create_lesson(engine, _spec("crashed", settings=_owned_by(DEAD_PID, STARTED_S)))
    assert mark_stale_running_interrupted(engine, now=T0 + timedelta(minutes=1)) == []  # not quiet yet
    assert mark_stale_running_interrupted(engine, now=T0 + timedelta(hours=1)) == [crashed]


def test_running_lessons_lists_only_running_newest_first(engine):
    older = create_lesson(engine, _spec("older"))
    newer = create_lesson(engine, _spec("newer", started_at=T0 + timedelta(hours=1)))
    finished = create_lesson(engine, _spec("finished"))
    finish_lesson(engine, finished)
    frame = running_lessons(engine)
    assert list(frame["id"]) == [newer, older]
    assert str(frame["started_at"].dt.tz) == "UTC"


def test_purge_deletes_finished_lessons_older_than_the_period(engine):
    now = T0 + timedelta(days=100)
    old = create_lesson(engine, _spec("old"))
    finish_lesson(engine, old, ended_at=T0 + timedelta(hours=1))
    old_running = create_lesson(engine, _spec("old but running"))
    recent = create_lesson(engine, _spec("recent", started_at=now - timedelta(days=5)))
    finish_lesson(engine, recent, ended_at=now)
    assert purge_older_than(engine, 30, now) == 1
    assert get_lesson(engine, old) is None
    assert get_lesson(engine, old_running) is not None and get_lesson(engine, recent) is not None


def test_retention_keeps_everything_by_default_and_purges_when_set(engine):
    old = create_lesson(engine, _spec("old"))
    finish_lesson(engine, old, ended_at=T0)
    now = T0 + timedelta(days=400)
    assert retention_days_from_env({}) is None
    assert apply_retention(engine, retention_days_from_env({}), now) == 0
    assert get_lesson(engine, old) is not None
    days = retention_days_from_env({"CLASSPULSE_RETENTION_DAYS": "365"})
    assert days == 365.0
    assert apply_retention(engine, days, now) == 1
    assert get_lesson(engine, old) is None


@pytest.mark.parametrize("raw", ["soon", "-3"])
def test_retention_setting_that_is_not_a_positive_number_is_refused(raw):
    with pytest.raises(StorageError, match="CLASSPULSE_RETENTION_DAYS"):
        retention_days_from_env({"CLASSPULSE_RETENTION_DAYS": raw})


# --- a dead engine's lesson, seen from the dashboard ---------------------------------------------
# Storage records who runs a lesson and asks its caller whether that process still runs
# (engine.processes.is_alive, tested against real processes in tests/engine/test_processes.py).

LIVE_PID, DEAD_PID, STARTED_S = 4242, 4343, 1_700_000_000.5


def _is_alive(pid: int, started_s: float | None) -> bool:
    """A host where only LIVE_PID runs, started at STARTED_S (or of a start time not recorded)."""
    return pid == LIVE_PID and started_s in (STARTED_S, None)


def _owned_by(pid: int, started_s: float | None) -> dict:
    return {"engine": engine_owner(pid, started_s)}


def test_the_engine_owner_records_host_pid_and_start_time():
    import os
    import socket

    assert engine_owner(7, 12.5) == {"host": socket.gethostname(), "pid": 7, "started_s": 12.5}
    assert engine_owner()["pid"] == os.getpid()


@pytest.mark.parametrize(
    ("settings", "alive"),
    [
        (_owned_by(LIVE_PID, STARTED_S), True),
        (_owned_by(LIVE_PID, STARTED_S - 1), False),  # the pid now names another process
        (_owned_by(DEAD_PID, STARTED_S), False),
        ({"engine": {**engine_owner(LIVE_PID), "start_ticks": 99}}, True),  # recorded before start times
        ({"engine": {"host": "elsewhere", "pid": LIVE_PID}}, None),
        ({"engine": {**engine_owner(0)}}, None),
        ({"engine": {**engine_owner(), "pid": "x"}}, None),
        ({}, None),
    ],
)
def test_whether_an_owner_is_alive_is_the_callers_answer_for_this_host_only(settings, alive):
    assert owner_alive(settings, _is_alive) is alive
    assert owner_alive(settings, None) is None  # no one to ask


def test_lessons_of_dead_engines_become_interrupted_at_their_last_sample(engine):
    live = create_lesson(engine, _spec("live", settings=_owned_by(LIVE_PID, STARTED_S)))
    killed = create_lesson(engine, _spec("killed", settings=_owned_by(DEAD_PID, None)))
    write_samples(engine, killed, [make_sample(s, {1: (A.ATTENTIVE, 70.0)}) for s in (0, 4)])
    reused = create_lesson(engine, _spec("reused", settings=_owned_by(LIVE_PID, STARTED_S - 1)))
    elsewhere = create_lesson(engine, _spec("other host", settings={"engine": {"host": "elsewhere", "pid": 1}}))
    unowned = create_lesson(engine, _spec("no owner"))
    assert mark_dead_engines_interrupted(engine, _is_alive) == [killed, reused]
    statuses = {i: get_lesson(engine, i)["status"] for i in (live, elsewhere, unowned)}
    assert statuses == {live: "running", elsewhere: "running", unowned: "running"}
    assert get_lesson(engine, killed)["ended_at"] == T0 + timedelta(seconds=4)
    assert get_lesson(engine, reused)["ended_at"] == T0  # no sample: its start
    assert mark_dead_engines_interrupted(engine, _is_alive) == []  # nothing left to do: no write


def test_the_check_of_running_lessons_is_bounded(engine):
    first, second = (create_lesson(engine, _spec(t, settings=_owned_by(DEAD_PID, None))) for t in "ab")
    assert mark_dead_engines_interrupted(engine, _is_alive, limit=1) == [first]
    assert mark_dead_engines_interrupted(engine, _is_alive, limit=1) == [second]


def test_a_lesson_still_recording_cannot_be_deleted(engine):
    recording = create_lesson(engine, _spec("recording", settings=_owned_by(LIVE_PID, STARTED_S)))
    with pytest.raises(LessonRunningError, match=f"^lesson {recording} is still recording; stop it first$"):
        delete_lesson(engine, recording, is_alive=_is_alive)
    assert get_lesson(engine, recording)["status"] == "running"


def test_a_lesson_whose_engine_died_is_marked_interrupted_and_can_be_deleted(engine):
    killed = create_lesson(engine, _spec("killed", settings=_owned_by(DEAD_PID, None)))
    finished = create_lesson(engine, _spec("finished"))
    finish_lesson(engine, finished)
    with pytest.raises(LessonRunningError):  # with no one to ask, it reads as recording
        delete_lesson(engine, killed)
    assert delete_lesson(engine, killed, is_alive=_is_alive) and delete_lesson(engine, finished)
    assert get_lesson(engine, killed) is None and get_lesson(engine, finished) is None
    assert delete_lesson(engine, killed) is False


def test_purge_and_retention_cover_interrupted_lessons_and_those_of_killed_engines(engine):
    now = T0 + timedelta(days=100)
    interrupted = create_lesson(engine, _spec("interrupted"))
    finish_lesson(engine, interrupted, LessonStatus.INTERRUPTED, ended_at=T0 + timedelta(hours=1))
    killed = create_lesson(engine, _spec("killed", settings=_owned_by(DEAD_PID, None)))
    recording = create_lesson(engine, _spec("recording", settings=_owned_by(LIVE_PID, STARTED_S)))
    assert purge_older_than(engine, 30, now, is_alive=_is_alive) == 2
    assert get_lesson(engine, interrupted) is None and get_lesson(engine, killed) is None
    assert get_lesson(engine, recording)["status"] == "running"
    other_killed = create_lesson(engine, _spec("killed too", settings=_owned_by(DEAD_PID, None)))
    assert apply_retention(engine, 30, now, is_alive=_is_alive) == 1
    assert get_lesson(engine, other_killed) is None
