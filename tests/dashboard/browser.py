"""The real browser for the dashboard's browser tests: Debian's Chromium driven by Playwright.

`chromium_page` opens one headless page, saves a whole-page screenshot to `test-artifacts/` when the
test fails inside it, and closes the browser. Without Chromium or Playwright the test is skipped,
or fails when CI requires the browser (CLASSPULSE_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"  # screenshots, git-ignored; CI keeps them as artefacts
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_unavailable(reason: str) -> None:
    """Skip the test for `reason`, or fail it when CI requires the browser."""
    if os.environ.get("CLASSPULSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (CLASSPULSE_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@contextmanager
def chromium_page(failure_shot: str, **page_options: Any) -> Iterator[tuple[Any, Any]]:
    """(page, expect): a new Chromium page (`page_options` go to `new_page`), and Playwright's
    `expect`; on a failure inside, a whole-page screenshot `failure_shot` in test-artifacts/."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        browser_unavailable("the playwright package is not installed")
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(**page_options)
        try:
            yield page, expect
        except Exception:
            page.screenshot(path=str(ARTIFACTS / failure_shot), full_page=True)
            raise
        finally:
            browser.close()
