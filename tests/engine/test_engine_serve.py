"""The real engine, started and stopped through the process module as the dashboard does: handed its
start request on stdin, stopped by its stop file (no --max-seconds, no signal), it finishes its
lesson with every sample up to the stop stored."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import processes
from engine.protocol import Finished, Started, StartRequest, read_events
from storage.db import dispose_engines, open_database
from storage.schema import Lesson, SampleRow

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
START_S = 180.0  # loading MediaPipe on a busy machine; the poll ends as soon as it is up
RATE_HZ = 2.0


def _samples(url: str) -> int:
    with open_database(url).connect() as conn:
        return conn.execute(select(func.count()).select_from(SampleRow)).scalar_one()


def test_the_real_engine_stopped_through_its_stop_file_finishes_with_its_last_samples(tmp_path):
    url = f"sqlite:///{tmp_path / 'lesson.db'}"
    open_database(url)  # migrated before the engine starts, so the test can count as it runs
    events, stop = tmp_path / "engine.events.jsonl", tmp_path / "engine.stop"
    request = StartRequest("Stopped", "demo", rate_hz=RATE_HZ, attention_only=True, realtime=True,
                           loop=True, events_path=str(events), stop_path=str(stop),
                           env={**os.environ, "CLASSPULSE_DB_URL": url}, cwd=str(ROOT))  # fmt: skip
    process = processes.spawn_detached([sys.executable, "-m", "engine", "serve"],
                                       log_path=tmp_path / "engine.log", cwd=ROOT, env=request.env)  # fmt: skip
    process.stdin.write(request.to_line())
    process.stdin.close()
    engine = processes.process_ref(process.pid)
    try:
        deadline = time.monotonic() + START_S
        while not read_events(events) or _samples(url) < 6:  # started, and a few seconds in
            assert processes.is_alive(engine.pid, engine.started_s), (tmp_path / "engine.log").read_text()
            assert time.monotonic() < deadline, "no lesson within the start time"
            time.sleep(0.2)
        stored_before = _samples(url)
        asked_at = datetime.now(UTC)
        # force=False: only the stop file ends it; a kill would leave the lesson running.
        assert processes.stop_process(engine, stop, grace_s=60, force=False)
    finally:
        processes.stop_process(engine, stop, grace_s=0)
    said = read_events(events)
    assert said[0] == Started(1, "Stopped", "demo gallery clip")
    ending = said[-1]
    assert isinstance(ending, Finished) and (ending.lesson_id, ending.status, ending.reason) == (
        1, "finished", "stopped")  # fmt: skip
    with open_database(url).connect() as conn:
        status, ended_at = conn.execute(select(Lesson.status, Lesson.ended_at)).one()
        count = conn.execute(select(func.count()).select_from(SampleRow)).scalar_one()
        last_ts = conn.execute(select(SampleRow.ts).order_by(SampleRow.ts.desc()).limit(1)).scalar_one()
    dispose_engines()
    assert status == "finished"
    assert count == ending.samples >= stored_before and ending.dropped == 0  # nothing lost on the way out
    # The samples taken up to the stop are stored (the recorder's last batch flushed), and the lesson
    # ends one sample period after its last sample at most.
    assert last_ts >= asked_at - timedelta(seconds=2)
    assert timedelta(0) <= ended_at - last_ts <= timedelta(seconds=1 / RATE_HZ)


def test_an_engine_stopped_while_it_loads_records_no_lesson(tmp_path):
    url = f"sqlite:///{tmp_path / 'lesson.db'}"
    events, stop = tmp_path / "engine.events.jsonl", tmp_path / "engine.stop"
    request = StartRequest("Too soon", "demo", attention_only=True, realtime=True, loop=True,
                           events_path=str(events), stop_path=str(stop),
                           env={**os.environ, "CLASSPULSE_DB_URL": url}, cwd=str(ROOT))  # fmt: skip
    process = processes.spawn_detached([sys.executable, "-m", "engine", "serve"],
                                       log_path=tmp_path / "engine.log", cwd=ROOT, env=request.env)  # fmt: skip
    process.stdin.write(request.to_line())
    process.stdin.close()
    engine = processes.process_ref(process.pid)
    assert processes.stop_process(engine, stop, grace_s=START_S, force=False)  # asked at once
    assert read_events(events) == [Finished(None, "finished", 0, "stopped")]
    with open_database(url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(Lesson)).scalar_one() == 0
    dispose_engines()
