"""Read a FaceLandmarker's result straight from MediaPipe's C structs into numpy.

MediaPipe's Python API turns every landmark into a dataclass: 478 objects per face, about 1.2 ms of a
face's 10-12 ms on this project's 2-core reference machine (a 16-face gallery spends about 20 ms per
frame on it). This module calls the same C entry points the public `detect` / `detect_for_video` call
and copies the coordinates with one numpy view instead. It uses attributes MediaPipe keeps private
(`_lib`, `_handle`, `Image._image_ptr`, the result's C struct), which is why `mediapipe` is pinned
exactly in requirements.txt. `LandmarkReader` checks them once when a finder starts and reads through
the public API instead where they are missing or disagree with it; tests/engine/test_mediapipe_raw.py
checks both reads against each other on real photos, so an upgrade that changes them fails there first.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python.vision import FaceLandmarker

log = logging.getLogger(__name__)

try:  # private modules: an upgrade may move them, and the public read is used instead
    from mediapipe.tasks.python.components.containers import landmark_c
    from mediapipe.tasks.python.vision import face_landmarker as _fl

    _LANDMARK = landmark_c.MpNormalizedLandmarkC
    _XYZ: np.dtype | None = np.dtype({
        "names": ["x", "y", "z"],
        "formats": ["<f4"] * 3,
        "offsets": [_LANDMARK.x.offset, _LANDMARK.y.offset, _LANDMARK.z.offset],
        "itemsize": ctypes.sizeof(_LANDMARK),
    })
except (ImportError, AttributeError):
    _XYZ = None

# What the C read touches besides the result struct (see detect_first_face).
_LIB_FUNCTIONS = ("MpFaceLandmarkerDetectImage", "MpFaceLandmarkerDetectForVideo",
                  "MpFaceLandmarkerCloseResult")
_RESULT_FIELDS = ("face_landmarks", "face_landmarks_count", "face_blendshapes", "face_blendshapes_count",
                  "facial_transformation_matrixes", "facial_transformation_matrixes_count")


@dataclass(frozen=True, slots=True)
class RawFace:
    """The first face of a landmarker result: normalised (N, 3) landmarks, blendshapes, 4x4 matrix."""

    landmarks: np.ndarray
    blendshapes: dict[str, float]
    matrix: np.ndarray


def detect_first_face(landmarker: FaceLandmarker, image: mp.Image,
                      timestamp_ms: int | None = None) -> RawFace | None:
    """The first face MediaPipe finds in the image (VIDEO mode when a timestamp is given), or None."""
    result = _fl.MpFaceLandmarkerResultC()
    lib = landmarker._lib  # private: see the module docstring
    if timestamp_ms is None:
        lib.MpFaceLandmarkerDetectImage(landmarker._handle, image._image_ptr, None,
                                        ctypes.byref(result))
    else:
        lib.MpFaceLandmarkerDetectForVideo(landmarker._handle, image._image_ptr, None,
                                           timestamp_ms, ctypes.byref(result))
    try:
        return _first_face(result)
    finally:
        lib.MpFaceLandmarkerCloseResult(ctypes.byref(result))


def _first_face(result: _fl.MpFaceLandmarkerResultC) -> RawFace | None:
    if result.face_landmarks_count == 0:
        return None
    points = result.face_landmarks[0]
    size = points.landmarks_count * _XYZ.itemsize
    buffer = (ctypes.c_char * size).from_address(ctypes.addressof(points.landmarks.contents))
    xyz = np.frombuffer(buffer, dtype=_XYZ)
    landmarks = np.stack([xyz["x"], xyz["y"], xyz["z"]], axis=1).astype(np.float32)  # a copy
    blendshapes: dict[str, float] = {}
    if result.face_blendshapes_count:
        categories = result.face_blendshapes[0]
        for i in range(categories.categories_count):
            category = categories.categories[i]
            blendshapes[(category.category_name or b"").decode()] = float(category.score)
    matrix = np.eye(4, dtype=np.float32)
    if result.facial_transformation_matrixes_count:
        matrix = np.asarray(result.facial_transformation_matrixes[0].to_numpy(), dtype=np.float32)
    return RawFace(landmarks, blendshapes, matrix)


def public_first_face(landmarker: FaceLandmarker, image: mp.Image,
                      timestamp_ms: int | None = None) -> RawFace | None:
    """What detect_first_face gives, read through MediaPipe's public API (about 1.2 ms more a face)."""
    if timestamp_ms is None:
        result = landmarker.detect(image)
    else:
        result = landmarker.detect_for_video(image, timestamp_ms)
    if not result.face_landmarks:
        return None
    landmarks = np.array([(p.x, p.y, p.z) for p in result.face_landmarks[0]], dtype=np.float32)
    blendshapes = ({c.category_name or "": float(c.score) for c in result.face_blendshapes[0]}
                   if result.face_blendshapes else {})
    matrix = (np.asarray(result.facial_transformation_matrixes[0], dtype=np.float32)
              if result.facial_transformation_matrixes else np.eye(4, dtype=np.float32))
    return RawFace(landmarks, blendshapes, matrix)


def private_api_problem(landmarker: FaceLandmarker) -> str | None:
    """Why the C read cannot be used with this MediaPipe, or None when it can.

    Checks that the private attributes exist, then that both reads agree on a tiny blank image in
    IMAGE mode (a landmarker in VIDEO mode must not be given it: it would spend a timestamp).
    """
    if _XYZ is None:
        return "its landmark or result C structs were not found"
    lib = getattr(landmarker, "_lib", None)
    missing = [name for name in _LIB_FUNCTIONS if not hasattr(lib, name)]
    missing += [name for name in _RESULT_FIELDS if not hasattr(_fl.MpFaceLandmarkerResultC, name)]
    blank = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((32, 32, 3), np.uint8))
    missing += [name for name in ("_handle",) if not hasattr(landmarker, name)]
    missing += [f"Image.{name}" for name in ("_image_ptr",) if not hasattr(blank, name)]
    if missing:
        return f"{', '.join(missing)} not found"
    try:
        raw = detect_first_face(landmarker, blank)
    except Exception as exc:  # any failure of a private call means: do not use it
        return f"the C read failed ({type(exc).__name__}: {exc})"
    public = public_first_face(landmarker, blank)
    if (raw is None) != (public is None) or (raw is not None and not _same(raw, public)):
        return "the C read disagrees with the public API"
    return None


def _same(a: RawFace, b: RawFace) -> bool:
    return (a.landmarks.shape == b.landmarks.shape and np.array_equal(a.landmarks, b.landmarks)
            and a.blendshapes.keys() == b.blendshapes.keys())


class LandmarkReader:
    """Reads a landmarker's first face from its C structs when that works here, else publicly."""

    def __init__(self, probe: FaceLandmarker, *, private_api: bool = True) -> None:
        """Check the C read once on `probe`, an IMAGE-mode landmarker; private_api=False skips it."""
        problem = private_api_problem(probe) if private_api else None
        if problem is not None:
            log.warning("reading MediaPipe's landmarks through its public API: %s "
                        "(mediapipe %s; about 1.2 ms more a face)", problem, getattr(mp, "__version__", "?"))
        self.uses_private_api = private_api and problem is None

    def first_face(self, landmarker: FaceLandmarker, image: mp.Image,
                   timestamp_ms: int | None = None) -> RawFace | None:
        """The first face in the image (VIDEO mode when a timestamp is given), or None."""
        if self.uses_private_api:
            return detect_first_face(landmarker, image, timestamp_ms)
        return public_first_face(landmarker, image, timestamp_ms)
