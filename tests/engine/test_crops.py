"""The classifier's crop: cut where and as the classifier's checkpoint config says."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.crops import CropGeometry, aligned_face_crop, crop_geometry
from engine.faces import FaceLandmarks
from models.config import ModelConfig

CFG = ModelConfig(arch="x", name="x", input_size=(1, 64, 64))
RIGHT_EYE, LEFT_EYE = np.array([70.0, 90.0]), np.array([130.0, 110.0])  # eye line tilted by ~18 degrees


def tilted_face(box=(50, 50, 100, 100)) -> tuple[np.ndarray, FaceLandmarks]:
    """A grey frame with two bright eyes on a tilted line, and a face whose iris landmarks sit on them."""
    gray = np.zeros((200, 200), np.uint8)
    for x, y in (RIGHT_EYE, LEFT_EYE):
        cv2.circle(gray, (int(x), int(y)), 4, 255, -1)
    landmarks = np.zeros((478, 3), np.float32)
    landmarks[468, :2], landmarks[473, :2] = RIGHT_EYE, LEFT_EYE
    return gray, FaceLandmarks(box=box, score=1.0, landmarks=landmarks)


def eye_rows(crop: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(crop > 128)
    half = crop.shape[1] / 2
    return ys[xs < half].mean(), ys[xs >= half].mean()


def test_aligned_crop_levels_the_eye_line() -> None:
    gray, face = tilted_face()
    crop = aligned_face_crop(gray, face, CFG)
    assert crop.shape == (100, 100)
    left, right = eye_rows(crop)
    assert abs(left - right) < 1.5


def test_without_alignment_the_crop_keeps_the_eye_line_as_it_is() -> None:
    gray, face = tilted_face()
    crop = aligned_face_crop(gray, face, CFG.with_(align_eyes=False))
    left, right = eye_rows(crop)
    assert right - left == pytest.approx(LEFT_EYE[1] - RIGHT_EYE[1], abs=1.5)
    np.testing.assert_array_equal(crop, gray[50:150, 50:150])  # no rotation: the box itself


@pytest.mark.parametrize(("box", "margin", "side"), [
    ((50, 50, 100, 100), 1.0, 100),
    ((50, 50, 100, 100), 1.4, 140),
    ((50, 60, 80, 100), 1.2, 120),  # the larger side counts
    ((90, 90, 4, 4), 1.0, 8),  # never below 8 px
])
def test_crop_side_is_the_configs_margin_times_the_larger_box_side(box, margin, side) -> None:
    _, face = tilted_face(box)
    geometry = crop_geometry(face, CFG.with_(crop_margin=margin))
    x, y, w, h = box
    assert (geometry.cx, geometry.cy, geometry.side) == (x + w / 2, y + h / 2, side)


def test_geometry_angle_follows_the_eye_line_only_when_aligning() -> None:
    _, face = tilted_face()
    assert crop_geometry(face, CFG).angle_deg == pytest.approx(np.degrees(np.arctan2(20, 60)))
    assert crop_geometry(face, CFG.with_(align_eyes=False)).angle_deg == 0.0


@pytest.mark.parametrize(("other", "close"), [
    (CropGeometry(100.0, 100.0, 100, 0.0), True),
    (CropGeometry(103.0, 100.0, 100, 0.0), True),
    (CropGeometry(105.0, 100.0, 100, 0.0), False),  # moved 5 % of the side
    (CropGeometry(100.0, 100.0, 106, 0.0), False),
    (CropGeometry(100.0, 100.0, 100, 2.5), False),
])
def test_close_to_allows_4_percent_of_the_side_and_2_degrees(other, close) -> None:
    assert CropGeometry(100.0, 100.0, 100, 0.0).close_to(other) is close
