"""`python -m benchmarks storage`: sustained SQLite ingest through the Recorder and each query's median."""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from storage import queries
from storage.db import dispose_engines, open_database
from storage.export import iter_csv
from storage.lessons import LessonSpec, create_lesson
from storage.recorder import Recorder
from storage.synthetic import DEFAULT_STARTED_AT, generate_samples, seed_lesson
from storage.viewers import Viewer

log = logging.getLogger(__name__)

INGEST_GOAL_OBS_S = 50_000
QUERY_GOAL_MS = 300.0


def measure_ingest(url: str, *, students: int, minutes: float) -> dict[str, Any]:
    """Observations per second through Recorder.add + flush into a fresh database."""
    engine = open_database(url)
    samples = list(
        generate_samples(students=students, hours=minutes / 60, rate_hz=2.0, seed=1,
                         started_at=DEFAULT_STARTED_AT)
    )  # fmt: skip
    observations = sum(len(s.observations) for s in samples)
    lesson_id = create_lesson(engine, LessonSpec("ingest", "bench", DEFAULT_STARTED_AT))
    start = time.perf_counter()
    with Recorder(engine, lesson_id) as recorder:
        for sample in samples:
            recorder.add(sample)
        recorder.flush()
    elapsed = time.perf_counter() - start
    return {"observations": observations, "seconds": elapsed, "obs_per_s": observations / elapsed}


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm the page cache and the statement cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure_queries(url: str, *, students: int, hours: float, runs: int) -> dict[str, Any]:
    """Seed a lesson (and one earlier lesson of the class), then time each query."""
    engine = open_database(url)
    started = time.perf_counter()
    seed_lesson(engine, students=students, hours=0.25, seed=2, title="earlier",
                started_at=DEFAULT_STARTED_AT - timedelta(days=7))  # fmt: skip
    lesson_id = seed_lesson(engine, students=students, hours=hours, seed=0)
    seed_s = time.perf_counter() - started
    now = DEFAULT_STARTED_AT + timedelta(hours=hours)
    every = Viewer.everyone()
    checks: dict[str, Callable[[], Any]] = {
        "lessons_summary": lambda: queries.lessons_summary(engine, viewer=every),
        "lesson_timeline (60 s)": lambda: queries.lesson_timeline(
            engine, lesson_id, 60, viewer=every
        ),
        "lesson_timeline (10 s)": lambda: queries.lesson_timeline(
            engine, lesson_id, 10, viewer=every
        ),
        "lesson_timeline (15 s, raw rows)": lambda: queries.lesson_timeline(
            engine, lesson_id, 15, viewer=every
        ),
        "student_summary": lambda: queries.student_summary(engine, lesson_id, viewer=every),
        "live_view (30 s window, 10 min trend, 5 min per student)": lambda: queries.live_view(
            engine, lesson_id, viewer=every, window_s=30, now=now
        ),
        "previous_lessons": lambda: queries.previous_lessons(engine, lesson_id, viewer=every),
        "low_moments (60 s)": lambda: queries.low_moments(engine, lesson_id, 60, viewer=every),
        "export students CSV": lambda: "".join(
            iter_csv(engine, lesson_id, "students", viewer=every)
        ),
    }
    medians = {name: _median_ms(fn, runs) for name, fn in checks.items()}
    with engine.connect() as conn:
        observations = conn.exec_driver_sql(
            "SELECT count(*) FROM observations WHERE lesson_id = ?", (lesson_id,)
        ).scalar_one()
    return {"observations": observations, "seed_s": seed_s, "median_ms": medians}


def markdown(ingest: dict[str, Any], reads: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| measurement | result | goal |",
        "|---|---:|---:|",
        f"| ingest through Recorder ({ingest['observations']:,} obs) | "
        f"{ingest['obs_per_s']:,.0f} obs/s | ≥ {INGEST_GOAL_OBS_S:,} obs/s |",
    ]
    for name, ms in reads["median_ms"].items():
        goal = "" if "export" in name or "raw rows" in name else f"≤ {QUERY_GOAL_MS:.0f} ms"
        lines.append(f"| {name} ({reads['observations']:,} obs) | {ms:,.0f} ms | {goal} |")
    return "\n".join(lines)


@click.command()
@click.option("--students", default=30, show_default=True)
@click.option("--hours", default=3.0, show_default=True, help="Length of the generated lesson.")
@click.option("--ingest-minutes", default=30.0, show_default=True, help="Lesson minutes ingested.")
@click.option("--runs", default=5, show_default=True, help="Runs per query (median reported).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
def main(
    students: int, hours: float, ingest_minutes: float, runs: int, json_path: str | None
) -> None:
    """Measure SQLite ingest and query speed on fresh files in a temporary folder."""
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="classpulse-bench-") as folder:
        ingest = measure_ingest(f"sqlite:///{folder}/ingest.db", students=students,
                                minutes=ingest_minutes)  # fmt: skip
        reads = measure_queries(f"sqlite:///{folder}/reads.db", students=students, hours=hours,
                                runs=runs)  # fmt: skip
        dispose_engines()
    click.echo(markdown(ingest, reads))
    if json_path:
        Path(json_path).write_text(json.dumps({"ingest": ingest, "reads": reads}, indent=2))


if __name__ == "__main__":
    main()
