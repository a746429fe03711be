"""Still tiles: a face whose pixels do not change for a few seconds is a picture, not a live student.

A camera-off tile often shows a profile photo, a frozen video keeps showing its last frame, a
poster can sit in front of a camera: each has a face, and none is a person attending. A live camera
never gives two identical frames (sensor noise, breathing, blinks), so per track the face's small
grey crop is compared with a reference crop taken at the same place; while it stays within a small
difference the face is unchanged, and once it has been unchanged for `still_after_s` it is still.
A picture already still that moves with its tile (a reorder) stays still, compared at its new
place from then on, so a profile photo stays still through the call app's reorders.
The crops are tiny (16x16 grey) and live in memory for the lesson only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class StillnessSettings:
    """When a face counts as unchanged, and for how long before it counts as a picture.

    Thresholds from `python -m benchmarks stillness`, on the sample videos (live) and on
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
    # A face that differs from its track's reference (at the reference's place) by more than this
    # may be another student in that tile (a gallery reordered within the same grid): the tracker
    # then checks everyone's looks (`engine.identity`). From `python -m benchmarks
    # identity`: another student who took a face's place differed by 0.53 at the least (7x7 through
    # mp4v); the same student between two samples at 2 Hz by 0.055 at the median, 0.75 at the 99th
    # percentile (a head turning). Set with margin under the first: a doubt costs only a look.
    max_same_face_difference: float = 0.45
    # A face whose box centre moved by more than this many reference box widths went with its tile
    # (a reorder): a picture that was already still stays still at its new place instead of
    # starting its count over. Box jitter moves a centre by a few hundredths of a width.
    min_tile_move: float = 0.5

    def __post_init__(self) -> None:
        if self.crop_px < 4:
            raise ValueError(f"crop_px must be >= 4, got {self.crop_px}")
        for name in ("max_difference", "still_after_s", "min_contrast", "max_same_face_difference",
                     "min_tile_move"):
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
    contrast: float  # max(crop std, min_contrast): the unit of `crop_difference`
    still: bool = False  # found still, unchanged since `since_s`, at its last sighting


class StillnessDetector:
    """Per track: whether its face has not changed for `still_after_s` (a photo, a frozen video)."""

    def __init__(self, settings: StillnessSettings) -> None:
        self._settings = settings
        self._references: dict[int, _Reference] = {}
        self._last_t_s: float | None = None

    def update(self, track_ids: Sequence[int], boxes: np.ndarray, frame: np.ndarray,
               t_s: float, differences: Mapping[int, float | None] | None = None) -> list[bool]:
        """For each tracked face of this sample (IDs and (N, 4) boxes in order): is it still?

        `frame` is the grey frame (a BGR one is converted crop by crop). `differences`, from
        `differences()` on this same frame, are reused rather than measured again.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if len(track_ids) else np.zeros((0, 4))
        if len(boxes) != len(track_ids):
            raise ValueError(f"{len(track_ids)} track IDs for {len(boxes)} boxes")
        if self._last_t_s is not None and t_s < self._last_t_s:
            raise ValueError(f"time went backwards: {t_s} < {self._last_t_s}")
        self._last_t_s = t_s
        known = differences or {}
        return [self._update_one(int(tid), box, frame, t_s, known.get(int(tid)))
                for tid, box in zip(track_ids, boxes, strict=True)]

    def difference(self, track_id: int, frame: np.ndarray) -> float | None:
        """How far the face at its reference place differs from the reference (None if unknown)."""
        ref = self._references.get(track_id)
        if ref is None:
            return None
        current = face_crop(frame, ref.box, self._settings.crop_px)
        return None if current is None else float(np.abs(current - ref.crop).mean()) / ref.contrast

    def differences(self, track_ids: Iterable[int], frame: np.ndarray) -> dict[int, float | None]:
        """`difference` of each track on this frame, for `update` to reuse."""
        return {int(tid): self.difference(int(tid), frame) for tid in track_ids}

    def forget(self, track_ids: Iterable[int]) -> None:
        """Drop the reference crops of tracks that are gone (the tracker's `forgotten`)."""
        for tid in track_ids:
            self._references.pop(int(tid), None)

    def _moved(self, ref: _Reference, box: np.ndarray) -> bool:
        """Whether the face's box centre moved by more than `min_tile_move` of its width: its tile
        moved (a reorder, a resize), not the detector's jitter."""
        x, y, w, h = ref.box
        bx, by, bw, bh = (float(v) for v in box)
        shift = np.hypot(bx + bw / 2 - (x + w / 2), by + bh / 2 - (y + h / 2))
        return bool(shift > self._settings.min_tile_move * max(w, 1.0))

    def _update_one(self, track_id: int, box: np.ndarray, frame: np.ndarray, t_s: float,
                    known: float | None) -> bool:
        s = self._settings
        ref = self._references.get(track_id)
        if ref is not None:
            # The same place as the reference, not the new box: a detector's jitter is no change.
            difference = known if known is not None else self.difference(track_id, frame)
            if difference is not None and difference <= s.max_difference:
                ref.still = t_s - ref.since_s >= s.still_after_s
                return ref.still
        # A picture found still at its last sighting that moved with its tile stays still: compared
        # at its new place from now on, so it starts over only if it changes there (the camera comes
        # on). Not merely an old reference: a face seen seldom (a slow rate, a gap in detection) has
        # one without ever having been found unchanged. Comparing the two places' crops cannot tell:
        # through a call's codec a moved photo differs from its old crop as much as a live face does
        # from its own (0.07 against 0.03-0.06 on the demo).
        carried = ref is not None and ref.still and self._moved(ref, box)
        crop = face_crop(frame, box, s.crop_px)
        if crop is None:
            self._references.pop(track_id, None)
            return False
        contrast = max(float(crop.std()), s.min_contrast)
        since_s = ref.since_s if carried else t_s
        self._references[track_id] = _Reference(crop, tuple(float(v) for v in box), since_s, contrast,
                                                still=carried)
        return carried
