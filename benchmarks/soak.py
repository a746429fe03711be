"""`python -m benchmarks soak`: resident memory of the engine and the dashboard over a compressed school day.

Runs `streamlit run` on a free loopback port against a temporary database, then one demo lesson
after another through the real engine (`python -m engine run --source demo --realtime --loop`,
4x the default rate by default), with short breaks, while the teacher's Live page stays open in a
real headless Chromium (Playwright; reopened at each lesson's start, as a teacher would). Every
`--sample-s` seconds it reads both processes' RSS (psutil, children included); at the end it fits
each one's slope in MB per hour after the warm-up (benchmarks/soak_stats.py) and writes Markdown,
JSON and a chart. `--trace` runs both processes under tracemalloc (benchmarks/soak_trace.py) and
writes where Python memory grew beside the results. Needs Chromium at /usr/bin/chromium and the
playwright package (dev).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import psutil

from benchmarks import soak_stats
from benchmarks.first_data import STUDENT_PRESENT
from benchmarks.report import DEFAULT_OUT, machine, write_study
from benchmarks.servers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    ServerError,
    free_port,
    streamlit_argv,
    wait_healthy,
)
from benchmarks.soak_stats import DASHBOARD, ENGINE, RssSample

log = logging.getLogger(__name__)

STEP_S = 0.5  # how often the day's loop looks at the engine, the page and the clock
ENGINE_STOP_WAIT_S = 60.0


@dataclass(frozen=True, slots=True)
class Day:
    """How the compressed day runs, from the command line."""

    minutes: float
    lesson_minutes: float
    break_minutes: float
    rate_hz: float
    warmup_minutes: float
    sample_s: float
    trace_dir: Path | None  # where tracemalloc reports go; None: no tracing


@dataclass(slots=True)
class Tracked:
    """A running process the soak reads: its Popen, which run it is and when it started."""

    popen: subprocess.Popen[bytes]
    run: int
    started: float  # time.monotonic()


@dataclass(slots=True)
class Soak:
    """The day so far: its folder, the dashboard, the current engine and every reading."""

    tmp: Path
    day: Day
    started: float = field(default_factory=time.monotonic)
    readings: list[RssSample] = field(default_factory=list)
    lessons: int = 0
    lesson_s: float = 0.0  # wall seconds the lessons' engines ran, all together
    engine: Tracked | None = None
    log_path: Path | None = None  # each reading appended as a JSON line (kept if the day is cut)

    @property
    def db_path(self) -> Path:
        return self.tmp / "soak.db"

    def traced(self, name: str, argv: list[str]) -> list[str]:
        """`python -m ...` for a module, under the tracemalloc wrapper when tracing."""
        if self.day.trace_dir is None:
            return [sys.executable, "-m", *argv]
        out = self.day.trace_dir / f"trace_{name}.txt"
        return [sys.executable, "-m", "benchmarks.soak_trace", str(out),
                str(self.day.warmup_minutes * 60), *argv]


def _rss_mb(pid: int) -> float | None:
    """Resident memory of a process and all its children, MB; None once it is gone."""
    try:
        process = psutil.Process(pid)
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a child that just ended
                total += child.memory_info().rss
    except psutil.Error:
        return None
    return total / 1e6


def _read(soak: Soak, name: str, tracked: Tracked) -> None:
    rss = _rss_mb(tracked.popen.pid)
    if rss is not None:
        now = time.monotonic()
        reading = RssSample(name, tracked.run, round(now - soak.started, 1),
                            round(now - tracked.started, 1), round(rss, 2))
        soak.readings.append(reading)
        if soak.log_path is not None:
            with soak.log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(reading)) + "\n")


def _start_dashboard(soak: Soak) -> tuple[Tracked, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.update(CLASSPULSE_DB_URL=f"sqlite:///{soak.db_path}", CLASSPULSE_DATA_DIR=str(soak.tmp / "data"),
               CLASSPULSE_TIMEZONE="UTC", CLASSPULSE_ENGINE_STANDBY="0")  # no warm engine as its child
    argv = streamlit_argv(port)
    with (soak.tmp / "streamlit.log").open("wb") as out:
        popen = subprocess.Popen(soak.traced(DASHBOARD, argv), cwd=ROOT, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(popen, url, soak.tmp / "streamlit.log", 120)
    except ServerError as exc:
        popen.terminate()
        raise click.ClickException(str(exc)) from None
    return Tracked(popen, 0, soak.started), url


def _start_lesson(soak: Soak, seconds: float) -> None:
    soak.lessons += 1
    n = soak.lessons
    argv = ["engine", "run", "--source", "demo", "--realtime", "--loop", "--quiet",
            "--rate", f"{soak.day.rate_hz:g}", "--lesson", f"Soak lesson {n}",
            "--max-seconds", f"{seconds:.0f}", "--db", f"sqlite:///{soak.db_path}",
            "--stop-file", str(soak.tmp / f"stop-{n}")]
    with (soak.tmp / f"engine-{n}.log").open("wb") as out:
        popen = subprocess.Popen(soak.traced(f"{ENGINE}_{n}", argv), cwd=ROOT, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    soak.engine = Tracked(popen, n, time.monotonic())
    log.info("lesson %d started (%.0f s)", n, seconds)


def _lesson_running(db_path: Path, title: str) -> bool:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT 1 FROM lessons WHERE title = ? AND EXISTS (SELECT 1 FROM "
                               "samples s WHERE s.lesson_id = lessons.id)", (title,)).fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def _stored(db_path: Path) -> tuple[int, int]:
    """Samples and observations in the database."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        samples = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        observations = conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
    return int(samples), int(observations)


def _open_live(page: Any, url: str) -> None:  # noqa: ANN401 (a Playwright page)
    """The Live page, watching the running lesson until it counts a student."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    page.goto(f"{url}/live")
    present = (page.get_by_test_id("stMetric").filter(has_text="Students present")
               .get_by_test_id("stMetricValue"))
    try:
        expect(present).to_have_text(STUDENT_PRESENT, timeout=120_000)
    except (AssertionError, PlaywrightError):
        log.warning("the Live page counted no student within 120 s")


def _stop_engine(soak: Soak) -> None:
    """End a lesson still running at the day's end: its stop file, then a terminate."""
    if soak.engine is None or soak.engine.popen.poll() is not None:
        return
    (soak.tmp / f"stop-{soak.engine.run}").touch()
    try:
        soak.engine.popen.wait(timeout=ENGINE_STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        soak.engine.popen.terminate()
        soak.engine.popen.wait(timeout=30)


def _day_loop(soak: Soak, dashboard: Tracked, page: Any, url: str) -> None:  # noqa: ANN401
    """Lessons and breaks until the day's minutes are spent, reading RSS on schedule."""
    day_s, lesson_s = soak.day.minutes * 60, soak.day.lesson_minutes * 60
    next_read = next_lesson = 0.0
    watching = False
    while (now := time.monotonic() - soak.started) < day_s:
        engine = soak.engine
        if engine is None and now >= next_lesson and day_s - now >= min(lesson_s, 30):
            _start_lesson(soak, min(lesson_s, day_s - now))
            watching = False
        elif engine is not None and engine.popen.poll() is not None:
            log.info("lesson %d ended (exit %s)", engine.run, engine.popen.returncode)
            soak.lesson_s += time.monotonic() - engine.started
            soak.engine, next_lesson = None, now + soak.day.break_minutes * 60
        elif engine is not None and not watching and _lesson_running(
                soak.db_path, f"Soak lesson {engine.run}"):
            _open_live(page, url)
            watching = True
        if now >= next_read:
            _read(soak, DASHBOARD, dashboard)
            if soak.engine is not None:
                _read(soak, ENGINE, soak.engine)
            next_read += soak.day.sample_s
        page.wait_for_timeout(STEP_S * 1000)  # lets Playwright serve the page's events


def run_day(day: Day, tmp: Path, log_path: Path | None) -> tuple[Soak, float]:
    """The whole day (or until Ctrl-C); returns it and how long it ran (s)."""
    from playwright.sync_api import sync_playwright

    soak = Soak(tmp, day, log_path=log_path)
    dashboard, url = _start_dashboard(soak)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/live")
            try:
                _day_loop(soak, dashboard, page, url)
            except KeyboardInterrupt:  # Ctrl-C (SIGINT) cuts the day short: report what it covered
                log.warning("day cut short after %.1f min", (time.monotonic() - soak.started) / 60)
            finally:
                ran_s = time.monotonic() - soak.started
                if soak.engine is not None:
                    soak.lesson_s += time.monotonic() - soak.engine.started
                _stop_engine(soak)
                browser.close()
    finally:
        dashboard.popen.terminate()
        dashboard.popen.wait(timeout=30)
    return soak, ran_s


def chart(data: dict[str, Any]) -> dict[str, Any]:
    """RSS over the day, one line per process (one per lesson's engine)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    readings = data["readings"]
    for key in sorted({(r["process"], r["run"]) for r in readings}):
        mine = [r for r in readings if (r["process"], r["run"]) == key]
        name = DASHBOARD if key[0] == DASHBOARD else f"engine, lesson {key[1]}"
        fig.add_scatter(x=[r["day_s"] / 60 for r in mine], y=[r["rss_mb"] for r in mine],
                        mode="lines+markers", name=name)
    fig.update_layout(title="Resident memory over the compressed day", xaxis_title="minutes",
                      yaxis_title="RSS (MB)")
    return {"rss": fig}


@click.command()
@click.option("--minutes", type=click.FloatRange(1), default=120.0, show_default=True,
              help="Length of the day (lessons and breaks).")
@click.option("--lesson-minutes", type=click.FloatRange(0.5), default=25.0, show_default=True)
@click.option("--break-minutes", type=click.FloatRange(0), default=2.0, show_default=True)
@click.option("--rate", "rate_hz", type=click.FloatRange(0.2, 30), default=8.0, show_default=True,
              help="The engine's samples per second (4x the default 2 Hz: a day compressed).")
@click.option("--warmup-minutes", type=click.FloatRange(0), default=5.0, show_default=True,
              help="Readings in each process's first minutes are left out of its slope.")
@click.option("--sample-s", type=click.FloatRange(1), default=30.0, show_default=True,
              help="Seconds between RSS readings.")
@click.option("--trace", is_flag=True,
              help="Run both processes under tracemalloc; write their Python growth beside the results.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Folder for soak.md, soak.json and the chart (default {DEFAULT_OUT} unless --json).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the JSON here (how `benchmarks all` runs it).")
def main(minutes: float, lesson_minutes: float, break_minutes: float, rate_hz: float,
         warmup_minutes: float, sample_s: float, trace: bool, out: Path | None,
         json_path: Path | None) -> None:
    """Engine and dashboard RSS over a compressed school day, with the Live page open in Chromium."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise click.ClickException("this benchmark needs the playwright package (requirements-dev.txt)") from exc
    if not CHROMIUM.exists():
        raise click.ClickException(f"this benchmark needs Chromium at {CHROMIUM}")
    if out is None and json_path is None:
        out = DEFAULT_OUT
    trace_dir = (out or json_path.parent) if trace else None
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
    day = Day(minutes, lesson_minutes, break_minutes, rate_hz, warmup_minutes, sample_s, trace_dir)
    command = "python -m benchmarks soak " + shlex.join([
        "--minutes", f"{minutes:g}", "--lesson-minutes", f"{lesson_minutes:g}",
        "--break-minutes", f"{break_minutes:g}", "--rate", f"{rate_hz:g}",
        "--warmup-minutes", f"{warmup_minutes:g}", "--sample-s", f"{sample_s:g}",
        *(["--trace"] if trace else [])])
    with tempfile.TemporaryDirectory(prefix="classpulse-soak-") as tmp:
        readings_log = None if out is None else out / "soak_readings.jsonl"
        if readings_log is not None:
            out.mkdir(parents=True, exist_ok=True)
            readings_log.unlink(missing_ok=True)
        soak, ran_s = run_day(day, Path(tmp), readings_log)
        samples, observations = _stored(soak.db_path)
    settings = {"minutes": minutes, "lesson_minutes": lesson_minutes, "break_minutes": break_minutes,
                "rate_hz": rate_hz, "warmup_minutes": warmup_minutes, "sample_s": sample_s,
                "trace": trace}
    data = soak_stats.result(soak.readings, settings=settings, command=command, day_s=ran_s,
                             lessons=soak.lessons, lesson_s=soak.lesson_s, samples_stored=samples,
                             observations_stored=observations)
    info = machine()
    text = soak_stats.markdown(data, info)
    click.echo(text)
    if out is not None:
        for path in write_study(out, "soak", text, {"machine": info, **data}, chart(data)):
            click.echo(f"wrote {path}", err=True)
    if json_path is not None:
        json_path.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
