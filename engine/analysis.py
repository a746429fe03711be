"""One still image analysed: faces, each face's aligned crop classified, and its attention read.

The one path from a photo to results, used by the photo page, `python -m engine predict` and the
benchmarks. A still has no history, so its attention state takes "eyes closed now" for "eyes closed
for a while".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from engine import images
from engine.attention import AttentionSettings, FaceFeatures, attention_state, face_features
from engine.crops import aligned_face_crop
from storage.records import EXPRESSIONS, AttentionState

if TYPE_CHECKING:
    from engine.faces import FaceLandmarks
    from models.config import ModelConfig

Box = tuple[int, int, int, int]  # x, y, w, h in image pixels


class ImageReadError(ValueError):
    """The file is missing or is not an image OpenCV can read."""


class StillFaceFinder(Protocol):
    """Finds every face of one image (IMAGE mode: nothing carried over from other images)."""

    def find(self, rgb: np.ndarray) -> list[FaceLandmarks]: ...


class StillClassifier(Protocol):
    """Face crops in, (N, 7) probabilities in `labels` order out; its config says where crops are cut."""

    name: str
    labels: Sequence[str]
    cfg: ModelConfig

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class FaceResult:
    """One face of a still: where it is, its landmarks (for drawing), its expression and attention."""

    box: Box
    landmarks: np.ndarray  # (478, 3) float32: x, y in image pixels
    probabilities: Mapping[str, float] | None  # keys in EXPRESSIONS order; None without a classifier
    expression: str | None  # the most likely label
    features: FaceFeatures
    state: AttentionState
    model: str | None  # the classifier's name, stamped on the result


def read_image(path: Path) -> np.ndarray:
    """A BGR image from a file, read within limits (engine.images), or ImageReadError with the reason."""
    try:
        return cv2.cvtColor(images.read_file(path), cv2.COLOR_RGB2BGR)
    except images.ImageRejected as exc:
        raise ImageReadError(str(exc)) from exc


def analyse_image(image_rgb: np.ndarray, finder: StillFaceFinder, classifier: StillClassifier | None,
                  attention: AttentionSettings | None = None) -> list[FaceResult]:
    """Every face of an RGB image, ordered top-left to bottom-right; no expressions without a classifier."""
    return analyse_faces(image_rgb, finder.find(image_rgb), classifier, attention)


def analyse_faces(image_rgb: np.ndarray, faces: Sequence[FaceLandmarks], classifier: StillClassifier | None,
                  attention: AttentionSettings | None = None) -> list[FaceResult]:
    """The results for faces already found in an RGB image, in their order, classified in one batch.

    For callers that run several classifiers over the same faces (the benchmarks); `analyse_image`
    is this after finding the faces.
    """
    if classifier is not None and tuple(classifier.labels) != EXPRESSIONS:
        raise ValueError(f"classifier labels {tuple(classifier.labels)} differ from {EXPRESSIONS}")
    settings = attention or AttentionSettings()
    rows: Sequence[np.ndarray | None] = [None] * len(faces)
    if classifier is not None and faces:
        gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        rows = classifier.predict([aligned_face_crop(gray, face, classifier.cfg) for face in faces])
    return [_result(face, row, classifier, settings) for face, row in zip(faces, rows, strict=True)]


def _result(face: FaceLandmarks, row: np.ndarray | None, classifier: StillClassifier | None,
            settings: AttentionSettings) -> FaceResult:
    features = face_features(face.landmarks, face.blendshapes, face.matrix, settings)
    probabilities = expression = None
    if row is not None:
        probabilities = dict(zip(EXPRESSIONS, map(float, row), strict=True))
        expression = EXPRESSIONS[int(np.argmax(row))]
    return FaceResult(box=tuple(int(v) for v in face.box), landmarks=face.landmarks,
                      probabilities=probabilities, expression=expression, features=features,
                      state=attention_state(features, features.eyes_closed_now, settings),
                      model=None if classifier is None else classifier.name)

