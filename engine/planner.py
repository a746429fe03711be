"""When the face finder searches, follows or crops: pure decisions over boxes and lesson times.

A discovery pass (the detector over the whole frame and its tiles) is costly, so it runs every few
seconds; in between, the faces known from the last frame are landmarked again where they were. A
lone face big enough for the landmarker's own short-range detector (a webcam) is followed by a
VIDEO-mode landmarker over the whole frame instead. `engine.faces.FaceFinder` asks these functions
and carries out the answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.boxes import Box, iou

SAME_FACE_IOU = 0.3  # the follower's face is the one it was given when their boxes overlap this much
NEW_FACE_IOU = 0.2  # a box overlapping every known face less than this is another face


def discovery_due(t_s: float | None, last_discovery_s: float | None, known: Sequence[Box],
                  every_s: float) -> bool:
    """Whether this frame needs a full search: a still photo, no face known, or the interval is up."""
    return (t_s is None or last_discovery_s is None or not known
            or t_s - last_discovery_s >= every_s)


def lone_face(known: Sequence[Box], width: int, height: int, min_fraction: float) -> Box | None:
    """The one known face's box when it is big enough for the VIDEO-mode follower, else None.

    Big enough: its larger side is at least `min_fraction` of the frame's shorter side, the range of
    the landmarker's own detector; small gallery faces are left to their crops.
    """
    if len(known) != 1:
        return None
    box = known[0]
    return box if max(box[2], box[3]) >= min_fraction * min(width, height) else None


def is_same_face(found: Box, expected: Box) -> bool:
    """Whether the follower found the face it was given, not another one elsewhere in the frame."""
    return bool(iou(np.array([found], float), np.array([expected], float))[0, 0] >= SAME_FACE_IOU)


def boxes_to_landmark(detected: Sequence[Box], known: Sequence[Box]) -> list[Box]:
    """After a discovery pass: the detector's boxes, plus known faces it missed (a turned head)."""
    if not detected:
        return list(known)
    if not known:
        return list(detected)
    overlap = iou(np.array(known, float), np.array(detected, float))
    return [*detected, *(k for k, row in zip(known, overlap, strict=True) if row.max() < NEW_FACE_IOU)]


def newcomers(candidates: Sequence[Box], followed: Box) -> list[Box]:
    """The candidates that are not the followed face: anyone else needs a crop of their own."""
    if not candidates:
        return []
    overlap = iou(np.array(candidates, float), np.array([followed], float))[:, 0]
    return [c for c, o in zip(candidates, overlap, strict=True) if o < NEW_FACE_IOU]
