"""Composed call galleries (`engine.call_gallery`, the demo's; the test kit's built on it): tiles move
at known times and every frame knows who is where."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.call_gallery import CallGallery, Layout, Shows, Student
from engine.faces import FaceFinder, FaceSettings, face_boxes
from engine.gallery import still, tile_rects
from tests.kit.galleries import (
    CAMERA_OFF,
    REORDER_TIMES,
    call_frame,
    large_gallery,
    moving_gallery_16,
    read_back,
    reorder_gallery,
)


@pytest.fixture(scope="module")
def gallery() -> CallGallery:
    return reorder_gallery()


def test_the_truth_follows_the_layout_schedule(gallery: CallGallery) -> None:
    before = gallery.truth(int((REORDER_TIMES[0] - 0.1) * gallery.fps))
    after = gallery.truth(int(REORDER_TIMES[0] * gallery.fps))
    assert [t.student for t in before] == list(range(9))
    assert [t.student for t in after] == [4, 0, 7, 2, 8, 6, 1, 5, 3]
    assert [t.rect for t in after] == tile_rects((3, 3), (1280, 720))
    resized = gallery.truth(int(REORDER_TIMES[3] * gallery.fps))
    assert len(resized) == 12 and [t.rect for t in resized] == tile_rects((3, 4), (1280, 720))


def test_a_camera_off_tile_shows_the_name_then_the_camera_again(gallery: CallGallery) -> None:
    off = next(i for i, s in enumerate(gallery.students) if s.camera_off)
    shows = {t_s: next(t.shows for t in gallery.truth(int(t_s * gallery.fps)) if t.student == off)
             for t_s in (CAMERA_OFF[0] - 1, CAMERA_OFF[0] + 1, CAMERA_OFF[1] + 1)}
    assert list(shows.values()) == [Shows.CAMERA, Shows.NAME, Shows.CAMERA]


def test_a_profile_photo_tile_is_identical_from_frame_to_frame(gallery: CallGallery) -> None:
    photo = next(i for i, s in enumerate(gallery.students) if s.still_photo)

    def tile_pixels(index: int) -> np.ndarray:
        x, y, w, h = next(t.rect for t in gallery.truth(index) if t.student == photo)
        return gallery.render(index)[y:y + h, x:x + w]

    assert np.array_equal(tile_pixels(10), tile_pixels(11))
    assert not np.array_equal(gallery.render(10), gallery.render(11))  # others live


def test_real_faces_are_found_in_every_tile_but_the_camera_off_one(asset, gallery) -> None:
    frame = call_frame(gallery, int((CAMERA_OFF[0] + 1) * gallery.fps))
    with FaceFinder(asset("face_landmarker.task"), FaceSettings(max_faces=60)) as finder:
        boxes = face_boxes(finder.find(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)))
    found = sorted(frame.tile_at(b).student for b in boxes)
    expected = sorted(t.student for t in frame.tiles if t.shows is not Shows.NAME)
    assert found == expected and len(found) == 8


def test_frames_read_back_from_the_codec_keep_their_truth(tmp_path, gallery) -> None:
    small = CallGallery(gallery.students[:4], [Layout(0.0, (2, 2), (0, 1, 2, 3)),
                                               Layout(1.0, (2, 2), (3, 2, 1, 0))], (640, 360))
    small.write(tmp_path / "call.mp4", 2.0)
    frames = list(read_back(small, tmp_path / "call.mp4", 2.0))
    assert [f.t_s for f in frames] == [0.0, 0.5, 1.0, 1.5]
    assert [f.layout for f in frames] == [0, 0, 1, 1]
    rendered = small.render(frames[2].index).astype(int)
    assert np.abs(frames[2].image.astype(int) - rendered).mean() < 4  # the same picture, compressed


@pytest.mark.parametrize("side", [5, 7])
def test_large_galleries_fill_every_tile_at_1920x1080(side: int) -> None:
    big = large_gallery(side)
    assert big.render(0).shape == (1080, 1920, 3)
    assert len(big.truth(0)) == side * side
    assert len({s.name for s in big.students}) == side * side
    assert sorted(big.layouts[1].order) == list(range(side * side)) != list(big.layouts[1].order)


def test_the_16_face_gallery_of_the_fer_comparison_moves_in_every_tile_and_never_reorders() -> None:
    gallery = moving_gallery_16()
    assert gallery.size == (1280, 720) and len(gallery.layouts) == 1
    assert len(gallery.truth(0)) == 16 and {t.shows for t in gallery.truth(0)} == {Shows.CAMERA}
    before, after = gallery.render(0).astype(int), gallery.render(5).astype(int)  # half a second apart
    for tile in gallery.truth(0):
        x, y, w, h = tile.rect
        assert np.abs(after[y:y + h, x:x + w] - before[y:y + h, x:x + w]).mean() > 0.5, tile.name


@pytest.mark.parametrize(
    ("layouts", "message"),
    [
        ([Layout(1.0, (1, 2), (0, 1))], "first layout must start at 0 s"),
        ([Layout(0.0, (1, 2), (0, 1)), Layout(0.0, (1, 2), (1, 0))], "increasing times"),
        ([Layout(0.0, (1, 2), (0, 5))], "unknown student"),
    ],
)
def test_a_gallery_refuses_an_impossible_schedule(layouts: list[Layout], message: str) -> None:
    students = [Student(n, still(np.zeros((4, 4, 3), np.uint8))) for n in "ab"]
    with pytest.raises(ValueError, match=message):
        CallGallery(students, layouts)


@pytest.mark.parametrize(
    ("grid", "order", "message"),
    [((1, 2), (0, 1, 2), "do not fit a 1x2 grid"), ((2, 2), (0, 0), "in two tiles at once")],
)
def test_a_layout_refuses_too_many_or_repeated_students(
    grid: tuple[int, int], order: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Layout(0.0, grid, order)
