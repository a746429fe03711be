"""The live card's numbers and notices, from literal frames and engine statuses (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard import control, launch, live_metrics
from storage.queries import ClassFigures, LiveView

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def every(gap_s: float, until_s: float, from_s: float = 0.0) -> list[float]:
    """Sample times (seconds after T0) one gap apart."""
    times, t = [], from_s
    while t <= until_s + 1e-9:
        times.append(round(t, 6))
        t += gap_s
    return times


def sample_times(seconds: list[float]) -> pd.Series:
    return pd.Series(pd.to_datetime([T0 + timedelta(seconds=t) for t in seconds], utc=True))


def trend(*rows: tuple[float, float | None]) -> pd.DataFrame:
    """(seconds after T0, concentration) per 10 s bucket."""
    return pd.DataFrame(
        {
            "bucket_start": pd.to_datetime([T0 + timedelta(seconds=r[0]) for r in rows], utc=True),
            "concentration": [r[1] for r in rows],
        }
    )


def summary(last_sample_s: float | None) -> pd.DataFrame:
    """A lesson's summary row whose last sample is this long after T0 (None: no sample yet)."""
    last = pd.NaT if last_sample_s is None else pd.Timestamp(T0 + timedelta(seconds=last_sample_s))
    return pd.DataFrame({"started_at": [pd.Timestamp(T0)],
                         "last_sample_at": pd.to_datetime([last], utc=True)})


def status(alive: bool, lesson_id: int | None = 7, message: str | None = None):
    handle = control.EngineHandle(
        41, "/data/engine-logs/e.log", T0.isoformat(), launch.LessonLaunch("T", "", "demo")
    )
    return control.EngineStatus(handle, alive, lesson_id, message)


def live(now: ClassFigures, minute_ago: ClassFigures, *rows: tuple[float, float | None]) -> LiveView:
    return LiveView(pd.DataFrame(), now, trend(*rows), pd.DataFrame(), minute_ago=minute_ago)


@pytest.mark.parametrize(
    ("now_value", "minute_ago_value", "expected"),
    [
        (60.0, 50.0, 10.0),
        (40.0, 50.0, -10.0),
        (60.0, None, None),  # no one counted a minute ago (or the lesson is not a minute old)
        (None, 50.0, None),
    ],
)
def test_change_over_minute_is_the_same_figure_now_minus_a_minute_ago(
    now_value, minute_ago_value, expected
):
    view = live(ClassFigures(now_value, 1, 1, 0), ClassFigures(minute_ago_value, 1, 1, 0))
    assert live_metrics.change_over_minute(view) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        ([], None),
        ([0.0], None),  # the first sample: nothing to count a rate over yet
        (every(0.5, 4.0), 2.0),  # shown from the second sample on
        (every(1.0, 60.0), 1.0),
        (every(0.5, 40.0) + every(2.0, 80.0, 42.0), 0.5),  # the latest 20 s
    ],
)
def test_samples_per_s_is_storage_measures_figure_over_the_latest_20_s(seconds, expected):
    got = live_metrics.samples_per_s(sample_times(seconds), T0)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("values", "expected_s"),
    [
        ([50, 30, 30, 30], 30.0),
        ([30, 30, 50], 0.0),  # low earlier, not now
        ([50, 50], 0.0),
        ([30], 10.0),
    ],
)
def test_low_streak_counts_the_run_of_low_buckets_up_to_now(values, expected_s):
    rows = [(10 * i, float(v)) for i, v in enumerate(values)]
    assert live_metrics.low_streak_s(trend(*rows), 40.0, 10.0) == expected_s


@pytest.mark.parametrize(
    ("last_s", "at_s", "expected"), [(100.0, 103.5, 3.5), (100.0, 99.0, 0.0), (0.0, 2.0, 2.0)]
)
def test_last_sample_age_is_seconds_since_the_last_stored_sample(last_s, at_s, expected):
    got = live_metrics.last_sample_age_s(summary(last_s), T0 + timedelta(seconds=at_s))
    assert got == expected


@pytest.mark.parametrize("row", [summary(None), summary(1.0).iloc[0:0]])
def test_before_the_first_sample_there_is_no_last_sample_and_no_figure(row):
    assert live_metrics.last_sample_age_s(row, T0) is None
    assert not live_metrics.has_first_sample(row)


def test_the_first_sample_is_enough_for_the_card_to_show_its_figures():
    assert live_metrics.has_first_sample(summary(0.0))


def test_live_numbers_are_the_class_figures_of_the_window_and_the_low_streak():
    view = live(ClassFigures(35.0, 2, 3, 1), ClassFigures(50.0, 3, 3, 0), (0, 50.0), (60, 30.0))
    numbers = live_metrics.live_numbers(view, 40.0, 10.0)
    assert numbers == live_metrics.LiveNumbers(
        concentration=35.0, change_over_minute=-15.0, present=2, counted=3, camera_off=1,
        low_streak_s=10.0,
    )


@pytest.mark.parametrize(("present", "counted", "camera_off", "words", "apart"), [
    (7, 7, 1, "7 of 7", "1 camera off"),
    (6, 8, 0, "6 of 8", None),
    (0, 0, 2, "0 of 0", "2 camera off"),
])  # fmt: skip
def test_students_present_are_of_the_counted_with_camera_off_tiles_apart(
    present, counted, camera_off, words, apart
):
    numbers = live_metrics.LiveNumbers(None, None, present, counted, camera_off, 0.0)
    assert live_metrics.present_words(numbers) == words
    assert live_metrics.camera_off_words(numbers) == apart


@pytest.mark.parametrize(
    ("lesson_status", "engine", "alive", "message"),
    [
        ("running", None, True, None),  # started elsewhere: storage's status decides
        ("finished", None, False, None),
        ("running", status(True), True, None),
        ("running", status(False, message="camera 0 was lost"), False, "camera 0 was lost"),
    ],
)
def test_engine_health_trusts_our_engine_over_the_stored_status(
    lesson_status, engine, alive, message
):
    health = live_metrics.engine_health(lesson_status, summary(10.0), T0 + timedelta(seconds=12), engine)
    assert (health.engine_alive, health.message, health.last_sample_age_s) == (alive, message, 2.0)


@pytest.mark.parametrize(
    ("health", "level", "text"),
    [
        (
            live_metrics.Health(False, 3.0, "boom"),
            "error",
            "The engine has stopped. It said: boom",
        ),
        (live_metrics.Health(False, 3.0, None), "error", "The engine has stopped."),
        (live_metrics.Health(True, None, None), "info", live_metrics.STARTING_TEXT),
        (
            live_metrics.Health(True, 31.0, None),
            "warning",
            "No frames for 31 s — camera lost, or the video ended?",
        ),
    ],
)
def test_health_notice_says_what_the_teacher_should_know(health, level, text):
    notice = live_metrics.health_notice(health)
    assert (notice.level, notice.text) == (level, text)


def test_a_healthy_engine_gets_no_notice():
    assert live_metrics.health_notice(live_metrics.Health(True, 1.0, None)) is None


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        ([], None),
        (every(0.5, 19.5), None),  # the lesson is not 20 s old yet
        (every(0.5, 20.0), 2.0),
        (every(5 / 3, 60.0), 0.6),
        (every(0.5, 40.0) + every(2.0, 80.0, 42.0), 0.5),  # only the latest 20 s count
        (every(0.5, 60.0, 30.0), 2.0),  # only the last minute is loaded: the start is the lesson's
    ],
)
def test_achieved_rate_counts_the_latest_20_s_of_samples(seconds, expected):
    rate = live_metrics.achieved_rate_hz(sample_times(seconds), T0)
    assert rate == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("seconds", "asked_hz", "text"),
    [
        (every(5 / 3, 60.0), 2.0,
         "This computer manages 0.6 samples/s of the 2 asked: lower the rate or the face limit."),
        (every(0.5, 60.0), 2.0, None),
        (every(0.6, 60.0), 2.0, None),  # 1.65/s: within 80 % of the asked rate
        (every(1.0, 60.0), 2.0,
         "This computer manages 1.0 samples/s of the 2 asked: lower the rate or the face limit."),
        (every(1.0, 60.0), 1.0, None),
        (every(5 / 3, 10.0), 2.0, None),  # too early to say
    ],
)
def test_rate_notice_says_when_the_computer_cannot_keep_the_asked_rate(seconds, asked_hz, text):
    notice = live_metrics.rate_notice(sample_times(seconds), T0, asked_hz)
    assert (None if notice is None else (notice.level, notice.text)) == (
        None if text is None else ("warning", text)
    )


@pytest.mark.parametrize(
    ("streak_s", "expected"),
    [
        (180.0, "Class concentration has been under 40 for 3 min."),
        (240.0, "Class concentration has been under 40 for 4 min."),
        (179.0, None),
    ],
)
def test_alert_once_the_class_stays_low_for_the_set_minutes(streak_s, expected):
    notice = live_metrics.alert_notice(streak_s, 40.0, 3.0)
    assert (notice and notice.text) == expected


@pytest.mark.parametrize(
    ("lesson_status", "engine", "ended"),
    [
        ("running", None, False),
        ("finished", None, True),
        ("source_lost", None, True),
        ("finished", status(True), False),  # our engine is still saving: wait for it to exit
        ("running", status(False), True),
    ],
)
def test_card_hands_back_when_its_lesson_has_ended(lesson_status, engine, ended):
    assert live_metrics.card_has_ended(lesson_status, engine) is ended


@pytest.mark.parametrize(
    ("engine", "level", "text"),
    [
        (
            status(False, None, "camera 0 cannot be opened"),
            "error",
            "The engine could not start: camera 0 cannot be opened",
        ),
        (
            status(False, None, None),
            "error",
            "The engine could not start: no message (see /data/engine-logs/e.log)",
        ),
        (
            status(False, 7, "lesson 7 finished: 80 samples (end of source)"),
            "info",
            "The engine has stopped (lesson 7 finished: 80 samples (end of source)).",
        ),
        (
            status(False, 7, None),  # announced, then no `finished` event: killed
            "warning",
            "The engine stopped without finishing its lesson (was it killed, or out of memory?).",
        ),
    ],
)
def test_engine_ended_notice_says_how_it_ended(engine, level, text):
    notice = live_metrics.engine_ended_notice(engine)
    assert (notice.level, notice.text) == (level, text)


@pytest.mark.parametrize(
    ("lesson_status", "level", "text"),
    [
        ("finished", "success", "Lesson “Maths” finished."),
        (
            "source_lost",
            "warning",
            "Lesson “Maths” ended early: the camera, screen or video was lost.",
        ),
        ("failed", "warning", "Lesson “Maths” ended early: the engine failed (see its log)."),
        ("interrupted", "warning", "Lesson “Maths” interrupted: the engine stopped unexpectedly."),
        ("running", "success", "Lesson “Maths” has ended."),
    ],
)
def test_finished_notice_gives_the_lessons_status_in_words(lesson_status, level, text):
    notice = live_metrics.finished_notice("Maths", lesson_status)
    assert (notice.level, notice.text) == (level, text)


def samples(*faces: int, every_s: float = 0.5) -> pd.DataFrame:
    """Samples every_s apart from T0 with these face counts."""
    return pd.DataFrame(
        {
            "ts": pd.to_datetime([T0 + timedelta(seconds=i * every_s) for i in range(len(faces))], utc=True),
            "faces_detected": list(faces),
        }
    )


@pytest.mark.parametrize(
    ("faces", "expected_s"),
    [
        ((9, 9, 9), 0.0),
        ((9,) + (0,) * 60, 30.0),  # from the last sample with faces to the newest
        ((0,) * 61, 30.0),  # none at all: from the first sample given
        ((0,) * 30 + (4,) + (0,) * 10, 5.0),
        ((0,) * 60 + (1,), 0.0),
        ((), 0.0),
    ],
)
def test_no_faces_lasts_from_the_last_sample_with_a_face_to_the_newest(faces, expected_s):
    assert live_metrics.no_faces_s(samples(*faces)) == expected_s


def test_a_screen_lesson_without_faces_for_30_s_asks_whether_the_call_window_moved():
    empty = samples(9, *(0,) * 60)
    notice = live_metrics.no_faces_notice("screen 252,152,976,556", empty)
    assert (notice.level, notice.text) == (
        "warning",
        "No faces in the selected screen region for 30 s — did the call window move?",
    )
    assert live_metrics.no_faces_notice("screen full", empty) is not None
    assert live_metrics.no_faces_notice("screen 252,152,976,556", samples(9, *(0,) * 59)) is None
    assert live_metrics.no_faces_notice("camera 0", empty) is None
    assert live_metrics.no_faces_notice("video file screen.mp4", empty) is None


def latest_rows(*rows: tuple[int, str, float, float]) -> pd.DataFrame:
    """(track_id, state, engagement, seconds after T0 of the row) per student: live_view's students."""
    return pd.DataFrame(
        {
            "track_id": [r[0] for r in rows],
            "ts": pd.to_datetime([T0 + timedelta(seconds=r[3]) for r in rows], utc=True),
            "state": [r[1] for r in rows],
            "engagement": [r[2] for r in rows],
            "expression": [None] * len(rows),
        }
    )


def last_in_view(*rows: tuple[int, float, float]) -> pd.DataFrame:
    """(track_id, seconds after T0, engagement): each student's last row in view."""
    return pd.DataFrame(
        {
            "track_id": [r[0] for r in rows],
            "ts": pd.to_datetime([T0 + timedelta(seconds=r[1]) for r in rows], utc=True),
            "engagement": [r[2] for r in rows],
        }
    )


def test_an_absent_tile_says_how_long_and_the_engagement_when_last_in_view():
    now = T0 + timedelta(seconds=300)
    latest = latest_rows((1, "attentive", 80.0, 299), (2, "absent", 4.0, 299), (3, "absent", 0.0, 299))
    seen = last_in_view((1, 299, 80.0), (2, 120, 91.2), (3, 290, 55.0))
    away = live_metrics.absences(latest, seen, now)
    assert away == {2: live_metrics.Absence(180.0, 91.2), 3: live_metrics.Absence(10.0, 55.0)}
    assert live_metrics.absent_detail(away[2]) == "absent for 3 min · last engagement 91, 3 min ago"
    assert live_metrics.absent_detail(away[3]) == "absent for 10 s · last engagement 55, 10 s ago"


def test_a_student_never_in_view_this_lesson_is_absent_without_a_last_engagement():
    away = live_metrics.absences(latest_rows((5, "absent", 0.0, 10)), last_in_view(), T0)
    assert away == {5: live_metrics.Absence(None, None)}
    assert live_metrics.absent_detail(away[5]) == "absent · not in view yet this lesson"


def test_absent_tracks_are_the_students_whose_latest_row_says_absent():
    latest = latest_rows((1, "absent", 0.0, 1), (2, "camera_off", 0.0, 1), (4, "absent", 0.0, 1))
    assert live_metrics.absent_tracks(latest) == (1, 4)
    assert live_metrics.absent_tracks(latest_rows()) == ()


@pytest.mark.parametrize(
    ("state", "engagement", "expression", "absence", "text"),
    [
        ("attentive", 72.4, "happy", None, "Engagement **72** · happy"),
        ("looking_away", 31.0, None, None, "Engagement **31**"),  # attention only: no expression
        ("camera_off", 0.0, "neutral", None, "A still picture: not counted"),
        ("absent", 0.0, None, live_metrics.Absence(125.0, 91.0),
         "absent for 2 min · last engagement 91, 2 min ago"),
    ],
)
def test_each_tile_says_its_state_in_words(state, engagement, expression, absence, text):
    assert live_metrics.tile_detail(state, engagement, expression, absence) == text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (59.4, "59 s"), (60, "1 min"), (179, "2 min"), (3600, "1 h"), (3900, "1 h 5 min")],
)
def test_durations_read_in_whole_units(seconds, words):
    assert live_metrics.duration_words(seconds) == words


def faces_found(*rows: tuple[float, int]) -> pd.DataFrame:
    """(seconds after T0, faces_detected) per sample: live_view's samples."""
    return pd.DataFrame(
        {
            "ts": pd.to_datetime([T0 + timedelta(seconds=r[0]) for r in rows], utc=True),
            "faces_detected": [r[1] for r in rows],
        }
    )


def _in_view(n: int, at_s: float, absent: int = 0) -> pd.DataFrame:
    rows = [(i + 1, "attentive", 60.0, at_s) for i in range(n)]
    rows += [(n + i + 1, "absent", 0.0, at_s) for i in range(absent)]
    return latest_rows(*rows)


@pytest.mark.parametrize(
    ("faces", "followed", "limit", "text"),
    [
        (52, 50, 50, "52 faces in view, 50 followed (the face limit): raise the face limit when you "
         "start the next lesson."),
        (12, 10, None, "12 faces in view, 10 followed (the face limit): raise the face limit when "
         "you start the next lesson."),  # a lesson started elsewhere, its limit not stored
        (50, 50, 50, None),
        (9, 7, 50, None),  # under the limit: two faces lost for another reason
    ],
)
def test_more_faces_than_the_limit_says_so(faces, followed, limit, text):
    notice = live_metrics.face_limit_notice(
        faces_found((0.0, 3), (0.5, faces)), _in_view(followed, 0.5, absent=2), limit
    )
    assert (None if notice is None else notice.text) == text


def test_the_face_limit_notice_reads_the_newest_sample_only():
    latest = _in_view(50, 1.0)
    assert live_metrics.face_limit_notice(faces_found((0.5, 52), (1.0, 50)), latest, 50) is None
    assert live_metrics.face_limit_notice(faces_found(), latest, 50) is None


@pytest.mark.parametrize(
    ("settings", "limit"),
    [({"faces": {"max_faces": 50}}, 50), ({"faces": {"max_faces": 8}}, 8), ({}, None),
     ({"faces": None}, None), (None, None)],
)
def test_the_face_limit_is_read_from_the_lessons_stored_settings(settings, limit):
    assert live_metrics.face_limit(settings) == limit
