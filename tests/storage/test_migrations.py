"""Alembic migrations on both backends: upgrade from empty, downgrade/upgrade, matches the ORM."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column as sa_column
from sqlalchemy import func, inspect, select, table, update
from sqlalchemy.exc import IntegrityError

import storage.accounts  # noqa: F401  (the accounts table is on Base too)
from storage.db import (
    StorageError,
    current_revision,
    downgrade_database,
    head_revision,
    open_database,
    upgrade_database,
    write_transaction,
)
from storage.lessons import get_lesson
from storage.schema import Base, Lesson
from storage.synthetic import seed_lesson

TABLES = {
    "lessons", "samples", "observations", "observation_rollups", "accounts", "excluded_tracks",
    "lesson_markers", "teacher_settings", "join_lessons", "join_students",
}


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_creates_every_table_at_head(db_url):
    engine = open_database(db_url)
    assert current_revision(engine) == head_revision()
    assert _tables(engine) == TABLES


def test_migrated_schema_matches_the_orm_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_indexes_cover_lesson_time_and_lesson_track_time(engine):
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("observations")}
    assert indexes["ix_observations_lesson_ts"] == ["lesson_id", "ts"]
    assert indexes["ix_observations_lesson_track_ts"] == ["lesson_id", "track_id", "ts"]


def test_every_revision_downgrades_and_upgrades_again(engine):
    downgrade_database(engine, "-1")
    assert "ended_cause" not in {c["name"] for c in inspect(engine).get_columns("lessons")}
    assert _tables(engine) == TABLES
    downgrade_database(engine, "-1")
    assert _tables(engine) == TABLES - {"join_lessons", "join_students"}
    assert "stream" not in {c["name"] for c in inspect(engine).get_columns("samples")}
    downgrade_database(engine, "-1")
    assert _tables(engine) == TABLES - {"lesson_markers", "teacher_settings", "join_lessons",
                                        "join_students"}
    downgrade_database(engine, "-1")
    assert _tables(engine) == TABLES - {"excluded_tracks", "lesson_markers", "teacher_settings",
                                        "join_lessons", "join_students"}
    assert "n_camera_off" not in {c["name"] for c in inspect(engine).get_columns("observation_rollups")}
    downgrade_database(engine, "0003")
    assert "owner" not in {c["name"] for c in inspect(engine).get_columns("lessons")}
    downgrade_database(engine, "0002")
    assert _tables(engine) == {"lessons", "samples", "observations", "observation_rollups"}
    downgrade_database(engine, "base")
    assert _tables(engine) == set()
    assert current_revision(engine) is None
    upgrade_database(engine)
    assert current_revision(engine) == head_revision()
    assert _tables(engine) == TABLES


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(select(func.count()).select_from(table(t))).scalar_one()
            for t in ("lessons", "samples", "observations", "observation_rollups")
        }


def _set_status(engine, lesson_id: int, status: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(update(Lesson).where(Lesson.id == lesson_id).values(status=status))


def test_status_migration_keeps_every_lesson_sample_and_observation(engine):
    lesson_id = seed_lesson(
        engine, students=3, hours=0.01, seed=1
    )  # written at head, then taken back
    before = _counts(engine)
    downgrade_database(engine, "0001")
    assert _counts(engine) == before and before["observations"] > 0
    with pytest.raises(IntegrityError, match="ck_lessons_status|CHECK constraint failed"):
        _set_status(engine, lesson_id, "source_lost")
    upgrade_database(engine, "0002")
    assert _counts(engine) == before
    _set_status(engine, lesson_id, "source_lost")
    assert get_lesson(engine, lesson_id)["status"] == "source_lost"
    with pytest.raises(IntegrityError, match="ck_lessons_status|CHECK constraint failed"):
        _set_status(engine, lesson_id, "paused")
    assert {ix["name"] for ix in inspect(engine).get_indexes("lessons")} == {
        "ix_lessons_group_started",
        "ix_lessons_started",
    }


def test_status_downgrade_reads_a_lesson_that_ended_early_as_interrupted(engine):
    ids = {status: seed_lesson(engine, students=2, hours=0.005, seed=1, title=status) for status in
           ("finished", "source_lost", "failed")}  # fmt: skip
    for status, lesson_id in ids.items():
        _set_status(engine, lesson_id, status)
    before = _counts(engine)
    downgrade_database(engine, "0001")
    assert _counts(engine) == before
    assert {s: get_lesson(engine, i)["status"] for s, i in ids.items()} == {
        "finished": "finished",
        "source_lost": "interrupted",
        "failed": "interrupted",
    }
    upgrade_database(engine)
    assert current_revision(engine) == head_revision()


def test_opening_twice_runs_no_migration_again(db_url):
    first = open_database(db_url)
    second = open_database(db_url)
    assert first is second
    assert current_revision(second) == head_revision()


def test_a_migration_that_would_leave_rows_without_their_lesson_is_rolled_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'orphans.db'}"
    engine = open_database(url)
    lesson_id = seed_lesson(engine, students=1, hours=0.001, seed=1)
    downgrade_database(engine, "0001")
    with engine.connect() as conn:  # a row orphaned behind ClassPulse's back (foreign keys off)
        conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        conn.connection.driver_connection.execute("DELETE FROM lessons")
        conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(StorageError, match=r"row\(s\) of .*samples.* reference no lesson"):
        upgrade_database(engine)
    assert current_revision(engine) == "0001"
    assert get_lesson(engine, lesson_id) is None and _counts(engine)["samples"] > 0


def test_owner_migration_keeps_every_lesson_and_leaves_older_ones_without_an_owner(engine):
    lesson_id = seed_lesson(engine, students=2, hours=0.005, seed=1, owner="ms.lee")
    before = _counts(engine)
    downgrade_database(engine, "0003")
    assert _counts(engine) == before
    assert "owner" not in {c["name"] for c in inspect(engine).get_columns("lessons")}
    upgrade_database(engine)
    assert _counts(engine) == before
    with engine.connect() as conn:
        owner = conn.execute(select(Lesson.owner).where(Lesson.id == lesson_id)).scalar_one()
    assert owner is None  # an older lesson: owned by nobody, seen by admins
    assert "ix_lessons_owner_started" in {ix["name"] for ix in inspect(engine).get_indexes("lessons")}


def test_camera_off_migration_keeps_live_rows_and_allows_the_new_state(engine):
    lesson_id = seed_lesson(engine, students=2, hours=0.005, seed=1)
    before = _counts(engine)
    downgrade_database(engine, "0004")
    assert _counts(engine) == before
    with (pytest.raises(IntegrityError, match="ck_observations_state|CHECK constraint failed"),
          write_transaction(engine) as conn):
        conn.execute(update(table("observations", sa_column("state"))).values(state="camera_off"))
    upgrade_database(engine)
    assert _counts(engine) == before
    with write_transaction(engine) as conn:
        conn.execute(update(table("observations", sa_column("state"))).values(state="camera_off"))
    assert get_lesson(engine, lesson_id) is not None


def test_ended_cause_migration_keeps_every_lesson_and_the_cause_goes_and_comes_back_empty(engine):
    from storage.lessons import finish_lesson

    lesson_id = seed_lesson(engine, students=2, hours=0.005, seed=1)
    finish_lesson(engine, lesson_id, "failed", cause="disk full")
    assert _status_and_cause(engine, lesson_id) == ("failed", "disk full")
    before = _counts(engine)
    downgrade_database(engine, "0007")
    assert _counts(engine) == before
    assert "ended_cause" not in {c["name"] for c in inspect(engine).get_columns("lessons")}
    with engine.connect() as conn:  # the status stays; only the words for it go
        assert conn.execute(select(table("lessons", sa_column("status")).c.status)).scalar_one() == "failed"
    upgrade_database(engine)
    assert _counts(engine) == before
    assert _status_and_cause(engine, lesson_id) == ("failed", None)


def _status_and_cause(engine, lesson_id: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(Lesson.status, Lesson.ended_cause).where(Lesson.id == lesson_id)).one())
