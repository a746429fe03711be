"""Writing joined students' batches: many students' batches in one transaction (a group commit),
with each student's standing read inside it.

The join routes gather the batches that arrive while one write runs and write them together
(dashboard.join.group_writer): one transaction, one insert per lesson, one rollup refresh per
lesson, one COMMIT, instead of one of each per request. A student removed or a lesson ended is
seen in that same transaction (`standings`), so no batch is stored after either committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from storage.records import LessonStatus, Sample
from storage.schema import JoinLesson, JoinStudent, Lesson, SampleRow
from storage.writes import insert_lessons_samples


@dataclass(frozen=True, slots=True)
class Standing:
    """A joined student as a write must see them: may their samples be stored, and from when."""

    lesson_open: bool
    removed: bool
    last_t_ms: int | None  # their newest stored sample, None before the first


@dataclass(frozen=True, slots=True)
class StudentBatch:
    """One student's derived samples (stream = their track) for one lesson."""

    student_id: int
    lesson_id: int
    track_id: int
    samples: Sequence[Sample]


def standings(conn: Connection, student_ids: Sequence[int]) -> dict[int, Standing]:
    """Each student's standing by id, in one query (ids not found are left out)."""
    if not student_ids:
        return {}
    last_t_ms = (
        select(func.max(SampleRow.t_ms))
        .where(SampleRow.lesson_id == JoinStudent.lesson_id, SampleRow.stream == JoinStudent.track_id)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(JoinStudent.id, JoinLesson.closed_at, Lesson.status, JoinStudent.removed_at, last_t_ms)
        .join(JoinLesson, JoinLesson.lesson_id == JoinStudent.lesson_id)
        .join(Lesson, Lesson.id == JoinStudent.lesson_id)
        .where(JoinStudent.id.in_(sorted(set(student_ids))))
    )  # fmt: skip
    return {
        int(sid): Standing(closed is None and status == LessonStatus.RUNNING.value,
                           removed is not None, None if last is None else int(last))
        for sid, closed, status, removed, last in rows
    }  # fmt: skip


def record_batches(conn: Connection, batches: Sequence[StudentBatch], now: datetime) -> dict[int, int]:
    """Store the batches in the caller's write transaction (one insert of each kind and one rollup
    refresh for all their lessons; insert-or-ignore) and mark their students seen (a student who had left is back); new samples per student id."""
    by_lesson: dict[int, list[Sample]] = {}
    for batch in batches:
        by_lesson.setdefault(batch.lesson_id, []).extend(batch.samples)
    new: dict[int, int] = {batch.student_id: 0 for batch in batches}
    if any(by_lesson.values()):
        _, by_stream = insert_lessons_samples(conn, by_lesson)
        for batch in batches:
            new[batch.student_id] += by_stream.get((batch.lesson_id, batch.track_id), 0)
    if new:
        conn.execute(update(JoinStudent).where(JoinStudent.id.in_(sorted(new)))
                     .values(last_seen_at=now, left_at=None))  # fmt: skip
    return new

