"""The finder's decisions, from literal boxes (x, y, w, h) and lesson times; no MediaPipe."""

from __future__ import annotations

import pytest

from engine.planner import boxes_to_landmark, discovery_due, is_same_face, lone_face, newcomers

WEBCAM_FACE = (220, 120, 200, 220)  # a face filling much of a 640x480 webcam frame
GALLERY_FACE = (40, 30, 60, 70)  # one small tile's face in a 1280x720 gallery
NEIGHBOUR = (360, 30, 60, 70)  # the next tile's face


@pytest.mark.parametrize(("t_s", "last_discovery_s", "known", "due"), [
    (None, 10.0, [WEBCAM_FACE], True),  # a still photo is always searched
    (0.0, None, [], True),  # the first frame of a lesson
    (0.5, 0.0, [], True),  # nobody known: search every frame until someone is found
    (0.5, 0.0, [WEBCAM_FACE], False),  # known faces are followed between passes
    (1.99, 0.0, [WEBCAM_FACE], False),
    (2.0, 0.0, [WEBCAM_FACE], True),  # the interval is up
    (7.5, 5.0, [GALLERY_FACE, NEIGHBOUR], True),
])
def test_discovery_due(t_s, last_discovery_s, known, due):
    assert discovery_due(t_s, last_discovery_s, known, every_s=2.0) is due


@pytest.mark.parametrize(("known", "width", "height", "followed"), [
    ([WEBCAM_FACE], 640, 480, WEBCAM_FACE),  # a lone webcam face is followed
    ([(0, 0, 72, 40)], 640, 480, (0, 0, 72, 40)),  # its larger side is 15 % of the shorter frame side
    ([(0, 0, 71, 40)], 640, 480, None),  # just under: too small for the landmarker's own detector
    ([GALLERY_FACE], 1280, 720, None),  # a lone gallery face stays on its crop
    ([WEBCAM_FACE, (0, 0, 200, 200)], 640, 480, None),  # two faces: both on crops
    ([], 640, 480, None),
])
def test_lone_face(known, width, height, followed):
    assert lone_face(known, width, height, min_fraction=0.15) == followed


@pytest.mark.parametrize(("found", "expected", "same"), [
    (WEBCAM_FACE, WEBCAM_FACE, True),
    ((240, 130, 200, 220), WEBCAM_FACE, True),  # moved a little between samples
    ((330, 120, 200, 220), WEBCAM_FACE, False),  # moved by half its width: IoU 0.29
    ((0, 0, 100, 100), WEBCAM_FACE, False),  # another face elsewhere in the frame
])
def test_is_same_face(found, expected, same):
    assert is_same_face(found, expected) is same


@pytest.mark.parametrize(("detected", "known", "to_landmark"), [
    ([GALLERY_FACE], [], [GALLERY_FACE]),  # first pass: what the detector found
    ([], [GALLERY_FACE], [GALLERY_FACE]),  # detector found nobody: known faces keep their crops
    ([(42, 31, 60, 70)], [GALLERY_FACE], [(42, 31, 60, 70)]),  # found again: the fresh box only
    ([NEIGHBOUR], [GALLERY_FACE], [NEIGHBOUR, GALLERY_FACE]),  # a turned head the detector missed
    ([], [], []),
])
def test_boxes_to_landmark_after_a_discovery_pass(detected, known, to_landmark):
    assert boxes_to_landmark(detected, known) == to_landmark


@pytest.mark.parametrize(("candidates", "followed", "new"), [
    ([WEBCAM_FACE], WEBCAM_FACE, []),  # the followed face itself needs no crop
    ([(230, 125, 200, 220)], WEBCAM_FACE, []),  # nor its slightly older box
    ([WEBCAM_FACE, (700, 180, 300, 320)], WEBCAM_FACE, [(700, 180, 300, 320)]),  # a newcomer beside it
    ([(380, 120, 200, 220)], WEBCAM_FACE, [(380, 120, 200, 220)]),  # IoU 0.11: someone next to them
    ([], WEBCAM_FACE, []),
])
def test_newcomers(candidates, followed, new):
    assert newcomers(candidates, followed) == new
