"""The image conditions on literal arrays and a crafted landmark set."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from benchmarks.conditions import (
    CONDITIONS,
    CONDITIONS_BY_NAME,
    GLASSES_BGR,
    MASK_BGR,
    add_noise,
    exposure,
    glasses_polygons,
    low_contrast,
    mask_polygon,
)
from engine import landmarks as lm


@pytest.mark.parametrize(
    ("gain", "gamma", "pixels", "expected"),
    [
        (1.0, 1.0, [0, 128, 255], [0, 128, 255]),
        (0.5, 1.0, [0, 100, 255], [0, 50, 128]),
        (2.0, 1.0, [0, 100, 200], [0, 200, 255]),  # highlights clip
        (1.0, 2.0, [0, 51, 255], [0, 10, 255]),
    ],
)
def test_exposure_scales_then_applies_gamma(
    gain: float, gamma: float, pixels: list[int], expected: list[int]
) -> None:
    image = np.array([pixels], np.uint8)
    assert exposure(image, gain, gamma).tolist() == [expected]


def test_low_contrast_pulls_pixels_toward_mid_grey() -> None:
    image = np.array([[0, 128, 255]], np.uint8)
    assert low_contrast(image, 0.5).tolist() == [[64, 128, 192]]


def test_noise_is_repeatable_by_seed_and_keeps_the_mean() -> None:
    image = np.full((64, 64, 3), 128, np.uint8)
    a, b, c = (
        add_noise(image, 20.0, seed=3),
        add_noise(image, 20.0, seed=3),
        add_noise(image, 20.0, seed=4),
    )
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(float(a.mean()) - 128.0) < 1.0
    assert 18.0 < float(a.astype(float).std()) < 22.0


def _face(cx: float = 200.0, cy: float = 200.0, r: float = 100.0) -> np.ndarray:
    """478 points: a round face oval, two eyes 30 px wide at y = cy - 25, nose bridge 197 at the centre."""
    pts = np.zeros((lm.NUM_LANDMARKS, 3), np.float32)
    pts[:, :2] = (cx, cy)
    for k, i in enumerate(lm.FACE_OVAL):
        a = 2 * math.pi * k / len(lm.FACE_OVAL)
        pts[i, :2] = (cx + r * math.sin(a), cy - r * math.cos(a))
    for contour, corners, ex in (
        (lm.RIGHT_EYE, lm.RIGHT_EYE_CORNERS, cx - 40),
        (lm.LEFT_EYE, lm.LEFT_EYE_CORNERS, cx + 40),
    ):
        for k, i in enumerate(contour):
            a = 2 * math.pi * k / len(contour)
            pts[i, :2] = (ex + 15 * math.cos(a), cy - 25 + 5 * math.sin(a))
        pts[corners[0], :2] = (ex - 15, cy - 25)
        pts[corners[1], :2] = (ex + 15, cy - 25)
    pts[197, :2] = (cx, cy)
    return pts


def _filled(polygons: list[np.ndarray]) -> np.ndarray:
    canvas = np.zeros((400, 400), np.uint8)
    cv2.fillPoly(canvas, polygons, 255)
    return canvas > 0


def test_mask_covers_the_lower_face_and_spares_the_eyes() -> None:
    covered = _filled([mask_polygon(_face())])
    assert covered[250, 200] and covered[295, 200]  # mouth and chin
    assert not covered[175, 160] and not covered[175, 240]  # eyes
    assert not covered[150, 200]


def test_glasses_cover_both_eyes_and_leave_mouth_and_chin() -> None:
    covered = _filled(glasses_polygons(_face()))
    assert covered[175, 160] and covered[175, 240]  # eye centres
    assert covered[175, 200]  # the bridge
    assert not covered[250, 200] and not covered[120, 200]


def test_occlusions_paint_their_colour_on_a_copy_only() -> None:
    image = np.full((400, 400, 3), 128, np.uint8)
    masked = CONDITIONS_BY_NAME["mask"].apply(image, [_face()], 0)
    glasses = CONDITIONS_BY_NAME["dark_glasses"].apply(image, [_face()], 0)
    assert tuple(int(v) for v in masked[260, 200]) == MASK_BGR
    assert tuple(int(v) for v in glasses[175, 160]) == GLASSES_BGR
    assert (image == 128).all()


def test_an_occlusion_without_landmarks_leaves_the_image_unchanged() -> None:
    image = np.full((20, 20, 3), 90, np.uint8)
    assert np.array_equal(CONDITIONS_BY_NAME["mask"].apply(image, [], 0), image)


def test_every_condition_keeps_shape_and_dtype_and_clean_is_the_identity() -> None:
    image = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    for cond in CONDITIONS:
        out = cond.apply(image, [_face()], 1)
        assert out.shape == image.shape and out.dtype == np.uint8, cond.name
    assert CONDITIONS[0].name == "clean"
    assert np.array_equal(CONDITIONS[0].apply(image, [_face()], 0), image)
