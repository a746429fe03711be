"""Engine control: the command line, a real child process found again, stopped, and its last words."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dashboard import control
from dashboard.launch import save_upload

SLEEPER = [
    sys.executable,
    "-c",
    "import sys, time; print('lesson 12 started: Maths from demo', file=sys.stderr, flush=True); "
    "time.sleep(60)",
]


@pytest.mark.parametrize(
    ("source", "attention_only", "tail"),
    [
        ("demo", False, ["--quiet", "--realtime", "--loop"]),
        ("0", True, ["--quiet", "--attention-only"]),
        ("screen:0,0,800,600", False, ["--quiet"]),
        ("/videos/lesson.mp4", False, ["--quiet", "--realtime"]),
    ],
)
def test_engine_command_per_source(source, attention_only, tail):
    launch = control.LessonLaunch("Maths", "7A", source, 2.0, attention_only)
    command = control.engine_command(launch, python="py")
    assert command[:8] == ["py", "-m", "engine", "run", "--source", source, "--rate", "2"]
    assert command[8:12] == ["--lesson", "Maths", "--group", "7A"]
    assert command[12:] == tail


@pytest.mark.parametrize(
    "url", ["rtsp://teacher:s3cret@cam.local/live", "udp://0.0.0.0:5000", "https://x/a?token=t0k"]
)
def test_a_stream_url_goes_to_the_engine_in_its_environment_not_its_command_line(url):
    launch = control.LessonLaunch("Maths", "7A", url, 2.0)
    command = control.engine_command(launch, python="py")
    assert command == ["py", "-m", "engine", "run", "--rate", "2", "--lesson", "Maths", "--group",
                       "7A", "--quiet"]  # fmt: skip
    env = control.engine_env(launch, None, base={"CLASSPULSE_SOURCE": "0", "HOME": "/h"})
    assert env["CLASSPULSE_SOURCE"] == url and env["HOME"] == "/h"


def test_the_database_url_goes_in_the_environment_and_never_on_the_command_line():
    url = "postgresql+psycopg://teacher:pa55word@db.school.lan/classpulse"
    launch = control.LessonLaunch("Maths", "", "demo", 1.5)
    command = control.engine_command(launch, python="py")
    assert "--db" not in command and not [a for a in command if "pa55word" in a]
    assert command[command.index("--rate") + 1] == "1.5"
    env = control.engine_env(launch, url, base={"CLASSPULSE_SOURCE": "rtsp://stale"})
    assert env["CLASSPULSE_DB_URL"] == url
    assert "CLASSPULSE_SOURCE" not in env  # only a stream URL travels there


@pytest.mark.parametrize(
    ("title", "source", "rate", "message"),
    [
        ("", "demo", 2.0, "the lesson needs a title"),
        ("x", "", 2.0, "choose a source"),
        ("x", "demo", 50.0, "the sample rate must be within 0.2-30 per second, got 50.0"),
    ],
)
def test_launch_rejects_missing_title_source_or_bad_rate(title, source, rate, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        control.LessonLaunch(title, "", source, rate)


def test_started_engine_is_found_again_and_stops_on_sigterm(tmp_path, monkeypatch):
    monkeypatch.setattr(control, "engine_command", lambda launch, python=sys.executable: SLEEPER)
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    try:
        found = control.find_engine(tmp_path)  # as after a page reload: from the state file
        assert found == handle
        deadline = time.monotonic() + 10
        while (
            control.lesson_id_from_log(control.read_log(handle)) is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert control.lesson_id_from_log(control.read_log(handle)) == 12
        with pytest.raises(control.ControlError, match="already running"):
            control.start_engine(control.LessonLaunch("Other", "", "demo"), tmp_path)
    finally:
        assert control.stop_engine(handle, timeout_s=10)
    assert control.find_engine(tmp_path) is None
    assert not control.is_alive(handle.pid)


@pytest.mark.parametrize(
    ("log", "message"),
    [
        (
            "W0000 00:00 noise\nINFO: Created delegate\nError: source 'x' is not a camera index\n",
            "source 'x' is not a camera index",
        ),
        (
            "lesson 3 started: T from demo\nlesson 3 finished: 80 samples (end of source)\n",
            "lesson 3 finished: 80 samples (end of source)",
        ),
        ("", None),
        ("engine standby: ready (imports 1.7 s); waiting for a lesson\n", None),  # died on the hand-over
    ],
)
def test_last_message_skips_mediapipe_noise(log, message):
    assert control.last_message(log) == message


def test_webcam_indices_lists_video_devices(tmp_path):
    for name in ("video2", "video0", "vga_arbiter", "videoX"):
        (tmp_path / name).touch()
    assert control.webcam_indices(tmp_path) == [0, 2]


def test_handle_round_trips_through_json():
    handle = control.EngineHandle(
        41,
        "/tmp/x.log",
        "2025-01-01T00:00:00+00:00",
        control.LessonLaunch("T", "G", "demo", 2.0, True),
    )
    assert control.EngineHandle.from_json(handle.to_json()) == handle


def test_the_state_file_holds_a_stream_url_masked():
    launch = control.LessonLaunch("T", "G", "rtsp://teacher:s3cret@cam.local/live?token=abc")
    handle = control.EngineHandle(41, "/tmp/x.log", "2025-01-01T00:00:00+00:00", launch)
    text = handle.to_json()
    assert "s3cret" not in text and "abc" not in text
    assert control.EngineHandle.from_json(text).launch.source == (
        "rtsp://teacher:***@cam.local/live?token=***"
    )


def test_a_state_file_written_with_a_database_url_is_read_without_it(tmp_path):
    # engine.json as an earlier dashboard wrote it: the engine it names is still found.
    raw = {"pid": 41, "log_path": "/tmp/x.log", "started_at": "2025-01-01T00:00:00+00:00",
           "launch": {"title": "T", "group_name": "", "source": "demo", "rate_hz": 2.0,
                      "attention_only": False, "db_url": "sqlite:///a.db"}}  # fmt: skip
    (tmp_path / control.STATE_FILE).write_text(json.dumps(raw), encoding="utf-8")
    assert control.load_handle(tmp_path).launch == control.LessonLaunch("T", "", "demo")


@pytest.mark.parametrize(
    ("log", "shown"),
    [
        ("Error: stream rtsp://me:pw@cam/1 delivered no frame\n", "stream rtsp://me:***@cam/1 delivered no frame"),
        ("lesson 3 started: T from https://x/live?token=abc\n", "lesson 3 started: T from https://x/live?token=***"),
    ],
)  # fmt: skip
def test_the_engine_lines_shown_have_their_urls_masked(log, shown):
    assert control.last_message(log) == shown


def test_a_recycled_pid_is_neither_found_nor_signalled(tmp_path):
    # The engine ended long ago and the kernel gave its pid to another process: leave that one alone.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        stale = control.EngineHandle(
            pid=other.pid,
            log_path=str(tmp_path / "engine.log"),
            started_at="2026-01-05T09:00:00+00:00",
            launch=control.LessonLaunch("Maths", "7A", "demo", 2.0, False),
            start_ticks=control.process_start_ticks(other.pid) - 1,  # a different process's start time
        )
        (tmp_path / control.STATE_FILE).write_text(stale.to_json(), encoding="utf-8")
        assert control.find_engine(tmp_path) is None
        assert control.stop_engine(stale, timeout_s=1.0)
        assert other.poll() is None  # still running: never signalled
    finally:
        other.kill()
        other.wait()


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the engine process did not get there")
        time.sleep(0.05)


def test_engine_status_reads_the_process_and_the_lesson_it_announced(tmp_path, monkeypatch):
    monkeypatch.setattr(control, "engine_command", lambda launch, python=sys.executable: SLEEPER)
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    try:
        _wait_for(lambda: control.engine_status(tmp_path).lesson_id is not None)
        status = control.engine_status(tmp_path)
        assert (status.handle, status.alive, status.lesson_id) == (handle, True, 12)
        assert status.message == "lesson 12 started: Maths from demo"
        assert control.engine_for_lesson(tmp_path, 12) == status
        assert control.engine_for_lesson(tmp_path, 13) is None  # lesson 13 runs elsewhere
    finally:
        assert control.stop_lesson(tmp_path, handle, timeout_s=10)
    assert control.engine_status(tmp_path) is None  # stopped and forgotten


def test_an_engine_that_will_not_stop_is_kept(tmp_path, monkeypatch):
    stubborn = [
        sys.executable,
        "-c",
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', file=sys.stderr, flush=True); time.sleep(60)",
    ]
    monkeypatch.setattr(control, "engine_command", lambda launch, python=sys.executable: stubborn)
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    try:
        _wait_for(lambda: "ready" in control.read_log(handle))
        assert not control.stop_lesson(tmp_path, handle, timeout_s=0.5)
        assert control.engine_status(tmp_path).alive
    finally:
        os.kill(handle.pid, signal.SIGKILL)
        _wait_for(lambda: not control.is_alive(handle.pid))


def test_engine_status_of_a_dashboard_that_started_none_is_none(tmp_path):
    assert control.engine_status(tmp_path) is None


# --- uploads last as long as their lesson -----------------------------------------------------


def _uploaded(data_dir) -> control.LessonLaunch:
    video = save_upload(data_dir, "clip.mp4", b"video")
    return control.LessonLaunch("Maths", "7A", str(video))


def _end_by_sigterm(data_dir, handle) -> None:
    assert control.stop_lesson(data_dir, handle, timeout_s=10)


def _end_by_sigkill(data_dir, handle) -> None:
    os.kill(handle.pid, signal.SIGKILL)
    _wait_for(lambda: not control.engine_status(data_dir).alive)


@pytest.mark.parametrize("end", [_end_by_sigterm, _end_by_sigkill], ids=["stopped", "killed"])
def test_an_uploaded_video_is_deleted_once_its_engine_has_exited(tmp_path, monkeypatch, end):
    monkeypatch.setattr(control, "engine_command", lambda launch, python=sys.executable: SLEEPER)
    launch = _uploaded(tmp_path)
    video = Path(launch.source)
    handle = control.start_engine(launch, tmp_path)
    try:
        assert control.engine_status(tmp_path).alive and video.exists()  # kept while it plays
        assert control.sweep_uploads(tmp_path, grace_s=0) == 0
        end(tmp_path, handle)
        assert not video.exists()
    finally:
        control.stop_engine(handle, timeout_s=10)


def test_an_upload_whose_engine_ended_by_itself_goes_when_any_page_looks(tmp_path, monkeypatch):
    command = [sys.executable, "-c", "pass"]
    monkeypatch.setattr(control, "engine_command", lambda launch, python=sys.executable: command)
    launch = _uploaded(tmp_path)
    handle = control.start_engine(launch, tmp_path)
    _wait_for(lambda: not control.is_alive(handle.pid))
    assert control.find_engine(tmp_path) is None  # what the sidebar of every page asks
    assert not Path(launch.source).exists()


def test_a_launch_that_cannot_start_takes_its_upload_with_it(tmp_path, monkeypatch):
    monkeypatch.setattr(control, "engine_command", lambda launch, python=sys.executable: SLEEPER)
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    try:
        refused = _uploaded(tmp_path)
        with pytest.raises(control.ControlError, match="already running"):
            control.start_engine(refused, tmp_path)
        assert not Path(refused.source).exists()
    finally:
        control.stop_engine(handle, timeout_s=10)


def test_the_sweep_deletes_leftover_uploads_but_not_the_playing_one_nor_a_fresh_one(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(control, "engine_command", lambda launch, python=sys.executable: SLEEPER)
    left_over, fresh = (save_upload(tmp_path, n, b"v") for n in ("old.mp4", "new.mp4"))
    playing = _uploaded(tmp_path)
    hour_ago = time.time() - 3600
    for path in (left_over, Path(playing.source)):
        os.utime(path, (hour_ago, hour_ago))
    handle = control.start_engine(playing, tmp_path)
    try:
        assert control.sweep_uploads(tmp_path) == 1
        assert not left_over.exists() and fresh.exists() and Path(playing.source).exists()
    finally:
        control.stop_engine(handle, timeout_s=10)
    assert control.sweep_uploads(tmp_path, grace_s=0) == 1  # the fresh one, once old enough
    assert list((tmp_path / "uploads").iterdir()) == []


@pytest.mark.parametrize(("max_faces", "tail"), [(None, []), (60, ["--max-faces", "60"])])
def test_the_face_limit_goes_on_the_command_line_only_when_the_form_set_one(max_faces, tail):
    launch = control.LessonLaunch("Maths", "7A", "0", 2.0, max_faces=max_faces)
    command = control.engine_command(launch, python="py")
    assert command[command.index("--quiet") + 1:] == tail
    assert control.EngineHandle.from_json(
        control.EngineHandle(1, "l", "t", launch).to_json()
    ).launch.max_faces == max_faces


# --- the warm engine ----------------------------------------------------------------------------


@pytest.fixture
def no_standby_left():
    """Whatever warm engine a test left waiting is let go of afterwards."""
    yield
    control.release_standby()


def _announced(handle: control.EngineHandle, timeout_s: float) -> int | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lesson_id = control.lesson_id_from_log(control.read_log(handle))
        if lesson_id is not None or not control.is_alive(handle.pid, handle.start_ticks):
            return lesson_id
        time.sleep(0.1)
    return None


@pytest.mark.slow
def test_a_lesson_started_while_a_warm_engine_waits_is_recorded_by_that_engine(tmp_path, no_standby_left):
    db = tmp_path / "lessons.db"
    waiting = control.keep_standby(tmp_path)
    assert waiting is not None and control.keep_standby(tmp_path) == waiting  # one, kept
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path,
                                  db_url=f"sqlite:///{db}")
    try:
        assert handle.pid == waiting
        assert control.find_engine(tmp_path) == handle  # as after a page reload
        lesson_id = _announced(handle, 120)
        assert lesson_id == 1, control.read_log(handle)[-2000:]
        with sqlite3.connect(db) as conn:
            (title, group), = conn.execute("SELECT title, group_name FROM lessons").fetchall()
            (samples,), = conn.execute("SELECT COUNT(*) FROM samples").fetchall()
        assert (title, group) == ("Maths", "7A") and samples >= 1
        assert "sqlite" not in Path(f"/proc/{handle.pid}/cmdline").read_bytes().decode()
    finally:
        assert control.stop_engine(handle, timeout_s=60)
    assert "lesson 1 finished" in control.read_log(handle)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM lessons").fetchall() == [("finished",)]
    assert control.keep_standby(tmp_path) not in (None, waiting)  # the next lesson's, fresh


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while control.is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.slow
def test_a_warm_engine_that_died_is_replaced_and_a_start_without_one_spawns_afresh(
    tmp_path, monkeypatch, no_standby_left
):
    first = control.keep_standby(tmp_path)
    _kill(first)
    second = control.keep_standby(tmp_path)
    assert second not in (None, first)
    _kill(second)
    monkeypatch.setattr(control, "engine_command", lambda launch, python=sys.executable: SLEEPER)
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    try:
        assert handle.pid not in (first, second)
        assert _announced(handle, 10) == 12  # the fresh process (here a stand-in) runs the lesson
    finally:
        assert control.stop_engine(handle, timeout_s=10)


@pytest.mark.slow
def test_a_warm_engine_let_go_of_exits_and_leaves_no_log(tmp_path, no_standby_left):
    pid = control.keep_standby(tmp_path)
    logs = tmp_path / control.LOG_DIR
    assert len(list(logs.iterdir())) == 1
    control.release_standby()
    assert not control.is_alive(pid)
    assert list(logs.iterdir()) == []


def test_two_starts_at_once_run_one_engine_and_refuse_the_other(tmp_path, monkeypatch):
    monkeypatch.setattr(control, "engine_command", lambda launch, python=sys.executable: SLEEPER)
    looked = control.find_engine

    def slow_look(data_dir):  # widen the window between the check and the state file
        found = looked(data_dir)
        time.sleep(0.5)
        return found

    monkeypatch.setattr(control, "find_engine", slow_look)
    results: dict[str, object] = {}

    def start(name: str) -> None:
        try:
            results[name] = control.start_engine(control.LessonLaunch(name, "", "demo"), tmp_path)
        except control.ControlError as exc:
            results[name] = exc

    threads = [threading.Thread(target=start, args=(name,)) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    handles = [r for r in results.values() if isinstance(r, control.EngineHandle)]
    refused = [r for r in results.values() if isinstance(r, control.ControlError)]
    try:
        assert len(handles) == 1 and len(refused) == 1, results
        assert "already running" in str(refused[0])
        assert control.load_handle(tmp_path) == handles[0]
    finally:
        for handle in handles:
            control.stop_engine(handle, timeout_s=10)


@pytest.mark.slow
def test_a_warm_engine_holds_no_database_url_until_it_is_handed_a_lesson(tmp_path, monkeypatch, no_standby_left):
    monkeypatch.setenv("CLASSPULSE_DB_URL", "postgresql+psycopg://teacher:s3cret@db.school/classpulse")
    pid = control.keep_standby(tmp_path)
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert b"s3cret" not in environ and b"CLASSPULSE_DB_URL" not in environ
    assert b"s3cret" not in cmdline


@pytest.mark.slow
def test_a_killed_warm_engine_is_replaced_and_its_log_deleted(tmp_path, no_standby_left):
    first = control.keep_standby(tmp_path)
    logs = tmp_path / control.LOG_DIR
    (first_log,) = logs.iterdir()
    _kill(first)
    second = control.keep_standby(tmp_path)
    assert second not in (None, first)
    assert not first_log.exists() and len(list(logs.iterdir())) == 1


@pytest.mark.slow
def test_a_warm_engine_that_died_with_words_of_its_own_keeps_its_log(tmp_path, no_standby_left):
    pid = control.keep_standby(tmp_path)
    (log,) = (tmp_path / control.LOG_DIR).iterdir()
    _kill(pid)
    with log.open("a") as out:  # as a traceback before it died would be
        out.write("Traceback (most recent call last):\nMemoryError\n")
    assert control.keep_standby(tmp_path) not in (None, pid)
    assert log.exists()
