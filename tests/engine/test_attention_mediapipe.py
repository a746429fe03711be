"""Attention maths on real MediaPipe output for a real portrait: sign conventions and an open-eyed, attentive face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.attention import AttentionSettings, FaceFeatures, attention_state, face_features
from engine.faces import FaceFinder
from storage.records import AttentionState

SETTINGS = AttentionSettings()


@pytest.fixture(scope="module")
def measure(asset):
    """Features of the one face in single_face.jpg after an optional mirror and in-image rotation."""
    image = cv2.imread(str(asset("single_face.jpg")))
    with FaceFinder(asset("face_landmarker.task")) as finder:

        def get(mirror: bool = False, ccw_deg: float = 0.0) -> tuple[FaceFeatures, np.ndarray]:
            bgr = cv2.flip(image, 1) if mirror else image
            h, w = bgr.shape[:2]
            bgr = cv2.warpAffine(bgr, cv2.getRotationMatrix2D((w / 2, h / 2), ccw_deg, 1.0), (w, h))
            faces = finder.find(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            assert len(faces) == 1
            face = faces[0]
            return face_features(
                face.landmarks, face.blendshapes, face.matrix, SETTINGS
            ), face.landmarks

        yield get


def test_portrait_is_near_frontal_open_eyed_and_attentive(measure) -> None:
    features, _ = measure()
    assert (
        abs(features.yaw_deg) < 15 and abs(features.pitch_deg) < 15 and abs(features.roll_deg) < 10
    )
    assert not features.eyes_closed_now
    assert features.gaze_offset < SETTINGS.gaze_limit
    assert attention_state(features, False, SETTINGS) is AttentionState.ATTENTIVE


def test_yaw_sign_follows_the_nose_towards_the_image_right(measure) -> None:
    for mirror in (False, True):
        features, points = measure(mirror=mirror)
        eye_mid_x = (points[33, 0] + points[263, 0]) / 2
        assert np.sign(features.yaw_deg) == np.sign(points[1, 0] - eye_mid_x)


def test_mirroring_flips_yaw_and_roll(measure) -> None:
    plain, _ = measure()
    mirrored, _ = measure(mirror=True)
    assert mirrored.yaw_deg == pytest.approx(-plain.yaw_deg, abs=3.0)
    assert mirrored.roll_deg == pytest.approx(-plain.roll_deg, abs=3.0)


@pytest.mark.parametrize("ccw_deg", [15.0, -15.0])
def test_turning_the_image_counterclockwise_lowers_roll(measure, ccw_deg: float) -> None:
    plain, _ = measure()
    turned, _ = measure(ccw_deg=ccw_deg)
    assert turned.roll_deg - plain.roll_deg == pytest.approx(-ccw_deg, abs=5.0)
