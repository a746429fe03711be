"""A writer process and a reader process on one SQLite file at once: no 'database is locked'."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta

from storage.db import open_database
from storage.lessons import LessonSpec, create_lesson

SAMPLES = 400


def _writer(url: str, lesson_id: int, started, result) -> None:
    from storage.recorder import Recorder
    from storage.records import AttentionState, Observation, Sample

    try:
        engine = open_database(url)
        with Recorder(engine, lesson_id, batch_max=5, flush_interval_s=0.01) as recorder:
            for i in range(SAMPLES):
                ts = started + timedelta(seconds=i / 2)
                obs = tuple(Observation(ts=ts, track_id=t, state=AttentionState.ATTENTIVE, engagement=60.0)
                            for t in range(1, 11))  # fmt: skip
                recorder.add(Sample(ts=ts, faces_detected=10, processing_ms=5.0, observations=obs))
                if i % 20 == 0:
                    recorder.flush()
        result.put(("writer", "ok", SAMPLES))
    except Exception as exc:  # reported to the test process
        result.put(("writer", "error", repr(exc)))


def _reader(url: str, lesson_id: int, started, result) -> None:
    from storage import queries

    try:
        engine = open_database(url)
        reads, seen = 0, 0
        while seen < SAMPLES * 10:
            frame = queries.lesson_timeline(engine, lesson_id, 10.0)
            queries.live_view(engine, lesson_id, window_s=5, now=started + timedelta(hours=1))
            queries.lessons_summary(engine)
            seen = int(frame["observations"].sum()) if len(frame) else 0
            reads += 1
        result.put(("reader", "ok", reads))
    except Exception as exc:
        result.put(("reader", "error", repr(exc)))


def test_writer_and_reader_processes_share_one_sqlite_file(tmp_path):
    from tests.storage.conftest import T0

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    lesson_id = create_lesson(open_database(url), LessonSpec("shared", "g", T0))
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    processes = [
        ctx.Process(target=fn, args=(url, lesson_id, T0, result)) for fn in (_writer, _reader)
    ]
    for process in processes:
        process.start()
    outcomes = {}
    for _ in processes:
        who, status, detail = result.get(timeout=300)
        outcomes[who] = (status, detail)
    for process in processes:
        process.join(timeout=60)
    assert outcomes["writer"] == ("ok", SAMPLES), outcomes
    assert outcomes["reader"][0] == "ok", outcomes
    assert outcomes["reader"][1] >= 1
