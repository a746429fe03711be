"""The memory soak's arithmetic: slopes per hour, pooled over each lesson's engine, after warm-up."""

from __future__ import annotations

import pytest

from benchmarks.soak_stats import (
    DASHBOARD,
    ENGINE,
    RssSample,
    after_warmup,
    figures,
    pooled_slope_mb_per_h,
    result,
)


def _line(process: str, run: int, start_s: float, mb: float, mb_per_h: float, n: int = 7,
          step_s: float = 600.0) -> list[RssSample]:
    return [RssSample(process, run, start_s + i * step_s, i * step_s, mb + mb_per_h * i * step_s / 3600)
            for i in range(n)]


def test_a_straight_line_gives_its_slope_in_mb_per_hour():
    assert pooled_slope_mb_per_h(_line(DASHBOARD, 0, 0, 240.0, 10.6)) == pytest.approx(10.6)


def test_each_lessons_engine_keeps_its_own_level_and_shares_the_slope():
    # three engines, each starting 60 MB lower than the last ended: a sawtooth, +4 MB/h within each
    lessons = [_line(ENGINE, run, run * 4000.0, 600.0 - 60 * run, 4.0) for run in (1, 2, 3)]
    pooled = pooled_slope_mb_per_h([s for lesson in lessons for s in lesson])
    assert pooled == pytest.approx(4.0)


def test_no_slope_from_a_single_reading():
    assert pooled_slope_mb_per_h(_line(ENGINE, 1, 0, 500.0, 3.0, n=1)) is None


def test_warm_up_readings_are_left_out_by_the_process_age():
    early = [RssSample(ENGINE, 1, 100.0, 10.0, 100.0), RssSample(ENGINE, 1, 200.0, 110.0, 500.0)]
    late = _line(ENGINE, 1, 400.0, 520.0, 2.0)
    assert after_warmup(early + late, warmup_s=300) == [s for s in late if s.age_s >= 300]
    found = figures(early + late, ENGINE, warmup_s=0)
    assert (found.samples, found.first_mb, found.peak_mb) == (9, 100.0, late[-1].rss_mb)
    assert figures(early + late, ENGINE, warmup_s=300).slope_mb_per_h == pytest.approx(2.0)


def test_result_names_the_stored_rate_and_both_processes():
    readings = _line(ENGINE, 1, 0, 600.0, 1.0) + _line(DASHBOARD, 0, 0, 250.0, 3.0)
    data = result(readings, settings={"warmup_minutes": 0}, command="c", day_s=3600, lessons=1,
                  lesson_s=3000, samples_stored=24_000, observations_stored=216_000)
    assert data["samples_per_s"] == 8.0
    assert data["figures"][ENGINE]["slope_mb_per_h"] == pytest.approx(1.0)
    assert data["figures"][DASHBOARD]["slope_mb_per_h"] == pytest.approx(3.0)
    assert len(data["engine_lessons"]) == 1 and len(data["readings"]) == 14
