"""Rows from records: one transaction writes samples and their observations as bulk inserts.

The columns come from `storage/columns.py`'s spec; `storage.recorder.Recorder` calls
`write_samples` on its own thread, retrying what the database could not take yet.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Engine, column, insert, table

from storage.columns import (
    FACE_ROWS,
    OBSERVATION_INSERT_COLUMNS,
    SAMPLE_INSERT_COLUMNS,
    SAMPLE_ROWS,
)
from storage.db import write_transaction
from storage.records import Sample
from storage.rollups import refresh_rollups
from storage.schema import ObservationRow, SampleRow, to_epoch_ms

# Column order of the observation tuples built below: every column but the id, in the order
# storage/columns.py builds rows in.
OBSERVATION_COLUMNS: tuple[str, ...] = OBSERVATION_INSERT_COLUMNS

@dataclass(frozen=True)
class _ObservationInsert:
    """Core insert() of observations compiled once for a dialect, with its timestamp converter."""

    sql: str
    ts_bind: Callable[[Any], Any]


_T_MS = OBSERVATION_COLUMNS.index("t_ms")


def _identity(value: Any) -> Any:
    return value


@functools.lru_cache(maxsize=16)
def _observation_insert(dialect: Dialect) -> _ObservationInsert | None:
    """On SQLite, the observations insert compiled once with its timestamp converter; else None.

    SQLAlchemy's per-row parameter processing was half the cost of SQLite ingest, so there the
    hot path runs the compiled Core insert as one DBAPI executemany over ready tuples, naming the
    columns in the order the rows are built in (a lightweight `table()`, since an insert into the
    ORM table always follows the table's order). Other backends go through
    `conn.execute(insert(...), rows)`, which batches rows into multi-row INSERTs
    ("insertmanyvalues") and is faster there than a plain executemany.
    """
    if dialect.name != "sqlite":
        return None
    in_row_order = table(ObservationRow.__tablename__, *(column(n) for n in OBSERVATION_COLUMNS))
    compiled = insert(in_row_order).compile(dialect=dialect)
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


def write_samples(engine: Engine, lesson_id: int, samples: Sequence[Sample]) -> int:
    """Write samples and their observations in one transaction; return the observation count.

    Samples go through `insert(SampleRow)`; observations through `_observation_insert`.
    """
    plan = _observation_insert(engine.dialect)
    sample_dicts, obs_rows = sample_rows(
        lesson_id, samples, plan.ts_bind if plan is not None else _identity
    )
    with write_transaction(engine) as conn:
        if sample_dicts:
            conn.execute(insert(SampleRow), sample_dicts)
        if obs_rows and plan is not None:
            conn.exec_driver_sql(plan.sql, obs_rows)
        elif obs_rows:
            conn.execute(
                insert(ObservationRow),
                [dict(zip(OBSERVATION_COLUMNS, row, strict=True)) for row in obs_rows],
            )
        if obs_rows:
            t_ms = [row[_T_MS] for row in obs_rows]
            refresh_rollups(conn, lesson_id, min(t_ms), max(t_ms))
    return len(obs_rows)
