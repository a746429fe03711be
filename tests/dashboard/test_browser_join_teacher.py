"""The teacher's side of a join lesson in a real headless Chromium, on the one port `streamlit run`
serves: Start on the Live form, the link built from the address the browser used (st.context.url),
its QR code, a student posting through the join API on that port appearing as a tile, Stop, and the
link then saying the lesson has ended. (The student's own page is tested with its own module.)"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.dashboard.browser import ARTIFACTS, CHROMIUM, browser_unavailable, chromium_page
from tests.dashboard.streamlit_server import serving_dashboard

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`streamlit run` on a free port with a fresh database; its URL."""
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with serving_dashboard(tmp_path, os.environ, CLASSPULSE_DB_URL=f"sqlite:///{tmp_path / 'join.db'}",
                           CLASSPULSE_DATA_DIR=str(tmp_path / "data"), CLASSPULSE_TIMEZONE="UTC",
                           CLASSPULSE_ENGINE_STANDBY="0") as url:  # fmt: skip
        yield url


def _post_samples(server: str, code: str, token: str, joined_ms: int, seconds: int) -> None:
    """A student's page: one face sample a second since joining, posted as measured (same host,
    so the server's clock is this one)."""
    for i in range(seconds):
        t_ms = joined_ms + 1000 * i
        time.sleep(max(0.0, t_ms / 1000 - time.time()))
        sample = {"t_ms": t_ms, "face": True, "yaw_deg": 3.0, "pitch_deg": -2.0, "roll_deg": 1.0,
                  "eye_openness": 0.3, "gaze_offset": 0.1, "probabilities": None}  # fmt: skip
        response = httpx.post(f"{server}/join/api/{code}/samples", json={"samples": [sample]},
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert response.status_code == 200, response.text


def test_a_join_lesson_started_on_the_live_page_shows_its_link_its_students_and_ends(server: str) -> None:
    with chromium_page("join-teacher-failure.png", viewport={"width": 1400, "height": 1100}) as (page, expect):
        page.goto(f"{server}/live")
        page.get_by_text("Students join from their browser").click(timeout=60_000)
        page.get_by_label("Lesson title").fill("Biology")
        page.get_by_role("button", name="Start lesson").click()
        link = page.get_by_test_id("stCode").first
        expect(link).to_have_text(re.compile(rf"^{re.escape(server)}/join/[2-9A-Z]{{10}}$"), timeout=60_000)
        code = link.inner_text().strip().rsplit("/", 1)[1]
        expect(page.get_by_text("127.0.0.1 is this computer's own address")).to_be_visible()
        expect(page.get_by_text("Waiting for students to join")).to_be_visible()
        expect(page.get_by_role("img").first).to_be_visible()  # the QR code

        student = httpx.post(f"{server}/join/api/{code}/students", json={})
        assert student.status_code == 201, student.text
        _post_samples(server, code, student.json()["token"], student.json()["server_time_ms"], 4)
        expect(page.get_by_text("Student 1", exact=True)).to_be_visible(timeout=30_000)
        value = page.get_by_test_id("stMetric").filter(has_text="Samples/s each")
        expect(value.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"^\d\.\d$"), timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "live-join.png"), full_page=True)

        page.get_by_role("button", name="Stop lesson").click()
        expect(page.get_by_text("Lesson “Biology” finished.")).to_be_visible(timeout=30_000)
        assert httpx.get(f"{server}/join/api/{code}").status_code == 410  # the link says it has ended
