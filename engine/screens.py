"""The teacher's screens: list the monitors, grab one of them (or a region) as pixels, and say why not.

Screen capture goes through `mss`. Coordinates are mss's: one virtual desktop in which each monitor
has a left/top offset (a monitor left of the main one has a negative left). A screenshot's pixel is
a monitor coordinate on every platform: physical pixels on Windows (mss makes the process DPI
aware: at 150 % display scaling a desktop that apps lay out as 1920×1080 is 2880×1620 here), points
on macOS (mss asks for the nominal resolution). Nothing grabbed here is written to disk.

Capture fails in ways a teacher can fix, and each has one line that says how (`ScreenError`):
no X display on Linux, a Wayland session (mss reads X11 only), macOS without the screen-recording
permission (mss then gets a black image, or only the wallpaper).
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mss
import numpy as np

log = logging.getLogger(__name__)

# Below this a gallery tile's face is too small for the face detector; one tile of a 4×4 gallery
# on a laptop screen is about 320×180.
MIN_REGION_WIDTH, MIN_REGION_HEIGHT = 160, 120
# A grab whose every channel is at most this is "all black": no permission (macOS) or Wayland.
BLACK_LEVEL = 4

NO_DISPLAY = ("no display: screen capture needs the desktop session where the call is shown; "
              "run ClassPulse from that desktop, or set DISPLAY (e.g. DISPLAY=:0)")
WAYLAND = ('Wayland session: screen capture cannot see the call under Wayland; log in with an '
           '"X11/Xorg" session (the gear on the login screen), or run the call app in XWayland')
MACOS_PERMISSION = ("no permission to record the screen: allow the app that runs ClassPulse "
                    "(Terminal, or your Python) in System Settings › Privacy & Security › "
                    "Screen Recording, then quit and restart it")


class ScreenError(RuntimeError):
    """The screen cannot be captured, or a region is unusable; the message says what to do."""


class NoDisplayError(ScreenError):
    """Linux without an X display to read from."""


class WaylandSessionError(ScreenError):
    """A Wayland session, where mss cannot read other apps' windows."""


class ScreenPermissionError(ScreenError):
    """macOS has not given this app the screen-recording permission."""


class RegionError(ScreenError, ValueError):
    """A region that is off the screen, empty or too small for faces."""


@dataclass(frozen=True, slots=True)
class Monitor:
    """One monitor, numbered from 1 as mss numbers them, placed on the virtual desktop."""

    index: int
    left: int
    top: int
    width: int
    height: int
    primary: bool = False
    name: str = ""

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def place(self) -> tuple[int, int, int, int, int]:
        """Index and geometry: what identifies a monitor from one listing to the next."""
        return (self.index, self.left, self.top, self.width, self.height)

    def describe(self) -> str:
        """`screen 2 (1920×1080)` as a teacher reads it."""
        return f"screen {self.index} ({self.width}×{self.height})"

    def as_mss(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


@dataclass(frozen=True, slots=True)
class ScreenRegion:
    """A rectangle on one monitor: x, y from that monitor's top-left corner, in its screenshot's pixels."""

    monitor: Monitor
    x: int
    y: int
    width: int
    height: int

    @classmethod
    def whole(cls, monitor: Monitor) -> ScreenRegion:
        return cls(monitor, 0, 0, monitor.width, monitor.height)

    @property
    def left(self) -> int:
        """Left edge on the virtual desktop (what mss and the `screen:` spec use)."""
        return self.monitor.left + self.x

    @property
    def top(self) -> int:
        return self.monitor.top + self.y

    def to_spec(self) -> str:
        """The engine's source spec for this region: `screen:left,top,width,height`."""
        return f"screen:{self.left},{self.top},{self.width},{self.height}"

    def as_mss(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}

    def describe(self) -> str:
        return f"{self.width}×{self.height} at {self.x},{self.y} on {self.monitor.describe()}"


def monitors_from_mss(raw: Sequence[Mapping[str, object]]) -> list[Monitor]:
    """Our monitors from mss's list (entry 0 is all monitors together; without RandR it is the only one)."""
    entries = list(raw[1:]) or list(raw[:1])
    return [Monitor(index=i, left=int(m["left"]), top=int(m["top"]), width=int(m["width"]),
                    height=int(m["height"]), primary=bool(m.get("is_primary", False)),
                    name=str(m.get("name") or m.get("output") or ""))
            for i, m in enumerate(entries, start=1)]


def _overlap(region: tuple[int, int, int, int], monitor: Monitor) -> int:
    left, top, width, height = region
    w = min(left + width, monitor.right) - max(left, monitor.left)
    h = min(top + height, monitor.bottom) - max(top, monitor.top)
    return max(0, w) * max(0, h)


def locate_region(left: int, top: int, width: int, height: int,
                  monitors: Sequence[Monitor]) -> ScreenRegion:
    """The region on the monitor holding most of it, from virtual-desktop coordinates (a `screen:` spec)."""
    if not monitors:
        raise ScreenError("no screen found to capture")
    best = max(monitors, key=lambda m: _overlap((left, top, width, height), m))
    if width > 0 and height > 0 and _overlap((left, top, width, height), best) == 0:
        screens = "; ".join(f"{m.describe()} at {m.left},{m.top}" for m in monitors)
        raise RegionError(f"the region {left},{top},{width},{height} is on no screen ({screens}); "
                          "pick the region again")
    return ScreenRegion(best, left - best.left, top - best.top, width, height)


def _past_edges(region: ScreenRegion) -> list[str]:
    m = region.monitor
    past = []
    if region.x < 0:
        past.append(f"{-region.x} pixels past the left edge")
    if region.y < 0:
        past.append(f"{-region.y} pixels past the top edge")
    if region.x + region.width > m.width:
        past.append(f"{region.x + region.width - m.width} pixels past the right edge")
    if region.y + region.height > m.height:
        past.append(f"{region.y + region.height - m.height} pixels past the bottom edge")
    return past


def check_region(region: ScreenRegion, monitors: Sequence[Monitor] | None = None) -> ScreenRegion:
    """The region if it can be watched: on a connected screen, inside it, big enough for faces."""
    m = region.monitor
    if region.width <= 0 or region.height <= 0:
        raise RegionError("the region is empty: drag a rectangle over the call's gallery")
    if monitors is not None and m.place not in {other.place for other in monitors}:
        raise RegionError(f"{m.describe()} is no longer there (unplugged, or its resolution "
                          "changed); pick the region again")
    if past := _past_edges(region):
        if region.x >= m.width or region.y >= m.height or region.x + region.width <= 0 \
                or region.y + region.height <= 0:
            raise RegionError(f"the region is outside {m.describe()}; pick it on the screen "
                              "that shows the call")
        raise RegionError(f"the region reaches {' and '.join(past)} of {m.describe()}; "
                          "move it or make it smaller")
    if region.width < MIN_REGION_WIDTH or region.height < MIN_REGION_HEIGHT:
        raise RegionError(f"the region is {region.width}×{region.height} pixels, too small to find "
                          f"faces in; make it at least {MIN_REGION_WIDTH}×{MIN_REGION_HEIGHT} "
                          "pixels (about one student's tile)")
    return region


def _wayland(env: Mapping[str, str]) -> bool:
    return env.get("XDG_SESSION_TYPE", "").lower() == "wayland" or bool(env.get("WAYLAND_DISPLAY"))


def display_problem(env: Mapping[str, str], system: str) -> ScreenError | None:
    """Why capture cannot work in this session before trying it (Linux without X); None if it may."""
    if system != "Linux" or env.get("DISPLAY"):
        return None
    return WaylandSessionError(WAYLAND) if _wayland(env) else NoDisplayError(NO_DISPLAY)


def failure_problem(exc: Exception, env: Mapping[str, str], system: str) -> ScreenError:
    """The one line for a capture that failed with mss's own error."""
    if system == "Linux" and _wayland(env):
        return WaylandSessionError(f"{WAYLAND} ({exc})")
    if system == "Linux":
        shown = env.get("DISPLAY", "")
        return NoDisplayError(f"no display: cannot read the screen of DISPLAY={shown} ({exc}); is "
                              "the desktop session running there, and is DISPLAY right?")
    return ScreenError(f"cannot capture the screen ({exc})")


def is_blank(image: np.ndarray) -> bool:
    """True when every pixel is black (at most BLACK_LEVEL in every channel)."""
    return image.size > 0 and int(image[..., :3].max()) <= BLACK_LEVEL


def blank_problem(image: np.ndarray, env: Mapping[str, str], system: str) -> ScreenError | None:
    """An all-black grab means no permission on macOS and a Wayland screen under XWayland; an empty X
    screen (a bare Xvfb) is black too, so on X11 black is left alone."""
    if not is_blank(image):
        return None
    if system == "Darwin":
        return ScreenPermissionError(MACOS_PERMISSION)
    if system == "Linux" and _wayland(env):
        return WaylandSessionError(WAYLAND)
    return None


def _macos_may_record_screen() -> bool | None:
    """CoreGraphics' own answer (macOS 10.15+), without prompting; None where it cannot say.

    Without the permission, recent macOS hands out the wallpaper instead of a black image, which no
    pixel test can tell from a real desktop.
    """
    try:
        core = ctypes.cdll.LoadLibrary(
            "/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics")
        preflight = core.CGPreflightScreenCaptureAccess
    except (OSError, AttributeError):
        return None
    preflight.restype = ctypes.c_bool
    return bool(preflight())


# mss raises ScreenShotError, but its XCB layer an AssertionError once the X server has gone, and
# its ctypes calls OSError.
_MSS_ERRORS = (mss.ScreenShotError, AssertionError, OSError)


def _to_rgb(shot: object) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(shot)[..., 2::-1])  # mss gives BGRA


class ScreenGrabber:
    """One open connection to the display, grabbing one region again and again (the screen source).

    Opening checks everything a teacher can fix: a display, not Wayland, the macOS permission, and
    that the region lies on a screen and is big enough; each failure is a `ScreenError` with one line.
    A screen, unlike a camera, has no frame clock: `min_interval_s` paces `grab_bgr`, or a reader
    thread would spend a whole core grabbing (a 1920×1080 grab takes 10-20 ms).
    """

    def __init__(self, region: ScreenRegion | tuple[int, int, int, int] | None = None, *,
                 display: str | None = None, env: Mapping[str, str] | None = None,
                 system: str | None = None, min_interval_s: float = 0.0) -> None:
        self.min_interval_s = min_interval_s
        self._last_grab = float("-inf")
        env = os.environ if env is None else env
        system = platform.system() if system is None else system
        if display:
            env = {**env, "DISPLAY": display}
        if problem := display_problem(env, system):
            raise problem
        if system == "Darwin" and _macos_may_record_screen() is False:
            raise ScreenPermissionError(MACOS_PERMISSION)
        try:
            self._mss = mss.MSS(display=env.get("DISPLAY")) if system == "Linux" else mss.MSS()
            self.monitors = monitors_from_mss(self._mss.monitors)
        except _MSS_ERRORS as exc:
            raise failure_problem(exc, env, system) from exc
        try:
            self.region = self._resolve(region)
            first = self.grab_rgb()
        except ScreenError:
            self.close()
            raise
        if problem := blank_problem(first, env, system):
            self.close()
            raise problem

    def _resolve(self, region: ScreenRegion | tuple[int, int, int, int] | None) -> ScreenRegion:
        if not self.monitors:
            raise ScreenError("no screen found to capture")
        if region is None:
            return ScreenRegion.whole(self.monitors[0])
        if not isinstance(region, ScreenRegion):
            region = locate_region(*region, self.monitors)
        return check_region(region, self.monitors)

    def grab_rgb(self) -> np.ndarray:
        """The region's pixels now, RGB, shape (height, width, 3)."""
        try:
            return _to_rgb(self._mss.grab(self.region.as_mss()))
        except _MSS_ERRORS as exc:  # the display went away, or the monitor was unplugged
            raise ScreenError(f"cannot capture {self.region.describe()} ({exc!r})") from exc

    def grab_bgr(self) -> np.ndarray:
        """The region's pixels, BGR as OpenCV and the engine take them, at most every min_interval_s."""
        wait_s = self._last_grab + self.min_interval_s - time.monotonic()
        if wait_s > 0:
            time.sleep(wait_s)
        self._last_grab = time.monotonic()
        try:
            return np.ascontiguousarray(np.asarray(self._mss.grab(self.region.as_mss()))[..., :3])
        except _MSS_ERRORS as exc:
            raise ScreenError(f"cannot capture {self.region.describe()} ({exc!r})") from exc

    def close(self) -> None:
        self._mss.close()

    def __enter__(self) -> ScreenGrabber:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def list_monitors(*, display: str | None = None) -> list[Monitor]:
    """The monitors as mss sees them (raises ScreenError with the fix when the screen cannot be read)."""
    with ScreenGrabber(display=display) as grabber:
        return grabber.monitors


def check_capture(*, display: str | None = None) -> list[Monitor]:
    """Check that the screen can be captured at all (grabs the first monitor once); its monitors."""
    return list_monitors(display=display)


def screenshot(target: Monitor | ScreenRegion | None = None, *, display: str | None = None) -> np.ndarray:
    """One RGB screenshot (height, width, 3) of a monitor, a region, or the first monitor; kept in memory."""
    region = ScreenRegion.whole(target) if isinstance(target, Monitor) else target
    with ScreenGrabber(region, display=display) as grabber:
        return grabber.grab_rgb()
