"""Two ClassPulse servers on one PostgreSQL database, each its own process: the students of one
lesson split between them (or each batch to either, as a load balancer without stickiness) are one
lesson with every sample once, and what either server's Live page reads shows all of them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from benchmarks.join_load import LoadSettings, run_load
from storage.db import open_database
from storage.join import students_frame
from storage.live_queries import live_view
from storage.schema import JoinLesson, Lesson
from storage.viewers import Viewer
from tests.dashboard.streamlit_server import ROOT, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ADMIN = Viewer(name=None, admin=True)


@contextmanager
def join_server(db_url: str) -> Iterator[str]:
    """A join server process on a free port; its URL once it answers."""
    port = free_port()
    env = dict(os.environ, CLASSPULSE_DB_URL=db_url)
    process = subprocess.Popen([sys.executable, "-m", "tests.dashboard.join.serve_process", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/join/api/ABCDEFGHJK", timeout=2)
            except urllib.error.HTTPError:  # 404 for an unknown code: it answers
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
        assert b"Traceback" not in out, out.decode(errors="replace")


@pytest.mark.parametrize("alternate", [False, True], ids=["split", "each-batch-anywhere"])
def test_one_lesson_served_by_two_servers_keeps_every_sample_once(pg_schema_url: str, alternate: bool) -> None:
    open_database(pg_schema_url)  # migrated before either server starts
    settings = LoadSettings(students=12, rate_hz=1.0, seconds=12.0, batch_s=2.0, drop_share=0.3,
                            resend_share=0.2, alternate=alternate)
    with ExitStack() as servers:
        urls = [servers.enter_context(join_server(pg_schema_url)) for _ in range(2)]
        report = run_load(urls, pg_schema_url, settings)
    assert report.ok, report.lines()
    assert (report.students, report.lost, report.duplicated, report.extra) == (12, 0, 0, 0)
    assert report.sent == report.stored > 12 * 9

    engine = open_database(pg_schema_url)
    with engine.connect() as conn:
        lesson_id = conn.execute(JoinLesson.__table__.select()).first().lesson_id
        started = conn.execute(Lesson.__table__.select().where(Lesson.id == lesson_id)).first().started_at
        assert len(students_frame(conn, lesson_id, datetime.now(UTC))) == 12  # one lesson, every student
    view = live_view(engine, lesson_id, viewer=ADMIN, window_s=10.0,
                     now=started + timedelta(seconds=settings.seconds + 5))
    assert sorted(view.students["track_id"]) == list(range(1, 13))  # either server's Live page reads this
    assert datetime.now(UTC) - started < timedelta(minutes=5)
