"""The stored shape of a lesson: typed ORM tables for lessons, samples and observations.

Every timestamp is aware UTC (`UTCDateTime`). Besides `ts`, samples and observations carry
`t_ms`, the same instant as integer epoch milliseconds, so that time-bucket aggregation is
plain integer arithmetic on both SQLite and PostgreSQL (see docs/storage.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.records import EXPRESSIONS, AttentionState, LessonStatus

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

LESSON_STATUSES: tuple[str, ...] = tuple(status.value for status in LessonStatus)
ATTENTION_STATES: tuple[str, ...] = tuple(state.value for state in AttentionState)
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"p_{name}" for name in EXPRESSIONS)
OWNER_MAX = 255  # an email address is at most 254 characters (RFC 5321)

# SQLite keeps datetimes as text; we write ISO-8601 with an explicit +00:00 so that a
# school's own tools reading the file see the zone, and the text still sorts by time.
_SQLITE_UTC_TEXT = sqlite.DATETIME(
    storage_format=(
        "%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02d"
        ".%(microsecond)06d+00:00"
    ),
    regexp=r"(\d+)-(\d+)-(\d+)[T ](\d+):(\d+):(\d+)(?:\.(\d+))?",
)

# SQLite only aliases the rowid (fast, auto-increment) for a column declared INTEGER.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamp: rejects naive datetimes, returns aware UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        """Use ISO text with offset on SQLite and TIMESTAMPTZ elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLITE_UTC_TEXT)
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store the instant in UTC."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: timestamps must be aware UTC"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Hand back aware UTC whatever the backend returned."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base whose constraints carry stable names (so batch migrations can drop them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Lesson(Base):
    """One capture session of one class: what was watched, with which model and settings."""

    __tablename__ = "lessons"
    __table_args__ = (
        CheckConstraint(_in_list("status", LESSON_STATUSES), name="status"),
        CheckConstraint("sample_rate_hz > 0", name="sample_rate_positive"),
        Index("ix_lessons_group_started", "group_name", "started_at"),
        Index("ix_lessons_started", "started_at"),
        Index("ix_lessons_owner_started", "owner", "started_at"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    group_name: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=LessonStatus.RUNNING.value)
    source: Mapped[str] = mapped_column(Text, default="")
    sample_rate_hz: Mapped[float] = mapped_column(Float)
    model_name: Mapped[str | None] = mapped_column(String(200))
    attention_only: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The account that started the lesson (a user name or an OIDC email); NULL: no login was in
    # force (a single teacher's own computer) or the lesson predates owners. See storage/viewers.py.
    owner: Mapped[str | None] = mapped_column(String(OWNER_MAX))
    # Why it ended, in a few words, when the status alone does not say it ("disk full", "database
    # file removed"); NULL otherwise and for lessons stored before revision 0008.
    ended_cause: Mapped[str | None] = mapped_column(Text)


class SampleRow(Base):
    """One processed frame, including frames where no face was found.

    `stream` says who measured it: 0 the capture engine, N the student who joined as track N.
    (lesson_id, stream, t_ms) is unique, so a write retried after a lost COMMIT, or a batch a
    student's page sends again, stores nothing twice (storage.writes inserts or ignores).
    """

    __tablename__ = "samples"
    __table_args__ = (
        CheckConstraint("faces_detected >= 0", name="faces_nonnegative"),
        CheckConstraint("stream >= 0", name="stream_nonnegative"),
        Index("ix_samples_lesson_ts", "lesson_id", "ts"),
        UniqueConstraint("lesson_id", "stream", "t_ms", name="uq_samples_lesson_stream_t"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    lesson_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("lessons.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    t_ms: Mapped[int] = mapped_column(BigInteger)
    stream: Mapped[int] = mapped_column(Integer, server_default="0")
    faces_detected: Mapped[int] = mapped_column(Integer)
    processing_ms: Mapped[float] = mapped_column(Float)


class ObservationRow(Base):
    """One anonymous student at one sample: state, engagement, expression and head pose."""

    __tablename__ = "observations"
    __table_args__ = (
        CheckConstraint(_in_list("state", ATTENTION_STATES), name="state"),
        CheckConstraint(
            f"expression IS NULL OR {_in_list('expression', EXPRESSIONS)}", name="expression"
        ),
        CheckConstraint("engagement >= 0 AND engagement <= 100", name="engagement_range"),
        Index("ix_observations_lesson_ts", "lesson_id", "ts"),
        Index("ix_observations_lesson_track_ts", "lesson_id", "track_id", "ts"),
        # One row per student per instant: the key that makes a retried write idempotent.
        UniqueConstraint("lesson_id", "track_id", "t_ms", name="uq_observations_lesson_track_t"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    lesson_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("lessons.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    t_ms: Mapped[int] = mapped_column(BigInteger)
    track_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    engagement: Mapped[float] = mapped_column(Float)
    expression: Mapped[str | None] = mapped_column(String(16))
    box_x: Mapped[int | None] = mapped_column(Integer)
    box_y: Mapped[int | None] = mapped_column(Integer)
    box_w: Mapped[int | None] = mapped_column(Integer)
    box_h: Mapped[int | None] = mapped_column(Integer)
    p_angry: Mapped[float | None] = mapped_column(Float)
    p_disgust: Mapped[float | None] = mapped_column(Float)
    p_fear: Mapped[float | None] = mapped_column(Float)
    p_happy: Mapped[float | None] = mapped_column(Float)
    p_sad: Mapped[float | None] = mapped_column(Float)
    p_surprise: Mapped[float | None] = mapped_column(Float)
    p_neutral: Mapped[float | None] = mapped_column(Float)
    yaw_deg: Mapped[float | None] = mapped_column(Float)
    pitch_deg: Mapped[float | None] = mapped_column(Float)
    roll_deg: Mapped[float | None] = mapped_column(Float)
    eye_openness: Mapped[float | None] = mapped_column(Float)
    gaze_offset: Mapped[float | None] = mapped_column(Float)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


ROLLUP_SLOT_MS = 10_000


class ObservationRollup(Base):
    """Derived: one student's observations summed over one 10-second slot of a lesson.

    Kept by the recorder in the same transaction as the observations it summarises, so that
    reads over a whole lesson touch ~20x fewer rows. `rebuild_rollups` recomputes it.
    """

    __tablename__ = "observation_rollups"

    lesson_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    slot_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    track_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    engagement_sum: Mapped[float] = mapped_column(Float)
    n_attentive: Mapped[int] = mapped_column(Integer)
    n_looking_away: Mapped[int] = mapped_column(Integer)
    n_eyes_closed: Mapped[int] = mapped_column(Integer)
    n_absent: Mapped[int] = mapped_column(Integer)
    n_camera_off: Mapped[int] = mapped_column(Integer, server_default="0")  # still pictures, not in n
    n_probabilities: Mapped[int] = mapped_column(Integer)
    p_angry_sum: Mapped[float | None] = mapped_column(Float)
    p_disgust_sum: Mapped[float | None] = mapped_column(Float)
    p_fear_sum: Mapped[float | None] = mapped_column(Float)
    p_happy_sum: Mapped[float | None] = mapped_column(Float)
    p_sad_sum: Mapped[float | None] = mapped_column(Float)
    p_surprise_sum: Mapped[float | None] = mapped_column(Float)
    p_neutral_sum: Mapped[float | None] = mapped_column(Float)
    n_angry: Mapped[int] = mapped_column(Integer)
    n_disgust: Mapped[int] = mapped_column(Integer)
    n_fear: Mapped[int] = mapped_column(Integer)
    n_happy: Mapped[int] = mapped_column(Integer)
    n_sad: Mapped[int] = mapped_column(Integer)
    n_surprise: Mapped[int] = mapped_column(Integer)
    n_neutral: Mapped[int] = mapped_column(Integer)


class ExcludedTrack(Base):
    """A track the teacher marked "not a student" (their own self-view, a guest): left out of the
    lesson's aggregates, from the whole lesson, as stored with it."""

    __tablename__ = "excluded_tracks"

    lesson_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    track_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    excluded_at: Mapped[datetime] = mapped_column(UTCDateTime())


MARKER_LABEL_MAX = 100


class LessonMarker(Base):
    """A moment the teacher marked in a lesson ("quiz", "group work", "break"), live or afterwards."""

    __tablename__ = "lesson_markers"
    __table_args__ = (Index("ix_lesson_markers_lesson_t", "lesson_id", "t_ms"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    lesson_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("lessons.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())  # the moment marked
    t_ms: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(MARKER_LABEL_MAX), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the teacher marked it


class TeacherSettings(Base):
    """A teacher's display choices, kept across browser sessions (None: the dashboard's default).

    `owner` is the account name, or "" for the one local user of a dashboard without a login.
    """

    __tablename__ = "teacher_settings"

    owner: Mapped[str] = mapped_column(String(OWNER_MAX), primary_key=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    alert_level: Mapped[float | None] = mapped_column(Float)
    default_class: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


JOIN_CODE_MAX = 16
STUDENT_NAME_MAX = 40


class JoinLesson(Base):
    """A lesson students join from their own browser: its join code and whether it asks names.

    The lesson itself (title, class, rate, attention-only, owner, status) is its `lessons` row;
    `closed_at` is when the teacher ended the join (the link then says the lesson has ended).
    """

    __tablename__ = "join_lessons"

    lesson_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(JOIN_CODE_MAX), unique=True)
    ask_names: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JoinStudent(Base):
    """One student who joined a join lesson: their track number, when seen, and the token's hash.

    The token itself is never stored: a request's token is hashed and looked up by its SHA-256.
    """

    __tablename__ = "join_students"
    __table_args__ = (
        UniqueConstraint("lesson_id", "track_id", name="uq_join_students_lesson_track"),
        CheckConstraint("track_id >= 1", name="track_positive"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    lesson_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("join_lessons.lesson_id", ondelete="CASCADE")
    )
    track_id: Mapped[int] = mapped_column(Integer)  # "Student N", from 1 in order of joining
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # hex digest
    name: Mapped[str | None] = mapped_column(String(STUDENT_NAME_MAX))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def to_epoch_ms(ts: datetime) -> int:
    """Epoch milliseconds of an aware datetime (the `t_ms` column)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts.isoformat()} refused: timestamps must be aware UTC")
    return (ts - _EPOCH) // _ONE_MS


def from_epoch_ms(t_ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return _EPOCH + t_ms * _ONE_MS


__all__ = [
    "ATTENTION_STATES",
    "LESSON_STATUSES",
    "PROBABILITY_COLUMNS",
    "Base",
    "ExcludedTrack",
    "JOIN_CODE_MAX",
    "JoinLesson",
    "JoinStudent",
    "Lesson",
    "LessonMarker",
    "MARKER_LABEL_MAX",
    "OWNER_MAX",
    "ObservationRollup",
    "ObservationRow",
    "ROLLUP_SLOT_MS",
    "STUDENT_NAME_MAX",
    "SampleRow",
    "TeacherSettings",
    "UTCDateTime",
    "from_epoch_ms",
    "to_epoch_ms",
]
