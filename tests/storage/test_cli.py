"""`python -m storage`: every command against a real database; errors are one line and exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from storage.__main__ import cli
from storage.db import dispose_engines, head_revision, open_database
from storage.lessons import get_lesson

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _run(runner, db_url, *args):
    result = runner.invoke(cli, ["--db", db_url, *args])
    dispose_engines()
    return result


def test_seed_export_delete_round_trip(runner, db_url, tmp_path):
    seeded = _run(runner, db_url, "seed", "--students", "3", "--hours", "0.01")
    assert seeded.exit_code == 0, seeded.output
    lesson_id = int(seeded.output.split()[-1])
    out = tmp_path / "students.csv"
    exported = _run(
        runner,
        db_url,
        "export",
        "--lesson",
        str(lesson_id),
        "--kind",
        "students",
        "--out",
        str(out),
    )
    assert exported.exit_code == 0, exported.output
    assert exported.output.strip() == f"wrote 3 rows to {out}"
    header, first = out.read_text(encoding="utf-8-sig").splitlines()[:2]
    assert header.startswith("Student,Time present (min),Mean engagement")
    assert first.startswith("Student 1,")
    deleted = _run(runner, db_url, "delete", "--lesson", str(lesson_id))
    assert deleted.exit_code == 0 and get_lesson(open_database(db_url), lesson_id) is None


def test_purge_removes_old_lessons(runner, db_url):
    assert _run(runner, db_url, "seed", "--students", "2", "--hours", "0.005").exit_code == 0
    result = _run(runner, db_url, "purge", "--older-than", "30")
    assert result.exit_code == 0 and result.output.strip() == "deleted 1 lessons"


def test_upgrade_reports_the_revision(runner, db_url):
    result = _run(runner, db_url, "upgrade")
    assert result.exit_code == 0 and f"schema revision {head_revision()}" in result.output


def test_delete_of_unknown_lesson_is_one_line_and_exit_1(runner, db_url):
    result = _run(runner, db_url, "delete", "--lesson", "4040")
    assert result.exit_code == 1
    assert result.output.strip() == "error: no lesson with id 4040"


def test_delete_of_a_lesson_still_recording_is_one_line_and_exit_1(runner, db_url):
    from datetime import UTC, datetime

    from storage.lessons import LessonSpec, create_lesson, engine_owner

    engine = open_database(db_url)
    spec = LessonSpec("Maths", "7B", datetime.now(UTC), settings={"engine": engine_owner()})
    lesson_id = create_lesson(engine, spec)
    result = _run(runner, db_url, "delete", "--lesson", str(lesson_id))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: lesson {lesson_id} is still recording; stop it first"
    assert get_lesson(open_database(db_url), lesson_id)["status"] == "running"


def test_unreachable_database_exits_1_with_one_line_without_password():
    result = subprocess.run(
        [sys.executable, "-m", "storage", "--db",
         "postgresql+psycopg://teacher:hunter2@127.0.0.1:1/school?connect_timeout=2", "upgrade"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot open database")
    assert "hunter2" not in result.stderr + result.stdout
