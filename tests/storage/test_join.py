"""Join lessons in storage: codes, numbering, tokens tied to their lesson, presence, closing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage import join
from storage.join import (
    JOIN_CODE_ALPHABET,
    JOIN_CODE_LENGTH,
    SILENT_AFTER_S,
    JoinedStudent,
    JoinEnded,
    LessonFull,
    Presence,
    UnknownJoinCode,
    close_join,
    close_join_by_code,
    find_join_lesson,
    find_student,
    guess_chance,
    join_student,
    joined_students,
    mark_left,
    normalise_code,
    open_join_lesson,
    presence,
    record_student_samples,
    remove_student,
    student_history,
    token_digest,
)
from storage.lessons import LessonSpec, delete_lesson, get_lesson
from storage.records import AttentionState, Observation, Sample
from storage.schema import JoinStudent, SampleRow, to_epoch_ms
from tests.storage.conftest import T0

A = AttentionState


def _open(engine, *, ask_names: bool = False, **kw):
    spec = LessonSpec(
        title="Physics",
        group_name="9B",
        started_at=T0,
        sample_rate_hz=1.0,
        attention_only=True,
        settings={"attention": {"yaw_limit_deg": 30.0}},
        **kw,
    )
    return open_join_lesson(engine, spec, ask_names=ask_names)


def _sample(track: int, seconds: float, state=A.ATTENTIVE) -> Sample:
    ts = T0 + timedelta(seconds=seconds)
    face = state is not A.ABSENT
    observation = Observation(ts=ts, track_id=track, state=state, engagement=50.0 if face else 0.0,
                              yaw_deg=3.0 if face else None)  # fmt: skip
    return Sample(ts=ts, faces_detected=int(face), processing_ms=0.0, stream=track,
                  observations=(observation,))  # fmt: skip


def test_join_codes_avoid_look_alikes_and_resist_guessing_for_a_lesson():
    assert not set("0O1IL") & set(JOIN_CODE_ALPHABET)
    assert len(JOIN_CODE_ALPHABET) == len(set(JOIN_CODE_ALPHABET)) == 31
    # 10 failed attempts a minute for 3 hours, against 50 lessons open at once in a school.
    assert guess_chance(10 * 60 * 3, 50) < 1e-6
    assert guess_chance(10 * 60 * 3, 50) == pytest.approx(1800 * 50 / 31**10)
    code = join.new_join_code()
    assert len(code) == JOIN_CODE_LENGTH and set(code) <= set(JOIN_CODE_ALPHABET)


@pytest.mark.parametrize(("raw", "code"), [
    ("ABCDE-FGHJK", "ABCDEFGHJK"), (" abcdefghjk ", "ABCDEFGHJK"), ("ABCDEFGHJ", None),
    ("ABCDEFGHJ0", None), ("ABCDEFGHJKM", None), ("../../etc/p", None), ("", None),
])  # fmt: skip
def test_a_typed_code_is_normalised_or_refused(raw, code):
    assert normalise_code(raw) == code


def test_opening_a_join_lesson_stores_a_running_lesson_with_its_code(engine):
    info = _open(engine, ask_names=True, owner="Ms.Lee")
    lesson = get_lesson(engine, info.lesson_id)
    assert (lesson["source"], lesson["status"], lesson["attention_only"]) == (
        "join",
        "running",
        True,
    )
    assert lesson["settings"] == {"attention": {"yaw_limit_deg": 30.0}}
    with engine.connect() as conn:
        found = find_join_lesson(conn, info.code)
    assert found == info and found.ask_names and found.is_open
    assert _open(engine).code != info.code


def test_students_are_numbered_in_order_and_only_the_tokens_hash_is_stored(engine):
    info = _open(engine, ask_names=True)
    joined = [join_student(engine, info.code, name, T0) for name in ("Ana", None, "Ben")]
    assert [student.track_id for student, _ in joined] == [1, 2, 3]
    assert [student.name for student, _ in joined] == ["Ana", None, "Ben"]
    tokens = [token for _, token in joined]
    assert len(set(tokens)) == 3 and all(len(token) >= 43 for token in tokens)
    with engine.connect() as conn:
        stored = (
            conn.execute(select(JoinStudent.token_sha256).order_by(JoinStudent.track_id))
            .scalars()
            .all()
        )
        assert stored == [token_digest(token) for token in tokens]
        assert not set(tokens) & set(stored)
        found = find_student(conn, info.code, tokens[1])
    assert found.student.track_id == 2 and found.lesson.lesson_id == info.lesson_id
    assert found.last_t_ms is None


def test_a_token_is_tied_to_its_lesson(engine):
    first, second = _open(engine), _open(engine)
    _, token = join_student(engine, first.code, None, T0)
    with engine.connect() as conn:
        assert find_student(conn, first.code, token) is not None
        assert find_student(conn, second.code, token) is None
        assert find_student(conn, first.code, token + "x") is None


def test_joining_is_refused_for_an_unknown_ended_or_full_lesson(engine, monkeypatch):
    info = _open(engine)
    with pytest.raises(UnknownJoinCode):
        join_student(engine, "ABCDEFGHJK", None, T0)
    monkeypatch.setattr(join, "MAX_STUDENTS", 2)
    join_student(engine, info.code, None, T0)
    join_student(engine, info.code, None, T0)
    with pytest.raises(LessonFull, match="full"):
        join_student(engine, info.code, None, T0)
    assert close_join(engine, info.lesson_id, T0 + timedelta(hours=1))
    with pytest.raises(JoinEnded, match="ended"):
        join_student(engine, info.code, None, T0)


def test_students_joining_at_once_get_distinct_numbers(engine):
    info = _open(engine)
    start = threading.Barrier(8)
    numbers: list[int] = []

    def student() -> None:
        start.wait()
        numbers.append(join_student(engine, info.code, None, T0)[0].track_id)

    threads = [threading.Thread(target=student) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == list(range(1, 9))


def _student(**kw) -> JoinedStudent:
    fields = dict(lesson_id=1, track_id=1, name=None, joined_at=T0, last_seen_at=T0,
                  left_at=None, removed_at=None)  # fmt: skip
    return JoinedStudent(**{**fields, **kw})


@pytest.mark.parametrize(("student", "seconds_later", "expected"), [
    (_student(), 0.0, Presence.PRESENT),
    (_student(), SILENT_AFTER_S, Presence.PRESENT),
    (_student(), SILENT_AFTER_S + 0.1, Presence.SILENT),
    (_student(left_at=T0), 1.0, Presence.LEFT),
    (_student(left_at=T0, removed_at=T0), 1.0, Presence.REMOVED),
])  # fmt: skip
def test_presence_follows_leave_removal_and_silence(student, seconds_later, expected):
    assert presence(student, T0 + timedelta(seconds=seconds_later)) is expected


def test_samples_are_stored_once_and_mark_the_student_seen_and_back(engine):
    info = _open(engine)
    _, token = join_student(engine, info.code, None, T0)
    with engine.connect() as conn:
        found = find_student(conn, info.code, token)
    mark_left(engine, found.student_id, T0 + timedelta(seconds=1))
    batch = [_sample(1, s) for s in (2, 3, 4)] + [_sample(1, 5, A.ABSENT)]
    seen = T0 + timedelta(seconds=6)
    assert record_student_samples(engine, found, batch, seen) == join.Stored(4, 4)
    assert record_student_samples(engine, found, batch, seen) == join.Stored(0, 0)
    with engine.connect() as conn:
        again = find_student(conn, info.code, token)
        faces = (
            conn.execute(select(SampleRow.faces_detected).order_by(SampleRow.t_ms)).scalars().all()
        )
    assert again.last_t_ms == to_epoch_ms(T0 + timedelta(seconds=5))
    assert (again.student.last_seen_at, again.student.left_at) == (seen, None)
    assert faces == [1, 1, 1, 0]


def test_history_starts_at_the_last_row_before_the_window(engine):
    info = _open(engine)
    _, token = join_student(engine, info.code, None, T0)
    with engine.connect() as conn:
        found = find_student(conn, info.code, token)
    record_student_samples(engine, found, [_sample(1, s) for s in (0, 1, 2, 10, 11, 12)], T0)
    last = to_epoch_ms(T0 + timedelta(seconds=12))
    with engine.connect() as conn:
        rows = student_history(conn, info.lesson_id, 1, last, 5_000)
        everything = student_history(conn, info.lesson_id, 1, last, 60_000)
    assert [row.t_ms - to_epoch_ms(T0) for row in rows] == [2000, 10000, 11000, 12000]
    assert len(everything) == 6 and everything[0].state == "attentive"


def test_a_removed_student_and_a_closed_lesson_read_as_such(engine):
    info = _open(engine)
    _, token = join_student(engine, info.code, "x", T0)
    assert remove_student(engine, info.lesson_id, 1, T0 + timedelta(seconds=5))
    assert not remove_student(engine, info.lesson_id, 1, T0 + timedelta(seconds=6))
    assert close_join_by_code(engine, info.code.lower(), T0 + timedelta(hours=1)) == info.lesson_id
    with engine.connect() as conn:
        found = find_student(conn, info.code, token)
        students = joined_students(conn, info.lesson_id)
    assert found.student.removed_at == T0 + timedelta(seconds=5) and not found.lesson.is_open
    assert presence(students[0], T0 + timedelta(seconds=6)) is Presence.REMOVED
    lesson = get_lesson(engine, info.lesson_id)
    assert (lesson["status"], lesson["ended_at"]) == ("finished", T0 + timedelta(hours=1))
    with pytest.raises(UnknownJoinCode):
        close_join_by_code(engine, "nothing", T0)


def test_deleting_a_join_lesson_deletes_its_students(engine):
    info = _open(engine)
    join_student(engine, info.code, None, T0)
    close_join(engine, info.lesson_id, T0 + timedelta(minutes=1))
    assert delete_lesson(engine, info.lesson_id)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(JoinStudent)).scalar_one() == 0
        assert find_join_lesson(conn, info.code) is None


def test_the_live_tiles_show_each_students_label_and_presence(engine):
    info = _open(engine, ask_names=True)
    join_student(engine, info.code, "Ana", T0)
    join_student(engine, info.code, None, T0 + timedelta(seconds=20))
    with engine.connect() as conn:
        frame = join.students_frame(conn, info.lesson_id, T0 + timedelta(seconds=25))
    assert frame[["track_id", "label", "presence", "silent_s"]].values.tolist() == [
        [1, "Ana", "silent", 25.0],
        [2, "Student 2", "present", 5.0],
    ]
