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


def test_minutes_export_has_one_row_per_minute(engine, lesson, tmp_path):
    out = tmp_path / "minutes.csv"
    assert export.write_csv(engine, lesson, "minutes", out, viewer=EVERYONE) == 2
    rows = _read(out)
    assert [r["bucket_start"] for r in rows] == [
        "2025-03-03T09:00:00+00:00",
        "2025-03-03T09:01:00+00:00",
    ]
    assert float(rows[0]["concentration"]) == pytest.approx((70 + (10 * 90 + 0 * 30) / 120) / 2)


def test_students_export_has_one_row_per_student(engine, lesson, tmp_path):
    out = tmp_path / "students.csv"
    assert export.write_csv(engine, lesson, "students", out, viewer=EVERYONE) == 2
    rows = _read(out)
    assert [r["track_id"] for r in rows] == ["1", "2"]
    assert float(rows[1]["share_absent"]) == pytest.approx(38 / 150)


def test_observations_stream_in_several_chunks(engine, lesson, monkeypatch):
    monkeypatch.setattr(export, "CHUNK_ROWS", 64)
    chunks = list(export.iter_csv(engine, lesson, "observations", viewer=EVERYONE))
    assert len(chunks) == 5
    assert sum(chunk.count("\n") for chunk in chunks) == 301


def test_unknown_kind_and_unknown_lesson_are_storage_errors(engine, lesson, tmp_path):
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
