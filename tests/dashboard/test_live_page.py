"""The Live page: a running lesson's live card (numbers from storage), health, alert, first run."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from dashboard import control, loaders, state
from engine import processes
from storage import queries
from storage.db import open_database
from storage.viewers import Viewer
from tests.dashboard.conftest import LIVE_NOW, chart_titles, seed_running_lesson, table_with
from tests.dashboard.engine_standin import failed, finished, standin, started

EVERYONE = Viewer.everyone()

AS_OF = loaders.live_as_of(LIVE_NOW)  # the card shows the live view as of its refresh tick


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_concentration_now_equals_storage_live_view(app, seeded_db):
    at = app(seeded_db.url, "live", cp_alert_level=1.0)
    live = queries.live_view(
        open_database(seeded_db.url), seeded_db.running, window_s=10.0, now=AS_OF, viewer=EVERYONE
    )
    metrics = _metrics(at)
    assert metrics["Class concentration now"] == f"{live.concentration:.0f}"
    assert metrics["Students present"] == f"{live.now.present} of {live.now.counted}"
    assert live.now.counted == 8
    assert metrics["Last sample"] == "1 s ago"
    assert metrics["Samples/s"] == "2.0"
    assert not at.error and not at.warning


def test_change_over_the_last_minute_is_the_same_figure_now_minus_a_minute_ago(app, seeded_db):
    from storage.measures import class_window

    at = app(seeded_db.url, "live")
    engine = open_database(seeded_db.url)
    live = queries.live_view(engine, seeded_db.running, window_s=10.0, now=AS_OF, viewer=EVERYONE)
    minute = timedelta(seconds=60)
    with engine.connect() as conn:
        earlier = class_window(conn, seeded_db.running, AS_OF - minute - timedelta(seconds=10),
                               AS_OF - minute, viewer=EVERYONE)
    assert live.minute_ago == earlier
    metric = next(m for m in at.metric if m.label == "Class concentration now")
    change = live.concentration - earlier.concentration
    assert metric.delta == f"{change:+.0f} in the last minute"


def test_live_card_draws_trend_expressions_and_a_tile_per_student(app, seeded_db):
    at = app(seeded_db.url, "live")
    titles = chart_titles(at)
    assert "Class concentration, lesson so far" in titles
    assert "Expression mix, lesson so far" in titles
    tiles = [m.value for m in at.markdown if m.value.startswith("**Student ")]
    assert len(tiles) == 8
    assert tiles[0].startswith("**Student 1**")


def test_student_sparklines_show_the_stored_last_five_minutes_on_first_open(app, seeded_db):
    # A freshly opened page (no session history) already draws each student's stored trend.
    import json

    at = app(seeded_db.url, "live")
    live = queries.live_view(
        open_database(seeded_db.url), seeded_db.running, window_s=10.0, now=AS_OF, viewer=EVERYONE
    )
    sparks = {}
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if spec["layout"].get("height") == 50:  # the tiles' sparklines
            sparks[len(sparks) + 1] = spec["data"][0]["y"]
    expected = live.student_trends.groupby("track_id")["engagement"].apply(list).to_dict()
    assert len(sparks) == 8 and all(len(v) >= 10 for v in expected.values())
    for track_id, values in expected.items():
        assert sparks[track_id] == pytest.approx(values)


def test_attention_only_lesson_shows_no_expression_chart(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'att.db'}"
    seed_running_lesson(open_database(url), attention_only=True)
    at = app(url, "live")
    titles = chart_titles(at)
    assert "Class concentration, lesson so far" in titles
    assert not [t for t in titles if "xpression" in t]


def test_no_frames_for_a_while_says_camera_lost(app, seeded_db, monkeypatch):
    monkeypatch.setattr("dashboard.config.utc_now", lambda: LIVE_NOW + timedelta(seconds=30))
    at = app(seeded_db.url, "live")
    assert [w.value for w in at.warning] == [
        "No frames for 31 s — camera lost, or the video ended?"
    ]
    assert _metrics(at)["Class concentration now"] == "–"


def test_alert_when_concentration_stays_under_the_level(app, seeded_db):
    at = app(seeded_db.url, "live", cp_alert_level=100.0, cp_alert_minutes=2.0)
    assert any("has been under 100 for" in e.value for e in at.error)
    quiet = app(seeded_db.url, "live", cp_alert_level=1.0, cp_alert_minutes=2.0)
    assert not quiet.error


def test_a_computer_that_cannot_keep_the_rate_is_told_and_the_notice_clears_once_it_does(
    app, tmp_path, monkeypatch
):
    from storage.lessons import LessonSpec, create_lesson
    from storage.recorder import write_samples
    from storage.synthetic import generate_samples
    from tests.dashboard.conftest import LIVE_RATE_HZ, LIVE_START

    url = f"sqlite:///{tmp_path / 'slow.db'}"
    engine = open_database(url)
    spec = LessonSpec("Slow", "9B", LIVE_START, "demo", LIVE_RATE_HZ, "synthetic")
    lesson_id = create_lesson(engine, spec)
    slow = list(generate_samples(students=3, hours=240 / 3600, rate_hz=0.6, seed=4, started_at=LIVE_START))
    write_samples(engine, lesson_id, slow)  # 2 asked, 0.6 managed, up to just before LIVE_NOW
    at = app(url, "live")
    assert [w.value for w in at.warning] == [
        "This computer manages 0.6 samples/s of the 2 asked: lower the rate or the face limit."
    ]

    caught_up = LIVE_NOW + timedelta(seconds=25)
    fast = generate_samples(
        students=3, hours=25 / 3600, rate_hz=LIVE_RATE_HZ, seed=5, started_at=LIVE_NOW - timedelta(seconds=1)
    )
    write_samples(engine, lesson_id, list(fast))  # the last 20 s at the asked rate
    monkeypatch.setattr("dashboard.config.utc_now", lambda: caught_up)
    loaders.clear_caches()  # 25 s on: the loaders' 2-second TTLs have passed
    at.run()  # what each 2-second refresh of the live card does
    assert not at.exception
    assert not at.warning
    assert _metrics(at)["Samples/s"] == "2.0"


def test_first_run_shows_the_guide_with_a_demo_button_beside_the_full_start_form(
    app, tmp_path, monkeypatch
):
    monkeypatch.setattr(processes, "list_cameras", lambda *args, **kwargs: [0])
    at = app(f"sqlite:///{tmp_path / 'empty.db'}", "live")
    assert [h.value for h in at.subheader] == ["Welcome to ClassPulse", "Start a lesson"]
    assert at.button(key="live_demo_start").label == "Start a demo lesson"
    assert at.button(key="live_start").label == "Start lesson"
    assert {w.key for w in at.text_input} >= {"live_title", "live_group"}
    assert list(at.radio(key="live_source").options) == [
        "Webcam 0",
        "Screen region (a video-call gallery on this screen)",
        "Video file",
        "Demo gallery (recorded video call)",
        "Students join from their browser",
    ]
    assert at.slider(key="live_rate").value == 2.0
    assert at.checkbox(key="live_attention_only").value is False


@pytest.mark.slow
def test_the_start_form_keeps_a_warm_engine_waiting_unless_turned_off(app, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    try:
        app(url, "live")  # the tests' default: CLASSPULSE_ENGINE_STANDBY=0
        assert state.warm_engine().pid() is None
        monkeypatch.setenv("CLASSPULSE_ENGINE_STANDBY", "1")
        app(url, "live")
        waiting = state.warm_engine().pid()  # the page's keeper: one per dashboard process
        assert waiting is not None and processes.is_alive(waiting)
        app(url, "live")  # a page rerun, another visit: the same one still waits
        assert state.warm_engine().pid() == waiting
    finally:
        state.warm_engine().release()
    assert state.warm_engine().pid() is None


def test_start_form_offers_demo_screen_and_file_sources(app, own_db, monkeypatch):
    open_database(own_db.url)
    from storage.lessons import finish_lesson

    finish_lesson(open_database(own_db.url), own_db.running)
    monkeypatch.setattr(processes, "list_cameras", lambda *args, **kwargs: [])
    at = app(own_db.url, "live")
    assert list(at.radio(key="live_source").options) == [
        "Screen region (a video-call gallery on this screen)",
        "Video file",
        "Demo gallery (recorded video call)",
        "Students join from their browser",
    ]
    assert at.radio(key="live_source").value == "demo"


def test_an_engine_that_fails_to_start_shows_its_one_line_error(app, own_db, tmp_path, monkeypatch):
    standin(monkeypatch, failed("camera 0 cannot be opened"), exit_code=1)
    data_dir = tmp_path / "data"
    handle = control.start_engine(control.LessonLaunch("x", "", "0"), data_dir, db_url=own_db.url)
    _wait_dead(handle.pid)
    at = app(own_db.url, "live")
    assert at.error[0].value == "The engine could not start: camera 0 cannot be opened"
    assert control.load_handle(data_dir) is None  # shown once, then forgotten


def _finish_running_lesson(db, status: str = "finished") -> None:
    from storage.lessons import finish_lesson

    finish_lesson(open_database(db.url), db.running, status)


def _engine_that_runs(monkeypatch, *events: dict, exit_code: int | None = None) -> None:
    """The engine replaced by a small real process that says `events` (tests.dashboard.engine_standin)."""
    standin(monkeypatch, *events, exit_code=exit_code)


def _typed_source(at, typed: str):
    at.radio(key="live_source").set_value("file").run()
    at.text_input(key="live_path").input(typed).run()
    at.button(key="live_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_typed_path_that_does_not_exist_is_refused_on_the_form(app, own_db, tmp_path, monkeypatch):
    _finish_running_lesson(own_db)
    monkeypatch.setenv("CLASSPULSE_MEDIA_DIRS", str(tmp_path))
    at = _typed_source(app(own_db.url, "live"), str(tmp_path / "nope.mp4"))
    assert at.error[0].value == f"there is no file or folder at {tmp_path / 'nope.mp4'}"
    assert control.load_handle(tmp_path / "data") is None


@pytest.mark.parametrize("fresh", [False, True], ids=["lessons stored", "first visit"])
def test_a_refused_path_keeps_the_title_class_and_path_typed(
    app, own_db, tmp_path, monkeypatch, fresh
):
    if fresh:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        _finish_running_lesson(own_db)
        url = own_db.url
    monkeypatch.setenv("CLASSPULSE_MEDIA_DIRS", str(tmp_path))
    at = app(url, "live")
    at.text_input(key="live_title").input("Optics").run()
    at.text_input(key="live_group").input("9B Physics").run()
    at.slider(key="live_rate").set_value(3.0).run()
    at.number_input(key="live_max_faces").set_value(64).run()
    typed = str(tmp_path / "nope.mp4")
    _typed_source(at, typed)
    assert [e.value for e in at.error] == [f"there is no file or folder at {typed}"]
    assert at.text_input(key="live_title").value == "Optics"
    assert at.text_input(key="live_group").value == "9B Physics"
    assert at.text_input(key="live_path").value == typed
    assert at.radio(key="live_source").value == "file"
    assert (at.slider(key="live_rate").value, at.number_input(key="live_max_faces").value) == (3.0, 64)
    assert control.load_handle(tmp_path / "data") is None


def test_an_engine_that_fails_to_start_gives_the_form_back_as_typed_and_one_that_starts_does_not(
    app, own_db, tmp_path, monkeypatch
):
    _finish_running_lesson(own_db)
    monkeypatch.setenv("CLASSPULSE_MEDIA_DIRS", str(tmp_path))
    video = tmp_path / "garbage.mp4"
    video.write_bytes(b"\x00garbage" * 100)
    _engine_that_runs(monkeypatch, failed("cannot read video: not a video OpenCV can decode, or corrupt"),
                      exit_code=1)
    at = app(own_db.url, "live")
    at.text_input(key="live_title").input("Optics").run()
    at.text_input(key="live_group").input("9B Physics").run()
    at.slider(key="live_rate").set_value(3.0).run()
    at.checkbox(key="live_attention_only").check().run()
    _typed_source(at, str(video))
    handle = control.load_handle(tmp_path / "data")
    _wait_dead(handle.pid)
    at.run()  # the page's next look: the engine ended without a lesson
    assert [e.value for e in at.error] == [
        "The engine could not start: cannot read video: not a video OpenCV can decode, or corrupt"]
    assert at.text_input(key="live_title").value == "Optics"
    assert at.text_input(key="live_group").value == "9B Physics"
    assert at.radio(key="live_source").value == "file"
    assert at.text_input(key="live_path").value == str(video.resolve())
    assert (at.slider(key="live_rate").value, at.checkbox(key="live_attention_only").value) == (3.0, True)

    _engine_that_runs(monkeypatch, started(12, "Optics", "x"))
    at.button(key="live_start").click().run()
    handle = control.load_handle(tmp_path / "data")
    try:
        _wait_announced(handle)
        at.run()  # it announced its lesson: the form it came from is done with
        at.button(key="live_stop").click().run()
        assert at.text_input(key="live_title").value == "Lesson"
        assert at.radio(key="live_source").value != "file"
    finally:
        control.stop_engine(handle, timeout_s=10)


def _wait_announced(handle: control.EngineHandle, timeout_s: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while control.announced_lesson(handle) is None:
        if time.monotonic() > deadline:
            pytest.fail("the engine did not announce its lesson")
        time.sleep(0.05)


@pytest.mark.parametrize("typed", ["/etc/passwd", "/etc/no-such-file", "{media}/../../etc/passwd"])
def test_a_path_outside_the_media_folders_is_refused_in_one_line_and_starts_nothing(
    app, own_db, tmp_path, monkeypatch, typed
):
    _finish_running_lesson(own_db)
    media = tmp_path / "media"
    media.mkdir()
    monkeypatch.setenv("CLASSPULSE_MEDIA_DIRS", f"{media}{os.pathsep}{tmp_path / 'more'}")
    at = _typed_source(app(own_db.url, "live"), typed.format(media=media))
    assert [e.value for e in at.error] == [
        f"Only files inside the media folders ({media}, {tmp_path / 'more'}) can be used; "
        "upload the video instead"
    ]
    assert control.load_handle(tmp_path / "data") is None


def test_with_no_media_folder_the_form_takes_uploads_only_and_states_their_limit(
    app, own_db, monkeypatch
):
    _finish_running_lesson(own_db)
    at = app(own_db.url, "live")
    at.radio(key="live_source").set_value("file").run()
    assert "live_path" not in {w.key for w in at.text_input}
    uploader = at.file_uploader(key="live_upload")
    assert uploader.proto.label == "Upload a video (up to 500 MB)"
    assert "deleted when the lesson ends" in uploader.proto.help
    at.button(key="live_start").click().run()
    assert at.error[0].value == "choose a video file: upload one, or type its path on this machine"


def test_a_stream_url_is_refused_unless_the_administrator_allows_streams(
    app, own_db, tmp_path, monkeypatch
):
    _finish_running_lesson(own_db)
    monkeypatch.setenv("CLASSPULSE_MEDIA_DIRS", str(tmp_path))
    at = _typed_source(app(own_db.url, "live"), "rtsp://teacher:s3cret@cam.school.lan/live")
    assert [e.value for e in at.error] == [
        "Stream URLs are off on this dashboard (its administrator can allow them with "
        "CLASSPULSE_ALLOW_STREAMS=1); upload the video instead"
    ]
    assert control.load_handle(tmp_path / "data") is None


def test_start_from_the_form_then_stop_forgets_the_engine(app, own_db, tmp_path, monkeypatch):
    _finish_running_lesson(own_db)
    _engine_that_runs(monkeypatch)  # it runs until stopped
    monkeypatch.setenv("CLASSPULSE_MEDIA_DIRS", str(tmp_path))
    video = tmp_path / "lesson.mp4"
    video.write_bytes(b"not decoded here")
    at = app(own_db.url, "live")
    at.text_input(key="live_title").input("Optics").run()
    at.radio(key="live_source").set_value("file").run()
    at.text_input(key="live_path").input(f" {video} ").run()
    at.button(key="live_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    handle = control.load_handle(tmp_path / "data")
    try:
        assert (handle.launch.title, handle.launch.source) == ("Optics", str(video.resolve()))
        assert f"source `{video.resolve()}`" in at.markdown[0].value
        assert at.info[0].value.startswith("The engine is starting")
        at.button(key="live_stop").click().run()
        assert control.load_handle(tmp_path / "data") is None
        assert not processes.is_alive(handle.pid)
        assert at.button(key="live_start")  # back to the form
        assert video.exists()  # a file from a media folder is the school's: never deleted
    finally:
        control.stop_engine(handle, timeout_s=10)


def test_an_uploaded_video_is_gone_once_the_lesson_is_stopped(app, own_db, tmp_path, monkeypatch):
    _finish_running_lesson(own_db)
    _engine_that_runs(monkeypatch)  # it runs until stopped
    at = app(own_db.url, "live")
    at.radio(key="live_source").set_value("file").run()
    at.file_uploader(key="live_upload").set_value(("clip.mp4", b"uploaded video", "video/mp4")).run()
    at.button(key="live_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    handle = control.load_handle(tmp_path / "data")
    try:
        video = Path(handle.launch.source)
        assert video.parent == (tmp_path / "data" / "uploads").resolve()
        assert video.read_bytes() == b"uploaded video"
        at.button(key="live_stop").click().run()
        assert not video.exists()
    finally:
        control.stop_engine(handle, timeout_s=10)


def test_a_lesson_that_ended_shows_its_status_in_words(app, own_db, tmp_path, monkeypatch):
    _finish_running_lesson(own_db, "interrupted")
    lesson = own_db.running
    _engine_that_runs(
        monkeypatch, started(lesson, "Live physics"), finished(lesson, 3, "stopped"), exit_code=0
    )
    handle = control.start_engine(control.LessonLaunch("x", "", "demo"), tmp_path / "data")
    _wait_dead(handle.pid)
    at = app(own_db.url, "live")
    assert [i.value for i in at.info] == [
        f"The engine has stopped (lesson {lesson} finished: 3 samples (stopped))."
    ]
    assert [w.value for w in at.warning] == [
        "Lesson “Live physics” interrupted: the engine stopped unexpectedly."
    ]
    assert at.button(key="live_open_report").label == "Open its report"


def _wait_dead(pid: int, timeout_s: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while processes.is_alive(pid):
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} did not exit")
        time.sleep(0.05)


def _owner(pid: int, started_s: float | None) -> dict:
    from storage.lessons import engine_owner

    return {"engine": engine_owner(pid, started_s)}


@pytest.mark.parametrize("how", ["exited", "pid reused"])
def test_a_lesson_whose_engine_died_elsewhere_reads_interrupted_when_the_page_loads(
    app, own_db, how
):
    import subprocess

    from storage.lessons import LessonSpec, create_lesson, get_lesson

    _finish_running_lesson(own_db)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        if how == "exited":
            other.kill()
            other.wait()
            owner = _owner(other.pid, None)
        else:  # the pid now belongs to a process that started at another time
            owner = _owner(other.pid, processes.process_ref(other.pid).started_s - 60)
        engine = open_database(own_db.url)
        spec = LessonSpec("Killed", "9B", LIVE_NOW - timedelta(minutes=5), settings=owner)
        lesson_id = create_lesson(engine, spec)
        at = app(own_db.url, "live")
        assert get_lesson(engine, lesson_id)["status"] == "interrupted"
        assert at.button(key="live_start")  # nothing to watch: the start form
        assert not at.metric
    finally:
        other.kill()
        other.wait()


def test_a_tile_marked_not_a_student_leaves_the_lesson_and_says_so(app, own_db):
    from storage.exclusions import excluded_tracks

    at = app(own_db.url, "live")
    assert "**Student 1**" in " ".join(m.value for m in at.markdown)
    at.button(key="live_exclude_1").click().run()
    assert excluded_tracks(open_database(own_db.url), own_db.running) == [1]
    assert not any(m.value.startswith("**Student 1**") for m in at.markdown)
    assert any("Not students (left out of this lesson): Student 1" in c.value for c in at.caption)
    report = app(own_db.url, "lessons", lessons_selected=own_db.running)
    assert any("Marked not a student and left out of every figure: Student 1." in c.value
               for c in report.caption)
    assert "Student 1" not in set(table_with(report, "Student")["Student"])
