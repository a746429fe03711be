"""What the live card reads while a lesson runs: each student's latest state and trend, the class
now and over the last minutes (its figures are storage/measures.py's). Every read is bounded by
`now`, so a replay gives the same view, and takes the `viewer` (storage/viewers.py): a lesson they
may not see has no rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Select, and_, func, select
from sqlalchemy.orm import aliased

from storage.frames import bucket_width_ms, read_frame
from storage.measures import ClassFigures, class_window, student_engagement
from storage.records import AttentionState
from storage.report_queries import timeline_frame, timeline_select
from storage.rollups import per_student_select
from storage.schema import ObservationRollup, ObservationRow, SampleRow, from_epoch_ms
from storage.viewers import Viewer, lesson_visible

Obs = ObservationRow
R = ObservationRollup


def student_trends_select(
    lesson_id: int,
    bucket_s: float,
    *,
    viewer: Viewer,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    """Per student and bucket: the student's mean engagement where counted (storage/measures.py;
    absent samples count as scored), NULL where the tile showed a still picture."""
    visible = lesson_visible(viewer, lesson_id)
    c = (
        per_student_select(lesson_id, bucket_width_ms(bucket_s), since, until, visible)
        .subquery("per_student")
        .c
    )
    return select(
        c.track_id, c.bucket_ms, student_engagement(c).label("engagement")
    ).order_by(c.track_id, c.bucket_ms)


def student_trends(
    engine: Engine | Connection,
    lesson_id: int,
    bucket_s: float,
    *,
    viewer: Viewer,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """track_id, bucket_start (aware UTC) and engagement: each student's trend, oldest first."""
    stmt = student_trends_select(lesson_id, bucket_s, viewer=viewer, since=since, until=until)
    frame = read_frame(engine, stmt, ms_columns=("bucket_ms",))
    return frame.rename(columns={"bucket_ms": "bucket_start"})


@dataclass(frozen=True)
class LiveView:
    """What the live card shows: each student's latest state and trend, the class over the last
    window (`now`) and the same window a minute earlier (`minute_ago`), the class's trend, the
    last samples (ts, faces_detected, stream), oldest first, and when each stream among them sent
    its first sample of the lesson (`stream_starts`: 0 the engine, N a joined student)."""

    students: pd.DataFrame
    now: ClassFigures
    trend: pd.DataFrame
    student_trends: pd.DataFrame
    samples: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["ts", "faces_detected", "stream"]))
    minute_ago: ClassFigures = field(default_factory=ClassFigures.nobody)
    stream_starts: dict[int, datetime] = field(default_factory=dict)

    @property
    def concentration(self) -> float | None:
        """Class concentration over the last window (storage/measures.py)."""
        return self.now.concentration

    @property
    def sample_times(self) -> pd.Series:
        """The times of the latest samples, oldest first (how fast the engine keeps up)."""
        return pd.Series(pd.to_datetime(self.samples["ts"], utc=True), dtype="datetime64[ns, UTC]")


def latest_states_select(lesson_id: int, now: datetime, *, viewer: Viewer) -> Select[Any]:
    """Each student's latest observation at or before `now` (one index probe per student)."""
    tracks = (
        select(R.track_id)
        .where(R.lesson_id == lesson_id, lesson_visible(viewer, lesson_id))
        .distinct()
        .subquery("tracks")
    )
    latest_ts = (
        select(func.max(Obs.ts))
        .where(Obs.lesson_id == lesson_id, Obs.track_id == tracks.c.track_id, Obs.ts <= now)
        .scalar_subquery()
    )
    latest = select(tracks.c.track_id, latest_ts.label("ts")).subquery("latest")
    return (
        select(Obs.track_id, Obs.ts, Obs.state, Obs.engagement, Obs.expression)
        .join(
            latest,
            and_(
                Obs.lesson_id == lesson_id, Obs.track_id == latest.c.track_id, Obs.ts == latest.c.ts
            ),
        )
        .order_by(Obs.track_id)
    )


def recent_samples_select(lesson_id: int, since: datetime, until: datetime, *,
                          viewer: Viewer) -> Select[Any]:
    """Each sample in (since, until], oldest first: when, how many faces it found (0 is data), and
    who measured it (its stream)."""
    return (
        select(SampleRow.ts, SampleRow.faces_detected, SampleRow.stream)
        .where(SampleRow.lesson_id == lesson_id, SampleRow.ts > since, SampleRow.ts <= until,
               lesson_visible(viewer, lesson_id))
        .order_by(SampleRow.ts)
    )


def stream_starts_select(lesson_id: int, since: datetime, until: datetime, *,
                         viewer: Viewer) -> Select[Any]:
    """Each stream with a sample in (since, until] and the time of its first sample of the lesson
    (one index probe per stream: (lesson_id, stream, t_ms) is unique)."""
    streams = (
        select(SampleRow.stream)
        .where(SampleRow.lesson_id == lesson_id, SampleRow.ts > since, SampleRow.ts <= until,
               lesson_visible(viewer, lesson_id))
        .distinct().subquery("streams")
    )  # fmt: skip
    first = aliased(SampleRow)
    first_ms = (
        select(func.min(first.t_ms))
        .where(first.lesson_id == lesson_id, first.stream == streams.c.stream)
        .scalar_subquery()
    )
    return select(streams.c.stream, first_ms.label("first_ms")).order_by(streams.c.stream)


MINUTE = timedelta(seconds=60)


def live_view(
    engine: Engine,
    lesson_id: int,
    *,
    viewer: Viewer,
    window_s: float,
    now: datetime,
    trend_s: float = 600.0,
    trend_bucket_s: float = 10.0,
    student_trend_s: float = 300.0,
    samples_s: float = 60.0,
) -> LiveView:
    """Students' latest states; the class figures over the last window_s before `now` and over the
    same window a minute earlier; the class's last trend_s and each student's last
    student_trend_s, in trend_bucket_s buckets; and the last samples_s' samples."""
    window = timedelta(seconds=window_s)
    with engine.connect() as conn:
        students = read_frame(conn, latest_states_select(lesson_id, now, viewer=viewer))
        students["ts"] = pd.to_datetime(students["ts"], utc=True)
        figures = class_window(conn, lesson_id, now - window, now, viewer=viewer)
        earlier = class_window(conn, lesson_id, now - MINUTE - window, now - MINUTE, viewer=viewer)
        trend_since = now - timedelta(seconds=trend_s)
        trend = timeline_frame(
            conn,
            timeline_select(lesson_id, trend_bucket_s, viewer=viewer, since=trend_since, until=now),
        )
        per_student = student_trends(
            conn,
            lesson_id,
            trend_bucket_s,
            viewer=viewer,
            since=now - timedelta(seconds=student_trend_s),
            until=now,
        )
        samples_since = now - timedelta(seconds=samples_s)
        samples = read_frame(conn, recent_samples_select(lesson_id, samples_since, now, viewer=viewer))
        samples["ts"] = pd.to_datetime(samples["ts"], utc=True)
        starts = {int(stream): from_epoch_ms(int(first_ms)) for stream, first_ms in conn.execute(
            stream_starts_select(lesson_id, samples_since, now, viewer=viewer))}  # fmt: skip
    return LiveView(
        students=students,
        now=figures,
        trend=trend,
        student_trends=per_student,
        samples=samples,
        minute_ago=earlier,
        stream_starts=starts,
    )


LAST_IN_VIEW_COLUMNS = ("track_id", "ts", "engagement")
_IN_VIEW = tuple(s.value for s in
                 (AttentionState.ATTENTIVE, AttentionState.LOOKING_AWAY, AttentionState.EYES_CLOSED))


def last_in_view(
    engine: Engine, lesson_id: int, as_of: datetime, track_ids: tuple[int, ...], *, viewer: Viewer
) -> pd.DataFrame:
    """track_id, ts, engagement: each given student's last observation in view at or before
    `as_of` (what an absent tile tells: since when, and how engaged they were); one statement, a
    newest-first walk of (lesson_id, track_id, ts) per student stopped at the first row in view."""
    if not track_ids:
        return pd.DataFrame(columns=list(LAST_IN_VIEW_COLUMNS))
    obs, inner, rollup = ObservationRow, aliased(ObservationRow), ObservationRollup
    tracks = (
        select(rollup.track_id)
        .where(rollup.lesson_id == lesson_id, rollup.track_id.in_(track_ids))
        .distinct()
        .subquery("tracks")
    )
    last_ts = (
        select(inner.ts)
        .where(inner.lesson_id == lesson_id, inner.track_id == tracks.c.track_id,
               inner.ts <= as_of, inner.state.in_(_IN_VIEW))
        .order_by(inner.ts.desc())
        .limit(1)
        .scalar_subquery()
    )
    last = select(tracks.c.track_id, last_ts.label("ts")).subquery("last")
    stmt = (
        select(obs.track_id, obs.ts, obs.engagement)
        .join(last, and_(obs.lesson_id == lesson_id, obs.track_id == last.c.track_id,
                         obs.ts == last.c.ts))
        .where(lesson_visible(viewer, lesson_id))
        .order_by(obs.track_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(LAST_IN_VIEW_COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame
