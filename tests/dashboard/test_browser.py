"""End to end in a real headless Chromium: start a demo lesson, watch it, stop it, report, CSV.

Runs `streamlit run` on a free port against a temporary database; the engine is the real one on
the demo clip. Screenshots of every page go to test-artifacts/. CI sets CLASSPULSE_REQUIRE_BROWSER=1,
which turns a missing Chromium into a failure instead of a skip.
"""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.browser import ARTIFACTS, CHROMIUM, browser_unavailable, chromium_page

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path, asset) -> Iterator[str]:
    """`streamlit run` on a free port with a fresh database; its URL."""
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    asset("face_landmarker.task")  # the demo lesson needs the models: fail with the fix when absent
    port = _free_port()
    env = dict(
        os.environ,
        CLASSPULSE_DB_URL=f"sqlite:///{tmp_path / 'e2e.db'}",
        CLASSPULSE_DATA_DIR=str(tmp_path / "data"),
        CLASSPULSE_TIMEZONE="UTC",
    )
    log = (tmp_path / "streamlit.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "streamlit_app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield url
    finally:
        _stop_engines(tmp_path / "data")
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _stop_engines(data_dir: Path) -> None:
    from dashboard import control

    handle = control.find_engine(data_dir)
    if handle is not None:
        control.stop_engine(handle, timeout_s=20)


def _metric(page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_demo_lesson_from_start_to_report_and_csv(server: str, tmp_path: Path) -> None:
    page_options = {"viewport": {"width": 1400, "height": 1000}, "accept_downloads": True}
    with chromium_page("failure.png", **page_options) as (page, expect):
        page.goto(server)
        page.get_by_role("button", name="Start a demo lesson").click(timeout=60_000)

        concentration = _metric(page, "Class concentration now")
        expect(concentration).to_have_text(re.compile(r"^\d+$"), timeout=120_000)
        last_sample = _metric(page, "Last sample")
        expect(last_sample).to_have_text(re.compile(r"^\d+ s ago$"), timeout=90_000)

        # The card refreshes itself: its numbers change without any click.
        first = page.get_by_test_id("stMetric").all_inner_texts()
        deadline = time.monotonic() + 30
        while page.get_by_test_id("stMetric").all_inner_texts() == first:
            assert time.monotonic() < deadline, f"live numbers did not change: {first}"
            page.wait_for_timeout(500)
        assert page.get_by_text("Student 1", exact=False).first.is_visible()
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)

        stop = page.get_by_role("button", name="Stop lesson")
        if stop.is_visible():  # the demo clip may have ended by itself on a slow machine
            stop.click()
        page.get_by_role("button", name="Open its report").click(timeout=60_000)
        expect(page.get_by_text("Lowest-concentration moments")).to_be_visible(timeout=60_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "lessons.png"), full_page=True)

        page.goto(f"{server}/export")
        button = page.get_by_role("button", name="Per-student summary (CSV)")
        with page.expect_download(timeout=60_000) as download_info:
            button.click(timeout=60_000)
        saved = tmp_path / "students.csv"
        download_info.value.save_as(saved)
        rows = list(csv.DictReader(saved.open(encoding="utf-8-sig")))
        assert rows and rows[0]["Student"] == "Student 1" and "Mean engagement" in rows[0]
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / "export.png"), full_page=True)

        page.goto(f"{server}/photo")
        expect(page.get_by_text("Upload a photo, or take one")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "photo.png"), full_page=True)

        page.goto(f"{server}/privacy")
        expect(page.get_by_text("A notice to show your students")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "privacy.png"), full_page=True)
