"""Engagement per student over time and the class concentration, from crafted features and times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.attention import AttentionSettings, FaceFeatures
from engine.engagement import StudentAttention, class_concentration, instant_engagement
from storage.measures import class_figures
from storage.records import AttentionState, Observation

SETTINGS = AttentionSettings()
TS = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ATTENTIVE, AWAY, CLOSED, ABSENT = (
    AttentionState.ATTENTIVE,
    AttentionState.LOOKING_AWAY,
    AttentionState.EYES_CLOSED,
    AttentionState.ABSENT,
)


def features(
    yaw: float = 0.0, pitch: float = 0.0, gaze: float = 0.0, closed: bool = False
) -> FaceFeatures:
    return FaceFeatures(
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=0.0,
        eye_openness=0.1 if closed else 0.3,
        eyes_closed_now=closed,
        gaze_offset=gaze,
    )


@pytest.mark.parametrize(
    ("face", "state", "expected"),
    [
        (features(), ATTENTIVE, 100.0),
        (features(yaw=12.5), ATTENTIVE, 75.0),
        (features(yaw=-25.0), ATTENTIVE, 50.0),  # at the limit: where looking_away begins
        (features(pitch=10.0), ATTENTIVE, 75.0),
        (features(gaze=0.225), ATTENTIVE, 75.0),
        (features(yaw=12.5, pitch=15.0), ATTENTIVE, 62.5),  # the worst ratio counts, not the sum
        (features(yaw=40.0), AWAY, 20.0),
        (features(yaw=50.0), AWAY, 0.0),
        (features(yaw=90.0), AWAY, 0.0),
        (features(closed=True), CLOSED, 0.0),
        (features(), ABSENT, 0.0),
    ],
)
def test_instant_engagement_falls_with_deviation_and_is_zero_when_eyes_closed(
    face: FaceFeatures, state: AttentionState, expected: float
) -> None:
    assert instant_engagement(face, state, SETTINGS) == pytest.approx(expected)


def run(rows: list[tuple[float, FaceFeatures | None]]) -> list[tuple[AttentionState, float]]:
    """Feed (t_s, features or None for absent) rows to one student; return every (state, engagement)."""
    student = StudentAttention(SETTINGS)
    return [student.update(t, f) if f is not None else student.absent(t) for t, f in rows]


def at_hz(start_s: float, end_s: float, face: FaceFeatures | None, hz: float = 10.0) -> list:
    return [(round(start_s + k / hz, 3), face) for k in range(round((end_s - start_s) * hz))]


@pytest.mark.parametrize(
    ("face", "expected_state"),
    [
        (features(), ATTENTIVE),
        (features(yaw=40.0), AWAY),
        (features(pitch=-25.0), AWAY),
        (features(gaze=0.6), AWAY),
        (features(closed=True), CLOSED),  # held for 3 s
    ],
)
def test_state_after_three_steady_seconds(
    face: FaceFeatures, expected_state: AttentionState
) -> None:
    assert run(at_hz(0.0, 3.0, face))[-1][0] is expected_state


def test_engagement_orders_attentive_over_looking_away_over_eyes_closed() -> None:
    attentive, away, closed = (
        run(at_hz(0.0, 12.0, f))[-1][1]
        for f in (features(), features(yaw=40.0), features(closed=True))
    )
    assert attentive == pytest.approx(100.0)
    assert away == pytest.approx(20.0)
    assert closed < 10.0  # zero once eyes_closed began, after eyes_closed_min_s
    assert attentive > away > closed


def test_single_blink_keeps_state_and_engagement() -> None:
    rows = (
        at_hz(0.0, 2.0, features())
        + at_hz(2.0, 2.2, features(closed=True))
        + at_hz(2.2, 4.0, features())
    )
    got = run(rows)
    assert {state for state, _ in got} == {ATTENTIVE}
    assert [engagement for _, engagement in got] == pytest.approx([100.0] * len(rows))


def test_eyes_closed_for_one_and_a_half_seconds() -> None:
    rows = at_hz(0.0, 2.0, features()) + at_hz(2.0, 3.5, features(closed=True))
    states = [state for state, _ in run(rows)]
    assert states[:30] == [ATTENTIVE] * 30  # the first second of closure is still attentive
    assert states[30:] == [CLOSED] * 5


def test_engagement_is_time_weighted_over_irregular_samples() -> None:
    # 100 from 0 to 5 s sampled unevenly, then looking far away (0) from 5 to 10 s.
    rows = [(0.0, features()), (0.3, features()), (2.0, features()), (5.0, features())]
    rows += [(5.1, features(yaw=60.0)), (9.0, features(yaw=60.0)), (10.0, features(yaw=60.0))]
    assert run(rows)[-1] == (AWAY, pytest.approx(50.0))


@pytest.mark.parametrize(
    ("absent_for_s", "expected_engagement"),
    [
        (0.5, 80.0),  # within the grace: last instant value held
        (4.9, 80.0),
        (15.0, 0.0),  # grace over and a full window of zeros since
    ],
)
def test_absent_student_holds_engagement_within_grace_then_decays(
    absent_for_s: float, expected_engagement: float
) -> None:
    rows = at_hz(0.0, 10.0, features(yaw=10.0)) + at_hz(10.0, 10.0 + absent_for_s + 0.05, None)
    state, engagement = run(rows)[-1]
    assert state is ABSENT
    assert engagement == pytest.approx(expected_engagement)


def test_absent_since_marks_first_absent_sample_and_clears_on_return() -> None:
    student = StudentAttention(SETTINGS)
    student.update(0.0, features())
    student.absent(1.0)
    student.absent(2.0)
    assert student.absent_since_s == 1.0
    student.update(3.0, features())
    assert student.absent_since_s is None


def test_returning_with_closed_eyes_is_not_read_as_long_closure() -> None:
    rows = (
        at_hz(0.0, 2.0, features(closed=True))
        + at_hz(2.0, 4.0, None)
        + [(4.0, features(closed=True))]
    )
    assert run(rows)[-1][0] is ATTENTIVE


def _seen(track_id: int, state: AttentionState, engagement: float) -> Observation:
    return Observation(ts=TS, track_id=track_id, state=state, engagement=engagement)


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        ([], None),
        ([_seen(1, ATTENTIVE, 80.0)], 80.0),
        ([_seen(1, ATTENTIVE, 80.0), _seen(2, AWAY, 40.0)], 60.0),
        # absent: the engagement stored for them counts (held, then falling to 0 after the grace)
        ([_seen(1, ATTENTIVE, 80.0), _seen(2, ABSENT, 40.0)], 60.0),
        ([_seen(1, ATTENTIVE, 80.0), _seen(2, ABSENT, 0.0)], 40.0),
        # a still picture is not a student: left out, not counted as 0
        ([_seen(1, ATTENTIVE, 80.0), _seen(3, AttentionState.CAMERA_OFF, 0.0)], 80.0),
        ([_seen(3, AttentionState.CAMERA_OFF, 0.0)], None),
    ],
)
def test_class_concentration_of_a_sample_is_the_mean_over_its_live_students(
    observations: list[Observation], expected: float | None
) -> None:
    assert class_concentration(observations) == (None if expected is None else pytest.approx(expected))


def test_class_concentration_is_storage_measures_rule_over_one_sample() -> None:
    sample = [_seen(1, ATTENTIVE, 73.0), _seen(2, ABSENT, 12.5), _seen(3, AttentionState.CAMERA_OFF, 0.0)]
    figures = class_figures((o.track_id, o.state.value, o.engagement) for o in sample)
    assert class_concentration(sample) == figures.concentration
