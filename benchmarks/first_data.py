"""Seconds from clicking Start on the Live page to the first student on it: `python -m benchmarks first-data`.

Runs `streamlit run` on a free port against a temporary database, opens the Live page in a real
headless Chromium (Playwright), clicks Start with the demo as the source and waits for the
"Students present" metric to count a student: the real engine, the real page, the real refresh.
Each run then stops its lesson. Prints every run, the median and the load average (a busy machine
moves every figure), and where each run's time went: a thread beside the browser watches the data
folder, the engine's log and the database every 20 ms for the engine's spawn, its first frame (the
lesson's start), its first committed sample and its "lesson N started" line. By default the
dashboard keeps a warm engine waiting while the form is shown (CLASSPULSE_ENGINE_STANDBY), and each
click waits until it is ready, as a teacher typing a title would; `--no-standby` times a fresh
engine per Start. Needs Chromium at /usr/bin/chromium and the playwright package (dev).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import click

from benchmarks.servers import CHROMIUM, CHROMIUM_ARGS, dashboard_server
from dashboard.engine_handle import events_path_for
from engine.protocol import Started, read_events
from engine.standby import READY_LINE

STUDENT_PRESENT = re.compile(r"^[1-9]\d* of \d+$")


STEPS = ("spawned", "first_frame", "stored", "announced")  # what the watcher times, from the click


class StartWatch(threading.Thread):
    """Wall times (epoch s) of one start's steps, as the data folder, the log and the database show them."""

    def __init__(self, data_dir: Path, db_path: Path, lessons_before: int) -> None:
        super().__init__(name="start-watch", daemon=True)
        self.data_dir, self.db_path, self.lessons_before = data_dir, db_path, lessons_before
        self.seen: dict[str, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        events_path = None
        while not self.done.is_set() and len(self.seen) < len(STEPS):
            now = time.time()
            if events_path is None:
                try:
                    handle = json.loads((self.data_dir / "engine.json").read_text(encoding="utf-8"))
                    self.seen["spawned"] = datetime.fromisoformat(handle["started_at"]).timestamp()
                    events_path = Path(handle["events_path"])
                except (OSError, ValueError, KeyError):
                    pass
            elif "announced" not in self.seen and _announced(events_path):
                self.seen["announced"] = now
            if "stored" not in self.seen:
                first = _first_sample(self.db_path, self.lessons_before)
                if first is not None:
                    self.seen["first_frame"], self.seen["stored"] = first, now
            time.sleep(0.02)


def _announced(events_path: Path) -> bool:
    """Whether the engine has said its lesson started (its `started` event: engine.protocol)."""
    return any(isinstance(event, Started) for event in read_events(events_path))


def _first_sample(db_path: Path, lessons_before: int) -> float | None:
    """The new lesson's start (epoch s, its first frame) once one of its samples is committed."""
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=0.2) as conn:
            row = conn.execute(
                "SELECT (julianday(l.started_at) - 2440587.5) * 86400 FROM lessons l"
                " WHERE l.id > ? AND EXISTS (SELECT 1 FROM samples s WHERE s.lesson_id = l.id)",
                (lessons_before,)).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else float(row[0])


def _lesson_count(db_path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM lessons").fetchone()[0])
    except sqlite3.Error:
        return 0


def _standby_ready(data_dir: Path) -> bool:
    """Whether a warm engine waits: a log of the data folder says it is ready, and no events file
    beside it says it was handed a lesson."""
    try:
        logs = [p for p in (data_dir / "engine-logs").glob("*.log")]
        return any(READY_LINE in p.read_text(encoding="utf-8", errors="replace")
                   and not events_path_for(p).exists() for p in logs)
    except OSError:
        return False


def _one_run(page, url: str, tmp: Path, timeout_s: float, standby: bool) -> dict[str, float]:  # noqa: ANN001
    """Seconds from the Start click to each step and to a student counted on the live card ("shown");
    the lesson is then stopped. With the standby, the click waits until the warm engine is ready,
    as a teacher filling in the form would ("ready", from the page's opening)."""
    from playwright.sync_api import expect

    opened = time.time()
    page.goto(url)
    # A fresh database shows the guide's demo button above the start form: the first is the demo.
    start = page.get_by_role("button", name=re.compile(r"^Start (a demo )?lesson$")).first
    start.wait_for(timeout=60_000)
    ready = None
    if standby:
        deadline = time.monotonic() + 60
        while not _standby_ready(tmp / "data") and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = time.time() - opened
    watch = StartWatch(tmp / "data", tmp / "bench.db", _lesson_count(tmp / "bench.db"))
    watch.start()
    clicked = time.time()
    start.click()
    present = (page.get_by_test_id("stMetric").filter(has_text="Students present")
               .get_by_test_id("stMetricValue"))
    expect(present).to_have_text(STUDENT_PRESENT, timeout=timeout_s * 1000)
    shown = time.time() - clicked
    watch.done.set()
    watch.join(timeout=5)
    page.get_by_role("button", name="Stop lesson").click()
    page.get_by_role("button", name="Open its report").wait_for(timeout=60_000)
    steps = {step: watch.seen[step] - clicked for step in STEPS if step in watch.seen}
    return {**steps, "shown": shown, **({} if ready is None else {"ready": ready})}


def _steps_line(run: dict[str, float]) -> str:
    line = ", ".join(f"{step} {run[step]:.1f}" for step in (*STEPS, "shown") if step in run)
    return line + (f"; warm engine ready {run['ready']:.1f} s after the page opened" if "ready" in run else "")


@click.command()
@click.option("--runs", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=120.0, show_default=True,
              help="Give up on a run after this many seconds.")
@click.option("--standby/--no-standby", default=True, show_default=True,
              help="With the dashboard's warm engine (its default) or a fresh engine per Start.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every run here.")
def main(runs: int, timeout_s: float, standby: bool, json_path: Path | None) -> None:
    """Time Start → first student on the Live page, `runs` times, with the demo as the source."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise click.ClickException("this benchmark needs the playwright package (requirements-dev.txt)") from exc
    if not CHROMIUM.exists():
        raise click.ClickException(f"this benchmark needs Chromium at {CHROMIUM}")
    with tempfile.TemporaryDirectory(prefix="classpulse-first-data-") as tmp:
        standby_env = {"CLASSPULSE_ENGINE_STANDBY": "1" if standby else "0"}
        load_before = os.getloadavg()
        done: list[dict[str, float]] = []
        with dashboard_server(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp) / "data", standby_env) as served:
            url = served.url
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                for i in range(runs):
                    done.append(_one_run(page, url, Path(tmp), timeout_s, standby))
                    click.echo(f"run {i + 1}: first student on the Live page {done[-1]['shown']:.1f} s after "
                               f"Start (s after the click: {_steps_line(done[-1])})")
                browser.close()
        load_after = os.getloadavg()
    seconds = [run["shown"] for run in done]
    medians = {step: statistics.median(run[step] for run in done) for step in (*STEPS, "shown", "ready")
               if all(step in run for run in done)}
    click.echo(f"median s after the click: {_steps_line(medians)}")
    click.echo(f"median of {runs} ({'warm engine' if standby else 'fresh engine per Start'}): "
               f"{statistics.median(seconds):.1f} s (min {min(seconds):.1f}, max "
               f"{max(seconds):.1f}); load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
               f"{os.cpu_count()} CPUs")
    if json_path is not None:
        json_path.write_text(json.dumps({"standby": standby, "load_before": load_before,
                                         "load_after": load_after, "runs": done, "medians": medians},
                                        indent=2))


if __name__ == "__main__":
    main()
