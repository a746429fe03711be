"""Predict the expressions of every face in a photo: MediaPipe finds faces, the CNN classifies them.

The face finder lives in the engine (it owns MediaPipe); this module only wires the two for the
`python -m models predict` command and the photo-analysis page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.classify import ExpressionModel


class ImageReadError(ValueError):
    """The file is missing or is not an image OpenCV can read."""


@dataclass(frozen=True, slots=True)
class FacePrediction:
    """One face: its (x, y, w, h) box, the probability of each label, and the most likely label."""

    box: tuple[int, int, int, int]
    probabilities: dict[str, float]
    expression: str

    def as_json(self) -> dict[str, object]:
        return {"box": list(self.box), "probabilities": self.probabilities, "expression": self.expression}


def read_image(path: Path) -> np.ndarray:
    """A BGR image from a file, or ImageReadError with the reason."""
    if not Path(path).is_file():
        raise ImageReadError(f"image {path} does not exist")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageReadError(f"{path} is not an image OpenCV can read (JPEG, PNG, BMP, WebP, TIFF)")
    return image


def predict_faces(image_bgr: np.ndarray, classifier: ExpressionModel, finder) -> list[FacePrediction]:
    """Every face's expression in a BGR image, faces ordered top-left to bottom-right."""
    from engine.crops import aligned_face_crop

    faces = finder.find(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    if not faces:
        return []
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    probs = classifier.predict([aligned_face_crop(gray, f, classifier.cfg) for f in faces])
    labels = tuple(classifier.labels)
    return [FacePrediction(box=tuple(int(v) for v in face.box),
                           probabilities={k: round(float(p), 6) for k, p in zip(labels, row, strict=True)},
                           expression=labels[int(np.argmax(row))])
            for face, row in zip(faces, probs, strict=True)]
