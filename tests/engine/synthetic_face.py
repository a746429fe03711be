"""Builders of crafted MediaPipe-shaped inputs: a 478-point face with chosen eye openness and gaze, and pose matrices."""

from __future__ import annotations

import math

import numpy as np

from engine import landmarks as lm

EYE_WIDTH_PX = 30.0
EYE_Y_PX = 200.0
RIGHT_EYE_X_PX = 270.0  # student's right eye: image left
LEFT_EYE_X_PX = 340.0


def _place_eye(
    points: np.ndarray,
    ear_points: tuple[int, ...],
    iris: tuple[int, ...],
    x0: float,
    ear: float,
    gaze: float,
) -> None:
    """Put one eye's EAR points (corners at x0 and x0+width) and its iris (centre first) into `points`."""
    w, half_gap = EYE_WIDTH_PX, ear * EYE_WIDTH_PX / 2
    p1, p2, p3, p4, p5, p6 = ear_points
    points[p1, :2] = (x0, EYE_Y_PX)
    points[p4, :2] = (x0 + w, EYE_Y_PX)
    points[p2, :2] = (x0 + w / 3, EYE_Y_PX - half_gap)
    points[p3, :2] = (x0 + 2 * w / 3, EYE_Y_PX - half_gap)
    points[p6, :2] = (x0 + w / 3, EYE_Y_PX + half_gap)
    points[p5, :2] = (x0 + 2 * w / 3, EYE_Y_PX + half_gap)
    cx, cy = x0 + w / 2 + gaze * w / 2, EYE_Y_PX
    points[iris[0], :2] = (cx, cy)
    for k, i in enumerate(iris[1:]):
        angle = k * math.pi / 2
        points[i, :2] = (cx + 5 * math.cos(angle), cy + 5 * math.sin(angle))


def face_landmarks(
    ear: float = 0.3, gaze: float = 0.0, left_gaze: float | None = None
) -> np.ndarray:
    """A (478, 3) float32 face in frame pixels with both eyes at `ear` and irises shifted by `gaze`.

    `gaze` moves each iris towards the image right by that fraction of the half eye width;
    `left_gaze` overrides it for the student's left eye.
    """
    points = np.zeros((lm.NUM_LANDMARKS, 3), dtype=np.float32)
    points[:, :2] = (320.0, 260.0)
    _place_eye(
        points, lm.RIGHT_EYE_EAR, (lm.RIGHT_IRIS_CENTER, *lm.RIGHT_IRIS), RIGHT_EYE_X_PX, ear, gaze
    )
    _place_eye(
        points, lm.LEFT_EYE_EAR, (lm.LEFT_IRIS_CENTER, *lm.LEFT_IRIS), LEFT_EYE_X_PX, ear,
        gaze if left_gaze is None else left_gaze,
    )  # fmt: skip
    return points


def axis_rotation(axis: tuple[float, float, float], angle_deg: float) -> np.ndarray:
    """3x3 right-handed rotation about `axis` (Rodrigues), independent of any Euler convention."""
    k = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    a = math.radians(angle_deg)
    return np.eye(3) + math.sin(a) * kx + (1 - math.cos(a)) * kx @ kx


def pose_matrix(rotation: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """A 4x4 facial transformation matrix: `rotation` (times `scale`) and the face 50 units in front."""
    m = np.eye(4)
    m[:3, :3] = scale * rotation
    m[:3, 3] = (0.0, 0.0, -50.0)
    return m


def euler_pose_matrix(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Pose matrix for R = Ry(yaw) Rx(-pitch) Rz(-roll), the composition head_pose_deg documents."""
    r = (
        axis_rotation((0, 1, 0), yaw_deg)
        @ axis_rotation((1, 0, 0), -pitch_deg)
        @ axis_rotation((0, 0, 1), -roll_deg)
    )
    return pose_matrix(r)


FRONTAL = pose_matrix(np.eye(3))
