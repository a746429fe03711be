"""Engine control: the start request, a real child process found again, stopped through its stop
file, and what its events say (a stand-in process speaks the engine's protocol; the real engine
runs in the slow tests below and in test_engine_faults.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dashboard import control
from dashboard.engine_request import start_request
from dashboard.launch import save_upload
from engine import processes
from engine.protocol import Started, StartRequest
from tests.dashboard.engine_standin import failed, finished, standin, started


def _request(launch: control.LessonLaunch, db_url: str | None = None, **base: str) -> StartRequest:
    return start_request(launch, events_path=Path("e.jsonl"), stop_path=Path("e.stop"), db_url=db_url,
                         cwd=Path("/lessons"), base=base)  # fmt: skip


@pytest.mark.parametrize(
    ("source", "attention_only", "realtime", "loop"),
    [
        ("demo", False, True, True),
        ("0", True, False, False),
        ("screen:0,0,800,600", False, False, False),
        ("/videos/lesson.mp4", False, True, False),
    ],
)
def test_the_start_request_per_source(source, attention_only, realtime, loop):
    request = _request(control.LessonLaunch(" Maths ", " 7A ", source, 2.0, attention_only))
    assert (request.title, request.group_name, request.source, request.rate_hz) == ("Maths", "7A", source, 2.0)
    assert (request.realtime, request.loop, request.quiet) == (realtime, loop, True)
    assert request.attention_only is (True if attention_only else None)  # else the engine's default
    assert (request.events_path, request.stop_path, request.cwd) == ("e.jsonl", "e.stop", "/lessons")


@pytest.mark.parametrize(
    "url", ["rtsp://teacher:s3cret@cam.local/live", "udp://0.0.0.0:5000", "https://x/a?token=t0k"]
)
def test_a_stream_url_travels_in_the_request_and_never_on_a_command_line(url):
    request = _request(control.LessonLaunch("Maths", "7A", url, 2.0), None, CLASSPULSE_SOURCE="0", HOME="/h")
    assert request.source == url
    assert "CLASSPULSE_SOURCE" not in request.env and request.env["HOME"] == "/h"
    assert url not in " ".join(control.serve_command())
    assert url not in repr(request)  # a request logged by mistake shows no source


def test_the_database_url_goes_in_the_requests_environment_only():
    url = "postgresql+psycopg://teacher:pa55word@db.school.lan/classpulse"
    request = _request(control.LessonLaunch("Maths", "", "demo", 1.5), url, CLASSPULSE_SOURCE="rtsp://x")
    assert request.env["CLASSPULSE_DB_URL"] == url and "CLASSPULSE_SOURCE" not in request.env
    assert "pa55word" not in json.dumps({**json.loads(request.to_line()), "env": None})


@pytest.mark.parametrize(("max_faces", "expected"), [(None, None), (60, 60)])
def test_the_face_limit_is_in_the_request_only_when_the_form_set_one(max_faces, expected):
    launch = control.LessonLaunch("Maths", "7A", "0", 2.0, max_faces=max_faces)
    assert _request(launch).max_faces == expected
    stored = control.EngineHandle(1, "l", "t", launch).to_json()
    assert control.EngineHandle.from_json(stored).launch.max_faces == max_faces


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


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the engine process did not get there")
        time.sleep(0.05)


def test_a_started_engine_is_found_again_and_stops_through_its_stop_file(tmp_path, monkeypatch):
    standin(monkeypatch, started(12))
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    try:
        assert control.find_engine(tmp_path) == handle  # as after a page reload: from the state file
        assert handle.started_s == processes.process_ref(handle.pid).started_s
        _wait_for(lambda: control.engine_status(tmp_path).lesson_id == 12)
        with pytest.raises(control.ControlError, match="already running"):
            control.start_engine(control.LessonLaunch("Other", "", "demo"), tmp_path)
    finally:
        assert control.stop_lesson(tmp_path, handle, timeout_s=10)
    # It read its stop file and said so (a terminated process would have written nothing more).
    assert control.status_of(handle).message == "lesson 12 finished: 0 samples (stopped)"
    assert control.find_engine(tmp_path) is None and not processes.is_alive(handle.pid)
    assert not Path(handle.stop_path).exists()  # forgotten with it


def test_engine_status_reads_the_process_and_the_lesson_it_announced(tmp_path, monkeypatch):
    standin(monkeypatch, started(12))
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    try:
        _wait_for(lambda: control.engine_status(tmp_path).lesson_id is not None)
        status = control.engine_status(tmp_path)
        assert (status.handle, status.alive, status.lesson_id, status.message) == (handle, True, 12, None)
        assert status.events == (Started(12, "Maths", "demo"),)
        assert control.engine_for_lesson(tmp_path, 12) == status
        assert control.engine_for_lesson(tmp_path, 13) is None  # lesson 13 runs elsewhere
    finally:
        assert control.stop_lesson(tmp_path, handle, timeout_s=10)
    assert control.engine_status(tmp_path) is None  # stopped and forgotten


@pytest.mark.parametrize(
    ("events", "lesson_id", "message"),
    [
        ([failed("camera 0 cannot be opened")], None, "camera 0 cannot be opened"),
        ([started(3), finished(3, 80, "end_of_source")], 3, "lesson 3 finished: 80 samples (end_of_source)"),
        ([started(3), finished(3, 9, "truncated", "source_lost")], 3,
         "lesson 3 ended early (source_lost): 9 samples (truncated)"),
        ([started(3)], 3, None),  # killed: it never said how it ended
        ([], None, None),  # died before a word
    ],
)  # fmt: skip
def test_an_ended_engine_s_status_says_how_from_its_events(tmp_path, monkeypatch, events, lesson_id, message):
    standin(monkeypatch, *events, exit_code=1)
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    _wait_for(lambda: not processes.is_alive(handle.pid, handle.started_s))
    status = control.engine_status(tmp_path)
    assert (status.alive, status.lesson_id, status.message) == (False, lesson_id, message)


def test_an_engine_that_will_not_stop_is_kept_or_else_terminated(tmp_path, monkeypatch):
    standin(monkeypatch, started(12), stubborn=True)
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    _wait_for(lambda: control.engine_status(tmp_path).lesson_id == 12)
    assert not control.stop_lesson(tmp_path, handle, timeout_s=0.5, force=False)
    assert control.engine_status(tmp_path).alive and Path(handle.stop_path).exists()
    started_at = time.monotonic()
    assert control.stop_lesson(tmp_path, handle, timeout_s=0.5)  # ignores SIGTERM too: killed
    assert time.monotonic() - started_at < processes.KILL_WAIT_S * 2
    assert control.engine_status(tmp_path) is None


def test_engine_status_of_a_dashboard_that_started_none_is_none(tmp_path):
    assert control.engine_status(tmp_path) is None


def test_handle_round_trips_through_json():
    handle = control.EngineHandle(41, "/tmp/x.log", "2025-01-01T00:00:00+00:00",
                                  control.LessonLaunch("T", "G", "demo", 2.0, True), 1700000000.25,
                                  "/tmp/x.events.jsonl", "/tmp/x.stop")  # fmt: skip
    assert control.EngineHandle.from_json(handle.to_json()) == handle


def test_the_state_file_holds_a_stream_url_masked():
    launch = control.LessonLaunch("T", "G", "rtsp://teacher:s3cret@cam.local/live?token=abc")
    handle = control.EngineHandle(41, "/tmp/x.log", "2025-01-01T00:00:00+00:00", launch)
    text = handle.to_json()
    assert "s3cret" not in text and "abc" not in text
    assert control.EngineHandle.from_json(text).launch.source == (
        "rtsp://teacher:***@cam.local/live?token=***"
    )


def test_a_state_file_written_by_an_earlier_dashboard_is_read_without_its_old_fields(tmp_path):
    raw = {"pid": 41, "log_path": "/tmp/x.log", "started_at": "2025-01-01T00:00:00+00:00",
           "start_ticks": 123, "launch": {"title": "T", "group_name": "", "source": "demo", "rate_hz": 2.0,
                                          "attention_only": False, "db_url": "sqlite:///a.db"}}  # fmt: skip
    (tmp_path / control.STATE_FILE).write_text(json.dumps(raw), encoding="utf-8")
    handle = control.load_handle(tmp_path)
    assert handle.launch == control.LessonLaunch("T", "", "demo")
    assert (handle.started_s, handle.events_path, handle.stop_path) == (None, "", "")


def test_a_recycled_pid_is_neither_found_nor_touched(tmp_path):
    # The engine ended long ago and the system gave its pid to another process: leave that one alone.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        stale = control.EngineHandle(
            pid=other.pid, log_path=str(tmp_path / "engine.log"), started_at="2026-01-05T09:00:00+00:00",
            launch=control.LessonLaunch("Maths", "7A", "demo", 2.0, False),
            started_s=processes.process_ref(other.pid).started_s - 60,  # another process's start time
            stop_path=str(tmp_path / "engine.stop"),
        )  # fmt: skip
        (tmp_path / control.STATE_FILE).write_text(stale.to_json(), encoding="utf-8")
        assert control.find_engine(tmp_path) is None
        assert control.stop_engine(stale, timeout_s=1.0)
        assert other.poll() is None and not (tmp_path / "engine.stop").exists()  # never asked or signalled
    finally:
        other.kill()
        other.wait()


# --- uploads last as long as their lesson -----------------------------------------------------


def _uploaded(data_dir) -> control.LessonLaunch:
    video = save_upload(data_dir, "clip.mp4", b"video")
    return control.LessonLaunch("Maths", "7A", str(video))


def _end_by_stop(data_dir, handle) -> None:
    assert control.stop_lesson(data_dir, handle, timeout_s=10)


def _end_by_kill(data_dir, handle) -> None:
    import psutil

    psutil.Process(handle.pid).kill()
    _wait_for(lambda: not control.engine_status(data_dir).alive)


@pytest.mark.parametrize("end", [_end_by_stop, _end_by_kill], ids=["stopped", "killed"])
def test_an_uploaded_video_is_deleted_once_its_engine_has_exited(tmp_path, monkeypatch, end):
    standin(monkeypatch, started(12))
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
    standin(monkeypatch, exit_code=0)
    launch = _uploaded(tmp_path)
    handle = control.start_engine(launch, tmp_path)
    _wait_for(lambda: not processes.is_alive(handle.pid))
    assert control.find_engine(tmp_path) is None  # what the sidebar of every page asks
    assert not Path(launch.source).exists()


def test_a_launch_that_cannot_start_takes_its_upload_with_it(tmp_path, monkeypatch):
    standin(monkeypatch, started(12))
    handle = control.start_engine(control.LessonLaunch("Maths", "7A", "demo"), tmp_path)
    try:
        refused = _uploaded(tmp_path)
        with pytest.raises(control.ControlError, match="already running"):
            control.start_engine(refused, tmp_path)
        assert not Path(refused.source).exists()
    finally:
        control.stop_engine(handle, timeout_s=10)


def test_the_sweep_deletes_leftover_uploads_but_not_the_playing_one_nor_a_fresh_one(tmp_path, monkeypatch):
    standin(monkeypatch, started(12))
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


def test_two_starts_at_once_run_one_engine_and_refuse_the_other(tmp_path, monkeypatch):
    standin(monkeypatch, started(12))
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
