"""Every page opens at its own address in a real browser: a link to /live or /export works."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.dashboard.browser import chromium_page
from tests.dashboard.streamlit_server import serving_dashboard

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADDRESSES = {  # address: the heading the page shows
    "/": "Live lesson",
    "/live": "Live lesson",
    "/lessons": "Lessons",
    "/export": "Export",
    "/photo": "Analyse a photo",
    "/privacy": "Privacy",
}


def test_each_page_opens_at_its_own_address(tmp_path: Path) -> None:
    env = dict(os.environ)
    with (
        serving_dashboard(tmp_path, env, CLASSPULSE_DATA_DIR=str(tmp_path / "data"),
                          CLASSPULSE_DB_URL=f"sqlite:///{tmp_path / 'pages.db'}",
                          CLASSPULSE_ENGINE_STANDBY="0") as url,
        chromium_page("addresses.png") as (page, expect),
    ):
        for address, heading in ADDRESSES.items():
            page.goto(url + address)
            expect(page.get_by_role("heading", level=1).first).to_contain_text(heading, timeout=30_000)
            expect(page.get_by_text("Page not found")).to_have_count(0)
            expected = "/live" if address == "/" else address  # home is the Live page's address
            assert page.url == url + expected
