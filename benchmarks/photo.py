"""ClassPulse on one still photo: its subject's face (the largest), classifier crop and attention verdict."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from benchmarks.metrics import largest_box_index
from engine.attention import AttentionSettings, attention_state, deviation, face_features
from engine.faces import FaceFinder, FaceLandmarks, aligned_face_crop


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the attention stage says of one face in one still: state, eyes closed now, looking away."""

    state: str
    eyes_closed: bool
    looking_away: bool
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    eye_openness: float = 0.0
    gaze_offset: float = 0.0


def subject_face(
    finder: FaceFinder, image_bgr: np.ndarray
) -> tuple[FaceLandmarks | None, list[FaceLandmarks]]:
    """The largest face found (IMAGE mode, nothing carried over from other photos) and all faces."""
    faces = finder.find(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    i = largest_box_index([f.box for f in faces])
    return (None if i is None else faces[i]), faces


def classifier_crop(image_bgr: np.ndarray, face: FaceLandmarks) -> np.ndarray:
    """The crop the engine feeds the classifier (grey, aligned on the eye line)."""
    return aligned_face_crop(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), face)


def verdict(face: FaceLandmarks, settings: AttentionSettings | None = None) -> Verdict:
    """A still's attention verdict; with one frame, 'eyes closed now' stands in for 'closed for a while'."""
    settings = settings or AttentionSettings()
    features = face_features(face.landmarks, face.blendshapes, face.matrix, settings)
    state = attention_state(features, features.eyes_closed_now, settings)
    return Verdict(
        str(state),
        features.eyes_closed_now,
        deviation(features, settings) > 1.0,
        features.yaw_deg,
        features.pitch_deg,
        features.eye_openness,
        features.gaze_offset,
    )
