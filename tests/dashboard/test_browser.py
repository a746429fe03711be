"""End to end in a real headless Chromium: start a demo lesson, watch it, stop it, report, CSV.

Runs `streamlit run` on a free port against a temporary database; the engine is the real one on
the demo clip. Screenshots of every page go to test-artifacts/. CI sets CLASSPULSE_REQUIRE_BROWSER=1,
which turns a missing Chromium into a failure instead of a skip.
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.browser import ARTIFACTS, CHROMIUM, browser_unavailable, chromium_page
from tests.dashboard.streamlit_server import serving_dashboard

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path, asset) -> Iterator[str]:
    """`streamlit run` on a free port with a fresh database; its URL."""
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    asset("face_landmarker.task")  # the demo lesson needs the models: fail with the fix when absent
    with serving_dashboard(tmp_path, os.environ, CLASSPULSE_DB_URL=f"sqlite:///{tmp_path / 'e2e.db'}",
                           CLASSPULSE_DATA_DIR=str(tmp_path / "data"), CLASSPULSE_TIMEZONE="UTC") as url:
        yield url


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
