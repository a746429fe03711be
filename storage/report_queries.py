"""One lesson's report: its timeline per bucket, its lowest moments, and each student's summary.

Who counts and the class concentration are storage/measures.py's: this module only groups them.

Whole-lesson reads aggregate the 10-second per-student rollups (storage/rollups.py) when the
bucket is a multiple of 10 s, and the observations themselves otherwise; both give the same
numbers. Builders named `*_select` return the statement for callers that run it themselves.
Every read takes the `viewer` (storage/viewers.py): a lesson they may not see has no rows.
"""

from __future__ import annotations

from datetime import datetime
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
    or_,
    select,
)  # fmt: skip

from storage import measures
from storage.exclusions import is_student
from storage.frames import bucket_width_ms, dominant_expressions, ratio, read_frame
from storage.records import EXPRESSIONS
from storage.rollups import LIVE_STATES, per_student_select, rollup_per_student_select
from storage.schema import Lesson, ObservationRollup, SampleRow
from storage.viewers import Viewer, lesson_visible

R = ObservationRollup

STUDENT_SUMMARY_COLUMNS = (
    "track_id", "time_present_s", "mean_engagement", "share_attentive", "share_looking_away",
    "share_eyes_closed", "share_absent", "share_camera_off", "dominant_expression",
)  # fmt: skip


def timeline_select(
    lesson_id: int,
    bucket_s: float,
    *,
    viewer: Viewer,
    since: datetime | None = None,
    until: datetime | None = None,
    from_rows: bool = False,
) -> Select[Any]:
    """Per bucket: the class figures (storage/measures.py), and the counted students' state shares,
    mean expression probabilities and expression counts.

    `from_rows=True` aggregates the observations even where rollups could serve (for checks).
    """
    per_student = per_student_select(
        lesson_id,
        bucket_width_ms(bucket_s),
        since,
        until,
        lesson_visible(viewer, lesson_id),
        from_rows=from_rows,
    )
    c = per_student.subquery("per_student").c
    total = measures.of_counted(c, c.n)
    n_probabilities = measures.of_counted(c, c.n_probabilities)
    return (
        select(
            c.bucket_ms,
            *measures.class_columns(c),
            *(ratio(measures.of_counted(c, c[f"n_{s}"]), total).label(f"share_{s}")
              for s in LIVE_STATES),
            *(
                ratio(measures.of_counted(c, c[f"p_{name}_sum"]), n_probabilities).label(f"p_{name}")
                for name in EXPRESSIONS
            ),
            *(measures.of_counted(c, c[f"n_{name}"]).label(f"count_{name}") for name in EXPRESSIONS),
            total.label("observations"),
        )
        .group_by(c.bucket_ms)
        .order_by(c.bucket_ms)
    )


def timeline_frame(source: Engine | Connection, stmt: Select[Any]) -> pd.DataFrame:
    """Run a timeline select; name the bucket start and add the dominant expression per bucket."""
    frame = read_frame(source, stmt, ms_columns=("bucket_ms",))
    frame = frame.rename(columns={"bucket_ms": "bucket_start"})
    frame["dominant_expression"] = dominant_expressions(frame, "count_")
    return frame


def lesson_timeline(
    engine: Engine, lesson_id: int, bucket_s: float, *, viewer: Viewer
) -> pd.DataFrame:
    """One lesson per time bucket: the class figures, state shares and expressions."""
    return timeline_frame(engine, timeline_select(lesson_id, bucket_s, viewer=viewer))


def low_moments(
    engine: Engine, lesson_id: int, bucket_s: float, n: int = 3, *, viewer: Viewer
) -> pd.DataFrame:
    """The n buckets with the lowest class concentration, lowest first."""
    stmt = timeline_select(lesson_id, bucket_s, viewer=viewer)
    timeline = stmt.order_by(None).subquery("timeline")
    stmt = select(timeline).order_by(timeline.c.concentration, timeline.c.bucket_ms).limit(n)
    return timeline_frame(engine, stmt)


# A gap between two samples of one stream longer than this (or than GAP_LIMIT_PERIODS periods) is
# a pause — a student's tab closed, a stalled source — not time a sample stands for.
GAP_LIMIT_S = 10.0
GAP_LIMIT_PERIODS = 4.0


def seconds_per_sample_select(lesson_id: int) -> Select[Any]:
    """Per stream (the engine is stream 0, a joined student their track), the time each of its
    samples stands for: the mean gap between its consecutive samples, pauses left out; NULL for a
    stream with a single sample.

    That is 1 / rate when the engine (or the student's device) kept the asked rate, and longer when
    it managed fewer samples (a live source skips frames rather than fall behind), so time present
    follows the clock. Each stream has its own: a join lesson's students sample side by side.
    """
    rate = select(Lesson.sample_rate_hz).where(Lesson.id == lesson_id).scalar_subquery()
    gaps = select(
        SampleRow.stream,
        (SampleRow.t_ms - func.lag(SampleRow.t_ms).over(partition_by=SampleRow.stream,
                                                        order_by=SampleRow.t_ms)).label("gap_ms"),
    ).where(SampleRow.lesson_id == lesson_id).subquery("gaps")  # fmt: skip
    periods_s = GAP_LIMIT_PERIODS / rate
    limit_ms = case((periods_s > GAP_LIMIT_S, periods_s), else_=GAP_LIMIT_S) * 1000.0
    kept = and_(gaps.c.gap_ms.is_not(None), gaps.c.gap_ms <= limit_ms)
    return select(
        gaps.c.stream,
        (cast(func.sum(case((kept, gaps.c.gap_ms), else_=0)), Float)
         / func.nullif(func.sum(case((kept, 1), else_=0)), 0) / 1000.0).label("seconds"),
    ).group_by(gaps.c.stream)  # fmt: skip


def student_summary_select(lesson_id: int, *, viewer: Viewer) -> Select[Any]:
    """Per student over the lesson: time present, engagement, state shares and expression counts
    for a counted student (storage/measures.py); a camera-off track has only its camera-off share."""
    c = rollup_per_student_select(
        None, R.lesson_id == lesson_id, lesson_visible(viewer, lesson_id),
        is_student(R.lesson_id, R.track_id),
    ).subquery("per_student").c

    def if_counted(value: ColumnElement[Any]) -> ColumnElement[Any]:
        return case((measures.counted(c), value))

    # A track's samples are the engine's (stream 0) or, in a join lesson, its own (stream = track).
    per_stream = seconds_per_sample_select(lesson_id).subquery("per_stream")
    rate = select(Lesson.sample_rate_hz).where(Lesson.id == lesson_id).scalar_subquery()
    seconds = func.coalesce(per_stream.c.seconds, 1.0 / rate)
    return select(
        c.track_id,
        if_counted(cast(c.n - c.n_absent, Float) * seconds).label("time_present_s"),
        measures.student_engagement(c).label("mean_engagement"),
        *(if_counted(ratio(c[f"n_{s}"], c.n)).label(f"share_{s}") for s in LIVE_STATES),
        ratio(c.n_camera_off, c.n + c.n_camera_off).label("share_camera_off"),
        *(if_counted(c[f"n_{name}"]).label(f"count_{name}") for name in EXPRESSIONS),
    ).outerjoin(per_stream, or_(per_stream.c.stream == c.track_id, per_stream.c.stream == 0)
                ).order_by(c.track_id)  # fmt: skip


def student_summary(engine: Engine, lesson_id: int, *, viewer: Viewer) -> pd.DataFrame:
    """One row per anonymous student (time present = present samples × the time a sample stands for)."""
    frame = read_frame(engine, student_summary_select(lesson_id, viewer=viewer))
    frame["dominant_expression"] = dominant_expressions(frame, "count_")
    return frame[list(STUDENT_SUMMARY_COLUMNS)]
