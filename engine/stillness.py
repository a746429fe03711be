"""Still tiles: a face whose pixels do not change for a few seconds is a picture, not a live student.

A camera-off tile often shows a profile photo, a frozen video keeps showing its last frame, a
poster can sit in front of a camera: each has a face, and none is a person attending. A live camera
never gives two identical frames (sensor noise, breathing, blinks), so per track the face's small
grey crop is compared with a reference crop taken at the same place; while it stays within a small
difference the face is unchanged, and once it has been unchanged for `still_after_s` it is still.
The crops are tiny (16x16 grey) and live in memory for the lesson only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class StillnessSettings:
    """When a face counts as unchanged, and for how long before it counts as a picture.

    Thresholds from `python -m engine.bench_identity stillness`, on the sample videos (live) and on
    photos shown still and re-encoded through a video codec.
    """

    # Side of the square grey crop of the face box that is compared.
    crop_px: int = 16
    # Mean absolute difference to the reference crop, in units of the reference's own grey-level
    # standard deviation, at or under which the face is unchanged.
    max_difference: float = 0.045
    # Unchanged this long: still. Longer than a live student ever holds perfectly still.
    still_after_s: float = 3.0
    # The reference's standard deviation counts as at least this many grey levels (flat crops).
    min_contrast: float = 8.0

    def __post_init__(self) -> None:
        if self.crop_px < 4:
            raise ValueError(f"crop_px must be >= 4, got {self.crop_px}")
        for name in ("max_difference", "still_after_s", "min_contrast"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


def face_crop(frame: np.ndarray, box: Sequence[float], side: int) -> np.ndarray | None:
    """The x, y, w, h box of a BGR or grey frame as a side x side float32 grey crop; None if empty."""
    height, width = frame.shape[:2]
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    small = cv2.resize(frame[y0:y1, x0:x1], (side, side), interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return small.astype(np.float32)


def crop_difference(reference: np.ndarray, current: np.ndarray, min_contrast: float) -> float:
    """Mean absolute difference of two crops in units of the reference's contrast (its std)."""
    contrast = max(float(reference.std()), min_contrast)
    return float(np.abs(current - reference).mean()) / contrast


@dataclass(slots=True)
class _Reference:
    crop: np.ndarray = field(repr=False)  # the face's pixels stay out of any log
    box: tuple[float, float, float, float]
    since_s: float


class StillnessDetector:
    """Per track: whether its face has not changed for `still_after_s` (a photo, a frozen video)."""

    def __init__(self, settings: StillnessSettings) -> None:
        self._settings = settings
        self._references: dict[int, _Reference] = {}
        self._last_t_s: float | None = None

    def update(self, track_ids: Sequence[int], boxes: np.ndarray, frame: np.ndarray,
               t_s: float) -> list[bool]:
        """For each tracked face of this sample (IDs and (N, 4) boxes in order): is it still?"""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if len(track_ids) else np.zeros((0, 4))
        if len(boxes) != len(track_ids):
            raise ValueError(f"{len(track_ids)} track IDs for {len(boxes)} boxes")
        if self._last_t_s is not None and t_s < self._last_t_s:
            raise ValueError(f"time went backwards: {t_s} < {self._last_t_s}")
        self._last_t_s = t_s
        return [self._update_one(int(tid), box, frame, t_s) for tid, box in zip(track_ids, boxes, strict=True)]

    def difference(self, track_id: int, frame: np.ndarray) -> float | None:
        """How far the face at its reference place differs from the reference (None if unknown)."""
        ref = self._references.get(track_id)
        if ref is None:
            return None
        current = face_crop(frame, ref.box, self._settings.crop_px)
        return None if current is None else crop_difference(ref.crop, current, self._settings.min_contrast)

    def forget(self, track_ids: Iterable[int]) -> None:
        """Drop the reference crops of tracks that are gone (the tracker's `forgotten`)."""
        for tid in track_ids:
            self._references.pop(int(tid), None)

    def _update_one(self, track_id: int, box: np.ndarray, frame: np.ndarray, t_s: float) -> bool:
        s = self._settings
        ref = self._references.get(track_id)
        if ref is not None:
            # The same place as the reference, not the new box: a detector's jitter is no change.
            current = face_crop(frame, ref.box, s.crop_px)
            if current is not None and crop_difference(ref.crop, current, s.min_contrast) <= s.max_difference:
                return t_s - ref.since_s >= s.still_after_s
        crop = face_crop(frame, box, s.crop_px)
        if crop is None:
            self._references.pop(track_id, None)
            return False
        self._references[track_id] = _Reference(crop, tuple(float(v) for v in box), t_s)
        return False
