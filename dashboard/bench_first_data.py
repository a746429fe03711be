"""Seconds from clicking Start on the Live page to the first student on it: `python -m dashboard.bench_first_data`.

Runs `streamlit run` on a free port against a temporary database, opens the Live page in a real
headless Chromium (Playwright), clicks Start with the demo as the source and waits for the
"Students present" metric to count a student: the real engine, the real page, the real refresh.
Each run then stops its lesson. Prints every run, the median and the load average (a busy machine
moves every figure). Needs Chromium at /usr/bin/chromium and the playwright package (dev).
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STUDENT_PRESENT = re.compile(r"^[1-9]\d* of \d+$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(os.environ, CLASSPULSE_DB_URL=f"sqlite:///{tmp / 'bench.db'}",
               CLASSPULSE_DATA_DIR=str(tmp / "data"), CLASSPULSE_TIMEZONE="UTC")
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.headless",
               "true", "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = (tmp / "streamlit.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise click.ClickException(f"streamlit did not start; see {tmp / 'streamlit.log'}")


def _one_run(page, url: str, timeout_s: float) -> float:  # noqa: ANN001 - a Playwright page
    """Seconds from the Start click to a student counted on the live card; the lesson is then stopped."""
    from playwright.sync_api import expect

    page.goto(url)
    # A fresh database shows the guide's demo button above the start form: the first is the demo.
    start = page.get_by_role("button", name=re.compile(r"^Start (a demo )?lesson$")).first
    start.wait_for(timeout=60_000)
    clicked = time.monotonic()
    start.click()
    present = (page.get_by_test_id("stMetric").filter(has_text="Students present")
               .get_by_test_id("stMetricValue"))
    expect(present).to_have_text(STUDENT_PRESENT, timeout=timeout_s * 1000)
    seconds = time.monotonic() - clicked
    page.get_by_role("button", name="Stop lesson").click()
    page.get_by_role("button", name="Open its report").wait_for(timeout=60_000)
    return seconds


@click.command()
@click.option("--runs", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=120.0, show_default=True,
              help="Give up on a run after this many seconds.")
def main(runs: int, timeout_s: float) -> None:
    """Time Start → first student on the Live page, `runs` times, with the demo as the source."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise click.ClickException("this benchmark needs the playwright package (requirements-dev.txt)") from exc
    if not CHROMIUM.exists():
        raise click.ClickException(f"this benchmark needs Chromium at {CHROMIUM}")
    with tempfile.TemporaryDirectory(prefix="classpulse-first-data-") as tmp:
        server, url = _start_server(Path(tmp))
        load_before = os.getloadavg()
        seconds: list[float] = []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                for i in range(runs):
                    seconds.append(_one_run(page, url, timeout_s))
                    click.echo(f"run {i + 1}: first student on the Live page {seconds[-1]:.1f} s after Start")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
        load_after = os.getloadavg()
    click.echo(f"median of {runs}: {statistics.median(seconds):.1f} s (min {min(seconds):.1f}, max "
               f"{max(seconds):.1f}); load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
               f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
