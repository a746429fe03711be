"""The Lessons page against a seeded database: list, filters, one lesson's report, delete."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard import report
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
    bucket_s = report.bucket_for(float(row["duration_s"]))
    assert bucket_s == 30.0  # a 15-minute lesson
    lows = report.meaningful_lows(
        queries.lesson_timeline(engine, seeded_db.lesson, bucket_s, viewer=EVERYONE),
        queries.low_moments(engine, seeded_db.lesson, bucket_s, 3, viewer=EVERYONE),
    )
    assert not lows.empty
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


@pytest.mark.parametrize(
    ("duration_s", "bucket_s"),
    [(60, 10.0), (130, 10.0), (600, 10.0), (601, 30.0), (1800, 30.0), (3600, 60.0), (7200, 60.0),
     (3 * 3600, 180.0), (10 * 3600, 600.0)],
)
def test_timeline_bucket_follows_the_lessons_length(duration_s: float, bucket_s: float) -> None:
    assert report.bucket_for(duration_s) == bucket_s
    assert bucket_s % 10 == 0  # always served by the 10 s rollups


def _concentration(values: list[float]):
    import pandas as pd

    return pd.DataFrame({"bucket_start": range(len(values)), "concentration": values})


@pytest.mark.parametrize(
    ("values", "lows", "kept"),
    [
        ([60, 20], [20, 60], []),  # a two-point lesson: no "lowest moments"
        ([60, 62, 58, 61, 59, 60], [58, 59, 60], []),  # nothing stands out
        ([60, 62, 30, 61, 59, 60], [30, 59, 60], [30]),
        ([70, 40, 45, 70, 72, 71, 69], [40, 45, 69], [40, 45]),
    ],
)
def test_lowest_moments_are_shown_only_where_they_stand_out(values, lows, kept) -> None:
    shown = report.meaningful_lows(_concentration(values), _concentration(lows))
    assert list(shown["concentration"]) == kept


def test_a_lesson_title_is_shown_as_typed_not_as_markdown() -> None:
    assert report.markdown_text("[quiz](https://evil.example) *now*") == (
        "\\[quiz\\]\\(https\\://evil\\.example\\) \\*now\\*"
    )


def test_lessons_page_opens_on_a_lesson_recorded_since_it_was_last_shown(app, own_db) -> None:
    from dashboard import loaders
    from storage.synthetic import seed_lesson

    at = app(own_db.url, "lessons", lessons_selected=own_db.earlier)
    assert at.session_state["lessons_selected"] == own_db.earlier
    newer = seed_lesson(open_database(own_db.url), students=3, hours=0.01, seed=9, title="Just finished",
                        group_name="7A")
    loaders.clear_caches()
    at.run()
    assert at.session_state["lessons_selected"] == newer
    assert at.header[0].value == "Just finished"
    at.run()  # and it stays there: the teacher's next choice is not overridden
    assert at.session_state["lessons_selected"] == newer


def test_a_lesson_still_recording_offers_no_delete(app, own_db):
    from storage.lessons import LessonSpec, create_lesson, engine_owner

    spec = LessonSpec("Recording", "9B", T_FIRST, settings={"engine": engine_owner()})
    lesson_id = create_lesson(open_database(own_db.url), spec)
    at = app(own_db.url, "lessons", lessons_selected=lesson_id)
    assert f"Lesson {lesson_id} is still recording; stop it first." in [c.value for c in at.caption]
    assert "Delete lesson" not in [b.label for b in at.button]


def test_the_students_table_fits_the_page_with_short_labels_and_full_headers_as_tooltips(
    app, seeded_db
):
    import json

    at = app(seeded_db.url, "lessons", lessons_selected=seeded_db.lesson)
    shown = next(f for f in at.dataframe if "Most common expression" in f.value.columns)
    config = json.loads(shown.proto.columns)
    for name, short in report.SHORT_HEADERS.items():
        if name in shown.value.columns:
            assert (config[name]["label"], config[name]["help"]) == (short, name)
    # Sized to their labels, nine columns stay within a laptop's content column (about 820 px
    # at 1280 px: measured in Chromium, 7 px a character and 16 px of padding at most).
    labels = [config.get(c, {}).get("label", c) for c in shown.value.columns]
    cells = [max(len(str(v)) for v in shown.value[c]) for c in shown.value.columns]
    assert sum(max(len(label), cell) * 7 + 16 for label, cell in zip(labels, cells, strict=True)) < 820
