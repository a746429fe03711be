"""Where each stored column of a sample and of a face comes from: one spec for writes, export and tests.

The columns are the ORM's (storage/schema.py), in table order. Each takes the record attribute of
the same name (`Observation.yaw_deg` -> `observations.yaw_deg`, an enum by its value), except the
tuple-valued attributes spread over several columns (`SPREAD`) and the columns every row gets from
its lesson and its time (`ROW_CONTEXT`). A column without a source, or a record field without a
column, is refused when this module is imported, so the records and the schema cannot drift apart:
adding a stored field is the record field, the ORM column and a migration.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from sqlalchemy import Table

from storage.records import Observation, Sample
from storage.schema import PROBABILITY_COLUMNS, ObservationRow, SampleRow

# Filled from the lesson (lesson_id) and the record's own `ts` (ts, t_ms), in this order.
ROW_CONTEXT: tuple[str, ...] = ("lesson_id", "ts", "t_ms")

# Tuple-valued Observation attributes and the columns they spread over, in order (None fills all).
SPREAD: dict[str, tuple[str, ...]] = {
    "box": ("box_x", "box_y", "box_w", "box_h"),
    "probabilities": PROBABILITY_COLUMNS,
}

# Record fields that are not one column of their own row.
_NOT_COLUMNS = frozenset({"ts", "observations"})  # ts: ROW_CONTEXT; observations: their own table


class SpecError(TypeError):
    """The records and the schema disagree: a column without a source or a field without a column."""


@dataclass(frozen=True, slots=True)
class StoredColumn:
    """One stored column and where its value is taken from in a record."""

    name: str
    attribute: str  # the record attribute, dotted ("state.value") for an enum
    index: int | None = None  # the position within a tuple-valued attribute

    def value_of(self, record: Any) -> Any:
        """This column's value for one record (the reference the fast row builders must match)."""
        value = attrgetter(self.attribute)(record)
        if self.index is None:
            return value
        return None if value is None else value[self.index]


def _is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.Enum)


def columns_of(
    table: Table, record: type, spread: dict[str, tuple[str, ...]]
) -> tuple[StoredColumn, ...]:
    """The table's columns (but its key and ROW_CONTEXT) with their sources in the record type."""
    hints = typing.get_type_hints(record)
    spread_at = {name: (attr, i) for attr, names in spread.items() for i, name in enumerate(names)}
    found: list[StoredColumn] = []
    for column in table.columns:
        name = column.name
        if column.primary_key or name in ROW_CONTEXT:
            continue
        if name in spread_at:
            found.append(StoredColumn(name, *spread_at[name]))
        elif name in hints and name not in _NOT_COLUMNS and name not in spread:
            hint = hints[name]
            if any(_is_enum(arg) for arg in typing.get_args(hint)):
                raise SpecError(f"{record.__name__}.{name}: an optional enum cannot be stored")
            found.append(StoredColumn(name, f"{name}.value" if _is_enum(hint) else name))
        else:
            raise SpecError(
                f"column {table.name}.{name} has no source: add the field {record.__name__}.{name} "
                f"to storage/records.py (or list it in storage.columns.SPREAD)"
            )
    for attribute, names in spread.items():
        present = {column.name for column in found if column.attribute == attribute}
        missing = [name for name in names if name not in present]
        if present and missing:
            raise SpecError(
                f"{table.name} lacks {', '.join(missing)} of {record.__name__}.{attribute}"
            )
    stored = {column.attribute.split(".")[0] for column in found}
    unstored = [
        f.name
        for f in dataclasses.fields(record)
        if f.name not in stored and f.name not in _NOT_COLUMNS
    ]
    if unstored:
        raise SpecError(
            f"{record.__name__} field(s) {', '.join(unstored)} have no column in {table.name}: "
            "add them to storage/schema.py with a migration"
        )
    return tuple(found)


@dataclass(frozen=True, slots=True)
class RowLayout:
    """How rows of a record are built fast: the columns in the order `values` yields them.

    One attrgetter (C) reads every single-column attribute, then each tuple-valued attribute is
    appended whole (or as Nones): a few C calls per record instead of a Python call per column,
    which keeps the recorder at the speed of a hand-written tuple. So the order is the single
    columns in table order, then each spread attribute's columns; inserts name the columns in it.
    """

    names: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]


def row_layout(columns: tuple[StoredColumn, ...]) -> RowLayout:
    """The fast row builder for these columns, and the order of its values."""
    singles = [column for column in columns if column.index is None]
    spreads: dict[str, list[StoredColumn]] = {}
    for column in columns:
        if column.index is not None:
            spreads.setdefault(column.attribute, []).append(column)
    names = [column.name for column in singles]
    fills: list[tuple[str, tuple[None, ...]]] = []
    for attribute, members in spreads.items():
        if [member.index for member in members] != list(range(len(members))):
            raise SpecError(f"the columns of {attribute} do not follow its order: {members}")
        fills.append((attribute, (None,) * len(members)))
        names.extend(member.name for member in members)
    read = _tuple_getter([column.attribute for column in singles])

    def values(record: Any) -> tuple[Any, ...]:
        row = read(record)
        for attribute, nones in fills:
            row += getattr(record, attribute) or nones
        return row

    return RowLayout(tuple(names), values)


def _tuple_getter(attributes: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """attrgetter(*attributes), but a tuple for zero or one attribute too."""
    if len(attributes) > 1:
        return attrgetter(*attributes)
    if not attributes:
        return lambda record: ()
    get = attrgetter(attributes[0])
    return lambda record: (get(record),)


FACE_COLUMNS: tuple[StoredColumn, ...] = columns_of(ObservationRow.__table__, Observation, SPREAD)
SAMPLE_COLUMNS: tuple[StoredColumn, ...] = columns_of(SampleRow.__table__, Sample, {})
FACE_ROWS: RowLayout = row_layout(FACE_COLUMNS)
SAMPLE_ROWS: RowLayout = row_layout(SAMPLE_COLUMNS)

# What an insert names, in the order of the rows built for it: ROW_CONTEXT, then the layout's.
OBSERVATION_INSERT_COLUMNS: tuple[str, ...] = ROW_CONTEXT + FACE_ROWS.names
SAMPLE_INSERT_COLUMNS: tuple[str, ...] = ROW_CONTEXT + SAMPLE_ROWS.names
# The raw observations CSV: the lesson, the time, then every stored per-face column in table order.
OBSERVATION_EXPORT_COLUMNS: tuple[str, ...] = ("lesson_id", "ts", *(c.name for c in FACE_COLUMNS))

__all__ = [
    "FACE_COLUMNS",
    "FACE_ROWS",
    "OBSERVATION_EXPORT_COLUMNS",
    "OBSERVATION_INSERT_COLUMNS",
    "ROW_CONTEXT",
    "RowLayout",
    "SAMPLE_COLUMNS",
    "SAMPLE_ROWS",
    "SAMPLE_INSERT_COLUMNS",
    "SPREAD",
    "SpecError",
    "StoredColumn",
    "columns_of",
    "row_layout",
]
