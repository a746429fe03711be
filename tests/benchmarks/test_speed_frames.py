"""The fer comparison's 16-face gallery: ClassPulse must do there the work fer does, on every face.

A still frame repeated is read, after 3 s, as 16 cameras showing a picture: no expression, so the
label agreement with fer fell from 13-14 of 16 to 0 after the sixth frame and the time compared
less work. The gallery's faces now move; the real pipeline classifies every one at every sample.
"""

from __future__ import annotations

import pytest

from benchmarks.media import lesson_frames, new_finder
from benchmarks.speed import frame_sets
from engine.expressions import load_expression_model
from engine.pipeline import EngineSettings, LessonPipeline
from storage.records import AttentionState
from tests.kit.galleries import moving_gallery_16, sampled_frames, still_gallery_16

pytestmark = pytest.mark.slow
SAMPLES = 10  # 5 s at 2 Hz: past the still-picture check's 3 s


def _classified_faces(images) -> list[tuple[int, int]]:
    """Per sample: (faces found, faces given an expression and not read as a camera that is off)."""
    out = []
    with new_finder() as finder, LessonPipeline(finder, load_expression_model(), EngineSettings()) as pipeline:
        for frame in lesson_frames(images):
            observations = pipeline.process(frame).sample.observations
            seen = [o for o in observations if o.box is not None]
            live = [o for o in seen if o.state is not AttentionState.CAMERA_OFF and o.expression]
            out.append((len(seen), len(live)))
    return out


def test_every_face_of_the_moving_gallery_keeps_its_expression_past_the_still_picture_check() -> None:
    images = [f.image for f in sampled_frames(moving_gallery_16(), 2.0, SAMPLES / 2.0)]
    counts = _classified_faces(images)
    assert len(counts) == SAMPLES
    assert all(found >= 15 and live == found for found, live in counts), counts


def test_a_repeated_still_gallery_loses_every_expression_after_3_s() -> None:
    counts = _classified_faces([still_gallery_16()] * SAMPLES)
    assert all(live >= 15 for _, live in counts[:6]), counts  # before 3 s: like fer
    assert all(live == 0 for _, live in counts[7:]), counts  # after: cameras off, nothing to compare


def test_the_speed_study_compares_on_the_moving_gallery() -> None:
    gallery = frame_sets(one_face=2, gallery=4)[-1]
    assert gallery.name == "16-face moving gallery 1280x720" and len(gallery.frames) == 4
    assert (gallery.frames[0] != gallery.frames[1]).any()
