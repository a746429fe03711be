"""`python -m engine run` while another process holds the SQLite write lock for 35 s: nothing lost.

The real engine plays a video at real-time pace; once its first samples are committed a second
process takes the write lock with BEGIN IMMEDIATE and holds it past SQLite's 30 s busy timeout and
past the end of the lesson, so a write fails once, the samples wait in memory, and closing waits.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from engine.protocol import Finished, read_events
from storage.db import dispose_engines, open_database
from storage.schema import Lesson, SampleRow

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 240  # a safety net for a stuck process, not a measure of speed
LESSON_S = 20  # shorter than the lock: the lesson ends while the database is still locked
LOCK_S = 35


def committed_samples(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=WAIT_S)
    try:
        return conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    except sqlite3.OperationalError:  # no schema yet
        return 0
    finally:
        conn.close()


def test_a_write_lock_held_35_s_by_another_process_pauses_the_lesson_and_every_sample_lands(asset, tmp_path):
    db = tmp_path / "lesson.db"
    url = f"sqlite:///{db}"
    open_database(url)  # migrated before the engine starts
    dispose_engines()
    engine = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--quiet", "--attention-only", "--realtime", "--loop",
         "--source", str(asset("single_face.mp4")), "--rate", "2", "--max-seconds", str(LESSON_S),
         "--lesson", "Locked out", "--db", url, "--events", str(tmp_path / "events.jsonl")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    holder = None
    try:
        deadline = time.monotonic() + WAIT_S
        while committed_samples(db) == 0:  # the lesson is under way and its writer has committed
            assert engine.poll() is None, engine.communicate()[1]
            assert time.monotonic() < deadline, "the engine never committed a sample"
            time.sleep(0.05)
        holder = subprocess.Popen([sys.executable, "-m", "tests.storage.lock_holder", str(db), str(LOCK_S)],
                                  cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert holder.stdout.readline().strip() == "locked"
        _, stderr = engine.communicate(timeout=WAIT_S)
        assert holder.stdout.readline().strip() == "released"
        assert holder.wait(timeout=WAIT_S) == 0
    finally:
        for process in (engine, holder):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=WAIT_S)
    assert engine.returncode == 0, stderr
    # A file played in real time is sampled by the clock (frames skipped when the machine is behind):
    # the engine says how many samples it took; every one of them must be stored.
    ended = read_events(tmp_path / "events.jsonl")[-1]
    assert isinstance(ended, Finished) and (ended.lesson_id, ended.reason) == (1, "max_seconds"), stderr
    assert ended.dropped == 0
    expected = ended.samples
    assert expected >= LESSON_S  # at least half the asked 2 Hz over the lesson: the lock did not stall it
    assert "could not be stored" not in stderr and "Traceback" not in stderr
    assert "database is locked); trying again" in stderr  # the lock did cost an attempt
    assert "writing again after" in stderr
    reader = create_engine(url)
    try:
        with reader.connect() as conn:
            assert conn.execute(select(func.count()).select_from(SampleRow)).scalar_one() == expected
            status, ended_at = conn.execute(select(Lesson.status, Lesson.ended_at)).one()
    finally:
        reader.dispose()
    assert status == "finished" and ended_at is not None
