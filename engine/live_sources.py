"""Live sources: webcams, stream URLs and screen regions, read on a thread that keeps the newest frame.

A slow machine skips frames instead of falling behind; a source that stops delivering is retried
with back-off and reported lost past its retry window. `engine.sources.open_source` opens them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from engine.source_types import Clock, Frame, SourceError, SourceLost, check_rate, utc_now

log = logging.getLogger(__name__)


class LatestFrameReader:
    """Reads a live device on a thread and keeps only its newest frame."""

    def __init__(self, grab: Callable[[], np.ndarray | None]) -> None:
        self._grab = grab
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._stop = threading.Event()
        self.failed_reads = 0
        self._thread = threading.Thread(target=self._run, name="frame-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self._grab()
            if frame is None:
                self.failed_reads += 1
                self._stop.wait(0.05)
                continue
            with self._lock:
                self._frame, self._seq = frame, self._seq + 1
                self.failed_reads = 0

    def latest(self) -> tuple[np.ndarray | None, int]:
        with self._lock:
            return self._frame, self._seq

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


class LiveSource:
    """A webcam, stream URL or screen region sampled on the wall clock at a fixed rate.

    At each tick the newest frame is processed; a device that stops delivering is reopened with
    back-off (the lesson stays open) and `SourceLost` ends the run only after `give_up_s`.
    """

    live = True

    def __init__(self, opener: Callable[[], Callable[[], np.ndarray | None]], description: str,
                 rate_hz: float, *, clock: Clock = utc_now, stale_s: float = 3.0,
                 give_up_s: float = 300.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.description = description
        self.rate_hz = check_rate(rate_hz)
        self._opener = opener
        self._clock = clock
        self._sleep = sleep
        self.stale_s = stale_s
        self.give_up_s = give_up_s
        self.status = "starting"
        self._reader = LatestFrameReader(opener())
        self._closed = False

    def _wait_first(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._reader.latest()[0] is not None:
                return True
            self._sleep(0.05)
        return False

    def _reopen(self) -> bool:
        """Retry the device with back-off until it delivers again or give_up_s passes."""
        self._reader.stop()
        waited, delay = 0.0, 0.5
        while waited < self.give_up_s and not self._closed:
            self.status = f"source lost, retrying in {delay:.0f} s"
            log.warning("%s: no frames; retrying in %.1f s", self.description, delay)
            self._sleep(delay)
            waited += delay
            try:
                self._reader = LatestFrameReader(self._opener())
            except SourceError:
                delay = min(delay * 2, 10.0)
                continue
            if self._wait_first(2.0):
                self.status = "ok"
                log.warning("%s: frames again", self.description)
                return True
            self._reader.stop()
            delay = min(delay * 2, 10.0)
        return False

    def frames(self) -> Iterator[Frame]:
        if not self._wait_first(5.0):
            self.close()
            raise SourceError(f"{self.description} delivered no frame within 5 s")
        self.status = "ok"
        period = 1.0 / self.rate_hz
        start = self._clock()
        last_seq, last_new = -1, time.monotonic()
        index = 0
        next_tick = time.monotonic()
        while not self._closed:
            self._sleep(max(0.0, next_tick - time.monotonic()))
            next_tick = max(next_tick + period, time.monotonic())
            image, seq = self._reader.latest()
            if seq != last_seq:
                last_seq, last_new = seq, time.monotonic()
            elif time.monotonic() - last_new > self.stale_s:
                if not self._reopen():
                    raise SourceLost(f"{self.description} was lost and did not come back")
                last_seq, last_new = -1, time.monotonic()
                continue
            if image is None:
                continue
            now = self._clock()
            yield Frame(image, now, (now - start).total_seconds(), index)
            index += 1

    def close(self) -> None:
        self._closed = True
        self._reader.stop()


def capture_opener(target: int | str, what: str) -> Callable[[], Callable[[], np.ndarray | None]]:
    def open_capture() -> Callable[[], np.ndarray | None]:
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {what}; check that it is connected and not in use")

        def grab() -> np.ndarray | None:
            ok, frame = cap.read()
            return frame if ok else None

        return grab

    return open_capture


def screen_opener(region: tuple[int, int, int, int] | None,
                   rate_hz: float) -> Callable[[], Callable[[], np.ndarray | None]]:
    def open_screen() -> Callable[[], np.ndarray | None]:
        from engine.screens import ScreenError, ScreenGrabber

        try:  # grabbing twice per sample keeps the newest frame under half a period old
            grabber = ScreenGrabber(region, min_interval_s=1.0 / min(2 * rate_hz, 30.0))
        except ScreenError as exc:
            raise SourceError(str(exc)) from exc

        def grab() -> np.ndarray | None:
            try:
                return grabber.grab_bgr()
            except ScreenError:  # a display that went away
                return None

        return grab

    return open_screen
