"""`python -m benchmarks soak` for a minute and a half: the real dashboard, engine and Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.soak_stats import DASHBOARD, ENGINE, RssSample, pooled_slope_mb_per_h

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_a_short_soak_reads_both_processes_and_fits_slopes_on_its_readings(tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Chromium at /usr/bin/chromium")
    pytest.importorskip("playwright")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "soak", "--minutes", "1.5", "--lesson-minutes", "1",
         "--break-minutes", "0.1", "--warmup-minutes", "0.3", "--sample-s", "4", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=150, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((out / "soak.json").read_text())
    readings = [RssSample(**r) for r in data["readings"]]
    for process in (ENGINE, DASHBOARD):
        mine = [r for r in readings if r.process == process and r.age_s >= 0.3 * 60]
        assert len(mine) >= 5 and all(r.rss_mb > 50 for r in mine)  # real processes, not stubs
        assert data["figures"][process]["slope_mb_per_h"] == pytest.approx(
            pooled_slope_mb_per_h(mine))
    assert data["lessons"] == 1 and data["samples_stored"] > 50
    assert data["observations_stored"] >= data["samples_stored"]
    assert (out / "soak_readings.jsonl").read_text().count("\n") == len(readings)
    assert "Samples stored" in (out / "soak.md").read_text()
