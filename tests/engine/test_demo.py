"""The demo source: a 3x3 gallery clip of real sample media where one student leaves and returns,
the tiles reorder once and one tile shows a still profile photo."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import cv2
import pytest

from engine.demo import (
    DEMO_FPS,
    DEMO_LEAVER,
    DEMO_PHOTO,
    DEMO_REORDER_S,
    DEMO_SECONDS,
    DEMO_SIZE,
    demo_gallery,
    demo_path,
    make_demo,
)
from engine.faces import FaceFinder
from engine.pipeline import EngineSettings, LessonPipeline
from engine.sources import VideoFileSource
from engine.stillness import StillnessSettings
from storage.records import AttentionState
from tests.kit.galleries import tile_at

pytestmark = pytest.mark.slow
STILL_AFTER_S = StillnessSettings().still_after_s


@pytest.fixture(scope="module")
def gallery():
    return demo_gallery()


@pytest.fixture(scope="module")
def demo_run(asset, gallery):
    """Per 1 Hz sample of the demo clip: its time, its result, and each face's student (by tile)."""
    path = make_demo()  # no-op after `make assets`
    assert path == demo_path() and path.stat().st_size > 1_000_000
    source = VideoFileSource(path, 1.0, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    runs = []
    with FaceFinder(asset("face_landmarker.task")) as finder:
        pipeline = LessonPipeline(finder, None, EngineSettings(attention_only=True))
        for frame in source.frames():
            result = pipeline.process(frame)
            tiles = gallery.truth(int(round(frame.t_s * DEMO_FPS)))
            students = [None if (t := tile_at(tiles, face.box)) is None else t.student
                        for face in result.faces]
            runs.append((frame.t_s, result, students))
    source.close()
    return runs


def test_the_clip_is_40_s_of_1280x720_at_10_fps():
    cap = cv2.VideoCapture(str(make_demo()))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    frames, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert (size, frames, fps) == (DEMO_SIZE, int(DEMO_SECONDS * DEMO_FPS), DEMO_FPS)


def test_the_demo_is_composed_the_same_every_time(gallery):
    again = demo_gallery()
    for index in (0, 57, int(DEMO_REORDER_S * DEMO_FPS) + 3, int(DEMO_SECONDS * DEMO_FPS) - 1):
        assert (gallery.render(index) == again.render(index)).all()


def test_demo_shows_nine_students(demo_run):
    t_s, first, students = demo_run[1]
    assert first.sample.faces_detected == 9
    assert sorted(students) == list(range(9))


def test_demo_tiles_reorder_and_every_student_keeps_one_track(demo_run, gallery):
    before = gallery.truth(int((DEMO_REORDER_S - 1) * DEMO_FPS))
    after = gallery.truth(int(DEMO_REORDER_S * DEMO_FPS))
    moved = {t.student for t in before} - {a.student for a, b in zip(after, before, strict=True)
                                             if a.student == b.student}
    assert len(moved) >= 7 and {DEMO_LEAVER, DEMO_PHOTO} <= moved
    tracks_of, students_of = defaultdict(set), defaultdict(set)
    for _, result, students in demo_run:
        assert None not in students  # every face lies in a tile
        for student, track_id in zip(students, result.track_ids, strict=True):
            tracks_of[student].add(track_id)
            students_of[track_id].add(student)
    assert sorted(tracks_of) == list(range(9))
    assert {s: ids for s, ids in tracks_of.items() if len(ids) > 1} == {}
    assert {t: s for t, s in students_of.items() if len(s) > 1} == {}
    seen_after = {s for t, _, students in demo_run if t >= DEMO_REORDER_S for s in students}
    assert seen_after == set(range(9))


def test_demo_student_leaves_and_returns_with_the_same_track(demo_run):
    def leaver_track(result, students):
        ids = [tid for student, tid in zip(students, result.track_ids, strict=True) if student == DEMO_LEAVER]
        return ids[0] if ids else None

    before = leaver_track(*demo_run[2][1:])
    assert before is not None
    away = [t for t, r, s in demo_run if leaver_track(r, s) is None]
    assert away == [float(t) for t in range(int(min(away)), int(max(away)) + 1)]  # one stretch
    assert 2 <= min(away) <= 8 and 12 <= max(away) <= 20
    _, during, _ = next(run for run in demo_run if run[0] == max(away))
    absent = {o.track_id: o.state for o in during.sample.observations}
    assert absent[before] is AttentionState.ABSENT
    assert leaver_track(*demo_run[-1][1:]) == before


def test_demo_profile_photo_reads_camera_off_and_no_live_student_ever_does(demo_run):
    photo_states, live_off = {}, []
    for t_s, result, students in demo_run:
        states = {o.track_id: o.state for o in result.sample.observations}
        for student, track_id in zip(students, result.track_ids, strict=True):
            if student == DEMO_PHOTO:
                photo_states[t_s] = states[track_id]
            elif states[track_id] is AttentionState.CAMERA_OFF:
                live_off.append((t_s, student))
    assert live_off == []  # the returned leaver keeps moving to the clip's end: never a picture
    settled = {t: s for t, s in photo_states.items()
               if STILL_AFTER_S <= t < DEMO_REORDER_S or t >= DEMO_REORDER_S + STILL_AFTER_S}
    assert len(settled) >= 30 and set(settled.values()) == {AttentionState.CAMERA_OFF}
