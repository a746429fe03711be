"""A writer process and a reader process on one SQLite file at once: no 'database is locked'.

The two processes hand each other two events: the writer starts once the reader has read, and
pauses half way until the reader has seen exactly half the lesson. So reads provably fall between
the writer's first and last commit, shown by what each process recorded, never by timing.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from storage.db import open_database
from storage.lessons import LessonSpec, create_lesson

SAMPLES = 400
FACES = 10
TOTAL = SAMPLES * FACES
FLUSH_EVERY = 20
WAIT_S = 120  # a safety net for a stuck child, not a measure of speed


def _writer(url: str, lesson_id: int, started, reading, saw_half, result) -> None:
    from storage.recorder import Recorder
    from storage.records import AttentionState, Observation, Sample

    try:
        engine = open_database(url)
        if not reading.wait(WAIT_S):
            raise RuntimeError("the reader never read")
        commits = []  # (wall time, observations committed) after each flush
        with Recorder(engine, lesson_id, batch_max=5, flush_interval_s=0.01) as recorder:
            for i in range(SAMPLES):
                ts = started + timedelta(seconds=i / 2)
                obs = tuple(Observation(ts=ts, track_id=t, state=AttentionState.ATTENTIVE, engagement=60.0)
                            for t in range(1, FACES + 1))  # fmt: skip
                recorder.add(
                    Sample(ts=ts, faces_detected=FACES, processing_ms=5.0, observations=obs)
                )
                if i % FLUSH_EVERY == FLUSH_EVERY - 1:
                    recorder.flush()
                    commits.append((time.time(), recorder.observations_written))
                    if recorder.observations_written == TOTAL // 2 and not saw_half.wait(WAIT_S):
                        raise RuntimeError("the reader never saw the half-written lesson")
        result.put(("writer", "ok", commits))
    except Exception as exc:  # reported to the test process
        result.put(("writer", "error", repr(exc)))


def _reader(url: str, lesson_id: int, started, reading, saw_half, result) -> None:
    from storage import queries
    from storage.viewers import Viewer

    EVERYONE = Viewer.everyone()
    try:
        engine = open_database(url)
        reads = []  # (start, end, observations seen) of each round of the dashboard's reads
        seen = 0
        while seen < TOTAL:
            began = time.time()
            frame = queries.lesson_timeline(engine, lesson_id, 10.0, viewer=EVERYONE)
            queries.live_view(
                engine, lesson_id, window_s=5, now=started + timedelta(hours=1), viewer=EVERYONE
            )
            queries.lessons_summary(engine, viewer=EVERYONE)
            seen = int(frame["observations"].sum()) if len(frame) else 0
            reads.append((began, time.time(), seen))
            reading.set()
            if seen == TOTAL // 2:
                saw_half.set()
        result.put(("reader", "ok", reads))
    except Exception as exc:
        result.put(("reader", "error", repr(exc)))


@pytest.fixture
def children() -> Iterator[list[mp.process.BaseProcess]]:
    """Processes the test starts; whatever happens, none outlives it."""
    started: list[mp.process.BaseProcess] = []
    yield started
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(timeout=30)


def test_writer_and_reader_processes_share_one_sqlite_file(tmp_path, children):
    from tests.storage.conftest import T0

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    lesson_id = create_lesson(open_database(url), LessonSpec("shared", "g", T0))
    ctx = mp.get_context("spawn")
    result, reading, saw_half = ctx.Queue(), ctx.Event(), ctx.Event()
    for fn in (_writer, _reader):
        children.append(
            ctx.Process(target=fn, args=(url, lesson_id, T0, reading, saw_half, result))
        )
        children[-1].start()
    outcomes = {}
    for _ in children:
        try:
            who, status, detail = result.get(timeout=300)
        except queue.Empty:
            pytest.fail(f"a child process reported nothing; so far: {outcomes}")
        outcomes[who] = (status, detail)
    assert outcomes["writer"][0] == "ok", outcomes["writer"]
    assert outcomes["reader"][0] == "ok", outcomes["reader"]
    commits, reads = outcomes["writer"][1], outcomes["reader"][1]

    assert [n for _, n in commits] == [FACES * FLUSH_EVERY * k for k in range(1, len(commits) + 1)]
    assert commits[-1][1] == TOTAL
    seen = [n for _, _, n in reads]
    assert seen == sorted(seen) and seen[-1] == TOTAL  # committed data only, never going back
    assert all(n % FACES == 0 for n in seen)  # a sample's faces arrive together or not at all
    assert seen[0] == 0  # the first read came before the first write
    # The reads that saw half the lesson ran while the writer had committed some and not all.
    first_commit, last_commit = commits[0][0], commits[-1][0]
    halfway = [(began, ended) for began, ended, n in reads if n == TOTAL // 2]
    assert halfway, f"no read saw the half-written lesson: {sorted(set(seen))}"
    assert all(began <= last_commit and ended >= first_commit for began, ended in halfway)
