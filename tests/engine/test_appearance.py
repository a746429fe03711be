"""The appearance cue on real photos in composed galleries: same student alike wherever their tile
goes, different students apart, neighbouring tiles kept out; and its pure parts on literal arrays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.appearance import (
    DESCRIPTOR_LEN,
    HIST_SIZE,
    blend,
    describe,
    distance,
    tile_bounds,
)
from engine.call_gallery import multi_face_people
from engine.faces import FaceFinder, FaceSettings, face_boxes
from engine.gallery import tile_rects
from engine.tracking import TrackingSettings
from tests.kit.galleries import PHOTOS, compose_gallery

SETTINGS = TrackingSettings()


@pytest.fixture(scope="module")
def finder(asset):
    with FaceFinder(asset("face_landmarker.task"), FaceSettings(max_faces=60)) as f:
        yield f


@pytest.fixture(scope="module")
def students(asset) -> list[np.ndarray]:
    """Nine real people: the five sample portraits and four of the group photo's people."""
    return [cv2.imread(str(asset(name))) for name in PHOTOS] + multi_face_people()[:4]


def looks_by_student(finder: FaceFinder, images: list[np.ndarray], order: list[int],
                     grid: tuple[int, int], size: tuple[int, int]) -> dict[int, np.ndarray]:
    """Compose a gallery with student order[i] in tile i; each student's descriptor, by student."""
    frame = compose_gallery([images[s] for s in order], grid, size)
    boxes = face_boxes(finder.find(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
    looks = describe(frame, boxes)
    by_student: dict[int, np.ndarray] = {}
    for box, look in zip(boxes, looks, strict=True):
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        tile = next(i for i, (x, y, w, h) in enumerate(tile_rects(grid, size))
                    if x <= cx < x + w and y <= cy < y + h)
        by_student[order[tile]] = look
    return by_student


def test_a_student_looks_alike_after_a_reorder_and_a_resize_and_unlike_everyone_else(
    finder, students
) -> None:
    before = looks_by_student(finder, students, list(range(9)), (3, 3), (1280, 720))
    after = looks_by_student(finder, students, [4, 0, 7, 2, 8, 6, 1, 5, 3], (3, 4), (1280, 720))
    assert sorted(before) == sorted(after) == list(range(9))
    d = distance(np.stack([before[s] for s in range(9)]), np.stack([after[s] for s in range(9)]))
    own = np.diag(d)
    others = np.where(np.eye(9, dtype=bool), np.inf, d)
    assert own.max() < SETTINGS.max_reidentify_distance
    # Each student is clearly closest to themselves, both ways, by the tracker's margin.
    assert np.all(own + SETTINGS.reidentify_margin <= others.min(axis=1))
    assert np.all(own + SETTINGS.reidentify_margin <= others.min(axis=0))


def test_a_neighbouring_tile_does_not_change_a_look(finder, students) -> None:
    # Portrait 1's face fills most of its tile, so its region reaches over the tile's edges.
    with_a = looks_by_student(finder, students, [1, 5, 6, 7], (2, 2), (1280, 720))
    with_b = looks_by_student(finder, students, [1, 3, 8, 2], (2, 2), (1280, 720))
    assert distance(with_a[1][None], with_b[1][None])[0, 0] < 0.05


def test_the_same_look_is_at_distance_zero_and_distances_are_symmetric_and_bounded(
    finder, students
) -> None:
    looks = looks_by_student(finder, students, list(range(9)), (3, 3), (1280, 720))
    stacked = np.stack([looks[s] for s in range(9)])
    d = distance(stacked, stacked)
    assert np.diag(d) == pytest.approx(np.zeros(9), abs=1e-6)
    assert d == pytest.approx(d.T, abs=1e-6)
    assert d.min() >= 0.0 and d.max() <= 1.0


def texture(height: int, width: int) -> np.ndarray:
    """A deterministic busy grey pattern (no row or column is uniform)."""
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 37 + y * 91 + x * y * 13) % 200 + 20).astype(np.uint8)


@pytest.mark.parametrize(
    ("uniform_rows", "uniform_cols", "face", "expected"),
    [
        ([], [], (8, 8, 16, 16), (0, 0, 24, 24)),  # no gap: the whole region
        ([20], [], (8, 8, 16, 16), (0, 0, 24, 20)),  # a gap below the face
        ([2, 21], [3], (8, 8, 16, 16), (4, 3, 24, 21)),  # gaps above, below and to the left
        ([15], [], (8, 4, 16, 16), (0, 0, 24, 15)),  # the box reaches over its tile's edge
        ([10], [], (8, 4, 16, 16), (0, 0, 24, 24)),  # a uniform row deep inside a face is no gap
    ],
)
def test_tile_bounds_stop_at_the_first_uniform_row_or_column_outside_the_face(
    uniform_rows: list[int], uniform_cols: list[int], face: tuple[int, int, int, int],
    expected: tuple[int, int, int, int],
) -> None:
    value = texture(24, 24)
    for r in uniform_rows:
        value[r, :] = 30
    for c in uniform_cols:
        value[:, c] = 30
    assert tile_bounds(value, face) == expected


def test_a_face_at_the_frame_corner_has_a_unit_histogram_and_unknown_cells_outside(
    asset,
) -> None:
    photo = cv2.imread(str(asset("single_face.jpg")))
    box = np.array([[0.0, 0.0, 180.0, 220.0]])  # the region reaches past the top and the left
    look = describe(photo, box)[0]
    assert np.linalg.norm(look[:HIST_SIZE]) == pytest.approx(1.0, abs=1e-5)
    patch = look[HIST_SIZE:].reshape(6, 5, 3)
    assert np.all(patch[0] == -1.0) and np.all(patch[:, 0] == -1.0)  # top row, left column
    assert np.all(patch[2:, 2:] >= 0.0)


def test_an_empty_box_gets_a_flat_histogram_and_no_patch(asset) -> None:
    photo = cv2.imread(str(asset("single_face.jpg")))
    look = describe(photo, np.array([[5000.0, 5000.0, 10.0, 10.0]]))[0]
    assert look[:HIST_SIZE] == pytest.approx(np.full(HIST_SIZE, np.sqrt(1 / HIST_SIZE)))
    assert np.all(look[HIST_SIZE:] == -1.0)


def test_unknown_patch_cells_are_left_out_of_the_distance() -> None:
    a = np.zeros(DESCRIPTOR_LEN, np.float32)
    a[:HIST_SIZE] = np.sqrt(1 / HIST_SIZE)
    a[HIST_SIZE:] = 0.5
    b = a.copy()
    b[HIST_SIZE:HIST_SIZE + 30] = -1.0  # b did not see these cells
    c = a.copy()
    c[HIST_SIZE:HIST_SIZE + 30] = 0.9  # c saw them differently
    d = distance(a[None], np.stack([b, c]))[0]
    assert d[0] == pytest.approx(0.0, abs=1e-6)
    assert d[1] > 0.0


def test_blend_keeps_a_unit_histogram_and_fills_cells_one_side_did_not_see() -> None:
    old = np.zeros(DESCRIPTOR_LEN, np.float32)
    old[0] = 1.0
    old[HIST_SIZE:] = -1.0
    new = np.zeros(DESCRIPTOR_LEN, np.float32)
    new[1] = 1.0
    new[HIST_SIZE:] = 0.25
    out = blend(old, new, 0.3)
    assert np.linalg.norm(out[:HIST_SIZE]) == pytest.approx(1.0)
    assert out[0] > out[1] > 0.0
    assert np.all(out[HIST_SIZE:] == pytest.approx(0.25))


def test_describe_rejects_boxes_of_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        describe(np.zeros((10, 10, 3), np.uint8), np.zeros((2, 3)))


def test_describe_rejects_a_frame_that_is_not_bgr() -> None:
    with pytest.raises(ValueError, match="BGR uint8"):
        describe(np.zeros((10, 10), np.uint8), np.zeros((0, 4)))
