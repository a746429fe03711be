"""The real engine (`python -m engine run`) when its database fails under it: a SQLite file removed or
replaced mid-lesson, a file system that fills up (a real tmpfs, as root), a file it may not write (as
a user that is not root). Each ends, or goes on, as docs/engine.md#storage-faults says: nothing lost,
one line, the status honest, no traceback anywhere.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.protocol import (
    Failed,
    Finished,
    StorageResumed,
    StorageWaiting,
    read_events,
    untold_ending,
)
from storage.db import dispose_engines, open_database
from tests.kit.faults import fill, other_user, reachable_folder, run_module_as, small_filesystem

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 240  # a safety net for a stuck process, not a measure of speed


def _engine(asset, db: Path, folder: Path, *extra: str) -> subprocess.Popen:
    """The engine playing a one-face clip in real time, looped, at 2 Hz, until stopped."""
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--quiet", "--attention-only", "--realtime", "--loop",
         "--source", str(asset("single_face.mp4")), "--rate", "2", "--lesson", "Faults",
         "--db", f"sqlite:///{db}", "--events", str(folder / "events.jsonl"),
         "--stop-file", str(folder / "stop"), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=WAIT_S)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _wait(condition, what: str, engine: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if engine.poll() is not None:
            pytest.fail(f"the engine ended while waiting for {what}: {engine.communicate()[1]}")
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S} s"
        time.sleep(0.2)


def _committed(db: Path) -> int:
    try:
        return _query(db, "SELECT count(*) FROM samples")[0][0]
    except sqlite3.OperationalError:  # no schema yet
        return 0


def _finish(engine: subprocess.Popen) -> str:
    """The engine's stderr once it has ended (killed if it outlives the safety net)."""
    try:
        return engine.communicate(timeout=WAIT_S)[1]
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()


def _last_events(folder: Path) -> list:
    return read_events(folder / "events.jsonl")


def _lost_file_ends_the_lesson(asset, tmp_path, lose) -> tuple[Failed, str, Path]:
    """Run the engine until it committed samples, `lose(db)`, and check the ending common to both
    ways of losing the file; the `failed` event, stderr and the database path."""
    db = tmp_path / "x.db"
    open_database(f"sqlite:///{db}")
    dispose_engines()
    engine = _engine(asset, db, tmp_path)
    _wait(lambda: _committed(db) >= 6, "six committed samples", engine)
    before = _committed(db)
    lose(db)
    stderr = _finish(engine)
    assert engine.returncode == 1, stderr
    failed = _last_events(tmp_path)[-1]
    assert isinstance(failed, Failed) and failed.lesson_id == 1, stderr
    assert failed.recovery_path is not None
    recovery = Path(failed.recovery_path)
    assert recovery.parent == tmp_path and recovery.name.startswith("x.db.recovered-")
    (samples,) = _query(recovery, "SELECT count(*) FROM samples")[0]
    assert samples >= before  # every sample committed before, and those taken after, are there
    assert failed.message == (f"the database file {db} was {failed.cause.split()[-1]} during lesson 1; "
                              f"its {samples} samples are kept in {recovery} "
                              f"(open it with --db sqlite:///{recovery})")  # fmt: skip
    assert stderr.rstrip().splitlines()[-1] == f"Error: {failed.message}"  # the last word, as shown
    assert "Traceback" not in stderr
    assert _query(recovery, "SELECT status, ended_cause, title FROM lessons") == [
        ("failed", failed.cause, "Faults")]  # fmt: skip
    assert not db.with_name("x.db-wal").exists()  # nothing of the old file waits for a new one
    return failed, stderr, db


def test_a_database_file_removed_mid_lesson_ends_it_with_every_sample_in_the_recovery_file(asset, tmp_path):
    failed, _, db = _lost_file_ends_the_lesson(asset, tmp_path, os.unlink)
    assert failed.cause == "database file removed"
    assert not db.exists()  # no empty database was made at the path


def test_a_database_file_replaced_mid_lesson_is_left_as_it_is_and_the_lesson_is_recovered(asset, tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.execute("INSERT INTO notes VALUES ('kept')")
    conn.commit()
    conn.close()
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    failed, _, db = _lost_file_ends_the_lesson(asset, tmp_path, lambda path: os.replace(other, path))
    assert failed.cause == "database file replaced"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert _query(db, "SELECT x FROM notes") == [("kept",)]


@pytest.mark.root
def test_a_full_disk_pauses_the_lesson_and_every_sample_is_written_once_space_is_freed(asset, tmp_path):
    with small_filesystem(tmp_path / "small") as small:
        db = small / "lesson.db"
        open_database(f"sqlite:///{db}")
        dispose_engines()
        engine = _engine(asset, db, tmp_path)
        try:
            _wait(lambda: _committed(db) >= 4, "four committed samples", engine)
            filler = fill(small)
            _wait(lambda: any(isinstance(e, StorageWaiting) for e in _last_events(tmp_path)),
                  "the storage_waiting event", engine)  # fmt: skip
            time.sleep(3)
            assert engine.poll() is None  # a pause, not a crash
            filler.unlink()
            _wait(lambda: any(isinstance(e, StorageResumed) for e in _last_events(tmp_path)),
                  "the storage_resumed event", engine)  # fmt: skip
            (tmp_path / "stop").touch()
            stderr = _finish(engine)
        finally:
            if engine.poll() is None:
                engine.kill()
                engine.wait()
        assert engine.returncode == 0, stderr
        events = _last_events(tmp_path)
        (waiting,) = [e for e in events if isinstance(e, StorageWaiting)]
        assert (waiting.reason, waiting.where, waiting.lesson_id) == ("disk full", str(small), 1)
        assert waiting.text == f"disk full: {waiting.samples_waiting} samples waiting — free space on {small}"
        ended = events[-1]
        assert isinstance(ended, Finished) and (ended.status, ended.dropped) == ("finished", 0), stderr
        assert _committed(db) == ended.samples  # every sample the engine took is stored
        assert _query(db, "SELECT status, ended_cause FROM lessons") == [("finished", None)]
        assert "Traceback" not in stderr
        said = [ln for ln in stderr.splitlines() if "trying again" in ln]  # one log line, once
        assert len(said) == 1 and "disk full" in said[0] and f"free space on {small}" in said[0], stderr
        assert sum("writing again after" in ln for ln in stderr.splitlines()) == 1


@pytest.mark.root
def test_a_lesson_stopped_while_the_disk_is_full_ends_in_one_line_and_its_cause_is_kept(asset, tmp_path):
    with small_filesystem(tmp_path / "small") as small:
        db = small / "lesson.db"
        open_database(f"sqlite:///{db}")
        dispose_engines()
        engine = _engine(asset, db, tmp_path)
        try:
            _wait(lambda: _committed(db) >= 4, "four committed samples", engine)
            filler = fill(small)
            _wait(lambda: any(isinstance(e, StorageWaiting) for e in _last_events(tmp_path)),
                  "the storage_waiting event", engine)  # fmt: skip
            (tmp_path / "stop").touch()  # closing waits its 60 s for space, then gives up
            stderr = _finish(engine)
        finally:
            if engine.poll() is None:
                engine.kill()
                engine.wait()
        assert engine.returncode == 1, stderr
        failed = _last_events(tmp_path)[-1]
        assert isinstance(failed, Failed) and (failed.lesson_id, failed.cause) == (1, "disk full"), stderr
        assert failed.message.startswith("lesson 1 failed: could not store the last ")
        assert f"within 60 s of closing: database or disk is full; free space on {small}" in failed.message
        assert stderr.rstrip().splitlines()[-1] == f"Error: {failed.message}"
        assert "Traceback" not in stderr
        filler.unlink()
        status = _query(db, "SELECT status, ended_cause FROM lessons")
        assert status in ([("failed", "disk full")], [("running", None)])  # stored, or not yet
        assert untold_ending(_last_events(tmp_path)).cause == "disk full"
        # The next start with the same events file stores the cause its predecessor gave.
        again = subprocess.run(
            [sys.executable, "-m", "engine", "run", "--quiet", "--source", str(tmp_path / "no-such.mp4"),
             "--lesson", "Next", "--db", f"sqlite:///{db}", "--events", str(tmp_path / "events.jsonl")],
            cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S,
        )  # fmt: skip
        assert again.returncode == 1 and "no-such.mp4" in again.stderr, again.stderr
        assert _query(db, "SELECT status, ended_cause FROM lessons") == [("failed", "disk full")]


def _engine_cli():
    import engine.faces  # noqa: F401  (what a lesson run imports before it opens the database)
    import engine.lesson  # noqa: F401
    import engine.runtime  # noqa: F401
    import models.registry  # noqa: F401
    from engine.__main__ import cli

    return cli


@pytest.mark.root
def test_a_read_only_database_is_one_line_no_lesson_and_the_file_unchanged(asset):
    user = other_user()
    with reachable_folder() as folder:
        school = folder / "school"
        school.mkdir()
        db = school / "classpulse.db"
        open_database(f"sqlite:///{db}")
        dispose_engines()
        db.chmod(0o444)  # writable by no one; the folder lets anyone make the -wal and -shm files
        school.chmod(0o777)
        mine = folder / "mine"
        mine.mkdir()
        user.own(mine)
        digest = hashlib.sha256(db.read_bytes()).hexdigest()
        ran = run_module_as(user, "engine", ["run", "--quiet", "--source", str(asset("single_face.mp4")),
                                             "--lesson", "Read only", "--db", f"sqlite:///{db}",
                                             "--events", str(mine / "events.jsonl")],
                            cwd=ROOT, cli=_engine_cli)  # fmt: skip
        message = f"the database {db} is read-only: the file is not writable by user {user.name}"
        assert ran.returncode == 1, ran
        assert ran.stderr.rstrip().splitlines() == [f"Error: {message}"], ran
        assert "Traceback" not in ran.stdout + ran.stderr
        assert read_events(mine / "events.jsonl") == [Failed(message)]
        assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
        assert _query(db, "SELECT count(*) FROM lessons") == [(0,)]
