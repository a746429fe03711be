"""The classifier's face crop: where it lies in the frame and how it is cut.

Its margin and eye-line alignment come from the classifier's checkpoint config (`ModelConfig`), so
the crop a model was trained for is the crop it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from engine.faces import FaceLandmarks
    from models.config import ModelConfig


@dataclass(frozen=True, slots=True)
class CropGeometry:
    """Where the classifier's crop of a face lies: centre and side in frame pixels, eye-line angle."""

    cx: float
    cy: float
    side: int
    angle_deg: float

    def close_to(self, other: CropGeometry, shift: float = 0.04, angle_deg: float = 2.0) -> bool:
        """Within `shift` of the side in centre and size, and `angle_deg` in rotation, of `other`."""
        return (math.hypot(self.cx - other.cx, self.cy - other.cy) <= shift * other.side
                and abs(self.side - other.side) <= shift * other.side
                and abs(self.angle_deg - other.angle_deg) <= angle_deg)


def crop_geometry(face: FaceLandmarks, cfg: ModelConfig) -> CropGeometry:
    """A square of `cfg.crop_margin` times the landmark box's larger side, centred on the box, rotated
    so the eye line is level when `cfg.align_eyes`."""
    x, y, w, h = face.box
    angle_deg = 0.0
    if cfg.align_eyes:
        right_eye, left_eye = face.eye_centres
        dx, dy = float(left_eye[0] - right_eye[0]), float(left_eye[1] - right_eye[1])
        angle_deg = float(np.degrees(np.arctan2(dy, dx)))
    return CropGeometry(x + w / 2.0, y + h / 2.0, max(8, int(max(w, h) * cfg.crop_margin)), angle_deg)


def aligned_crop(gray: np.ndarray, geometry: CropGeometry) -> np.ndarray:
    """The square grey crop a geometry describes (the classifier's input); edges replicate outside."""
    g = geometry
    rot = cv2.getRotationMatrix2D((g.cx, g.cy), g.angle_deg, 1.0)
    rot[0, 2] += g.side / 2.0 - g.cx
    rot[1, 2] += g.side / 2.0 - g.cy
    return cv2.warpAffine(gray, rot, (g.side, g.side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def aligned_face_crop(gray: np.ndarray, face: FaceLandmarks, cfg: ModelConfig) -> np.ndarray:
    """The grey crop of one face that a classifier with config `cfg` is given (see crop_geometry)."""
    return aligned_crop(gray, crop_geometry(face, cfg))

