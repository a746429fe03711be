"""A student's device clock jumps mid-lesson (the user sets it, an NTP correction, a time zone
mistake): the page stamps samples with its own monotonic clock plus the offset learnt from the
server, so its samples go on being taken and stored, none refused."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.dashboard.join.student_kit import (
    FACE_VIDEOS,
    RequestLog,
    fake_camera_args,
    join_page,
    observations,
    open_lesson,
    playwright_session,
    serving_server,
    student_browser,
    write_fake_camera,
)

pytestmark = pytest.mark.browser


def _stored(db_url: str, lesson_id: int, track: int) -> int:
    return len(observations(db_url, lesson_id).get(track, []))


def _wait_for(db_url: str, lesson_id: int, track: int, at_least: int, timeout_s: float = 40) -> None:
    deadline = time.monotonic() + timeout_s
    while _stored(db_url, lesson_id, track) < at_least:
        assert time.monotonic() < deadline, f"only {_stored(db_url, lesson_id, track)} samples stored"
        time.sleep(0.5)


@pytest.mark.parametrize("jump", [timedelta(hours=1), timedelta(minutes=-30)], ids=["forward", "back"])
def test_a_device_clock_that_jumps_mid_lesson_loses_no_sample(tmp_path, asset, jump) -> None:
    db_url = f"sqlite:///{tmp_path / 'clock.db'}"
    camera = write_fake_camera(asset(FACE_VIDEOS[0]), tmp_path / "face.y4m")
    lesson = open_lesson(db_url, rate_hz=2.0)
    log = RequestLog()
    with serving_server(db_url) as server, playwright_session() as pw, \
            student_browser(pw, *fake_camera_args(camera)) as browser:
        page, track = join_page(browser, server.page(lesson.code), log)
        _wait_for(db_url, lesson.lesson_id, track, 4)
        shift_ms = int(jump.total_seconds() * 1000)  # Date.now() jumps, as the device's clock does
        page.evaluate(f"() => {{ const real = Date.now.bind(Date); Date.now = () => real() + {shift_ms}; }}")
        assert abs(page.evaluate("() => Date.now() - performance.timeOrigin - performance.now()") - shift_ms) < 1000
        before = _stored(db_url, lesson.lesson_id, track)
        _wait_for(db_url, lesson.lesson_id, track, before + 12)
        statuses = [r.status for r in log.posts("/samples")]
    assert statuses and 422 not in statuses
    rows = observations(db_url, lesson.lesson_id)[track]
    gaps = [b["t_ms"] - a["t_ms"] for a, b in zip(rows, rows[1:], strict=False)]
    assert max(gaps) < 2_000 and min(gaps) > 0  # no jump in the stored times either
