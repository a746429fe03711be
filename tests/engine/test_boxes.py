from __future__ import annotations

import numpy as np
import pytest

from engine.boxes import (
    iou,
    overlap_of_smaller,
    square_crop_window,
    suppress_duplicates,
    tile_windows,
)


def boxes(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, float).reshape(-1, 4)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([[0, 0, 10, 10]], [[0, 0, 10, 10]], [[1.0]]),  # the same box
    ([[0, 0, 10, 10]], [[5, 0, 10, 10]], [[50 / 150]]),  # half overlapping
    ([[0, 0, 10, 10]], [[10, 0, 10, 10]], [[0.0]]),  # touching edges
    ([[0, 0, 20, 20]], [[5, 5, 10, 10]], [[100 / 400]]),  # one inside the other
    ([[0, 0, 0, 0]], [[0, 0, 0, 0]], [[0.0]]),  # empty boxes: 0, not NaN
    ([[0, 0, 10, 10], [100, 100, 10, 10]], [[0, 0, 10, 10], [5, 5, 10, 10], [100, 105, 10, 10]],
     [[1.0, 25 / 175, 0.0], [0.0, 0.0, 50 / 150]]),  # every pair, rows a, columns b
])
def test_iou(a, b, expected):
    np.testing.assert_allclose(iou(boxes(a), boxes(b)), expected)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([[0, 0, 20, 20]], [[5, 5, 10, 10]], [[1.0]]),  # a partial box wholly inside a bigger one
    ([[0, 0, 10, 10]], [[5, 0, 10, 10]], [[0.5]]),
    ([[0, 0, 10, 10]], [[50, 50, 10, 10]], [[0.0]]),
    ([[0, 0, 10, 10]], [[0, 0, 0, 0]], [[0.0]]),  # an empty box overlaps nothing
])
def test_overlap_of_smaller(a, b, expected):
    np.testing.assert_allclose(overlap_of_smaller(boxes(a), boxes(b)), expected)


@pytest.mark.parametrize(("rows", "scores", "kept"), [
    ([[0, 0, 10, 10], [1, 1, 10, 10]], [0.9, 0.8], [0]),
    ([[0, 0, 10, 10], [50, 50, 10, 10]], [0.5, 0.9], [1, 0]),  # best first
    ([[0, 0, 20, 20], [2, 2, 8, 8]], [0.6, 0.9], [1]),  # a partial box mostly inside another
    ([[0, 0, 10, 10], [6, 0, 10, 10]], [0.9, 0.8], [0, 1]),  # IoU 0.25: two faces side by side
    ([], [], []),
])
def test_suppress_duplicates(rows, scores, kept):
    assert suppress_duplicates(boxes(rows), np.array(scores, float)) == kept


@pytest.mark.parametrize(("rows", "threshold", "kept"), [
    ([[0, 0, 10, 10], [6, 0, 10, 10]], 0.3, [0, 1]),
    ([[0, 0, 10, 10], [6, 0, 10, 10]], 0.2, [0]),  # a stricter threshold merges them
])
def test_suppress_duplicates_threshold(rows, threshold, kept):
    assert suppress_duplicates(boxes(rows), np.array([0.9, 0.8]), threshold) == kept


@pytest.mark.parametrize(("width", "height", "tile", "count"), [
    (400, 300, 280, 0),  # small frames need no tiles
    (640, 480, 320, 4),
    (1280, 720, 280, 15),
    (1920, 1080, 280, 28),
])
def test_tile_windows_cover_the_frame(width, height, tile, count):
    windows = tile_windows(width, height, tile, 0.25)
    assert len(windows) == count
    if windows:
        covered = np.zeros((height, width), bool)
        for x, y, w, h in windows:
            covered[y:y + h, x:x + w] = True
        assert covered.all()


@pytest.mark.parametrize(("width", "height", "tile", "overlap", "expected"), [
    (640, 480, 320, 0.0, [(0, 0, 320, 240), (320, 0, 320, 240), (0, 240, 320, 240), (320, 240, 320, 240)]),
    (640, 480, 320, 0.25, [(0, 0, 400, 300), (240, 0, 400, 300), (0, 180, 400, 300), (240, 180, 400, 300)]),
])
def test_tile_windows_overlap_their_neighbours(width, height, tile, overlap, expected):
    assert tile_windows(width, height, tile, overlap) == expected


@pytest.mark.parametrize(("box", "scale", "expected"), [
    ((100, 100, 50, 50), 2.0, (75, 75, 100, 100)),
    ((100, 100, 40, 20), 1.0, (100, 90, 40, 40)),  # square on the larger side
    ((0, 0, 40, 20), 2.0, (0, 0, 60, 50)),  # clipped at the frame's edge
    ((620, 460, 40, 40), 2.0, (600, 440, 40, 40)),  # and at the far edges
])
def test_square_crop_window(box, scale, expected):
    assert square_crop_window(box, scale, 640, 480) == expected
