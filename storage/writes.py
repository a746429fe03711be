"""Rows from records: one transaction writes samples and their observations as bulk inserts.

The columns come from `storage/columns.py`'s spec; `storage.recorder.Recorder` calls
`write_samples` on its own thread, retrying what the database could not take yet.

Every insert is insert-or-ignore on the rows' keys (samples: lesson, stream, t_ms; observations:
lesson, track, t_ms), so writing a batch that is already stored stores nothing twice: the
engine's retry after a COMMIT the server made but the client never heard of, and a student's
page sending a batch again. The rollups are recomputed from the observations, so they stay exact.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Dialect,
    Engine,
    Float,
    Insert,
    Integer,
    Table,
    TableClause,
    TextClause,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    or_,
    table,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from storage.columns import (
    FACE_ROWS,
    OBSERVATION_INSERT_COLUMNS,
    SAMPLE_INSERT_COLUMNS,
    SAMPLE_ROWS,
)
from storage.db import StorageError, write_transaction
from storage.records import Sample
from storage.rollups import SUM_COLUMNS, raw_per_student_select
from storage.schema import (
    ROLLUP_SLOT_MS,
    ObservationRollup,
    ObservationRow,
    SampleRow,
    from_epoch_ms,
    to_epoch_ms,
)

# Column order of the observation tuples built below: every column but the id, in the order
# storage/columns.py builds rows in.
OBSERVATION_COLUMNS: tuple[str, ...] = OBSERVATION_INSERT_COLUMNS


@dataclass(frozen=True)
class _ObservationInsert:
    """Core insert() of observations compiled once for a dialect, with its timestamp converter."""

    sql: str
    ts_bind: Callable[[Any], Any]


_LESSON = OBSERVATION_COLUMNS.index("lesson_id")
_T_MS = OBSERVATION_COLUMNS.index("t_ms")
_TRACK = OBSERVATION_COLUMNS.index("track_id")
# Any 15-bit constant: the top of the PostgreSQL advisory lock keys that order rollup refreshes.
_PG_ROLLUP_LOCKS = 0x4350
# The keys in the order given (volatile target lists are evaluated after the scan, in its order).
_PG_LOCK_IN_ORDER = text(
    "SELECT pg_advisory_xact_lock(key) FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY "
    "AS k(key, n) ORDER BY n"
)


@dataclass(frozen=True, slots=True)
class Stored:
    """What one write added: samples and observations new to the database (the rest were there)."""

    samples: int
    observations: int


def insert_or_ignore(dialect: Dialect, target: Table | TableClause) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for SQLite or PostgreSQL: a row whose key is stored is skipped."""
    if dialect.name == "sqlite":
        return sqlite.insert(target).on_conflict_do_nothing()
    if dialect.name == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing()
    raise StorageError(f"ClassPulse writes to SQLite or PostgreSQL, not {dialect.name}")


def _identity(value: Any) -> Any:
    return value


@functools.lru_cache(maxsize=16)
def _observation_insert(dialect: Dialect) -> _ObservationInsert | None:
    """On SQLite, the observations insert compiled once with its timestamp converter; else None.

    SQLAlchemy's per-row parameter processing was half the cost of SQLite ingest, so there the
    hot path runs the compiled Core insert as one DBAPI executemany over ready tuples, naming the
    columns in the order the rows are built in (a lightweight `table()`, since an insert into the
    ORM table always follows the table's order). PostgreSQL takes the rows as one array per
    column (`_pg_insert`).
    """
    if dialect.name != "sqlite":
        return None
    in_row_order = table(ObservationRow.__tablename__, *(column(n) for n in OBSERVATION_COLUMNS))
    compiled = insert_or_ignore(dialect, in_row_order).compile(dialect=dialect)
    if not compiled.positional or tuple(compiled.positiontup or ()) != OBSERVATION_COLUMNS:
        raise RuntimeError(f"unexpected parameter order {compiled.positiontup}")
    ts_type = ObservationRow.__table__.c.ts.type
    ts_bind = ts_type.dialect_impl(dialect).bind_processor(dialect) or _identity
    return _ObservationInsert(str(compiled), ts_bind)


def sample_rows(
    lesson_id: int, samples: Iterable[Sample], ts_bind: Callable[[Any], Any] = _identity
) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """Sample rows (dicts) and observation rows (tuples in OBSERVATION_COLUMNS order).

    The values come from storage/columns.py's spec. `ts_bind` converts an observation timestamp
    to the driver's value once per sample, since every face of a frame shares the frame's time.
    """
    sample_out: list[dict[str, Any]] = []
    obs_out: list[tuple[Any, ...]] = []
    append = obs_out.append
    face_values, sample_values = FACE_ROWS.values, SAMPLE_ROWS.values
    for sample in samples:
        sample_ts = sample.ts
        sample_t_ms = to_epoch_ms(sample_ts)
        sample_out.append(
            dict(
                zip(
                    SAMPLE_INSERT_COLUMNS,
                    (lesson_id, sample_ts, sample_t_ms, *sample_values(sample)),
                    strict=True,
                )
            )
        )
        head = (lesson_id, ts_bind(sample_ts), sample_t_ms)  # the ROW_CONTEXT columns
        for obs in sample.observations:
            ts = obs.ts
            if ts == sample_ts:
                append(head + face_values(obs))
            else:
                append((lesson_id, ts_bind(ts), to_epoch_ms(ts)) + face_values(obs))
    return sample_out, obs_out


def write_samples(engine: Engine | Connection, lesson_id: int, samples: Sequence[Sample]) -> int:
    """Write samples and their observations in one transaction; return the batch's observation count.

    Rows already stored (an earlier attempt whose COMMIT went through) are skipped, so after the
    call every observation of the batch is stored exactly once, whoever stored it.
    """
    with write_transaction(engine) as conn:
        insert_samples(conn, lesson_id, samples)
    return sum(len(sample.observations) for sample in samples)


def insert_samples(conn: Connection, lesson_id: int, samples: Sequence[Sample]) -> Stored:
    """Insert-or-ignore samples and their observations, and refresh the rollups they touch, in the
    caller's write transaction; what was new."""
    return insert_lessons_samples(conn, {lesson_id: samples})[0]


def insert_lessons_samples(
    conn: Connection, samples_by_lesson: Mapping[int, Sequence[Sample]]
) -> tuple[Stored, Counter[tuple[int, int | None]]]:
    """insert_samples for several lessons at once (one insert of each kind, one rollup refresh:
    joined students' batches written together), and how many new samples each (lesson, stream)
    got (a joined student's stream is their track).

    On SQLite, samples go through a Core insert returning the new rows and observations through
    `_observation_insert` (its count from the cursor). On PostgreSQL each is one INSERT ... SELECT
    FROM unnest(arrays) returning the new rows (`_pg_insert`): the same short statement for any
    number of rows.
    """
    plan = _observation_insert(conn.dialect)
    ts_bind = plan.ts_bind if plan is not None else _identity
    sample_dicts: list[dict[str, Any]] = []
    obs_rows: list[tuple[Any, ...]] = []
    for lesson_id, samples in samples_by_lesson.items():
        lesson_samples, lesson_obs = sample_rows(lesson_id, samples, ts_bind)
        sample_dicts += lesson_samples
        obs_rows += lesson_obs
    new_observations = 0
    new: Counter[tuple[int, int | None]] = Counter()
    if conn.dialect.name == "postgresql":
        new_rows, new_observations = _pg_insert_rows(conn, sample_dicts, obs_rows)
        new.update(new_rows)
    else:
        if sample_dicts:
            returning = insert_or_ignore(conn.dialect, SampleRow.__table__).returning(
                SampleRow.lesson_id, SampleRow.stream
            )
            new.update(
                (int(lesson), stream) for lesson, stream in conn.execute(returning, sample_dicts)
            )
        if obs_rows and plan is not None:
            new_observations = max(0, conn.exec_driver_sql(plan.sql, obs_rows).rowcount)
    if obs_rows:
        refresh_track_rollups(conn, obs_rows)
    return Stored(sum(new.values()), new_observations), new


def _pg_insert_rows(
    conn: Connection, sample_dicts: list[dict[str, Any]], obs_rows: list[tuple[Any, ...]]
) -> tuple[list[tuple[int, int]], int]:
    """insert_lessons_samples' inserts on PostgreSQL: the new samples' (lesson, stream) and the
    count of new observations."""
    new: list[tuple[int, int]] = []
    if sample_dicts:
        rows = [tuple(row.values()) for row in sample_dicts]  # SAMPLE_INSERT_COLUMNS' order
        statement = _pg_insert(SampleRow.__table__, SAMPLE_INSERT_COLUMNS, ("lesson_id", "stream"))
        found = conn.execute(
            statement, _pg_arrays(SampleRow.__table__, SAMPLE_INSERT_COLUMNS, rows)
        )
        new = [(int(lesson), stream) for lesson, stream in found]
    if not obs_rows:
        return new, 0
    statement = _pg_insert(ObservationRow.__table__, OBSERVATION_COLUMNS, ("id",))
    params = _pg_arrays(ObservationRow.__table__, OBSERVATION_COLUMNS, obs_rows)
    return new, len(conn.execute(statement, params).all())


@functools.lru_cache(maxsize=8)
def _pg_insert(target: Table, columns: tuple[str, ...], returning: tuple[str, ...]) -> TextClause:
    """PostgreSQL's bulk insert-or-ignore: INSERT ... SELECT FROM unnest(one array per column).

    One short statement whatever the number of rows, so the driver parses it once and the server
    prepares it once; a multi-row VALUES insert is a new statement of thousands of placeholders
    for every batch size, and parsing it cost the join server a third of its time.
    """
    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(
        f"CAST(:{name} AS {target.c[name].type.compile(dialect=dialect)}[])" for name in columns
    )
    return text(
        f"INSERT INTO {quote(target.name)} ({', '.join(quote(name) for name in columns)}) "
        f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING "
        f"RETURNING {', '.join(quote(name) for name in returning)}"
    )


def _pg_arrays(
    target: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> dict[str, list[Any]]:
    """The rows as one list per column, the parameters of `_pg_insert`. A list must hold one
    Python type for the driver to send it as an array, so a float column's ints become floats."""
    floats = _pg_float_columns(target, columns)
    return {
        name: [v if v is None else float(v) for v in values] if name in floats else list(values)
        for name, values in zip(columns, zip(*rows, strict=True), strict=True)
    }


@functools.lru_cache(maxsize=8)
def _pg_float_columns(target: Table, columns: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name for name in columns if isinstance(target.c[name].type, Float))


def refresh_track_rollups(conn: Connection, obs_rows: Sequence[tuple[Any, ...]]) -> None:
    """Recompute the rollup slots these observation rows fall in, for their lessons' tracks only:
    on SQLite one DELETE and one INSERT ... SELECT, on PostgreSQL one upsert
    (`_pg_refresh_rollups`), whatever the number of lessons.

    Writers of one lesson's different students (joined students posting at once) so touch
    different rollup rows; two writers of one student take turns on PostgreSQL (an advisory
    lock per lesson and track, taken in key order), so each refresh sees the other's committed
    observations. SQLite's BEGIN IMMEDIATE serialises writers anyway.
    """
    spans: dict[int, tuple[set[int], int, int]] = {}
    for row in obs_rows:
        lesson_id, t_ms, track = int(row[_LESSON]), row[_T_MS], int(row[_TRACK])
        tracks, lo, hi = spans.get(lesson_id, (set(), t_ms, t_ms))
        tracks.add(track)
        spans[lesson_id] = (tracks, min(lo, t_ms), max(hi, t_ms))
    # Per lesson: its tracks, and the slots [first, end) the rows fall in.
    slots = {lesson: (sorted(tracks), lo // ROLLUP_SLOT_MS * ROLLUP_SLOT_MS,
                      hi // ROLLUP_SLOT_MS * ROLLUP_SLOT_MS + ROLLUP_SLOT_MS)
             for lesson, (tracks, lo, hi) in sorted(spans.items())}  # fmt: skip
    if conn.dialect.name == "postgresql":
        keys = [_rollup_lock_key(lesson, track) for lesson, (tracks, _, _) in slots.items()
                for track in tracks]  # fmt: skip
        conn.execute(_PG_LOCK_IN_ORDER, {"keys": sorted(keys)})
        _pg_refresh_rollups(conn, slots)
        return
    R, Obs = ObservationRollup, ObservationRow
    conn.execute(delete(R).where(or_(*(
        and_(R.lesson_id == lesson, R.slot_ms >= lo, R.slot_ms < hi, R.track_id.in_(tracks))
        for lesson, (tracks, lo, hi) in slots.items()))))  # fmt: skip
    source = raw_per_student_select(ROLLUP_SLOT_MS, or_(*(
        and_(Obs.lesson_id == lesson, Obs.track_id.in_(tracks), Obs.ts >= from_epoch_ms(lo),
             Obs.ts < from_epoch_ms(hi))
        for lesson, (tracks, lo, hi) in slots.items())))  # fmt: skip
    conn.execute(insert(R).from_select(["lesson_id", "slot_ms", "track_id", *SUM_COLUMNS], source))


def _pg_refresh_rollups(conn: Connection, slots: Mapping[int, tuple[list[int], int, int]]) -> None:
    """refresh_track_rollups on PostgreSQL (`slots`: per lesson, its tracks and [first, end) slot
    times): one INSERT ... SELECT ... ON CONFLICT DO UPDATE.

    The rollup rows are recomputed from the observations (exact, as a DELETE and INSERT would be;
    observations are never removed but with their lesson, so every slot touched has a row to
    write). The (lesson, track, slots) keys go as arrays, so the statement is the same for any
    number of students (the driver and the server parse it once) and is a join from the keys:
    one range of the observations' unique index per student, one primary-key probe per rollup row.
    A DELETE or an EXISTS over the keys was planned as a scan of the whole table.
    """
    keys: dict[str, list[int]] = {"key_lessons": [], "key_tracks": [], "key_lo": [], "key_hi": []}
    for lesson, (tracks, first, end) in slots.items():
        for track in tracks:
            for key, value in zip(keys, (lesson, track, first, end), strict=True):
                keys[key].append(value)
    conn.execute(_pg_rollup_upsert(), keys)


@functools.cache
def _pg_rollup_upsert() -> Insert:
    """The statement of `_pg_refresh_rollups`, built once."""
    spans = (
        func.unnest(
            bindparam("key_lessons", type_=postgresql.ARRAY(BigInteger)),
            bindparam("key_tracks", type_=postgresql.ARRAY(Integer)),
            bindparam("key_lo", type_=postgresql.ARRAY(BigInteger)),
            bindparam("key_hi", type_=postgresql.ARRAY(BigInteger)),
        )
        .table_valued("lesson_id", "track_id", "lo", "hi")
        .render_derived(name="rollup_keys")
    )
    Obs = ObservationRow
    source = raw_per_student_select(ROLLUP_SLOT_MS).select_from(spans.join(Obs, and_(
        Obs.lesson_id == spans.c.lesson_id, Obs.track_id == spans.c.track_id,
        Obs.t_ms >= spans.c.lo, Obs.t_ms < spans.c.hi)))  # fmt: skip
    upsert = postgresql.insert(ObservationRollup).from_select(
        ["lesson_id", "slot_ms", "track_id", *SUM_COLUMNS], source
    )
    return upsert.on_conflict_do_update(
        index_elements=["lesson_id", "slot_ms", "track_id"],
        set_={name: upsert.excluded[name] for name in SUM_COLUMNS},
    )


def _rollup_lock_key(lesson_id: int, track_id: int) -> int:
    """A signed 64-bit advisory lock key for one lesson's track (a collision only serialises)."""
    return (_PG_ROLLUP_LOCKS << 48) | ((lesson_id & 0xFFFF_FFFF) << 16) | (track_id & 0xFFFF)
