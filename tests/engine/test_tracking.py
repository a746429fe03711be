"""Anonymous tracking on crafted box trajectories: stable IDs, new faces, re-entry, crossing, forgetting."""

from __future__ import annotations

import numpy as np
import pytest

from engine.tracking import Tracker, TrackingSettings, TrackUpdate, assign, iou, match_cost

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
    ],
)
def test_assign_minimises_total_cost_and_drops_gated_pairs(
    cost: list[list[float]], expected: list[tuple[int, int]]
) -> None:
    assert assign(np.array(cost)) == expected


def test_assign_of_empty_cost_is_empty() -> None:
    assert assign(np.zeros((0, 3))) == []
