"""The Live page with a lesson students join from their browser: started from the form with no
engine, its code, link and QR code, a tile per joined student (their name as plain text, silent,
left, removed), Not a student, Remove, Stop, and who may see it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import control, loaders
from dashboard.join.routes import JoinServerSettings
from engine.attention import AttentionSettings
from storage.db import open_database
from storage.exclusions import excluded_tracks
from storage.join import find_join_lesson, join_student, joined_students, mark_left
from storage.join_lessons import ABANDONED_AFTER_S, open_join_lessons
from storage.lessons import get_lesson
from storage.viewers import Viewer
from tests.dashboard.conftest import APP, PAGES, log_in_on_form
from tests.dashboard.join.server import serving_join
from tests.dashboard.joined_lesson import (
    FACE,
    NAMES,
    NO_FACE,
    REMOVED,
    SECONDS,
    SILENT,
    write_joined_lesson,
)
from tests.storage.conftest import T0

EVERYONE = Viewer.everyone()
END = T0 + timedelta(seconds=SECONDS)
PAGE_NOW = END - timedelta(seconds=1.5)
BROWSER = "http://localhost:8501/live"


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """The app on the Live page as the teacher's browser at `url` opens it: live(db_url)."""

    def run(db_url: str, url: str | None = BROWSER, **session: object) -> AppTest:
        monkeypatch.setenv("CLASSPULSE_DB_URL", db_url)
        at = AppTest.from_file(APP, default_timeout=60)
        at.context = {"url": url} if url else {}
        for key, value in session.items():
            at.session_state[key] = value
        at.switch_page(PAGES["live"])
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


@pytest.fixture
def joined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The join lesson of tests/dashboard/joined_lesson.py (four students, names asked), stored
    through ingest; the page's clock just before its end."""
    url = f"sqlite:///{tmp_path / 'join.db'}"
    lesson = write_joined_lesson(open_database(url), T0)
    monkeypatch.setattr("dashboard.config.utc_now", lambda: PAGE_NOW)
    return url, lesson


def _said(at: AppTest) -> list[str]:
    return [n.value for n in (*at.info, *at.warning, *at.error, *at.success)]


def test_a_teacher_starts_a_join_lesson_from_the_form_without_an_engine_and_gets_its_link(
    live, tmp_path, monkeypatch
):
    def no_engine(*args, **kwargs):
        raise AssertionError("a join lesson starts no engine")

    monkeypatch.setattr(control, "start_engine", no_engine)
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    at = live(url)
    at.radio(key="live_source").set_value("join").run()
    rate = at.slider(key="live_join_rate")
    assert (rate.value, rate.min, rate.max) == (1.0, 0.2, 5.0)
    assert at.checkbox(key="live_join_attention_only").value is True
    assert any("AI Act, Art. 5(1)(f)" in c.value for c in at.caption)  # why attention only is on
    assert at.checkbox(key="live_join_ask_names").value is False
    assert not [n for n in at.number_input if n.key == "live_max_faces"]  # no face limit: one face each
    at.text_input(key="live_title").input("Biology")
    at.text_input(key="live_group").input("8A")
    at.slider(key="live_join_rate").set_value(2.0)
    at.checkbox(key="live_join_ask_names").check()
    at.button(key="live_start").click().run()
    assert not at.exception

    engine = open_database(url)
    [opened] = open_join_lessons(engine, viewer=EVERYONE)
    lesson = get_lesson(engine, opened.lesson_id)
    assert (lesson["source"], lesson["status"], lesson["sample_rate_hz"]) == ("join", "running", 2.0)
    assert lesson["attention_only"] and lesson["model_name"] is None and opened.ask_names
    assert lesson["settings"] == {"attention": asdict(AttentionSettings())}  # the server derives states with them
    assert control.engine_status(tmp_path / "data") is None  # nothing spawned, no engine.json
    assert [c.value for c in at.code] == [f"http://localhost:8501/join/{opened.code}"]
    assert len(at.image) == 1  # its QR code, drawn by the server
    assert _said(at)[0] == "Waiting for students to join — share the link or the QR code."
    assert any("localhost is this computer's own address" in w for w in _said(at))
    assert not any("engine" in words.lower() for words in _said(at))

    at.button(key="live_join_stop").click().run()
    assert get_lesson(engine, opened.lesson_id)["status"] == "finished"
    with engine.connect() as conn:
        assert not find_join_lesson(conn, opened.code).is_open  # the link says it has ended
    assert "Lesson “Biology” finished." in _said(at)
    assert at.button(key="live_start") and not at.code  # the form again, the link gone


def test_the_public_address_setting_gives_the_link_students_reach(live, tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSPULSE_PUBLIC_URL", "https://classpulse.school.lan:8501")
    url = f"sqlite:///{tmp_path / 'public.db'}"
    at = live(url)
    at.radio(key="live_source").set_value("join").run()
    at.button(key="live_start").click().run()
    [opened] = open_join_lessons(open_database(url), viewer=EVERYONE)
    assert [c.value for c in at.code] == [f"https://classpulse.school.lan:8501/join/{opened.code}"]
    assert not at.warning


def test_each_joined_student_is_a_tile_with_their_name_as_plain_text(live, joined):
    url, lesson = joined
    at = live(url)
    texts = [t.value for t in at.text]
    assert [NAMES[FACE], NAMES[NO_FACE], NAMES[SILENT]] == [t for t in texts if t in NAMES.values()]
    assert "Removed (their link no longer works): Dee" in texts
    assert not any(NAMES[NO_FACE] in m.value or "Bo" in m.value for m in at.markdown)  # never markdown
    badges = [m.value for m in at.markdown if "badge[" in m.value]
    # the silent student last sent at 14.7 s; presence is read as of the refresh tick's start, 28 s
    assert badges == [":green-badge[attentive]", ":gray-badge[absent]",
                      ":gray-badge[no data] no data for 13 s: not counted"]  # fmt: skip
    assert "4 joined · 2 sending · 1 no data · 1 removed" in [c.value for c in at.caption]
    assert {b.key for b in at.button} >= {f"live_remove_{t}" for t in (FACE, NO_FACE, SILENT)}
    assert f"live_remove_{REMOVED}" not in {b.key for b in at.button}
    assert not any("engine" in words.lower() for words in _said(at))


def test_a_student_who_left_reads_left_and_one_marked_not_a_student_counts_again(live, joined):
    url, lesson = joined
    engine = open_database(url)
    face = next(s for s in joined_students(engine.connect(), lesson.lesson_id) if s.track_id == FACE)
    assert face.name == NAMES[FACE]
    from sqlalchemy import select

    from storage.schema import JoinStudent

    with engine.connect() as conn:
        student_id = conn.execute(select(JoinStudent.id).where(
            JoinStudent.lesson_id == lesson.lesson_id, JoinStudent.track_id == NO_FACE)).scalar_one()
    mark_left(engine, student_id, PAGE_NOW - timedelta(seconds=65))
    at = live(url)
    assert ":gray-badge[left] left 1 min ago" in [m.value for m in at.markdown]

    present = {m.label: m.value for m in at.metric}["Students present"]
    at.button(key=f"live_exclude_{FACE}").click().run()
    assert excluded_tracks(engine, lesson.lesson_id) == [FACE]
    assert "Not students (left out of this lesson): Ada (Student 1)" in [t.value for t in at.text]
    assert {m.label: m.value for m in at.metric}["Students present"] != present
    at.button(key=f"live_include_{FACE}").click().run()
    assert excluded_tracks(engine, lesson.lesson_id) == []
    assert {m.label: m.value for m in at.metric}["Students present"] == present


def test_removing_a_student_stops_their_link_at_once(live, tmp_path, monkeypatch):
    monkeypatch.setattr("dashboard.config.utc_now", lambda: datetime.now(UTC))  # as the join server
    url = f"sqlite:///{tmp_path / 'remove.db'}"
    at = live(url)
    at.radio(key="live_source").set_value("join").run()
    at.button(key="live_start").click().run()
    [opened] = open_join_lessons(open_database(url), viewer=EVERYONE)
    with serving_join(JoinServerSettings(db_url=url)) as served:
        student = httpx.post(served.api(opened.code, "students"), json={}).json()
        auth = {"Authorization": f"Bearer {student['token']}"}
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        sample = {"t_ms": now_ms, "face": True, "yaw_deg": 2.0, "pitch_deg": 1.0, "roll_deg": 0.0,
                  "eye_openness": 0.3, "gaze_offset": 0.1, "probabilities": None}  # fmt: skip
        assert httpx.post(served.api(opened.code, "samples"), json={"samples": [sample]},
                          headers=auth).status_code == 200  # fmt: skip
        loaders.clear_caches()
        at.run()
        assert "Student 1" in [t.value for t in at.text]
        at.button(key="live_remove_1").click().run()
        later = {**sample, "t_ms": now_ms + 1000}
        refused = httpx.post(served.api(opened.code, "samples"), json={"samples": [later]}, headers=auth)
    assert refused.status_code == 403
    assert "Removed (their link no longer works): Student 1" in [t.value for t in at.text]


def test_before_the_first_sample_the_card_counts_who_joined(live, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'waiting.db'}"
    at = live(url)
    at.radio(key="live_source").set_value("join").run()
    at.button(key="live_start").click().run()
    engine = open_database(url)
    [opened] = open_join_lessons(engine, viewer=EVERYONE)
    from dashboard import config

    for _ in range(2):
        join_student(engine, opened.code, None, config.utc_now())
    loaders.clear_caches()
    at.run()
    assert _said(at)[0].startswith("2 students have joined: waiting for their first data")
    assert not at.metric  # no figure before the first sample


def test_when_no_student_has_sent_for_a_while_the_card_says_so_and_a_long_silence_ends_the_lesson(
    live, joined, monkeypatch
):
    url, lesson = joined
    monkeypatch.setattr("dashboard.config.utc_now", lambda: END + timedelta(seconds=39.5))
    at = live(url)
    assert "No student has sent data for 40 s — are their pages still open?" in _said(at)
    monkeypatch.setattr("dashboard.config.utc_now",
                        lambda: END + timedelta(seconds=ABANDONED_AFTER_S + 5))  # fmt: skip
    loaders.clear_caches()
    at = live(url)
    stored = get_lesson(open_database(url), lesson.lesson_id)
    assert stored["status"] == "finished" and stored["ended_at"] == END - timedelta(seconds=0.5)
    assert at.button(key="live_start")  # nothing to watch: the start form


def test_a_students_device_too_slow_for_the_rate_is_told(live, tmp_path, monkeypatch):
    from dashboard.join.ingest import AttentionBook, ingest
    from dashboard.join.payload import JoinSample
    from storage.join import find_student, open_join_lesson
    from storage.lessons import LessonSpec
    from storage.schema import from_epoch_ms, to_epoch_ms

    url = f"sqlite:///{tmp_path / 'slow.db'}"
    engine = open_database(url)
    info = open_join_lesson(engine, LessonSpec("Slow", "8A", T0, source="join", sample_rate_hz=1.0,
                                               attention_only=True), ask_names=False)  # fmt: skip
    book = AttentionBook()
    for step_s in (1, 2):  # the second device manages one sample every 2 s
        _, token = join_student(engine, info.code, None, T0)
        with engine.connect() as conn:
            found = find_student(conn, info.code, token)
        batch = [JoinSample(to_epoch_ms(T0) + 1000 * s + 500, True, 3.0, 0.0, 0.0, 0.3, 0.1)
                 for s in range(0, SECONDS, step_s)]  # fmt: skip
        ingest(engine, book, found, batch, from_epoch_ms(batch[-1].t_ms))
    monkeypatch.setattr("dashboard.config.utc_now", lambda: PAGE_NOW)
    at = live(url)
    assert ("1 student's device manages under 80% of the 1 samples/s asked (slowest 0.5/s): a slow "
            "device, or the page hidden in a background tab.") in _said(at)
    assert "sends 0.5 of the 1 samples/s asked" in [c.value for c in at.caption]
    assert {m.label: m.value for m in at.metric}["Samples/s each"] == "0.8"


def test_a_teacher_sees_only_her_own_join_lesson(tmp_path, monkeypatch, bind_address):
    from dashboard.auth import hash_password
    from storage.accounts import save_account

    url = f"sqlite:///{tmp_path / 'school.db'}"
    engine = open_database(url)
    khan = write_joined_lesson(engine, T0, owner="mr.khan")
    for name in ("ms.lee", "mr.khan"):
        save_account(engine, name, hash_password("a long enough test passphrase"), "teacher",
                     datetime.now(UTC))  # fmt: skip
    monkeypatch.setenv("CLASSPULSE_DB_URL", url)
    monkeypatch.setattr("dashboard.config.utc_now", lambda: PAGE_NOW)
    bind_address("0.0.0.0")
    lee = log_in_on_form("ms.lee", "a long enough test passphrase", "live")
    assert not lee.code and not lee.metric and lee.button(key="live_start")
    assert not [b for b in lee.button if b.key == "live_join_stop"]
    assert not loaders.close_join(url, Viewer.teacher("ms.lee"), khan.lesson_id)  # not hers to stop
    assert not loaders.remove_student(url, Viewer.teacher("ms.lee"), khan.lesson_id, FACE)
    assert get_lesson(engine, khan.lesson_id)["status"] == "running"
    his = log_in_on_form("mr.khan", "a long enough test passphrase", "live")
    assert his.code[0].value.endswith(f"/join/{khan.code}")
    assert any(m.label == "Class concentration now" for m in his.metric)


def test_another_teachers_engine_does_not_hide_her_join_lesson(tmp_path, monkeypatch, bind_address):
    from dashboard.auth import hash_password
    from dashboard.launch import LessonLaunch
    from storage.accounts import save_account
    from tests.dashboard.engine_standin import standin

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = open_database(url)
    lee = write_joined_lesson(engine, T0, owner="ms.lee")
    for name in ("ms.lee", "mr.khan"):
        save_account(engine, name, hash_password("a long enough test passphrase"), "teacher",
                     datetime.now(UTC))  # fmt: skip
    monkeypatch.setenv("CLASSPULSE_DB_URL", url)
    monkeypatch.setattr("dashboard.config.utc_now", lambda: PAGE_NOW)
    standin(monkeypatch)
    handle = control.start_engine(LessonLaunch("Khan's demo", "", "demo", owner="mr.khan"),
                                  tmp_path / "data", db_url=url)  # fmt: skip
    try:
        bind_address("0.0.0.0")
        at = log_in_on_form("ms.lee", "a long enough test passphrase", "live")
        assert "This dashboard is recording another teacher's lesson" in _said(at)[0]
        assert at.code[0].value.endswith(f"/join/{lee.code}")  # her join lesson needs no engine
        assert any(m.label == "Class concentration now" for m in at.metric)
        assert at.button(key="live_join_stop") and not [b for b in at.button if b.key == "live_stop"]
    finally:
        control.stop_engine(handle, timeout_s=10)
