"""A join lesson's life on the teacher's side: no engine check ends it, Stop or a long silence with
nobody connected does; its teacher alone finds it open; retention purges it with its join rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage.join import (
    SILENT_AFTER_S,
    JoinEnded,
    close_join,
    find_join_lesson,
    join_student,
    mark_left,
    open_join_lesson,
    record_student_samples,
    remove_student,
)
from storage.join_lessons import ABANDONED_AFTER_S, close_abandoned_joins, open_join_lessons
from storage.lessons import (
    LessonSpec,
    create_lesson,
    engine_owner,
    get_lesson,
    mark_dead_engines_interrupted,
    mark_stale_running_interrupted,
    purge_older_than,
)
from storage.live_queries import live_view
from storage.records import AttentionState, Observation, Sample
from storage.schema import JoinLesson, JoinStudent, ObservationRow, SampleRow
from storage.viewers import Viewer
from tests.storage.conftest import T0

EVERYONE = Viewer.everyone()
DEAD_PID = 2**22 + 12345  # beyond any pid this host hands out


def _dead(pid: int, started_s: float | None) -> bool:
    return False


def _open(engine, title: str = "Physics", *, owner: str | None = None, settings: dict | None = None,
          started=T0):  # fmt: skip
    spec = LessonSpec(title=title, group_name="9B", started_at=started, source="join",
                      sample_rate_hz=1.0, attention_only=True, owner=owner, settings=settings or {})  # fmt: skip
    return open_join_lesson(engine, spec, ask_names=False)


def _send(engine, info, token: str, seconds: list[float], now_s: float) -> None:
    """A student's page posting samples at T0 + seconds, received at T0 + now_s."""
    from storage.join import find_student

    with engine.connect() as conn:
        found = find_student(conn, info.code, token)
    track = found.student.track_id
    samples = []
    for s in seconds:
        ts = T0 + timedelta(seconds=s)
        seen = Observation(ts=ts, track_id=track, state=AttentionState.ATTENTIVE, engagement=80.0, yaw_deg=2.0)
        samples.append(Sample(ts=ts, faces_detected=1, processing_ms=0.0, stream=track, observations=(seen,)))
    record_student_samples(engine, found, samples, T0 + timedelta(seconds=now_s))


def test_the_engine_checks_never_mark_an_open_join_lesson_interrupted(engine):
    quiet = _open(engine, "no engine, quiet for an hour")
    crashed = create_lesson(engine, LessonSpec("engine lesson", "9B", T0, source="demo"))
    an_hour_on = T0 + timedelta(hours=1)
    assert mark_stale_running_interrupted(engine, is_alive=_dead, now=an_hour_on) == [crashed]
    assert mark_stale_running_interrupted(engine, now=an_hour_on) == []  # nobody to ask either
    assert mark_dead_engines_interrupted(engine, _dead) == []
    assert get_lesson(engine, quiet.lesson_id)["status"] == "running"
    with engine.connect() as conn:
        assert find_join_lesson(conn, quiet.code).is_open


def test_a_join_lesson_whose_command_was_killed_reads_interrupted(engine):
    # `python -m dashboard join` records itself as the lesson's process: its death ends the lesson
    info = _open(engine, settings={"engine": engine_owner(DEAD_PID, 1.0)})
    assert mark_dead_engines_interrupted(engine, _dead) == [info.lesson_id]
    with engine.connect() as conn:
        assert not find_join_lesson(conn, info.code).is_open  # its link says it has ended
    other = _open(engine, "second", settings={"engine": engine_owner(DEAD_PID, 1.0)})
    assert mark_stale_running_interrupted(engine, is_alive=_dead, now=T0) == [other.lesson_id]


@pytest.mark.parametrize(("last_sample_s", "last_seen_s", "now_s", "closed"), [
    (60.0, 60.0, 60.0 + ABANDONED_AFTER_S + 1, True),  # nothing since the last sample: closed at it
    (60.0, 60.0, 60.0 + ABANDONED_AFTER_S - 1, False),  # not quiet long enough
    # a page still posting (paused: empty batches) keeps it open however old the last sample
    (60.0, 60.0 + ABANDONED_AFTER_S - 2, 60.0 + ABANDONED_AFTER_S + 1, False),
    # that page closed 11 s ago: nobody is connected any more
    (60.0, 60.0 + ABANDONED_AFTER_S - SILENT_AFTER_S, 60.0 + ABANDONED_AFTER_S + 1, True),
])  # fmt: skip
def test_a_join_lesson_left_open_with_nobody_sending_is_closed_as_finished_at_its_last_sample(
    engine, last_sample_s, last_seen_s, now_s, closed
):
    info = _open(engine)
    _, token = join_student(engine, info.code, None, T0)
    _send(engine, info, token, [59.0, last_sample_s], last_sample_s)
    _send(engine, info, token, [], last_seen_s)  # an empty batch: seen, nothing measured
    now = T0 + timedelta(seconds=now_s)
    assert close_abandoned_joins(engine, now) == ([info.lesson_id] if closed else [])
    lesson = get_lesson(engine, info.lesson_id)
    assert lesson["status"] == ("finished" if closed else "running")
    if closed:
        assert lesson["ended_at"] == T0 + timedelta(seconds=last_sample_s)
        with pytest.raises(JoinEnded):
            join_student(engine, info.code, None, now)
        assert close_abandoned_joins(engine, now) == []  # done once: no write


def test_a_join_lesson_nobody_joined_is_closed_at_its_start_and_left_students_do_not_hold_it(engine):
    empty = _open(engine, "nobody came")
    left = _open(engine, "everyone left")
    _, token = join_student(engine, left.code, None, T0)
    _send(engine, left, token, [1.0, 2.0], 2.0)
    with engine.connect() as conn:
        student_id = conn.execute(select(JoinStudent.id).where(JoinStudent.lesson_id == left.lesson_id)).scalar_one()
    now = T0 + timedelta(seconds=ABANDONED_AFTER_S + 5)
    mark_left(engine, student_id, now - timedelta(seconds=1))  # pressed Leave a second ago
    assert close_abandoned_joins(engine, now) == [empty.lesson_id, left.lesson_id]
    assert get_lesson(engine, empty.lesson_id)["ended_at"] == T0
    assert get_lesson(engine, left.lesson_id)["ended_at"] == T0 + timedelta(seconds=2)


def test_a_teacher_finds_only_her_own_open_join_lessons_newest_first(engine):
    lee_old = _open(engine, "Lee 1", owner="ms.lee")
    lee_new = _open(engine, "Lee 2", owner="ms.lee", started=T0 + timedelta(minutes=5))
    khan = _open(engine, "Khan", owner="mr.khan")
    stopped = _open(engine, "Lee stopped", owner="ms.lee")
    close_join(engine, stopped.lesson_id, T0 + timedelta(minutes=1))
    lee = open_join_lessons(engine, viewer=Viewer.teacher("ms.lee"))
    assert [(j.lesson_id, j.code) for j in lee] == [(lee_new.lesson_id, lee_new.code),
                                                    (lee_old.lesson_id, lee_old.code)]
    assert [j.lesson_id for j in open_join_lessons(engine, viewer=Viewer.teacher("mr.khan"))] == [
        khan.lesson_id]
    assert len(open_join_lessons(engine, viewer=EVERYONE)) == 3  # an admin sees every teacher's


def test_retention_purges_a_finished_join_lesson_with_its_join_rows_and_keeps_an_open_one(engine):
    finished = _open(engine, "last term")
    _, token = join_student(engine, finished.code, "Ada", T0)
    _send(engine, finished, token, [1.0, 2.0], 2.0)
    remove_student(engine, finished.lesson_id, 1, T0 + timedelta(seconds=3))
    close_join(engine, finished.lesson_id, T0 + timedelta(seconds=4))
    running = _open(engine, "today")
    assert purge_older_than(engine, 30, T0 + timedelta(days=40)) == 1
    assert get_lesson(engine, finished.lesson_id) is None
    with engine.connect() as conn:
        for table in (JoinLesson, JoinStudent, SampleRow, ObservationRow):
            count = conn.execute(select(func.count()).select_from(table)
                                 .where(table.lesson_id == finished.lesson_id)).scalar_one()  # fmt: skip
            assert count == 0, table.__tablename__
        assert find_join_lesson(conn, running.code).is_open


def test_the_live_view_knows_when_each_student_sent_their_first_sample(engine):
    info = _open(engine)
    tokens = [join_student(engine, info.code, None, T0)[1] for _ in range(2)]
    _send(engine, info, tokens[0], [float(s) for s in range(1, 91)], 90.0)
    _send(engine, info, tokens[1], [80.0, 85.0, 90.0], 90.0)
    view = live_view(engine, info.lesson_id, viewer=EVERYONE, window_s=10, now=T0 + timedelta(seconds=91))
    assert view.stream_starts == {1: T0 + timedelta(seconds=1), 2: T0 + timedelta(seconds=80)}
    assert set(view.samples["stream"]) == {1, 2}  # the last minute's samples say whose they are
    hidden = live_view(engine, info.lesson_id, viewer=Viewer.teacher("ms.lee"), window_s=10,
                       now=T0 + timedelta(seconds=91))  # fmt: skip
    assert hidden.stream_starts == {} and hidden.samples.empty


def test_each_joined_students_time_present_follows_their_own_samples_and_a_pause_is_not_presence(engine):
    from storage.queries import student_summary

    info = _open(engine)
    steady, paused, slow = (join_student(engine, info.code, None, T0)[1] for _ in range(3))
    _send(engine, info, steady, [float(s) for s in range(0, 120)], 120.0)  # 2 minutes at 1 Hz
    # a minute, the tab closed for ten, then another minute
    _send(engine, info, paused, [float(s) for s in range(0, 60)] + [float(s) for s in range(660, 720)], 720.0)
    _send(engine, info, slow, [float(s) for s in range(0, 120, 2)], 120.0)  # a device managing 0.5 Hz
    frame = student_summary(engine, info.lesson_id, viewer=EVERYONE).set_index("track_id")
    # four students side by side do not make each sample a quarter of a second
    assert frame["time_present_s"].to_dict() == {1: pytest.approx(120.0), 2: pytest.approx(120.0),
                                                 3: pytest.approx(120.0)}  # fmt: skip
