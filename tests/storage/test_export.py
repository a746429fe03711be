"""CSV export: header, one row per record, ISO-8601 times with offset, streamed in chunks."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta

import pytest

from storage import export
from storage.db import StorageError
from storage.lessons import LessonSpec, create_lesson
from storage.records import AttentionState
from storage.viewers import Viewer
from storage.writes import write_samples
from tests.storage.conftest import T0, make_sample

EVERYONE = Viewer.everyone()

A = AttentionState


@pytest.fixture
def lesson(engine) -> int:
    lesson_id = create_lesson(engine, LessonSpec("Chem", "8A", T0, sample_rate_hz=2.0))
    write_samples(engine, lesson_id, [
        make_sample(i / 2, {1: (A.ATTENTIVE, 70.0), 2: (A.ABSENT, 0.0) if i % 4 == 0 else (A.EYES_CLOSED, 10.0)})
        for i in range(150)
    ])  # fmt: skip
    return lesson_id


def _read(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_observations_export_has_one_row_per_observation_with_zoned_times(engine, lesson, tmp_path):
    out = tmp_path / "obs.csv"
    assert export.write_csv(engine, lesson, "observations", out, viewer=EVERYONE) == 300
    rows = _read(out)
    assert len(rows) == 300
    assert list(rows[0]) == list(export.OBSERVATION_EXPORT_COLUMNS)
    assert rows[0]["ts"] == "2025-03-03T09:00:00+00:00"
    assert datetime.fromisoformat(rows[-1]["ts"]) == T0 + timedelta(seconds=74.5)
    assert rows[0]["state"] == "attentive" and float(rows[0]["engagement"]) == 70.0
    absent = next(r for r in rows if r["state"] == "absent")
    assert absent["box_x"] == "" and absent["p_happy"] == ""


def test_observations_export_is_exact_utc_full_precision_and_by_track_id(engine, tmp_path):
    lesson_id = create_lesson(engine, LessonSpec("Chem", "8A", T0, sample_rate_hz=2.0))
    write_samples(engine, lesson_id, [make_sample(0.25, {3: (A.ATTENTIVE, 68.95134571377446)})])
    out = tmp_path / "obs.csv"
    export.write_csv(engine, lesson_id, "observations", out, viewer=EVERYONE, timezone="Europe/Paris")
    (row,) = _read(out)
    assert row["ts"] == "2025-03-03T09:00:00.250000+00:00"  # UTC whatever zone the teacher chose
    assert row["engagement"] == "68.95134571377446" and row["track_id"] == "3"
    assert row["p_happy"] == "0.4" and row["yaw_deg"] == "5.0"
    assert out.read_bytes().startswith(b"lesson_id,ts,")  # no byte-order mark for analysts' tools


def _read_teacher(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_timeline_export_has_one_row_per_minute_in_the_teachers_zone(engine, lesson, tmp_path):
    out = tmp_path / "timeline.csv"
    assert export.write_csv(engine, lesson, "timeline", out, viewer=EVERYONE,
                            timezone="Europe/Paris") == 2  # fmt: skip
    rows = _read_teacher(out)
    assert [r["Time (Europe/Paris)"] for r in rows] == [
        "2025-03-03T10:00:00+01:00",
        "2025-03-03T10:01:00+01:00",
    ]
    expected = round((70 + (10 * 90 + 0 * 30) / 120) / 2, 1)
    assert float(rows[0]["Class concentration"]) == expected
    assert rows[0]["Attentive (%)"] == "50.0" and rows[0]["Absent (%)"] == "12.5"
    assert out.read_bytes().startswith("\ufeff".encode())  # Excel reads it as UTF-8


def test_the_minutes_kind_is_the_per_minute_timeline(engine, lesson):
    minutes = "".join(export.iter_csv(engine, lesson, "minutes", viewer=EVERYONE))
    assert minutes == "".join(export.iter_csv(engine, lesson, "timeline", viewer=EVERYONE))
    half = "".join(export.iter_csv(engine, lesson, "timeline", viewer=EVERYONE, bucket_s=30))
    assert len(minutes.splitlines()) == 3 and len(half.splitlines()) == 4


def test_students_export_names_students_and_gives_percentages(engine, lesson, tmp_path):
    out = tmp_path / "students.csv"
    assert export.write_csv(engine, lesson, "students", out, viewer=EVERYONE) == 2
    rows = _read_teacher(out)
    assert [r["Student"] for r in rows] == ["Student 1", "Student 2"]
    assert rows[1]["Absent (%)"] == "25.3"  # 38 of 150 samples
    assert rows[0]["Mean engagement"] == "70.0" and rows[0]["Time present (min)"] == "1.3"


def test_observations_stream_in_several_chunks(engine, lesson, monkeypatch):
    monkeypatch.setattr(export, "CHUNK_ROWS", 64)
    chunks = list(export.iter_csv(engine, lesson, "observations", viewer=EVERYONE))
    assert len(chunks) == 5
    assert sum(chunk.count("\n") for chunk in chunks) == 301


def test_unknown_kind_zone_or_period_and_unknown_lesson_are_storage_errors(engine, lesson, tmp_path):
    with pytest.raises(StorageError, match="^unknown time zone 'Europe/Pariss'"):
        export.iter_csv(engine, lesson, "students", viewer=EVERYONE, timezone="Europe/Pariss")
    with pytest.raises(StorageError, match="the timeline period must be at least 1 second, got 0"):
        export.iter_csv(engine, lesson, "timeline", viewer=EVERYONE, bucket_s=0)
    with pytest.raises(StorageError, match="unknown export kind"):
        export.write_csv(engine, lesson, "faces", tmp_path / "x.csv", viewer=EVERYONE)
    with pytest.raises(StorageError, match="no lesson with id 999"):
        list(export.iter_csv(engine, 999, "observations", viewer=EVERYONE))


OLD_EXPORT = "track_id,engagement\n1,70.0\n"


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(("lesson_id", "kind", "viewer", "message"), [
    (999, "observations", EVERYONE, "no lesson with id 999"),
    (None, "faces", EVERYONE, "unknown export kind 'faces'"),
    (None, "observations", Viewer.teacher("ms.lee"), r"no lesson with id \d+"),  # not hers to see
    (None, "workbook", EVERYONE, "the workbook is an .xlsx file, not a CSV"),
])  # fmt: skip
def test_an_export_refused_before_writing_leaves_an_existing_file_as_it_was(
    engine, lesson, tmp_path, lesson_id, kind, viewer, message
):
    out = tmp_path / "lesson.csv"
    out.write_text(OLD_EXPORT, encoding="utf-8")
    with pytest.raises(StorageError, match=message):
        export.write_csv(engine, lesson if lesson_id is None else lesson_id, kind, out, viewer=viewer)
    assert out.read_text(encoding="utf-8") == OLD_EXPORT
    assert _leftovers(tmp_path) == []


def test_an_export_that_fails_half_way_leaves_the_old_file_and_no_temporary_file(
    engine, lesson, tmp_path, monkeypatch
):
    if engine.dialect.name != "sqlite":
        pytest.skip("a corrupt timestamp can only be stored in SQLite's text column")
    with engine.begin() as conn:  # the lesson's last row (by time) cannot be read back
        conn.exec_driver_sql("UPDATE observations SET ts = 'not a time' WHERE id = (SELECT max(id) FROM observations)")
    monkeypatch.setattr(export, "CHUNK_ROWS", 64)  # several chunks are written before the bad row
    stream = export.iter_csv(engine, lesson, "observations", viewer=EVERYONE)
    assert next(stream).count("\n") == 65  # the header and 64 rows come before the error
    stream.close()
    out = tmp_path / "lesson.csv"
    out.write_text(OLD_EXPORT, encoding="utf-8")
    with pytest.raises(ValueError, match="not a time"):
        export.write_csv(engine, lesson, "observations", out, viewer=EVERYONE)
    assert out.read_text(encoding="utf-8") == OLD_EXPORT
    assert _leftovers(tmp_path) == []


def test_a_complete_export_replaces_the_old_file_and_keeps_its_permissions(engine, lesson, tmp_path):
    out = tmp_path / "lesson.csv"
    out.write_text(OLD_EXPORT, encoding="utf-8")
    out.chmod(0o640)
    assert export.write_csv(engine, lesson, "observations", out, viewer=EVERYONE) == 300
    assert len(_read(out)) == 300
    assert out.stat().st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []


def test_a_new_export_is_readable_by_its_owner_only(engine, lesson, tmp_path):
    out = tmp_path / "new.csv"
    export.write_csv(engine, lesson, "students", out, viewer=EVERYONE)
    assert out.stat().st_mode & 0o777 == 0o600


def test_an_export_into_a_missing_folder_is_a_storage_error(engine, lesson, tmp_path):
    with pytest.raises(StorageError, match=r"cannot write .*missing/lesson.csv: No such file or directory"):
        export.write_csv(
            engine, lesson, "students", tmp_path / "missing" / "lesson.csv", viewer=EVERYONE
        )


def test_the_export_command_for_an_unknown_lesson_is_one_line_and_keeps_the_old_file(db_url, tmp_path):
    from click.testing import CliRunner

    from storage.__main__ import cli
    from storage.db import dispose_engines

    out = tmp_path / "lesson.csv"
    out.write_text(OLD_EXPORT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", db_url, "export", "--lesson", "4040", "--kind", "students",
                                      "--out", str(out)])  # fmt: skip
    dispose_engines()
    assert (result.exit_code, result.output.strip()) == (1, "error: no lesson with id 4040")
    assert out.read_text(encoding="utf-8") == OLD_EXPORT
    assert _leftovers(tmp_path) == []
