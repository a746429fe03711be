"""Engine control: the command line, a real child process found again, stopped, and its last words."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from dashboard import control

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
        ("rtsp://cam.local/live", False, ["--quiet"]),
        ("udp://0.0.0.0:5000", False, ["--quiet"]),
    ],
)
def test_engine_command_per_source(source, attention_only, tail):
    launch = control.LessonLaunch("Maths", "7A", source, 2.0, attention_only)
    command = control.engine_command(launch, python="py")
    assert command[:8] == ["py", "-m", "engine", "run", "--source", source, "--rate", "2"]
    assert command[8:12] == ["--lesson", "Maths", "--group", "7A"]
    assert command[12:] == tail


def test_engine_command_passes_the_database():
    launch = control.LessonLaunch("Maths", "", "demo", 1.5, db_url="sqlite:///x.db")
    command = control.engine_command(launch, python="py")
    assert command[command.index("--db") + 1] == "sqlite:///x.db"
    assert command[command.index("--rate") + 1] == "1.5"


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
        control.LessonLaunch("T", "G", "demo", 2.0, True, "sqlite:///a.db"),
    )
    assert control.EngineHandle.from_json(handle.to_json()) == handle


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
