"""The Live page's screen picker in AppTest, on a real X display where a real Chromium shows a call
gallery (tests/kit/call_screen.py): screenshot, box selection, "Find the gallery", faces
previewed, checks before the start, and "Pick the region again" while a screen lesson runs.

A box is selected the way the browser reports one: the chart's selection state
({"selection": {"box": [{"x": [x0, x1], "y": [y0, y1]}], ...}}), sent as the chart's widget value.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from dashboard import control, screen_picker, screen_picker_ui
from dashboard.launch import LessonLaunch
from engine import processes
from engine.screens import NO_DISPLAY
from storage.db import open_database
from storage.lessons import LessonSpec, create_lesson
from storage.recorder import write_samples
from storage.records import AttentionState, Observation, Sample
from storage.synthetic import seed_lesson
from tests.dashboard.conftest import LIVE_RATE_HZ, LIVE_SECONDS, LIVE_START
from tests.dashboard.engine_standin import standin, started
from tests.engine.x_display import set_monitors, start_xvfb
from tests.kit.call_screen import GAP, GRID, PAD, SCREEN, TILE, TILES_BOX, showing_call_gallery


@pytest.fixture(scope="module")
def call_screen(tmp_path_factory, asset, grace_hopper_bgr):
    asset("face_landmarker.task")  # the preview needs the face model: fail with the fix when absent
    with showing_call_gallery(
        tmp_path_factory.mktemp("call-screen"), asset, grace_hopper_bgr
    ) as screen:
        yield screen


@pytest.fixture
def on_call_screen(call_screen, monkeypatch):
    """The dashboard (this process) on the display that shows the call."""
    for name in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", call_screen.server.display)
    return call_screen


@pytest.fixture
def form_db(tmp_path, monkeypatch) -> str:
    """A database with one finished lesson, so the Live page shows its form; no webcams."""
    url = f"sqlite:///{tmp_path / 'picker.db'}"
    seed_lesson(
        open_database(url), students=2, hours=0.01, seed=1, title="Earlier", group_name="7B"
    )
    monkeypatch.setattr(processes, "list_cameras", lambda *args, **kwargs: [])
    return url


@pytest.fixture
def sleeping_engine(monkeypatch, tmp_path):
    """Engines started from the page are a sleeping process (the real engine runs in the browser test)."""
    standin(monkeypatch)
    yield tmp_path / "data"
    handle = control.find_engine(tmp_path / "data")
    if handle is not None:
        control.stop_engine(handle, timeout_s=10)


def select_box(at, x: tuple[float, float], y: tuple[float, float]):
    """Drag a box on the screenshot: the chart's selection state, as the browser sends it."""
    (chart,) = [c for c in at.get("plotly_chart") if c.key == screen_picker_ui.CHART]
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart.proto.id
    state.string_value = json.dumps(
        {
            "selection": {
                "points": [],
                "point_indices": [],
                "lasso": [],
                "box": [{"xref": "x", "yref": "y", "x": list(x), "y": list(y)}],
            }
        }
    )
    at._run(states)
    assert not at.exception, [e.value for e in at.exception]
    return at


def choose_screen(app, url: str):
    at = app(url, "live")
    at.radio(key="live_source").set_value("screen").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_spec(at) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.key == screen_picker_ui.CHART]
    return json.loads(chart.proto.spec)


def region_of(at) -> tuple[int, int, int, int] | None:
    region = at.session_state.get(screen_picker_ui.REGION)
    return None if region is None else (region.x, region.y, region.width, region.height)


@pytest.mark.display
def test_choosing_screen_shows_a_fresh_downscaled_screenshot_kept_in_memory(
    app, form_db, on_call_screen, tmp_path
):
    at = choose_screen(app, form_db)
    spec = chart_spec(at)
    image = spec["data"][0]
    assert image["type"] == "image" and image["source"].startswith("data:image/jpeg;base64,")
    assert (spec["layout"]["width"], spec["layout"]["height"]) == (960, 540)  # shown downscaled
    assert spec["layout"]["xaxis"]["range"] == [0, SCREEN[0]]  # ... with axes in screen pixels
    assert spec["layout"]["dragmode"] == "select"
    shots = at.session_state[screen_picker_ui.SHOTS]
    assert [s.rgb.shape for s in shots.shots] == [(SCREEN[1], SCREEN[0], 3)]
    assert not [
        p for p in tmp_path.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".npy")
    ]
    assert not at.error and region_of(at) is None
    at.radio(key="live_source").set_value("demo").run()
    at.radio(key="live_source").set_value("screen").run()
    assert at.session_state[screen_picker_ui.SHOTS].taken_at > shots.taken_at  # chosen again: fresh


@pytest.mark.display
def test_find_the_gallery_proposes_the_gallery_chromium_shows_and_starts_the_lesson_on_it(
    app, form_db, on_call_screen, sleeping_engine
):
    at = choose_screen(app, form_db)
    at.text_input(key="live_title").input("Maths 7B").run()
    at.button(key=screen_picker_ui.FIND).click().run()
    assert not at.exception, [e.value for e in at.exception]
    region = region_of(at)
    assert np.abs(np.subtract(region, TILES_BOX)).max() <= 2, (region, TILES_BOX)
    assert [i.value for i in at.info] == [
        f"Found the call's gallery: {GRID[0]} × {GRID[1]} tiles, {region[2]}×{region[3]} pixels."
    ]
    (shape,) = chart_spec(at)["layout"]["shapes"]  # the region drawn on the screenshot
    assert (shape["x0"], shape["y0"], shape["x1"], shape["y1"]) == (
        region[0],
        region[1],
        region[0] + region[2],
        region[1] + region[3],
    )
    assert (
        f"Selected: {region[2]}×{region[3]} at {region[0]},{region[1]} on screen 1 (1920×1080)"
        in [c.value for c in at.caption]
    )
    (preview,) = at.image
    assert "9 faces found in the selected region." in preview.proto.imgs[0].caption
    at.button(key="live_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    handle = control.load_handle(sleeping_engine)
    assert handle.launch.title == "Maths 7B"
    assert handle.launch.source == "screen:{},{},{},{}".format(*region)


@pytest.mark.display
def test_a_box_dragged_on_the_screenshot_is_the_region_and_its_faces_are_previewed(
    app, form_db, on_call_screen
):
    at = choose_screen(app, form_db)
    taken_at = at.session_state[screen_picker_ui.SHOTS].taken_at
    x, y, w, h = TILES_BOX
    right_of_two_columns = x + 2 * TILE[0] + GAP + GAP / 2
    select_box(
        at, (right_of_two_columns, x - PAD + 0.4), (y + h + PAD - 0.3, y - PAD)
    )  # dragged up-left
    assert at.session_state[screen_picker_ui.SHOTS].taken_at == taken_at  # on the screenshot shown
    region = region_of(at)
    assert region == (x - PAD, y - PAD, round(right_of_two_columns) - (x - PAD), h + 2 * PAD)
    (preview,) = at.image
    assert "6 faces found in the selected region." in preview.proto.imgs[0].caption
    assert not at.warning


@pytest.mark.display
def test_a_region_too_small_outside_the_screen_or_without_faces_is_refused_in_one_line_keeping_the_form(
    app, form_db, on_call_screen, sleeping_engine
):
    at = choose_screen(app, form_db)
    at.text_input(key="live_title").input("Optics").run()
    at.text_input(key="live_group").input("9B Physics").run()
    at.slider(key="live_rate").set_value(3.0).run()
    at.number_input(key="live_max_faces").set_value(64).run()
    cases = [
        (
            ((400, 520), (300, 380)),
            "the region is 120×80 pixels, too small to find faces in; make it at "
            "least 160×120 pixels (about one student's tile)",
        ),
        (
            ((1700, 2000), (100, 400)),
            "the region reaches 80 pixels past the right edge of screen 1 "
            "(1920×1080); move it or make it smaller",
        ),
        (((1620, 1900), (100, 600)), screen_picker.NO_FACES),  # the document window beside the call
    ]
    for (xs, ys), line in cases:
        select_box(at, xs, ys)
        at.button(key="live_start").click().run()
        assert [e.value for e in at.error] == [line]
        assert at.text_input(key="live_title").value == "Optics"
        assert at.text_input(key="live_group").value == "9B Physics"
        assert at.radio(key="live_source").value == "screen"
        assert (at.slider(key="live_rate").value, at.number_input(key="live_max_faces").value) == (
            3.0, 64
        )
        assert control.load_handle(sleeping_engine) is None  # nothing started


@pytest.mark.display
def test_with_two_monitors_the_teacher_picks_one_and_the_region_is_on_it(
    app, form_db, monkeypatch, tmp_path
):
    server = start_xvfb(2560, 720, tmp_path / "xvfb.log")
    try:
        set_monitors(server.display, [("LEFT", 0, 0, 1280, 720), ("RIGHT", 1280, 0, 1280, 720)])
        monkeypatch.setenv("DISPLAY", server.display)
        at = choose_screen(app, form_db)
        chooser = at.radio(key=screen_picker_ui.MONITOR)
        assert list(chooser.options) == ["screen 1 (1280×720)", "screen 2 (1280×720)"]
        assert [i.proto.imgs[0].caption for i in at.image] == list(chooser.options)  # one shot each
        chooser.set_value(2).run()
        assert chart_spec(at)["layout"]["xaxis"]["range"] == [0, 1280]
        select_box(at, (100, 740), (50, 410))
        region = at.session_state[screen_picker_ui.REGION]
        assert (region.monitor.index, region.x, region.y) == (2, 100, 50)
        assert screen_picker.region_text(region) == "1380,50,640,360"  # the engine's desktop pixels
        assert "Selected: 640×360 at 100,50 on screen 2 (1280×720)" in [c.value for c in at.caption]
    finally:
        server.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="DISPLAY is how Linux finds its X screen")
def test_a_screen_that_cannot_be_captured_says_why_in_one_line_and_starts_nothing(
    app, form_db, monkeypatch, sleeping_engine
):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    at = choose_screen(app, form_db)
    assert [e.value for e in at.error] == [NO_DISPLAY]
    assert not at.get("plotly_chart")
    at.button(key="live_start").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [NO_DISPLAY, NO_DISPLAY]  # the picker's, and the start's
    assert control.load_handle(sleeping_engine) is None


def seed_screen_lesson(url: str, faces_until_s: float) -> int:
    """A running screen lesson of two students whose faces vanish after faces_until_s."""
    engine = open_database(url)
    lesson_id = create_lesson(
        engine,
        LessonSpec(
            title="Maths 7B",
            group_name="7B",
            started_at=LIVE_START,
            source="screen 252,152,976,556",
            sample_rate_hz=LIVE_RATE_HZ,
            model_name="synthetic",
        ),
    )
    samples = []
    for i in range(int(LIVE_SECONDS * LIVE_RATE_HZ)):
        ts = LIVE_START + timedelta(seconds=i / LIVE_RATE_HZ)
        seen = i / LIVE_RATE_HZ < faces_until_s
        state = AttentionState.ATTENTIVE if seen else AttentionState.ABSENT
        observations = tuple(
            Observation(ts, track, state, 80.0 if seen else 0.0) for track in (1, 2)
        )
        samples.append(Sample(ts, 2 if seen else 0, 20.0, observations))
    write_samples(engine, lesson_id, samples)
    return lesson_id


def start_announcing_engine(
    monkeypatch, data_dir: Path, url: str, lesson_id: int
) -> control.EngineHandle:
    """Our engine, as a process that announces the lesson and, stopped, marks it finished as the
    engine does."""
    standin(monkeypatch, started(lesson_id, "Maths 7B", "screen"), finish_db=url)
    launch = LessonLaunch("Maths 7B", "7B", "screen:252,152,976,556", rate_hz=1.5)
    handle = control.start_engine(launch, data_dir)
    deadline = time.monotonic() + 30
    while control.announced_lesson(handle) != lesson_id:
        if time.monotonic() > deadline:
            pytest.fail("the engine process did not announce its lesson")
        time.sleep(0.05)
    return handle


def test_no_faces_in_the_region_for_30_s_offers_to_pick_again_with_the_same_title_and_class(
    app, tmp_path, monkeypatch
):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(
            name, raising=False
        )  # the reopened picker then says why it cannot capture
    url = f"sqlite:///{tmp_path / 'screen.db'}"
    lesson_id = seed_screen_lesson(url, faces_until_s=LIVE_SECONDS - 40)
    data_dir = tmp_path / "data"
    handle = start_announcing_engine(monkeypatch, data_dir, url, lesson_id)
    try:
        at = app(url, "live")
        assert "No faces in the selected screen region for 30 s — did the call window move?" in [
            w.value for w in at.warning
        ]
        at.button(key=screen_picker_ui.PICK_AGAIN_BUTTON).click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert not processes.is_alive(handle.pid) and control.load_handle(data_dir) is None
        assert at.radio(key="live_source").value == "screen"
        assert at.text_input(key="live_title").value == "Maths 7B"
        assert at.text_input(key="live_group").value == "7B"
        assert at.slider(key="live_rate").value == 1.5
        assert any(
            i.value.startswith("The last lesson has ended. Pick the gallery again") for i in at.info
        )
        assert [s.value for s in at.success] == ["Lesson “Maths 7B” finished."]
        assert [e.value for e in at.error] == [NO_DISPLAY]
    finally:
        control.stop_engine(handle, timeout_s=10)


def test_a_screen_lesson_that_still_shows_faces_gets_no_notice(app, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'screen.db'}"
    lesson_id = seed_screen_lesson(url, faces_until_s=LIVE_SECONDS - 20)  # 20 s without faces
    handle = start_announcing_engine(monkeypatch, tmp_path / "data", url, lesson_id)
    try:
        at = app(url, "live")
        assert not at.warning
        assert screen_picker_ui.PICK_AGAIN_BUTTON not in [b.key for b in at.button]
    finally:
        control.stop_engine(handle, timeout_s=10)
