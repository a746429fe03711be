"""Analysing one photo: faces, landmarks, expression probabilities, head pose and eye openness.

The analysis is the engine's one image path (`engine.analysis.analyse_image`); the face finder and
the classifier come from engine/ and models/ through their public functions, imported only when the
photo page first needs them (MediaPipe and torch stay out of every other page). Nothing here
touches the database: a photo is analysed in memory and forgotten.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from engine import images
from engine import landmarks as lm
from engine.analysis import FaceResult, analyse_image
from engine.attention import AttentionSettings

MAX_SIDE_PX = 1600  # larger photos are scaled down first: faster, and plenty for landmarks
BOX_COLOR = (0, 114, 178)  # Okabe-Ito blue (RGB)
FEATURE_COLORS = {  # RGB, Okabe-Ito
    "eyes": (230, 159, 0),
    "eyebrows": (213, 94, 0),
    "nose": (0, 158, 115),
    "mouth": (204, 121, 167),
}
FEATURE_GROUPS = {
    "eyes": ("right_eye", "left_eye", "right_iris", "left_iris"),
    "eyebrows": ("right_eyebrow", "left_eyebrow"),
    "nose": ("nose",),
    "mouth": ("mouth", "mouth_inner"),
}


class PhotoModelError(Exception):
    """The face or expression model cannot be loaded; the message says how to fix it."""


class ImageError(ValueError):
    """The upload is not an image we can read, or one too large to analyse."""


@dataclass(frozen=True)
class PhotoModels:
    """The loaded finder and classifier (None when expressions are off), used under one lock."""

    finder: Any
    classifier: Any | None
    lock: threading.Lock


def load_models(with_expressions: bool) -> PhotoModels:
    """MediaPipe's face finder and the expression CNN, from the asset cache (one-line errors)."""
    from engine.expressions import load_expression_model
    from engine.faces import FaceFinder, FaceModelError
    from models.assets import AssetError, asset_path
    from models.registry import CheckpointError

    try:
        finder = FaceFinder(asset_path("face_landmarker.task"))
        classifier = load_expression_model("minixception") if with_expressions else None
    except (AssetError, FaceModelError, CheckpointError, OSError) as exc:
        raise PhotoModelError(str(exc).splitlines()[0]) from exc
    atexit.register(finder.close)  # MediaPipe's graph threads keep a process alive until closed
    return PhotoModels(finder, classifier, threading.Lock())


def decode_image(data: bytes) -> np.ndarray:
    """An uploaded file's bytes as an RGB array, scaled so its longer side is at most MAX_SIDE_PX.

    Refused with one line (ImageError) before decoding when the file or its picture is over the
    limits of engine.images (the one guard for every image), and when it is truncated or corrupt.
    """
    try:
        return images.decode(data, max_side_px=MAX_SIDE_PX)
    except images.ImageRejected as exc:
        raise ImageError(f"This photo cannot be analysed: {exc}.") from exc


def analyse(rgb: np.ndarray, models: PhotoModels) -> list[FaceResult]:
    """Every face of an RGB photo, ordered top-left to bottom-right."""
    with models.lock:  # MediaPipe graphs are not shared between threads
        return analyse_image(rgb, models.finder, models.classifier, AttentionSettings())


def draw_faces(rgb: np.ndarray, faces: Sequence[FaceResult]) -> np.ndarray:
    """A copy of the photo with each face's box and number, and its eyes, eyebrows, nose and mouth."""
    out = rgb.copy()
    thickness = max(1, round(max(out.shape[:2]) / 600))
    for number, face in enumerate(faces, start=1):
        x, y, w, h = face.box
        cv2.rectangle(out, (x, y), (x + w, y + h), BOX_COLOR, thickness + 1)
        cv2.putText(
            out,
            str(number),
            (x, max(12, y - 6)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 + thickness * 0.3,
            BOX_COLOR,
            thickness + 1,
            cv2.LINE_AA,
        )
        points = face.landmarks[:, :2]
        for feature, groups in FEATURE_GROUPS.items():
            color = FEATURE_COLORS[feature]
            for group in groups:
                for a, b in lm.CONNECTIONS[group]:
                    pa = tuple(int(round(v)) for v in points[a])
                    pb = tuple(int(round(v)) for v in points[b])
                    cv2.line(out, pa, pb, color, thickness, cv2.LINE_AA)
    return out
