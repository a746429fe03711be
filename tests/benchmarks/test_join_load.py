"""The join load generator against a real uvicorn server on SQLite: nothing lost or doubled."""

from __future__ import annotations

from benchmarks.join_load import LoadSettings, run_load
from dashboard.join.routes import JoinServerSettings
from storage.db import dispose_engines
from tests.dashboard.join.server import serving_join


def test_ten_students_for_ten_seconds_lose_nothing_and_store_nothing_twice(tmp_path):
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
    assert report.students == 10 and report.errors == {}  # no refusal
    assert (report.lost, report.duplicated, report.extra) == (0, 0, 0)
    assert report.sent == report.stored > 10 * 2 * 8  # 10 students at 2 Hz for 10 s, less the start
    assert report.drops > 0 and report.resends > 0
    assert len(report.latencies_ms) > 0 and report.percentile_ms(99) > 0
