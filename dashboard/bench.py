"""Server render time of every page on a 3-hour, 30-student lesson: `python -m dashboard.bench`.

Seeds storage's generated lesson (still running, so the Live page shows it, then finished for the
others) into a temporary SQLite file, runs each page with streamlit's AppTest, and prints the
time of the first run (empty caches) and the median of warm runs (cached queries, as when a
teacher clicks around or the live card refreshes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=5, help="warm runs per page")
    parser.add_argument("--db", help="SQLite file to seed (default: a temporary one)")
    args = parser.parse_args(argv)

    folder = tempfile.mkdtemp(prefix="classpulse-bench-")
    path = Path(args.db) if args.db else Path(folder) / "bench.db"
    url = f"sqlite:///{path}"
    os.environ["CLASSPULSE_DB_URL"] = url
    os.environ["CLASSPULSE_DATA_DIR"] = str(Path(folder) / "data")
    os.environ.setdefault("CLASSPULSE_TIMEZONE", "UTC")
    print(
        f"seeding {args.students} students x {args.hours} h at {args.rate}/s into {path} ...",
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    lesson_id, now = seed(url, args.students, args.hours, args.rate)
    print(f"seeded lesson {lesson_id} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    from dashboard import config
    from storage.db import open_database
    from storage.lessons import finish_lesson

    clock = [now + timedelta(seconds=1)]
    config.utc_now = lambda: clock[0]  # the live card sees a fresh last sample
    session = {"cp_alert_level": 40.0, "lessons_selected": lesson_id}
    rows = []

    def tick() -> None:  # as the live card's own refresh: 2 s later, so no cached live query
        clock[0] += timedelta(seconds=2)

    _, refresh, problems = time_page(PAGES[0][1], args.runs, session, before_run=tick)
    rows.append(("Live lesson, 2-s refresh (new query each run)", float("nan"), refresh, problems))
    clock[0] = now + timedelta(seconds=1)
    for name, page in PAGES:
        if page.endswith("lessons.py"):
            finish_lesson(open_database(url), lesson_id, ended_at=now)
        cold, warm, problems = time_page(page, args.runs, session)
        rows.append((name, cold, warm, problems))
    print(
        f"\n{args.students} students, {args.hours:g} h at {args.rate:g} samples/s "
        f"({int(args.students * args.hours * 3600 * args.rate):,} observations); "
        f"server time per page run (AppTest), median of {args.runs} warm runs\n"
    )
    print("| Page | First run, empty caches (s) | Warm run (s) |")
    print("|---|---:|---:|")
    for name, cold, warm, problems in rows:
        first = "–" if cold != cold else f"{cold:.2f}"
        print(f"| {name} | {first} | {warm:.2f} |" + (f" errors: {problems}" if problems else ""))
    return 1 if any(problems for *_, problems in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
