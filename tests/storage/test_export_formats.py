"""The teacher's export columns: headers as the app names them, rounding, zoned times, "Student N"."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from storage import export_formats as fmt


@pytest.mark.parametrize(("formatter", "value", "expected"), [
    (fmt.percent, 0.766, 76.6),
    (fmt.percent, 0.12345, 12.3),
    (fmt.percent, 1.0, 100.0),
    (fmt.percent, 0.0, 0.0),
    (fmt.percent, None, None),
    (fmt.percent, math.nan, None),
    (fmt.one_decimal, 68.95134571377446, 69.0),
    (fmt.one_decimal, 41.2499, 41.2),
    (fmt.one_decimal, pd.NA, None),
    (fmt.one_decimal, 2.25, 2.3),  # halves away from zero, as a spreadsheet's ROUND
    (fmt.one_decimal, -2.25, -2.3),
    (fmt.percent, 0.0125, 1.3),
    (fmt.minutes, 754.0, 12.6),
    (fmt.minutes, 75.0, 1.3),
    (fmt.minutes, 0.0, 0.0),
    (fmt.whole, 4.0, 4),
    (fmt.student, 3, "Student 3"),
    (fmt.student, 12.0, "Student 12"),
    (fmt.text, "happy", "happy"),
    (fmt.text, None, None),
])  # fmt: skip
def test_each_formatter_writes_the_value_as_the_app_shows_it(formatter, value, expected):
    assert formatter(value) == expected


@pytest.mark.parametrize(("utc", "local"), [
    # Paris springs forward at 01:00 UTC on 29 March 2026: 02:00 local becomes 03:00.
    (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "2026-03-29T01:30:00+01:00"),
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "2026-03-29T03:30:00+02:00"),
    # ...and falls back at 01:00 UTC on 25 October 2026: 02:30 local happens twice.
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-10-25T02:30:00+02:00"),
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "2026-10-25T02:30:00+01:00"),
    (datetime(2026, 12, 1, 8, 5, 0, 250_000, tzinfo=UTC), "2026-12-01T09:05:00+01:00"),
])  # fmt: skip
def test_times_are_local_with_the_offset_of_that_moment_to_the_second(utc, local):
    shown = fmt.local_time("Europe/Paris")(pd.Timestamp(utc))
    assert isinstance(shown, datetime) and shown.isoformat() == local


@pytest.mark.parametrize(("seconds", "expected"), [
    (0.0, timedelta(0)), (15.4, timedelta(seconds=15)), (3725.6, timedelta(hours=1, minutes=2, seconds=6)),
    (None, None), (math.nan, None),
])  # fmt: skip
def test_time_into_the_lesson_is_a_whole_second_duration(seconds, expected):
    assert fmt.into_lesson(seconds) == expected


def test_an_unknown_time_zone_is_one_clear_line():
    with pytest.raises(fmt.UnknownTimezone, match=r"^unknown time zone 'Mars/Olympus'; use an IANA"):
        fmt.local_time("Mars/Olympus")


def test_the_time_header_names_the_zone_as_the_charts_do():
    assert fmt.time_header("Europe/Paris") == "Time (Europe/Paris)"


STUDENTS = pd.DataFrame({
    "track_id": [1, 4],
    "time_present_s": [754.0, 30.0],
    "mean_engagement": [68.95134571377446, 12.04],
    "share_attentive": [0.766, 0.1],
    "share_looking_away": [0.1, 0.0],
    "share_eyes_closed": [0.034, 0.0],
    "share_absent": [0.1, 0.9],
    "share_camera_off": [0.0, 0.25],
    "dominant_expression": ["happy", None],
})  # fmt: skip


def test_the_students_table_names_students_and_rounds_as_the_report_does():
    table = fmt.teacher_frame(STUDENTS, fmt.student_columns(attention_only=False))
    assert list(table.columns) == [
        "Student", "Time present (min)", "Mean engagement", "Attentive (%)", "Looking away (%)",
        "Eyes closed (%)", "Absent (%)", "Camera off (%)", "Most common expression",
    ]  # fmt: skip
    assert table.to_dict("records") == [
        {"Student": "Student 1", "Time present (min)": 12.6, "Mean engagement": 69.0,
         "Attentive (%)": 76.6, "Looking away (%)": 10.0, "Eyes closed (%)": 3.4,
         "Absent (%)": 10.0, "Camera off (%)": 0.0, "Most common expression": "happy"},
        {"Student": "Student 4", "Time present (min)": 0.5, "Mean engagement": 12.0,
         "Attentive (%)": 10.0, "Looking away (%)": 0.0, "Eyes closed (%)": 0.0,
         "Absent (%)": 90.0, "Camera off (%)": 25.0, "Most common expression": None},
    ]  # fmt: skip


def test_an_attention_only_lesson_has_no_expression_columns():
    students = [c.name for c in fmt.student_columns(attention_only=True)]
    timeline = [c.name for c in fmt.timeline_columns("UTC", 60, attention_only=True)]
    assert "Most common expression" not in students and students[-1] == "Camera off (%)"
    assert timeline == [
        "Time (UTC)", "Class concentration", "Students present", "Students counted", "Camera off",
        "Attentive (%)", "Looking away (%)", "Eyes closed (%)", "Absent (%)",
    ]  # fmt: skip


def test_the_timeline_has_the_expression_mix_as_percentages():
    frame = pd.DataFrame({
        "bucket_start": [pd.Timestamp("2026-12-01T08:05:00Z")],
        "concentration": [55.55], "students_present": [3], "students_counted": [4],
        "students_camera_off": [1],
        "share_attentive": [0.5], "share_looking_away": [0.25], "share_eyes_closed": [0.125],
        "share_absent": [0.125], "dominant_expression": ["neutral"],
        **{f"p_{name}": [0.1] for name in ("angry", "disgust", "fear", "happy", "sad", "surprise")},
        "p_neutral": [0.4],
    })  # fmt: skip
    row = fmt.teacher_frame(frame, fmt.timeline_columns("Europe/Paris", 60, attention_only=False))
    values = row.iloc[0].to_dict()
    assert values.pop("Time (Europe/Paris)").isoformat() == "2026-12-01T09:05:00+01:00"
    assert values == {
        "Class concentration": 55.6, "Students present": 3, "Students counted": 4,
        "Camera off": 1, "Attentive (%)": 50.0, "Looking away (%)": 25.0,
        "Eyes closed (%)": 12.5, "Absent (%)": 12.5, "Most common expression": "neutral",
        "Angry (%)": 10.0, "Disgust (%)": 10.0, "Fear (%)": 10.0, "Happy (%)": 10.0,
        "Sad (%)": 10.0, "Surprise (%)": 10.0, "Neutral (%)": 40.0,
    }  # fmt: skip


def test_markers_carry_the_time_into_the_lesson_and_the_concentration_either_side():
    frame = pd.DataFrame({
        "marker_id": [7, 8], "ts": [pd.Timestamp("2026-12-01T08:10:00Z"), pd.Timestamp("2026-12-01T08:00:00Z")],
        "label": ["quiz", "start"], "concentration_before": [61.26, math.nan],
        "concentration_after": [40.04, 55.0], "before_s": [300.0, 0.0], "after_s": [126.0, 300.0],
        "into_s": [600.0, 0.0],
    })  # fmt: skip
    table = fmt.teacher_frame(frame, fmt.marker_columns("Europe/Paris"))
    times = [t.isoformat() for t in table.pop("Time (Europe/Paris)")]
    assert times == ["2026-12-01T09:10:00+01:00", "2026-12-01T09:00:00+01:00"]
    assert table.to_dict("records") == [
        {"Into the lesson": timedelta(minutes=10), "Label": "quiz",
         "Concentration before (up to 5 min)": 61.3, "Concentration after (up to 5 min)": 40.0,
         "Minutes before": 5.0, "Minutes after": 2.1},
        {"Into the lesson": timedelta(0), "Label": "start",
         "Concentration before (up to 5 min)": None, "Concentration after (up to 5 min)": 55.0,
         "Minutes before": 0.0, "Minutes after": 5.0},
    ]  # fmt: skip


def test_an_empty_frame_gives_the_headers_and_no_rows():
    empty = pd.DataFrame(columns=["marker_id", "ts", "label", "concentration_before",
                                  "concentration_after", "before_s", "after_s", "into_s"])  # fmt: skip
    table = fmt.teacher_frame(empty, fmt.marker_columns("UTC"))
    assert table.empty and list(table.columns)[1:] == [
        "Into the lesson", "Label", "Concentration before (up to 5 min)",
        "Concentration after (up to 5 min)", "Minutes before", "Minutes after",
    ]  # fmt: skip


def test_a_frame_without_a_source_column_is_refused_by_name():
    with pytest.raises(KeyError, match="share_camera_off"):
        fmt.teacher_frame(STUDENTS.drop(columns=["share_camera_off"]), fmt.student_columns(attention_only=True))


def test_the_readme_names_the_lesson_zone_anonymity_exclusions_and_every_column():
    lesson = {"title": "Fractions", "group_name": "7A", "status": "finished",
              "started_at": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
              "ended_at": datetime(2026, 12, 1, 8, 45, tzinfo=UTC), "attention_only": True}  # fmt: skip
    columns = fmt.student_columns(attention_only=True)
    rows = dict(fmt.readme_rows(lesson, "Europe/Paris", {"Students": columns}, excluded=[7, 9]))
    assert rows["Lesson"] == "Fractions" and rows["Class"] == "7A"
    assert rows["Started"] == "2026-12-01T09:00:00+01:00"
    assert rows["Ended"] == "2026-12-01T09:45:00+01:00"
    assert rows["Time zone"].startswith("Europe/Paris")
    assert "in this lesson only" in rows["Students"]
    assert rows["Not students"] == "Marked not a student and left out of every sheet: Student 7, Student 9."
    assert "UTC" in rows["Raw data"] and "Attention only" in rows
    assert rows["Camera off (%)"].startswith("Share of all the student's samples")
    assert all(rows[c.name] == c.meaning for c in columns)
