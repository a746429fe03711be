"""A full disk under a recording lesson: a pause, not a crash, on a real 4 MB tmpfs (needs root).

The recorder writes a real SQLite file on a small file system that a test file then fills to the
last byte: the writes wait (one event, one log line, no traceback), the samples wait in memory, and
once the file is deleted every sample is written. A lesson closed while the disk is still full ends
`failed` with its cause, "disk full", stored as soon as the database can take it.
"""

from __future__ import annotations

import logging
import sqlite3
import time

import pytest

from storage.db import dispose_engines, open_database
from storage.endings import record_cause
from storage.lessons import LessonSpec, create_lesson
from storage.recorder import Recorder
from storage.records import AttentionState, LessonStatus
from storage.write_policy import DISK_FULL, RetryPolicy, WritesPaused, WritesResumed
from tests.kit.faults import fill, small_filesystem
from tests.storage.conftest import T0, make_sample

pytestmark = pytest.mark.root
QUICK = RetryPolicy(first_delay_s=0.1, max_delay_s=0.5, close_wait_s=2.0)
WAIT_S = 120  # a safety net, not a measure of speed


def _sample(i: int):
    return make_sample(i * 0.5, {t: (AttentionState.ATTENTIVE, 50.0 + t) for t in range(1, 21)})


def _add_until_paused(recorder: Recorder, events: list, start: int) -> int:
    """Add samples, a batch at a time, until the recorder says its writes wait; the next number."""
    deadline = time.monotonic() + WAIT_S
    i = start
    while not any(isinstance(e, WritesPaused) for e in events):
        assert time.monotonic() < deadline, "the writes never paused on the full disk"
        recorder.add_many(_sample(n) for n in range(i, i + 20))
        recorder.write_soon()
        i += 20
        time.sleep(0.05)
    return i


def _stored(path) -> tuple[int, str, str | None]:
    conn = sqlite3.connect(path)
    try:
        samples = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
        return samples, *conn.execute("SELECT status, ended_cause FROM lessons").fetchone()
    finally:
        conn.close()


@pytest.fixture
def full_disk_lesson(tmp_path):
    """A lesson on a SQLite file in a 4 MB tmpfs; yields (folder, url, engine, lesson id)."""
    with small_filesystem(tmp_path / "small") as folder:
        url = f"sqlite:///{folder / 'lesson.db'}"
        engine = open_database(url)
        lesson_id = create_lesson(engine, LessonSpec("Maths", "7B", T0))
        try:
            yield folder, url, engine, lesson_id
        finally:
            dispose_engines()


def test_a_full_disk_pauses_the_writes_and_every_sample_lands_once_space_is_freed(full_disk_lesson, caplog):
    folder, _, engine, lesson_id = full_disk_lesson
    events: list = []
    recorder = Recorder(engine, lesson_id, retry=QUICK, on_event=events.append)
    recorder.add_many(_sample(i) for i in range(40))
    recorder.flush()
    filler = fill(folder)
    with caplog.at_level(logging.WARNING, logger="storage.recorder"):
        added = _add_until_paused(recorder, events, 40)
        recorder.add_many(_sample(i) for i in range(added, added + 30))  # more while it waits
        added += 30
        (paused,) = [e for e in events if isinstance(e, WritesPaused)]
        assert (paused.reason, paused.where, paused.detail) == (DISK_FULL, str(folder), "database or disk is full")
        assert paused.samples_waiting >= 1
        assert recorder.samples_written < added and recorder.error is None  # waiting, not failed
        filler.unlink()
        recorder.flush(timeout_s=WAIT_S)
    assert recorder.samples_written == added and recorder.samples_dropped == 0
    assert [type(e) for e in events] == [WritesPaused, WritesResumed]
    assert events[1].reason == DISK_FULL and events[1].failed_attempts >= 1
    ended = recorder.end_lesson(LessonStatus.FINISHED)
    assert (ended.status, ended.cause, ended.recorded, ended.write_error) == (LessonStatus.FINISHED, None, True, None)
    assert _stored(folder / "lesson.db") == (added, "finished", None)
    lines = [r.getMessage() for r in caplog.records]
    assert any("disk full (database or disk is full); trying again" in m and f"free space on {folder}" in m
               for m in lines)  # fmt: skip
    assert any("writing again after" in m for m in lines)
    assert not any(r.exc_info for r in caplog.records)  # one line each, no traceback


def test_a_lesson_closed_while_the_disk_stays_full_ends_failed_with_disk_full_as_its_cause(full_disk_lesson, caplog):
    folder, url, engine, lesson_id = full_disk_lesson
    events: list = []
    recorder = Recorder(engine, lesson_id, retry=QUICK, on_event=events.append)
    recorder.add_many(_sample(i) for i in range(40))
    recorder.flush()
    filler = fill(folder)
    added = _add_until_paused(recorder, events, 40)
    ended = recorder.end_lesson(LessonStatus.FINISHED)  # gives up after close_wait_s
    assert (ended.status, ended.cause) == (LessonStatus.FAILED, DISK_FULL)
    assert "within 2 s of closing: database or disk is full" in str(ended.write_error)
    assert recorder.samples_written + recorder.samples_dropped == added
    assert not any(r.exc_info for r in caplog.records)
    filler.unlink()
    if not ended.recorded:  # the database did not take the ending either: settled from what was said
        assert record_cause(open_database(url), lesson_id, ended.cause)
    samples, status, cause = _stored(folder / "lesson.db")
    assert (status, cause) == ("failed", "disk full")
    assert samples == recorder.samples_written  # what it said was stored is stored
