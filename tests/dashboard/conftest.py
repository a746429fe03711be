"""Fixtures: seeded SQLite databases (storage's generated lessons) and AppTest on the real entry file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from storage.db import dispose_engines, open_database
from storage.lessons import LessonSpec, create_lesson
from storage.synthetic import generate_samples, seed_lesson
from storage.writes import write_samples

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
PAGES = {
    "live": "dashboard/app_pages/live.py",
    "lessons": "dashboard/app_pages/lessons.py",
    "export": "dashboard/app_pages/export.py",
    "photo": "dashboard/app_pages/photo.py",
    "privacy": "dashboard/app_pages/privacy.py",
}
T_FIRST = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
LIVE_START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
LIVE_SECONDS = 240
LIVE_RATE_HZ = 2.0
# The page's clock: one second after the running lesson's last sample.
LIVE_NOW = LIVE_START + timedelta(seconds=LIVE_SECONDS - 1 / LIVE_RATE_HZ + 1)


@dataclass(frozen=True)
class SeededDb:
    """A seeded database file and the ids of its lessons."""

    url: str
    earlier: int  # class 7A, a week before `lesson`
    lesson: int  # class 7A, with expressions
    attention_only: int  # class 8C, attention only
    running: int  # class 9B, still running (no end), samples up to LIVE_NOW - 1 s


def seed_running_lesson(
    engine, *, students: int = 8, seconds: int = LIVE_SECONDS, attention_only: bool = False
) -> int:
    """A lesson still marked running whose generated samples end just before LIVE_NOW."""
    lesson_id = create_lesson(
        engine,
        LessonSpec(
            title="Live physics",
            group_name="9B",
            started_at=LIVE_START,
            source="synthetic",
            sample_rate_hz=LIVE_RATE_HZ,
            model_name="synthetic",
            attention_only=attention_only,
        ),
    )
    samples = list(
        generate_samples(
            students=students,
            hours=seconds / 3600,
            rate_hz=LIVE_RATE_HZ,
            seed=7,
            started_at=LIVE_START,
            attention_only=attention_only,
        )
    )
    write_samples(engine, lesson_id, samples)
    return lesson_id


def seed_database(path: Path) -> SeededDb:
    url = f"sqlite:///{path}"
    engine = open_database(url)
    earlier = seed_lesson(
        engine,
        students=6,
        hours=0.1,
        seed=1,
        title="Fractions I",
        group_name="7A",
        started_at=T_FIRST - timedelta(days=7),
    )
    lesson = seed_lesson(
        engine,
        students=6,
        hours=0.25,
        seed=2,
        title="Fractions II",
        group_name="7A",
        started_at=T_FIRST,
    )
    attention = seed_lesson(
        engine,
        students=5,
        hours=0.1,
        seed=3,
        attention_only=True,
        title="Reading",
        group_name="8C",
        started_at=T_FIRST + timedelta(hours=2),
    )
    running = seed_running_lesson(engine)
    return SeededDb(url, earlier, lesson, attention, running)


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> SeededDb:
    """One seeded database shared by the read-only page tests."""
    return seed_database(tmp_path_factory.mktemp("dashboard-db") / "classpulse.db")


@pytest.fixture
def own_db(tmp_path: Path) -> SeededDb:
    """A seeded database of its own, for tests that delete or purge."""
    return seed_database(tmp_path / "own.db")


@pytest.fixture(autouse=True)
def _dashboard_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fixed clock, UTC display, a private data folder; nothing from the developer's environment."""
    import sys

    import streamlit as st

    # AppTest installs the app script as __main__; put pytest's back afterwards, or processes that
    # later tests spawn (multiprocessing re-imports __main__) would run the dashboard script.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])

    monkeypatch.setenv("CLASSPULSE_TIMEZONE", "UTC")
    monkeypatch.setenv("CLASSPULSE_DATA_DIR", str(tmp_path / "data"))
    # No warm engine behind every Live page a test opens; its own tests turn it on.
    monkeypatch.setenv("CLASSPULSE_ENGINE_STANDBY", "0")
    for name in (
        "CLASSPULSE_ATTENTION_ONLY",
        "CLASSPULSE_RETENTION_DAYS",
        "CLASSPULSE_ALERT_LEVEL",
        "CLASSPULSE_ALERT_MINUTES",
        "CLASSPULSE_MEDIA_DIRS",
        "CLASSPULSE_ALLOW_STREAMS",
        "CLASSPULSE_MAX_FACES",
        "CLASSPULSE_DEFAULT_CLASS",
        "CLASSPULSE_PUBLIC_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("dashboard.config.utc_now", lambda: LIVE_NOW)
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture(autouse=True)
def bind_address() -> Iterator[Callable[[str | None], None]]:
    """The server.address the app reads; 127.0.0.1 (no login) unless a test sets another."""
    from streamlit import config

    before = config.get_option("server.address")

    def bind(address: str | None) -> None:
        config.set_option("server.address", address)

    bind("127.0.0.1")  # whatever ~/.streamlit/config.toml or the working folder say
    yield bind
    config.set_option("server.address", before)


@pytest.fixture(scope="session", autouse=True)
def _dispose() -> Iterator[None]:
    yield
    dispose_engines()


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """Run the real app on a page against a database URL: app(url, "lessons")."""

    def run(url: str, page: str, **session: object) -> AppTest:
        monkeypatch.setenv("CLASSPULSE_DB_URL", url)
        at = AppTest.from_file(APP, default_timeout=60)
        for key, value in session.items():
            at.session_state[key] = value
        at.switch_page(PAGES[page])
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


def table_with(at: AppTest, column: str):
    """The first st.dataframe whose columns include `column`, as a DataFrame."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(
        f"no table with a {column!r} column among {[list(f.value.columns) for f in at.dataframe]}"
    )


def log_in_on_form(username: str, password: str, page: str, **session: object) -> AppTest:
    """The app on `page` (with `session` state set first), logged in through its login form; the app
    must be bound off loopback (`bind_address("0.0.0.0")`) for the form to be there."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(PAGES[page])
    at.run()
    at.text_input(key="auth_username").input(username)
    at.text_input(key="auth_password").input(password)
    at.form_submit_button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_titles(at: AppTest) -> list[str]:
    """The titles of every Plotly chart on the page, in order."""
    import json

    titles = []
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        title = spec.get("layout", {}).get("title", {})
        titles.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return titles
