"""A real X display for tests: Xvfb on a free display number, RandR monitors, Chromium in kiosk mode."""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def display_unavailable(reason: str) -> None:
    """Skip with the reason, or fail when CI requires the display tests (CLASSPULSE_REQUIRE_DISPLAY=1)."""
    if os.environ.get("CLASSPULSE_REQUIRE_DISPLAY") == "1":
        pytest.fail(f"display test required (CLASSPULSE_REQUIRE_DISPLAY=1) but {reason}")
    pytest.skip(reason)


def xvfb_path() -> str:
    path = shutil.which("Xvfb")
    if path is None:
        display_unavailable("Xvfb is missing (apt-get install xvfb)")
    return path  # type: ignore[return-value]


def chromium_path() -> Path:
    if not CHROMIUM.exists():
        display_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@dataclass
class XServer:
    """A running Xvfb: its DISPLAY value and process."""

    display: str
    process: subprocess.Popen

    def env(self, **extra: str) -> dict[str, str]:
        """This environment, on this display and not on Wayland."""
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
        return {**env, "DISPLAY": self.display, **extra}

    def stop(self) -> None:
        stop_process(self.process)


def start_xvfb(width: int, height: int, log: Path) -> XServer:
    """Xvfb on the first free display number (the server picks it: -displayfd), ready when this returns."""
    read_fd, write_fd = os.pipe()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [xvfb_path(), "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24",
             "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    os.close(write_fd)
    try:
        number = b""
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], 30)
            chunk = os.read(read_fd, 16) if ready else b""
            if not chunk:
                stop_process(process)
                pytest.fail(f"Xvfb did not start: {log.read_text()[-2000:]}")
            number += chunk
    finally:
        os.close(read_fd)
    return XServer(f":{int(number)}", process)


def stop_process(process: subprocess.Popen, timeout_s: float = 10) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_chromium(server: XServer, url: str, size: tuple[int, int], profile: Path,
                   log: Path) -> subprocess.Popen:
    """Chromium showing `url` full screen on the server, at one device pixel per CSS pixel.

    Xvfb runs no window manager to make a kiosk window full screen: position and size say it.
    """
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(chromium_path()), "--kiosk", "--no-sandbox", "--disable-gpu", "--test-type",
             "--window-position=0,0", f"--window-size={size[0]},{size[1]}",
             f"--user-data-dir={profile}", "--force-device-scale-factor=1", "--no-first-run",
             "--no-default-browser-check", "--disable-background-networking", "--disable-sync",
             "--disable-component-update", "--disable-features=Translate,MediaRouter",
             "--autoplay-policy=no-user-gesture-required", "--password-store=basic", url],
            env=server.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_until(condition, timeout_s: float, what: str, interval_s: float = 0.25):
    """Poll until condition() is truthy; its value. Fails naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout_s:.0f} s")
        time.sleep(interval_s)


class _Monitor(ctypes.Structure):  # XRRMonitorInfo
    _fields_ = [("name", ctypes.c_ulong), ("primary", ctypes.c_int), ("automatic", ctypes.c_int),
                ("noutput", ctypes.c_int), ("x", ctypes.c_int), ("y", ctypes.c_int),
                ("width", ctypes.c_int), ("height", ctypes.c_int), ("mwidth", ctypes.c_int),
                ("mheight", ctypes.c_int), ("outputs", ctypes.POINTER(ctypes.c_ulong))]


class _Resources(ctypes.Structure):  # XRRScreenResources
    _fields_ = [("timestamp", ctypes.c_ulong), ("config_timestamp", ctypes.c_ulong),
                ("ncrtc", ctypes.c_int), ("crtcs", ctypes.c_void_p), ("noutput", ctypes.c_int),
                ("outputs", ctypes.POINTER(ctypes.c_ulong)), ("nmode", ctypes.c_int),
                ("modes", ctypes.c_void_p)]


def set_monitors(display: str, monitors: Sequence[tuple[str, int, int, int, int]]) -> None:
    """Split the X screen into RandR 1.5 monitors (name, x, y, width, height), as `xrandr --setmonitor`
    does; the first takes over Xvfb's one output and is the primary. Needs the server's -noreset."""
    try:
        x11 = ctypes.CDLL("libX11.so.6")
        xrandr = ctypes.CDLL("libXrandr.so.2")
    except OSError as exc:
        display_unavailable(f"libX11/libXrandr are missing ({exc})")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = ctypes.c_ulong
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xrandr.XRRAllocateMonitor.restype = ctypes.POINTER(_Monitor)
    xrandr.XRRAllocateMonitor.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xrandr.XRRSetMonitor.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(_Monitor)]
    xrandr.XRRGetScreenResourcesCurrent.restype = ctypes.POINTER(_Resources)
    xrandr.XRRGetScreenResourcesCurrent.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        pytest.fail(f"cannot open X display {display}")
    try:
        root = x11.XDefaultRootWindow(dpy)
        output = xrandr.XRRGetScreenResourcesCurrent(dpy, root).contents.outputs[0]
        for i, (name, x, y, width, height) in enumerate(monitors):
            monitor = xrandr.XRRAllocateMonitor(dpy, 1 if i == 0 else 0).contents
            monitor.name = x11.XInternAtom(dpy, name.encode(), 0)
            monitor.primary = int(i == 0)
            monitor.x, monitor.y, monitor.width, monitor.height = x, y, width, height
            monitor.mwidth, monitor.mheight = width * 254 // 960, height * 254 // 960  # 96 dpi
            if i == 0:
                monitor.outputs[0] = output
            xrandr.XRRSetMonitor(dpy, root, ctypes.byref(monitor))
        x11.XSync(dpy, 0)
    finally:
        x11.XCloseDisplay(dpy)
