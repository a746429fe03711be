"""PostgreSQL's bulk write is the same few statements whatever the number of rows and lessons.

The join server writes many students' batches at once (a group commit); a statement whose text
grows with the rows (a multi-row VALUES insert, an OR per lesson) is parsed again by the driver
and the server at every group, and planned as a scan of the whole table when its keys are many.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from storage.db import write_transaction
from storage.lessons import LessonSpec, create_lesson
from storage.records import AttentionState
from storage.rollups import rebuild_rollups
from storage.writes import insert_lessons_samples
from tests.storage.conftest import T0, make_sample
from tests.storage.test_idempotent_writes import _rollups

A = AttentionState
pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(pg_schema_url):
    from storage.db import open_database

    return open_database(pg_schema_url)


def _statements(engine, samples_by_lesson) -> list[str]:
    seen: list[str] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with write_transaction(engine) as conn:
            insert_lessons_samples(conn, samples_by_lesson)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return [s for s in seen if not s.lstrip().upper().startswith(("BEGIN", "COMMIT", "SELECT 1"))]


def test_one_row_and_many_lessons_rows_are_written_by_the_same_statements(pg_engine):
    lessons = [create_lesson(pg_engine, LessonSpec(f"l{i}", "g", T0)) for i in range(3)]
    one = _statements(pg_engine, {lessons[0]: [make_sample(0, {1: (A.ATTENTIVE, 80.0)})]})
    many = _statements(pg_engine, {
        lesson: [make_sample(1 + s * 0.5, {t: (A.LOOKING_AWAY, 35.0) for t in range(1, 31)})
                 for s in range(25)]
        for lesson in lessons
    })  # fmt: skip
    assert len(one) == len(many) == 4  # samples, observations, the rollup locks, the rollups
    assert one == many
    assert max(len(s) for s in many) < 5000  # no placeholder per row


def test_the_rollups_written_in_groups_equal_a_rebuild_from_the_observations(pg_engine):
    lessons = [create_lesson(pg_engine, LessonSpec(f"l{i}", "g", T0)) for i in range(2)]
    for first in (0, 7, 3):  # later batches reach back into slots written before
        with write_transaction(pg_engine) as conn:
            insert_lessons_samples(conn, {
                lesson: [make_sample(first + s * 0.5 + lesson % 2 * 0.25,
                                     {1: (A.ATTENTIVE, 50.0 + s), 2: (A.ABSENT, 0.0),
                                      3: (A.CAMERA_OFF, 0.0)}) for s in range(40)]
                for lesson in lessons
            })  # fmt: skip
    grouped = [_rollups(pg_engine, lesson) for lesson in lessons]
    for lesson in lessons:
        rebuild_rollups(pg_engine, lesson)
    assert grouped == [_rollups(pg_engine, lesson) for lesson in lessons]
    assert all(grouped)
