"""Reading: aggregation in SQL (Core select()), results as pandas DataFrames with aware-UTC times.

Time buckets are integer arithmetic on epoch milliseconds: `(t_ms / bucket_ms) * bucket_ms` is
integer division on both SQLite and PostgreSQL, so one statement serves both. Whole-lesson reads
aggregate the 10-second per-student rollups (storage/rollups.py) when the bucket is a multiple of
10 s, and the observations themselves otherwise; both give the same numbers. Builders named
`*_select` return the statement for callers that want to run or paginate it themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    select,
)

from storage.records import EXPRESSIONS, AttentionState
from storage.rollups import count_if, raw_per_student_select, rollup_per_student_select
from storage.schema import (
    ATTENTION_STATES,
    ROLLUP_SLOT_MS,
    Lesson,
    ObservationRollup,
    ObservationRow,
    SampleRow,
    from_epoch_ms,
    to_epoch_ms,
)

Obs = ObservationRow
R = ObservationRollup
_ABSENT = AttentionState.ABSENT.value

LESSON_SUMMARY_COLUMNS = (
    "id", "title", "group_name", "started_at", "ended_at", "status", "attention_only",
    "duration_s", "students_seen", "mean_concentration", "share_attentive",
)  # fmt: skip


def _ratio(numerator: ColumnElement[Any], denominator: ColumnElement[Any]) -> ColumnElement[Any]:
    """numerator / denominator as a float, NULL when the denominator is 0."""
    return cast(numerator, Float) / func.nullif(denominator, 0)


def _bucket_ms(bucket_s: float) -> int:
    """A bucket width in whole milliseconds (at least 1)."""
    if bucket_s <= 0:
        raise ValueError(f"bucket_s must be > 0, got {bucket_s}")
    return max(1, round(bucket_s * 1000))


def _frame(
    source: Engine | Connection, stmt: Select[Any], ms_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Run a select and return a DataFrame; epoch-ms columns become aware UTC datetimes."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            return _frame(conn, stmt, ms_columns)
    result = source.execute(stmt)
    frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    for column in ms_columns:
        frame[column] = pd.to_datetime(frame[column].astype("Int64"), unit="ms", utc=True)
    return frame


def _dominant(frame: pd.DataFrame, prefix: str) -> list[str | None]:
    """Per row, the expression with the largest `{prefix}{name}` value (None when all are 0/NULL)."""
    if frame.empty:
        return []
    values = frame[[f"{prefix}{name}" for name in EXPRESSIONS]].astype(float).fillna(0.0).to_numpy()
    best = values.argmax(axis=1)
    has_any = values.max(axis=1) > 0
    return [EXPRESSIONS[k] if ok else None for k, ok in zip(best, has_any, strict=True)]


# --- lessons ---------------------------------------------------------------------------------


def lesson_stats_select(*conditions: ColumnElement[bool]) -> Select[Any]:
    """Per-lesson students_seen, mean_concentration and share_attentive, from the rollups.

    mean_concentration is the mean engagement over all observations (absent rows count as 0),
    i.e. the time-average of the class concentration when every student has a row per sample.
    """
    return (
        select(
            R.lesson_id.label("lesson_id"),
            func.count(func.distinct(case((R.n_absent < R.n, R.track_id)))).label("students_seen"),
            _ratio(func.sum(R.engagement_sum), func.sum(R.n)).label("mean_concentration"),
            _ratio(func.sum(R.n_attentive), func.sum(R.n)).label("share_attentive"),
        )
        .where(*conditions)
        .group_by(R.lesson_id)
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
            Lesson.attention_only,
            func.coalesce(Lesson.ended_at, last_sample).label("last_at"),
            func.coalesce(stats.c.students_seen, 0).label("students_seen"),
            stats.c.mean_concentration,
            stats.c.share_attentive,
        )
        .outerjoin(stats, stats.c.lesson_id == Lesson.id)
        .where(*conditions)
        .order_by(Lesson.started_at.desc(), Lesson.id.desc())
    )


def _lessons_frame(engine: Engine, stmt: Select[Any]) -> pd.DataFrame:
    """Run a lessons select and finish the frame: aware times and duration_s."""
    frame = _frame(engine, stmt)
    if frame.empty:
        return pd.DataFrame(columns=list(LESSON_SUMMARY_COLUMNS))
    for column in ("started_at", "ended_at", "last_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["duration_s"] = (frame["last_at"] - frame["started_at"]).dt.total_seconds().fillna(0.0)
    frame["attention_only"] = frame["attention_only"].astype(bool)
    return frame[list(LESSON_SUMMARY_COLUMNS)]


def lessons_summary(
    engine: Engine,
    *,
    group: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Lessons (newest first) with duration, students seen, mean concentration and share attentive."""
    conditions = []
    if group is not None:
        conditions.append(Lesson.group_name == group)
    if since is not None:
        conditions.append(Lesson.started_at >= since)
    if until is not None:
        conditions.append(Lesson.started_at < until)
    return _lessons_frame(engine, _lessons_select(*conditions))


def previous_lessons(engine: Engine, lesson_id: int, limit: int = 10) -> pd.DataFrame:
    """The same class's earlier lessons (newest first) with their summary columns."""
    this = select(Lesson.group_name, Lesson.started_at).where(Lesson.id == lesson_id)
    group = this.with_only_columns(Lesson.group_name).scalar_subquery()
    started = this.with_only_columns(Lesson.started_at).scalar_subquery()
    ids = (
        select(Lesson.id)
        .where(Lesson.group_name == group, Lesson.started_at < started)
        .order_by(Lesson.started_at.desc(), Lesson.id.desc())
        .limit(limit)
    )
    return _lessons_frame(engine, _lessons_select(Lesson.id.in_(ids)))


# --- one lesson over time --------------------------------------------------------------------


def _per_student(
    lesson_id: int,
    bucket_ms: int,
    since: datetime | None,
    until: datetime | None,
    from_rows: bool = False,
) -> Select[Any]:
    """Per (bucket, student) sums, from rollups when the bucket allows, else from observations.

    since/until select whole buckets: those overlapping [since, until].
    """
    lo = None if since is None else to_epoch_ms(since) // bucket_ms * bucket_ms
    hi = None if until is None else to_epoch_ms(until) // bucket_ms * bucket_ms + bucket_ms
    if bucket_ms % ROLLUP_SLOT_MS == 0 and not from_rows:
        conditions = [R.lesson_id == lesson_id]
        if lo is not None:
            conditions.append(R.slot_ms >= lo)
        if hi is not None:
            conditions.append(R.slot_ms < hi)
        return rollup_per_student_select(bucket_ms, *conditions)
    # A time range (even an open one) steers SQLite to the (lesson_id, ts) index, which reads
    # rows in insertion order; the (lesson_id, track_id, ts) index would read them scattered.
    conditions = [Obs.lesson_id == lesson_id, Obs.ts >= from_epoch_ms(lo or 0)]
    if hi is not None:
        conditions.append(Obs.ts < from_epoch_ms(hi))
    return raw_per_student_select(bucket_ms, *conditions)


def timeline_select(
    lesson_id: int,
    bucket_s: float,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    from_rows: bool = False,
) -> Select[Any]:
    """Per bucket: concentration, state shares, mean expression probabilities and counts, students.

    `from_rows=True` aggregates the observations even where rollups could serve (for checks).
    """
    bucket_ms = _bucket_ms(bucket_s)
    c = _per_student(lesson_id, bucket_ms, since, until, from_rows).subquery("per_student").c
    total = func.sum(c.n)
    n_probabilities = func.sum(c.n_probabilities)
    return (
        select(
            c.bucket_ms,
            # Mean over students of each student's mean engagement in the bucket (absent = 0).
            func.avg(cast(c.engagement_sum, Float) / c.n).label("concentration"),
            *(_ratio(func.sum(c[f"n_{s}"]), total).label(f"share_{s}") for s in ATTENTION_STATES),
            *(
                _ratio(func.sum(c[f"p_{name}_sum"]), n_probabilities).label(f"p_{name}")
                for name in EXPRESSIONS
            ),
            *(func.sum(c[f"n_{name}"]).label(f"count_{name}") for name in EXPRESSIONS),
            count_if(c[f"n_{_ABSENT}"] < c.n).label("students_present"),
            func.count().label("students"),
            total.label("observations"),
        )
        .group_by(c.bucket_ms)
        .order_by(c.bucket_ms)
    )


def _timeline_frame(source: Engine | Connection, stmt: Select[Any]) -> pd.DataFrame:
    """Run a timeline select; name the bucket start and add the dominant expression per bucket."""
    frame = _frame(source, stmt, ms_columns=("bucket_ms",))
    frame = frame.rename(columns={"bucket_ms": "bucket_start"})
    frame["dominant_expression"] = _dominant(frame, "count_")
    return frame


def lesson_timeline(engine: Engine, lesson_id: int, bucket_s: float) -> pd.DataFrame:
    """One lesson per time bucket: concentration (mean of students' mean engagement), shares, expressions."""
    return _timeline_frame(engine, timeline_select(lesson_id, bucket_s))


def low_moments(engine: Engine, lesson_id: int, bucket_s: float, n: int = 3) -> pd.DataFrame:
    """The n buckets with the lowest class concentration, lowest first."""
    timeline = timeline_select(lesson_id, bucket_s).order_by(None).subquery("timeline")
    stmt = select(timeline).order_by(timeline.c.concentration, timeline.c.bucket_ms).limit(n)
    return _timeline_frame(engine, stmt)


# --- students --------------------------------------------------------------------------------


def seconds_per_sample(lesson_id: int) -> ColumnElement[Any]:
    """The time each of a lesson's samples stands for: the mean gap between them (one period for one).

    That is 1 / rate when the engine kept the asked rate, and longer when the machine managed fewer
    samples (a live source skips frames rather than fall behind), so time present follows the clock.
    """
    rate = select(Lesson.sample_rate_hz).where(Lesson.id == lesson_id).scalar_subquery()
    span_s = cast(func.max(SampleRow.t_ms) - func.min(SampleRow.t_ms), Float) / 1000.0
    count = func.count()
    return (
        select(case((count > 1, span_s / (count - 1)), else_=1.0 / rate))
        .where(SampleRow.lesson_id == lesson_id)
        .scalar_subquery()
    )


def student_summary_select(lesson_id: int) -> Select[Any]:
    """Per-student sums over the lesson (time present, engagement, states, expression counts)."""
    n = func.sum(R.n)
    return (
        select(
            R.track_id,
            (cast(n - func.sum(R.n_absent), Float) * seconds_per_sample(lesson_id)).label(
                "time_present_s"
            ),
            _ratio(func.sum(R.engagement_sum), n).label("mean_engagement"),
            *(
                _ratio(func.sum(getattr(R, f"n_{s}")), n).label(f"share_{s}")
                for s in ATTENTION_STATES
            ),
            *(func.sum(getattr(R, f"n_{name}")).label(f"count_{name}") for name in EXPRESSIONS),
        )
        .where(R.lesson_id == lesson_id)
        .group_by(R.track_id)
        .order_by(R.track_id)
    )


STUDENT_SUMMARY_COLUMNS = (
    "track_id", "time_present_s", "mean_engagement", "share_attentive", "share_looking_away",
    "share_eyes_closed", "share_absent", "dominant_expression",
)  # fmt: skip


def student_summary(engine: Engine, lesson_id: int) -> pd.DataFrame:
    """One row per anonymous student (time present = present samples × the time a sample stands for)."""
    frame = _frame(engine, student_summary_select(lesson_id))
    frame["dominant_expression"] = _dominant(frame, "count_")
    return frame[list(STUDENT_SUMMARY_COLUMNS)]


# --- live ------------------------------------------------------------------------------------


def student_trends_select(
    lesson_id: int, bucket_s: float, *, since: datetime | None = None, until: datetime | None = None
) -> Select[Any]:
    """Per student and bucket: the student's mean engagement (absent samples count as scored)."""
    c = _per_student(lesson_id, _bucket_ms(bucket_s), since, until).subquery("per_student").c
    return select(
        c.track_id, c.bucket_ms, (cast(c.engagement_sum, Float) / c.n).label("engagement")
    ).order_by(c.track_id, c.bucket_ms)


def student_trends(
    engine: Engine | Connection,
    lesson_id: int,
    bucket_s: float,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """track_id, bucket_start (aware UTC) and engagement: each student's trend, oldest first."""
    stmt = student_trends_select(lesson_id, bucket_s, since=since, until=until)
    frame = _frame(engine, stmt, ms_columns=("bucket_ms",))
    return frame.rename(columns={"bucket_ms": "bucket_start"})


@dataclass(frozen=True)
class LiveView:
    """What the live card shows: each student's latest state and trend, the class now and its trend,
    and the times of the latest samples (how fast the engine keeps up)."""

    students: pd.DataFrame
    concentration: float | None
    trend: pd.DataFrame
    student_trends: pd.DataFrame
    sample_times: pd.Series = field(default_factory=lambda: pd.Series(dtype="datetime64[ns, UTC]"))


def sample_times_select(lesson_id: int, since: datetime, until: datetime) -> Select[Any]:
    """The times of a lesson's samples in (since, until], oldest first (an index range scan)."""
    return (
        select(SampleRow.ts)
        .where(SampleRow.lesson_id == lesson_id, SampleRow.ts > since, SampleRow.ts <= until)
        .order_by(SampleRow.ts)
    )


def latest_states_select(lesson_id: int, now: datetime) -> Select[Any]:
    """Each student's latest observation at or before `now` (one index probe per student)."""
    tracks = select(R.track_id).where(R.lesson_id == lesson_id).distinct().subquery("tracks")
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


def window_concentration_select(lesson_id: int, since: datetime, until: datetime) -> Select[Any]:
    """Class concentration over (since, until]: mean over students of their mean engagement."""
    per_student = (
        select(func.avg(Obs.engagement).label("engagement"))
        .where(Obs.lesson_id == lesson_id, Obs.ts > since, Obs.ts <= until)
        .group_by(Obs.track_id)
        .subquery("per_student")
    )
    return select(func.avg(per_student.c.engagement))


def live_view(
    engine: Engine,
    lesson_id: int,
    *,
    window_s: float,
    now: datetime,
    trend_s: float = 600.0,
    trend_bucket_s: float = 10.0,
    student_trend_s: float = 300.0,
    sample_times_s: float = 60.0,
) -> LiveView:
    """Students' latest states, concentration over the last window_s, the class's last trend_s and
    each student's last student_trend_s, in trend_bucket_s buckets, and the last sample_times_s of
    sample times."""
    since = now - timedelta(seconds=window_s)
    with engine.connect() as conn:
        students = _frame(conn, latest_states_select(lesson_id, now))
        students["ts"] = pd.to_datetime(students["ts"], utc=True)
        concentration = conn.execute(window_concentration_select(lesson_id, since, now)).scalar()
        trend = _timeline_frame(
            conn,
            timeline_select(
                lesson_id, trend_bucket_s, since=now - timedelta(seconds=trend_s), until=now
            ),
        )
        per_student = student_trends(
            conn, lesson_id, trend_bucket_s, since=now - timedelta(seconds=student_trend_s), until=now
        )
        times = conn.execute(
            sample_times_select(lesson_id, now - timedelta(seconds=sample_times_s), now)
        ).scalars()
        sample_times = pd.Series(pd.to_datetime(list(times), utc=True), dtype="datetime64[ns, UTC]")
    return LiveView(
        students=students,
        concentration=None if concentration is None else float(concentration),
        trend=trend,
        student_trends=per_student,
        sample_times=sample_times,
    )


__all__ = [
    "LESSON_SUMMARY_COLUMNS",
    "STUDENT_SUMMARY_COLUMNS",
    "LiveView",
    "latest_states_select",
    "lesson_stats_select",
    "lesson_timeline",
    "lessons_summary",
    "live_view",
    "low_moments",
    "previous_lessons",
    "sample_times_select",
    "seconds_per_sample",
    "student_summary",
    "student_summary_select",
    "student_trends",
    "student_trends_select",
    "timeline_select",
    "window_concentration_select",
]
