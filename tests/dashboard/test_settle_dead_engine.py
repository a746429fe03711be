"""A dead engine's lesson settled with the cause its last events give (dashboard.control), on a real
SQLite file, with real processes: one that has exited, one still running."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import select

from dashboard import control
from dashboard.engine_handle import save_handle
from engine import processes
from engine.protocol import EventWriter, Failed, Finished, Started, StorageResumed, StorageWaiting
from storage.db import dispose_engines, open_database
from storage.lessons import LessonSpec, create_lesson, engine_owner, mark_dead_engines_interrupted
from storage.schema import Lesson
from tests.storage.conftest import T0


@pytest.fixture
def database(tmp_path):
    yield open_database(f"sqlite:///{tmp_path / 'classpulse.db'}")
    dispose_engines()


@pytest.fixture
def exited():
    """A process that has come and gone: its pid and start time."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    ref = processes.process_ref(process.pid)
    process.wait()
    return process.pid, ref.started_s


def _engine_that_said(tmp_path, database, pid_started, *said) -> int:
    """A lesson owned by that process, and the dashboard's handle on it with its events file."""
    pid, started_s = pid_started
    lesson_id = create_lesson(database, LessonSpec("Maths", "7B", T0,
                                                   settings={"engine": engine_owner(pid, started_s)}))  # fmt: skip
    events = EventWriter(tmp_path / "engine.events.jsonl")
    for event in said:
        events.emit(event)
    save_handle(tmp_path, control.EngineHandle(pid, str(tmp_path / "engine.log"), "2026-12-07T09:00:00+00:00",
                                               control.LessonLaunch("Maths", "7B", "demo"),
                                               started_s=started_s, events_path=str(events.path)))  # fmt: skip
    return lesson_id


def _ending(database, lesson_id: int) -> tuple:
    with database.connect() as conn:
        return tuple(conn.execute(select(Lesson.status, Lesson.ended_cause).where(Lesson.id == lesson_id)).one())


def test_an_engine_killed_while_the_disk_was_full_leaves_a_lesson_that_reads_failed_disk_full(tmp_path, database, exited):
    lesson_id = _engine_that_said(tmp_path, database, exited, Started(1, "Maths", "demo"),
                                  StorageWaiting(1, "disk full", 12, "/srv/classpulse"))  # fmt: skip
    assert control.settle_dead_engine(tmp_path, database) == lesson_id
    assert _ending(database, lesson_id) == ("failed", "disk full")
    assert mark_dead_engines_interrupted(database, processes.is_alive) == []  # nothing left to guess


def test_the_cause_of_a_failed_event_replaces_stopped_unexpectedly(tmp_path, database, exited):
    lesson_id = _engine_that_said(tmp_path, database, exited, Started(1, "Maths", "demo"),
                                  Failed("lesson 1 failed: could not store ...", 1, "disk full"))  # fmt: skip
    assert mark_dead_engines_interrupted(database, processes.is_alive) == [lesson_id]  # the page load's
    assert control.settle_dead_engine(tmp_path, database) == lesson_id
    assert _ending(database, lesson_id) == ("failed", "disk full")


@pytest.mark.parametrize(
    "said",
    [
        (Started(1, "Maths", "demo"), Finished(1, "finished", 40, "stopped")),
        (Started(1, "Maths", "demo"), StorageWaiting(1, "disk full", 3, "/srv"), StorageResumed(1, "disk full", 8.0)),
        (Started(1, "Maths", "demo"),
         Failed("the database file ... was removed", 1, "database file removed", "/srv/x.db.recovered-1.db")),
        (Started(1, "Physics", "demo"), Failed("lesson 1 failed: ...", 1, "disk full")),  # another lesson 1
    ],
    ids=["closed-by-its-engine", "resumed-then-killed", "in-a-recovery-file", "another-title"],
)
def test_nothing_is_settled_when_the_events_give_no_cause_for_this_lesson(tmp_path, database, exited, said):
    lesson_id = _engine_that_said(tmp_path, database, exited, *said)
    assert control.settle_dead_engine(tmp_path, database) is None
    assert _ending(database, lesson_id) == ("running", None)


def test_a_running_engine_is_left_to_say_it_itself(tmp_path, database):
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ref = processes.process_ref(running.pid)
        lesson_id = _engine_that_said(tmp_path, database, (running.pid, ref.started_s), Started(1, "Maths", "demo"),
                                      StorageWaiting(1, "disk full", 12, "/srv"))  # fmt: skip
        assert control.settle_dead_engine(tmp_path, database) is None
        assert _ending(database, lesson_id) == ("running", None)
    finally:
        running.kill()
        running.wait()


def test_every_page_load_settles_the_cause_through_the_loaders(tmp_path, database, exited):
    from dashboard import loaders

    lesson_id = _engine_that_said(tmp_path, database, exited, Started(1, "Maths", "demo"),
                                  StorageWaiting(1, "disk full", 12, "/srv/classpulse"))  # fmt: skip
    assert loaders.settle_dead_engines(str(database.url), tmp_path) == [lesson_id]
    assert _ending(database, lesson_id) == ("failed", "disk full")


@pytest.mark.parametrize(
    ("status", "cause", "words"),
    [
        ("failed", "disk full", "ended early: disk full"),
        ("failed", "database file removed", "ended early: database file removed"),
        ("failed", None, "ended early: the engine failed (see its log)"),
        ("interrupted", None, "interrupted: the engine stopped unexpectedly"),
        ("finished", None, "finished"),
        ("running", "disk full", "recording"),
    ],
)
def test_a_stored_cause_is_the_status_a_teacher_reads(status, cause, words):
    from dashboard.live_metrics import finished_notice
    from dashboard.report import status_words

    assert status_words(status, cause) == words
    if status != "running":
        assert finished_notice("Maths", status, cause).text == f"Lesson “Maths” {words}."


@pytest.mark.parametrize(
    ("said", "notice"),
    [
        ((Started(1, "Maths", "demo"), StorageWaiting(1, "disk full", 44, "/srv/classpulse")),
         "disk full: 44 samples waiting — free space on /srv/classpulse"),
        ((Started(1, "Maths", "demo"), StorageWaiting(1, "disk full", 44, "/srv"), StorageResumed(1, "disk full", 9.0)),
         None),
        ((Started(1, "Maths", "demo"),), None),
    ],
)
def test_the_live_card_says_while_the_disk_is_full(tmp_path, said, notice):
    from dashboard.live_metrics import storage_notice

    handle = control.EngineHandle(1, str(tmp_path / "engine.log"), "2026-12-07T09:00:00+00:00",
                                  control.LessonLaunch("Maths", "7B", "demo"))
    shown = storage_notice(control.EngineStatus(handle, True, 1, None, tuple(said)))
    assert (None if shown is None else shown.text) == notice


def test_an_engine_that_failed_says_what_happened_and_where_the_samples_are(tmp_path):
    from dashboard.live_metrics import engine_ended_notice

    line = ("the database file /srv/x.db was removed during lesson 1; its 35 samples are kept in "
            "/srv/x.db.recovered-20261207T162619Z.db (open it with --db sqlite:////srv/x.db.recovered-20261207T162619Z.db)")
    said = (Started(1, "Maths", "demo"), Failed(line, 1, "database file removed", "/srv/x.db.recovered-20261207T162619Z.db"))
    handle = control.EngineHandle(1, str(tmp_path / "engine.log"), "2026-12-07T09:00:00+00:00",
                                  control.LessonLaunch("Maths", "7B", "demo"))
    notice = engine_ended_notice(control.EngineStatus(handle, False, 1, said[1].text, said))
    assert notice.level == "error" and line in notice.text


def test_a_stop_waits_for_samples_still_waiting_to_be_written(tmp_path):
    """Stop, while the engine's writes wait (a full disk), gives its recorder its whole close wait
    before terminating it: those samples are still to be saved."""
    events = EventWriter(tmp_path / "engine.events.jsonl")
    handle = control.EngineHandle(1, str(tmp_path / "engine.log"), "2026-12-07T09:00:00+00:00",
                                  control.LessonLaunch("Maths", "7B", "demo"), events_path=str(events.path))
    events.emit(Started(1, "Maths", "demo"))
    assert control.stop_grace_s(handle) == processes.STOP_GRACE_S
    events.emit(StorageWaiting(1, "disk full", 44, "/srv"))
    assert control.stop_grace_s(handle) >= control.SAVING_GRACE_S > 60
    events.emit(StorageResumed(1, "disk full", 12.0))
    assert control.stop_grace_s(handle) == processes.STOP_GRACE_S
