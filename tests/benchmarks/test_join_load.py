"""The join load generator against the real dashboard server (`streamlit run`, the join routes
mounted beside the pages) on PostgreSQL: 50 students for 20 s lose nothing and store nothing
twice, while the teacher's Live page stays open in Chromium and its refreshes are timed; and
against a bare join server on SQLite, with expressions and many resends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.join_load import run
from benchmarks.join_students import LoadSettings, run_load
from dashboard.join.routes import JoinServerSettings
from storage.db import dispose_engines
from tests.dashboard.browser import CHROMIUM
from tests.dashboard.join.server import serving_join

pytestmark = pytest.mark.slow


@pytest.mark.postgres
@pytest.mark.browser
def test_fifty_students_for_twenty_seconds_on_the_real_server_and_postgresql(
    pg_schema_url: str, tmp_path: Path
):
    if not CHROMIUM.exists():
        if os.environ.get("CLASSPULSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing")
    settings = LoadSettings(students=50, rate_hz=1.0, seconds=20.0, drop_share=0.5,
                            drop_s=(2.0, 5.0), resend_share=0.2, class_size=30)  # fmt: skip
    try:
        result = run(settings, pg_schema_url, [], servers=1, live=True, tmp=tmp_path)
    finally:
        dispose_engines()
    report, live = result["report"], result["live"]
    assert result["ok"], result["lines"]
    assert (report["lost"], report["duplicated"], report["extra"], report["refused"]) == (0, 0, 0, {})
    assert report["students"] == 50 and report["lessons"] == 2
    assert report["sent"] == report["stored"] > 50 * 14  # 50 students at 1 Hz for 20 s, less the ramp
    assert report["drops"] > 0 and report["resends"] > 0
    assert report["posts"] > 0 and 0 < report["p50_ms"] <= report["p99_ms"]
    # Every post falls in one 10 s window of the run, each window's p99 at most the run's max.
    windows = report["windows"]
    assert sum(w["posts"] for w in windows) == report["posts"] and len(windows) in (2, 3)
    assert all(0 < w["p50_ms"] <= w["p99_ms"] <= report["max_ms"] for w in windows)
    assert result["cpu_s_by_program"]["chromium"] > 0  # read by the watcher before it closed
    assert "Traceback" not in (tmp_path / "server-0" / "streamlit.log").read_text()
    # The teacher's Live page of one class stayed open and kept refreshing through the load.
    assert live.get("refreshes", 0) >= 2, live
    assert 0 < live["p50_ms"] <= live["max_ms"]
    assert "Students present" in " ".join(live["metrics_shown"]), live


def test_ten_students_on_a_bare_join_server_lose_nothing(tmp_path: Path):
    db_url = f"sqlite:///{tmp_path / 'load.db'}"
    settings = LoadSettings(students=10, rate_hz=2.0, seconds=10.0, batch_s=1.0, drop_share=0.5,
                            drop_s=(2.0, 4.0), resend_share=0.2, attention_only=False)  # fmt: skip
    try:
        with serving_join(JoinServerSettings(db_url=db_url)) as served:
            report = run_load(served.url, db_url, settings)
        assert "Traceback" not in served.log.getvalue()
    finally:
        dispose_engines()
    assert report.ok, report.lines()
    assert (report.lost, report.duplicated, report.extra) == (0, 0, 0) and report.errors == {}
    assert report.sent == report.stored >= 10 * 2 * 5  # at 2 Hz for at least half the 10 s
    assert report.drops > 0 and report.resends > 0
