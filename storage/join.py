"""Lessons students join from their own browser: join codes, joined students, tokens, presence.

A join lesson is an ordinary `lessons` row (source "join") plus its `join_lessons` row (the code);
each student who joins gets a `join_students` row with their track number ("Student N"), and a
random token that only they hold: the database keeps its SHA-256, never the token. Their samples
are stored as any other (storage.writes), as stream N of the lesson.

Queries take a Connection first and never commit; the write helpers below own their transaction
(storage.db.write_transaction). Times are passed in, never read here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, update

from storage.db import StorageError, write_transaction
from storage.lessons import JOIN_SOURCE, LessonSpec
from storage.records import LessonStatus, Sample
from storage.schema import (
    STUDENT_NAME_MAX,
    JoinLesson,
    JoinStudent,
    Lesson,
    ObservationRow,
    SampleRow,
)
from storage.viewers import owner_name
from storage.writes import Stored, insert_samples

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# Upper-case letters and digits a person cannot mistake for one another: no 0/O, no 1/I/L.
JOIN_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
JOIN_CODE_LENGTH = 10
TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 256 random bits
MAX_STUDENTS = 500  # per lesson: a code holder cannot fill the database with students
# A joined student whose page has sent nothing for this long reads "absent (no data for N s)":
# their tab closed, their network dropped, or their device slept. No rows are written for it.
SILENT_AFTER_S = 10.0


class JoinError(StorageError):
    """A join request that cannot be served; the message is one line for the student."""


class UnknownJoinCode(JoinError):
    """No lesson has this join code."""


class JoinEnded(JoinError):
    """The teacher ended this join lesson (or it stopped): its link no longer takes students."""


class LessonFull(JoinError):
    """The lesson already has MAX_STUDENTS students."""


def code_space() -> int:
    """How many join codes there are: len(alphabet) ** length (31 ** 10, about 8.2e14)."""
    return len(JOIN_CODE_ALPHABET) ** JOIN_CODE_LENGTH


def guess_chance(attempts: int, open_lessons: int) -> float:
    """Chance that `attempts` guesses hit any of `open_lessons` open codes (a union bound).

    At 10 failed attempts a minute for a 3-hour lesson (1,800 guesses) against the 50 lessons of a
    whole school open at once: 1800 * 50 / 31**10 = 1.1e-10 per address; an attacker would need
    about 9,000 addresses to reach one in a million.
    """
    return min(1.0, attempts * open_lessons / code_space())


def new_join_code() -> str:
    """A fresh random join code (JOIN_CODE_LENGTH characters of JOIN_CODE_ALPHABET)."""
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def normalise_code(raw: str) -> str | None:
    """The code as stored: upper-cased, without spaces or dashes; None when it cannot be a code."""
    code = raw.strip().upper().replace("-", "").replace(" ", "")
    if len(code) != JOIN_CODE_LENGTH or any(c not in JOIN_CODE_ALPHABET for c in code):
        return None
    return code


def new_token() -> str:
    """A fresh random student token (URL-safe text)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """The SHA-256 of a token as stored (hex): a stolen database holds no usable token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class JoinLessonInfo:
    """What the join routes say about a lesson by its code: open or ended, and its choices."""

    lesson_id: int
    code: str
    ask_names: bool
    sample_rate_hz: float
    attention_only: bool
    settings: dict[str, Any]
    is_open: bool


@dataclass(frozen=True, slots=True)
class JoinedStudent:
    """One student of a join lesson as the Live page shows them."""

    lesson_id: int
    track_id: int
    name: str | None
    joined_at: datetime
    last_seen_at: datetime
    left_at: datetime | None
    removed_at: datetime | None


@dataclass(frozen=True, slots=True)
class StudentAtLesson:
    """A student found by (code, token), with what ingest needs of their lesson in the same read."""

    student_id: int
    student: JoinedStudent
    lesson: JoinLessonInfo
    last_t_ms: int | None  # their newest stored sample, None before the first


class Presence(StrEnum):
    """Where a joined student stands now, from their row and the clock."""

    PRESENT = "present"  # their page sent data within SILENT_AFTER_S
    SILENT = "silent"  # joined, not left, but no data for SILENT_AFTER_S: shown as absent
    LEFT = "left"  # pressed Leave
    REMOVED = "removed"  # removed by the teacher: their token is refused


def presence(student: JoinedStudent, now: datetime) -> Presence:
    """Present, silent (no data for SILENT_AFTER_S), left or removed, as of `now`."""
    if student.removed_at is not None:
        return Presence.REMOVED
    if student.left_at is not None:
        return Presence.LEFT
    if (now - student.last_seen_at).total_seconds() > SILENT_AFTER_S:
        return Presence.SILENT
    return Presence.PRESENT


def _is_open(closed_at: datetime | None, status: str) -> bool:
    return closed_at is None and status == LessonStatus.RUNNING.value


_LESSON_INFO = (JoinLesson.lesson_id, JoinLesson.code, JoinLesson.ask_names,
                Lesson.sample_rate_hz, Lesson.attention_only, Lesson.settings,
                JoinLesson.closed_at, Lesson.status)  # fmt: skip


def _lesson_info(row: Row[Any]) -> JoinLessonInfo:
    lesson_id, code, ask_names, rate_hz, attention_only, settings, closed_at, status = row[:8]
    return JoinLessonInfo(int(lesson_id), code, bool(ask_names), float(rate_hz),
                          bool(attention_only), dict(settings or {}), _is_open(closed_at, status))  # fmt: skip


_STUDENT_COLUMNS = (JoinStudent.lesson_id, JoinStudent.track_id, JoinStudent.name,
                    JoinStudent.joined_at, JoinStudent.last_seen_at, JoinStudent.left_at,
                    JoinStudent.removed_at)  # fmt: skip


def find_join_lesson(conn: Connection, code: str) -> JoinLessonInfo | None:
    """The join lesson with this (normalised) code, open or ended; None when there is none."""
    row = conn.execute(
        select(*_LESSON_INFO).join(Lesson, Lesson.id == JoinLesson.lesson_id)
        .where(JoinLesson.code == code)
    ).first()  # fmt: skip
    return None if row is None else _lesson_info(row)


def find_student(conn: Connection, code: str, token: str) -> StudentAtLesson | None:
    """The student holding `token` in the lesson with `code`, in one query; None when the token is
    not one of that lesson's (a token is tied to its lesson)."""
    last_t_ms = (
        select(func.max(SampleRow.t_ms))
        .where(
            SampleRow.lesson_id == JoinStudent.lesson_id, SampleRow.stream == JoinStudent.track_id
        )
        .scalar_subquery()
    )
    row = conn.execute(
        select(*_LESSON_INFO, JoinStudent.id, *_STUDENT_COLUMNS, last_t_ms)
        .join(JoinStudent, JoinStudent.lesson_id == JoinLesson.lesson_id)
        .join(Lesson, Lesson.id == JoinLesson.lesson_id)
        .where(JoinStudent.token_sha256 == token_digest(token), JoinLesson.code == code)
    ).first()
    if row is None:
        return None
    return StudentAtLesson(int(row[8]), JoinedStudent(*row[9:16]), _lesson_info(row),
                           None if row[16] is None else int(row[16]))  # fmt: skip


def joined_students(conn: Connection, lesson_id: int) -> list[JoinedStudent]:
    """A lesson's joined students in track order (removed and left ones too), for the Live tiles."""
    rows = conn.execute(
        select(*_STUDENT_COLUMNS).where(JoinStudent.lesson_id == lesson_id)
        .order_by(JoinStudent.track_id)
    )  # fmt: skip
    return [JoinedStudent(*row) for row in rows]


def students_frame(conn: Connection, lesson_id: int, now: datetime) -> pd.DataFrame:
    """The Live page's tiles of a join lesson: one row per joined student with their label
    ("Student N" or their name), presence as of `now` and seconds since their last data.

    Unfiltered by viewer: call it for a lesson the viewer's read has found (storage.queries)."""
    import pandas as pd  # here: the ingest path never needs it

    rows = [(s.track_id, s.name or f"Student {s.track_id}", presence(s, now).value,
             (now - s.last_seen_at).total_seconds(), s.joined_at, s.last_seen_at)
            for s in joined_students(conn, lesson_id)]  # fmt: skip
    columns = ["track_id", "label", "presence", "silent_s", "joined_at", "last_seen_at"]
    return pd.DataFrame(rows, columns=columns)


def open_join_lesson(engine: Engine, spec: LessonSpec, *, ask_names: bool) -> JoinLessonInfo:
    """Create a running lesson (source "join") that students join with a fresh code."""
    with write_transaction(engine) as conn:
        lesson_id = _insert_lesson(conn, spec)
        code = new_join_code()
        while conn.execute(select(JoinLesson.code).where(JoinLesson.code == code)).first():
            code = new_join_code()  # one in 8e14 per open code: kept for honesty
        conn.execute(insert(JoinLesson).values(lesson_id=lesson_id, code=code, ask_names=ask_names,
                                               opened_at=spec.started_at))  # fmt: skip
    log.info("join lesson %d opened: %s (%s)", lesson_id, spec.title, spec.group_name)
    return JoinLessonInfo(lesson_id, code, ask_names, spec.sample_rate_hz, spec.attention_only,
                          dict(spec.settings), True)  # fmt: skip


def _insert_lesson(conn: Connection, spec: LessonSpec) -> int:
    """The lessons row of a join lesson, as storage.lessons.create_lesson writes one, but in the
    caller's transaction so that the lesson and its code are stored together or not at all."""
    values = {
        "title": spec.title, "group_name": spec.group_name, "started_at": spec.started_at,
        "ended_at": None, "status": LessonStatus.RUNNING.value, "source": JOIN_SOURCE,
        "sample_rate_hz": spec.sample_rate_hz, "model_name": spec.model_name,
        "attention_only": spec.attention_only, "settings": dict(spec.settings),
        "owner": owner_name(spec.owner),
    }  # fmt: skip
    return int(conn.execute(insert(Lesson).values(**values).returning(Lesson.id)).scalar_one())


def join_student(
    engine: Engine, code: str, name: str | None, now: datetime
) -> tuple[JoinedStudent, str]:
    """Add a student to the open lesson with `code`: their row and their token (returned once).

    Numbered from 1 in order of joining; the lesson row is locked meanwhile (PostgreSQL), so two
    servers never give out one number twice. Raises UnknownJoinCode, JoinEnded or LessonFull.
    """
    if name is not None and len(name) > STUDENT_NAME_MAX:
        raise ValueError(f"a name is at most {STUDENT_NAME_MAX} characters, got {len(name)}")
    token = new_token()
    with write_transaction(engine) as conn:
        row = conn.execute(
            select(JoinLesson.lesson_id, JoinLesson.closed_at, Lesson.status)
            .join(Lesson, Lesson.id == JoinLesson.lesson_id)
            .where(JoinLesson.code == code).with_for_update(of=JoinLesson)
        ).first()  # fmt: skip
        if row is None:
            raise UnknownJoinCode("no lesson has this code")
        lesson_id, closed_at, status = row
        if not _is_open(closed_at, status):
            raise JoinEnded("this lesson has ended")
        count, highest = conn.execute(
            select(func.count(), func.max(JoinStudent.track_id))
            .where(JoinStudent.lesson_id == lesson_id)
        ).one()  # fmt: skip
        if count >= MAX_STUDENTS:
            raise LessonFull(f"this lesson is full ({MAX_STUDENTS} students)")
        student = JoinedStudent(int(lesson_id), (highest or 0) + 1, name, now, now, None, None)
        conn.execute(insert(JoinStudent).values(
            lesson_id=lesson_id, track_id=student.track_id, token_sha256=token_digest(token),
            name=name, joined_at=now, last_seen_at=now))  # fmt: skip
    return student, token


def record_student_samples(
    engine: Engine, found: StudentAtLesson, samples: list[Sample], now: datetime
) -> Stored:
    """Store a student's samples (stream = their track; insert-or-ignore, rollups refreshed) and
    mark them seen, in one transaction; what was new. A student who had left is back."""
    with write_transaction(engine) as conn:
        stored = insert_samples(conn, found.lesson.lesson_id, samples) if samples else Stored(0, 0)
        conn.execute(update(JoinStudent).where(JoinStudent.id == found.student_id)
                     .values(last_seen_at=now, left_at=None))  # fmt: skip
    return stored


def student_history(
    conn: Connection, lesson_id: int, track_id: int, last_t_ms: int, window_ms: int
) -> list[Row[Any]]:
    """A student's stored observations from the last one at or before `last_t_ms - window_ms`
    (or their first) to `last_t_ms`, oldest first: (t_ms, state, yaw_deg, pitch_deg, roll_deg,
    eye_openness, gaze_offset). What replaying their attention state needs (dashboard.join)."""
    mine = (ObservationRow.lesson_id == lesson_id, ObservationRow.track_id == track_id)
    anchor = (
        select(func.max(ObservationRow.t_ms))
        .where(*mine, ObservationRow.t_ms <= last_t_ms - window_ms)
        .scalar_subquery()
    )
    return list(conn.execute(
        select(ObservationRow.t_ms, ObservationRow.state, ObservationRow.yaw_deg,
               ObservationRow.pitch_deg, ObservationRow.roll_deg, ObservationRow.eye_openness,
               ObservationRow.gaze_offset)
        .where(*mine, ObservationRow.t_ms >= func.coalesce(anchor, 0),
               ObservationRow.t_ms <= last_t_ms)
        .order_by(ObservationRow.t_ms)
    ))  # fmt: skip


def mark_left(engine: Engine, student_id: int, now: datetime) -> None:
    """The student pressed Leave (their token still works if they come back)."""
    with write_transaction(engine) as conn:
        conn.execute(update(JoinStudent).where(JoinStudent.id == student_id)
                     .values(left_at=now, last_seen_at=now))  # fmt: skip


def remove_student(engine: Engine, lesson_id: int, track_id: int, now: datetime) -> bool:
    """The teacher removes a student: their token is refused from now on; False when not found."""
    with write_transaction(engine) as conn:
        result = conn.execute(
            update(JoinStudent)
            .where(JoinStudent.lesson_id == lesson_id, JoinStudent.track_id == track_id,
                   JoinStudent.removed_at.is_(None))
            .values(removed_at=now)
        )  # fmt: skip
    return bool(result.rowcount)


def close_join(engine: Engine, lesson_id: int, now: datetime) -> bool:
    """End a join lesson: its link says it has ended and the lesson is finished; False when it
    was not open (or is no join lesson)."""
    with write_transaction(engine) as conn:
        closed = conn.execute(
            update(JoinLesson)
            .where(JoinLesson.lesson_id == lesson_id, JoinLesson.closed_at.is_(None))
            .values(closed_at=now)
        ).rowcount  # fmt: skip
        conn.execute(
            update(Lesson)
            .where(Lesson.id == lesson_id, Lesson.status == LessonStatus.RUNNING.value)
            .values(status=LessonStatus.FINISHED.value, ended_at=now)
        )  # fmt: skip
    if closed:
        log.info("join lesson %d closed", lesson_id)
    return bool(closed)


def close_join_by_code(engine: Engine, code: str, now: datetime) -> int:
    """End the join lesson with `code`; its lesson id. UnknownJoinCode when no lesson has it."""
    normalised = normalise_code(code)
    with engine.connect() as conn:
        info = None if normalised is None else find_join_lesson(conn, normalised)
    if info is None:
        raise UnknownJoinCode(f"no lesson has the join code {code.strip()[:20]!r}")
    close_join(engine, info.lesson_id, now)
    return info.lesson_id
