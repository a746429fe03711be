"""Cached reads through storage's query functions. Every loader takes the database URL and the
viewer (storage.viewers.Viewer: an account name and whether it is an admin) as plain arguments, so
caches never mix databases or teachers, and returns what storage returns (DataFrames, dicts).

The Engine is storage.db's (one per URL, cached there, never here); query results are
`st.cache_data` with a short TTL and a bound on entries, so a page rerun costs no database time
and a new sample shows up within seconds. A change forgets only the loaders it makes stale
(`clear_caches`, `forget_figures`, `forget_markers`), never the other pages' caches.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from dashboard import config, control
from engine import processes
from storage import exclusions, export, join, join_lessons, lessons, live_queries, markers, queries
from storage.db import StorageError, open_database
from storage.records import LessonStatus
from storage.viewers import Viewer

log = logging.getLogger(__name__)

LIVE_WINDOW_S = 10.0  # "concentration now" is the class concentration over the last 10 s
LIVE_TREND_S = 600.0
LIVE_TREND_BUCKET_S = 10.0
LIVE_REFRESH_S = 2.0  # the live card reruns this often; its data is as of the last such tick


@st.cache_resource(show_spinner=False)
def _prepared(db_url: str) -> bool:
    """Once per server start and URL: the database reachable and migrated (storage.db keeps its one
    Engine), and the retention period (CLASSPULSE_RETENTION_DAYS) applied. Never mutated."""
    engine = open_database(db_url)
    join_lessons.close_abandoned_joins(engine, config.utc_now())  # so retention finds them ended
    lessons.apply_retention(engine, lessons.retention_days_from_env(), datetime.now(UTC),
                            is_alive=processes.is_alive)
    return True


def database(db_url: str) -> Engine:
    """The one Engine for a URL: storage.db's own, prepared once per server start (raises
    storage.db.StorageError when it cannot be opened)."""
    _prepared(db_url)
    return open_database(db_url, migrate=False)


def settle_dead_engines(db_url: str, data_dir: Path) -> list[int]:
    """Settle lessons whose engine on this computer has died: first with the cause the dashboard's
    own engine said in its last events ("disk full"), when it could not store it itself; the rest
    as interrupted. Close the join lessons left open with nobody sending (storage.join_lessons).
    Their ids.

    Not cached: called on every page load and live refresh (two short reads while all is well).
    When a lesson was marked, cached reads are forgotten so every page shows it ended. A database
    that cannot be read now is the pages' to report, not this check's.
    """
    try:
        told = control.settle_dead_engine(Path(data_dir), database(db_url))
        marked = [] if told is None else [told]
        marked += lessons.mark_dead_engines_interrupted(database(db_url), processes.is_alive)
        marked += join_lessons.close_abandoned_joins(database(db_url), config.utc_now())
    except (StorageError, SQLAlchemyError) as exc:
        log.warning("cannot check the running lessons' engines: %s", exc)
        return []
    if marked:
        clear_caches()
    return marked


@st.cache_data(ttl=5, max_entries=32, show_spinner=False)
def load_lessons(
    db_url: str,
    viewer: Viewer,
    group: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """The viewer's lessons with duration, students, mean concentration (newest first)."""
    return queries.lessons_summary(
        database(db_url), viewer=viewer, group=group, since=since, until=until
    )


@st.cache_data(ttl=2, max_entries=64, show_spinner=False)
def load_lesson_row(
    db_url: str, viewer: Viewer, lesson_id: int, started_at: datetime
) -> pd.DataFrame:
    """One lesson's summary row (empty when gone): its duration tells the time of its last sample."""
    frame = queries.lessons_summary(
        database(db_url),
        viewer=viewer,
        since=started_at,
        until=started_at + timedelta(milliseconds=1),
    )
    return frame[frame["id"] == lesson_id].reset_index(drop=True)


@st.cache_data(ttl=5, max_entries=64, show_spinner=False)
def load_lesson(db_url: str, viewer: Viewer, lesson_id: int) -> dict[str, Any] | None:
    """One lesson's stored fields, None when there is no such lesson for this viewer."""
    return queries.find_lesson(database(db_url), lesson_id, viewer=viewer)


@st.cache_data(ttl=2, max_entries=16, show_spinner=False)
def load_excluded(db_url: str, viewer: Viewer, lesson_id: int) -> list[int]:
    """Tracks of the lesson the teacher marked "not a student" (none for a lesson not theirs)."""
    if queries.find_lesson(database(db_url), lesson_id, viewer=viewer) is None:
        return []
    return exclusions.excluded_tracks(database(db_url), lesson_id)


def mark_not_a_student(db_url: str, viewer: Viewer, lesson_id: int, track_id: int) -> bool:
    """Store that a track is not a student (self-view, guest); False when the lesson is not theirs."""
    if queries.find_lesson(database(db_url), lesson_id, viewer=viewer) is None:
        return False
    exclusions.exclude_track(database(db_url), lesson_id, track_id, datetime.now(UTC))
    forget_figures()
    return True


def count_again(db_url: str, viewer: Viewer, lesson_id: int, track_id: int) -> bool:
    """Undo "not a student": the track counts again; False when the lesson is not theirs."""
    if queries.find_lesson(database(db_url), lesson_id, viewer=viewer) is None:
        return False
    exclusions.include_track(database(db_url), lesson_id, track_id)
    forget_figures()
    return True


@st.cache_data(ttl=2, max_entries=8, show_spinner=False)
def load_running(db_url: str, viewer: Viewer) -> pd.DataFrame:
    """The viewer's lessons the database marks as running, newest first."""
    return queries.lessons_summary(
        database(db_url), viewer=viewer, status=LessonStatus.RUNNING.value
    )


# --- join lessons: students join from their browser (dashboard/live_join.py) -----------------------


@st.cache_data(ttl=2, max_entries=8, show_spinner=False)
def load_open_joins(db_url: str, viewer: Viewer) -> list[join_lessons.OpenJoin]:
    """The viewer's join lessons students can still join, newest first."""
    return join_lessons.open_join_lessons(database(db_url), viewer=viewer)


def load_join_students(db_url: str, viewer: Viewer, lesson_id: int, now: datetime) -> pd.DataFrame:
    """A join lesson's students (storage.join.students_frame) as of the start of the refresh tick
    `now` falls in (never ahead of the clock: "no data for 10 s" is never said early); none for a
    lesson not the viewer's."""
    return _load_join_students_at(db_url, viewer, lesson_id, live_tick(now))


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def _load_join_students_at(db_url: str, viewer: Viewer, lesson_id: int, as_of: datetime) -> pd.DataFrame:
    engine = database(db_url)
    with engine.connect() as conn:
        if queries.find_lesson(engine, lesson_id, viewer=viewer) is None:
            return join.students_frame(conn, -1, as_of)  # the frame's columns, no student
        return join.students_frame(conn, lesson_id, as_of)


def open_join(db_url: str, spec: lessons.LessonSpec, *, ask_names: bool) -> join.JoinLessonInfo:
    """Open a join lesson (storage.join.open_join_lesson): no engine is started for it."""
    info = join.open_join_lesson(database(db_url), spec, ask_names=ask_names)
    clear_caches()
    return info


def close_join(db_url: str, viewer: Viewer, lesson_id: int) -> bool:
    """End the viewer's join lesson now: finished, and its link says so; False when not theirs."""
    if queries.find_lesson(database(db_url), lesson_id, viewer=viewer) is None:
        return False
    closed = join.close_join(database(db_url), lesson_id, config.utc_now())
    clear_caches()
    return closed


def remove_student(db_url: str, viewer: Viewer, lesson_id: int, track_id: int) -> bool:
    """Remove a joined student from the viewer's lesson: their link stops working; False when the
    lesson is not theirs or the student was already removed."""
    if queries.find_lesson(database(db_url), lesson_id, viewer=viewer) is None:
        return False
    removed = join.remove_student(database(db_url), lesson_id, track_id, config.utc_now())
    _load_join_students_at.clear()
    return removed


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def load_timeline(db_url: str, viewer: Viewer, lesson_id: int, bucket_s: float) -> pd.DataFrame:
    """A lesson per time bucket (concentration, state shares, expression means and counts)."""
    return queries.lesson_timeline(database(db_url), lesson_id, bucket_s, viewer=viewer)


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def load_students(db_url: str, viewer: Viewer, lesson_id: int) -> pd.DataFrame:
    """One row per anonymous student of a lesson."""
    return queries.student_summary(database(db_url), lesson_id, viewer=viewer)


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def load_low_moments(
    db_url: str, viewer: Viewer, lesson_id: int, bucket_s: float, n: int = 3
) -> pd.DataFrame:
    """The n buckets with the lowest class concentration, lowest first."""
    return queries.low_moments(database(db_url), lesson_id, bucket_s, n, viewer=viewer)


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def load_previous(db_url: str, viewer: Viewer, lesson_id: int, limit: int = 10) -> pd.DataFrame:
    """The same class's earlier lessons the viewer may see, newest first."""
    return queries.previous_lessons(database(db_url), lesson_id, limit, viewer=viewer)


# --- lesson markers: read by the live card on every refresh, so cached briefly and forgotten on change


@st.cache_data(ttl=5, max_entries=16, show_spinner=False)
def load_markers(db_url: str, viewer: Viewer, lesson_id: int) -> pd.DataFrame:
    """A lesson's markers in time order: marker_id, ts (aware UTC), label."""
    return markers.lesson_markers(database(db_url), lesson_id, viewer=viewer)


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def load_marker_context(db_url: str, viewer: Viewer, lesson_id: int) -> pd.DataFrame:
    """A lesson's markers with the class concentration up to 5 minutes before and after each."""
    return markers.marker_context(database(db_url), lesson_id, viewer=viewer)


def add_marker(
    db_url: str, viewer: Viewer, lesson_id: int, at: datetime, label: str | None
) -> int:
    """Store a marker at `at` (storage.markers.add_marker) and show it on the next run; its id.

    StorageError when the lesson is gone or not the viewer's; ValueError for a label too long.
    """
    marker_id = markers.add_marker(
        database(db_url), lesson_id, at, label, viewer=viewer, created_at=datetime.now(UTC)
    )
    forget_markers()
    return marker_id


def remove_marker(db_url: str, viewer: Viewer, lesson_id: int, marker_id: int) -> bool:
    """Remove one marker of the viewer's lesson; False when there was none."""
    removed = markers.delete_marker(database(db_url), lesson_id, marker_id, viewer=viewer)
    forget_markers()
    return removed


def forget_markers() -> None:
    """Forget the cached markers only (the live view and the report's other figures stay cached)."""
    load_markers.clear()
    load_marker_context.clear()


@st.cache_data(ttl=60, max_entries=1, show_spinner=False)
def load_webcams() -> list[int]:
    """Camera indexes that open on this computer (probed at most once a minute, while the Live
    form is shown: engine.processes.list_cameras)."""
    return processes.list_cameras()


def live_tick(now: datetime, period_s: float = LIVE_REFRESH_S) -> datetime:
    """`now` floored to the live card's refresh period (aware UTC): the tick a live view belongs to."""
    if now.tzinfo is None:
        raise ValueError(f"the live clock must be timezone-aware, got naive {now.isoformat()}")
    return datetime.fromtimestamp(math.floor(now.timestamp() / period_s) * period_s, UTC)


def live_as_of(now: datetime, period_s: float = LIVE_REFRESH_S) -> datetime:
    """The end of the refresh tick `now` falls in: the time a live view is as of.

    Not the tick's start: the engine stamps a sample when it takes the frame, so a sample already
    stored when the tick's first run reads shows at once rather than one tick (2 s) later.
    """
    return live_tick(now, period_s) + timedelta(seconds=period_s)


def load_live(db_url: str, viewer: Viewer, lesson_id: int, now: datetime) -> queries.LiveView:
    """Students' latest states, concentration over the last 10 s and the last 10 minutes' trend,
    as of the refresh tick `now` falls in (see live_as_of)."""
    return _load_live_at(db_url, viewer, lesson_id, live_as_of(now))


# Keyed on the refresh tick, not the clock's microseconds: every run within one tick (a fragment
# refresh, a widget rerun, a second browser tab) shares one query; a new tick is a new key.
@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def _load_live_at(db_url: str, viewer: Viewer, lesson_id: int, as_of: datetime) -> queries.LiveView:
    return queries.live_view(
        database(db_url),
        lesson_id,
        viewer=viewer,
        window_s=LIVE_WINDOW_S,
        now=as_of,
        trend_s=LIVE_TREND_S,
        trend_bucket_s=LIVE_TREND_BUCKET_S,
    )


def load_last_present(
    db_url: str, viewer: Viewer, lesson_id: int, now: datetime, track_ids: tuple[int, ...]
) -> pd.DataFrame:
    """track_id, ts, engagement: each given student's last observation in view, as of the refresh
    tick `now` falls in (what an absent tile tells: since when, and how engaged they were)."""
    if not track_ids:
        return pd.DataFrame(columns=list(live_queries.LAST_IN_VIEW_COLUMNS))
    return _load_last_present_at(db_url, viewer, lesson_id, live_as_of(now), tuple(sorted(track_ids)))


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def _load_last_present_at(
    db_url: str, viewer: Viewer, lesson_id: int, as_of: datetime, track_ids: tuple[int, ...]
) -> pd.DataFrame:
    return live_queries.last_in_view(database(db_url), lesson_id, as_of, track_ids, viewer=viewer)


def iter_export(
    db_url: str, viewer: Viewer, lesson_id: int, kind: str, timezone: str = "UTC",
    bucket_s: float = export.DEFAULT_BUCKET_S,
) -> Iterator[bytes]:
    """A lesson's export in chunks (CSV as UTF-8, or the .xlsx workbook), straight from storage
    (not cached: the raw export can be large); the teacher's kinds in `timezone`."""
    return export.export_chunks(database(db_url), lesson_id, kind, viewer=viewer, timezone=timezone,
                                bucket_s=bucket_s, generated_at=config.utc_now())  # fmt: skip


def export_bytes(
    db_url: str, viewer: Viewer, lesson_id: int, kind: str, timezone: str = "UTC",
    bucket_s: float = export.DEFAULT_BUCKET_S,
) -> bytes:
    """A lesson's whole export as bytes, built when the teacher clicks download."""
    return b"".join(iter_export(db_url, viewer, lesson_id, kind, timezone, bucket_s))


# What each change makes stale. Only these loaders are cleared: other caches (the photo page's,
# the webcams list) keep their entries.
FIGURES = (load_lessons, load_lesson_row, load_running, load_timeline, load_students, load_low_moments,
           load_previous, load_marker_context, load_excluded, _load_live_at)
LESSONS = (*FIGURES, load_lesson, load_markers, _load_last_present_at, load_open_joins,
           _load_join_students_at)


def forget_figures() -> None:
    """Forget every cached figure of the lessons (a track marked "not a student", or counted again):
    the lessons' own fields, their markers and the students' last rows in view stay cached."""
    for loader in FIGURES:
        loader.clear()


def clear_caches() -> None:
    """Forget every cached read of lessons (one started, ended, deleted or purged)."""
    for loader in LESSONS:
        loader.clear()
