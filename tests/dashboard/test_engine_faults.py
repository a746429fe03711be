"""A real engine started by the dashboard's controller: no secret in `ps`, engine.json, its log or
its events, and a killed engine's lesson reads interrupted on the Live page, which offers the start
form again."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy.engine import make_url

from dashboard import control
from storage.db import open_database
from storage.lessons import get_lesson
from tests.storage.conftest import pg_schema_url  # noqa: F401  (the PostgreSQL fixture)

pytestmark = pytest.mark.slow
ENGINE_START_S = 180.0  # loading MediaPipe on a busy machine; the poll ends as soon as it is up


def _wait_for_lesson(data_dir: Path) -> control.EngineStatus:
    """The engine's status once it has announced its lesson (fails with its log if it died)."""
    deadline = time.monotonic() + ENGINE_START_S
    while True:
        status = control.engine_status(data_dir)
        if status.lesson_id is not None:
            return status
        if not status.alive:
            pytest.fail(f"the engine ended before its lesson started: {control.read_log(status.handle)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no lesson within {ENGINE_START_S:g} s: {control.read_log(status.handle)}")
        time.sleep(0.5)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def lesson_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for the engine: a SQLite file, or a PostgreSQL schema behind a password."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lessons.db'}"
    return request.getfixturevalue("pg_schema_url")


def test_the_database_url_reaches_the_engine_through_its_environment_only(tmp_path, lesson_db_url):
    data_dir = tmp_path / "data"
    launch = control.LessonLaunch("Secrets", "7A", "demo", 2.0, attention_only=True)
    handle = control.start_engine(launch, data_dir, db_url=lesson_db_url)
    try:
        status = _wait_for_lesson(data_dir)
        argv = psutil.Process(handle.pid).cmdline()
        environ = psutil.Process(handle.pid).environ()
        env_file = Path(f"/proc/{handle.pid}/environ")  # Linux's view of who may read it
        state_file = (data_dir / control.STATE_FILE).read_text(encoding="utf-8")
        log_text = control.read_log(handle)
        events_text = Path(handle.events_path).read_text(encoding="utf-8")
        secrets = [lesson_db_url, make_url(lesson_db_url).database]
        if make_url(lesson_db_url).password:
            secrets.append(make_url(lesson_db_url).password)
        for secret in secrets:
            assert not [arg for arg in argv if secret in arg], (secret, argv)
            assert secret not in state_file
            assert secret not in log_text and secret not in events_text
        assert argv[-3:] == ["-m", "engine", "serve"]  # the request came through its stdin
        assert environ["CLASSPULSE_DB_URL"] == lesson_db_url  # ...readable by this account alone:
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o400
        lesson = get_lesson(open_database(lesson_db_url), status.lesson_id)
        assert (lesson["title"], lesson["status"]) == ("Secrets", "running")  # it used that database
    finally:
        assert control.stop_lesson(data_dir, handle, timeout_s=60)
    assert get_lesson(open_database(lesson_db_url), status.lesson_id)["status"] == "finished"


def test_a_killed_engine_s_lesson_reads_interrupted_and_the_start_form_is_back(
    app, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'lessons.db'}"
    data_dir = tmp_path / "data"  # the dashboard's data folder (conftest)
    monkeypatch.setenv("CLASSPULSE_ATTENTION_ONLY", "1")  # the demo without the expression model
    at = app(url, "live")
    at.button(key="live_demo_start").click().run()  # the page starts a real engine
    assert not at.exception, [e.value for e in at.exception]
    status = _wait_for_lesson(data_dir)
    lesson_id = status.lesson_id
    engine = open_database(url)
    assert get_lesson(engine, lesson_id)["status"] == "running"

    psutil.Process(status.handle.pid).kill()  # no chance to mark its lesson
    deadline = time.monotonic() + 30
    while True:
        at = app(url, "live")  # the page as the teacher opens it again
        if get_lesson(engine, lesson_id)["status"] != "running":
            break
        assert time.monotonic() < deadline, "the killed engine's lesson still reads running"
        time.sleep(0.5)
    lesson = get_lesson(engine, lesson_id)
    assert lesson["status"] == "interrupted" and lesson["ended_at"] is not None
    assert at.button(key="live_start")  # the start form, not a live card of a dead lesson
    assert [w.value for w in at.warning] == [
        "The engine stopped without finishing its lesson (was it killed, or out of memory?).",
        "Lesson “Demo lesson” interrupted: the engine stopped unexpectedly.",
    ]
    assert control.load_handle(data_dir) is None
    lessons = app(url, "lessons", lessons_selected=lesson_id)
    assert "Delete lesson" in [b.label for b in lessons.button]  # no longer "still recording"
