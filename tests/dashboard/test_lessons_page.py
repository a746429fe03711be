"""The Lessons page against a seeded database: list, filters, one lesson's report, delete."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import queries
from storage.db import open_database
from storage.viewers import Viewer
from tests.dashboard.conftest import T_FIRST, chart_titles, table_with

EVERYONE = Viewer.everyone()


def test_lists_every_lesson_with_class_and_mean_concentration(app, seeded_db):
    at = app(seeded_db.url, "lessons")
    table = table_with(at, "Lesson")
    expected = queries.lessons_summary(open_database(seeded_db.url), viewer=EVERYONE)
    assert list(table["Lesson"]) == list(expected["title"])
    assert list(table["Class"]) == list(expected["group_name"])
    assert list(table["Mean concentration"]) == pytest.approx(
        list(expected["mean_concentration"].round(1)), nan_ok=True
    )
    assert list(table["Students"]) == list(expected["students_seen"])


def test_class_filter_keeps_that_class_only(app, seeded_db):
    at = app(seeded_db.url, "lessons")
    at.selectbox(key="lessons_class").set_value("7A").run()
    table = table_with(at, "Lesson")
    assert set(table["Class"]) == {"7A"}
    assert list(table["Lesson"]) == ["Fractions II", "Fractions I"]


def test_date_filter_keeps_lessons_started_those_days(app, seeded_db):
    at = app(seeded_db.url, "lessons")
    at.date_input(key="lessons_dates").set_value((T_FIRST.date(), T_FIRST.date())).run()
    assert set(table_with(at, "Lesson")["Lesson"]) == {"Fractions II", "Reading"}


def test_report_shows_storage_figures_for_the_lesson(app, seeded_db):
    at = app(seeded_db.url, "lessons", lessons_selected=seeded_db.lesson)
    engine = open_database(seeded_db.url)
    summary = queries.lessons_summary(engine, viewer=EVERYONE)
    row = summary[summary["id"] == seeded_db.lesson].iloc[0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean concentration"] == f"{row['mean_concentration']:.1f}"
    assert metrics["Students"] == "6"
    assert metrics["Duration"] == "15 min 00 s"
    assert metrics["Class"] == "7A"
    lows = queries.low_moments(engine, seeded_db.lesson, 60.0, 3, viewer=EVERYONE)
    low_table = table_with(at, "Time")
    assert list(low_table["Time"]) == [t.strftime("%H:%M") for t in lows["bucket_start"]]
    assert list(low_table["Class concentration"]) == pytest.approx(
        list(lows["concentration"].round(1))
    )
    students = table_with(at, "Student")
    assert list(students["Student"]) == [f"Student {i}" for i in range(1, 7)]


def test_report_draws_timeline_expressions_states_and_comparison(app, seeded_db):
    at = app(seeded_db.url, "lessons", lessons_selected=seeded_db.lesson)
    titles = [t for t in chart_titles(at)]
    assert "Class concentration over the lesson" in titles
    assert "Expressions over the whole lesson" in titles
    assert "Expression mix over time" in titles
    assert "Attention states over time" in titles
    assert any(t.startswith("This lesson (blue) against") for t in titles)


def test_attention_only_lesson_has_no_expression_chart(app, seeded_db):
    at = app(seeded_db.url, "lessons", lessons_selected=seeded_db.attention_only)
    titles = [t for t in chart_titles(at)]
    assert "Class concentration over the lesson" in titles
    assert not [t for t in titles if "xpression" in t]
    assert any("Attention-only lesson" in i.value for i in at.info)
    assert "Most common expression" not in table_with(at, "Student").columns


def test_delete_needs_confirmation_then_removes_the_lesson(app, own_db):
    at = app(own_db.url, "lessons", lessons_selected=own_db.earlier)
    assert at.button(key="lessons_delete").disabled
    at.checkbox(key=f"lessons_confirm_{own_db.earlier}").check().run()
    at.button(key="lessons_delete").click().run()
    assert not at.exception
    assert any("deleted" in s.value for s in at.success)
    from storage.lessons import get_lesson

    assert get_lesson(open_database(own_db.url), own_db.earlier) is None
    assert "Fractions I" not in list(table_with(at, "Lesson")["Lesson"])


def test_times_follow_the_teacher_time_zone(app, seeded_db, monkeypatch):
    monkeypatch.setenv("CLASSPULSE_TIMEZONE", "Europe/Berlin")
    at = app(seeded_db.url, "lessons", lessons_selected=seeded_db.lesson)
    metrics = {m.label: m.value for m in at.metric}
    local = (T_FIRST + timedelta(hours=1)).strftime("%d %b %Y %H:%M")  # CET = UTC+1 in January
    assert metrics["Started"] == local


def test_retention_period_is_applied_when_the_app_opens_the_database(app, own_db, monkeypatch):
    from datetime import UTC, datetime

    from storage.lessons import get_lesson

    # Keep lessons up to 3 days older than the seeded "Fractions II"; "Fractions I" is 7 days older.
    days = (datetime.now(UTC) - T_FIRST).total_seconds() / 86400 + 3
    monkeypatch.setenv("CLASSPULSE_RETENTION_DAYS", f"{days:.4f}")
    at = app(own_db.url, "lessons")
    engine = open_database(own_db.url)
    assert get_lesson(engine, own_db.earlier) is None
    assert get_lesson(engine, own_db.lesson) is not None
    assert "Fractions I" not in list(table_with(at, "Lesson")["Lesson"])


def test_lesson_list_shows_each_status_in_the_teachers_words(app, seeded_db):
    at = app(seeded_db.url, "lessons")
    statuses = dict(zip(*(table_with(at, "Lesson")[c] for c in ("Lesson", "Status")), strict=True))
    assert statuses == {
        "Live physics": "recording",
        "Reading": "finished",
        "Fractions II": "finished",
        "Fractions I": "finished",
    }


def test_report_of_a_finished_lesson_shows_its_status_quietly(app, seeded_db):
    at = app(seeded_db.url, "lessons", lessons_selected=seeded_db.lesson)
    assert "Status: finished" in [c.value for c in at.caption]
    assert not at.warning


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("source_lost", "ended early: the camera, screen or video was lost"),
        ("failed", "ended early: the engine failed (see its log)"),
        ("interrupted", "interrupted: the engine stopped unexpectedly"),
    ],
)
def test_a_lesson_that_ended_early_says_so_in_the_list_and_its_report(app, own_db, status, words):
    from storage.lessons import finish_lesson

    finish_lesson(open_database(own_db.url), own_db.earlier, status)
    at = app(own_db.url, "lessons", lessons_selected=own_db.earlier)
    table = table_with(at, "Lesson")
    assert dict(zip(table["Lesson"], table["Status"], strict=True))["Fractions I"] == words
    assert status not in set(table["Status"])  # never the stored word
    assert [w.value for w in at.warning] == [f"Status: {words}"]
