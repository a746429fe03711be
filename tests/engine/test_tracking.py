"""Anonymous tracking on crafted box trajectories: stable IDs, new faces, re-entry, crossing, forgetting."""

from __future__ import annotations

import numpy as np
import pytest

from engine.appearance import DESCRIPTOR_LEN, HIST_SIZE, distance
from engine.boxes import iou
from engine.matching import assign, reidentify
from engine.tracking import Tracker, TrackingSettings, TrackUpdate, match_cost

SETTINGS = TrackingSettings()

Box = tuple[float, float, float, float]


def run(
    samples: list[tuple[float, list[Box]]], settings: TrackingSettings = SETTINGS
) -> list[TrackUpdate]:
    tracker = Tracker(settings)
    return [
        tracker.update(np.array(boxes, dtype=np.float64).reshape(-1, 4), t_s)
        for t_s, boxes in samples
    ]


def ids(samples: list[tuple[float, list[Box]]]) -> list[list[int]]:
    return [u.ids for u in run(samples)]


@pytest.mark.parametrize(
    ("samples", "expected_ids"),
    [
        (  # two seated students, detector jitter of a few pixels
            [
                (0.0, [(100, 100, 80, 90), (300, 110, 75, 85)]),
                (0.2, [(103, 98, 82, 88), (297, 112, 76, 86)]),
                (0.4, [(98, 101, 79, 91), (301, 108, 74, 84)]),
                (0.6, [(101, 103, 81, 89), (299, 111, 75, 85)]),
            ],
            [[1, 2], [1, 2], [1, 2], [1, 2]],
        ),
        (  # detections arrive in a different order each sample
            [
                (0.0, [(100, 100, 80, 90), (300, 110, 75, 85)]),
                (0.2, [(301, 109, 75, 85), (102, 99, 80, 90)]),
                (0.4, [(99, 100, 80, 90), (300, 111, 75, 85)]),
            ],
            [[1, 2], [2, 1], [1, 2]],
        ),
        (  # a third student appears far from both
            [
                (0.0, [(100, 100, 80, 90), (300, 110, 75, 85)]),
                (0.2, [(100, 100, 80, 90), (300, 110, 75, 85), (500, 100, 80, 80)]),
            ],
            [[1, 2], [1, 2, 3]],
        ),
        (  # side by side, touching: neighbours never swap
            [
                (0.0, [(100, 100, 80, 80), (180, 100, 80, 80)]),
                (0.2, [(184, 102, 80, 80), (96, 98, 80, 80)]),
                (0.4, [(102, 99, 80, 80), (178, 101, 80, 80)]),
            ],
            [[1, 2], [2, 1], [1, 2]],
        ),
        (  # a box that jumps several face sizes away is someone else
            [(0.0, [(100, 100, 80, 80)]), (0.2, [(400, 100, 80, 80)])],
            [[1], [2]],
        ),
        (  # a box of very different size at the same place is someone else (e.g. a person behind)
            [(0.0, [(100, 100, 80, 80)]), (0.2, [(110, 110, 30, 30)])],
            [[1], [2]],
        ),
        ([(0.0, []), (0.2, [(100, 100, 80, 80)])], [[], [1]]),
    ],
)
def test_track_ids_per_box(
    samples: list[tuple[float, list[Box]]], expected_ids: list[list[int]]
) -> None:
    assert ids(samples) == expected_ids


def crossing(t_s: float, occlude: bool = False) -> list[Box]:
    """Two faces walking towards each other along a row at 200 px/s each, crossing at t = 1 s."""
    a = (100 + 200 * t_s, 100, 80, 80)  # left to right
    b = (500 - 200 * t_s, 104, 80, 80)  # right to left
    if occlude and abs(t_s - 1.0) < 0.25:
        return [b]  # a passes behind b: only b is detected
    return [a, b]


@pytest.mark.parametrize("occlude", [False, True])
def test_two_faces_crossing_keep_their_ids(occlude: bool) -> None:
    times = [round(k * 0.1, 3) for k in range(21)]
    updates = run([(t, crossing(t, occlude)) for t in times])
    for t, update in zip(times, updates, strict=True):
        expected = [2] if occlude and abs(t - 1.0) < 0.25 else [1, 2]
        assert update.ids == expected, t
    assert updates[-1].ids == [1, 2]  # a ends on the right, still 1


def test_missing_lists_unseen_tracks_until_forgotten() -> None:
    settings = TrackingSettings(forget_after_s=10.0)
    a, b = (100, 100, 80, 80), (300, 100, 80, 80)
    samples = [(0.0, [a, b]), (1.0, [a]), (5.0, [a]), (10.0, [a]), (10.5, [a]), (11.0, [a])]
    got = [(u.ids, u.missing, u.forgotten) for u in run(samples, settings)]
    assert got == [
        ([1, 2], [], []),
        ([1], [2], []),
        ([1], [2], []),
        ([1], [2], []),  # exactly forget_after_s: still remembered
        ([1], [], [2]),  # reported forgotten once
        ([1], [], []),
    ]


@pytest.mark.parametrize(
    ("return_at_s", "return_box", "expected_id"),
    [
        (5.0, (302, 98, 80, 80), 2),  # back near the old place within forget_after_s: same ID
        (9.9, (310, 105, 82, 78), 2),
        (12.0, (302, 98, 80, 80), 3),  # after forgetting: a new ID, 2 never reused
        (5.0, (700, 100, 80, 80), 3),  # back within the window but elsewhere: a new ID
    ],
)
def test_reentry_keeps_id_only_near_old_place_within_forget_window(
    return_at_s: float, return_box: Box, expected_id: int
) -> None:
    settings = TrackingSettings(forget_after_s=10.0)
    a, b = (100, 100, 80, 80), (300, 100, 80, 80)
    samples = [(0.0, [a, b]), (0.5, [a, b])] + [(float(t), [a]) for t in range(1, int(return_at_s))]
    samples.append((return_at_s, [a, return_box]))
    assert run(samples, settings)[-1].ids == [1, expected_id]


def test_moving_face_reentering_is_matched_at_its_last_place_not_far_along_its_path() -> None:
    samples = [(round(k * 0.1, 3), [(100 + 10 * k, 100, 80, 80)]) for k in range(5)]
    samples += [
        (20.0, [(142, 100, 80, 80)])
    ]  # 20 s later the prediction has stopped at 0.5 s of motion
    assert run(samples)[-1].ids == [1]


def test_rejects_boxes_of_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        Tracker(SETTINGS).update(np.zeros((2, 3)), 0.0)


def test_rejects_time_going_backwards() -> None:
    tracker = Tracker(SETTINGS)
    tracker.update(np.zeros((0, 4)), 1.0)
    with pytest.raises(ValueError, match="backwards"):
        tracker.update(np.zeros((0, 4)), 0.5)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 10, 10), 50 / 150),
        ((0, 0, 10, 10), (20, 20, 10, 10), 0.0),
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
    ],
)
def test_iou_of_box_pairs(a: Box, b: Box, expected: float) -> None:
    assert iou(np.array([a], float), np.array([b], float))[0, 0] == pytest.approx(expected)


def test_match_cost_is_zero_for_identical_boxes_and_gated_far_away() -> None:
    tracks = np.array([(0, 0, 10, 10)], float)
    boxes = np.array([(0, 0, 10, 10), (5, 0, 10, 10), (100, 0, 10, 10)], float)
    cost = match_cost(tracks, boxes, SETTINGS)
    assert cost[0, :2] == pytest.approx([0.0, 0.5 + 1 - 50 / 150])
    assert cost[0, 2] >= 1e9


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        ([[1.0, 2.0], [2.0, 1.0]], [(0, 0), (1, 1)]),
        ([[0.1, 0.2], [0.2, 5.0]], [(0, 1), (1, 0)]),  # optimal 0.4 beats greedy's 0.1 + 5.0
        ([[1.0], [0.5], [2.0]], [(1, 0)]),
        ([[1e9, 1e9]], []),  # all gated
        ([[0.3, 1e9], [1e9, 1e9]], [(0, 0)]),
        ([[1e9, 0.2, 1e9], [0.4, 1e9, 1e9], [1e9, 1e9, 1e9]], [(0, 1), (1, 0)]),  # one pair each
    ],
)
def test_assign_minimises_total_cost_and_drops_gated_pairs(
    cost: list[list[float]], expected: list[tuple[int, int]]
) -> None:
    assert assign(np.array(cost)) == expected


@pytest.mark.parametrize("seed", range(40))
def test_assign_matches_the_most_pairs_at_the_least_cost_as_brute_force_does(seed: int) -> None:
    import itertools

    rng = np.random.default_rng(seed)
    n_rows, n_cols = rng.integers(1, 5, size=2)
    cost = rng.uniform(0.0, 2.0, (n_rows, n_cols))
    cost[rng.uniform(size=cost.shape) < rng.uniform(0.3, 0.9)] = 1e9  # sparse, as a gallery's gates

    def score(pairs) -> tuple[int, float]:
        return -len(pairs), float(sum(cost[r, c] for r, c in pairs))

    best = min((score([(r, c) for r, c in zip(rows, cols, strict=False) if cost[r, c] < 1e9])
                for rows in itertools.permutations(range(n_rows))
                for cols in itertools.permutations(range(n_cols))), key=lambda s: (s[0], s[1]))
    got = assign(cost)
    assert len({r for r, _ in got}) == len({c for _, c in got}) == len(got)
    assert score(got)[0] == best[0] and score(got)[1] == pytest.approx(best[1])


def test_assign_of_empty_cost_is_empty() -> None:
    assert assign(np.zeros((0, 3))) == []


# --- appearance: identity through layout changes ------------------------------------------------


def synthetic_look(colour: int, mix: float = 0.0, shade: float | None = None) -> np.ndarray:
    """A descriptor whose colours sit in histogram bin `colour` (a share `mix` in the next bin),
    and whose patch is one grey level `shade`."""
    look = np.zeros(DESCRIPTOR_LEN, np.float32)
    look[colour] = np.sqrt(1.0 - mix)
    look[colour + 1] = np.sqrt(mix)
    look[HIST_SIZE:] = 0.1 + 0.01 * colour if shade is None else shade
    return look


LOOKS = {
    name: synthetic_look(7 * i) for i, name in enumerate("ABCDEFGHIJKL")
} | {
    "A~": synthetic_look(0, mix=0.01),  # A a moment later: very close
    "A'": synthetic_look(0, mix=0.03),  # someone who looks almost like A
    "B~": synthetic_look(7, mix=0.01),
}

Sighting = tuple[Box, str]  # a face box and the name of its look


def run_looks(
    samples: list[tuple[float, list[Sighting]]], settings: TrackingSettings = SETTINGS
) -> list[TrackUpdate]:
    tracker = Tracker(settings)
    out = []
    for t_s, sightings in samples:
        boxes = np.array([b for b, _ in sightings], dtype=np.float64).reshape(-1, 4)
        looks = np.array([LOOKS[n] for _, n in sightings], np.float32).reshape(-1, DESCRIPTOR_LEN)
        out.append(tracker.update(boxes, t_s, looks))
    return out


def tiles(n: int, size: float = 100.0, gap: float = 20.0, cols: int = 3) -> list[Box]:
    """Face boxes in the middle of n tiles of a gallery with `cols` columns."""
    step = size + gap
    return [((k % cols) * 2 * step, (k // cols) * step, size, size) for k in range(n)]


NINE = tiles(9)
TWELVE_SMALL = tiles(12, size=75.0, gap=15.0, cols=4)  # the same call resized to 4 columns


def test_synthetic_looks_are_as_close_as_named() -> None:
    d = distance(np.stack([LOOKS["A"]]), np.stack([LOOKS[n] for n in ("A~", "A'", "B")]))[0]
    assert d[0] < 0.04 < d[1] < SETTINGS.max_reidentify_distance < d[2]


@pytest.mark.parametrize(
    ("samples", "expected_ids", "expected_layout_changed"),
    [
        (  # four tiles permute all at once: the IDs follow the looks, not the tiles
            [
                (0.0, list(zip(NINE[:4], "ABCD", strict=True))),
                (0.5, list(zip(NINE[:4], "ABCD", strict=True))),
                (1.0, list(zip(NINE[:4], "CDAB", strict=True))),
                (1.5, list(zip(NINE[:4], "CDAB", strict=True))),
            ],
            [[1, 2, 3, 4], [1, 2, 3, 4], [3, 4, 1, 2], [3, 4, 1, 2]],
            [False, False, True, False],
        ),
        (  # a speaker swaps places with the first tile in a gallery of nine: not a layout change
            [
                (0.0, list(zip(NINE, "ABCDEFGHI", strict=True))),
                (0.5, list(zip(NINE, "GBCDEFAHI", strict=True))),
            ],
            [[1, 2, 3, 4, 5, 6, 7, 8, 9], [7, 2, 3, 4, 5, 6, 1, 8, 9]],
            [False, False],
        ),
        (  # the grid resizes from 3x3 to 4x3: every tile moves and shrinks, three students join
            [
                (0.0, list(zip(NINE, "ABCDEFGHI", strict=True))),
                (0.5, list(zip(TWELVE_SMALL, "ABCDEFGHIJKL", strict=True))),
                (1.0, list(zip(TWELVE_SMALL, "ABCDEFGHIJKL", strict=True))),
            ],
            [list(range(1, 10)), list(range(1, 13)), list(range(1, 13))],
            [False, True, False],
        ),
        (  # a student leaves (the others' tiles close up), a reorder, and they come back
            [
                (0.0, list(zip(NINE[:3], "ABC", strict=True))),
                (0.5, list(zip(NINE[:2], "BC", strict=True))),
                (5.0, list(zip(NINE[:2], "CB", strict=True))),
                (9.0, list(zip(NINE[:3], "CBA", strict=True))),
            ],
            [[1, 2, 3], [2, 3], [3, 2], [3, 2, 1]],
            [False, True, True, False],
        ),
    ],
)
def test_ids_follow_students_through_reorders_and_resizes(
    samples: list[tuple[float, list[Sighting]]],
    expected_ids: list[list[int]],
    expected_layout_changed: list[bool],
) -> None:
    updates = run_looks(samples)
    assert [u.ids for u in updates] == expected_ids
    assert [u.layout_changed for u in updates] == expected_layout_changed


@pytest.mark.parametrize(
    ("samples", "expected_last_ids"),
    [
        (  # back after the camera was off, in another tile, looking as before: the same ID
            [(0.0, [(NINE[0], "A"), (NINE[1], "B")]), (1.0, [(NINE[1], "B")]),
             (20.0, [(NINE[1], "B"), (NINE[5], "A~")])],
            [2, 1],
        ),
        (  # someone new in a student's old tile is someone else
            [(0.0, [(NINE[0], "A"), (NINE[1], "B")]), (0.5, [(NINE[0], "E"), (NINE[1], "B")])],
            [3, 2],
        ),
        (  # a face that could be either of two absent students: a new ID, never one of theirs
            [(0.0, [(NINE[0], "A"), (NINE[1], "A'"), (NINE[2], "B")]), (0.5, [(NINE[2], "B")]),
             (3.0, [(NINE[2], "B"), (NINE[7], "A~")])],
            [3, 4],
        ),
        (  # two faces that could both be one absent student: both new IDs
            [(0.0, [(NINE[0], "A"), (NINE[1], "B")]), (0.5, [(NINE[1], "B")]),
             (3.0, [(NINE[1], "B"), (NINE[6], "A~"), (NINE[7], "A'")])],
            [2, 3, 4],
        ),
        (  # a lookalike takes an absent student's tile while the student is still away
            [(0.0, [(NINE[0], "A"), (NINE[1], "B")]), (0.5, [(NINE[1], "B")]),
             (1.0, [(NINE[0], "E"), (NINE[1], "B")]), (1.5, [(NINE[0], "E"), (NINE[1], "B"),
                                                             (NINE[4], "A~")])],
            [3, 2, 1],
        ),
    ],
)
def test_returning_students_are_reidentified_by_look_and_two_people_never_share_an_id(
    samples: list[tuple[float, list[Sighting]]], expected_last_ids: list[int]
) -> None:
    updates = run_looks(samples)
    assert updates[-1].ids == expected_last_ids


def test_a_students_slowly_changing_look_keeps_their_id_in_place() -> None:
    # The light changes over a minute: the look drifts well past the re-identification distance.
    samples = []
    for k in range(60):
        LOOKS[f"drift{k}"] = synthetic_look(0, mix=0.5 * k / 59, shade=0.1 + 0.2 * k / 59)
        samples.append((float(k), [(NINE[0], f"drift{k}"), (NINE[1], "B")]))
    assert distance(LOOKS["drift0"][None], LOOKS["drift59"][None])[0, 0] > 0.3
    updates = run_looks(samples)
    assert all(u.ids == [1, 2] for u in updates)


@pytest.mark.parametrize("with_looks", [False, True])
def test_crossing_students_keep_their_ids_with_or_without_looks(with_looks: bool) -> None:
    times = [round(k * 0.1, 3) for k in range(21)]
    tracker = Tracker(SETTINGS)
    for t in times:
        boxes = np.array(crossing(t), float)
        looks = np.stack([LOOKS["A"], LOOKS["B"]]) if with_looks else None
        update = tracker.update(boxes, t, looks)
    assert update.ids == [1, 2]


def test_the_plain_box_tracker_never_reports_a_layout_change() -> None:
    samples = [(0.0, NINE[:4]), (0.5, [NINE[k] for k in (6, 7, 8, 5)]), (1.0, NINE[:4])]
    assert [u.layout_changed for u in run(samples)] == [False, False, False]


def test_rejects_appearance_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"appearance must have shape \(2, "):
        Tracker(SETTINGS).update(np.zeros((2, 4)), 0.0, np.zeros((3, DESCRIPTOR_LEN)))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_reidentify_distance", 0.0, "max_reidentify_distance must be > 0"),
        ("reidentify_margin", -0.1, "reidentify_margin must be >= 0"),
        ("layout_change_min_tracks", 0, "layout_change_min_tracks must be >= 1"),
        ("layout_change_fraction", 1.5, r"layout_change_fraction must be within \(0, 1\]"),
        ("appearance_smoothing", 0.0, r"appearance_smoothing must be within \(0, 1\]"),
    ],
)
def test_settings_refuse_impossible_appearance_thresholds(
    field: str, value: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TrackingSettings(**{field: value})


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        ([[0.05, 0.5], [0.5, 0.06]], [(0, 0), (1, 1)]),
        ([[0.05, 0.08]], []),  # the track could be either face
        ([[0.05], [0.07]], []),  # the face could be either track
        ([[0.30]], []),  # clear, but too far
        ([[0.10, 0.50], [0.50, 0.50]], [(0, 0)]),
        ([[0.20, 0.25]], [(0, 0)]),  # exactly the margin apart
        ([[0.1, 0.1]], []),  # a tie
    ],
)
def test_reidentify_pairs_only_clear_matches(d: list[list[float]], expected: list[tuple[int, int]]) -> None:
    assert reidentify(np.array(d), 0.25, 0.05) == expected


def test_reidentify_of_nothing_is_nothing() -> None:
    assert reidentify(np.zeros((0, 2)), 0.25, 0.05) == []
