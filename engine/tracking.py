"""Anonymous tracking: stable small-integer IDs for face boxes across samples.

Box geometry follows a student who stays in their tile. A video call also moves tiles (reorders,
grid resizes); given each face's appearance cue (`engine.appearance`, a look of the tile around the
face that lives in memory for the lesson only), the tracker notices a layout change and re-solves
who is who by look, and re-identifies a student back from an absence. When a look is not clearly
one track's, the face gets a new ID: two students never share one. IDs start at 1 in every lesson
and are never reused within one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.appearance import DESCRIPTOR_LEN, blend, distance
from engine.boxes import iou
from engine.matching import GATED, assign, reidentify


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
    # Appearance (used when `Tracker.update` is given looks); distances from `engine.appearance`,
    # thresholds from `python -m benchmarks identity`.
    # A box where its track was is still that student only if it looks like them within this
    # (a student moving a lot changes their look), and no other face or track is a clearly
    # (by reidentify_margin) better match.
    max_same_place_distance: float = 0.35
    # Anywhere else (after a layout change, back from an absence) the look must be this close...
    max_reidentify_distance: float = 0.25
    # ...and closer by this margin than to any other free track, and any other free face.
    reidentify_margin: float = 0.05
    # A layout change: at least this many of the last sample's tracks, and this share of them,
    # are not where they were (or not the same student there) all at once.
    layout_change_min_tracks: int = 2
    layout_change_fraction: float = 0.3
    # Weight of the newest sighting in a track's look (exponential smoothing).
    appearance_smoothing: float = 0.3
    # Given `LazyLooks`, a sample where every face is where a track was, no track vanished and the
    # pixels raise no doubt is matched by position without computing looks; every track's look is
    # still refreshed (and checked) at least this often.
    look_refresh_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("forget_after_s", "max_center_distance", "max_predict_s",
                     "max_same_place_distance", "max_reidentify_distance", "look_refresh_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.reidentify_margin < 0:
            raise ValueError(f"reidentify_margin must be >= 0, got {self.reidentify_margin}")
        if self.layout_change_min_tracks < 1:
            raise ValueError(
                f"layout_change_min_tracks must be >= 1, got {self.layout_change_min_tracks}"
            )
        for name in ("layout_change_fraction", "appearance_smoothing"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within (0, 1], got {getattr(self, name)}")
        if self.max_size_ratio < 1.0:
            raise ValueError(f"max_size_ratio must be >= 1, got {self.max_size_ratio}")
        if not 0.0 < self.velocity_smoothing <= 1.0:
            raise ValueError(
                f"velocity_smoothing must be within (0, 1], got {self.velocity_smoothing}"
            )


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """Result of one sample: an ID per input box (in order), tracks not seen, tracks just forgotten,
    and whether the gallery's layout changed (tiles moved) at this sample."""

    ids: list[int]
    missing: list[int] = field(default_factory=list)
    forgotten: list[int] = field(default_factory=list)
    layout_changed: bool = False
    looked: bool = False  # whether looks were used at this sample (given, or computed on demand)


@dataclass(frozen=True, slots=True)
class LazyLooks:
    """Looks computed only when the tracker needs them.

    `compute()` gives the (N, DESCRIPTOR_LEN) looks of this sample's boxes. `doubt(guess)` is told
    the track each box would keep by position alone (None: no track there) and says whether the
    pixels suggest another student there (`engine.identity` asks the still-tile crops); it is
    asked only when position alone raises no doubt. `unchanged(guess)` says, per box, whether its
    pixels are still those of the track it would keep (the same face in the same place): such a
    box keeps its track whatever the looks say, so two students who look alike never trade IDs
    while their tiles stay put. By default nothing is known to be unchanged.
    """

    compute: Callable[[], np.ndarray]
    doubt: Callable[[Sequence[int | None]], bool] = lambda guess: False
    unchanged: Callable[[Sequence[int | None]], Sequence[bool]] = lambda guess: [False] * len(guess)


@dataclass(slots=True)
class _Track:
    track_id: int
    box: np.ndarray  # x, y, w, h of the last sighting
    last_seen_s: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre, px/s
    look: np.ndarray | None = field(default=None, repr=False)  # smoothed look, in memory only
    look_t_s: float | None = None  # when the look was last refreshed

    def predicted_box(self, t_s: float, max_predict_s: float) -> np.ndarray:
        """The last box moved along the velocity estimate for at most `max_predict_s`."""
        dt = min(t_s - self.last_seen_s, max_predict_s)
        moved = self.box.copy()
        moved[:2] += self.velocity * dt
        return moved


def match_cost(tracks: np.ndarray, boxes: np.ndarray, settings: TrackingSettings) -> np.ndarray:
    """Cost of giving each box (columns) to each predicted track box (rows); gated pairs cost GATED.

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
    return np.where(gated, GATED, cost)


class Tracker:
    """Gives each face box a lesson-local track ID, keeping it through short absences and, given
    appearance cues, through the gallery's reorders and resizes."""

    def __init__(self, settings: TrackingSettings) -> None:
        self._settings = settings
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_t_s: float | None = None

    def update(
        self, boxes: np.ndarray, t_s: float, appearance: np.ndarray | LazyLooks | None = None
    ) -> TrackUpdate:
        """Match this sample's (N,4) x, y, w, h boxes to tracks; unmatched boxes start new tracks.

        `appearance`, when given, holds each box's (N, DESCRIPTOR_LEN) descriptor from
        `engine.appearance.describe` on this sample's frame, or `LazyLooks` to compute them only
        when position alone is not enough (see `_look_needed`).
        """
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must have shape (N, 4), got {boxes.shape}")
        lazy = appearance if isinstance(appearance, LazyLooks) else None
        looks = None if lazy is not None else self._checked_looks(appearance, len(boxes))
        if self._last_t_s is not None and t_s < self._last_t_s:
            raise ValueError(f"time went backwards: {t_s} < {self._last_t_s}")
        previous_t_s, self._last_t_s = self._last_t_s, t_s

        forgotten = [
            tr.track_id
            for tr in self._tracks
            if t_s - tr.last_seen_s > self._settings.forget_after_s
        ]
        self._tracks = [tr for tr in self._tracks if tr.track_id not in forgotten]
        known = list(self._tracks)
        in_view = [i for i, tr in enumerate(known) if tr.last_seen_s == previous_t_s]

        predicted = np.array(
            [tr.predicted_box(t_s, self._settings.max_predict_s) for tr in known]
        ).reshape(-1, 4)
        pairs = assign(match_cost(predicted, boxes, self._settings))
        if lazy is not None and self._look_needed(known, in_view, pairs, len(boxes), t_s, lazy):
            looks = self._checked_looks(lazy.compute(), len(boxes))
        layout_changed = False
        if looks is not None:
            d = self._look_distances(known, looks)
            same_pixels = self._same_pixels(known, pairs, len(boxes), lazy)
            kept = [(r, c) for r, c in pairs if same_pixels[c] or self._still_same(r, c, d)]
            # Broken only because another face or track looks a little more alike (not because
            # this face looks unlike its track): a swap of tiles, or two students who look alike.
            doubtful = [(r, c) for r, c in pairs
                        if (r, c) not in kept and d[r, c] <= self._settings.max_same_place_distance]
            pairs = kept
            stayed = {r for r, _ in pairs}
            moved = sum(1 for i in in_view if i not in stayed)
            layout_changed = moved >= max(
                self._settings.layout_change_min_tracks,
                self._settings.layout_change_fraction * len(in_view),
            )
            if layout_changed:
                pairs = []  # positions mean nothing now: who is who is solved by look alone
            jumped = self._reidentified(d, pairs)
            if not layout_changed and not self._exchanged(doubtful, jumped):
                # The looks do not tell a whole exchange: positions stand for those students.
                pairs = pairs + doubtful
                jumped = self._reidentified(d, pairs)
        else:
            jumped = []

        ids = [0] * len(boxes)
        matched_tracks: set[int] = set()
        for row, col in pairs + jumped:
            self._see(known[row], boxes[col], t_s, None if looks is None else looks[col],
                      learn_motion=(row, col) not in jumped)
            ids[col] = known[row].track_id
            matched_tracks.add(row)
        for col in range(len(boxes)):
            if ids[col] == 0:
                ids[col] = self._start(boxes[col], t_s, None if looks is None else looks[col])
        missing = [tr.track_id for i, tr in enumerate(known) if i not in matched_tracks]
        return TrackUpdate(
            ids=ids, missing=missing, forgotten=forgotten, layout_changed=layout_changed,
            looked=looks is not None,
        )

    def _look_needed(
        self, known: list[_Track], in_view: list[int], pairs: list[tuple[int, int]],
        n_boxes: int, t_s: float, lazy: LazyLooks,
    ) -> bool:
        """Whether this sample needs looks: a face where no track was (a newcomer, a moved tile, a
        return), a track of the last sample not where it was, a track without a recent look, or
        pixels that doubt the positions; otherwise every face keeps its track by position."""
        matched = {r for r, _ in pairs}
        if len(pairs) < n_boxes or any(i not in matched for i in in_view):
            return True
        refresh = self._settings.look_refresh_s
        if any(known[r].look_t_s is None or t_s - known[r].look_t_s >= refresh for r, _ in pairs):
            return True
        guess: list[int | None] = [None] * n_boxes
        for r, c in pairs:
            guess[c] = known[r].track_id
        return bool(lazy.doubt(guess))

    @staticmethod
    def _exchanged(doubtful: list[tuple[int, int]], jumped: list[tuple[int, int]]) -> bool:
        """Whether every doubtful place-pair is resolved by the looks at both ends: its track went
        to another face and its face to another track (tiles that swapped). Anything less (one
        track taken to a look-alike's face while its own face would start a new ID) is no swap."""
        rows = {r for r, _ in jumped}
        cols = {c for _, c in jumped}
        return all(r in rows and c in cols for r, c in doubtful)

    @staticmethod
    def _same_pixels(
        known: list[_Track], pairs: list[tuple[int, int]], n_boxes: int, lazy: LazyLooks | None
    ) -> list[bool]:
        """Per box: whether its pixels are still those of the track that position gives it."""
        if lazy is None or not pairs:
            return [False] * n_boxes
        guess: list[int | None] = [None] * n_boxes
        for r, c in pairs:
            guess[c] = known[r].track_id
        return [bool(same) and g is not None for same, g in zip(lazy.unchanged(guess), guess,
                                                                  strict=True)]

    @staticmethod
    def _checked_looks(appearance: np.ndarray | None, n_boxes: int) -> np.ndarray | None:
        if appearance is None:
            return None
        looks = np.asarray(appearance, dtype=np.float32)
        if looks.size == 0:
            looks = looks.reshape(0, DESCRIPTOR_LEN)
        if looks.shape != (n_boxes, DESCRIPTOR_LEN):
            raise ValueError(
                f"appearance must have shape ({n_boxes}, {DESCRIPTOR_LEN}) for {n_boxes} boxes, "
                f"got {looks.shape}"
            )
        return looks

    @staticmethod
    def _look_distances(known: list[_Track], looks: np.ndarray) -> np.ndarray:
        """Appearance distance of every track (rows) to every face (columns); inf without a look."""
        d = np.full((len(known), len(looks)), np.inf)
        with_look = [i for i, tr in enumerate(known) if tr.look is not None]
        if with_look and len(looks):
            d[with_look] = distance(np.stack([known[i].look for i in with_look]), looks)
        return d

    def _still_same(self, row: int, col: int, d: np.ndarray) -> bool:
        """Whether the face where a track was is still its student: it looks like them, and no
        other face looks clearly more like them, nor the face clearly more like another track.
        A track without a look yet is trusted."""
        here = d[row, col]
        if not np.isfinite(here):
            return True
        s = self._settings
        if here > s.max_same_place_distance:
            return False
        other_faces = np.delete(d[row], col)
        other_tracks = np.delete(d[:, col], row)
        best_other = min(other_faces.min(initial=np.inf), other_tracks.min(initial=np.inf))
        return bool(best_other + s.reidentify_margin >= here)

    def _reidentified(self, d: np.ndarray, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Pairs of free tracks and free faces that clearly look the same, wherever they are."""
        rows_taken = {r for r, _ in taken}
        cols_taken = {c for _, c in taken}
        rows = [i for i in range(d.shape[0]) if i not in rows_taken and np.isfinite(d[i]).all()]
        cols = [j for j in range(d.shape[1]) if j not in cols_taken]
        if not rows or not cols:
            return []
        s = self._settings
        sub = d[np.ix_(rows, cols)]
        return [
            (rows[r], cols[c])
            for r, c in reidentify(sub, s.max_reidentify_distance, s.reidentify_margin)
        ]

    def _see(
        self, track: _Track, box: np.ndarray, t_s: float, look: np.ndarray | None,
        *, learn_motion: bool = True,
    ) -> None:
        """Move a track to a new sighting, updating its velocity estimate and look."""
        dt = t_s - track.last_seen_s
        if not learn_motion:
            track.velocity = np.zeros(2)  # its tile moved: that jump is no motion to carry on
        elif 0 < dt <= self._settings.max_predict_s:
            step = (box[:2] + box[2:] / 2 - track.box[:2] - track.box[2:] / 2) / dt
            a = self._settings.velocity_smoothing
            track.velocity = a * step + (1 - a) * track.velocity
        elif dt > self._settings.max_predict_s:
            track.velocity = np.zeros(2)
        if look is not None:
            track.look = (
                look.copy()
                if track.look is None
                else blend(track.look, look, self._settings.appearance_smoothing)
            )
            track.look_t_s = t_s
        track.box = box.astype(np.float64, copy=True)
        track.last_seen_s = t_s

    def _start(self, box: np.ndarray, t_s: float, look: np.ndarray | None) -> int:
        """Open a new track with the next unused ID."""
        track = _Track(
            track_id=self._next_id,
            box=box.astype(np.float64, copy=True),
            last_seen_s=t_s,
            look=None if look is None else look.copy(),
            look_t_s=None if look is None else t_s,
        )
        self._next_id += 1
        self._tracks.append(track)
        return track.track_id
