"""The teacher's exports from a real database: markers, "not a student", DST, the workbook, the CLI."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from storage import export
from storage.db import StorageError
from storage.exclusions import exclude_track
from storage.lessons import LessonSpec, create_lesson, finish_lesson
from storage.markers import add_marker
from storage.records import AttentionState
from storage.viewers import Viewer
from storage.writes import write_samples
from tests.storage.conftest import T0, make_sample

A = AttentionState
EVERYONE = Viewer.everyone()
PARIS = "Europe/Paris"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


@pytest.fixture
def lesson(engine) -> int:
    """Ten minutes at 1 Hz: track 1 at 80 for 5 min then 40; track 2 at 20; track 9 the teacher."""
    lesson_id = create_lesson(engine, LessonSpec("Fractions", "7A", T0, sample_rate_hz=1.0, owner="ana"))
    write_samples(engine, lesson_id, [
        make_sample(s, {1: (A.ATTENTIVE, 80.0 if s < 300 else 40.0), 2: (A.LOOKING_AWAY, 20.0),
                        9: (A.ATTENTIVE, 100.0)})
        for s in range(600)
    ])  # fmt: skip
    finish_lesson(engine, lesson_id, ended_at=T0 + timedelta(minutes=10))
    return lesson_id


def test_markers_are_exported_with_the_concentration_before_and_after(engine, lesson):
    add_marker(engine, lesson, T0 + timedelta(minutes=5), "group work", viewer=EVERYONE, created_at=T0)
    add_marker(engine, lesson, T0, "start", viewer=EVERYONE, created_at=T0)
    exclude_track(engine, lesson, 9, T0)
    rows = _rows("".join(export.iter_csv(engine, lesson, "markers", viewer=EVERYONE, timezone=PARIS)))
    assert rows == [
        {"Time (Europe/Paris)": "2025-03-03T10:00:00+01:00", "Into the lesson": "0:00:00",
         "Label": "start", "Concentration before (up to 5 min)": "",
         "Concentration after (up to 5 min)": "50.0", "Minutes before": "0.0", "Minutes after": "5.0"},
        {"Time (Europe/Paris)": "2025-03-03T10:05:00+01:00", "Into the lesson": "0:05:00",
         "Label": "group work", "Concentration before (up to 5 min)": "50.0",
         "Concentration after (up to 5 min)": "30.0", "Minutes before": "5.0",
         "Minutes after": "5.0"},  # to the last sample, 4:59 after: 5.0 to one decimal
    ]  # fmt: skip


def test_a_marker_near_the_end_of_a_short_lesson_says_how_little_it_compares(engine):
    lesson_id = create_lesson(engine, LessonSpec("Short", "7A", T0, sample_rate_hz=1.0))
    write_samples(engine, lesson_id, [make_sample(s, {1: (A.ATTENTIVE, 90.0 if s < 120 else 30.0)})
                                      for s in range(180)])  # three minutes  # fmt: skip
    add_marker(engine, lesson_id, T0 + timedelta(minutes=2), "quiz", viewer=EVERYONE, created_at=T0)
    (row,) = _rows("".join(export.iter_csv(engine, lesson_id, "markers", viewer=EVERYONE)))
    assert (row["Concentration before (up to 5 min)"], row["Concentration after (up to 5 min)"]) == (
        "90.0", "30.0")
    assert (row["Minutes before"], row["Minutes after"]) == ("2.0", "1.0")  # not 5 min either side


def test_a_track_marked_not_a_student_is_left_out_of_the_teachers_tables(engine, lesson):
    exclude_track(engine, lesson, 9, T0)
    students = _rows("".join(export.iter_csv(engine, lesson, "students", viewer=EVERYONE)))
    assert [r["Student"] for r in students] == ["Student 1", "Student 2"]
    timeline = _rows("".join(export.iter_csv(engine, lesson, "timeline", viewer=EVERYONE)))
    assert {r["Students present"] for r in timeline} == {"2"}
    assert [r["Class concentration"] for r in timeline] == ["50.0"] * 5 + ["30.0"] * 5
    raw = _rows("".join(export.iter_csv(engine, lesson, "observations", viewer=EVERYONE)))
    assert {r["track_id"] for r in raw} == {"1", "2", "9"}  # the raw rows stay as recorded


def test_a_timeline_across_the_autumn_clock_change_keeps_each_offset(engine):
    start = datetime(2026, 10, 25, 0, 58, tzinfo=UTC)  # Paris falls back from 03:00 to 02:00 at 01:00 UTC
    lesson_id = create_lesson(engine, LessonSpec("Night", "7A", start, sample_rate_hz=1.0))
    write_samples(engine, lesson_id, [make_sample(s, {1: (A.ATTENTIVE, 60.0)}, t0=start)
                                      for s in range(240)])  # fmt: skip
    rows = _rows("".join(export.iter_csv(engine, lesson_id, "timeline", viewer=EVERYONE, timezone=PARIS)))
    assert [r["Time (Europe/Paris)"] for r in rows] == [
        "2026-10-25T02:58:00+02:00",
        "2026-10-25T02:59:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:01:00+01:00",
    ]


def test_the_workbook_has_a_readme_and_one_sheet_per_teacher_table(engine, lesson, tmp_path):
    add_marker(engine, lesson, T0 + timedelta(minutes=5), "quiz", viewer=EVERYONE, created_at=T0)
    exclude_track(engine, lesson, 9, T0)
    out = tmp_path / "lesson.xlsx"
    rows = export.write_export(engine, lesson, "workbook", out, viewer=EVERYONE, timezone=PARIS,
                               generated_at=T0 + timedelta(hours=1))  # fmt: skip
    assert rows == 10 + 2 + 1
    book = load_workbook(out, read_only=True)
    assert book.sheetnames == ["README", "Timeline", "Students", "Markers"]
    readme = {row[0]: row[1] for row in book["README"].iter_rows(values_only=True) if row[0]}
    assert readme["Lesson"] == "Fractions" and readme["Class"] == "7A"
    assert readme["Started"] == "2025-03-03T10:00:00+01:00"
    assert readme["Ended"] == "2025-03-03T10:10:00+01:00"
    assert readme["Time zone"].startswith("Europe/Paris")
    assert "in this lesson only" in readme["Students"]
    assert readme["Not students"].endswith("Student 9.")
    assert readme["Raw data"].startswith("The raw observations")
    assert readme["Generated"] == "2025-03-03T11:00:00+01:00"
    assert readme["Concentration before (up to 5 min)"].startswith("Class concentration over")
    students = list(book["Students"].iter_rows(values_only=True))
    assert students[0][:4] == ("Student", "Time present (min)", "Mean engagement", "Attentive (%)")
    assert students[1][:4] == ("Student 1", 10.0, 60.0, 100.0)  # numbers, not text
    markers = list(book["Markers"].iter_rows(values_only=True))
    assert markers[1] == (datetime(2025, 3, 3, 10, 5), timedelta(minutes=5), "quiz", 50.0, 30.0,
                          5.0, 5.0)  # a date cell of Paris wall-clock time, a duration
    timeline = list(book["Timeline"].iter_rows(values_only=True))
    assert timeline[0][0] == "Time (Europe/Paris)" and len(timeline) == 11
    assert timeline[1][0] == datetime(2025, 3, 3, 10, 0)
    book.close()


def test_workbook_times_are_date_cells_and_durations_are_durations(engine, lesson, tmp_path):
    add_marker(engine, lesson, T0 + timedelta(minutes=5), "quiz", viewer=EVERYONE, created_at=T0)
    out = tmp_path / "lesson.xlsx"
    export.write_export(engine, lesson, "workbook", out, viewer=EVERYONE, timezone=PARIS)
    book = load_workbook(out)
    when, into = book["Markers"]["A2"], book["Markers"]["B2"]
    assert (when.is_date, when.number_format) == (True, export.DATE_FORMAT)
    assert (into.value, into.number_format) == (timedelta(minutes=5), export.DURATION_FORMAT)
    assert book["Timeline"]["A2"].is_date and book["Timeline"]["A1"].value == "Time (Europe/Paris)"


def test_the_workbook_of_another_teachers_lesson_is_no_such_lesson(engine, lesson, tmp_path):
    out = tmp_path / "lesson-for-ana"  # any file name: the workbook is not read back to count rows
    with pytest.raises(StorageError, match=rf"^no lesson with id {lesson}$"):
        export.write_export(engine, lesson, "workbook", out, viewer=Viewer.teacher("bo"))
    assert not out.exists()
    assert export.write_export(engine, lesson, "workbook", out, viewer=Viewer.teacher("Ana")) == 10 + 3


def test_typed_text_stays_text_in_the_workbook(engine, tmp_path):
    lesson_id = create_lesson(engine, LessonSpec("=1+1", "7A", T0, sample_rate_hz=1.0))
    write_samples(engine, lesson_id, [make_sample(s, {1: (A.ATTENTIVE, 70.0)}) for s in range(60)])
    add_marker(engine, lesson_id, T0, '=HYPERLINK("http://example.org")', viewer=EVERYONE, created_at=T0)
    out = tmp_path / "lesson.xlsx"
    export.write_export(engine, lesson_id, "workbook", out, viewer=EVERYONE)
    book = load_workbook(out)
    title = next(row[1] for row in book["README"].iter_rows() if row[0].value == "Lesson")
    label = book["Markers"]["C2"]
    assert (title.value, title.data_type) == ("=1+1", "s")
    assert (label.value, label.data_type) == ('=HYPERLINK("http://example.org")', "s")


def _cli(db_url: str, *args: str):
    from click.testing import CliRunner

    from storage.__main__ import cli
    from storage.db import dispose_engines

    result = CliRunner().invoke(cli, ["--db", db_url, "export", *args])
    dispose_engines()
    return result


def test_the_export_command_writes_the_workbook_in_the_chosen_zone(db_url, tmp_path):
    from storage.db import open_database

    engine = open_database(db_url)
    lesson_id = create_lesson(engine, LessonSpec("Maths", "7A", T0, sample_rate_hz=1.0))
    write_samples(engine, lesson_id, [make_sample(s, {1: (A.ATTENTIVE, 70.0)}) for s in range(90)])
    out = tmp_path / "maths.xlsx"
    result = _cli(db_url, "--lesson", str(lesson_id), "--kind", "workbook", "--timezone", PARIS,
                  "--out", str(out))  # fmt: skip
    assert (result.exit_code, result.output.strip()) == (0, f"wrote 3 rows to {out}")
    book = load_workbook(out, read_only=True)
    assert next(book["Timeline"].iter_rows(min_row=2, values_only=True))[0] == datetime(2025, 3, 3, 10, 0)
    book.close()


@pytest.mark.parametrize(("args", "line"), [
    (["--kind", "faces"], "error: unknown export kind 'faces'; choose one of observations, timeline, "
                          "students, markers, workbook"),
    (["--kind", "students", "--timezone", "Europe/Pariss"],
     "error: unknown time zone 'Europe/Pariss'; use an IANA name such as Europe/Paris or UTC"),
])  # fmt: skip
def test_a_bad_kind_or_time_zone_is_one_line_and_writes_nothing(db_url, tmp_path, args, line):
    out = tmp_path / "x.csv"
    result = _cli(db_url, "--lesson", "1", "--out", str(out), *args)
    assert (result.exit_code, result.output.strip()) == (1, line)
    assert not out.exists()


def test_typed_text_that_a_spreadsheet_would_run_stays_text_in_the_teachers_csv(engine, tmp_path):
    lesson_id = create_lesson(engine, LessonSpec("Quiz", "7A", T0, sample_rate_hz=1.0))
    write_samples(engine, lesson_id, [make_sample(s, {1: (A.ATTENTIVE, 70.0)}) for s in range(60)])
    for label in ('=HYPERLINK("http://example.org")', "+1", "@SUM(A1)", "-2", "quiz"):
        add_marker(engine, lesson_id, T0, label, viewer=EVERYONE, created_at=T0)
    out = tmp_path / "markers.csv"
    export.write_export(engine, lesson_id, "markers", out, viewer=EVERYONE)
    with out.open(encoding="utf-8-sig", newline="") as handle:
        labels = [row["Label"] for row in csv.DictReader(handle)]
    assert labels == ['\'=HYPERLINK("http://example.org")', "'+1", "'@SUM(A1)", "'-2", "quiz"]
