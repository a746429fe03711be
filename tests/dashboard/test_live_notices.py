"""The Live page's tiles and notices on real seeded lessons: absent tiles in words, more faces
than the face limit, and notices that go once they stop being true."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard import live_metrics, loaders
from storage.db import open_database
from storage.lessons import LessonSpec, create_lesson, finish_lesson
from storage.records import AttentionState, Observation, Sample
from storage.synthetic import generate_samples
from storage.writes import write_samples
from tests.dashboard.conftest import LIVE_NOW, LIVE_RATE_HZ, LIVE_SECONDS, LIVE_START

STEP = timedelta(seconds=1 / LIVE_RATE_HZ)


def _tile_lines(at) -> dict[int, str]:
    """Student number -> the line under its badge, as the page shows them."""
    lines = [m.value for m in at.markdown]
    tiles = {}
    for i, line in enumerate(lines):
        if line.startswith("**Student "):
            tiles[int(line.split("**")[1].removeprefix("Student "))] = lines[i + 1]
    return tiles


def test_an_absent_tile_says_for_how_long_and_the_engagement_when_last_in_view(app, seeded_db):
    at = app(seeded_db.url, "live")
    tiles = _tile_lines(at)
    # What the seeded lesson wrote, regenerated: each student's last row in view before now.
    written = generate_samples(
        students=8, hours=LIVE_SECONDS / 3600, rate_hz=LIVE_RATE_HZ, seed=7, started_at=LIVE_START
    )
    last = {}
    latest_state = {}
    for sample in written:
        for obs in sample.observations:
            latest_state[obs.track_id] = obs.state
            if obs.state is not AttentionState.ABSENT:
                last[obs.track_id] = obs
    absent = [t for t, s in latest_state.items() if s is AttentionState.ABSENT]
    assert len(absent) >= 2  # the seeded lesson ends with most of the class away
    for track_id in absent:
        if track_id not in last:
            assert tiles[track_id] == "absent · not in view yet this lesson"
            continue
        away = live_metrics.duration_words((LIVE_NOW - last[track_id].ts).total_seconds())
        assert tiles[track_id] == (
            f"absent for {away} · last engagement {last[track_id].engagement:.0f}, {away} ago"
        )
    assert any(t in last for t in absent)  # at least one tile with a last engagement checked


def _crowded_lesson(url: str, faces_found: int, followed: int, limit: int = 50) -> int:
    """A running lesson whose 20 s of samples each found `faces_found` faces and kept `followed`."""
    engine = open_database(url)
    start = LIVE_NOW - timedelta(seconds=20)
    lesson_id = create_lesson(engine, LessonSpec(
        "Assembly", "Year 9", start, "screen", LIVE_RATE_HZ, "synthetic",
        settings={"faces": {"max_faces": limit}},
    ))
    write_samples(engine, lesson_id, _samples(start, 40, faces_found, followed))
    return lesson_id


def _samples(start, n: int, faces_found: int, followed: int) -> list[Sample]:
    samples = []
    for i in range(n):
        ts = start + i * STEP
        observations = tuple(
            Observation(ts, track_id, AttentionState.ATTENTIVE, 70.0, box=(10 * track_id, 0, 8, 8))
            for track_id in range(1, followed + 1)
        )
        samples.append(Sample(ts, faces_found, 40.0, observations))
    return samples


def test_more_faces_than_the_face_limit_says_so_and_the_notice_goes_once_all_are_followed(
    app, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'crowd.db'}"
    lesson_id = _crowded_lesson(url, faces_found=52, followed=50)
    at = app(url, "live")
    assert [w.value for w in at.warning] == [
        "52 faces in view, 50 followed (the face limit): raise the face limit when you start the "
        "next lesson."
    ]
    # Two students leave the call: 50 faces, all followed.
    later = LIVE_NOW + timedelta(seconds=4)
    write_samples(open_database(url), lesson_id, _samples(LIVE_NOW, 8, 50, 50))
    monkeypatch.setattr("dashboard.config.utc_now", lambda: later)
    loaders.clear_caches()
    at.run()
    assert not at.exception
    assert not at.warning


def test_a_lesson_within_the_face_limit_gets_no_face_limit_notice(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'class.db'}"
    _crowded_lesson(url, faces_found=9, followed=9)
    at = app(url, "live")
    assert not at.warning and not at.error


def _ended(app, db, page: str = "live"):
    finish_lesson(open_database(db.url), db.running)
    at = app(db.url, page, live_finished_lesson=db.running)
    return at


def test_the_finished_notice_goes_once_dismissed(app, own_db):
    at = _ended(app, own_db)
    assert [s.value for s in at.success] == ["Lesson “Live physics” finished."]
    at.button(key="live_dismiss_finished").click().run()
    assert not at.success
    assert at.button(key="live_start")  # the start form stays


@pytest.mark.parametrize("elsewhere", ["lessons", "export", "privacy"])
def test_the_finished_notice_goes_once_the_teacher_leaves_the_live_page(app, own_db, elsewhere):
    from tests.dashboard.conftest import PAGES

    at = _ended(app, own_db)
    assert [s.value for s in at.success] == ["Lesson “Live physics” finished."]
    at.switch_page(PAGES[elsewhere]).run()
    at.switch_page(PAGES["live"]).run()
    assert not at.exception
    assert not at.success


def test_the_face_limit_set_on_the_form_reaches_the_engines_start_request(app, tmp_path, monkeypatch):
    from dashboard import control
    from dashboard.engine_request import start_request
    from tests.dashboard.engine_standin import standin

    standin(monkeypatch)
    at = app(f"sqlite:///{tmp_path / 'limit.db'}", "live")
    assert at.number_input(key="live_max_faces").value == 50
    at.number_input(key="live_max_faces").set_value(64).run()
    at.radio(key="live_source").set_value("demo").run()
    at.button(key="live_start").click().run()
    handle = control.load_handle(tmp_path / "data")
    try:
        request = start_request(handle.launch, events_path=tmp_path / "e", stop_path=tmp_path / "s",
                                db_url=None, cwd=tmp_path)  # fmt: skip
        assert request.max_faces == 64
    finally:
        control.stop_engine(handle, timeout_s=10)


def test_the_tiles_help_explains_each_state_the_engagement_and_the_concentration(app, seeded_db):
    at = app(seeded_db.url, "live")
    students = next(h for h in at.subheader if h.value == "Students")
    help_text = students.proto.help
    for words in ("**attentive**", "**looking away**", "**eyes closed**", "**absent**",
                  "**camera off**", "**Engagement** 0-100", "**Class concentration**"):
        assert words in help_text
    metric = next(m for m in at.metric if m.label == "Class concentration now")
    assert "Mean engagement of the counted students over the last 10 s" in metric.proto.help
    assert "**Count again**" in help_text
