"""Find the gallery: the tile grid on composed desktops with real photos, and the lattice on literal boxes.

`python -m tests.engine.desktop_shots --cases 300` measures the same over random desktops.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.grid_finder import (
    GridSettings,
    background_candidates,
    faces_bounding_region,
    find_gallery,
    fit_lattice,
    tile_pieces,
)
from tests.engine.desktop_shots import (
    DesktopSpec,
    compose_desktop,
    edge_error_px,
    sample_photos,
    standard_specs,
)

MAX_ERROR_PX = 4


@pytest.fixture(scope="module")
def photos(asset) -> list[np.ndarray]:
    return sample_photos(asset)


@pytest.mark.parametrize(("name", "spec"), standard_specs(), ids=[name for name, _ in standard_specs()])
def test_the_gallery_is_found_within_four_pixels_with_its_shape(photos, name, spec):
    shot = compose_desktop(spec, photos)
    grid = find_gallery(shot.image)
    assert grid is not None, name
    assert grid.shape == shot.shape
    assert edge_error_px(grid.region, shot.gallery) <= MAX_ERROR_PX, (grid.region, shot.gallery)
    assert grid.background_rgb == spec.background
    assert (grid.gap_x, grid.gap_y) == (spec.gap_px, spec.gap_px)


@pytest.mark.parametrize(("name", "scale"), [
    ("2x2-dark-framed-1280", 1.25), ("7x7-light-frameless-1366", 1.5), ("3x3-7-dark-framed-1366", 1.25),
    ("5x5-light-frameless-1600", 1.5),
])
def test_display_scaling_that_blurs_the_tile_edges_still_finds_the_gallery(photos, name, scale):
    spec = dict(standard_specs())[name]
    shot = compose_desktop(spec, photos)
    height, width = shot.image.shape[:2]
    scaled = cv2.resize(shot.image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
    grid = find_gallery(scaled)
    assert grid is not None and grid.shape == shot.shape
    truth = tuple(round(v * scale) for v in shot.gallery)
    assert edge_error_px(grid.region, truth) <= MAX_ERROR_PX, (grid.region, truth)


@pytest.mark.parametrize("desktop", ["gradient", "wallpaper", "flat"])
def test_a_desktop_without_a_call_has_no_gallery(photos, desktop):
    shot = compose_desktop(DesktopSpec(grid=(0, 0), desktop=desktop, with_call=False, seed=5), photos)
    assert find_gallery(shot.image) is None


def test_a_speaker_view_of_one_big_tile_is_no_gallery(photos):
    shot = compose_desktop(DesktopSpec(grid=(1, 1), seed=3), photos)
    assert find_gallery(shot.image) is None


def test_tiles_too_small_for_faces_are_no_gallery(photos):
    shot = compose_desktop(DesktopSpec(grid=(7, 7), screen=(1280, 720), window_share=0.45, seed=8), photos)
    assert shot.tiles[0][2] < GridSettings().min_tile_width
    assert find_gallery(shot.image) is None


def _lattice(rows: int, cols: int, size=(160, 90), gap=6, origin=(100, 50), skip=()) -> list:
    w, h = size
    return [(origin[0] + c * (w + gap), origin[1] + r * (h + gap), w, h)
            for r in range(rows) for c in range(cols) if (r, c) not in skip]


@pytest.mark.parametrize(("boxes", "region", "shape", "tiles"), [
    (_lattice(2, 3), (100, 50, 492, 186), (2, 3), 6),
    (_lattice(2, 3, skip={(0, 1)}), (100, 50, 492, 186), (2, 3), 5),  # a tile in the background colour
    (_lattice(3, 3, skip={(0, 0), (2, 2)}), (100, 50, 492, 282), (3, 3), 7),  # two opposite corners
    (_lattice(2, 3) + [(183, 242, 160, 90), (349, 242, 160, 90)], (100, 50, 492, 282), (3, 3), 8),  # centred
    (_lattice(2, 2) + [(900, 700, 160, 90)], (100, 50, 326, 186), (2, 2), 4),  # a stray box elsewhere
    (_lattice(1, 4, gap=2), (100, 50, 646, 90), (1, 4), 4),
])
def test_the_lattice_is_fitted_on_the_tiles_that_show(boxes, region, shape, tiles):
    grid = fit_lattice(boxes, (32, 32, 32))
    assert grid is not None
    assert (grid.region, grid.shape, len(grid.tiles)) == (region, shape, tiles)
    assert (grid.tile_width, grid.tile_height) == (160, 90)


@pytest.mark.parametrize("boxes", [
    [(100, 50, 160, 90), (400, 50, 160, 90)],  # 140 px apart: two windows, not a grid
    [(100, 50, 160, 90), (266, 50, 160, 90), (440, 50, 160, 90), (100, 700, 160, 90)],  # uneven gaps
])
def test_boxes_without_uniform_small_gaps_are_no_grid(boxes):
    grid = fit_lattice(boxes)
    assert grid is None or len(grid.tiles) < len(boxes)


def test_uneven_gaps_keep_the_evenly_spaced_run():
    grid = fit_lattice([(100, 50, 160, 90), (266, 50, 160, 90), (432, 50, 160, 90), (620, 50, 160, 90)])
    assert grid is not None and grid.region == (100, 50, 492, 90) and grid.shape == (1, 3)


def test_background_candidates_are_the_most_common_colours_first():
    image = np.zeros((40, 40, 3), np.uint8)
    image[:] = (32, 33, 36)
    image[4:20, 4:36] = (200, 10, 10)
    image[24:28, 4:8] = (1, 2, 3)  # 16 px of 1600: under the smallest share
    assert background_candidates(image, GridSettings(min_colour_share=0.02)) == [(32, 33, 36), (200, 10, 10)]


def test_tile_pieces_are_what_the_background_colour_leaves():
    image = np.zeros((300, 500, 3), np.uint8)
    image[:] = (26, 26, 26)
    image[20:110, 30:190] = (90, 90, 90)  # a camera-off tile ...
    image[60:70, 80:140] = (27, 25, 28)  # ... whose name label is nearly the background
    image[20:110, 196:356] = np.random.default_rng(0).integers(0, 256, (90, 160, 3))
    image[200:210, 30:300] = (250, 250, 250)  # a bar: too thin for a tile
    assert sorted(tile_pieces(image, (26, 26, 26))) == [(30, 20, 160, 90), (196, 20, 160, 90)]


def test_find_gallery_wants_an_rgb_image():
    with pytest.raises(ValueError, match=r"expected an RGB image of shape \(height, width, 3\), got \(10, 10\)"):
        find_gallery(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize(("boxes", "margin", "screen", "region"), [
    ([], 1.0, (1920, 1080), None),
    ([(500, 300, 60, 80)], 1.0, (1920, 1080), (420, 220, 220, 240)),
    ([(500, 300, 60, 80), (900, 320, 70, 70)], 0.5, None, (460, 260, 550, 170)),
    ([(10, 20, 50, 50)], 1.0, (1920, 1080), (0, 0, 160, 150)),  # pushed back onto the screen
    ([(1880, 1040, 30, 30)], 0.0, (1920, 1080), (1760, 960, 160, 120)),  # grown to the smallest region
    ([(0, 0, 1900, 1000)], 1.0, (1920, 1080), (0, 0, 1920, 1080)),  # clipped to the screen
])
def test_faces_bounding_region_frames_every_face_with_a_margin(boxes, margin, screen, region):
    assert faces_bounding_region(boxes, margin, screen) == region
