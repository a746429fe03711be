"""Settling a lesson whose engine is gone with the cause its engine last gave.

The engine stores how its lesson ended itself (`storage.lessons.finish_lesson`, with a cause such as
"disk full"). When the database would not take that last write, or the engine was killed while its
writes waited, the cause survives only in the engine's events: whoever reads them afterwards — the
dashboard once the engine has died, the next engine start — records it here, so the lesson reads
"failed: disk full" rather than `running` or "interrupted: the engine stopped unexpectedly".
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, select, true, update

from storage.db import write_transaction
from storage.lessons import ENDED_STATUSES, IsAlive, owner_alive, stored_cause
from storage.records import LessonStatus
from storage.schema import Lesson, SampleRow

log = logging.getLogger(__name__)


def record_cause(
    engine: Engine,
    lesson_id: int,
    cause: str,
    *,
    status: LessonStatus | str = LessonStatus.FAILED,
    is_alive: IsAlive | None = None,
    title: str | None = None,
) -> bool:
    """Settle a lesson with the cause its engine last gave; whether it changed.

    Only a lesson still `running` whose owner is not alive (by `is_alive`; unknown counts as gone,
    as the caller has seen the engine's last words), or one marked `interrupted` without a cause,
    changes: a lesson its engine closed, or that another cause explains, is left as it is; so is
    one whose title is not `title` (when given: the events may be of another database). Its end
    time is its last sample (or its start).
    """
    if status not in ENDED_STATUSES:
        raise ValueError(f"a lesson ends as one of {[s.value for s in ENDED_STATUSES]}, not {status!r}")
    last_ts = select(SampleRow.ts).where(SampleRow.lesson_id == Lesson.id)
    last_ts = last_ts.order_by(SampleRow.ts.desc()).limit(1).scalar_subquery()
    with write_transaction(engine) as conn:
        row = conn.execute(
            select(Lesson.status, Lesson.ended_cause, Lesson.settings, Lesson.started_at, last_ts)
            .where(Lesson.id == lesson_id, true() if title is None else Lesson.title == title)
        ).first()
        if row is None:
            return False
        current, cause_now, settings, started_at, last_sample = row
        running = current == LessonStatus.RUNNING.value
        if running and owner_alive(settings, is_alive) is True:
            return False  # its engine still runs: it will say how the lesson ends
        if not running and not (current == LessonStatus.INTERRUPTED.value and cause_now is None):
            return False
        conn.execute(
            update(Lesson)
            .where(Lesson.id == lesson_id, Lesson.status == current)
            .values(status=LessonStatus(status).value, ended_cause=stored_cause(cause),
                    ended_at=last_sample or started_at)  # fmt: skip
        )
    log.warning("lesson %d marked %s: %s", lesson_id, LessonStatus(status).value, cause)
    return True
