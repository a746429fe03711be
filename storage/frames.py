"""What every read query shares: running a select into a DataFrame, ratios, bucket widths, and the
dominant expression of a row of counts."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, Float, Select, cast, func

from storage.records import EXPRESSIONS


def ratio(numerator: ColumnElement[Any], denominator: ColumnElement[Any]) -> ColumnElement[Any]:
    """numerator / denominator as a float, NULL when the denominator is 0."""
    return cast(numerator, Float) / func.nullif(denominator, 0)


def bucket_width_ms(bucket_s: float) -> int:
    """A bucket width in whole milliseconds (at least 1)."""
    if bucket_s <= 0:
        raise ValueError(f"bucket_s must be > 0, got {bucket_s}")
    return max(1, round(bucket_s * 1000))


def read_frame(
    source: Engine | Connection, stmt: Select[Any], ms_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Run a select and return a DataFrame; epoch-ms columns become aware UTC datetimes."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            return read_frame(conn, stmt, ms_columns)
    result = source.execute(stmt)
    frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    for column in ms_columns:
        frame[column] = pd.to_datetime(frame[column].astype("Int64"), unit="ms", utc=True)
    return frame


def dominant_expressions(frame: pd.DataFrame, prefix: str) -> list[str | None]:
    """Per row, the expression with the largest `{prefix}{name}` value (None when all are 0/NULL)."""
    if frame.empty:
        return []
    values = frame[[f"{prefix}{name}" for name in EXPRESSIONS]].astype(float).fillna(0.0).to_numpy()
    best = values.argmax(axis=1)
    has_any = values.max(axis=1) > 0
    return [EXPRESSIONS[k] if ok else None for k, ok in zip(best, has_any, strict=True)]
