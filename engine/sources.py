"""Frames in: webcams, stream URLs, video files, image folders, screen regions and the demo clip.

Every source yields `Frame`s at the sample rate through one interface. Time is chosen explicitly:
a file analysed as fast as possible is stamped start + media time (replaying it gives the same
rows); a live source, and a file played in real time (the demo), is stamped with the clock passed
in. Live sources read on a thread that keeps only the newest frame, and a file played in real time
takes the frame due at each tick, so a slow machine skips frames instead of falling behind.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from engine import images
from engine.live_sources import LatestFrameReader, LiveSource, capture_opener, screen_opener
from engine.source_spec import SourceKind, SourceSpec, SourceSpecError, parse_source_spec
from engine.source_types import (
    IMAGE_SUFFIXES,
    MAX_RATE_HZ,
    MIN_RATE_HZ,
    Clock,
    Frame,
    FrameSource,
    SourceError,
    SourceLost,
    check_rate,
    utc_now,
)

log = logging.getLogger(__name__)

__all__ = [
    "IMAGE_SUFFIXES", "MAX_RATE_HZ", "MIN_RATE_HZ", "Clock", "Frame", "FrameSource",
    "ImageFolderSource", "LatestFrameReader", "LiveSource", "SingleImageSource", "SourceError",
    "SourceLost", "VideoFileSource", "check_rate", "open_source", "utc_now",
]

class VideoFileSource:
    """A video file: analysed as fast as possible on its own timestamps, or played like a camera.

    As fast as possible (`realtime=False`), sample k is the first frame at or after k / rate on the
    file's own clock and its time is the start + that frame's media time (index ÷ fps), so replaying
    a file gives the same rows. Played in real time (`realtime=True`, the demo and a recording in a
    live lesson), it is sampled like a camera: at each tick on the clock passed in, the frame due at
    that moment (elapsed time since the start) is taken and stamped with that moment; a machine
    that falls behind skips frames, so lesson time, data time and the clock agree. Skipped frames
    are grabbed without being decoded into images. With `loop`, the file plays again and again,
    media time running on. Without a `start`, time zero is the clock when the first frame is taken.
    """

    live = False

    def __init__(self, path: Path, rate_hz: float, start: datetime | None = None, *, realtime: bool = False,
                 loop: bool = False, clock: Clock = utc_now, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"video file {self.path} does not exist; check the path")
        self.rate_hz = check_rate(rate_hz)
        self.start = start
        self.realtime = realtime
        self.loop = loop
        self._clock = clock
        self._sleep = sleep
        self._cap = cv2.VideoCapture(str(self.path))
        ok, first = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"cannot read video {self.path}: not a video OpenCV can decode, or corrupt")
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or 25.0
        if not 1.0 <= self.fps <= 240.0:
            self.fps = 25.0
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.description = f"video file {self.path.name}"
        self.truncated = False
        self.frames_skipped = 0  # frames grabbed past without being sampled (real-time play)
        self._image: np.ndarray | None = first  # the frame at index `_index` of the current pass
        self._index = 0
        self._offset_s = 0.0  # media time at which the current pass began

    def frames(self) -> Iterator[Frame]:
        """Sampled frames until the file ends (never, with `loop`)."""
        return self._realtime_frames() if self.realtime else self._file_frames()

    def _file_frames(self) -> Iterator[Frame]:
        start = self.start or self._clock()
        tick, sampled = 0, 0
        while (found := self._frame_at(tick / self.rate_hz, at_or_after=True)) is not None:
            image, media_t = found
            yield Frame(image, start + timedelta(seconds=media_t), media_t, sampled)
            sampled += 1
            tick = math.floor(media_t * self.rate_hz + 1e-6) + 1  # the first tick after this frame

    def _realtime_frames(self) -> Iterator[Frame]:
        period = timedelta(seconds=1.0 / self.rate_hz)
        start = self.start or self._clock()
        due, sampled = start, 0
        while True:
            now = self._clock()
            if now < due:
                self._sleep((due - now).total_seconds())
                now = self._clock()
            t_s = (now - start).total_seconds()
            found = self._frame_at(t_s, at_or_after=False)
            if found is None:
                return
            yield Frame(found[0], now, t_s, sampled)
            sampled += 1
            due = max(due + period, now)  # behind: the next tick is due at once, never a backlog

    def _frame_at(self, media_t: float, *, at_or_after: bool) -> tuple[np.ndarray, float] | None:
        """The frame showing at media time `media_t` (or the first at or after it) and its media time;
        None when the file has ended. Only moves forward: an earlier time gives the current frame."""
        while True:
            position = (media_t - self._offset_s) * self.fps
            target = math.ceil(position - 1e-6) if at_or_after else math.floor(position + 1e-6)
            if target <= self._index and self._image is not None:
                return self._image, self._offset_s + self._index / self.fps
            if self._read_to(target):
                return self._image, self._offset_s + self._index / self.fps
            if not self._next_pass():
                return None

    def _read_to(self, target: int) -> bool:
        """Grab past the frames before `target` and decode `target`; False when the file ends first."""
        while self._index + 1 < target:
            if not self._cap.grab():
                return False
            self._index += 1
            self._image = None
            self.frames_skipped += 1
        ok, image = self._cap.read()
        if not ok or image is None:
            return False
        self._index += 1
        self._image = image
        return True

    def _next_pass(self) -> bool:
        """At the end of the file: start it again when looping; say so when it ended early."""
        frames_read = self._index + 1
        if self.frame_count and frames_read < self.frame_count - 2:
            self.truncated = True
            log.warning("video %s ended at frame %d of %d: truncated or corrupt", self.path, frames_read,
                        self.frame_count)
            return False
        if not self.loop or frames_read < 2:
            return False
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, image = self._cap.read()
        if not ok or image is None:
            return False
        self._offset_s += frames_read / self.fps
        self._index, self._image = 0, image
        return True

    def close(self) -> None:
        self._cap.release()


class ImageFolderSource:
    """A folder of photos, one sample each, spaced by the sample period from the lesson start
    (without one, the clock when the first photo is taken)."""

    live = False

    def __init__(self, folder: Path, rate_hz: float, start: datetime | None = None, *,
                 clock: Clock = utc_now) -> None:
        self.folder = Path(folder)
        self.rate_hz = check_rate(rate_hz)
        self.start = start
        self._clock = clock
        self.paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"folder {self.folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.description = f"image folder {self.folder.name} ({len(self.paths)} images)"

    def frames(self) -> Iterator[Frame]:
        start = self.start or self._clock()
        for i, path in enumerate(self.paths):
            try:  # within limits: a decompression bomb or a truncated photo is no sample
                image = cv2.cvtColor(images.read_file(path), cv2.COLOR_RGB2BGR)
            except images.ImageRejected as exc:
                log.warning("skipped %s", exc)
                continue
            t_s = i / self.rate_hz
            yield Frame(image, start + timedelta(seconds=t_s), t_s, i)

    def close(self) -> None:
        pass


def open_source(spec: str | SourceSpec, rate_hz: float, *, start: datetime | None = None,
                realtime: bool = False, loop: bool = False, clock: Clock = utc_now,
                demo_path: Path | None = None) -> FrameSource:
    """Open a source from its spec: `0` (webcam), `demo`, `screen[:x,y,w,h]`, a URL, a folder or a video.

    Without a `start`, each source's time zero is the clock when its first frame is taken.
    """
    try:
        spec = spec if isinstance(spec, SourceSpec) else parse_source_spec(spec)
    except SourceSpecError as exc:
        raise SourceError(str(exc)) from exc
    if spec.kind is SourceKind.CAMERA:
        what = f"camera {spec.camera_index}"
        return LiveSource(capture_opener(spec.camera_index, what), what, rate_hz, clock=clock)
    if spec.kind is SourceKind.DEMO:
        if demo_path is None or not demo_path.is_file():
            raise SourceError("the demo clip is missing; run `python -m engine make-demo` (or `make assets`)")
        source = VideoFileSource(demo_path, rate_hz, start, realtime=realtime, loop=loop, clock=clock)
        source.description = "demo gallery clip"
        return source
    if spec.kind is SourceKind.SCREEN:
        shown = "full" if spec.region is None else ",".join(map(str, spec.region))
        return LiveSource(screen_opener(spec.region, rate_hz), f"screen {shown}", rate_hz, clock=clock)
    if spec.kind is SourceKind.URL:  # never show credentials in a stream URL
        what = f"stream {spec.shown}"
        return LiveSource(capture_opener(str(spec), what), what, rate_hz, clock=clock)
    path = Path(spec.target).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, rate_hz, start, clock=clock)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return SingleImageSource(path, rate_hz, start, clock=clock)
        return VideoFileSource(path, rate_hz, start, realtime=realtime, loop=loop, clock=clock)
    raise SourceError(
        f"source {str(spec)!r} is not a camera index, 'demo', 'screen', a URL, a folder or an existing file"
    )


class SingleImageSource(ImageFolderSource):
    """One photo as a one-sample source."""

    def __init__(self, path: Path, rate_hz: float, start: datetime | None = None, *,
                 clock: Clock = utc_now) -> None:
        self.folder = path.parent
        self.rate_hz = check_rate(rate_hz)
        self.start = start
        self._clock = clock
        self.paths = [path]
        self.description = f"image {path.name}"
