"""`python -m engine run` end to end: real MediaPipe, real weights, a real SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select

from engine.protocol import Failed, Finished, read_events
from storage.records import EXPRESSIONS
from storage.schema import Lesson, ObservationRow, SampleRow

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def engine_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", "run", "--quiet", *args]


def run_engine(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(engine_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def rows(db: Path, stmt):
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return conn.execute(stmt).all()
    finally:
        engine.dispose()


def test_one_face_video_gives_one_track_with_probabilities_at_the_requested_rate(asset, tmp_path):
    db = tmp_path / "lesson.db"
    done = run_engine("--source", str(asset("single_face.mp4")), "--rate", "4", "--lesson", "Maths",
                      "--group", "7B", "--db", f"sqlite:///{db}")
    assert done.returncode == 0, done.stderr
    (lesson,) = rows(db, select(Lesson.status, Lesson.model_name, Lesson.sample_rate_hz, Lesson.group_name))
    assert lesson == ("finished", "minixception-fer2013", 4.0, "7B")
    samples = rows(db, select(SampleRow.ts, SampleRow.faces_detected).order_by(SampleRow.ts))
    assert len(samples) == 10  # 2.4 s of video at 4 Hz: t = 0, 0.25, ..., 2.25
    gaps = np.diff([(s.ts - samples[0].ts).total_seconds() for s in samples])
    assert np.allclose(gaps, 0.25, atol=1 / 30 + 1e-6)  # each sample is the frame at or after its tick
    assert np.isclose(gaps.sum(), 2.25, atol=1 / 30)
    assert samples[0].ts.utcoffset().total_seconds() == 0
    obs = rows(db, select(ObservationRow))
    assert {o.track_id for o in obs} == {1}
    assert all(o.state == "attentive" for o in obs)
    probs = np.array([[getattr(o, f"p_{e}") for e in EXPRESSIONS] for o in obs])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert [o.expression for o in obs] == [EXPRESSIONS[i] for i in probs.argmax(axis=1)]


def test_attention_only_lesson_stores_no_probabilities_and_marks_the_leaver_absent(asset, tmp_path):
    db = tmp_path / "lesson.db"
    done = run_engine("--source", str(asset("face_noface.mov")), "--lesson", "Art", "--attention-only",
                      "--db", f"sqlite:///{db}")
    assert done.returncode == 0, done.stderr
    (lesson,) = rows(db, select(Lesson.attention_only, Lesson.model_name))
    assert lesson.attention_only is True and "attention only" in lesson.model_name
    obs = rows(db, select(ObservationRow).order_by(ObservationRow.ts))
    assert {o.track_id for o in obs} == {1}
    assert all(getattr(o, f"p_{e}") is None for o in obs for e in EXPRESSIONS)
    assert all(o.expression is None for o in obs)
    states = [o.state for o in obs]
    assert states[0] == "attentive" and states[-1] == "absent"
    first_absent = states.index("absent")
    assert set(states[first_absent:]) == {"absent"}  # once gone, gone: no flicker back
    faces = [s.faces_detected for s in rows(db, select(SampleRow.faces_detected).order_by(SampleRow.ts))]
    assert faces[-1] == 0 and len(faces) == len(obs)


def test_unreadable_source_exits_with_one_line_and_creates_no_lesson(tmp_path):
    db = tmp_path / "lesson.db"
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00garbage" * 1000)
    events = tmp_path / "events.jsonl"
    done = run_engine("--source", str(bad), "--lesson", "x", "--db", f"sqlite:///{db}", "--events", str(events))
    assert done.returncode != 0
    message = f"cannot read video {bad}: not a video OpenCV can decode, or corrupt"
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("Error:")]
    assert lines == [f"Error: {message}"]
    assert "Traceback" not in done.stderr
    assert read_events(events) == [Failed(message)]  # what the dashboard shows
    assert rows(db, select(func.count()).select_from(Lesson)) == [(0,)]


def test_a_truncated_video_keeps_its_good_frames_and_ends_the_lesson_as_source_lost(asset, tmp_path):
    db = tmp_path / "lesson.db"
    data = asset("WolfgangLanger_Pexels.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # a recording whose upload broke off half way
    done = run_engine("--source", str(cut), "--lesson", "Cut", "--attention-only", "--db", f"sqlite:///{db}")
    assert done.returncode == 0, done.stderr
    (status, ended) = rows(db, select(Lesson.status, Lesson.ended_at))[0]
    assert status == "source_lost" and ended is not None
    samples = rows(db, select(func.count()).select_from(SampleRow))[0][0]
    assert 0 < samples < 40  # the whole clip gives 40 samples at 2 Hz
    assert f"lesson 1 ended early (source_lost): {samples} samples (truncated)" in done.stderr
    assert "cut.mp4 is truncated or corrupt" in done.stderr


def test_an_engine_that_fails_mid_lesson_marks_it_failed_and_exits_with_one_line(asset, tmp_path):
    from storage.db import dispose_engines, open_database

    db = tmp_path / "lesson.db"
    url = f"sqlite:///{db}"
    with open_database(url).begin() as conn:  # a database that starts refusing writes
        conn.exec_driver_sql("CREATE TRIGGER full_disk BEFORE INSERT ON samples "
                             "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")  # fmt: skip
    dispose_engines()
    events = tmp_path / "events.jsonl"
    done = run_engine("--source", str(asset("single_face.mp4")), "--lesson", "Doomed", "--attention-only",
                      "--db", url, "--events", str(events))
    assert done.returncode == 1, done.stderr
    message = "lesson 1 failed: could not store its samples: database or disk is full"
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("Error:")]
    assert lines == [f"Error: {message}"]
    assert read_events(events)[-1] == Failed(message, 1, cause="database or disk is full")
    assert done.stderr.rstrip().splitlines()[-1] == lines[0]  # the last word, as the dashboard shows it
    (status, ended) = rows(db, select(Lesson.status, Lesson.ended_at))[0]
    assert status == "failed" and ended is not None


def test_a_bad_attention_threshold_exits_with_one_line_and_creates_no_lesson(asset, tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSPULSE_ATTENTION_EAR_CLOSED", "0")
    db = tmp_path / "lesson.db"
    done = run_engine("--source", str(asset("single_face.mp4")), "--lesson", "x", "--db", f"sqlite:///{db}")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("Error:")]
    assert lines == ["Error: CLASSPULSE_ATTENTION_EAR_CLOSED='0': ear_closed must be > 0, got 0.0"]
    assert not db.exists() or rows(db, select(func.count()).select_from(Lesson)) == [(0,)]


def wait_for_samples(db: Path, at_least: int, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db.exists():
            try:
                (n,) = rows(db, select(func.count()).select_from(SampleRow))[0]
            except Exception:  # the schema may not exist yet
                n = 0
            if n >= at_least:
                return n
        time.sleep(0.5)
    raise AssertionError(f"engine wrote fewer than {at_least} samples in {timeout_s} s")


def test_sigterm_flushes_and_finishes_and_a_killed_engine_is_marked_interrupted(tmp_path):
    db = tmp_path / "lesson.db"
    env = {**os.environ, "CLASSPULSE_RATE_HZ": "2"}
    events = tmp_path / "events.jsonl"
    demo = subprocess.Popen(engine_cmd("--source", "demo", "--realtime", "--lesson", "live", "--attention-only",
                                       "--db", f"sqlite:///{db}", "--events", str(events)), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for_samples(db, 3)
    demo.send_signal(signal.SIGTERM)  # as a terminal's Ctrl-C or `kill` would (engine.processes)
    _, err = demo.communicate(timeout=60)
    assert demo.returncode == 0, err
    (status, ended) = rows(db, select(Lesson.status, Lesson.ended_at).where(Lesson.id == 1))[0]
    assert status == "finished" and ended is not None
    ending = read_events(events)[-1]
    assert isinstance(ending, Finished) and ending.reason == "stopped"
    reported = ending.samples
    assert rows(db, select(func.count()).select_from(SampleRow))[0][0] == reported  # nothing lost

    killed = subprocess.Popen(engine_cmd("--source", "demo", "--realtime", "--lesson", "killed",
                                         "--attention-only", "--db", f"sqlite:///{db}"),
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_samples(db, reported + 2)
    killed.kill()
    killed.wait(timeout=30)
    assert rows(db, select(Lesson.status).where(Lesson.id == 2)) == [("running",)]
    again = run_engine("--source", "demo", "--lesson", "next", "--attention-only", "--max-seconds", "1",
                       "--db", f"sqlite:///{db}")
    assert again.returncode == 0, again.stderr
    assert rows(db, select(Lesson.status).order_by(Lesson.id)) == [("finished",), ("interrupted",), ("finished",)]


def test_on_a_loaded_machine_the_demos_samples_span_the_lesson_from_its_start_to_its_end(tmp_path):
    """The demo plays in real time as in a live lesson, while two processes keep both cores busy: a
    machine that cannot keep up skips frames, so the samples still cover the lesson's whole time."""
    db = tmp_path / "lesson.db"
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        done = run_engine("--source", "demo", "--realtime", "--loop", "--rate", "2", "--max-seconds", "20",
                          "--lesson", "busy", "--db", f"sqlite:///{db}")
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert done.returncode == 0, done.stderr
    ((started, ended, status),) = rows(db, select(Lesson.started_at, Lesson.ended_at, Lesson.status))
    times = [ts for (ts,) in rows(db, select(SampleRow.ts).order_by(SampleRow.ts))]
    period_s = 1 / 2
    assert status == "finished" and len(times) >= 2
    assert times[0] == started  # the lesson starts at its first sample, not before the models load
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    # A machine slower than the asked rate takes fewer samples, spaced by what it manages (the
    # engine says so): never a stall, and no sample is late by more than one such spacing.
    longest = max(gaps)
    assert all(gap > 0 for gap in gaps) and longest < 5.0
    assert 0 <= (ended - times[-1]).total_seconds() <= max(period_s, longest)
    # 20 s of lesson, 20 s of data: the span falls short of it by one sample spacing at most (a
    # demo played slower than real time would cover a fraction of it)
    assert (times[-1] - times[0]).total_seconds() >= 20 - max(period_s, longest)
