"""The demo source: a 3x3 gallery clip of real sample media where one student leaves and returns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.demo import DEMO_GRID, DEMO_SIZE, demo_path, make_demo
from engine.faces import FaceFinder
from engine.gallery import tile_rects
from engine.pipeline import EngineSettings, LessonPipeline
from engine.sources import VideoFileSource
from storage.records import AttentionState

pytestmark = pytest.mark.slow
LEAVER_TILE = 3


def tile_of(box) -> int:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    for i, (x, y, w, h) in enumerate(tile_rects(DEMO_GRID, DEMO_SIZE)):
        if x <= cx < x + w and y <= cy < y + h:
            return i
    return -1


@pytest.fixture(scope="module")
def demo_run(asset):
    path = make_demo()  # no-op after `make assets`
    assert path == demo_path() and path.stat().st_size > 1_000_000
    source = VideoFileSource(path, 1.0, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with FaceFinder(asset("face_landmarker.task")) as finder:
        pipeline = LessonPipeline(finder, None, EngineSettings(attention_only=True))
        results = [(f.t_s, pipeline.process(f)) for f in source.frames()]
    source.close()
    return results


def test_demo_shows_nine_students(demo_run):
    t_s, first = demo_run[1]
    assert first.sample.faces_detected == 9
    assert sorted(tile_of(f.box) for f in first.faces) == list(range(9))


def test_demo_student_leaves_and_returns_with_the_same_track(demo_run):
    def leaver_track(result):
        ids = [tid for face, tid in zip(result.faces, result.track_ids, strict=True)
               if tile_of(face.box) == LEAVER_TILE]
        return ids[0] if ids else None

    before = leaver_track(demo_run[2][1])
    assert before is not None
    away = [t for t, r in demo_run if leaver_track(r) is None]
    assert away == [float(t) for t in range(int(min(away)), int(max(away)) + 1)]  # one stretch
    assert 2 <= min(away) <= 8 and 12 <= max(away) <= 20
    during = next(r for t, r in demo_run if t == max(away))
    absent = {o.track_id: o.state for o in during.sample.observations}
    assert absent[before] is AttentionState.ABSENT
    after = leaver_track(demo_run[-1][1])
    assert after == before
