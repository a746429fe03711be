"""Read queries on a hand-built lesson whose numbers are known, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from storage import queries
from storage.lessons import LessonSpec, create_lesson, finish_lesson
from storage.records import AttentionState
from storage.viewers import Viewer
from storage.writes import write_samples
from tests.storage.conftest import T0, make_sample

EVERYONE = Viewer.everyone()

A = AttentionState


@pytest.fixture
def lesson(engine) -> int:
    """20 s at 1 Hz: student 1 attentive at 80 throughout; student 2 looking away at 40, then absent."""
    lesson_id = create_lesson(engine, LessonSpec("Physics", "9A", T0, sample_rate_hz=1.0))
    samples = [
        make_sample(
            s, {1: (A.ATTENTIVE, 80.0), 2: (A.LOOKING_AWAY, 40.0) if s < 10 else (A.ABSENT, 0.0)}
        )
        for s in range(20)
    ]
    write_samples(engine, lesson_id, samples[:7])  # two batches, split inside a bucket
    write_samples(engine, lesson_id, samples[7:])
    finish_lesson(engine, lesson_id, ended_at=T0 + timedelta(seconds=20))
    return lesson_id


@pytest.mark.parametrize("bucket_s", [10.0, 5.0], ids=["rollups", "raw-rows"])
def test_timeline_concentration_is_mean_of_students_means_with_absent_as_zero(
    engine, lesson, bucket_s
):
    frame = queries.lesson_timeline(engine, lesson, bucket_s, viewer=EVERYONE)
    per_10s = 10 / bucket_s
    assert len(frame) == 2 * per_10s
    assert list(frame["concentration"]) == pytest.approx(
        [60.0] * int(per_10s) + [40.0] * int(per_10s)
    )
    assert frame["bucket_start"].iloc[0] == pd.Timestamp(T0)
    assert str(frame["bucket_start"].dt.tz) == "UTC"
    first, last = frame.iloc[0], frame.iloc[-1]
    assert (
        first["share_attentive"],
        first["share_looking_away"],
        first["share_absent"],
    ) == pytest.approx((0.5, 0.5, 0.0))
    assert (last["share_attentive"], last["share_absent"]) == pytest.approx((0.5, 0.5))
    assert (first["students_present"], last["students_present"], last["students_counted"]) == (2, 1, 2)
    assert (first["students_camera_off"], last["students_camera_off"]) == (0, 0)
    assert first["p_happy"] == pytest.approx(0.4) and first["p_sad"] == pytest.approx(0.1)
    assert first["count_happy"] == 2 * bucket_s and first["dominant_expression"] == "happy"


def test_rollup_and_raw_paths_agree_on_every_column(engine, lesson):
    via_rollups = queries.lesson_timeline(engine, lesson, 10.0, viewer=EVERYONE)
    via_rows = queries.timeline_frame(
        engine, queries.timeline_select(lesson, 10.0, from_rows=True, viewer=EVERYONE)
    )
    assert len(via_rollups) == len(via_rows) == 2
    assert list(via_rollups.columns) == list(via_rows.columns)
    numeric = [c for c in via_rollups.columns if c not in ("bucket_start", "dominant_expression")]
    assert via_rollups[numeric].to_numpy(float) == pytest.approx(via_rows[numeric].to_numpy(float))


def test_student_summary_gives_presence_engagement_shares_and_dominant_expression(engine, lesson):
    frame = queries.student_summary(engine, lesson, viewer=EVERYONE).set_index("track_id")
    assert list(frame.columns) == list(queries.STUDENT_SUMMARY_COLUMNS[1:])
    assert frame.loc[1, "time_present_s"] == 20.0 and frame.loc[2, "time_present_s"] == 10.0
    assert frame.loc[1, "mean_engagement"] == pytest.approx(80.0)
    assert frame.loc[2, "mean_engagement"] == pytest.approx(20.0)
    assert frame.loc[1, "share_attentive"] == 1.0
    assert (frame.loc[2, "share_looking_away"], frame.loc[2, "share_absent"]) == (0.5, 0.5)
    assert list(frame["dominant_expression"]) == ["happy", "happy"]


def test_lessons_summary_has_duration_students_and_concentration(engine, lesson):
    other = create_lesson(engine, LessonSpec("Art", "9B", T0 + timedelta(days=1)))
    frame = queries.lessons_summary(engine, viewer=EVERYONE)
    assert list(frame.columns) == list(queries.LESSON_SUMMARY_COLUMNS)
    assert list(frame["id"]) == [other, lesson]
    row = frame.set_index("id").loc[lesson]
    assert (row["title"], row["group_name"], row["status"]) == ("Physics", "9A", "finished")
    assert row["duration_s"] == 20.0 and row["students_seen"] == 2
    assert row["mean_concentration"] == pytest.approx((20 * 80 + 10 * 40) / 40)
    assert row["share_attentive"] == pytest.approx(0.5)
    assert row["ended_at"] == pd.Timestamp(T0 + timedelta(seconds=20))
    empty = frame.set_index("id").loc[other]
    assert empty["students_seen"] == 0 and pd.isna(empty["mean_concentration"])


def test_lessons_summary_filters_by_group_and_time(engine, lesson):
    create_lesson(engine, LessonSpec("Art", "9B", T0 + timedelta(days=1)))
    assert list(queries.lessons_summary(engine, group="9A", viewer=EVERYONE)["id"]) == [lesson]
    later = queries.lessons_summary(engine, since=T0 + timedelta(hours=1), viewer=EVERYONE)
    assert later["title"].tolist() == ["Art"]
    earlier = queries.lessons_summary(engine, until=T0 + timedelta(hours=1), viewer=EVERYONE)
    assert earlier["title"].tolist() == ["Physics"]
    assert queries.lessons_summary(engine, group="nobody", viewer=EVERYONE).empty


def test_running_lesson_duration_runs_to_its_last_sample(engine):
    lesson_id = create_lesson(engine, LessonSpec("Live", "9C", T0))
    write_samples(engine, lesson_id, [make_sample(s, {1: (A.ATTENTIVE, 50.0)}) for s in (0, 30)])
    row = queries.lessons_summary(engine, group="9C", viewer=EVERYONE).iloc[0]
    assert row["status"] == "running" and row["duration_s"] == 30.0
    assert row["mean_concentration"] == pytest.approx(50.0)


def test_low_moments_returns_the_lowest_buckets_first(engine, lesson):
    frame = queries.low_moments(engine, lesson, 10.0, n=1, viewer=EVERYONE)
    assert len(frame) == 1
    assert frame.iloc[0]["bucket_start"] == pd.Timestamp(T0 + timedelta(seconds=10))
    assert frame.iloc[0]["concentration"] == pytest.approx(40.0)


def test_live_view_shows_latest_states_window_concentration_and_trend(engine, lesson):
    view = queries.live_view(
        engine,
        lesson,
        viewer=EVERYONE,
        window_s=5,
        now=T0 + timedelta(seconds=19),
        trend_s=20,
        trend_bucket_s=10,
    )
    students = view.students.set_index("track_id")
    assert list(students["state"]) == ["attentive", "absent"]
    assert (students["ts"] == pd.Timestamp(T0 + timedelta(seconds=19))).all()
    assert students.loc[1, "expression"] == "happy" and students.loc[1, "engagement"] == 80.0
    assert view.concentration == pytest.approx(40.0)
    assert list(view.trend["concentration"]) == pytest.approx([60.0, 40.0])
    trends = view.student_trends
    assert list(trends["track_id"]) == [1, 1, 2, 2]
    assert list(trends["engagement"]) == pytest.approx([80.0, 80.0, 40.0, 0.0])  # absent scored 0
    assert list(trends["bucket_start"][:2]) == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(seconds=10))]


@pytest.mark.parametrize("bucket_s", [10.0, 5.0], ids=["rollups", "raw-rows"])
def test_student_trends_are_each_students_mean_engagement_per_bucket(engine, lesson, bucket_s):
    frame = queries.student_trends(
        engine,
        lesson,
        bucket_s,
        viewer=EVERYONE,
        since=T0 + timedelta(seconds=5),
        until=T0 + timedelta(seconds=14),
    )
    # The whole buckets overlapping [5 s, 14 s]: [0, 10) and [10, 20), or [5, 10) and [10, 15).
    per_student = frame.groupby("track_id")["engagement"].apply(list).to_dict()
    assert per_student == {1: pytest.approx([80.0, 80.0]), 2: pytest.approx([40.0, 0.0])}
    first = T0 + timedelta(seconds=10 - bucket_s)
    assert list(frame["bucket_start"][:2]) == [pd.Timestamp(first), pd.Timestamp(T0 + timedelta(seconds=10))]
    assert str(frame["bucket_start"].dt.tz) == "UTC"


def test_live_view_lists_the_last_samples_with_their_face_counts_empty_frames_included(engine):
    lesson_id = create_lesson(engine, LessonSpec("Screen", "9A", T0, sample_rate_hz=1.0))
    seen = {1: (A.ATTENTIVE, 80.0)}
    write_samples(engine, lesson_id, [make_sample(s, seen if s < 3 else {}) for s in range(8)])
    view = queries.live_view(
        engine, lesson_id, viewer=EVERYONE, window_s=5, now=T0 + timedelta(seconds=6), samples_s=4
    )
    samples = view.samples
    assert list(samples.columns) == ["ts", "faces_detected", "stream"]
    assert set(samples["stream"]) == {0} and view.stream_starts == {0: T0}  # the engine's stream
    assert list(samples["ts"]) == [pd.Timestamp(T0 + timedelta(seconds=s)) for s in (3, 4, 5, 6)]
    assert str(samples["ts"].dt.tz) == "UTC"
    assert list(samples["faces_detected"]) == [0, 0, 0, 0]
    earlier = queries.live_view(engine, lesson_id, viewer=EVERYONE, window_s=5,
                                now=T0 + timedelta(seconds=3))
    assert list(earlier.samples["faces_detected"]) == [1, 1, 1, 0]


@pytest.mark.parametrize(
    ("gap_s", "samples", "expected_s"),
    [
        (0.5, 120, 60.0),  # the asked 2 Hz kept: 120 samples are a minute
        (2.0, 30, 60.0),  # a machine that managed 0.5 of the 2 asked: 30 samples are still a minute
        (1.0, 1, 0.5),  # one sample stands for one period
    ],
)
def test_time_present_follows_the_clock_when_the_machine_managed_fewer_samples_than_asked(
    engine, gap_s, samples, expected_s
):
    lesson_id = create_lesson(engine, LessonSpec("Busy", "9A", T0, sample_rate_hz=2.0))
    rows = [make_sample(i * gap_s, {1: (A.ATTENTIVE, 70.0)}) for i in range(samples)]
    write_samples(engine, lesson_id, rows)
    frame = queries.student_summary(engine, lesson_id, viewer=EVERYONE)
    assert frame["time_present_s"].tolist() == [pytest.approx(expected_s)]


def test_live_view_holds_the_times_of_the_samples_of_its_last_minute(engine, lesson):
    view = queries.live_view(engine, lesson, viewer=EVERYONE, window_s=5,
                             now=T0 + timedelta(seconds=12), samples_s=6)
    assert list(view.sample_times) == [pd.Timestamp(T0 + timedelta(seconds=s)) for s in range(7, 13)]
    assert str(view.sample_times.dt.tz) == "UTC"


def test_live_view_at_an_earlier_moment_ignores_later_rows(engine, lesson):
    view = queries.live_view(
        engine, lesson, viewer=EVERYONE, window_s=3, now=T0 + timedelta(seconds=5)
    )
    assert list(view.students["state"]) == ["attentive", "looking_away"]
    assert view.concentration == pytest.approx(60.0)


def test_live_view_of_an_empty_lesson_has_no_students_and_no_concentration(engine):
    lesson_id = create_lesson(engine, LessonSpec("Empty", "9A", T0))
    view = queries.live_view(engine, lesson_id, window_s=30, now=T0, viewer=EVERYONE)
    assert view.students.empty and view.concentration is None and view.trend.empty
    assert view.student_trends.empty and view.samples.empty and view.sample_times.empty


def test_previous_lessons_are_earlier_lessons_of_the_same_class(engine, lesson):
    earlier = [
        create_lesson(engine, LessonSpec(f"P{d}", "9A", T0 - timedelta(days=d))) for d in (1, 2, 3)
    ]
    create_lesson(engine, LessonSpec("other class", "9B", T0 - timedelta(days=1)))
    create_lesson(engine, LessonSpec("later", "9A", T0 + timedelta(days=1)))
    frame = queries.previous_lessons(engine, lesson, limit=2, viewer=EVERYONE)
    assert list(frame["id"]) == earlier[:2]
    assert "mean_concentration" in frame.columns
