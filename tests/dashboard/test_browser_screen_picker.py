"""The screen picker end to end: a real `streamlit run` whose DISPLAY is an Xvfb where a real
Chromium shows a call gallery, driven by a headless Chromium through Playwright. The teacher drags a
box on the screenshot, lets "Find the gallery" find it, and starts a lesson: the real engine then
records from exactly that region. CLASSPULSE_REQUIRE_BROWSER=1 (CI) turns a missing Chromium or
Playwright into a failure; CLASSPULSE_REQUIRE_DISPLAY=1 a missing Xvfb.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboard import control
from storage.db import open_database
from storage.lessons import running_lessons
from storage.synthetic import seed_lesson
from tests.dashboard.browser import ARTIFACTS, CHROMIUM, browser_unavailable, chromium_page
from tests.dashboard.streamlit_server import serving_dashboard
from tests.kit.call_screen import (
    GAP,
    PAD,
    SCREEN,
    TILE,
    TILES_BOX,
    CallScreen,
    showing_call_gallery,
)

pytestmark = [pytest.mark.browser, pytest.mark.display]

SCREEN_LABEL = "Screen region (a video-call gallery on this screen)"
SELECTED = re.compile(r"Selected: (\d+)×(\d+) at (\d+),(\d+) on screen 1 \(1920×1080\)")


@dataclass(frozen=True)
class PickerServer:
    url: str
    db_url: str
    data_dir: Path


@pytest.fixture(scope="module")
def call_screen(tmp_path_factory, asset, grace_hopper_bgr) -> Iterator[CallScreen]:
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    asset("face_landmarker.task")
    with showing_call_gallery(
        tmp_path_factory.mktemp("call-screen"), asset, grace_hopper_bgr
    ) as screen:
        yield screen


@pytest.fixture
def server(call_screen: CallScreen, tmp_path: Path) -> Iterator[PickerServer]:
    """`streamlit run` on the call's display, with one earlier lesson (so the Live page shows its form)."""
    db_url = f"sqlite:///{tmp_path / 'picker.db'}"
    seed_lesson(
        open_database(db_url), students=2, hours=0.01, seed=1, title="Earlier", group_name="7B"
    )
    data_dir = tmp_path / "data"
    with serving_dashboard(tmp_path, call_screen.server.env(), CLASSPULSE_DB_URL=db_url,
                           CLASSPULSE_DATA_DIR=str(data_dir), CLASSPULSE_TIMEZONE="UTC") as url:
        yield PickerServer(url, db_url, data_dir)


def _selected(page) -> tuple[int, int, int, int]:
    """The region the page says is selected: x, y, width, height in screen pixels."""
    text = page.get_by_text(SELECTED).inner_text(timeout=60_000)
    w, h, x, y = (int(v) for v in SELECTED.search(text).groups())
    return x, y, w, h


def _wait_for_lesson(db_url: str, timeout_s: float = 180):
    """The lesson the engine creates once its models are loaded and the screen opened."""
    engine = open_database(db_url)
    deadline = time.monotonic() + timeout_s
    while (running := running_lessons(engine)).empty:
        if time.monotonic() > deadline:
            pytest.fail("the engine created no lesson")
        time.sleep(0.5)
    return running.iloc[0]


def test_a_box_dragged_on_the_live_page_then_the_gallery_found_starts_the_engine_on_it(server):
    page_options = {"viewport": {"width": 1400, "height": 1300}}
    with chromium_page("live-screen-failure.png", **page_options) as (page, expect):
        page.goto(server.url)
        page.get_by_role("textbox", name="Lesson title").fill("Maths 7B")
        page.get_by_role("textbox", name="Class / group").fill("7B")
        page.get_by_text(SCREEN_LABEL).click(timeout=60_000)
        plot_area = page.locator(".js-plotly-plot .nsewdrag").first
        expect(plot_area).to_be_visible(timeout=60_000)
        box = plot_area.bounding_box()
        per_px = SCREEN[0] / box["width"]  # screen pixels per CSS pixel of the shown screenshot

        # Drag over the gallery's left two columns (screen pixels → CSS pixels on the chart).
        x, y, _, h = TILES_BOX
        target = (x - PAD, y - PAD, PAD + 2 * TILE[0] + GAP + GAP // 2, h + 2 * PAD)
        start = (box["x"] + target[0] / per_px, box["y"] + target[1] / per_px)
        end = (
            box["x"] + (target[0] + target[2]) / per_px,
            box["y"] + (target[1] + target[3]) / per_px,
        )
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*end, steps=12)
        page.mouse.up()
        expect(page.get_by_text(SELECTED)).to_be_visible(timeout=60_000)
        selected = _selected(page)
        assert all(abs(a - b) <= 2 * per_px for a, b in zip(selected, target, strict=True)), (
            selected,
            target,
        )
        expect(page.get_by_text("6 faces found in the selected region.")).to_be_visible(
            timeout=60_000
        )
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "live-screen-dragged.png"), full_page=True)

        page.get_by_role("button", name="Find the gallery").click()
        expect(page.get_by_text("Found the call's gallery: 3 × 3 tiles")).to_be_visible(
            timeout=60_000
        )
        expect(page.get_by_text("9 faces found in the selected region.")).to_be_visible(
            timeout=60_000
        )
        found = _selected(page)
        assert all(abs(a - b) <= 2 for a, b in zip(found, TILES_BOX, strict=True)), (
            found,
            TILES_BOX,
        )
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "live-screen-found.png"), full_page=True)

        page.get_by_role("button", name="Start lesson").click()
        spec = "screen:{},{},{},{}".format(*found)
        expect(page.get_by_text(f"source {spec}")).to_be_visible(timeout=60_000)
        lesson = _wait_for_lesson(server.db_url)
        assert (lesson["title"], lesson["group_name"]) == ("Maths 7B", "7B")
        assert lesson["source"] == "screen {},{},{},{}".format(*found)  # the engine's own words
        assert control.load_handle(server.data_dir).launch.source == spec
        page.get_by_role("button", name="Stop lesson").click(timeout=120_000)
        expect(page.get_by_role("button", name="Open its report")).to_be_visible(timeout=60_000)
