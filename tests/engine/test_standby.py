"""The warm engine: `python -m engine standby` waits, imports done, and becomes the engine it is asked for."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.protocol import Finished, Started, StartRequest, read_events
from engine.standby import READY_LINE, become, wait_for_request

ROOT = Path(__file__).resolve().parents[2]


def standby(*extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "engine", "standby", *extra], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_becoming_the_engine_takes_exactly_the_requests_environment_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", os.environ.copy())  # this process's own stays as it was
    monkeypatch.chdir(ROOT)
    become(StartRequest("Maths", "demo", env={"CLASSPULSE_DB_URL": "sqlite:///x.db", "PATH": "/bin"},
                        cwd=str(tmp_path)))  # fmt: skip
    assert Path.cwd() == tmp_path
    assert dict(os.environ) == {"CLASSPULSE_DB_URL": "sqlite:///x.db", "PATH": "/bin"}


def test_a_request_without_environment_or_folder_leaves_both_as_they_are(monkeypatch):
    monkeypatch.setattr(os, "environ", os.environ.copy())
    monkeypatch.chdir(ROOT)
    before = dict(os.environ)
    become(StartRequest("Maths", "demo"))
    assert Path.cwd() == ROOT and dict(os.environ) == before


def test_the_standby_reads_the_request_line_or_the_end_of_its_input():
    request = StartRequest("Maths", "demo", events_path="e.jsonl")
    assert wait_for_request(io.StringIO(request.to_line())) == request
    assert wait_for_request(io.StringIO("")) is None


@pytest.mark.slow
def test_a_standby_engine_records_the_lesson_it_is_asked_for(tmp_path):
    db = tmp_path / "lesson.db"
    env = dict(os.environ, CLASSPULSE_DB_URL=f"sqlite:///{db}")
    process = standby()
    events = tmp_path / "events.jsonl"
    request = StartRequest("Warm", "demo", max_seconds=2, events_path=str(events), env=env, cwd=str(ROOT))
    out, err = process.communicate(request.to_line(), timeout=240)
    assert process.returncode == 0, err[-2000:]
    assert READY_LINE in err
    started, finished = read_events(events)
    assert started == Started(1, "Warm", "demo gallery clip")
    assert isinstance(finished, Finished) and (finished.lesson_id, finished.status) == (1, "finished")
    with sqlite3.connect(db) as conn:
        (title, status), = conn.execute("SELECT title, status FROM lessons").fetchall()
        (samples,), = conn.execute("SELECT COUNT(*) FROM samples").fetchall()
    assert (title, status) == ("Warm", "finished")
    assert samples >= 2  # 2 s of the demo at the default 2 samples/s, its first and last included


@pytest.mark.slow
def test_a_standby_engine_asked_for_a_bad_source_fails_as_a_fresh_one_does(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00garbage" * 1000)
    env = dict(os.environ, CLASSPULSE_DB_URL=f"sqlite:///{tmp_path / 'lesson.db'}")
    process = standby()
    events = tmp_path / "events.jsonl"
    request = StartRequest("x", str(bad), events_path=str(events), env=env, cwd=str(ROOT))
    _, err = process.communicate(request.to_line(), timeout=240)
    assert process.returncode == 1
    message = f"cannot read video {bad}: not a video OpenCV can decode, or corrupt"
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {message}"]
    assert "Traceback" not in err
    assert [e.text for e in read_events(events)] == [message]  # its `failed` event, for the dashboard


@pytest.mark.slow
def test_a_standby_let_go_of_unused_exits_and_deletes_its_log(tmp_path):
    log = tmp_path / "engine.log"
    log.write_text("")
    process = standby("--discard-log", str(log))
    _, err = process.communicate("", timeout=240)
    assert process.returncode == 0, err[-2000:]
    assert READY_LINE in err and "lesson" not in err.replace("waiting for a lesson", "")
    assert not log.exists()


@pytest.mark.slow
def test_a_garbled_request_ends_the_standby_with_one_line(tmp_path):
    process = standby()
    _, err = process.communicate("hello\n", timeout=240)
    assert process.returncode == 1
    assert [line for line in err.splitlines() if line.startswith("Error:")] == [
        "Error: not a start request: JSONDecodeError"]


def _wait_ready(process: subprocess.Popen[str], log: Path | None = None) -> None:
    """Until the standby has printed its ready line (to its stderr pipe)."""
    line = process.stderr.readline()
    while line and READY_LINE not in line:
        line = process.stderr.readline()
    assert READY_LINE in line


@pytest.mark.slow
def test_a_standby_stopped_by_sigterm_while_waiting_exits_and_deletes_its_log(tmp_path):
    log = tmp_path / "engine.log"
    log.write_text("")
    process = standby("--discard-log", str(log))
    _wait_ready(process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not log.exists()


@pytest.mark.slow
def test_a_standby_given_nothing_within_its_idle_time_exits_and_deletes_its_log(tmp_path):
    log = tmp_path / "engine.log"
    log.write_text("")
    process = standby("--discard-log", str(log), "--idle-exit", "1")
    _wait_ready(process)
    assert process.wait(timeout=30) == 0  # stdin still open: it is the idle time that ended it
    assert not log.exists()
    process.stdin.close()
