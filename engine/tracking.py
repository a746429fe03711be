"""Anonymous tracking: stable small-integer IDs for face boxes across samples, from box geometry alone.

No appearance features are used, so nothing here can recognise a person; IDs start at 1 in every
lesson and are never reused within one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.boxes import iou

_GATED = 1e9


@dataclass(frozen=True, slots=True)
class TrackingSettings:
    """How boxes are matched to tracks and how long a lost track is remembered."""

    # A student out of view this long loses their ID; one back sooner, near where they left, keeps it.
    forget_after_s: float = 60.0
    # Largest centre distance to a track's predicted centre, in face sizes (sqrt of box area).
    max_center_distance: float = 1.0
    # Largest ratio between a box's and a track's face size (either way round).
    max_size_ratio: float = 2.0
    # The constant-velocity prediction runs at most this far past the last sighting.
    max_predict_s: float = 0.5
    # Weight of the newest displacement in the velocity estimate (exponential smoothing).
    velocity_smoothing: float = 0.5

    def __post_init__(self) -> None:
        for name in ("forget_after_s", "max_center_distance", "max_predict_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_size_ratio < 1.0:
            raise ValueError(f"max_size_ratio must be >= 1, got {self.max_size_ratio}")
        if not 0.0 < self.velocity_smoothing <= 1.0:
            raise ValueError(
                f"velocity_smoothing must be within (0, 1], got {self.velocity_smoothing}"
            )


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """Result of one sample: an ID per input box (in order), tracks not seen, tracks just forgotten."""

    ids: list[int]
    missing: list[int] = field(default_factory=list)
    forgotten: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Track:
    track_id: int
    box: np.ndarray  # x, y, w, h of the last sighting
    last_seen_s: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre, px/s

    def predicted_box(self, t_s: float, max_predict_s: float) -> np.ndarray:
        """The last box moved along the velocity estimate for at most `max_predict_s`."""
        dt = min(t_s - self.last_seen_s, max_predict_s)
        moved = self.box.copy()
        moved[:2] += self.velocity * dt
        return moved


def match_cost(tracks: np.ndarray, boxes: np.ndarray, settings: TrackingSettings) -> np.ndarray:
    """Cost of giving each box (columns) to each predicted track box (rows); gated pairs cost _GATED.

    Cost = centre distance in face sizes + (1 - IoU); pairs further apart than
    `max_center_distance` or differing in size by more than `max_size_ratio` are gated.
    """
    t_size = np.sqrt(tracks[:, 2] * tracks[:, 3])[:, None]
    b_size = np.sqrt(boxes[:, 2] * boxes[:, 3])[None, :]
    t_center = tracks[:, :2] + tracks[:, 2:] / 2
    b_center = boxes[:, :2] + boxes[:, 2:] / 2
    dist = np.linalg.norm(t_center[:, None, :] - b_center[None, :, :], axis=2)
    scale = np.maximum(0.5 * (t_size + b_size), 1e-9)
    distance = dist / scale
    size_ratio = np.maximum(t_size, b_size) / np.maximum(np.minimum(t_size, b_size), 1e-9)
    cost = distance + (1.0 - iou(tracks, boxes))
    gated = (distance > settings.max_center_distance) | (size_ratio > settings.max_size_ratio)
    return np.where(gated, _GATED, cost)


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one assignment (Hungarian, Kuhn-Munkres), dropping gated pairs."""
    n_rows, n_cols = cost.shape
    if n_rows == 0 or n_cols == 0:
        return []
    n = max(n_rows, n_cols)
    padded = np.full((n, n), _GATED)
    padded[:n_rows, :n_cols] = cost
    # Potentials-based O(n^3) shortest augmenting path, rows and columns 1-indexed, 0 a sentinel.
    u = np.zeros(n + 1)
    v = np.zeros(n + 1)
    col_row = np.zeros(n + 1, dtype=int)
    way = np.zeros(n + 1, dtype=int)
    for row in range(1, n + 1):
        col_row[0] = row
        j0 = 0
        min_to = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = col_row[j0]
            reduced = padded[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (reduced < min_to[1:])
            min_to[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, min_to[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[col_row[used]] += delta
            v[used] -= delta
            min_to[1:][free] -= delta
            j0 = j1
            if col_row[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            col_row[j0] = col_row[j1]
            j0 = j1
    pairs = [(int(col_row[j]) - 1, j - 1) for j in range(1, n + 1)]
    return sorted((r, c) for r, c in pairs if r < n_rows and c < n_cols and cost[r, c] < _GATED)


class Tracker:
    """Gives each face box a lesson-local track ID, keeping it through short absences."""

    def __init__(self, settings: TrackingSettings) -> None:
        self._settings = settings
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_t_s: float | None = None

    def update(self, boxes: np.ndarray, t_s: float) -> TrackUpdate:
        """Match this sample's (N,4) x, y, w, h boxes to tracks; unmatched boxes start new tracks."""
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must have shape (N, 4), got {boxes.shape}")
        if self._last_t_s is not None and t_s < self._last_t_s:
            raise ValueError(f"time went backwards: {t_s} < {self._last_t_s}")
        self._last_t_s = t_s

        forgotten = [
            tr.track_id
            for tr in self._tracks
            if t_s - tr.last_seen_s > self._settings.forget_after_s
        ]
        self._tracks = [tr for tr in self._tracks if tr.track_id not in forgotten]

        predicted = np.array(
            [tr.predicted_box(t_s, self._settings.max_predict_s) for tr in self._tracks]
        ).reshape(-1, 4)
        pairs = assign(match_cost(predicted, boxes, self._settings))

        ids = [0] * len(boxes)
        matched_tracks: set[int] = set()
        for row, col in pairs:
            self._see(self._tracks[row], boxes[col], t_s)
            ids[col] = self._tracks[row].track_id
            matched_tracks.add(row)
        for col in range(len(boxes)):
            if ids[col] == 0:
                ids[col] = self._start(boxes[col], t_s)
        known = self._tracks[: len(predicted)]
        missing = [tr.track_id for i, tr in enumerate(known) if i not in matched_tracks]
        return TrackUpdate(ids=ids, missing=missing, forgotten=forgotten)

    def _see(self, track: _Track, box: np.ndarray, t_s: float) -> None:
        """Move a track to a new sighting, updating its velocity estimate."""
        dt = t_s - track.last_seen_s
        if 0 < dt <= self._settings.max_predict_s:
            step = (box[:2] + box[2:] / 2 - track.box[:2] - track.box[2:] / 2) / dt
            a = self._settings.velocity_smoothing
            track.velocity = a * step + (1 - a) * track.velocity
        elif dt > self._settings.max_predict_s:
            track.velocity = np.zeros(2)
        track.box = box.astype(np.float64, copy=True)
        track.last_seen_s = t_s

    def _start(self, box: np.ndarray, t_s: float) -> int:
        """Open a new track with the next unused ID."""
        track = _Track(
            track_id=self._next_id, box=box.astype(np.float64, copy=True), last_seen_s=t_s
        )
        self._next_id += 1
        self._tracks.append(track)
        return track.track_id
