"""Who is who at each sample: the tracker, the tiles' looks and the still-tile check, wired once.

The look of a tile (`engine.appearance`) is what keeps a student's ID when a call app moves the
tiles, but most samples move nothing: every face is where its track was. So the look is computed
only when the tracker needs it (`engine.tracking.LazyLooks`): a face where no track was, a track
gone from where it was, a track whose look is older than `look_refresh_s`, or a face whose pixels
at its track's place differ from that track's still-tile reference by more than
`max_same_face_difference` (another student in the tile, as when a gallery reorders within the
same grid). The still-tile crops measured for that doubt are the ones the still check uses, so
they are cut once. The pipeline and the identity and stillness benchmarks all run this one stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.appearance import describe
from engine.stillness import StillnessDetector, StillnessSettings
from engine.tracking import LazyLooks, Tracker, TrackingSettings, TrackUpdate


@dataclass(frozen=True, slots=True)
class IdentityResult:
    """One sample's tracks (`update`) and the tracks whose face is a still picture."""

    update: TrackUpdate
    still: frozenset[int] = field(default_factory=frozenset)


class IdentityStage:
    """Track IDs and still tiles for one lesson; looks computed on demand (or never, `appearance=False`)."""

    def __init__(self, tracking: TrackingSettings, stillness: StillnessSettings, *,
                 appearance: bool = True, lazy_looks: bool = True) -> None:
        self.tracker = Tracker(tracking)
        self.stillness = StillnessDetector(stillness)
        self._appearance = appearance
        self._lazy = lazy_looks
        self._max_same_face = stillness.max_same_face_difference

    def update(self, frame_bgr: np.ndarray, frame_grey: np.ndarray, boxes: np.ndarray,
               t_s: float) -> IdentityResult:
        """Match this sample's (N, 4) face boxes to tracks and say which tracks are still.

        `frame_grey` is `frame_bgr` in grey (the still-tile crops are cut from it).
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        measured: dict[int, float | None] = {}

        def doubt(guess: Sequence[int | None]) -> bool:
            """Whether any face's pixels, at its guessed track's place, look like another face."""
            measured.update(self.stillness.differences((g for g in guess if g is not None), frame_grey))
            return any(g is None or measured[g] is None or measured[g] > self._max_same_face
                       for g in guess)

        def unchanged(guess: Sequence[int | None]) -> list[bool]:
            """Per face: its pixels at its guessed track's place are that track's own face still."""
            missing = [g for g in guess if g is not None and g not in measured]
            if missing:
                measured.update(self.stillness.differences(missing, frame_grey))
            return [g is not None and measured[g] is not None and measured[g] <= self._max_same_face
                    for g in guess]

        looks: np.ndarray | LazyLooks | None = None
        if self._appearance and self._lazy:
            looks = LazyLooks(lambda: describe(frame_bgr, boxes), doubt, unchanged)
        elif self._appearance:
            looks = describe(frame_bgr, boxes)
        update = self.tracker.update(boxes, t_s, looks)
        flags = self.stillness.update(update.ids, boxes, frame_grey, t_s, measured)
        self.stillness.forget(update.forgotten)
        return IdentityResult(update, frozenset(t for t, s in zip(update.ids, flags, strict=True) if s))
