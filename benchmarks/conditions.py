"""Controlled image conditions for the robustness study: exposure, contrast, noise and occlusions.

Each condition is a pure function of a uint8 BGR image (and, for the occlusions, the face landmarks found
on the clean image, in pixels), so a condition is the same on every run and testable with literal arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine import landmarks as lm

MASK_BGR = (235, 215, 190)  # a pale blue surgical mask
GLASSES_BGR = (18, 18, 18)  # dark sunglasses


def exposure(image: np.ndarray, gain: float, gamma: float = 1.0) -> np.ndarray:
    """Exposure change: 255 * clip(gain * x / 255) ** gamma; gain < 1 darkens, > 1 brightens and clips."""
    x = np.clip(image.astype(np.float32) * (gain / 255.0), 0.0, 1.0)
    return np.clip(np.rint(255.0 * x**gamma), 0, 255).astype(np.uint8)


def low_contrast(image: np.ndarray, factor: float = 0.3, centre: float = 128.0) -> np.ndarray:
    """Pull every pixel toward `centre` by `factor` (0.3 keeps 30 % of the contrast): haze, a washed-out webcam."""
    out = centre + factor * (image.astype(np.float32) - centre)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def add_noise(image: np.ndarray, sigma: float = 20.0, seed: int = 0) -> np.ndarray:
    """Additive Gaussian sensor noise of standard deviation `sigma` grey levels, seeded so runs repeat."""
    rng = np.random.default_rng(seed)
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def mask_polygon(landmarks: np.ndarray) -> np.ndarray:
    """A face mask's outline: the face-oval points below the nose bridge, plus the bridge point (int32 (K, 2))."""
    bridge_y = float(landmarks[197, 1])  # mid nose bridge, where a worn mask's upper edge sits
    oval = landmarks[list(lm.FACE_OVAL), :2]
    lower = oval[oval[:, 1] >= bridge_y]
    points = np.vstack([lower, landmarks[[197], :2]])
    return cv2.convexHull(np.rint(points).astype(np.int32)).reshape(-1, 2)


def glasses_polygons(
    landmarks: np.ndarray, width: float = 1.6, height: float = 1.1
) -> list[np.ndarray]:
    """Two lenses (ellipses `width` x `height` eye-widths about each eye, tilted with the eye line) and the
    bridge between them (int32 (K, 2) each)."""
    polygons = []
    corners_r, corners_l = (
        landmarks[list(lm.RIGHT_EYE_CORNERS), :2],
        landmarks[list(lm.LEFT_EYE_CORNERS), :2],
    )
    dx, dy = corners_l.mean(axis=0) - corners_r.mean(axis=0)
    angle_deg = int(round(float(np.degrees(np.arctan2(dy, dx)))))
    for eye, corners in ((lm.RIGHT_EYE, corners_r), (lm.LEFT_EYE, corners_l)):
        centre = landmarks[list(eye), :2].mean(axis=0)
        eye_w = max(2.0, float(np.linalg.norm(corners[1] - corners[0])))
        axes = (int(round(eye_w * width / 2)), int(round(eye_w * height / 2)))
        polygons.append(
            cv2.ellipse2Poly(
                (int(round(centre[0])), int(round(centre[1]))), axes, angle_deg, 0, 360, 10
            ).astype(np.int32)
        )
    inner_r, inner_l = landmarks[133, :2], landmarks[362, :2]
    half = max(2.0, 0.08 * float(np.linalg.norm(inner_l - inner_r)))
    bridge = np.rint(
        [inner_r + (0, -half), inner_l + (0, -half), inner_l + (0, half), inner_r + (0, half)]
    )
    return [*polygons, bridge.astype(np.int32)]


def paint(
    image: np.ndarray, polygons: Sequence[np.ndarray], bgr: tuple[int, int, int]
) -> np.ndarray:
    """A copy of the image with the polygons filled in one colour."""
    out = image.copy()
    cv2.fillPoly(out, [np.asarray(p, np.int32) for p in polygons], bgr, lineType=cv2.LINE_AA)
    return out


@dataclass(frozen=True, slots=True)
class Condition:
    """A named condition: `apply(image, landmarks_of_each_face, seed)`; landmarks may be empty for global ones."""

    name: str
    description: str
    apply: Callable[[np.ndarray, Sequence[np.ndarray], int], np.ndarray]
    needs_landmarks: bool = False


def _occlude(polygons: Callable[[np.ndarray], list[np.ndarray]], bgr: tuple[int, int, int]):
    def apply(image: np.ndarray, faces: Sequence[np.ndarray], seed: int) -> np.ndarray:
        out = image
        for points in faces:
            out = paint(out, polygons(points), bgr)
        return out

    return apply


CONDITIONS: tuple[Condition, ...] = (
    Condition("clean", "the image as it is", lambda im, f, s: im),
    Condition(
        "dark", "under-exposed: gain 0.35, gamma 1.5", lambda im, f, s: exposure(im, 0.35, 1.5)
    ),
    Condition(
        "bright",
        "over-exposed: gain 1.8, gamma 0.7 (highlights clip)",
        lambda im, f, s: exposure(im, 1.8, 0.7),
    ),
    Condition(
        "low_contrast",
        "30 % of the contrast, about mid-grey",
        lambda im, f, s: low_contrast(im, 0.3),
    ),
    Condition(
        "noise", "Gaussian noise, sigma 20 grey levels", lambda im, f, s: add_noise(im, 20.0, s)
    ),
    Condition(
        "mask",
        "a face mask from the nose bridge to the chin (clean-image landmarks)",
        _occlude(lambda p: [mask_polygon(p)], MASK_BGR),
        needs_landmarks=True,
    ),
    Condition(
        "dark_glasses",
        "dark glasses over both eyes (clean-image landmarks)",
        _occlude(glasses_polygons, GLASSES_BGR),
        needs_landmarks=True,
    ),
)
CONDITIONS_BY_NAME = {c.name: c for c in CONDITIONS}
