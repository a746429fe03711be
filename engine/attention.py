"""Attention maths on one face's landmarks: head pose, eye openness, gaze, and the attention state over time."""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, fields
from itertools import pairwise

import numpy as np

from engine import landmarks as lm
from storage.records import AttentionState

ATTENTION_ENV_PREFIX = "CLASSPULSE_ATTENTION_"


@dataclass(frozen=True, slots=True)
class AttentionSettings:
    """Thresholds and windows of the attention and engagement measures; see docs/engagement.md."""

    # Heuristic: about the half-angle a laptop screen subtends at arm's length plus eye movement.
    yaw_limit_deg: float = 25.0
    pitch_limit_deg: float = 20.0
    # Iris offset as a fraction of the half eye width; 0.45 is ~34 deg of eye rotation (heuristic).
    gaze_limit: float = 0.45
    # EAR below ~0.2 reads as closed (Soukupová & Čech 2016; open eyes sit around 0.25-0.35).
    ear_closed: float = 0.2
    # MediaPipe eyeBlink* blendshape score at or above which the model calls the eye closed.
    blink_closed: float = 0.5
    # Blinks last 0.1-0.4 s; a closure of 1 s or more is no blink.
    eyes_closed_min_s: float = 1.0
    # PERCLOS (Wierwille et al. 1994; Dinges & Grace 1998) over a short window, to catch dozing.
    perclos_window_s: float = 3.0
    perclos_fraction: float = 0.5
    # Engagement falls linearly from 100 (frontal) through 50 (at a limit) to 0 at this many limits.
    zero_engagement_at: float = 2.0
    engagement_window_s: float = 10.0
    absent_grace_s: float = 5.0

    def __post_init__(self) -> None:
        for name in (
            "yaw_limit_deg", "pitch_limit_deg", "gaze_limit", "ear_closed", "eyes_closed_min_s",
            "perclos_window_s", "engagement_window_s", "zero_engagement_at",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.blink_closed < 1.0:
            raise ValueError(f"blink_closed must be within (0, 1), got {self.blink_closed}")
        if not 0.0 < self.perclos_fraction <= 1.0:
            raise ValueError(f"perclos_fraction must be within (0, 1], got {self.perclos_fraction}")
        if self.absent_grace_s < 0:
            raise ValueError(f"absent_grace_s must be >= 0, got {self.absent_grace_s}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AttentionSettings:
        """Defaults, each overridden by CLASSPULSE_ATTENTION_<FIELD> when set (e.g. ..._YAW_LIMIT_DEG=30)."""
        environ = os.environ if environ is None else environ
        values: dict[str, float] = {}
        for f in fields(cls):
            name = ATTENTION_ENV_PREFIX + f.name.upper()
            if name not in environ:
                continue
            try:
                value = float(environ[name])
                if not math.isfinite(value):
                    raise ValueError
                values[f.name] = value
                cls(**{f.name: value})  # each check concerns one field
            except ValueError as exc:
                reason = str(exc) if f.name in values else "it must be a finite number"
                raise ValueError(f"{name}={environ[name]!r}: {reason}") from None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class FaceFeatures:
    """What one face shows at one sample, before any temporal smoothing."""

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    eye_openness: float
    eyes_closed_now: bool
    gaze_offset: float


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    """The rotation closest to a 3x3 matrix, dropping any scale the transform carries."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def head_pose_deg(matrix: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll in degrees from MediaPipe's facial transformation matrix.

    The rotation is decomposed as R = Ry(yaw) Rx(-pitch) Rz(-roll) in camera axes (x right, y up,
    z towards the viewer). Yaw > 0: the student turns to their left (nose towards the image right).
    Pitch > 0: looking up. Roll > 0: the head tilts clockwise as seen in the image. Frontal: (0, 0, 0).
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f"matrix must be 4x4, got shape {m.shape}")
    r = _nearest_rotation(m[:3, :3])
    yaw = math.atan2(r[0, 2], r[2, 2])
    pitch = math.asin(float(np.clip(r[1, 2], -1.0, 1.0)))
    roll = math.atan2(-r[1, 0], r[1, 1])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def eye_aspect_ratio(landmarks: np.ndarray, eye_points: tuple[int, ...]) -> float:
    """Eye aspect ratio (Soukupová & Čech 2016): lid gaps over twice the corner distance, in the image plane."""
    p1, p2, p3, p4, p5, p6 = (np.asarray(landmarks[i, :2], dtype=np.float64) for i in eye_points)
    width = float(np.linalg.norm(p1 - p4))
    if width <= 1e-9:
        raise ValueError(f"degenerate eye: corners {eye_points[0]} and {eye_points[3]} coincide")
    return float(np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width)


def _mean_blink(blendshapes: Mapping[str, float]) -> float | None:
    """Mean of MediaPipe's eyeBlinkLeft/eyeBlinkRight scores, None when neither is given."""
    scores = [blendshapes[k] for k in ("eyeBlinkLeft", "eyeBlinkRight") if k in blendshapes]
    return sum(scores) / len(scores) if scores else None


def eye_openness(
    landmarks: np.ndarray, blendshapes: Mapping[str, float], settings: AttentionSettings
) -> float:
    """Mean EAR of both eyes, raised to `ear_closed` when the eyeBlink blendshapes say the eyes are open.

    The eyes read closed (openness < ear_closed) only when the geometry and the blendshape model
    agree, because EAR alone also drops when a student looks down at the desk.
    """
    ear = 0.5 * (
        eye_aspect_ratio(landmarks, lm.RIGHT_EYE_EAR) + eye_aspect_ratio(landmarks, lm.LEFT_EYE_EAR)
    )
    blink = _mean_blink(blendshapes)
    if blink is not None and blink < settings.blink_closed:
        return max(ear, settings.ear_closed)
    return ear


def _iris_offset(landmarks: np.ndarray, corners: tuple[int, int], iris_center: int) -> float:
    """Signed iris offset along one eye's corner axis, as a fraction of the half eye width."""
    a = np.asarray(landmarks[corners[0], :2], dtype=np.float64)
    b = np.asarray(landmarks[corners[1], :2], dtype=np.float64)
    axis = b - a
    width = float(np.linalg.norm(axis))
    if width <= 1e-9:
        raise ValueError(f"degenerate eye: corners {corners[0]} and {corners[1]} coincide")
    iris = np.asarray(landmarks[iris_center, :2], dtype=np.float64)
    return float(np.dot(iris - 0.5 * (a + b), axis)) / (0.5 * width * width)


def gaze_offset(landmarks: np.ndarray) -> float:
    """How far the irises sit from the eye centres sideways: 0 centred, 1 at a corner, both eyes averaged.

    Only the horizontal component is used: vertical gaze is covered by pitch and the lids hide it.
    Averaging the signed offsets cancels convergence (both eyes turning inwards to a near point).
    """
    right = _iris_offset(landmarks, lm.RIGHT_EYE_CORNERS, lm.RIGHT_IRIS_CENTER)
    left = _iris_offset(landmarks, lm.LEFT_EYE_CORNERS, lm.LEFT_IRIS_CENTER)
    return abs(0.5 * (right + left))


def face_features(
    landmarks: np.ndarray,
    blendshapes: Mapping[str, float],
    matrix: np.ndarray,
    settings: AttentionSettings,
) -> FaceFeatures:
    """All per-sample measures of one face from MediaPipe's landmarks, blendshapes and transform."""
    if landmarks.ndim != 2 or landmarks.shape[0] < lm.NUM_LANDMARKS or landmarks.shape[1] < 2:
        raise ValueError(
            f"landmarks must be ({lm.NUM_LANDMARKS}, 2|3), got shape {landmarks.shape}"
        )
    yaw, pitch, roll = head_pose_deg(matrix)
    openness = eye_openness(landmarks, blendshapes, settings)
    return FaceFeatures(
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=roll,
        eye_openness=openness,
        eyes_closed_now=openness < settings.ear_closed,
        gaze_offset=gaze_offset(landmarks),
    )


def deviation(features: FaceFeatures, settings: AttentionSettings) -> float:
    """How far off the screen the student points, in multiples of the nearest limit (1.0 = at a limit)."""
    return max(
        abs(features.yaw_deg) / settings.yaw_limit_deg,
        abs(features.pitch_deg) / settings.pitch_limit_deg,
        features.gaze_offset / settings.gaze_limit,
    )


def attention_state(
    features: FaceFeatures, eyes_closed_sustained: bool, settings: AttentionSettings
) -> AttentionState:
    """The state of a present student: looking away beats eyes closed, since EAR is unreliable past the limits."""
    if deviation(features, settings) > 1.0:
        return AttentionState.LOOKING_AWAY
    if eyes_closed_sustained:
        return AttentionState.EYES_CLOSED
    return AttentionState.ATTENTIVE


class TimeWeightedMean:
    """Time-weighted mean of a signal over the last `window_s` seconds, for irregular sample times.

    Each value stands for the interval since the previous sample (the first value covers no time).
    """

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self._window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, t_s: float, value: float) -> float:
        """Record `value` at `t_s` (non-decreasing) and return the mean over the window ending there."""
        if self._samples and t_s < self._samples[-1][0]:
            raise ValueError(f"time went backwards: {t_s} < {self._samples[-1][0]}")
        self._samples.append((t_s, value))
        start = t_s - self._window_s
        while len(self._samples) > 1 and self._samples[1][0] <= start:
            self._samples.popleft()
        return self.mean()

    def _integral(self) -> tuple[float, float]:
        """Integral of the held signal over the window and the time it covers."""
        start = self._samples[-1][0] - self._window_s
        total = covered = 0.0
        for (t0, _), (t1, v1) in pairwise(self._samples):
            dt = t1 - max(t0, start)
            total += v1 * dt
            covered += dt
        return total, covered

    def mean(self) -> float:
        """Mean over the covered part of the window; the latest value when no time has passed yet."""
        if not self._samples:
            raise ValueError("no samples yet")
        total, covered = self._integral()
        return total / covered if covered > 0 else self._samples[-1][1]

    def window_fraction(self) -> float:
        """Integral over the full window divided by its length: time not yet covered counts as 0."""
        return self._integral()[0] / self._window_s if self._samples else 0.0

    def clear(self) -> None:
        """Forget every sample, so the next one starts a fresh window."""
        self._samples.clear()

    @property
    def latest(self) -> float | None:
        """The last value recorded, None before the first."""
        return self._samples[-1][1] if self._samples else None


class EyeClosureHistory:
    """Whether the eyes have been closed long enough to count: continuously or by PERCLOS over a window."""

    def __init__(self, settings: AttentionSettings) -> None:
        self._settings = settings
        self._perclos = TimeWeightedMean(settings.perclos_window_s)
        self._closed_since_s: float | None = None

    def update(self, t_s: float, closed_now: bool) -> bool:
        """Record one sample; True when closure is sustained (never for a single ordinary blink)."""
        self._perclos.add(t_s, 1.0 if closed_now else 0.0)
        if not closed_now:
            self._closed_since_s = None
        elif self._closed_since_s is None:
            self._closed_since_s = t_s
        continuous = (
            self._closed_since_s is not None
            and t_s - self._closed_since_s >= self._settings.eyes_closed_min_s
        )
        return continuous or self.perclos > self._settings.perclos_fraction

    def clear(self) -> None:
        """Forget the history, e.g. when the face is lost, so a gap is never read as closure."""
        self._perclos.clear()
        self._closed_since_s = None

    @property
    def perclos(self) -> float:
        """Fraction of the last PERCLOS window with the eyes closed; time not yet observed counts as open."""
        return self._perclos.window_fraction()
