"""Group commit of join batches on real databases: many students' batches in one transaction, one
batch per student per group, a removed student's or an ended lesson's batch refused inside the
write while the others are stored, and a failed write leaving nothing half-done."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dashboard.join.group_writer import GroupWriter, Job
from dashboard.join.ingest import AttentionBook, Ingested
from dashboard.join.limits import RateLimiter
from dashboard.join.payload import JoinSample, Refusal
from storage.join import close_join, find_student, join_student, open_join_lesson, remove_student
from storage.lessons import LessonSpec
from storage.schema import ObservationRow, SampleRow, to_epoch_ms
from tests.storage.conftest import T0

NOW = T0 + timedelta(seconds=960)  # every batch below is within the offline buffer


def _writer(engine, budgets: RateLimiter | None = None) -> GroupWriter:
    return GroupWriter(lambda: engine, AttentionBook(), budgets or RateLimiter(1.0, 1.0),
                       clock=lambda: NOW, monotonic=time.monotonic)  # fmt: skip


def _class(engine, students: int, title: str = "t"):
    spec = LessonSpec(title=title, group_name="g", started_at=T0, sample_rate_hz=1.0)
    info = open_join_lesson(engine, spec, ask_names=False)
    found = []
    for _ in range(students):
        _, token = join_student(engine, info.code, None, T0)
        with engine.connect() as conn:
            found.append((token, find_student(conn, info.code, token)))
    return info, found


def _batch(first_s: int, n: int) -> list[JoinSample]:
    """n samples at 1 Hz from `first_s` after 5 minutes into the lesson."""
    return [JoinSample(to_epoch_ms(T0) + 1000 * (300 + first_s + k), True, 3.0, 1.0, 0.0, 0.3, 0.1)
            for k in range(n)]  # fmt: skip


def _stored(engine, lesson_id: int) -> tuple[int, int]:
    with engine.connect() as conn:
        samples = conn.scalar(select(func.count()).where(SampleRow.lesson_id == lesson_id))
        observations = conn.scalar(select(func.count()).where(ObservationRow.lesson_id == lesson_id))
    return samples, observations


def test_many_students_batches_are_one_transaction_and_each_is_answered(engine):
    info, students = _class(engine, 6)
    writer = _writer(engine)
    jobs = [Job(found, _batch(1, 5), token) for token, found in students]
    writer.write(jobs)  # one group, as the thread takes it when six wait
    assert writer.groups == 1 and writer.largest == 6
    assert [job.answer.result() for job in jobs] == [Ingested(5, 0)] * 6
    assert _stored(engine, info.lesson_id) == (30, 30)
    again = [Job(found, _batch(1, 5) + _batch(6, 2), token) for token, found in students]  # a resend and 2 new
    writer.write(again)
    assert [job.answer.result() for job in again] == [Ingested(2, 5)] * 6
    assert _stored(engine, info.lesson_id) == (42, 42)


def test_a_removed_student_or_an_ended_lesson_is_refused_inside_the_write(engine):
    info, students = _class(engine, 3)
    other, (outsider,) = _class(engine, 1, "other")
    remove_student(engine, info.lesson_id, students[1][1].student.track_id, NOW)
    close_join(engine, other.lesson_id, NOW)
    writer = _writer(engine)
    jobs = [Job(found, _batch(1, 3), token) for token, found in [*students, outsider]]
    writer.write(jobs)  # their identities were remembered before the removal and the end
    assert jobs[0].answer.result() == jobs[2].answer.result() == Ingested(3, 0)
    with pytest.raises(Refusal) as removed:
        jobs[1].answer.result()
    with pytest.raises(Refusal) as ended:
        jobs[3].answer.result()
    assert (removed.value.status, ended.value.status) == (403, 410)
    assert _stored(engine, info.lesson_id) == (6, 6) and _stored(engine, other.lesson_id) == (0, 0)


def test_a_students_second_batch_waits_for_the_next_group(engine):
    _, students = _class(engine, 2)
    (token_a, a), (token_b, b) = students
    writer = _writer(engine)
    jobs = [Job(a, _batch(1, 3), token_a), Job(b, _batch(1, 3), token_b), Job(a, _batch(4, 3), token_a)]
    futures = [writer.submit(job) for job in jobs]
    assert [f.result(timeout=30) for f in futures] == [Ingested(3, 0)] * 3
    assert writer.groups >= 2  # a's two batches were never in one group


def test_a_batch_over_the_students_rate_budget_is_refused_in_the_write(engine):
    _, [(token, found)] = _class(engine, 1)
    writer = _writer(engine)
    # At 1 Hz the budget is a whole offline buffer plus a batch (620 samples), refilled at 2/s.
    jobs = [Job(found, _batch(1 + 130 * k, 130), token) for k in range(5)]
    for job in jobs:
        writer.write([job])
    assert [job.answer.result() for job in jobs[:4]] == [Ingested(130, 0)] * 4
    with pytest.raises(Refusal) as refused:
        jobs[4].answer.result()
    assert refused.value.status == 429 and refused.value.retry_after_s > 0


def test_a_failed_write_stores_nothing_and_gives_the_rate_budget_back(engine):
    info, [(token, found)] = _class(engine, 1)
    budgets = RateLimiter(1.0, 1.0)
    writer = _writer(engine, budgets)
    with engine.begin() as conn:  # the rollup refresh, after the budget is spent, will fail
        conn.exec_driver_sql("DROP TABLE observation_rollups")
    job = Job(found, _batch(1, 10), token)
    with pytest.raises(Exception, match="observation_rollups"):
        writer.write([job])
    assert not job.answer.done()  # the thread answers it with the error (GroupWriter._run)
    assert _stored(engine, info.lesson_id) == (0, 0)
    assert budgets.take(token, time.monotonic(), 620, 620.0, 2.0) == 0  # all of it there again


def test_a_batch_whose_request_went_away_before_its_group_is_dropped_and_the_rest_answered(engine):
    info, [(token_a, a), (token_b, b)] = _class(engine, 2)
    writer = _writer(engine)
    gone = Job(a, _batch(1, 3), token_a)
    gone.answer.cancel()  # the client disconnected while its batch waited
    writer.submit(gone)
    assert writer.submit(Job(b, _batch(1, 3), token_b)).result(timeout=30) == Ingested(3, 0)
    assert _stored(engine, info.lesson_id) == (3, 3)  # only b's: a's page got no answer, sends again
