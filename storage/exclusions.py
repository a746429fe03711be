"""Tracks a teacher marked "not a student" (their self-view, a guest): stored with the lesson.

Every aggregate of the lesson (concentration, shares, the per-student table, exports of summaries)
leaves these tracks out, over the whole lesson; the raw observations stay as recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, exists, select
from sqlalchemy.sql import Select

from storage.db import write_transaction
from storage.schema import ExcludedTrack


def is_student(lesson_id: ColumnElement[Any], track_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL: this (lesson, track) row is not excluded — joins any WHERE over observations or rollups."""
    return ~exists().where(ExcludedTrack.lesson_id == lesson_id, ExcludedTrack.track_id == track_id)


def excluded_track_ids(lesson_id: int) -> Select[tuple[int]]:
    """The lesson's excluded track ids, as a sub-select for `track_id NOT IN (...)`."""
    return select(ExcludedTrack.track_id).where(ExcludedTrack.lesson_id == lesson_id)


def exclude_track(engine: Engine, lesson_id: int, track_id: int, at: datetime) -> None:
    """Mark one track of a lesson as not a student (again is fine)."""
    with write_transaction(engine) as conn:
        conn.execute(delete(ExcludedTrack).where(ExcludedTrack.lesson_id == lesson_id,
                                                 ExcludedTrack.track_id == track_id))
        conn.execute(ExcludedTrack.__table__.insert().values(lesson_id=lesson_id, track_id=track_id,
                                                             excluded_at=at))


def include_track(engine: Engine, lesson_id: int, track_id: int) -> None:
    """Undo `exclude_track`: the track counts as a student again."""
    with write_transaction(engine) as conn:
        conn.execute(delete(ExcludedTrack).where(ExcludedTrack.lesson_id == lesson_id,
                                                 ExcludedTrack.track_id == track_id))


def excluded_tracks(engine: Engine, lesson_id: int) -> list[int]:
    """The lesson's excluded track ids, ascending."""
    with engine.connect() as conn:
        return sorted(conn.execute(excluded_track_ids(lesson_id)).scalars())
