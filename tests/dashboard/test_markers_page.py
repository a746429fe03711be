"""Lesson markers on the pages: marked live, listed in the report with the concentration around each,
added afterwards at a time into the lesson (refused in words outside it), removed, and drawn."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from dashboard import marker_chart, report
from storage.db import open_database
from storage.markers import add_marker, lesson_markers, marker_context
from storage.viewers import Viewer
from tests.dashboard.conftest import LIVE_NOW, T_FIRST, table_with

EVERYONE = Viewer.everyone()


def _markers(url: str, lesson_id: int) -> list[tuple[pd.Timestamp, str]]:
    frame = lesson_markers(open_database(url), lesson_id, viewer=EVERYONE)
    return list(zip(frame["ts"], frame["label"], strict=True))


LIVE_TREND = "Class concentration, "  # "... lesson so far" or "... last 10 minutes"


def _drawn_markers(at, title: str) -> list[str]:
    """The marker labels drawn on the page's chart whose title starts with `title` (one line drawn
    per label)."""
    for element in at.get("plotly_chart"):
        layout = json.loads(element.proto.spec)["layout"]
        if layout.get("title", {}).get("text", "").startswith(title):
            lines = [s for s in layout.get("shapes", []) if s.get("name") == marker_chart.MARKER_NAME]
            labels = [a["text"] for a in layout.get("annotations", [])
                      if a.get("name") == marker_chart.MARKER_NAME]
            assert len(lines) == len(labels)
            return labels
    raise AssertionError(f"no chart titled {title!r}")


def _mark(url: str, lesson_id: int, minutes: float, label: str) -> None:
    at = T_FIRST + timedelta(minutes=minutes)
    add_marker(open_database(url), lesson_id, at, label, viewer=EVERYONE, created_at=at)


# --- live ---------------------------------------------------------------------------------------


def test_mark_this_moment_stores_a_marker_now_and_draws_it_on_the_live_trend(app, own_db):
    at = app(own_db.url, "live")
    assert _drawn_markers(at, LIVE_TREND) == []
    at.text_input(key="live_marker_label").input("Group quiz").run()
    at.button(key="live_mark").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert _markers(own_db.url, own_db.running) == [(pd.Timestamp(LIVE_NOW), "Group quiz")]
    assert [t.proto.body for t in at.toast] == ["Marked 09:04:00: Group quiz"]
    assert at.text_input(key="live_marker_label").value == ""  # ready for the next one
    assert _drawn_markers(at, LIVE_TREND) == ["Group quiz"]
    at.run()  # the next refresh: the confirmation has cleared, the marker stays drawn
    assert not at.toast
    assert _drawn_markers(at, LIVE_TREND) == ["Group quiz"]


def test_a_one_click_label_marks_the_moment_and_keeps_what_was_typed(app, own_db):
    at = app(own_db.url, "live")
    at.text_input(key="live_marker_label").input("half typed").run()
    at.button(key="live_mark_group_work").click().run()
    assert _markers(own_db.url, own_db.running) == [(pd.Timestamp(LIVE_NOW), "group work")]
    assert at.text_input(key="live_marker_label").value == "half typed"
    assert _drawn_markers(at, LIVE_TREND) == ["group work"]


# --- report -------------------------------------------------------------------------------------


def test_the_report_lists_each_marker_with_the_concentration_before_and_after(app, own_db):
    _mark(own_db.url, own_db.lesson, 0, "start")
    _mark(own_db.url, own_db.lesson, 6, "quiz")
    at = app(own_db.url, "lessons", lessons_selected=own_db.lesson)
    expected = marker_context(open_database(own_db.url), own_db.lesson, viewer=EVERYONE)
    table = table_with(at, "Label")
    assert list(table["Time"]) == ["08:00:00", "08:06:00"]
    assert list(table["Into the lesson"]) == ["0:00", "6:00"]
    assert list(table["Label"]) == ["start", "quiz"]
    before, after = expected["concentration_before"], expected["concentration_after"]
    assert list(table[report.MARKER_BEFORE]) == ["–", f"{before.iloc[1]:.1f}"]  # nothing before 0:00
    assert list(table[report.MARKER_AFTER]) == [f"{v:.1f}" for v in after]
    assert report.MARKER_BEFORE == "Class concentration before (up to 5 min)"
    assert list(table[report.MARKER_SPAN]) == ["0:00 · 5:00", "5:00 · 5:00"]  # what each side covered
    for title in ("Class concentration over the lesson", "Attention states over time",
                  "Expression mix over time"):
        assert _drawn_markers(at, title) == ["start", "quiz"]


def test_marker_times_in_the_report_follow_the_teacher_time_zone(app, own_db, monkeypatch):
    monkeypatch.setenv("CLASSPULSE_TIMEZONE", "Europe/Berlin")
    _mark(own_db.url, own_db.lesson, 6, "quiz")
    at = app(own_db.url, "lessons", lessons_selected=own_db.lesson)
    assert list(table_with(at, "Label")["Time"]) == ["09:06:00"]  # CET = UTC+1 in January


def test_a_lesson_without_markers_says_how_to_add_them(app, own_db):
    at = app(own_db.url, "lessons", lessons_selected=own_db.lesson)
    assert report.NO_MARKERS in [c.value for c in at.caption]
    assert "Label" not in {c for f in at.dataframe for c in f.value.columns}


def test_a_marker_added_from_the_report_is_stored_listed_and_drawn(app, own_db):
    at = app(own_db.url, "lessons", lessons_selected=own_db.lesson)
    at.text_input(key="lessons_marker_time").input("5:30")  # a form: sent on submit
    at.text_input(key="lessons_marker_label").input("group work")
    at.button(key="lessons_marker_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert _markers(own_db.url, own_db.lesson) == [
        (pd.Timestamp(T_FIRST + timedelta(minutes=5, seconds=30)), "group work")
    ]
    assert [s.value for s in at.success] == ["Marker “group work” added at 08:05:30."]
    assert list(table_with(at, "Label")["Into the lesson"]) == ["5:30"]
    assert _drawn_markers(at, "Class concentration over the lesson") == ["group work"]
    assert at.text_input(key="lessons_marker_time").value == ""


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("20:00", "20:00 is outside this lesson: type a time from 0:00 to 15:00."),
        ("-1:00", "-1:00 is outside this lesson: type a time from 0:00 to 15:00."),
        ("quiz", "“quiz” is not a time into the lesson: type minutes:seconds, e.g. 12:30."),
    ],
)
def test_a_time_outside_the_lesson_is_refused_in_words_keeping_what_was_typed(
    app, own_db, typed, words
):
    at = app(own_db.url, "lessons", lessons_selected=own_db.lesson)
    at.text_input(key="lessons_marker_time").input(typed)
    at.text_input(key="lessons_marker_label").input("late quiz")
    at.button(key="lessons_marker_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [report.markdown_text(words)]
    assert _markers(own_db.url, own_db.lesson) == []
    assert at.text_input(key="lessons_marker_time").value == typed
    assert at.text_input(key="lessons_marker_label").value == "late quiz"


def test_a_marker_can_be_removed_from_the_report(app, own_db):
    _mark(own_db.url, own_db.lesson, 2, "quiz")
    _mark(own_db.url, own_db.lesson, 9, "break")
    at = app(own_db.url, "lessons", lessons_selected=own_db.lesson)
    choice = at.selectbox(key="lessons_marker_choice")
    assert choice.options == ["08:02:00 · quiz", "08:09:00 · break"]
    choice.select_index(1).run()
    at.button(key="lessons_marker_remove").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [label for _, label in _markers(own_db.url, own_db.lesson)] == ["quiz"]
    assert list(table_with(at, "Label")["Label"]) == ["quiz"]
    assert at.selectbox(key="lessons_marker_choice").options == ["08:02:00 · quiz"]
    assert [s.value for s in at.success] == [report.markdown_text("Marker 08:09:00 · break removed.")]


def test_the_html_report_lists_the_markers(own_db):
    _mark(own_db.url, own_db.lesson, 6, "<b>quiz</b>")
    data = report.load_report(own_db.url, EVERYONE, own_db.lesson)
    html = report.report_html(data, "UTC", 40.0, LIVE_NOW)
    assert "<h2>Markers</h2>" in html
    assert "&lt;b&gt;quiz&lt;/b&gt;" in html and "<b>quiz</b>" not in html


# --- the typed time ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "seconds"),
    [("12:30", 750.0), (" 0:05 ", 5.0), ("12", 720.0), ("1:02:30", 3750.0), ("90:00", 5400.0)],
)
def test_a_time_into_the_lesson_is_read_as_minutes_and_seconds(typed, seconds) -> None:
    assert report.time_into_lesson(typed) == seconds


@pytest.mark.parametrize("typed", ["", "12:75", "1:2:3:4", "12.5", "ten"])
def test_a_time_that_is_not_minutes_and_seconds_is_refused_in_words(typed) -> None:
    with pytest.raises(ValueError, match="is not a time into the lesson"):
        report.time_into_lesson(typed)


def test_the_last_second_of_a_lesson_can_be_marked_and_the_next_cannot() -> None:
    assert report.marker_moment(T_FIRST, "15:00", 900.0) == T_FIRST + timedelta(minutes=15)
    with pytest.raises(ValueError, match=r"^15:01 is outside this lesson: type a time from 0:00 to 15:00\.$"):
        report.marker_moment(T_FIRST, "15:01", 900.0)
