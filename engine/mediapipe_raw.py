"""Read a FaceLandmarker's result straight from MediaPipe's C structs into numpy.

MediaPipe's Python API turns every landmark into a dataclass: 478 objects per face, about 1.2 ms of a
face's 10-12 ms on this project's 2-core reference machine (a 16-face gallery spends about 20 ms per
frame on it). This module calls the same C entry points the public `detect` / `detect_for_video` call
and copies the coordinates with one numpy view instead. It uses attributes MediaPipe keeps private
(`_lib`, `_handle`, `Image._image_ptr`), which is why `mediapipe` is pinned exactly in
requirements.txt; tests/engine/test_mediapipe_raw.py checks it against the public API on real photos,
so an upgrade that changes them fails there first.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python.components.containers import landmark_c
from mediapipe.tasks.python.vision import FaceLandmarker
from mediapipe.tasks.python.vision import face_landmarker as _fl

_LANDMARK = landmark_c.MpNormalizedLandmarkC
_XYZ = np.dtype({
    "names": ["x", "y", "z"],
    "formats": ["<f4"] * 3,
    "offsets": [_LANDMARK.x.offset, _LANDMARK.y.offset, _LANDMARK.z.offset],
    "itemsize": ctypes.sizeof(_LANDMARK),
})


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
