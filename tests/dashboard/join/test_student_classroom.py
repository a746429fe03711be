"""Three students join one lesson from three Chromiums, each with its own fake camera: two sample
videos with a face, one empty room. The lesson is run once (a module fixture) and what happened is
recorded; each test then states one behaviour of it.

The run: all three join and are measured; A's network is cut for about 10 s and restored; A pauses,
then leaves, then reloads and comes back as the same student; the teacher removes B; the lesson
is closed. Every request each page makes is recorded.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from dashboard.join.payload import FIELDS, MAX_BATCH_BYTES, min_gap_ms
from storage.db import open_database
from storage.join import close_join, remove_student
from storage.schema import JoinStudent
from tests.dashboard.join.student_kit import (
    FACE_VIDEOS,
    NO_FACE_VIDEO,
    RequestLog,
    fake_camera_args,
    join_page,
    observations,
    open_lesson,
    playwright_session,
    serving_server,
    student_browser,
    wait_for_text,
    write_fake_camera,
)
from tests.dashboard.join.test_student_page import record_bytes

pytestmark = pytest.mark.browser

RATE_HZ = 2.0
OFFLINE_S = 10.0
COUNTS = re.compile(r"measured (\d+) · sent (\d+) · waiting (\d+)")


@dataclass
class Run:
    """What the run recorded."""

    lesson_id: int
    tracks: dict[str, int] = field(default_factory=dict)  # student -> track id
    first: dict[int, list[dict]] = field(default_factory=dict)  # observations once all three send
    offline_text: str = ""
    offline_window_ms: tuple[int, int] = (0, 0)
    paused: dict[str, Any] = field(default_factory=dict)
    left_text: str = ""
    left_at_set: bool = False
    rejoined: dict[str, Any] = field(default_factory=dict)
    removed_text: str = ""
    removed_statuses: list[int | None] = field(default_factory=list)
    ended_text: dict[str, str] = field(default_factory=dict)
    final: dict[int, list[dict]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server_log: str = ""


def _counts(page) -> tuple[int, int, int]:
    measured, sent, waiting = COUNTS.search(page.inner_text("#counts")).groups()
    return int(measured), int(sent), int(waiting)


def _wait_for_rows(
    db_url: str, lesson_id: int, tracks: list[int], at_least: int, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = observations(db_url, lesson_id)
        if all(len(rows.get(t, [])) >= at_least for t in tracks):
            return
        time.sleep(0.5)
    raise AssertionError(
        f"fewer than {at_least} observations each: { {t: len(v) for t, v in rows.items()} }"
    )


def _run_offline(run: Run, page, db_url: str) -> None:
    """A's network goes for about OFFLINE_S and comes back; then A pauses (sending what is left)."""
    now_ms = lambda: int(time.time() * 1000)  # noqa: E731
    start = now_ms()
    page.context.set_offline(True)
    run.offline_text = wait_for_text(
        page, "#network", re.compile(r"offline, [1-9]\d* samples waiting"), 20
    )
    time.sleep(max(0.0, OFFLINE_S - (now_ms() - start) / 1000))
    run.offline_text = page.inner_text("#network")  # the latest count, after ~10 s
    page.context.set_offline(False)
    run.offline_window_ms = (start, now_ms())
    wait_for_text(page, "#network", "online", 30)
    page.click("#pause")
    wait_for_text(page, "#state", "Paused", 10)
    wait_for_text(page, "#counts", re.compile(r"waiting 0$"), 30)
    measured, sent, _ = _counts(page)
    stored = len(observations(db_url, run.lesson_id)[run.tracks["A"]])
    time.sleep(3.0)
    run.paused = {
        "measured": measured,
        "sent": sent,
        "stored": stored,
        "state": page.inner_text("#state"),
        "measured_later": _counts(page)[0],
        "stored_later": len(observations(db_url, run.lesson_id)[run.tracks["A"]]),
    }


def _leave_and_come_back(run: Run, page, db_url: str) -> None:
    page.click("#leave")
    run.left_text = wait_for_text(page, "#done", "You left the lesson", 20)
    with open_database(db_url).connect() as conn:
        left = conn.execute(
            select(JoinStudent.left_at).where(JoinStudent.track_id == run.tracks["A"])
        ).scalar_one()
    run.left_at_set = left is not None
    before = len(observations(db_url, run.lesson_id)[run.tracks["A"]])
    page.reload()
    page.wait_for_selector("#consent:not([hidden])", timeout=30_000)
    rejoin_note = page.is_visible("#rejoin")
    page.click("#join")
    who = wait_for_text(page, "#who", "back in the lesson", 60)
    _wait_for_rows(db_url, run.lesson_id, [run.tracks["A"]], before + 4, 40)
    with open_database(db_url).connect() as conn:
        students = conn.execute(select(func.count()).select_from(JoinStudent)).scalar_one()
        left = conn.execute(
            select(JoinStudent.left_at).where(JoinStudent.track_id == run.tracks["A"])
        ).scalar_one()
    run.rejoined = {"note": rejoin_note, "who": who, "students": students, "left_at": left}


@pytest.fixture(scope="module")
def run(asset, tmp_path_factory) -> Run:
    folder = tmp_path_factory.mktemp("classroom")
    db_url = f"sqlite:///{folder / 'classpulse.db'}"
    cameras = {
        "A": write_fake_camera(asset(FACE_VIDEOS[0]), folder / "a.y4m"),
        "B": write_fake_camera(asset(FACE_VIDEOS[1]), folder / "b.y4m", seconds=8),
        "C": write_fake_camera(asset(NO_FACE_VIDEO), folder / "c.y4m"),
    }
    info = open_lesson(db_url, rate_hz=RATE_HZ, attention_only=False)
    run = Run(info.lesson_id)
    logs = {name: RequestLog() for name in cameras}
    with (
        serving_server(db_url) as server,
        playwright_session() as pw,
        student_browser(pw, *fake_camera_args(cameras["A"])) as a,
        student_browser(pw, *fake_camera_args(cameras["B"])) as b,
        student_browser(pw, *fake_camera_args(cameras["C"])) as c,
    ):
        pages = {}
        for name, browser in (("A", a), ("B", b), ("C", c)):
            pages[name], run.tracks[name] = join_page(browser, server.page(info.code), logs[name])
        _wait_for_rows(db_url, info.lesson_id, list(run.tracks.values()), 16, 90)
        run.first = observations(db_url, info.lesson_id)
        _run_offline(run, pages["A"], db_url)
        _leave_and_come_back(run, pages["A"], db_url)

        remove_student(open_database(db_url), info.lesson_id, run.tracks["B"], datetime.now(UTC))
        run.removed_text = wait_for_text(pages["B"], "#done", "removed", 30)
        run.removed_statuses = [r.status for r in logs["B"].posts("/samples")]
        close_join(open_database(db_url), info.lesson_id, datetime.now(UTC))
        for name in ("A", "C"):
            run.ended_text[name] = wait_for_text(pages[name], "#done", "ended", 30)
        run.final = observations(db_url, info.lesson_id)
        for name, log in logs.items():
            for request in log.requests:
                run.requests.append(
                    {
                        "student": name,
                        "method": request.method,
                        "url": request.url,
                        "body": request.body,
                        "base": server.url,
                        "sizes": request.sizes(),
                    }
                )
        record_bytes("expressions", logs["B"])  # B loaded its page once
        run.server_log = server.log.getvalue()
    return run


def _gaps(rows: list[dict]) -> list[int]:
    return [b["t_ms"] - a["t_ms"] for a, b in zip(rows, rows[1:], strict=False)]


def test_three_browsers_become_three_students_sampled_at_the_lessons_rate(run) -> None:
    assert sorted(run.tracks.values()) == [1, 2, 3]
    for track, rows in run.first.items():
        span_s = (rows[-1]["t_ms"] - rows[0]["t_ms"]) / 1000
        rate = (len(rows) - 1) / span_s
        assert 0.8 * RATE_HZ <= rate <= 1.05 * RATE_HZ, (track, rate)
        assert min(_gaps(rows)) >= min_gap_ms(RATE_HZ), track


def test_the_faces_are_measured_with_expressions_and_the_empty_room_is_absent(run) -> None:
    for name in ("A", "B"):
        rows = run.first[run.tracks[name]]
        with_face = [r for r in rows if r["faces"] == 1]
        assert len(with_face) >= 0.9 * len(rows), name
        assert sum(r["state"] != "absent" for r in rows) >= 0.8 * len(rows), name
        assert any(r["p_happy"] is not None for r in with_face), name
    empty = run.first[run.tracks["C"]]
    assert {r["state"] for r in empty} == {"absent"} and {r["faces"] for r in empty} == {0}


def test_samples_measured_offline_are_all_stored_once_when_the_network_returns(run) -> None:
    waiting = int(re.search(r"offline, (\d+) samples waiting", run.offline_text).group(1))
    assert waiting >= OFFLINE_S * RATE_HZ * 0.7, run.offline_text
    rows = [r for r in run.final[run.tracks["A"]]]
    times = [r["t_ms"] for r in rows]
    assert len(times) == len(set(times))
    start, end = run.offline_window_ms
    during = [t for t in times if start <= t <= end]
    assert len(during) >= 0.8 * RATE_HZ * (end - start) / 1000
    assert (
        max(_gaps([r for r in rows if start - 2000 <= r["t_ms"] <= end + 2000]))
        <= 2.5 * 1000 / RATE_HZ
    )
    assert run.paused["stored"] == run.paused["measured"] == run.paused["sent"]


def test_pause_stops_the_samples(run) -> None:
    assert run.paused["state"].startswith("Paused")
    assert run.paused["measured_later"] == run.paused["measured"]
    assert run.paused["stored_later"] == run.paused["stored"]


def test_leave_then_a_reload_rejoins_as_the_same_student(run) -> None:
    assert "You left the lesson" in run.left_text and run.left_at_set
    assert run.rejoined["note"] and "back in the lesson as the same student" in run.rejoined["who"]
    assert run.rejoined["students"] == 3 and run.rejoined["left_at"] is None


def test_a_removed_student_is_refused_and_told(run) -> None:
    assert run.removed_text == "Your teacher removed you from this lesson."
    assert run.removed_statuses[-1] == 403 and run.removed_statuses.count(403) == 1


def test_a_closed_lesson_tells_every_page_it_ended(run) -> None:
    assert run.ended_text == {
        "A": "The lesson has ended. You can close this page.",
        "C": "The lesson has ended. You can close this page.",
    }


def test_no_request_carries_image_data_and_none_is_larger_than_a_batch(run) -> None:
    assert run.requests
    for request in run.requests:
        where = f"{request['student']} {request['method']} {request['url']}"
        assert request["url"].startswith(request["base"] + "/join/"), (
            where
        )  # nothing elsewhere, no data: URL
        assert "?" not in request["url"], where
        sizes = request["sizes"]
        assert sizes["requestBodySize"] + sizes["requestHeadersSize"] <= MAX_BATCH_BYTES, where
        if request["method"] == "GET":
            assert not request["body"], where
            continue
        assert request["method"] == "POST", where
        if request["url"].endswith("/leave"):
            assert not request["body"], where
            continue
        document = json.loads(request["body"].decode("utf-8"))  # text JSON, nothing binary
        if request["url"].endswith("/students"):
            assert set(document) <= {"name"}, where
            continue
        assert request["url"].endswith("/samples") and list(document) == ["samples"], where
        assert all(list(sample) == list(FIELDS) for sample in document["samples"]), where


def test_the_server_logged_no_traceback(run) -> None:
    assert "Traceback" not in run.server_log, run.server_log
