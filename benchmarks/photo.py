"""ClassPulse on one still photo, as the studies score it: its subject (the largest face), analysed by
the engine's one image path (`engine.analysis`), and the attention verdict of that analysis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from benchmarks.metrics import largest_box_index
from engine.analysis import FaceResult, analyse_faces
from storage.records import AttentionState

if TYPE_CHECKING:
    from engine.analysis import StillClassifier, StillFaceFinder
    from engine.faces import FaceLandmarks


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

    @classmethod
    def of(cls, result: FaceResult) -> Verdict:
        """The verdict of an analysed face (a still: 'eyes closed now' stands in for 'for a while')."""
        f = result.features
        return cls(str(result.state), f.eyes_closed_now, result.state == AttentionState.LOOKING_AWAY,
                   f.yaw_deg, f.pitch_deg, f.eye_openness, f.gaze_offset)


def subject_results(
    finder: StillFaceFinder, image_bgr: np.ndarray, classifiers: Sequence[StillClassifier | None]
) -> tuple[list[FaceResult] | None, list[FaceLandmarks]]:
    """The largest face analysed once per classifier (None: attention only), after one MediaPipe pass
    in IMAGE mode; None when no face is found. Also every face found, for placing occlusions."""
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    faces = finder.find(rgb)
    i = largest_box_index([f.box for f in faces])
    if i is None:
        return None, faces
    return [analyse_faces(rgb, [faces[i]], c)[0] for c in classifiers], faces


def probability_row(result: FaceResult | None) -> np.ndarray | None:
    """An analysed face's probabilities as an array in EXPRESSIONS order (None for a missed face)."""
    if result is None or result.probabilities is None:
        return None
    return np.fromiter(result.probabilities.values(), dtype=np.float64)
