"""A SQLite file removed or replaced under a recording lesson: noticed at the next batch, nothing lost.

The pure parts (which change, the recovery file's name, the line for a person) with literal values;
the recorder on a real SQLite file, removed (`os.unlink`, as `rm` does) or replaced (`os.replace`,
as `mv other.db x.db` does) between two batches.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import SQLITE_CACHE_KIB, SQLITE_WRITER_CACHE_KIB, dispose_engines, open_database
from storage.db_file import (
    REMOVED,
    REPLACED,
    FileIdentity,
    FileLost,
    SqliteFile,
    file_change,
    recovery_name,
    save_recovery,
)
from storage.lessons import LessonSpec, create_lesson, get_lesson
from storage.recorder import Recorder
from storage.records import AttentionState, LessonStatus
from tests.storage.conftest import T0, make_sample

A = AttentionState
HERE = FileIdentity(device=2049, inode=131)


@pytest.mark.parametrize(
    ("current", "change"),
    [(FileIdentity(2049, 131), None), (None, REMOVED), (FileIdentity(2049, 132), REPLACED),
     (FileIdentity(2050, 131), REPLACED)],
    ids=["same", "gone", "other-inode", "other-device"],
)  # fmt: skip
def test_file_change_compares_device_and_inode(current, change):
    assert file_change(HERE, current) == change


def test_recovery_name_is_beside_the_database_stamped_in_utc():
    paris = timezone(timedelta(hours=1))
    now = datetime(2026, 12, 7, 16, 30, 0, tzinfo=paris)
    assert recovery_name(Path("/srv/x.db"), now) == "x.db.recovered-20261207T153000Z.db"


def test_the_line_says_what_happened_and_how_to_open_the_samples():
    lost = FileLost(3, Path("/tmp/x/x.db"), REMOVED, Path("/tmp/x/x.db.recovered-20261207T153000Z.db"))
    assert lost.cause == "database file removed"
    assert lost.words(110) == (
        "the database file /tmp/x/x.db was removed during lesson 3; its 110 samples are kept in "
        "/tmp/x/x.db.recovered-20261207T153000Z.db (open it with "
        "--db sqlite:////tmp/x/x.db.recovered-20261207T153000Z.db)"
    )


def test_file_identity_follows_the_file_not_the_name(tmp_path):
    path = tmp_path / "a.db"
    path.write_bytes(b"one")
    first = FileIdentity.of(path)
    path.write_bytes(b"two")  # written in place: the same file
    assert FileIdentity.of(path) == first
    other = tmp_path / "b.db"
    other.write_bytes(b"three")
    os.replace(other, path)
    assert FileIdentity.of(path) not in (None, first)
    path.unlink()
    assert FileIdentity.of(path) is None


def _samples(start: int, stop: int) -> list:
    return [make_sample(i * 0.5, {1: (A.ATTENTIVE, 60.0), 2: (A.LOOKING_AWAY, 20.0)}) for i in range(start, stop)]


def _rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def lesson_file(tmp_path):
    """A migrated SQLite file with one running lesson; its path and the lesson id."""
    path = tmp_path / "x.db"
    lesson_id = create_lesson(open_database(f"sqlite:///{path}"), LessonSpec("Maths", "7B", T0))
    yield path, lesson_id
    dispose_engines()


def test_a_removed_file_is_noticed_at_the_next_batch_and_every_sample_is_in_the_recovery_file(lesson_file):
    path, lesson_id = lesson_file
    events = []
    recorder = Recorder(open_database(f"sqlite:///{path}"), lesson_id, on_event=events.append)
    recorder.add_many(_samples(0, 30))
    recorder.flush()  # committed to the file: in its WAL, not yet checkpointed
    os.unlink(path)
    recorder.add_many(_samples(30, 50))
    recorder.flush()
    lost = recorder.file_lost
    assert lost is not None and events == [lost]
    assert (lost.path, lost.change, lost.lesson_id) == (path, REMOVED, lesson_id)
    assert lost.recovery.parent == path.parent and lost.recovery.name.startswith("x.db.recovered-")
    assert not path.exists()  # no empty database was made at the path
    ended = recorder.end_lesson(LessonStatus.FINISHED)
    assert (ended.status, ended.cause, ended.recorded) == (LessonStatus.FAILED, "database file removed", True)
    assert recorder.samples_written == 50 and recorder.samples_dropped == 0
    assert _rows(lost.recovery, "SELECT count(*) FROM samples") == [(50,)]
    assert _rows(lost.recovery, "SELECT count(*) FROM observations") == [(100,)]
    assert _rows(lost.recovery, "SELECT status, ended_cause, title FROM lessons") == [
        ("failed", "database file removed", "Maths")
    ]
    assert not path.with_name("x.db-wal").exists() and not path.with_name("x.db-shm").exists()
    dispose_engines()
    fresh = open_database(f"sqlite:///{path}")  # a new database at the path starts empty
    assert get_lesson(fresh, lesson_id) is None


def test_a_file_moved_onto_the_path_is_left_untouched_and_the_lesson_goes_to_the_recovery_file(lesson_file, tmp_path):
    path, lesson_id = lesson_file
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.execute("INSERT INTO notes VALUES ('not a lesson')")
    conn.commit()
    conn.close()
    recorder = Recorder(open_database(f"sqlite:///{path}"), lesson_id)
    recorder.add_many(_samples(0, 10))
    recorder.flush()
    os.replace(other, path)
    replacement = hashlib.sha256(path.read_bytes()).hexdigest()
    recorder.add_many(_samples(10, 25))
    ended = recorder.end_lesson(LessonStatus.FINISHED, T0 + timedelta(seconds=13))
    lost = recorder.file_lost
    assert lost is not None and lost.change == REPLACED
    assert (ended.status, ended.cause) == (LessonStatus.FAILED, "database file replaced")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == replacement
    assert _rows(path, "SELECT name FROM sqlite_master") == [("notes",)]
    assert _rows(lost.recovery, "SELECT count(*) FROM samples") == [(25,)]
    assert _rows(lost.recovery, "SELECT status, ended_cause FROM lessons") == [("failed", "database file replaced")]


def test_a_recovery_file_of_the_same_second_is_never_overwritten(tmp_path):
    path = tmp_path / "x.db"
    source = sqlite3.connect(path)
    source.execute("CREATE TABLE t (x INTEGER)")
    source.execute("INSERT INTO t VALUES (42)")
    source.commit()
    fixed = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    first = save_recovery(source, path, fixed)
    second = save_recovery(source, path, fixed)
    source.close()
    assert (first.name, second.name) == ("x.db.recovered-20261207T153000Z.db",
                                         "x.db.recovered-20261207T153000Z-2.db")  # fmt: skip
    assert _rows(first, "SELECT x FROM t") == _rows(second, "SELECT x FROM t") == [(42,)]
    assert not list(tmp_path.glob("*.part"))


def test_an_unchanged_file_ends_the_lesson_as_asked_with_no_recovery_file(lesson_file):
    path, lesson_id = lesson_file
    recorder = Recorder(open_database(f"sqlite:///{path}"), lesson_id)
    recorder.add_many(_samples(0, 5))
    ended = recorder.end_lesson(LessonStatus.SOURCE_LOST, cause=None)
    assert (ended.status, ended.cause, ended.recorded, ended.write_error) == (
        LessonStatus.SOURCE_LOST, None, True, None)  # fmt: skip
    assert recorder.file_lost is None
    assert sorted(p.name for p in path.parent.iterdir() if "recovered" in p.name) == []
    assert _rows(path, "SELECT status, ended_cause FROM lessons") == [("source_lost", None)]


def _cache_kib(conn) -> int:  # noqa: ANN001
    return -conn.execute(text("PRAGMA cache_size")).scalar()


def test_the_recorders_connection_keeps_a_small_cache_and_gives_the_pool_back_its_own(lesson_file):
    path, lesson_id = lesson_file
    engine = open_database(f"sqlite:///{path}")
    watched = SqliteFile(engine, path, lesson_id)
    held = watched.bind
    assert _cache_kib(held) == SQLITE_WRITER_CACHE_KIB == 1024
    with engine.connect() as reader:  # another pooled connection: the readers' cache
        assert _cache_kib(reader) == SQLITE_CACHE_KIB
    driver = held.connection.driver_connection
    watched.close()
    assert -driver.execute("PRAGMA cache_size").fetchone()[0] == SQLITE_CACHE_KIB

