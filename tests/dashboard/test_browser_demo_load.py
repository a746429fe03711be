"""A demo lesson on the real engine while a CPU-burning helper loads the machine, in real Chromium.

The teacher starts the demo from the Live page and watches it for about 45 s: the page never says
the camera was lost, however busy the machine is (the demo is sampled like a camera, skipping frames
when behind). After Stop, the database's samples span the lesson's stored duration within one
sample period, and the report shows that duration and each student's time present as the stored
observations give them. The dashboard runs as a teacher gets it, its warm engine included (the
lesson runs in the engine that waited beside the form). Screenshots of the Live page and the report
go to test-artifacts/.
CLASSPULSE_REQUIRE_BROWSER=1 (CI) turns a missing Chromium or Playwright into a failure.
"""

from __future__ import annotations

import csv
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboard.live_metrics import STALE_AFTER_S
from engine.standby import READY_LINE
from tests.dashboard.browser import (
    ARTIFACTS,
    CHROMIUM,
    browser_unavailable,
    chromium_page,
)
from tests.dashboard.streamlit_server import serving_dashboard

pytestmark = pytest.mark.browser

BURNERS = 1  # one busy loop takes one of CI's two cores from the engine, Streamlit and Chromium
BURN_S = 600  # far longer than the test takes
WATCH_S = 40.0  # how long the teacher watches the lesson
POLL_S = 0.5
LOST_NOTICES = re.compile(r"camera lost|No frames for", re.IGNORECASE)
PRESENT = re.compile(r"^[1-9]\d* of \d+$")
UNSCROLLED = (
    "html, body, #root, .stApp, [data-testid=stAppViewContainer], [data-testid=stMain] "
    "{ height: auto !important; min-height: 0 !important; overflow: visible !important; }"
    " [data-testid=stSidebar] { min-width: 300px !important; }"  # it would shrink to its icons
)
DURATION = re.compile(r"^(?:(\d+) h )?(\d+) min(?: (\d+) s)?$")


@dataclass(frozen=True)
class Dashboard:
    url: str
    db_path: Path
    data_dir: Path


@pytest.fixture
def cpu_burner() -> Iterator[list[subprocess.Popen[bytes]]]:
    """BURNERS plain Python busy loops for the length of the test, killed however it ends."""
    # A burner left behind by a killed test run stops by itself after BURN_S.
    busy_loop = f"import time\nend = time.monotonic() + {BURN_S}\nwhile time.monotonic() < end: pass"
    burners = [subprocess.Popen([sys.executable, "-c", busy_loop]) for _ in range(BURNERS)]
    try:
        yield burners
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


@pytest.fixture
def dashboard(tmp_path: Path, asset, cpu_burner) -> Iterator[Dashboard]:
    """`streamlit run` on a free port with a fresh SQLite file, started once the machine is busy."""
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    asset("face_landmarker.task")
    assert all(b.poll() is None for b in cpu_burner), "the CPU burner did not start"
    db_path, data_dir = tmp_path / "load.db", tmp_path / "data"
    with serving_dashboard(tmp_path, os.environ, CLASSPULSE_DB_URL=f"sqlite:///{db_path}",
                           CLASSPULSE_DATA_DIR=str(data_dir), CLASSPULSE_TIMEZONE="UTC",
                           CLASSPULSE_ENGINE_STANDBY="1") as url:  # as a teacher gets it
        yield Dashboard(url, db_path, data_dir)


@dataclass(frozen=True)
class StoredLesson:
    """What the database holds about the one lesson, in seconds from its start."""

    status: str
    rate_hz: float
    duration_s: float  # ended_at - started_at
    start_to_first_sample_s: float
    sample_offsets_s: list[float]  # every sample's t - started_at, in order
    present_rows: dict[int, int]  # track id -> observations neither absent nor camera off
    camera_off: set[int]  # tracks still for most of their samples: no time present (storage.measures)

    @property
    def span_s(self) -> float:
        return self.sample_offsets_s[-1] - self.sample_offsets_s[0]

    @property
    def seconds_per_sample(self) -> float:
        n = len(self.sample_offsets_s)
        return self.span_s / (n - 1) if n > 1 else 1 / self.rate_hz


def _stored_lesson(db_path: Path) -> StoredLesson:
    """Read the lesson straight from the SQLite file (plain SQL, not the dashboard's queries)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT id, status, sample_rate_hz, (julianday(ended_at) - julianday(started_at)) * 86400,"
            " julianday(started_at) FROM lessons"
        ).fetchall()
        assert len(rows) == 1, rows
        lesson_id, status, rate_hz, duration_s, started_jd = rows[0]
        offsets = [
            (jd - started_jd) * 86400
            for (jd,) in conn.execute(
                "SELECT julianday(ts) FROM samples WHERE lesson_id = ? ORDER BY t_ms", (lesson_id,)
            )
        ]
        counts = conn.execute(
            "SELECT track_id, SUM(state NOT IN ('absent', 'camera_off')), SUM(state = 'camera_off'),"
            " SUM(state != 'camera_off') FROM observations WHERE lesson_id = ? GROUP BY track_id",
            (lesson_id,),
        ).fetchall()
    assert offsets, "the lesson stored no sample"
    present = {track: rows for track, rows, _, _ in counts}
    camera_off = {track for track, _, still, live in counts if still > live}
    return StoredLesson(status, rate_hz, duration_s, offsets[0], offsets, present, camera_off)


def _metric(page, label: str):  # noqa: ANN001, ANN202 - a Playwright page and locator
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def _seconds(duration_text: str) -> int:
    """ "1 h 05 min" / "12 min 30 s" as seconds (the report's words for a duration)."""
    found = DURATION.match(duration_text.strip())
    assert found, f"not a duration: {duration_text!r}"
    hours, minutes, secs = (int(v or 0) for v in found.groups())
    return hours * 3600 + minutes * 60 + secs


def _table_under(page, heading_id: str, saved: Path) -> list[dict[str, str]]:  # noqa: ANN001
    """The rows of the first table below a heading, as its "Download as CSV" button gives them.

    The grid is drawn on a canvas; its own CSV is what the teacher would read off it. Needs
    window.showSaveFilePicker removed (a headless browser cannot answer the save dialog).
    """
    grid = page.locator(
        f"xpath=//div[@data-testid='stElementContainer'][.//h3[@id='{heading_id}']]"
        "/following-sibling::div[@data-testid='stElementContainer'][.//div[@data-testid='stDataFrame']][1]"
        "//div[@data-testid='stDataFrame']"
    )
    grid.wait_for(timeout=30_000)
    grid.scroll_into_view_if_needed()
    grid.hover()
    with page.expect_download(timeout=30_000) as download:
        grid.get_by_role("button", name="Download as CSV").click(timeout=30_000)
    download.value.save_as(saved)
    with saved.open(encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _screenshot(page, name: str) -> None:  # noqa: ANN001
    """The whole page to test-artifacts/. Streamlit scrolls inside its main area, so a full-page shot
    would stop at the fold: for the shot, the page's containers grow to their content instead
    (the width stays, so no figure is laid out again)."""
    style = page.add_style_tag(content=UNSCROLLED)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    style.evaluate("tag => tag.remove()")


def _watch(page, seconds: float) -> None:  # noqa: ANN001
    """Read the page's text every POLL_S for `seconds`, failing at once on a lost-camera notice."""
    deadline = time.monotonic() + seconds
    shot = False
    while time.monotonic() < deadline:
        text = page.locator("[data-testid='stMain']").inner_text()
        lost = LOST_NOTICES.search(text)
        assert lost is None, f"the Live page said {lost.group(0)!r}: {text[:600]}"
        assert "The engine has stopped" not in text, text[:600]
        if not shot and deadline - time.monotonic() < seconds / 2 and page.locator(".js-plotly-plot").count():
            _screenshot(page, "live-loaded.png")
            shot = True
        page.wait_for_timeout(POLL_S * 1000)


def test_demo_lesson_on_a_loaded_machine_keeps_its_timing(dashboard: Dashboard) -> None:
    page_options = {"viewport": {"width": 1400, "height": 1000}, "accept_downloads": True}
    with chromium_page("failure-loaded.png", **page_options) as (page, expect):
        page.add_init_script("delete window.showSaveFilePicker")
        page.goto(dashboard.url)
        page.get_by_role("button", name="Start a demo lesson").click(timeout=60_000)
        expect(_metric(page, "Students present")).to_have_text(PRESENT, timeout=120_000)

        _watch(page, WATCH_S)

        page.get_by_role("button", name="Stop lesson").click(timeout=30_000)
        page.get_by_role("button", name="Open its report").click(timeout=60_000)
        expect(page.get_by_text("Lowest-concentration moments")).to_be_visible(timeout=60_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
        duration_shown = _metric(page, "Duration").inner_text(timeout=30_000)
        students_shown = _table_under(page, "students", dashboard.db_path.with_name("students.csv"))
        _screenshot(page, "report-loaded.png")

    stored = _stored_lesson(dashboard.db_path)
    logs = [p.read_text(encoding="utf-8", errors="replace") for p in (dashboard.data_dir / "engine-logs").iterdir()]
    assert any(READY_LINE in text and "lesson 1 started" in text for text in logs), logs  # the warm engine ran it
    period_s = 1 / stored.rate_hz
    assert stored.status == "finished"
    assert abs(stored.start_to_first_sample_s) < 0.002  # the lesson starts at its first sample
    gaps = [b - a for a, b in zip(stored.sample_offsets_s, stored.sample_offsets_s[1:], strict=False)]
    assert max(gaps) < STALE_AFTER_S, f"a {max(gaps):.1f} s hole in the samples"
    assert -0.002 <= stored.duration_s - stored.span_s <= period_s + 0.002, (
        stored.duration_s, stored.span_s, period_s
    )
    assert abs(_seconds(duration_shown) - stored.duration_s) <= 0.5 + 1e-6, duration_shown

    shown = {int(row["Student"].removeprefix("Student ")): row["Time present (min)"]
             for row in students_shown}
    assert shown.keys() == stored.present_rows.keys()
    assert {t for t, v in shown.items() if v in ("", None)} == stored.camera_off  # a picture: no time
    for track_id, rows in stored.present_rows.items():
        if track_id in stored.camera_off:
            continue
        shown[track_id] = float(shown[track_id])
        present_s = rows * stored.seconds_per_sample
        assert abs(shown[track_id] - present_s / 60) <= 0.05 + 1e-9, (track_id, shown, present_s)
        # nobody is present longer than the lesson, give or take the one sample each stands for
        assert present_s <= stored.duration_s + stored.seconds_per_sample + 1e-6, (track_id, present_s)
    assert max(stored.present_rows.values()) > 0
