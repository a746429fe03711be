"""The teacher's side of join lessons: the open ones a viewer may watch (with their codes), and an
end for one nobody stopped.

A join lesson has no engine process whose death would end it (storage/lessons.py leaves it alone):
it runs until the teacher's Stop (storage.join.close_join) or, when it was left open, until it has
been quiet for ABANDONED_AFTER_S with no student connected — then it is closed as finished at its
last sample, as a teacher's Stop would have ended it there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, exists, select, update

from storage.db import write_transaction
from storage.join import SILENT_AFTER_S
from storage.records import LessonStatus
from storage.schema import JoinLesson, JoinStudent, Lesson, SampleRow
from storage.viewers import Viewer, visible_lessons

log = logging.getLogger(__name__)

# A join lesson with no sample for this long and no student connected was left open: it is closed.
ABANDONED_AFTER_S = 1800.0
_RUNNING = LessonStatus.RUNNING.value


@dataclass(frozen=True, slots=True)
class OpenJoin:
    """A join lesson students can still join, as the Live page offers it to its teacher."""

    lesson_id: int
    title: str
    group_name: str
    code: str
    ask_names: bool
    started_at: datetime
    sample_rate_hz: float
    attention_only: bool


def open_join_lessons(engine: Engine, *, viewer: Viewer) -> list[OpenJoin]:
    """The viewer's join lessons that are open (running, not closed), newest first."""
    stmt = (
        select(Lesson.id, Lesson.title, Lesson.group_name, JoinLesson.code, JoinLesson.ask_names,
               Lesson.started_at, Lesson.sample_rate_hz, Lesson.attention_only)
        .join(JoinLesson, JoinLesson.lesson_id == Lesson.id)
        .where(Lesson.status == _RUNNING, JoinLesson.closed_at.is_(None),
               visible_lessons(viewer))
        .order_by(Lesson.started_at.desc(), Lesson.id.desc())
    )  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [OpenJoin(int(r[0]), r[1], r[2] or "", r[3], bool(r[4]), r[5], float(r[6]), bool(r[7]))
            for r in rows]  # fmt: skip


def _last_sample_ts() -> Any:
    """The newest sample time of the join lesson in the enclosing query (a correlated subquery)."""
    return (
        select(SampleRow.ts).where(SampleRow.lesson_id == JoinLesson.lesson_id)
        .order_by(SampleRow.ts.desc()).limit(1).scalar_subquery()
    )  # fmt: skip


def _abandoned_select(now: datetime, idle_s: float) -> Select[Any]:
    """Open join lessons quiet since before now - idle_s with no student connected: (lesson id,
    started_at, last sample time or None)."""
    connected = exists().where(
        JoinStudent.lesson_id == JoinLesson.lesson_id, JoinStudent.left_at.is_(None),
        JoinStudent.removed_at.is_(None),
        JoinStudent.last_seen_at >= now - timedelta(seconds=SILENT_AFTER_S),
    )  # fmt: skip
    last = _last_sample_ts()
    quiet_since = now - timedelta(seconds=idle_s)
    return (
        select(Lesson.id, Lesson.started_at, last.label("last_ts"))
        .join(JoinLesson, JoinLesson.lesson_id == Lesson.id)
        .where(Lesson.status == _RUNNING, JoinLesson.closed_at.is_(None), Lesson.started_at < quiet_since,
               ~connected, last.is_(None) | (last < quiet_since))
        .order_by(Lesson.id)
    )  # fmt: skip


def _close(conn: Connection, lesson_id: int, ended_at: datetime, now: datetime) -> bool:
    """Close one join lesson as finished at `ended_at` (its link then says it has ended)."""
    conn.execute(update(JoinLesson).where(JoinLesson.lesson_id == lesson_id,
                                          JoinLesson.closed_at.is_(None)).values(closed_at=now))  # fmt: skip
    result = conn.execute(
        update(Lesson).where(Lesson.id == lesson_id, Lesson.status == _RUNNING)
        .values(status=LessonStatus.FINISHED.value, ended_at=ended_at)
    )  # fmt: skip
    return bool(result.rowcount)


def close_abandoned_joins(
    engine: Engine, now: datetime, *, idle_s: float = ABANDONED_AFTER_S
) -> list[int]:
    """Close, as finished at their last sample (or start), the open join lessons with no sample for
    `idle_s` and no student connected (a page that sent within SILENT_AFTER_S); their ids.

    Cheap enough for every page load: one read, and a write only when one is found (checked again
    inside the write, so a student who came back meanwhile keeps it open)."""
    with engine.connect() as conn:
        if not conn.execute(_abandoned_select(now, idle_s).limit(1)).first():
            return []
    closed: list[int] = []
    with write_transaction(engine) as conn:
        for lesson_id, started_at, last_ts in conn.execute(_abandoned_select(now, idle_s)).all():
            if _close(conn, int(lesson_id), last_ts or started_at, now):
                closed.append(int(lesson_id))
    if closed:
        log.info("join lessons left open without students closed as finished: %s", closed)
    return closed
