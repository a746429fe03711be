"""The screen picker's logic: downscaled screenshots mapped back to monitor pixels, boxes read as
regions, the region checks in words, and "Find the gallery" on composed desktops with real faces."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from dashboard import photo, screen_picker
from dashboard.launch import LessonForm, launch_from_form
from dashboard.screen_picker import Shot
from engine.screens import Monitor, RegionError, ScreenRegion
from tests.engine.desktop_shots import DesktopSpec, compose_desktop, sample_photos

SCREEN_1 = Monitor(1, 0, 0, 1920, 1080, primary=True)
LEFT_OF_IT = Monitor(2, -1280, 0, 1280, 720)


@pytest.fixture(scope="module")
def faces_in(asset):
    """The engine's face finder as the picker uses it (no expression model)."""
    asset("face_landmarker.task")
    models = photo.load_models(with_expressions=False)
    yield lambda rgb: [face.box for face in photo.analyse(rgb, models)]
    models.finder.close()


@pytest.fixture(scope="module")
def photos(asset) -> list[np.ndarray]:
    return sample_photos(asset)


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        ((1920, 1080), (960, 540)),
        ((2560, 1440), (960, 540)),
        ((1366, 768), (960, 540)),  # 539.77 rounds to 540
        ((3440, 1440), (960, 402)),
        ((800, 600), (800, 600)),  # never enlarged
    ],
)
def test_a_screenshot_is_shown_at_most_960_pixels_wide_keeping_its_aspect(size, shown):
    assert screen_picker.shown_size(*size) == shown
    assert (
        screen_picker.downscale(np.zeros((size[1], size[0], 3), np.uint8), 960).shape[:2]
        == shown[::-1]
    )


@pytest.mark.parametrize(
    "monitor", [SCREEN_1, Monitor(1, 0, 0, 1366, 768), Monitor(1, 0, 0, 800, 600)]
)
def test_the_chart_places_each_shown_pixel_on_the_monitor_pixels_it_stands_for(monitor):
    shot = Shot(monitor, np.zeros((monitor.height, monitor.width, 3), np.uint8))
    fig = screen_picker.picker_figure(shot)
    image = fig.data[0]
    shown_w, shown_h = screen_picker.shown_size(monitor.width, monitor.height)
    # Shown pixel i spans [x0 + (i - ½)·dx, x0 + (i + ½)·dx): the first starts at monitor pixel 0,
    # the last ends at the monitor's width, whatever the downscaling.
    assert image.x0 - image.dx / 2 == 0 and image.y0 - image.dy / 2 == 0
    assert image.x0 + (shown_w - 0.5) * image.dx == pytest.approx(monitor.width, abs=1e-9)
    assert image.y0 + (shown_h - 0.5) * image.dy == pytest.approx(monitor.height, abs=1e-9)
    assert tuple(fig.layout.xaxis.range) == (0, monitor.width)
    assert tuple(fig.layout.yaxis.range) == (monitor.height, 0)  # rows down, as on the screen
    assert (fig.layout.width, fig.layout.height) == (shown_w, shown_h)
    assert fig.layout.dragmode == "select"
    assert fig.data[1].type == "scatter"  # Plotly reports a box only over a selectable trace


def test_a_box_dragged_over_a_window_on_the_shown_screenshot_gives_that_window_in_monitor_pixels():
    monitor = Monitor(1, 0, 0, 2560, 1440)
    window = (613, 287, 1101, 655)  # x, y, w, h: where a call window is, in monitor pixels
    rgb = np.zeros((monitor.height, monitor.width, 3), np.uint8)
    x, y, w, h = window
    rgb[y : y + h, x : x + w] = 255
    fig = screen_picker.picker_figure(Shot(monitor, rgb))
    image = fig.data[0]
    seen = screen_picker.downscale(rgb, screen_picker.SHOWN_WIDTH_PX)[..., 0] > 127
    cols = np.flatnonzero(seen.any(axis=0))  # the window as the teacher sees it
    rows = np.flatnonzero(seen.any(axis=1))
    box = {  # the teacher drags from the window's first shown pixel to its last
        "x": [image.x0 + (cols[-1] + 0.5) * image.dx, image.x0 + (cols[0] - 0.5) * image.dx],
        "y": [image.y0 + (rows[0] - 0.5) * image.dy, image.y0 + (rows[-1] + 0.5) * image.dy],
    }
    region = screen_picker.region_from_box(box, monitor)
    # Within one shown pixel (2.67 monitor pixels here) of the window: what a drag can resolve.
    assert (
        np.abs(np.subtract((region.x, region.y, region.width, region.height), window)).max()
        <= image.dx
    )


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ({"x": [100, 500], "y": [50, 400]}, (100, 50, 400, 350)),
        ({"x": [500.2, 100.7], "y": [400.4, 49.6]}, (101, 50, 399, 350)),  # dragged up and left
        ({"x": [0, 1920], "y": [0, 1080]}, (0, 0, 1920, 1080)),
        (
            {"x": [1700, 2100], "y": [10, 300]},
            (1700, 10, 400, 290),
        ),  # kept as dragged: checked later
        ({"x": [300, 300.2], "y": [10, 300]}, None),  # no area
        ({"x": [], "y": []}, None),
    ],
)
def test_a_selection_box_is_read_as_a_region_in_whole_monitor_pixels(box, expected):
    region = screen_picker.region_from_box(box, SCREEN_1)
    if expected is None:
        assert region is None
    else:
        assert (region.monitor, region.x, region.y, region.width, region.height) == (
            SCREEN_1,
            *expected,
        )


def test_the_newest_box_of_a_selection_wins_and_an_empty_selection_is_none():
    selection = {
        "points": [],
        "point_indices": [],
        "lasso": [],
        "box": [
            {"xref": "x", "yref": "y", "x": [0, 10], "y": [0, 10]},
            {"xref": "x", "yref": "y", "x": [20, 420], "y": [30, 330]},
        ],
    }
    region = screen_picker.region_from_selection(selection, SCREEN_1)
    assert (region.x, region.y, region.width, region.height) == (20, 30, 400, 300)
    assert screen_picker.region_from_selection({"box": []}, SCREEN_1) is None


def test_a_region_on_a_monitor_left_of_the_first_starts_the_engine_at_a_negative_offset(tmp_path):
    region = ScreenRegion(LEFT_OF_IT, 100, 50, 800, 450)
    assert screen_picker.region_text(region) == "-1180,50,800,450"
    form = LessonForm("Maths", "7B", "screen", region=screen_picker.region_text(region))
    launched = launch_from_form(form, data_dir=tmp_path)
    assert launched.source == region.to_spec() == "screen:-1180,50,800,450"


@pytest.mark.parametrize(
    ("region", "faces", "line"),
    [
        (
            None,
            None,
            "no region picked: drag a box over the call's gallery on the screenshot, or click "
            "“Find the gallery”",
        ),
        (
            ScreenRegion(SCREEN_1, 1700, 100, 400, 300),
            9,
            "the region reaches 180 pixels past the right edge of screen 1 (1920×1080); move it or make it smaller",
        ),
        (
            ScreenRegion(SCREEN_1, 2000, 100, 400, 300),
            9,
            "the region is outside screen 1 (1920×1080); pick it on the screen that shows the call",
        ),
        (
            ScreenRegion(SCREEN_1, 100, 100, 120, 90),
            1,
            "the region is 120×90 pixels, too small to find faces in; make it at least 160×120 pixels "
            "(about one student's tile)",
        ),
        (
            ScreenRegion(Monitor(2, 1920, 0, 1280, 720), 10, 10, 640, 360),
            4,
            "screen 2 (1280×720) is no longer there (unplugged, or its resolution changed); pick the region again",
        ),
        (
            ScreenRegion(SCREEN_1, 252, 152, 976, 556),
            0,
            "no faces in the selected region: drag the box over the call's gallery (students with their "
            "cameras on), or click “Find the gallery”",
        ),
    ],
    ids=["none", "past-an-edge", "outside", "too-small", "monitor-gone", "no-faces"],
)
def test_a_region_that_cannot_be_watched_is_refused_in_one_line(region, faces, line):
    with pytest.raises(RegionError, match=f"^{re.escape(line)}$"):
        screen_picker.check_pick(region, [SCREEN_1], faces)


def test_a_region_on_the_screen_with_faces_may_start():
    region = ScreenRegion(SCREEN_1, 252, 152, 976, 556)
    assert screen_picker.check_pick(region, [SCREEN_1], 9) == region


def test_find_the_gallery_proposes_the_call_apps_tile_grid(photos, faces_in):
    desktop = compose_desktop(DesktopSpec(grid=(3, 3), screen=(1920, 1080), seed=3), photos)
    proposal = screen_picker.propose_region(Shot(SCREEN_1, desktop.image), faces_in)
    region = proposal.region
    assert region.monitor == SCREEN_1
    assert (
        np.abs(
            np.subtract((region.x, region.y, region.width, region.height), desktop.gallery)
        ).max()
        <= 4
    )
    assert (
        proposal.text
        == f"Found the call's gallery: 3 × 3 tiles, {region.width}×{region.height} pixels."
    )


def test_without_a_tile_grid_find_the_gallery_frames_the_faces(faces_in, grace_hopper_bgr):
    desktop = np.full((720, 1280, 3), (58, 110, 165), np.uint8)
    face = cv2.cvtColor(cv2.resize(grace_hopper_bgr, (240, 300)), cv2.COLOR_BGR2RGB)
    desktop[200:500, 700:940] = face  # one photo on the desktop: a single tile is no grid
    monitor = Monitor(1, 0, 0, 1280, 720)
    proposal = screen_picker.propose_region(Shot(monitor, desktop), faces_in)
    (box,) = faces_in(desktop)
    region = proposal.region
    assert proposal.text == "Found no tile grid; framed the 1 face found instead."
    assert region.x <= box[0] and region.y <= box[1]
    assert (
        region.x + region.width >= box[0] + box[2] and region.y + region.height >= box[1] + box[3]
    )
    assert region.x >= 0 and region.x + region.width <= 1280 and region.y + region.height <= 720


def test_find_the_gallery_on_a_desktop_without_a_call_says_it_found_none(photos, faces_in):
    desktop = compose_desktop(DesktopSpec(grid=(3, 3), with_call=False, seed=5), photos)
    proposal = screen_picker.propose_region(Shot(SCREEN_1, desktop.image), faces_in)
    assert proposal.region is None
    assert proposal.text == (
        "Found no call gallery and no faces on screen 1 (1920×1080): bring the call's "
        "gallery onto this screen, take a new screenshot and try again."
    )


def test_the_preview_counts_and_boxes_the_faces_in_the_region_only(faces_in, gallery_16):
    monitor = Monitor(1, 0, 0, 1280, 720)
    shot = Shot(monitor, cv2.cvtColor(gallery_16, cv2.COLOR_BGR2RGB))
    whole = screen_picker.preview(shot, ScreenRegion.whole(monitor), faces_in)
    assert (
        len(whole.faces) >= 15
        and whole.text == f"{len(whole.faces)} faces found in the selected region."
    )
    top_left = screen_picker.preview(shot, ScreenRegion(monitor, 0, 0, 320, 180), faces_in)
    assert len(top_left.faces) == 1 and top_left.text == "1 face found in the selected region."
    assert top_left.image.shape == (180, 320, 3)  # small regions are shown as they are
    assert whole.image.shape == (405, 720, 3)  # large ones downscaled to 720 wide


def test_faces_are_boxed_where_they_are_on_the_downscaled_preview():
    rgb = np.zeros((720, 1440, 3), np.uint8)
    drawn = screen_picker.draw_faces(rgb, [(200, 100, 400, 300)], max_width=720)
    assert drawn.shape == (360, 720, 3)
    blue = np.all(drawn == screen_picker.FACE_RGB, axis=-1)
    assert (
        blue[50:200, 100].any() and blue[50, 100:300].any()
    )  # the box's left and top edges, halved
    assert not blue[75:145, 105:295].any()  # inside the box nothing is drawn
    assert not rgb.any()  # the screenshot itself is left as it was


def test_screenshots_are_kept_per_monitor_and_found_by_index():
    shots = screen_picker.Screenshots(
        (
            Shot(SCREEN_1, np.zeros((1080, 1920, 3), np.uint8)),
            Shot(LEFT_OF_IT, np.zeros((720, 1280, 3), np.uint8)),
        ),
        datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    )
    assert shots.monitors == [SCREEN_1, LEFT_OF_IT]
    assert shots.of(2).monitor == LEFT_OF_IT
    assert shots.of(3).monitor == SCREEN_1  # unplugged since: the first one
