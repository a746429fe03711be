"""CSV export: header, one row per record, ISO-8601 times with offset, streamed in chunks."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta

import pytest

from storage import export
from storage.db import StorageError
from storage.lessons import LessonSpec, create_lesson
from storage.recorder import write_samples
from storage.records import AttentionState
from storage.viewers import Viewer
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
