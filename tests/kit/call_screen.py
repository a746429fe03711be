"""A teacher's screen for tests: Xvfb with a real Chromium showing a composed video-call gallery.

The gallery page is composed at test time from the sample media: a 3×3 grid of 8 photos and, in the
centre, a tile looping a face video (VP8 WebM, which every Chromium build plays), laid out in CSS
pixels we know, so what the grid finder, the picker and the engine report can be checked against it.
Used by the engine's screen-capture tests and the dashboard's picker tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest

from engine.screens import Monitor, ScreenRegion, screenshot
from tests.engine.x_display import XServer, start_chromium, start_xvfb, stop_process, wait_until
from tests.kit.galleries import video_frame

SCREEN = (1920, 1080)
DESKTOP_RGB = (58, 110, 165)
GALLERY_RGB = (32, 33, 36)
TILE_RGB = (60, 64, 67)
TILE, GAP, PAD = (320, 180), 8, 12
GALLERY_AT = (240, 140)  # the gallery panel's top-left corner on the page
GRID = (3, 3)
VIDEO_TILE = 4  # the centre tile plays the face video
# The tiles' bounding box, as the page lays them out.
TILES_BOX = (GALLERY_AT[0] + PAD, GALLERY_AT[1] + PAD,
             GRID[1] * TILE[0] + (GRID[1] - 1) * GAP, GRID[0] * TILE[1] + (GRID[0] - 1) * GAP)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Maths 7B</title><style>
html, body {{ margin: 0; width: 100%; height: 100%; overflow: hidden; background: #000; }}
body.ready {{ background: rgb{desktop}; }}
#gallery {{ position: absolute; left: {gx}px; top: {gy}px; padding: {pad}px; background: rgb{gallery};
            display: grid; grid-template-columns: repeat({cols}, {tw}px); grid-auto-rows: {th}px;
            gap: {gap}px; }}
.tile {{ background: rgb{tile}; overflow: hidden; }}
.tile img, .tile video {{ width: 100%; height: 100%; object-fit: contain; display: block; }}
#taskbar {{ position: absolute; left: 0; right: 0; bottom: 0; height: 40px; background: #1c1c1c; }}
#taskbar i {{ display: inline-block; width: 44px; height: 32px; margin: 4px 2px; background: #444; }}
#doc {{ position: absolute; left: 1620px; top: 90px; width: 280px; height: 600px; background: #fff;
        background-image: repeating-linear-gradient(#fff 0 14px, #999 14px 16px); }}
</style></head><body>
<div id="gallery">{tiles}</div>
<div id="doc"></div>
<div id="taskbar"><i></i><i></i><i></i><i></i><i></i><i></i></div>
<script>
const media = [...document.images].map(i => i.decode());
const video = document.querySelector("video");
media.push(new Promise(ok => {{ if (!video.paused) ok(); else video.addEventListener("playing", ok); }}));
Promise.all(media).then(() => requestAnimationFrame(() => document.body.classList.add("ready")));
</script></body></html>
"""


@dataclass
class CallScreen:
    """Xvfb with Chromium showing the gallery page full screen."""

    server: XServer
    folder: Path


def _write_webm(source: Path, target: Path) -> None:
    """The face video as VP8 WebM at 10 fps, 320×180."""
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"VP80"), 10.0, TILE)
    assert writer.isOpened(), "OpenCV cannot write VP8 WebM here"
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index % max(1, round(fps / 10)) == 0:
            writer.write(cv2.resize(frame, TILE, interpolation=cv2.INTER_AREA))
        index += 1
    cap.release()
    writer.release()


def build_gallery_page(folder: Path, asset, grace_hopper_bgr) -> Path:
    """gallery.html: 8 photo tiles around a tile looping a face video."""
    photos = [cv2.imread(str(asset(n))) for n in
              ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")]
    photos += [grace_hopper_bgr] + [video_frame(asset("WolfgangLanger_Pexels.mp4"), i) for i in (100, 300)]
    _write_webm(asset("single_face.mp4"), folder / "talking.webm")
    tiles = []
    for i, photo in enumerate(photos):
        cv2.imwrite(str(folder / f"tile{i}.png"), photo)
        tiles.append(f'<div class="tile"><img src="tile{i}.png"></div>')
    tiles.insert(VIDEO_TILE, '<div class="tile"><video src="talking.webm" autoplay loop muted playsinline>'
                             '</video></div>')
    assert len(tiles) == GRID[0] * GRID[1]
    page = folder / "gallery.html"
    page.write_text(PAGE.format(desktop=DESKTOP_RGB, gallery=GALLERY_RGB, tile=TILE_RGB, gx=GALLERY_AT[0],
                                gy=GALLERY_AT[1], pad=PAD, cols=GRID[1], tw=TILE[0], th=TILE[1], gap=GAP,
                                tiles="\n".join(tiles)))
    return page


@contextmanager
def showing_call_gallery(folder: Path, asset, grace_hopper_bgr) -> Iterator[CallScreen]:
    """Xvfb at SCREEN with Chromium full screen on the gallery page, its media loaded."""
    server = start_xvfb(*SCREEN, folder / "xvfb.log")
    chromium = None
    try:
        page = build_gallery_page(folder, asset, grace_hopper_bgr)
        chromium = start_chromium(server, page.as_uri(), SCREEN, folder / "profile",
                                  folder / "chromium.log")

        def page_ready() -> bool:
            if chromium.poll() is not None:
                pytest.fail(f"chromium exited: {(folder / 'chromium.log').read_text()[-2000:]}")
            corner = screenshot(ScreenRegion(Monitor(1, 0, 0, *SCREEN), 0, 0, 160, 120),
                                display=server.display)
            return tuple(int(v) for v in corner[4, 4]) == DESKTOP_RGB

        wait_until(page_ready, 90, "Chromium did not show the gallery page with its media loaded")
        yield CallScreen(server, folder)
    finally:
        if chromium is not None:
            stop_process(chromium)
        server.stop()
