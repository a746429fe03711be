"""One definition per figure: every view of one awkward stored lesson agrees on the class
concentration and on who is present and counted (a camera-off tile, a track marked "not a
student" and a student gone absent included), on SQLite and, when available, PostgreSQL.

The views: the Live page's headline (and storage's live_view behind it), the live trend's last
bucket, the report's timeline, summary and students table (the Lessons page), the markers' before
and after, the timeline, students and markers CSVs and the workbook; and the engine's own figure.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from dashboard import loaders, report
from engine.engagement import class_concentration
from storage import export, measures, queries
from storage.db import open_database
from storage.markers import add_marker, marker_context
from storage.viewers import Viewer
from tests.dashboard.conftest import table_with
from tests.storage.awkward_lesson import PHOTO, SECONDS, expected, write_awkward_lesson
from tests.storage.conftest import T0, db_url, pg_schema_url  # noqa: F401  (the fixtures)

EVERYONE = Viewer.everyone()
END = T0 + timedelta(seconds=SECONDS)
LAST_10_S = (END - timedelta(seconds=10), END)
PAGE_NOW = END - timedelta(seconds=1.5)  # its refresh tick ends at END: the card reads [END-10, END)
MARKER_AT = T0 + timedelta(seconds=15)


@pytest.fixture
def lesson(db_url, monkeypatch):  # noqa: F811
    """The awkward lesson, stored, with one marker mid-lesson; the pages' clock just before its end."""
    engine = open_database(db_url)
    stored = write_awkward_lesson(engine, T0)
    add_marker(engine, stored.lesson_id, MARKER_AT, "quiz", viewer=EVERYONE, created_at=END)
    monkeypatch.setattr("dashboard.config.utc_now", lambda: PAGE_NOW)
    return engine, stored


def _csv(engine, lesson_id: int, kind: str, **options) -> list[dict[str, str]]:
    text = "".join(export.iter_csv(engine, lesson_id, kind, viewer=EVERYONE, **options))
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def _sheet(engine, lesson_id: int, name: str, **options) -> list[dict[str, object]]:
    data = export.workbook_bytes(engine, lesson_id, viewer=EVERYONE, **options)
    rows = list(load_workbook(io.BytesIO(data), read_only=True)[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _shown(value: float | None) -> float | None:
    """A figure as the exports write it: one decimal."""
    return None if value is None else round(value + 1e-9, 1)


def test_the_live_headline_the_trend_the_timeline_and_the_exports_agree_on_the_last_10_s(
    lesson, db_url, app  # noqa: F811
):
    engine, stored = lesson
    want = expected(stored.rows(*LAST_10_S))
    assert (want.present, want.counted, want.camera_off) == (1, 2, 1)  # the lesson is awkward

    page = app(db_url, "live")
    metrics = {m.label: (m.value, m.delta) for m in page.metric}
    assert metrics["Class concentration now"][0] == f"{want.concentration:.0f}"
    assert metrics["Students present"] == (f"{want.present} of {want.counted}",
                                           f"{want.camera_off} camera off")

    live = queries.live_view(engine, stored.lesson_id, viewer=EVERYONE, window_s=10, now=END)
    assert live.now == measures.ClassFigures(
        pytest.approx(want.concentration), want.present, want.counted, want.camera_off
    )
    figures = ("concentration", "students_present", "students_counted", "students_camera_off")
    expected_row = [pytest.approx(want.concentration), want.present, want.counted, want.camera_off]
    assert list(live.trend.iloc[-1][list(figures)]) == expected_row
    shown_report = report.load_report(db_url, EVERYONE, stored.lesson_id, PAGE_NOW)
    assert shown_report.bucket_s == 10.0  # the report's timeline of a short lesson: 10 s buckets
    assert list(shown_report.timeline.iloc[-1][list(figures)]) == expected_row

    headers = ("Class concentration", "Students present", "Students counted", "Camera off")
    shown = [_shown(want.concentration), want.present, want.counted, want.camera_off]
    last_csv = _csv(engine, stored.lesson_id, "timeline", bucket_s=10.0)[-1]
    assert [float(last_csv[headers[0]]), *(int(last_csv[h]) for h in headers[1:])] == shown
    last_sheet = _sheet(engine, stored.lesson_id, "Timeline", bucket_s=10.0)[-1]
    assert [last_sheet[h] for h in headers] == shown


def test_the_report_summary_students_table_and_exports_agree_on_the_whole_lesson(
    lesson, db_url, app  # noqa: F811
):
    engine, stored = lesson
    want = expected(stored.rows(T0, END))
    assert want.counted == 2 and PHOTO not in want.engagement  # the photo is camera off overall

    page = app(db_url, "lessons", lessons_selected=stored.lesson_id)
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Mean concentration"] == f"{want.concentration:.1f}"
    assert metrics["Students"] == f"{want.present} · 1 camera off"
    table = table_with(page, "Mean engagement").set_index("Student")
    counted = table["Mean engagement"].dropna()
    assert counted.to_dict() == {f"Student {t}": round(e, 1) for t, e in want.engagement.items()}
    photo = table.loc[f"Student {PHOTO}"]
    assert photo["Camera off (%)"] > 0 and photo.drop("Camera off (%)").isna().sum() == 6
    assert photo["Most common expression"] == "–"

    summary = queries.lessons_summary(engine, viewer=EVERYONE).iloc[0]
    assert summary["mean_concentration"] == pytest.approx(want.concentration)
    students = queries.student_summary(engine, stored.lesson_id, viewer=EVERYONE)
    assert students["mean_engagement"].mean() == pytest.approx(want.concentration)
    with engine.connect() as conn:  # the whole lesson as one window, from the rows
        whole = measures.class_window(conn, stored.lesson_id, T0, END, viewer=EVERYONE)
    assert whole.concentration == pytest.approx(want.concentration)

    for rows in (_csv(engine, stored.lesson_id, "students"),
                 _sheet(engine, stored.lesson_id, "Students")):
        by_student = {r["Student"]: r for r in rows}
        assert {s: float(r["Mean engagement"]) for s, r in by_student.items()
                if r["Mean engagement"] not in ("", None)} == {
            f"Student {t}": _shown(e) for t, e in want.engagement.items()}
        assert by_student[f"Student {PHOTO}"]["Looking away (%)"] in ("", None)


def test_the_markers_before_and_after_are_the_class_concentration_of_the_lesson_either_side(
    lesson,
):
    engine, stored = lesson
    last_sample = stored.samples[-1].ts
    before = expected(stored.rows(T0, MARKER_AT))
    after = expected(stored.rows(MARKER_AT, END))  # to the last sample, included
    context = marker_context(engine, stored.lesson_id, viewer=EVERYONE).iloc[0]
    assert context["concentration_before"] == pytest.approx(before.concentration)
    assert context["concentration_after"] == pytest.approx(after.concentration)
    assert (context["before_s"], context["after_s"]) == (15.0, (last_sample - MARKER_AT).total_seconds())
    row = _csv(engine, stored.lesson_id, "markers")[0]
    assert float(row["Concentration before (up to 5 min)"]) == _shown(before.concentration)
    assert float(row["Concentration after (up to 5 min)"]) == _shown(after.concentration)
    assert row["Into the lesson"] == "0:00:15"


def test_the_sql_rule_and_its_python_twin_agree_on_every_window_and_the_engine_uses_the_twin(
    lesson,
):
    engine, stored = lesson
    windows = [(T0 + timedelta(seconds=a), T0 + timedelta(seconds=b))
               for a, b in ((0, 3), (0, 10), (2, 6), (5, 25), (15, 30), (0, 30), (29, 30))]
    with engine.connect() as conn:
        for since, until in windows:
            sql = measures.class_window(conn, stored.lesson_id, since, until, viewer=EVERYONE)
            twin = measures.class_figures(stored.rows(since, until))
            assert sql == measures.ClassFigures(
                pytest.approx(twin.concentration), twin.present, twin.counted, twin.camera_off)
    for sample in stored.samples:  # one sample's window is what the engine's status line shows
        students = [o for o in sample.observations if o.track_id not in stored.excluded]
        twin = measures.class_figures((o.track_id, o.state.value, o.engagement) for o in students)
        assert class_concentration(students) == twin.concentration


def test_count_again_puts_the_track_back_in_every_figure(lesson, db_url):  # noqa: F811
    engine, stored = lesson
    before = queries.lessons_summary(engine, viewer=EVERYONE).iloc[0]["mean_concentration"]
    assert loaders.count_again(db_url, EVERYONE, stored.lesson_id, 4)
    with_teacher = expected([(o.track_id, o.state.value, o.engagement) for s in stored.samples
                             for o in s.observations])
    after = queries.lessons_summary(engine, viewer=EVERYONE).iloc[0]["mean_concentration"]
    assert after == pytest.approx(with_teacher.concentration) and after != pytest.approx(before)

