"""engine.screens' logic on literal monitors, environments and images (the real display: test_screen_capture)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.screens import (
    MACOS_PERMISSION,
    NO_DISPLAY,
    WAYLAND,
    Monitor,
    NoDisplayError,
    RegionError,
    ScreenError,
    ScreenGrabber,
    ScreenPermissionError,
    ScreenRegion,
    WaylandSessionError,
    blank_problem,
    check_region,
    display_problem,
    failure_problem,
    is_blank,
    locate_region,
    monitors_from_mss,
)

LAPTOP = Monitor(1, 0, 0, 1920, 1080, primary=True, name="eDP-1")
LEFT_OF_IT = Monitor(2, -2560, -360, 2560, 1440, name="HDMI-1")
MONITORS = [LAPTOP, LEFT_OF_IT]


def test_monitors_are_mss_entries_from_one_with_their_offsets():
    raw = [{"left": -2560, "top": -360, "width": 4480, "height": 1440},
           {"left": 0, "top": 0, "width": 1920, "height": 1080, "is_primary": True, "output": "eDP-1"},
           {"left": -2560, "top": -360, "width": 2560, "height": 1440, "name": "HDMI-1"}]
    assert monitors_from_mss(raw) == MONITORS


def test_without_randr_the_whole_screen_is_monitor_one():
    assert monitors_from_mss([{"left": 0, "top": 0, "width": 1280, "height": 800}]) == [
        Monitor(1, 0, 0, 1280, 800)]


@pytest.mark.parametrize(("region", "spec"), [
    (ScreenRegion(LAPTOP, 100, 50, 800, 450), "screen:100,50,800,450"),
    (ScreenRegion(LEFT_OF_IT, 100, 400, 1280, 720), "screen:-2460,40,1280,720"),
    (ScreenRegion.whole(LAPTOP), "screen:0,0,1920,1080"),
])
def test_a_region_becomes_the_engine_spec_in_virtual_desktop_coordinates(region, spec):
    assert region.to_spec() == spec
    left, top, width, height = (int(v) for v in spec.removeprefix("screen:").split(","))
    assert region.as_mss() == {"left": left, "top": top, "width": width, "height": height}


@pytest.mark.parametrize(("box", "expected"), [
    ((100, 50, 800, 450), ScreenRegion(LAPTOP, 100, 50, 800, 450)),
    ((-2000, 0, 640, 480), ScreenRegion(LEFT_OF_IT, 560, 360, 640, 480)),
    ((-300, 100, 800, 450), ScreenRegion(LAPTOP, -300, 100, 800, 450)),  # mostly on the laptop
])
def test_a_spec_region_is_placed_on_the_monitor_holding_most_of_it(box, expected):
    assert locate_region(*box, MONITORS) == expected


def test_a_spec_region_on_no_monitor_is_refused_naming_the_screens():
    with pytest.raises(RegionError, match=r"the region 5000,0,640,480 is on no screen \(screen 1 "
                                          r"\(1920×1080\) at 0,0; screen 2 \(2560×1440\) at -2560,-360\)"):
        locate_region(5000, 0, 640, 480, MONITORS)


@pytest.mark.parametrize(("region", "message"), [
    (ScreenRegion(LAPTOP, 10, 10, 0, 300), r"the region is empty: drag a rectangle over the call's gallery"),
    (ScreenRegion(LAPTOP, 1700, 100, 400, 300),
     r"^the region reaches 180 pixels past the right edge of screen 1 \(1920×1080\); move it or make it smaller$"),
    (ScreenRegion(LAPTOP, -20, -5, 400, 300),
     r"reaches 20 pixels past the left edge and 5 pixels past the top edge of screen 1"),
    (ScreenRegion(LAPTOP, 100, 900, 400, 300), r"reaches 120 pixels past the bottom edge"),
    (ScreenRegion(LAPTOP, 2000, 0, 400, 300), r"the region is outside screen 1 \(1920×1080\); pick it on the screen"),
    (ScreenRegion(LAPTOP, 0, 0, 150, 300), r"the region is 150×300 pixels, too small to find faces in; make it "
                                           r"at least 160×120 pixels"),
    (ScreenRegion(LAPTOP, 0, 0, 640, 100), r"640×100 pixels, too small"),
])
def test_a_region_that_cannot_be_watched_is_refused_in_words(region, message):
    with pytest.raises(RegionError, match=message):
        check_region(region, MONITORS)


@pytest.mark.parametrize("region", [
    ScreenRegion(LAPTOP, 0, 0, 160, 120),
    ScreenRegion(LAPTOP, 1760, 960, 160, 120),
    ScreenRegion.whole(LEFT_OF_IT),
])
def test_a_region_inside_its_monitor_and_big_enough_is_kept(region):
    assert check_region(region, MONITORS) is region


def test_a_region_on_a_monitor_that_changed_is_refused():
    unplugged = Monitor(3, 1920, 0, 1920, 1080)
    with pytest.raises(RegionError, match=r"screen 3 \(1920×1080\) is no longer there"):
        check_region(ScreenRegion(unplugged, 0, 0, 800, 600), MONITORS)
    resized = Monitor(1, 0, 0, 1280, 720, primary=True, name="eDP-1")
    with pytest.raises(RegionError, match=r"screen 1 \(1280×720\) is no longer there"):
        check_region(ScreenRegion(resized, 0, 0, 800, 600), MONITORS)


@pytest.mark.parametrize(("env", "system", "expected"), [
    ({}, "Linux", NoDisplayError(NO_DISPLAY)),
    ({"XDG_SESSION_TYPE": "wayland"}, "Linux", WaylandSessionError(WAYLAND)),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "Linux", WaylandSessionError(WAYLAND)),
    ({"DISPLAY": ":0"}, "Linux", None),
    ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "Linux", None),  # XWayland: try, then look
    ({}, "Darwin", None),
    ({}, "Windows", None),
])
def test_what_the_session_says_before_any_capture(env, system, expected):
    problem = display_problem(env, system)
    assert type(problem) is type(expected) and str(problem) == str(expected)


def test_the_one_lines_name_the_fix():
    assert NO_DISPLAY.startswith("no display:") and "DISPLAY=:0" in NO_DISPLAY
    assert WAYLAND.startswith("Wayland session:") and '"X11/Xorg" session' in WAYLAND and "XWayland" in WAYLAND
    assert "System Settings › Privacy & Security › Screen Recording" in MACOS_PERMISSION


@pytest.mark.parametrize(("env", "system", "kind", "start"), [
    ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "Linux", WaylandSessionError, "Wayland session:"),
    ({"DISPLAY": ":7"}, "Linux", NoDisplayError, "no display: cannot read the screen of DISPLAY=:7 (boom)"),
    ({}, "Windows", ScreenError, "cannot capture the screen (boom)"),
])
def test_a_failed_capture_is_explained_for_the_session(env, system, kind, start):
    problem = failure_problem(RuntimeError("boom"), env, system)
    assert type(problem) is kind and str(problem).startswith(start)


BLACK = np.zeros((1080, 1920, 3), np.uint8)
NEARLY_BLACK = np.full((1080, 1920, 3), 3, np.uint8)
DESKTOP = np.full((1080, 1920, 3), 3, np.uint8)
DESKTOP[500, 700] = (200, 120, 40)


@pytest.mark.parametrize(("image", "env", "system", "expected"), [
    (BLACK, {}, "Darwin", ScreenPermissionError),
    (NEARLY_BLACK, {}, "Darwin", ScreenPermissionError),
    (DESKTOP, {}, "Darwin", None),
    (BLACK, {"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "Linux", WaylandSessionError),
    (BLACK, {"DISPLAY": ":0"}, "Linux", None),  # an empty X screen (a bare Xvfb) is black
    (BLACK, {}, "Windows", None),
])
def test_an_all_black_grab_means_no_permission_on_macos_and_wayland_under_xwayland(image, env, system, expected):
    problem = blank_problem(image, env, system)
    assert (problem is None) if expected is None else isinstance(problem, expected)
    assert is_blank(image) is (image is not DESKTOP)


@pytest.mark.parametrize(("env", "kind"), [
    ({}, NoDisplayError),
    ({"XDG_SESSION_TYPE": "wayland"}, WaylandSessionError),
])
def test_the_grabber_refuses_a_linux_session_without_x_before_touching_the_display(env, kind):
    with pytest.raises(kind, match=r"^(no display|Wayland session): "):
        ScreenGrabber(env=env, system="Linux")
