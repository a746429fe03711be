"""Reading: aggregation in SQL (Core select()), results as pandas DataFrames with aware-UTC times.

This module holds the lesson lists (every lesson with its summary, a class's earlier lessons) and
is the one import for every read (who counts and the class concentration are storage/measures.py's): one lesson's report lives in storage/report_queries.py, the live
card's reads in storage/live_queries.py, and both are re-exported here. Every read takes the
`viewer` (storage/viewers.py) and shows only the lessons that viewer may see: to a teacher,
another teacher's lesson is no lesson at all.

Time buckets are integer arithmetic on epoch milliseconds: `(t_ms / bucket_ms) * bucket_ms` is
integer division on both SQLite and PostgreSQL, so one statement serves both. Builders named
`*_select` return the statement for callers that want to run or paginate it themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Engine, Select, func, select

from storage import measures
from storage.exclusions import is_student
from storage.frames import ratio, read_frame
from storage.live_queries import (
    LiveView,
    latest_states_select,
    live_view,
    recent_samples_select,
    student_trends,
    student_trends_select,
)
from storage.measures import ClassFigures
from storage.report_queries import (
    STUDENT_SUMMARY_COLUMNS,
    lesson_timeline,
    low_moments,
    student_summary,
    student_summary_select,
    timeline_frame,
    timeline_select,
)
from storage.rollups import count_if, rollup_per_student_select
from storage.schema import Lesson, ObservationRollup, SampleRow
from storage.viewers import Viewer, visible_lessons

R = ObservationRollup

LESSON_SUMMARY_COLUMNS = (
    "id", "title", "group_name", "started_at", "ended_at", "status", "ended_cause", "attention_only",
    "duration_s", "last_sample_at", "students_seen", "students_camera_off", "mean_concentration",
    "share_attentive",
)  # fmt: skip


def lesson_stats_select(*conditions: ColumnElement[bool]) -> Select[Any]:
    """Per lesson, over the whole lesson (storage/measures.py): students_seen (counted students
    present at some time), students_camera_off, mean_concentration (the class concentration of the
    whole lesson: the mean over counted students of their mean engagement) and share_attentive
    (of the counted students' samples), from the rollups."""
    c = rollup_per_student_select(None, is_student(R.lesson_id, R.track_id), *conditions).subquery(
        "per_student"
    ).c
    return (
        select(
            c.lesson_id.label("lesson_id"),
            count_if(measures.present(c)).label("students_seen"),
            count_if(measures.camera_off(c)).label("students_camera_off"),
            func.avg(measures.student_engagement(c)).label("mean_concentration"),
            ratio(measures.of_counted(c, c.n_attentive), measures.of_counted(c, c.n)).label(
                "share_attentive"
            ),
        )
        .group_by(c.lesson_id)
    )


def _lessons_select(*conditions: ColumnElement[bool]) -> Select[Any]:
    """Lessons matching conditions (newest first) with their summary columns."""
    stats = lesson_stats_select(R.lesson_id.in_(select(Lesson.id).where(*conditions))).subquery(
        "stats"
    )
    last_sample = (
        select(func.max(SampleRow.ts)).where(SampleRow.lesson_id == Lesson.id).scalar_subquery()
    )
    return (
        select(
            Lesson.id,
            Lesson.title,
            Lesson.group_name,
            Lesson.started_at,
            Lesson.ended_at,
            Lesson.status,
            Lesson.ended_cause,
            Lesson.attention_only,
            func.coalesce(Lesson.ended_at, last_sample).label("last_at"),
            last_sample.label("last_sample_at"),
            func.coalesce(stats.c.students_seen, 0).label("students_seen"),
            func.coalesce(stats.c.students_camera_off, 0).label("students_camera_off"),
            stats.c.mean_concentration,
            stats.c.share_attentive,
        )
        .outerjoin(stats, stats.c.lesson_id == Lesson.id)
        .where(*conditions)
        .order_by(Lesson.started_at.desc(), Lesson.id.desc())
    )


def _lessons_frame(engine: Engine, stmt: Select[Any]) -> pd.DataFrame:
    """Run a lessons select and finish the frame: aware times and duration_s."""
    frame = read_frame(engine, stmt)
    if frame.empty:
        return pd.DataFrame(columns=list(LESSON_SUMMARY_COLUMNS))
    for column in ("started_at", "ended_at", "last_at", "last_sample_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["duration_s"] = (frame["last_at"] - frame["started_at"]).dt.total_seconds().fillna(0.0)
    frame["attention_only"] = frame["attention_only"].astype(bool)
    return frame[list(LESSON_SUMMARY_COLUMNS)]


def lessons_summary(
    engine: Engine,
    *,
    viewer: Viewer,
    group: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
) -> pd.DataFrame:
    """The viewer's lessons (newest first) with duration, last sample, students seen (and camera
    off), mean concentration and share attentive; optionally of one class, started in
    [since, until), or with one status."""
    conditions = [visible_lessons(viewer)]
    if status is not None:
        conditions.append(Lesson.status == status)
    if group is not None:
        conditions.append(Lesson.group_name == group)
    if since is not None:
        conditions.append(Lesson.started_at >= since)
    if until is not None:
        conditions.append(Lesson.started_at < until)
    return _lessons_frame(engine, _lessons_select(*conditions))


def previous_lessons(
    engine: Engine, lesson_id: int, limit: int = 10, *, viewer: Viewer
) -> pd.DataFrame:
    """The same class's earlier lessons the viewer may see (newest first), with summary columns."""
    visible = visible_lessons(viewer)
    this = select(Lesson.group_name, Lesson.started_at).where(Lesson.id == lesson_id, visible)
    group = this.with_only_columns(Lesson.group_name).scalar_subquery()
    started = this.with_only_columns(Lesson.started_at).scalar_subquery()
    ids = (
        select(Lesson.id)
        .where(Lesson.group_name == group, Lesson.started_at < started, visible)
        .order_by(Lesson.started_at.desc(), Lesson.id.desc())
        .limit(limit)
    )
    return _lessons_frame(engine, _lessons_select(Lesson.id.in_(ids)))


def find_lesson(engine: Engine, lesson_id: int, *, viewer: Viewer) -> dict[str, Any] | None:
    """One lesson's stored fields (owner included) when the viewer may see it, else None: to a
    teacher, another teacher's lesson and an id never used read the same."""
    stmt = select(*Lesson.__table__.columns).where(Lesson.id == lesson_id, visible_lessons(viewer))
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return None if row is None else dict(row)


__all__ = [
    "LESSON_SUMMARY_COLUMNS",
    "STUDENT_SUMMARY_COLUMNS",
    "ClassFigures",
    "LiveView",
    "Viewer",
    "find_lesson",
    "latest_states_select",
    "lesson_stats_select",
    "lesson_timeline",
    "lessons_summary",
    "live_view",
    "recent_samples_select",
    "low_moments",
    "previous_lessons",
    "student_summary",
    "student_summary_select",
    "student_trends",
    "student_trends_select",
    "timeline_frame",
    "timeline_select",
]
