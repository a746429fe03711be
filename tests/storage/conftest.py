"""Fixtures: a fresh database per test, as a real SQLite file and (when available) a PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from storage.db import dispose_engines, open_database
from storage.records import AttentionState, Observation, Sample

PG_URL_ENV = "CLASSPULSE_TEST_PG_URL"
REQUIRE_PG_ENV = "CLASSPULSE_REQUIRE_PG"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _postgres_unavailable(reason: str) -> None:
    """Fail when CI requires PostgreSQL, otherwise skip with the reason."""
    if os.environ.get(REQUIRE_PG_ENV) == "1":
        pytest.fail(f"PostgreSQL required ({REQUIRE_PG_ENV}=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh, empty PostgreSQL schema (dropped afterwards)."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        _postgres_unavailable(f"{PG_URL_ENV} is not set; PostgreSQL tests skipped")
    admin = create_engine(base)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        _postgres_unavailable(
            f"PostgreSQL at {make_url(base).render_as_string()} unreachable: {exc.orig}"
        )
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'classpulse.db'}"
        dispose_engines()
    else:
        yield request.getfixturevalue("pg_schema_url")


@pytest.fixture
def engine(db_url: str) -> Engine:
    """An opened (migrated) database."""
    return open_database(db_url)


def make_sample(
    seconds: float,
    states: dict[int, tuple[AttentionState, float]],
    *,
    expression: str | None = "happy",
    t0: datetime = T0,
) -> Sample:
    """A sample at t0 + seconds with one observation per track: {track_id: (state, engagement)}."""
    ts = t0 + timedelta(seconds=seconds)
    observations = []
    for track_id, (state, engagement) in states.items():
        if state is AttentionState.ABSENT:
            observations.append(Observation(ts=ts, track_id=track_id, state=state, engagement=0.0))
            continue
        probabilities = None
        if expression is not None:
            probabilities = tuple(0.4 if name == expression else 0.1 for name in
                                  ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))  # fmt: skip
        observations.append(
            Observation(
                ts=ts,
                track_id=track_id,
                state=state,
                engagement=engagement,
                box=(10 * track_id, 20, 64, 64),
                probabilities=probabilities,
                expression=expression,
                yaw_deg=5.0,
                pitch_deg=-2.0,
                roll_deg=1.0,
                eye_openness=0.3,
                gaze_offset=0.05,
            )  # fmt: skip
        )
    present = sum(1 for state, _ in states.values() if state is not AttentionState.ABSENT)
    return Sample(
        ts=ts, faces_detected=present, processing_ms=20.0, observations=tuple(observations)
    )
