"""Lesson markers: moments a teacher marked ("quiz", "group work", "break"), live or afterwards.

Markers are stored with their lesson and go with it (retention, delete). Every read and write
takes the `viewer` (storage/viewers.py): a lesson they may not see has no markers and takes none.
"""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, delete, func, select

from storage.db import StorageError, write_transaction
from storage.frames import read_frame
from storage.measures import class_window
from storage.schema import MARKER_LABEL_MAX, Lesson, LessonMarker, SampleRow, to_epoch_ms
from storage.viewers import Viewer, lesson_visible

MARKER_COLUMNS = ("marker_id", "ts", "label")
CONTEXT_COLUMNS = (
    *MARKER_COLUMNS, "concentration_before", "concentration_after", "before_s", "after_s", "into_s",
)  # fmt: skip
CONTEXT_WINDOW_S = 300.0  # "the minutes before and after" a marker: up to 5 min each side
_ONE_MS = pd.Timedelta(milliseconds=1)  # the lesson's last sample belongs to the minutes after


def clean_label(raw: str | None) -> str:
    """A marker's label as stored: one line, trimmed, at most MARKER_LABEL_MAX characters."""
    label = " ".join((raw or "").split())
    if len(label) > MARKER_LABEL_MAX:
        raise ValueError(f"a marker label is at most {MARKER_LABEL_MAX} characters, got {len(label)}")
    return label


def add_marker(
    engine: Engine, lesson_id: int, at: datetime, label: str | None, *, viewer: Viewer,
    created_at: datetime,
) -> int:
    """Store a marker at `at` in a lesson the viewer may see and return its id.

    StorageError when there is no such lesson (for this viewer); ValueError for a label too long.
    """
    text = clean_label(label)
    with write_transaction(engine) as conn:
        found = conn.execute(
            select(Lesson.id).where(Lesson.id == lesson_id, lesson_visible(viewer, lesson_id))
        ).first()
        if found is None:
            raise StorageError(f"no lesson with id {lesson_id}")
        result = conn.execute(
            LessonMarker.__table__.insert().values(
                lesson_id=lesson_id, ts=at, t_ms=to_epoch_ms(at), label=text, created_at=created_at
            )
        )
        return int(result.inserted_primary_key[0])


def delete_marker(engine: Engine, lesson_id: int, marker_id: int, *, viewer: Viewer) -> bool:
    """Remove one marker of a lesson the viewer may see; False when there was none."""
    with write_transaction(engine) as conn:
        result = conn.execute(
            delete(LessonMarker).where(
                LessonMarker.id == marker_id,
                LessonMarker.lesson_id == lesson_id,
                lesson_visible(viewer, lesson_id),
            )
        )
        return bool(result.rowcount)


def lesson_markers(engine: Engine, lesson_id: int, *, viewer: Viewer) -> pd.DataFrame:
    """The lesson's markers in time order: marker_id, ts (aware UTC), label."""
    stmt = (
        select(LessonMarker.id.label("marker_id"), LessonMarker.t_ms.label("ts"), LessonMarker.label)
        .where(LessonMarker.lesson_id == lesson_id, lesson_visible(viewer, lesson_id))
        .order_by(LessonMarker.t_ms, LessonMarker.id)
    )
    return read_frame(engine, stmt, ("ts",))


def marker_context(
    engine: Engine, lesson_id: int, *, viewer: Viewer, window_s: float = CONTEXT_WINDOW_S
) -> pd.DataFrame:
    """The lesson's markers with the class concentration (storage/measures.py) up to `window_s`
    before and after each: over [ts - window, ts) and [ts, ts + window), cut at the lesson's start
    and after its last sample.

    before_s / after_s say how long each side really covered (a 3-minute lesson has no 5 minutes
    either side), into_s how far into the lesson the marker is; a side with no one counted (a
    marker at the lesson's start has nothing before it) is NaN.
    """
    markers = lesson_markers(engine, lesson_id, viewer=viewer)
    if markers.empty:
        return pd.DataFrame(columns=list(CONTEXT_COLUMNS))
    window, rows = pd.Timedelta(seconds=window_s), []
    with engine.connect() as conn:
        started, last = conn.execute(
            select(Lesson.started_at, select(func.max(SampleRow.ts))
                   .where(SampleRow.lesson_id == lesson_id).scalar_subquery())
            .where(Lesson.id == lesson_id)
        ).one()
        start = pd.Timestamp(started)
        last = start if last is None else max(start, pd.Timestamp(last))
        for ts in markers["ts"]:
            since, until = max(start, ts - window), min(last, ts + window)
            before = class_window(conn, lesson_id, since.to_pydatetime(), ts.to_pydatetime(),
                                  viewer=viewer)
            end = until + _ONE_MS if until == last else until  # the last sample is in, once
            after = class_window(conn, lesson_id, ts.to_pydatetime(), end.to_pydatetime(),
                                 viewer=viewer)
            rows.append((
                _or_nan(before.concentration), _or_nan(after.concentration),
                max(0.0, (min(ts, last) - since).total_seconds()),
                max(0.0, (until - ts).total_seconds()), (ts - start).total_seconds(),
            ))
    columns = ["concentration_before", "concentration_after", "before_s", "after_s", "into_s"]
    return markers.assign(**{name: [row[i] for row in rows] for i, name in enumerate(columns)})


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value
