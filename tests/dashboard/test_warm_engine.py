"""The warm engine: one `python -m engine standby` kept waiting per dashboard process, handed the
next lesson's start request, replaced when it dies, let go of without a trace (real processes)."""

from __future__ import annotations

import sqlite3
import time

import psutil
import pytest

from dashboard import control
from dashboard.warm_engine import WarmEngine
from engine import processes
from engine.protocol import Finished
from tests.dashboard.engine_standin import standin, started

pytestmark = pytest.mark.slow


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the engine process did not get there")
        time.sleep(0.05)


@pytest.fixture
def warm():
    """A warm-engine keeper of the test's own; whatever it keeps is let go of afterwards."""
    keeper = WarmEngine()
    yield keeper
    keeper.release()


def _kill(pid: int) -> None:
    psutil.Process(pid).kill()
    _wait_for(lambda: not processes.is_alive(pid))


def test_a_lesson_started_while_a_warm_engine_waits_is_recorded_by_that_engine(tmp_path, warm):
    db = tmp_path / "lessons.db"
    waiting = warm.keep(tmp_path)
    assert waiting is not None and warm.keep(tmp_path) == waiting  # one, kept
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path,
                                  db_url=f"sqlite:///{db}", warm=warm)  # fmt: skip
    try:
        assert handle.pid == waiting and warm.pid() is None  # handed over: no longer waiting
        assert control.find_engine(tmp_path) == handle  # as after a page reload
        _wait_for(lambda: control.engine_status(tmp_path).lesson_id is not None, 120)
        assert control.engine_status(tmp_path).lesson_id == 1, control.read_log(handle)[-2000:]
        with sqlite3.connect(db) as conn:
            (title, group), = conn.execute("SELECT title, group_name FROM lessons").fetchall()
            (samples,), = conn.execute("SELECT COUNT(*) FROM samples").fetchall()
        assert (title, group) == ("Maths", "7A") and samples >= 1
        assert not [a for a in psutil.Process(handle.pid).cmdline() if "sqlite" in a]
    finally:
        assert control.stop_engine(handle, timeout_s=60)
    ending = control.status_of(handle).events[-1]
    assert isinstance(ending, Finished) and (ending.lesson_id, ending.status) == (1, "finished")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM lessons").fetchall() == [("finished",)]
    assert warm.keep(tmp_path) not in (None, waiting)  # the next lesson's, fresh


def test_a_warm_engine_that_died_is_replaced_and_a_start_without_one_spawns_afresh(tmp_path, monkeypatch, warm):
    first = warm.keep(tmp_path)
    _kill(first)
    second = warm.keep(tmp_path)
    assert second not in (None, first)
    _kill(second)
    standin(monkeypatch, started(12))
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path, warm=warm)
    try:
        assert handle.pid not in (first, second)
        _wait_for(lambda: control.engine_status(tmp_path).lesson_id == 12)  # a fresh stand-in runs it
    finally:
        assert control.stop_engine(handle, timeout_s=10)


def test_a_warm_engine_let_go_of_exits_and_leaves_no_log(tmp_path, warm):
    pid = warm.keep(tmp_path)
    logs = tmp_path / control.LOG_DIR
    assert len(list(logs.iterdir())) == 1
    warm.release()
    assert not processes.is_alive(pid) and warm.pid() is None
    assert list(logs.iterdir()) == []


def test_a_warm_engine_holds_no_database_url_until_it_is_handed_a_lesson(tmp_path, monkeypatch, warm):
    monkeypatch.setenv("CLASSPULSE_DB_URL", "postgresql+psycopg://teacher:s3cret@db.school/classpulse")
    process = psutil.Process(warm.keep(tmp_path))
    assert "CLASSPULSE_DB_URL" not in process.environ()
    assert not [a for a in process.cmdline() if "s3cret" in a]


def test_a_killed_warm_engine_is_replaced_and_its_log_deleted(tmp_path, warm):
    first = warm.keep(tmp_path)
    logs = tmp_path / control.LOG_DIR
    (first_log,) = logs.iterdir()
    _kill(first)
    second = warm.keep(tmp_path)
    assert second not in (None, first)
    assert not first_log.exists() and len(list(logs.iterdir())) == 1


def test_a_warm_engine_that_died_with_words_of_its_own_keeps_its_log(tmp_path, warm):
    pid = warm.keep(tmp_path)
    (log,) = (tmp_path / control.LOG_DIR).iterdir()
    _kill(pid)
    with log.open("a") as out:  # as a traceback before it died would be
        out.write("Traceback (most recent call last):\nMemoryError\n")
    assert warm.keep(tmp_path) not in (None, pid)
    assert log.exists()


def test_a_warm_engine_that_cannot_take_the_lesson_gives_way_to_a_fresh_engine(tmp_path, monkeypatch, warm):
    waiting = warm.keep(tmp_path)
    warm._standby.process.stdin.close()  # as if its pipe broke: it ends, unused, as Start comes
    standin(monkeypatch, started(12))
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path, warm=warm)
    try:
        assert handle.pid != waiting and warm.pid() is None
        _wait_for(lambda: control.engine_status(tmp_path).lesson_id == 12)
        _wait_for(lambda: not processes.is_alive(waiting))
        assert [p.suffix for p in (tmp_path / control.LOG_DIR).glob("*.log")] == [".log"]  # its own only
    finally:
        assert control.stop_engine(handle, timeout_s=10)
