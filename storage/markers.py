"""Lesson markers: moments a teacher marked ("quiz", "group work", "break"), live or afterwards.

Markers are stored with their lesson and go with it (retention, delete). Every read and write
takes the `viewer` (storage/viewers.py): a lesson they may not see has no markers and takes none.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, delete, select

from storage.db import StorageError, write_transaction
from storage.frames import read_frame
from storage.report_queries import timeline_frame, timeline_select
from storage.schema import MARKER_LABEL_MAX, Lesson, LessonMarker, to_epoch_ms
from storage.viewers import Viewer, lesson_visible

MARKER_COLUMNS = ("marker_id", "ts", "label")
CONTEXT_COLUMNS = (*MARKER_COLUMNS, "concentration_before", "concentration_after")
CONTEXT_WINDOW_S = 300.0  # "the minutes before and after" a marker: 5 min each side
_CONTEXT_BUCKET_S = 10.0  # the rollup slot: exact and cheap


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
    """The lesson's markers with the class concentration in the `window_s` before and after each.

    Each figure is the mean of the 10-second class concentrations in [ts - window, ts) and
    [ts, ts + window), over buckets where some student was seen; NaN where there were none (a
    marker at the lesson's start has nothing before it).
    """
    markers = lesson_markers(engine, lesson_id, viewer=viewer)
    if markers.empty:
        return pd.DataFrame(columns=list(CONTEXT_COLUMNS))
    window = pd.Timedelta(seconds=window_s)
    before, after = [], []
    with engine.connect() as conn:
        for ts in markers["ts"]:
            # Only the buckets around this marker: a long lesson's whole timeline is never read.
            stmt = timeline_select(lesson_id, _CONTEXT_BUCKET_S, viewer=viewer,
                                   since=(ts - window).to_pydatetime(),
                                   until=(ts + window).to_pydatetime())
            timeline = timeline_frame(conn, stmt)
            starts = timeline["bucket_start"]
            values = pd.to_numeric(timeline["concentration"], errors="coerce")
            before.append(values[(starts >= ts - window) & (starts < ts)].mean())
            after.append(values[(starts >= ts) & (starts < ts + window)].mean())
    return markers.assign(concentration_before=before, concentration_after=after)
