"""Alembic migrations on both backends: upgrade from empty, downgrade/upgrade, matches the ORM."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import storage.accounts  # noqa: F401  (the accounts table is on Base too)
from storage.db import (
    current_revision,
    downgrade_database,
    head_revision,
    open_database,
    upgrade_database,
)
from storage.schema import Base

TABLES = {"lessons", "samples", "observations", "observation_rollups", "accounts"}


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


def test_latest_revision_downgrades_and_upgrades_again(engine):
    downgrade_database(engine, "-1")
    assert _tables(engine) == TABLES - {"accounts"}
    downgrade_database(engine, "base")
    assert _tables(engine) == set()
    assert current_revision(engine) is None
    upgrade_database(engine)
    assert current_revision(engine) == head_revision()
    assert _tables(engine) == TABLES


def test_opening_twice_runs_no_migration_again(db_url):
    first = open_database(db_url)
    second = open_database(db_url)
    assert first is second
    assert current_revision(second) == head_revision()
