"""Per-student 10-second rollups of observations: what every whole-lesson read aggregates.

The recorder refreshes the slots a batch touched in the same transaction as the batch, by
recomputing them from the observations in SQL (DELETE + INSERT ... SELECT, portable to every
backend). Sums and counts add up exactly, so a read over rollups equals the read over rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Select,
    case,
    delete,
    func,
    insert,
    literal_column,
    select,
)

from storage.db import write_transaction
from storage.exclusions import is_student
from storage.records import EXPRESSIONS, AttentionState
from storage.schema import (
    ATTENTION_STATES,
    ROLLUP_SLOT_MS,
    ObservationRollup,
    ObservationRow,
    from_epoch_ms,
    to_epoch_ms,
)

Obs = ObservationRow
R = ObservationRollup
_CAMERA_OFF = AttentionState.CAMERA_OFF.value
# States of a live student, whose shares are of `n`; camera_off rows are counted apart from `n`.
LIVE_STATES: tuple[str, ...] = tuple(s for s in ATTENTION_STATES if s != _CAMERA_OFF)

# Summable columns shared by raw per-student aggregates and rollup rows, in table order.
SUM_COLUMNS: tuple[str, ...] = (
    "n",
    "engagement_sum",
    *(f"n_{state}" for state in ATTENTION_STATES),
    "n_probabilities",
    *(f"p_{name}_sum" for name in EXPRESSIONS),
    *(f"n_{name}" for name in EXPRESSIONS),
)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """SUM(CASE WHEN condition THEN 1 ELSE 0 END), portable across backends."""
    return func.sum(case((condition, 1), else_=0))


def bucket_of(t_ms: ColumnElement[Any], bucket_ms: int) -> ColumnElement[Any]:
    """Start of the bucket holding t_ms (integer division on SQLite and PostgreSQL alike)."""
    # Rendered inline (an int, so safe): PostgreSQL matches GROUP BY to SELECT only if identical.
    width = literal_column(str(int(bucket_ms)), BigInteger)
    return (t_ms // width) * width


def raw_per_student_select(bucket_ms: int | None, *conditions: ColumnElement[bool]) -> Select[Any]:
    """Observations summed per (lesson, bucket, student): the columns of SUM_COLUMNS.

    `bucket_ms=None` sums per (lesson, student) over every row the conditions select (a window).
    A camera_off observation (a still picture, not a live student) is counted in `n_camera_off`
    only: `n` and `engagement_sum` cover the live student's samples, so concentration, shares and
    time present never count a profile photo.
    """
    live = Obs.state != _CAMERA_OFF
    bucket = [] if bucket_ms is None else [bucket_of(Obs.t_ms, bucket_ms)]
    return (
        select(
            Obs.lesson_id.label("lesson_id"),
            *(b.label("bucket_ms") for b in bucket),
            Obs.track_id.label("track_id"),
            count_if(live).label("n"),
            func.sum(case((live, Obs.engagement), else_=0.0)).label("engagement_sum"),
            *(count_if(Obs.state == state).label(f"n_{state}") for state in ATTENTION_STATES),
            func.count(Obs.p_neutral).label("n_probabilities"),
            *(func.sum(getattr(Obs, f"p_{name}")).label(f"p_{name}_sum") for name in EXPRESSIONS),
            *(count_if(Obs.expression == name).label(f"n_{name}") for name in EXPRESSIONS),
        )
        .where(*conditions)
        .group_by(Obs.lesson_id, *bucket, Obs.track_id)
    )


def rollup_per_student_select(bucket_ms: int | None, *conditions: ColumnElement[bool]) -> Select[Any]:
    """Rollup rows summed per (lesson, bucket, student); bucket_ms must be a multiple of the slot.

    `bucket_ms=None` sums per (lesson, student) over every slot the conditions select.
    """
    if bucket_ms is not None and bucket_ms % ROLLUP_SLOT_MS:
        raise ValueError(f"bucket of {bucket_ms} ms is not a multiple of {ROLLUP_SLOT_MS} ms")
    bucket = [] if bucket_ms is None else [bucket_of(R.slot_ms, bucket_ms)]
    return (
        select(
            R.lesson_id.label("lesson_id"),
            *(b.label("bucket_ms") for b in bucket),
            R.track_id.label("track_id"),
            *(func.sum(getattr(R, name)).label(name) for name in SUM_COLUMNS),
        )
        .where(*conditions)
        .group_by(R.lesson_id, *bucket, R.track_id)
    )


def per_student_select(
    lesson_id: int,
    bucket_ms: int,
    since: datetime | None,
    until: datetime | None,
    *conditions: ColumnElement[bool],
    from_rows: bool = False,
) -> Select[Any]:
    """One lesson's per (bucket, student) sums, from rollups when the bucket allows, else from rows.

    since/until select whole buckets: those overlapping [since, until]. `conditions` join the
    WHERE clause of whichever table is read, so they name neither (e.g. storage.viewers'
    lesson_visible).
    """
    lo = None if since is None else to_epoch_ms(since) // bucket_ms * bucket_ms
    hi = None if until is None else to_epoch_ms(until) // bucket_ms * bucket_ms + bucket_ms
    if bucket_ms % ROLLUP_SLOT_MS == 0 and not from_rows:
        where = [R.lesson_id == lesson_id, is_student(R.lesson_id, R.track_id), *conditions]
        if lo is not None:
            where.append(R.slot_ms >= lo)
        if hi is not None:
            where.append(R.slot_ms < hi)
        return rollup_per_student_select(bucket_ms, *where)
    # A time range (even an open one) steers SQLite to the (lesson_id, ts) index, which reads
    # rows in insertion order; the (lesson_id, track_id, ts) index would read them scattered.
    where = [Obs.lesson_id == lesson_id, Obs.ts >= from_epoch_ms(lo or 0),
             is_student(Obs.lesson_id, Obs.track_id), *conditions]
    if hi is not None:
        where.append(Obs.ts < from_epoch_ms(hi))
    return raw_per_student_select(bucket_ms, *where)


def refresh_rollups(conn: Connection, lesson_id: int, first_t_ms: int, last_t_ms: int) -> None:
    """Recompute the lesson's slots that cover [first_t_ms, last_t_ms] from its observations."""
    lo = first_t_ms // ROLLUP_SLOT_MS * ROLLUP_SLOT_MS
    hi = last_t_ms // ROLLUP_SLOT_MS * ROLLUP_SLOT_MS + ROLLUP_SLOT_MS
    conn.execute(delete(R).where(R.lesson_id == lesson_id, R.slot_ms >= lo, R.slot_ms < hi))
    source = raw_per_student_select(
        ROLLUP_SLOT_MS,
        Obs.lesson_id == lesson_id,
        Obs.ts >= from_epoch_ms(lo),
        Obs.ts < from_epoch_ms(hi),
    )
    columns = ["lesson_id", "slot_ms", "track_id", *SUM_COLUMNS]
    conn.execute(insert(R).from_select(columns, source))


def rebuild_rollups(engine: Engine, lesson_id: int) -> None:
    """Recompute every rollup of a lesson (after rows were written by other means)."""
    with write_transaction(engine) as conn:
        conn.execute(delete(R).where(R.lesson_id == lesson_id))
        columns = ["lesson_id", "slot_ms", "track_id", *SUM_COLUMNS]
        conn.execute(
            insert(R).from_select(
                columns, raw_per_student_select(ROLLUP_SLOT_MS, Obs.lesson_id == lesson_id)
            )
        )
