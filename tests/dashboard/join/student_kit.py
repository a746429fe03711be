"""Test kit for the student page end to end: fake cameras, the server's routes, students in Chromium.

`write_fake_camera` turns a sample video into the YUV4MPEG2 file Chromium's fake camera plays (in a
loop); `serving_server` runs the server's own extra routes (`server_routes()`: the join API, the
student page and its files) with uvicorn on a loopback port against a test database, its log
captured; `student_browser` launches one Chromium whose camera is that file (the fake camera is
per browser process, so each student is a launch of its own); `RequestLog` records every request a
page makes. The teacher's end-to-end test reuses them.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
from sqlalchemy import select
from starlette.applications import Starlette

from dashboard.join.mount import server_routes
from dashboard.join.routes import JoinServerSettings
from storage.db import open_database
from storage.join import JoinLessonInfo, open_join_lesson
from storage.lessons import LessonSpec
from storage.schema import ObservationRow, SampleRow
from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS, browser_unavailable
from tests.dashboard.join.kit import serving

FACE_VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")  # one person at a webcam each
NO_FACE_VIDEO = "no_face.mp4"  # an empty room
FAKE_CAMERA_SIZE = (640, 360)
FAKE_CAMERA_FPS = 10
LOGGERS = ("uvicorn", "dashboard", "storage")


def write_fake_camera(
    video: Path,
    y4m: Path,
    *,
    seconds: float = 12.0,
    fps: int = FAKE_CAMERA_FPS,
    size: tuple[int, int] = FAKE_CAMERA_SIZE,
) -> Path:
    """`video` as a YUV4MPEG2 (C420) file for `--use-file-for-fake-video-capture`: `fps` frames a
    second, at most `seconds` long (Chromium loops it), scaled to `size`."""
    capture = cv2.VideoCapture(str(video))
    source_fps = capture.get(cv2.CAP_PROP_FPS) or fps
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    count = min(int(seconds * fps), int(total * fps / source_fps))
    width, height = size
    try:
        with y4m.open("wb") as out:
            out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode("ascii"))
            for i in range(count):
                capture.set(cv2.CAP_PROP_POS_FRAMES, int(i * source_fps / fps))
                ok, bgr = capture.read()
                if not ok:
                    break
                bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
                out.write(b"FRAME\n" + cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())
    finally:
        capture.release()
    return y4m


def fake_camera_args(y4m: Path) -> list[str]:
    """Chromium's flags for a camera that plays `y4m`, allowed without asking."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}"]  # fmt: skip


@dataclass
class ServedServer:
    """The running server: its base URL, its database and everything it logged."""

    url: str
    db_url: str
    log: io.StringIO

    def page(self, code: str) -> str:
        return f"{self.url}/join/{code}"


@contextmanager
def serving_server(
    db_url: str, settings: JoinServerSettings | None = None, assets_root: Path | None = None
) -> Iterator[ServedServer]:
    """The server's extra routes (`server_routes`; the assets from `assets_root`, default the user's
    cache) on uvicorn at a loopback port for the block."""
    settings = settings or JoinServerSettings(db_url=db_url)
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger(name).addHandler(handler)
    try:
        with serving(Starlette(routes=server_routes(settings, assets_root))) as url:
            yield ServedServer(url, db_url, log)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).removeHandler(handler)


def open_lesson(
    db_url: str,
    *,
    rate_hz: float = 2.0,
    attention_only: bool = True,
    ask_names: bool = False,
    title: str = "Biology",
) -> JoinLessonInfo:
    """A join lesson, open now, as the Live page or `python -m dashboard join` opens one."""
    spec = LessonSpec(title=title, group_name="8A", started_at=datetime.now(UTC),
                      sample_rate_hz=rate_hz, attention_only=attention_only)  # fmt: skip
    return open_join_lesson(open_database(db_url), spec, ask_names=ask_names)


def observations(db_url: str, lesson_id: int) -> dict[int, list[dict[str, Any]]]:
    """Each student's stored observations (track -> rows, oldest first) with their sample's face count."""
    engine = open_database(db_url)
    query = (
        select(ObservationRow.track_id, ObservationRow.t_ms, ObservationRow.state,
               ObservationRow.p_happy, SampleRow.faces_detected)
        .join(SampleRow, (SampleRow.lesson_id == ObservationRow.lesson_id)
              & (SampleRow.t_ms == ObservationRow.t_ms) & (SampleRow.stream == ObservationRow.track_id))
        .where(ObservationRow.lesson_id == lesson_id).order_by(ObservationRow.t_ms)
    )  # fmt: skip
    rows: dict[int, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for track, t_ms, state, p_happy, faces in conn.execute(query):
            rows.setdefault(track, []).append(
                {"t_ms": t_ms, "state": state, "p_happy": p_happy, "faces": faces}
            )
    return rows


@contextmanager
def student_browser(playwright: Any, *args: str) -> Iterator[Any]:
    """One headless Chromium with the house's flags and `args` (a fake camera, a host rule)."""
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *args]
    )
    try:
        yield browser
    finally:
        browser.close()


def join_page(browser: Any, url: str, log: RequestLog | None = None) -> tuple[Any, int]:
    """A new page of `browser` at a lesson's link that presses Join; (page, the student's number)
    once the page says it joined (its camera and face model running)."""
    page = browser.new_page()
    if log is not None:
        log.attach(page)
    page.goto(url)
    page.wait_for_selector("#consent:not([hidden])", timeout=30_000)
    page.click("#join")
    who = wait_for_text(page, "#who", re.compile(r"You joined as Student \d+"), 90)
    match = re.search(r"Student (\d+)", who)
    assert match is not None
    return page, int(match.group(1))


@contextmanager
def playwright_session() -> Iterator[Any]:
    """Playwright's sync API for the block; skipped (or failed under CI) without it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("the playwright package is not installed")
    with sync_playwright() as pw:
        yield pw


def wait_for_text(page: Any, selector: str, text: str | re.Pattern[str], timeout_s: float) -> str:
    """Wait until the element's text contains `text` (a string or a pattern); its text then.

    (Through Playwright's locators: the page's content security policy forbids `eval`, which
    `wait_for_function` with a string needs.)"""
    from playwright.sync_api import expect

    locator = page.locator(selector)
    expect(locator).to_contain_text(text, timeout=timeout_s * 1000)
    return locator.inner_text()


@dataclass
class Request:
    """One request a page made, as it left the browser, and the status it got (None: no answer)."""

    method: str
    url: str
    body: bytes | None
    playwright_request: Any

    @property
    def status(self) -> int | None:
        response = self.playwright_request.response()
        return None if response is None else response.status

    def sizes(self) -> dict[str, int]:
        """Playwright's sizes of the request and its answer (headers and bodies, as on the wire); for
        a request that got no answer (the network was cut), its body only."""
        try:
            return self.playwright_request.sizes()
        except Exception:  # Playwright has no sizes for a failed request
            return {
                "requestBodySize": len(self.body or b""),
                "requestHeadersSize": 0,
                "responseBodySize": 0,
                "responseHeadersSize": 0,
            }

    def json(self) -> Any:
        return json.loads(self.body or b"")


@dataclass
class RequestLog:
    """Every request of the pages it is attached to, in order."""

    requests: list[Request] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("request", self._record)

    def _record(self, request: Any) -> None:
        self.requests.append(
            Request(request.method, request.url, request.post_data_buffer, request)
        )

    def posts(self, suffix: str) -> list[Request]:
        """The POSTs to a URL ending with `suffix` (e.g. "/samples")."""
        return [r for r in self.requests if r.method == "POST" and r.url.endswith(suffix)]

    def downloaded(self) -> tuple[int, int]:
        """(files, response bytes) of every GET so far: a first visit's download, for a page loaded once."""
        gets = [r for r in self.requests if r.method == "GET"]
        return len(gets), sum(r.sizes()["responseBodySize"] for r in gets)
