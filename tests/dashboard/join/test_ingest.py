"""Ingest: the engine's attention maths per joined student, the same whichever server took which
batch (a state rebuilt from stored rows equals the one kept in memory)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import select

from dashboard.join.ingest import (
    AttentionBook,
    Ingested,
    attention_settings,
    history_window_ms,
    ingest,
)
from dashboard.join.payload import JoinSample
from engine.attention import AttentionSettings, FaceFeatures
from engine.engagement import StudentAttention
from storage.join import find_student, join_student, open_join_lesson
from storage.lessons import LessonSpec
from storage.schema import ObservationRow, SampleRow, from_epoch_ms, to_epoch_ms
from tests.storage.conftest import T0

T0_MS = to_epoch_ms(T0)
SETTINGS = AttentionSettings()


def _measured(i: int) -> JoinSample:
    """Sample i of a student at 2 Hz who looks, turns away, dozes off and leaves their seat."""
    t_ms = T0_MS + 500 * i + (7 if i % 3 else 0)  # a little jitter, as a page's timer has
    if 40 <= i < 46 or 70 <= i < 90:  # away from the seat 3 s, then 10 s (past the grace)
        return JoinSample(t_ms, False)
    yaw = 40.0 if 20 <= i < 30 else 5.0 + (i % 5)
    eyes = 0.12 if 55 <= i < 64 or i % 17 == 0 else 0.31
    probabilities = (0.05, 0.0, 0.0, 0.7, 0.05, 0.1, 0.1)
    return JoinSample(t_ms, True, yaw, -4.0, 2.0, eyes, 0.1 + 0.01 * (i % 4), probabilities)


SAMPLES = [_measured(i) for i in range(120)]
BATCHES = [SAMPLES[a:b] for a, b in zip([0, 3, 20, 21, 40, 47, 60, 81, 100],
                                         [3, 20, 21, 40, 47, 60, 81, 100, 120], strict=True)]  # fmt: skip


def _reference() -> list[tuple[int, str, float]]:
    """The engine's own StudentAttention fed every sample in one run."""
    attention, out = StudentAttention(SETTINGS), []
    for sample in SAMPLES:
        t_s = sample.t_ms / 1000
        if sample.face:
            features = FaceFeatures(sample.yaw_deg, sample.pitch_deg, sample.roll_deg,
                                    sample.eye_openness, sample.eye_openness < SETTINGS.ear_closed,
                                    sample.gaze_offset)  # fmt: skip
            state, engagement = attention.update(t_s, features)
        else:
            state, engagement = attention.absent(t_s)
        out.append((sample.t_ms, state.value, engagement))
    return out


def _run(engine, books: list[AttentionBook]) -> list[tuple[int, str, float]]:
    """Post BATCHES for a new student, batch k through books[k % len(books)]."""
    spec = LessonSpec(title="t", group_name="g", started_at=T0, sample_rate_hz=2.0)
    info = open_join_lesson(engine, spec, ask_names=False)
    _, token = join_student(engine, info.code, None, T0)
    for k, batch in enumerate(BATCHES):
        with engine.connect() as conn:
            found = find_student(conn, info.code, token)
        ingest(engine, books[k % len(books)], found, batch, from_epoch_ms(batch[-1].t_ms))
    with engine.connect() as conn:
        rows = conn.execute(select(ObservationRow.t_ms, ObservationRow.state, ObservationRow.engagement)
                            .where(ObservationRow.lesson_id == info.lesson_id)
                            .order_by(ObservationRow.t_ms)).all()  # fmt: skip
    return [tuple(row) for row in rows]


def test_states_and_engagement_are_the_engines_whichever_server_took_which_batch(engine):
    reference = _reference()
    assert {state for _, state, _ in reference} == {
        "attentive",
        "looking_away",
        "eyes_closed",
        "absent",
    }
    one = AttentionBook()
    assert _run(engine, [one]) == reference
    assert one.rebuilds == 0
    two = [AttentionBook(), AttentionBook()]
    assert _run(engine, two) == reference  # every batch after the first two rebuilds
    assert sum(book.rebuilds for book in two) == len(BATCHES) - 1
    restarts = [AttentionBook() for _ in BATCHES]
    assert _run(engine, restarts) == reference


def test_a_resent_batch_is_skipped_and_a_partly_new_one_stores_only_the_new(engine):
    spec = LessonSpec(title="t", group_name="g", started_at=T0, sample_rate_hz=2.0)
    info = open_join_lesson(engine, spec, ask_names=False)
    _, token = join_student(engine, info.code, None, T0)
    book = AttentionBook()

    def post(batch):
        with engine.connect() as conn:
            found = find_student(conn, info.code, token)
        return ingest(engine, book, found, batch, T0 + timedelta(minutes=1))

    assert post(SAMPLES[:10]) == Ingested(10, 0)
    assert post(SAMPLES[:10]) == Ingested(0, 10)
    assert post(SAMPLES[5:15]) == Ingested(5, 5)
    with engine.connect() as conn:
        streams = conn.execute(select(SampleRow.stream, SampleRow.faces_detected)).all()
        first = conn.execute(select(ObservationRow.expression, ObservationRow.p_happy,
                                    ObservationRow.box_x, ObservationRow.track_id)
                             .order_by(ObservationRow.t_ms)).first()  # fmt: skip
    assert len(streams) == 15 and {stream for stream, _ in streams} == {1}
    assert tuple(first) == ("happy", 0.7, None, 1)


def test_the_replay_window_covers_the_engagement_window_and_the_longest_look_back():
    assert history_window_ms(SETTINGS) == 15_000
    assert history_window_ms(AttentionSettings(perclos_window_s=8.0)) == 18_000


@pytest.mark.parametrize(("stored", "expected"), [
    ({}, AttentionSettings()),
    ({"attention": {"yaw_limit_deg": 30, "unknown": 1}}, AttentionSettings(yaw_limit_deg=30.0)),
    ({"attention": {"yaw_limit_deg": -5}}, AttentionSettings()),
    ({"attention": {"yaw_limit_deg": math.inf, "gaze_limit": "x"}}, AttentionSettings()),
    ({"attention": "nonsense"}, AttentionSettings()),
])  # fmt: skip
def test_a_lessons_stored_attention_settings_are_read_defensively(stored, expected):
    assert attention_settings(stored) == expected
