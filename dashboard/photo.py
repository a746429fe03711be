"""Analysing one photo: faces, landmarks, expression probabilities, head pose and eye openness.

The analysis is the engine's one image path (`engine.analysis.analyse_image`); the face finder and
the classifier come from engine/ and models/ through their public functions, imported only when the
photo page first needs them (MediaPipe and torch stay out of every other page). Nothing here
touches the database: a photo is analysed in memory and forgotten.
"""

from __future__ import annotations

import atexit
import io
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from engine import landmarks as lm
from engine.analysis import FaceResult, analyse_image
from engine.attention import AttentionSettings

MAX_SIDE_PX = 1600  # larger photos are scaled down first: faster, and plenty for landmarks
# A photo's size is read from its header and refused above this, before any pixel is decoded: a
# 389 KB PNG once took 2.3 GB to decode. 50 MP still takes a 48-megapixel phone photo (8064 x
# 6048); decoded in full it is at most 150 MB of RGB (JPEGs are decoded reduced, far less).
MAX_PIXELS = 50_000_000
MAX_PHOTO_MB = 50  # a 48-megapixel JPEG is 10-25 MB; the photo widgets refuse more
_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
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


TOO_LARGE = (
    f"this photo is over {MAX_PIXELS // 1_000_000} megapixels, more than can be analysed; "
    "scale it down first"
)
UNREADABLE = "this file is not an image that can be read (use JPEG, PNG or WebP)"


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


def image_size(data: bytes) -> tuple[int, int]:
    """A photo's width and height from its file header; no pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:
                return header.size
    except Image.DecompressionBombError as exc:  # Pillow's own ceiling, far above ours
        raise ImageError(TOO_LARGE) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(UNREADABLE) from exc


def decode_image(data: bytes) -> np.ndarray:
    """An uploaded file's bytes as an RGB array, scaled so its longer side is at most MAX_SIDE_PX.

    Refused with one line (ImageError) before decoding when the file is over MAX_PHOTO_MB or its
    header says over MAX_PIXELS; a large JPEG is decoded at 1/2, 1/4 or 1/8 of its size.
    """
    if len(data) > MAX_PHOTO_MB * 1024 * 1024:
        raise ImageError(f"this file is over {MAX_PHOTO_MB} MB; use a smaller photo")
    width, height = image_size(data)
    if width * height > MAX_PIXELS:
        raise ImageError(TOO_LARGE)
    factor = next((f for f in (8, 4, 2) if max(width, height) / f >= MAX_SIDE_PX), 1)
    flags = _REDUCED.get(factor, cv2.IMREAD_COLOR)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if bgr is None:
        raise ImageError(UNREADABLE)
    scale = MAX_SIDE_PX / max(bgr.shape[:2])
    if scale < 1:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


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
