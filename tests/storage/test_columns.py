"""The column spec: every stored column has a record field, every field a column, values round-trip."""

from __future__ import annotations

import dataclasses
import typing
from datetime import timedelta

import pytest
from sqlalchemy import Column, Float, MetaData, Table, select
from sqlalchemy.orm import Session

from storage.columns import (
    FACE_COLUMNS,
    FACE_ROWS,
    OBSERVATION_EXPORT_COLUMNS,
    OBSERVATION_INSERT_COLUMNS,
    ROW_CONTEXT,
    SAMPLE_COLUMNS,
    SAMPLE_INSERT_COLUMNS,
    SAMPLE_ROWS,
    SPREAD,
    SpecError,
    columns_of,
)
from storage.lessons import LessonSpec, create_lesson
from storage.records import EXPRESSIONS, AttentionState, Observation, Sample
from storage.schema import ObservationRow, SampleRow
from storage.writes import write_samples
from tests.storage.conftest import T0

# Values no field takes by default; anything else is made from the field's type below.
_KNOWN = {
    "ts": T0 + timedelta(milliseconds=1500),
    "state": AttentionState.EYES_CLOSED,
    "engagement": 12.25,
    "box": (1, 2, 3, 4),
    "probabilities": (0.1, 0.05, 0.05, 0.5, 0.1, 0.1, 0.1),
    "expression": "happy",
}


def _value_for(hint: object, n: int) -> object:
    """A distinct value of a field's type: the n-th field gets n + 100 or n + 0.25."""
    kinds = typing.get_args(hint) or (hint,)
    if int in kinds:
        return n + 100
    if float in kinds:
        return n + 0.25
    if bool in kinds:
        return True
    pytest.fail(f"no test value for a field of type {hint}: add one to _KNOWN")


def _every_field(record: type, **known: object) -> object:
    """A record whose every field holds a distinct value (new fields included, from their type)."""
    hints = typing.get_type_hints(record)
    values = {
        f.name: known[f.name] if f.name in known else _value_for(hints[f.name], n)
        for n, f in enumerate(dataclasses.fields(record))
    }
    return record(**values)


def _table_columns(table: Table) -> set[str]:
    return {c.name for c in table.columns if not c.primary_key} - set(ROW_CONTEXT)


def test_every_stored_column_has_a_field_and_every_field_a_column():
    assert {c.name for c in FACE_COLUMNS} == _table_columns(ObservationRow.__table__)
    assert {c.name for c in SAMPLE_COLUMNS} == _table_columns(SampleRow.__table__)
    face_fields = {f.name for f in dataclasses.fields(Observation)} - {"ts"}
    assert {c.attribute.split(".")[0] for c in FACE_COLUMNS} == face_fields
    assert [c.name for c in FACE_COLUMNS if c.attribute == "probabilities"] == [
        f"p_{name}" for name in EXPRESSIONS
    ]


def test_insert_and_export_columns_cover_the_table_once_each():
    every = [c.name for c in ObservationRow.__table__.columns if c.name != "id"]
    assert sorted(OBSERVATION_INSERT_COLUMNS) == sorted(every)
    assert OBSERVATION_INSERT_COLUMNS[: len(ROW_CONTEXT)] == ROW_CONTEXT
    assert sorted(SAMPLE_INSERT_COLUMNS) == sorted(
        c.name for c in SampleRow.__table__.columns if c.name != "id"
    )
    assert tuple(c for c in every if c != "t_ms") == OBSERVATION_EXPORT_COLUMNS


@pytest.mark.parametrize(
    "observation",
    [
        _every_field(Observation, **_KNOWN),
        Observation(ts=T0, track_id=3, state=AttentionState.ABSENT, engagement=0.0),
    ],
    ids=["present", "absent"],
)
def test_fast_rows_hold_what_the_spec_takes_from_each_field(observation):
    row = dict(zip(FACE_ROWS.names, FACE_ROWS.values(observation), strict=True))
    assert row == {c.name: c.value_of(observation) for c in FACE_COLUMNS}
    assert row["state"] == observation.state.value and type(row["state"]) is str


def test_every_field_round_trips_through_the_recorder_into_its_column(engine):
    lesson_id = create_lesson(engine, LessonSpec("t", "g", T0))
    observation = _every_field(Observation, **_KNOWN)
    sample = _every_field(Sample, ts=observation.ts, observations=(observation,))
    write_samples(engine, lesson_id, [sample])
    with Session(engine) as session:
        stored = session.scalars(select(ObservationRow)).one()
        stored_sample = session.scalars(select(SampleRow)).one()
    for column in FACE_COLUMNS:
        assert getattr(stored, column.name) == column.value_of(observation), column.name
    for column in SAMPLE_COLUMNS:
        assert getattr(stored_sample, column.name) == column.value_of(sample), column.name
    assert (stored.lesson_id, stored.ts, stored_sample.ts) == (lesson_id, observation.ts, sample.ts)
    assert SAMPLE_ROWS.values(sample) == tuple(c.value_of(sample) for c in SAMPLE_COLUMNS)


def _observations_table(*extra: Column, without: str = "") -> Table:
    """A copy of the observations table, with extra columns or without one."""
    columns = [
        Column(c.name, c.type, primary_key=c.primary_key)
        for c in ObservationRow.__table__.columns
        if c.name != without
    ]
    return Table("observations", MetaData(), *columns, *extra)


def test_a_column_without_a_field_is_refused():
    table = _observations_table(Column("heart_rate_bpm", Float))
    with pytest.raises(SpecError, match=r"observations\.heart_rate_bpm has no source"):
        columns_of(table, Observation, SPREAD)


def test_a_field_without_a_column_is_refused():
    @dataclasses.dataclass(frozen=True)
    class WithBlink(Observation):
        blinks: int = 0

    with pytest.raises(SpecError, match=r"WithBlink field\(s\) blinks have no column"):
        columns_of(_observations_table(), WithBlink, SPREAD)


def test_a_spread_missing_one_of_its_columns_is_refused():
    with pytest.raises(SpecError, match=r"observations lacks box_h of Observation\.box"):
        columns_of(_observations_table(without="box_h"), Observation, SPREAD)
