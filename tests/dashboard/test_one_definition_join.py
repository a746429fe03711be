"""One definition per figure, for a lesson students join from their browser: written through the
real ingest, with a student in view, one whose page sends no face (absent), one who went silent and
one the teacher removed, every view agrees on the class concentration and on who is present and
counted — the Live headline, the live trend, the report's timeline, summary and students table, the
markers and every export — and samples per second are counted per student, on SQLite and, when
available, PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard import report
from storage import measures, queries
from storage.db import open_database
from storage.markers import add_marker, marker_context
from storage.viewers import Viewer
from tests.dashboard.conftest import table_with
from tests.dashboard.joined_lesson import (
    FACE,
    NO_FACE,
    REMOVED,
    SECONDS,
    SILENT,
    write_joined_lesson,
)
from tests.dashboard.test_one_definition import _csv, _sheet, _shown
from tests.storage.awkward_lesson import expected
from tests.storage.conftest import T0, db_url, pg_schema_url  # noqa: F401  (the fixtures)

EVERYONE = Viewer.everyone()
END = T0 + timedelta(seconds=SECONDS)
LAST_10_S = (END - timedelta(seconds=10), END)
PAGE_NOW = END - timedelta(seconds=1.5)  # its refresh tick ends at END: the card reads [END-10, END)
MARKER_AT = T0 + timedelta(seconds=15)
FIGURES = ("concentration", "students_present", "students_counted", "students_camera_off")


@pytest.fixture
def lesson(db_url, monkeypatch):  # noqa: F811
    """The join lesson, stored through ingest, with one marker; the pages' clock just before its end."""
    engine = open_database(db_url)
    joined = write_joined_lesson(engine, T0)
    add_marker(engine, joined.lesson_id, MARKER_AT, "quiz", viewer=EVERYONE, created_at=END)
    monkeypatch.setattr("dashboard.config.utc_now", lambda: PAGE_NOW)
    return engine, joined


def test_the_live_headline_trend_timeline_and_exports_agree_on_the_last_10_s_of_a_join_lesson(
    lesson, db_url, app  # noqa: F811
):
    engine, joined = lesson
    rows = joined.rows(*LAST_10_S)
    want = expected(rows)
    assert {t for t, _, _ in rows} == {FACE, NO_FACE}  # the silent and the removed sent nothing
    assert (want.present, want.counted, want.camera_off) == (1, 2, 0)

    page = app(db_url, "live")
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Class concentration now"] == f"{want.concentration:.0f}"
    assert metrics["Students present"] == f"{want.present} of {want.counted}"

    live = queries.live_view(engine, joined.lesson_id, viewer=EVERYONE, window_s=10, now=END)
    assert live.now == measures.ClassFigures(pytest.approx(want.concentration), 1, 2, 0)
    expected_row = [pytest.approx(want.concentration), want.present, want.counted, 0]
    assert list(live.trend.iloc[-1][list(FIGURES)]) == expected_row
    shown_report = report.load_report(db_url, EVERYONE, joined.lesson_id, PAGE_NOW)
    assert list(shown_report.timeline.iloc[-1][list(FIGURES)]) == expected_row

    headers = ("Class concentration", "Students present", "Students counted", "Camera off")
    shown = [_shown(want.concentration), want.present, want.counted, 0]
    last_csv = _csv(engine, joined.lesson_id, "timeline", bucket_s=10.0)[-1]
    assert [float(last_csv[headers[0]]), *(int(last_csv[h]) for h in headers[1:])] == shown
    last_sheet = _sheet(engine, joined.lesson_id, "Timeline", bucket_s=10.0)[-1]
    assert [last_sheet[h] for h in headers] == shown


def test_samples_per_second_are_counted_per_student_not_summed_over_the_class(lesson, db_url, app):  # noqa: F811
    engine, joined = lesson
    page = app(db_url, "live")
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Samples/s each"] == "1.0"  # each device at the asked 1 Hz
    assert "Samples/s" not in metrics
    live = queries.live_view(engine, joined.lesson_id, viewer=EVERYONE, window_s=10, now=END)
    times = [t.timestamp() for t in live.sample_times]
    assert measures.samples_per_s(times, times[0]) > 2.5  # what one stream's count would say
    assert not [w for w in page.warning if "samples/s" in w.value]  # no device falls short


def test_the_report_summary_students_table_and_exports_agree_on_the_whole_join_lesson(
    lesson, db_url, app  # noqa: F811
):
    engine, joined = lesson
    want = expected(joined.rows(T0, END))
    assert set(want.engagement) == {FACE, NO_FACE, SILENT, REMOVED} and want.present == 3

    page = app(db_url, "lessons", lessons_selected=joined.lesson_id)
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Mean concentration"] == f"{want.concentration:.1f}"
    assert metrics["Students"] == f"{want.present}"
    table = table_with(page, "Mean engagement").set_index("Student")
    assert table["Mean engagement"].dropna().to_dict() == {
        f"Student {t}": round(e, 1) for t, e in want.engagement.items()}

    # each student's samples stand for their own device's second, not a quarter of it (four devices)
    present_s = {FACE: 30.0, NO_FACE: 0.0, SILENT: 15.0, REMOVED: 20.0}
    students = queries.student_summary(engine, joined.lesson_id, viewer=EVERYONE)
    assert students.set_index("track_id")["time_present_s"].to_dict() == pytest.approx(present_s)
    assert table["Time present (min)"].to_dict() == {
        f"Student {t}": round(s / 60, 1) for t, s in present_s.items()}

    summary = queries.lessons_summary(engine, viewer=EVERYONE).iloc[0]
    assert summary["mean_concentration"] == pytest.approx(want.concentration)
    assert summary["students_seen"] == want.present
    with engine.connect() as conn:
        whole = measures.class_window(conn, joined.lesson_id, T0, END, viewer=EVERYONE)
    assert whole.concentration == pytest.approx(want.concentration)
    for rows in (_csv(engine, joined.lesson_id, "students"),
                 _sheet(engine, joined.lesson_id, "Students")):
        assert {r["Student"]: float(r["Mean engagement"]) for r in rows} == {
            f"Student {t}": _shown(e) for t, e in want.engagement.items()}


def test_the_markers_of_a_join_lesson_compare_the_class_either_side(lesson):
    engine, joined = lesson
    before = expected(joined.rows(T0, MARKER_AT))
    after = expected(joined.rows(MARKER_AT, END))
    context = marker_context(engine, joined.lesson_id, viewer=EVERYONE).iloc[0]
    assert context["concentration_before"] == pytest.approx(before.concentration)
    assert context["concentration_after"] == pytest.approx(after.concentration)
    row = _csv(engine, joined.lesson_id, "markers")[0]
    assert float(row["Concentration after (up to 5 min)"]) == _shown(after.concentration)
