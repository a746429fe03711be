"""Server render time of every page on a 3-hour, 30-student lesson: `python -m benchmarks pages`.

Seeds storage's generated lesson (still running, so the Live page shows it, then finished for the
others) into a temporary SQLite file, runs each page with streamlit's AppTest, and prints the
time of the first run (empty caches) and the median of warm runs (cached queries, as when a
teacher clicks around or the live card refreshes).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAGES = (
    ("Live lesson", "dashboard/app_pages/live.py"),
    ("Lessons (list + report)", "dashboard/app_pages/lessons.py"),
    ("Export", "dashboard/app_pages/export.py"),
    ("Analyse a photo (no photo yet)", "dashboard/app_pages/photo.py"),
    ("Privacy & settings", "dashboard/app_pages/privacy.py"),
)


def seed(url: str, students: int, hours: float, rate_hz: float) -> tuple[int, datetime]:
    """A running generated lesson whose last sample is one sample period before the returned 'now'."""
    from storage.db import open_database
    from storage.lessons import LessonSpec, create_lesson
    from storage.recorder import Recorder
    from storage.synthetic import generate_samples

    engine = open_database(url)
    started = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    lesson_id = create_lesson(
        engine,
        LessonSpec(
            title="Generated lesson",
            group_name="Demo class",
            started_at=started,
            source=f"synthetic({students} students, {hours} h)",
            sample_rate_hz=rate_hz,
            model_name="synthetic",
        ),
    )
    with Recorder(engine, lesson_id, batch_max=600, flush_interval_s=5.0) as recorder:
        recorder.add_many(
            generate_samples(
                students=students, hours=hours, rate_hz=rate_hz, seed=0, started_at=started
            )
        )
    return lesson_id, started + timedelta(hours=hours)


def time_page(
    page: str, runs: int, session: dict[str, object], before_run=None
) -> tuple[float, float, list[str]]:
    """(cold s, warm median s, errors) for one page; `before_run()` is called before each warm run."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(page)
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(runs):
        if before_run is not None:
            before_run()
        t0 = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t0)
    problems = [str(e.value) for e in at.exception] + [e.value for e in at.error]
    return cold, statistics.median(warm), problems


@click.command()
@click.option("--students", default=30, show_default=True, help="Students in the generated lesson.")
@click.option("--hours", default=3.0, show_default=True, help="Length of the generated lesson.")
@click.option("--rate", default=2.0, show_default=True, help="Samples per second.")
@click.option("--runs", default=5, show_default=True, help="Warm runs per page.")
@click.option("--db", "db_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite file to seed (default: a temporary one).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the results here.")
def main(students: int, hours: float, rate: float, runs: int, db_file: Path | None,
         json_path: Path | None) -> None:
    """Server render time of every page on a generated lesson (AppTest)."""
    folder = tempfile.mkdtemp(prefix="classpulse-bench-")
    path = db_file or Path(folder) / "bench.db"
    url = f"sqlite:///{path}"
    os.environ["CLASSPULSE_DB_URL"] = url
    os.environ["CLASSPULSE_DATA_DIR"] = str(Path(folder) / "data")
    os.environ.setdefault("CLASSPULSE_TIMEZONE", "UTC")
    click.echo(
        f"seeding {students} students x {hours} h at {rate}/s into {path} ...",
        err=True,
    )
    t0 = time.perf_counter()
    lesson_id, now = seed(url, students, hours, rate)
    click.echo(f"seeded lesson {lesson_id} in {time.perf_counter() - t0:.0f} s", err=True)

    from dashboard import config
    from storage.db import open_database
    from storage.lessons import finish_lesson

    clock = [now + timedelta(seconds=1)]
    config.utc_now = lambda: clock[0]  # the live card sees a fresh last sample
    # An alert level of 1 keeps the low-concentration alert (an st.error by design) out of the error check.
    session = {"cp_alert_level": 1.0, "lessons_selected": lesson_id}
    rows = []

    def tick() -> None:  # as the live card's own refresh: 2 s later, so no cached live query
        clock[0] += timedelta(seconds=2)

    _, refresh, problems = time_page(PAGES[0][1], runs, session, before_run=tick)
    rows.append(("Live lesson, 2-s refresh (new query each run)", float("nan"), refresh, problems))
    clock[0] = now + timedelta(seconds=1)
    for name, page in PAGES:
        if page.endswith("lessons.py"):
            finish_lesson(open_database(url), lesson_id, ended_at=now)
        cold, warm, problems = time_page(page, runs, session)
        rows.append((name, cold, warm, problems))
    click.echo(
        f"\n{students} students, {hours:g} h at {rate:g} samples/s "
        f"({int(students * hours * 3600 * rate):,} observations); "
        f"server time per page run (AppTest), median of {runs} warm runs\n"
    )
    click.echo("| Page | First run, empty caches (s) | Warm run (s) |")
    click.echo("|---|---:|---:|")
    for name, cold, warm, problems in rows:
        first = "–" if cold != cold else f"{cold:.2f}"
        click.echo(f"| {name} | {first} | {warm:.2f} |" + (f" errors: {problems}" if problems else ""))
    if json_path is not None:
        json_path.write_text(json.dumps({
            "students": students, "hours": hours, "rate_hz": rate, "warm_runs": runs,
            "pages": [{"page": name, "first_run_s": None if cold != cold else cold, "warm_run_s": warm,
                       "errors": problems} for name, cold, warm, problems in rows]}, indent=2))
    if any(problems for *_, problems in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
