"""Attention maths on crafted faces: head pose, eye openness, gaze, eye-closure history and states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.attention import (
    AttentionSettings,
    EyeClosureHistory,
    FaceFeatures,
    TimeWeightedMean,
    attention_state,
    eye_aspect_ratio,
    eye_openness,
    face_features,
    gaze_offset,
    head_pose_deg,
)
from engine.landmarks import LEFT_EYE_EAR, RIGHT_EYE_EAR
from storage.records import AttentionState
from tests.engine.synthetic_face import (
    FRONTAL,
    axis_rotation,
    euler_pose_matrix,
    face_landmarks,
    pose_matrix,
)

SETTINGS = AttentionSettings()


def features(
    yaw: float = 0.0, pitch: float = 0.0, gaze: float = 0.0, closed: bool = False
) -> FaceFeatures:
    return FaceFeatures(
        yaw_deg=yaw, pitch_deg=pitch, roll_deg=0.0, eye_openness=0.1 if closed else 0.3,
        eyes_closed_now=closed, gaze_offset=gaze,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("axis", "angle_deg", "expected"),
    [
        ((0, 1, 0), 0.0, (0.0, 0.0, 0.0)),
        (
            (0, 1, 0),
            40.0,
            (40.0, 0.0, 0.0),
        ),  # nose swings to +x, the image right: the student's left
        ((0, 1, 0), -40.0, (-40.0, 0.0, 0.0)),
        ((1, 0, 0), -15.0, (0.0, 15.0, 0.0)),  # nose swings to +y: looking up
        ((1, 0, 0), 30.0, (0.0, -30.0, 0.0)),
        ((0, 0, 1), -10.0, (0.0, 0.0, 10.0)),  # face's up tilts to +x: clockwise in the image
    ],
)
def test_head_pose_signs_follow_documented_conventions(
    axis: tuple[float, float, float], angle_deg: float, expected: tuple[float, float, float]
) -> None:
    assert head_pose_deg(pose_matrix(axis_rotation(axis, angle_deg))) == pytest.approx(
        expected, abs=1e-9
    )


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"),
    [(30.0, -10.0, 5.0), (-60.0, 25.0, -20.0), (10.0, 45.0, 15.0), (0.0, 0.0, 90.0)],
)
def test_head_pose_recovers_combined_rotation(yaw: float, pitch: float, roll: float) -> None:
    assert head_pose_deg(euler_pose_matrix(yaw, pitch, roll)) == pytest.approx(
        (yaw, pitch, roll), abs=1e-9
    )


def test_head_pose_ignores_scale_in_matrix() -> None:
    scaled = pose_matrix(axis_rotation((0, 1, 0), 40.0), scale=1.7)
    assert head_pose_deg(scaled) == pytest.approx((40.0, 0.0, 0.0), abs=1e-9)


def test_head_pose_rejects_non_4x4_matrix() -> None:
    with pytest.raises(ValueError, match="4x4"):
        head_pose_deg(np.eye(3))


@pytest.mark.parametrize("ear", [0.35, 0.3, 0.2, 0.05, 0.0])
@pytest.mark.parametrize("eye_points", [RIGHT_EYE_EAR, LEFT_EYE_EAR])
def test_eye_aspect_ratio_of_crafted_eye(ear: float, eye_points: tuple[int, ...]) -> None:
    assert eye_aspect_ratio(face_landmarks(ear=ear), eye_points) == pytest.approx(ear, abs=1e-6)


def test_eye_aspect_ratio_rejects_coincident_corners() -> None:
    points = face_landmarks()
    points[133] = points[33]
    with pytest.raises(ValueError, match="degenerate eye"):
        eye_aspect_ratio(points, RIGHT_EYE_EAR)


@pytest.mark.parametrize(
    ("ear", "blendshapes", "expected_openness", "expected_closed"),
    [
        (0.30, {}, 0.30, False),
        (0.10, {}, 0.10, True),
        (0.10, {"eyeBlinkLeft": 0.8, "eyeBlinkRight": 0.9}, 0.10, True),  # both agree: closed
        (
            0.10,
            {"eyeBlinkLeft": 0.2, "eyeBlinkRight": 0.3},
            0.20,
            False,
        ),  # blendshapes veto (looking down)
        (0.30, {"eyeBlinkLeft": 0.9, "eyeBlinkRight": 0.9}, 0.30, False),  # geometry says open
        (0.10, {"eyeBlinkLeft": 0.7}, 0.10, True),  # one score is enough
        (0.10, {"jawOpen": 0.9}, 0.10, True),  # no blink scores: EAR alone
    ],
)
def test_eyes_read_closed_only_when_ear_and_blink_blendshapes_agree(
    ear: float, blendshapes: dict[str, float], expected_openness: float, expected_closed: bool
) -> None:
    got = face_features(face_landmarks(ear=ear), blendshapes, FRONTAL, SETTINGS)
    assert eye_openness(face_landmarks(ear=ear), blendshapes, SETTINGS) == pytest.approx(
        expected_openness, abs=1e-6
    )
    assert got.eye_openness == pytest.approx(expected_openness, abs=1e-6)
    assert got.eyes_closed_now is expected_closed


@pytest.mark.parametrize(
    ("gaze", "left_gaze", "expected"),
    [
        (0.0, None, 0.0),
        (0.5, None, 0.5),
        (-0.5, None, 0.5),
        (1.0, None, 1.0),
        (0.3, -0.3, 0.0),  # convergence on a near point cancels
        (0.6, 0.2, 0.4),
    ],
)
def test_gaze_offset_is_mean_sideways_iris_shift_in_half_eye_widths(
    gaze: float, left_gaze: float | None, expected: float
) -> None:
    assert gaze_offset(face_landmarks(gaze=gaze, left_gaze=left_gaze)) == pytest.approx(
        expected, abs=1e-6
    )


def test_face_features_of_frontal_open_face() -> None:
    got = face_features(
        face_landmarks(), {"eyeBlinkLeft": 0.05, "eyeBlinkRight": 0.05}, FRONTAL, SETTINGS
    )
    assert got == FaceFeatures(
        yaw_deg=pytest.approx(0.0, abs=1e-9), pitch_deg=pytest.approx(0.0, abs=1e-9),
        roll_deg=pytest.approx(0.0, abs=1e-9), eye_openness=pytest.approx(0.3, abs=1e-6),
        eyes_closed_now=False, gaze_offset=pytest.approx(0.0, abs=1e-6),
    )  # fmt: skip


def test_face_features_rejects_too_few_landmarks() -> None:
    with pytest.raises(ValueError, match="landmarks must be"):
        face_features(np.zeros((468, 3), dtype=np.float32), {}, FRONTAL, SETTINGS)


@pytest.mark.parametrize(
    ("matrix", "ear", "gaze", "sustained", "expected"),
    [
        (FRONTAL, 0.3, 0.0, False, AttentionState.ATTENTIVE),
        (euler_pose_matrix(20.0, 0.0, 0.0), 0.3, 0.0, False, AttentionState.ATTENTIVE),
        (euler_pose_matrix(40.0, 0.0, 0.0), 0.3, 0.0, False, AttentionState.LOOKING_AWAY),
        (euler_pose_matrix(-40.0, 0.0, 0.0), 0.3, 0.0, False, AttentionState.LOOKING_AWAY),
        (euler_pose_matrix(0.0, -25.0, 0.0), 0.3, 0.0, False, AttentionState.LOOKING_AWAY),
        (
            euler_pose_matrix(0.0, 15.0, 30.0),
            0.3,
            0.0,
            False,
            AttentionState.ATTENTIVE,
        ),  # roll is no criterion
        (FRONTAL, 0.3, 0.6, False, AttentionState.LOOKING_AWAY),
        (FRONTAL, 0.1, 0.0, True, AttentionState.EYES_CLOSED),
        (
            euler_pose_matrix(0.0, -30.0, 0.0),
            0.1,
            0.0,
            True,
            AttentionState.LOOKING_AWAY,
        ),  # pose wins
    ],
)
def test_attention_state_of_crafted_face(
    matrix: np.ndarray, ear: float, gaze: float, sustained: bool, expected: AttentionState
) -> None:
    got = face_features(face_landmarks(ear=ear, gaze=gaze), {}, matrix, SETTINGS)
    assert attention_state(got, sustained, SETTINGS) is expected


def closure_run(rows: list[tuple[float, bool]]) -> list[bool]:
    history = EyeClosureHistory(SETTINGS)
    return [history.update(t_s, closed) for t_s, closed in rows]


def ten_hz(start_s: float, end_s: float, closed: bool) -> list[tuple[float, bool]]:
    return [(round(start_s + k / 10, 3), closed) for k in range(round((end_s - start_s) * 10))]


def test_single_blink_never_reads_as_eyes_closed() -> None:
    rows = ten_hz(0.0, 2.0, False) + ten_hz(2.0, 2.2, True) + ten_hz(2.2, 5.0, False)
    assert not any(closure_run(rows))


def test_blinks_every_second_never_read_as_eyes_closed() -> None:
    rows = [
        (k / 10, k % 10 in (3, 4)) for k in range(100)
    ]  # a 0.2 s blink each second: PERCLOS 0.2
    assert not any(closure_run(rows))


def test_eyes_closed_after_continuous_closure_of_min_duration() -> None:
    rows = ten_hz(0.0, 2.0, False) + ten_hz(2.0, 3.5, True) + ten_hz(3.5, 6.0, False)
    got = dict(zip([t for t, _ in rows], closure_run(rows), strict=True))
    assert [got[t] for t in (2.0, 2.5, 2.9, 3.0, 3.4, 5.5)] == [
        False,
        False,
        False,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("rows", "expected_last"),
    [
        (
            [(0.0, False), (1.0, True), (2.0, True)],
            True,
        ),  # 1 Hz sampling: two closed samples 1 s apart
        ([(0.0, True)], False),  # first sample closed: no history yet
        ([(0.0, True), (0.5, True), (0.9, True)], False),
    ],
)
def test_continuous_closure_measured_between_sample_times(
    rows: list[tuple[float, bool]], expected_last: bool
) -> None:
    assert closure_run(rows)[-1] is expected_last


def test_dozing_with_brief_openings_reads_as_eyes_closed_by_perclos() -> None:
    rows = ten_hz(0.0, 1.0, False) + [(round(1.0 + k / 10, 3), k % 8 != 7) for k in range(40)]
    got = closure_run(rows)
    assert not got[10]  # closures of 0.7 s never reach eyes_closed_min_s
    assert got[-1]
    assert EyeClosureHistory(SETTINGS).perclos == 0.0


def test_perclos_is_closed_fraction_of_full_window() -> None:
    history = EyeClosureHistory(SETTINGS)
    for t_s, closed in [(0.0, False), (0.5, True), (1.0, True), (1.5, False)]:
        history.update(t_s, closed)
    assert history.perclos == pytest.approx(1.0 / 3.0)


def test_clearing_closure_history_forgets_ongoing_closure() -> None:
    history = EyeClosureHistory(SETTINGS)
    history.update(0.0, True)
    history.clear()
    assert history.update(5.0, True) is False


@pytest.mark.parametrize(
    ("rows", "window_s", "expected"),
    [
        ([(0.0, 80.0)], 10.0, 80.0),
        (
            [(0.0, 100.0), (1.0, 100.0), (4.0, 0.0)],
            10.0,
            25.0,
        ),  # 0 held over 3 of 4 covered seconds
        ([(0.0, 100.0), (0.1, 100.0), (5.0, 100.0), (5.05, 0.0), (10.0, 0.0)], 10.0, 50.0),
        (
            [(0.0, 0.0), (5.0, 0.0), (15.0, 100.0), (20.0, 100.0)],
            10.0,
            100.0,
        ),  # old zeros left the window
        (
            [(0.0, 0.0), (8.0, 100.0), (12.0, 50.0)],
            10.0,
            80.0,
        ),  # (6 * 100 + 4 * 50) / 10: a partial interval
        ([(0.0, 40.0), (0.0, 60.0)], 10.0, 60.0),  # no time passed
    ],
)
def test_time_weighted_mean_over_irregular_samples(
    rows: list[tuple[float, float]], window_s: float, expected: float
) -> None:
    mean = TimeWeightedMean(window_s)
    got = [mean.add(t_s, value) for t_s, value in rows]
    assert got[-1] == pytest.approx(expected)


def test_time_weighted_mean_rejects_time_going_backwards() -> None:
    mean = TimeWeightedMean(10.0)
    mean.add(5.0, 1.0)
    with pytest.raises(ValueError, match="backwards"):
        mean.add(4.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"yaw_limit_deg": 0.0}, "yaw_limit_deg must be > 0"),
        ({"blink_closed": 1.0}, r"blink_closed must be within \(0, 1\)"),
        ({"perclos_fraction": 0.0}, r"perclos_fraction must be within \(0, 1\]"),
        ({"absent_grace_s": -1.0}, "absent_grace_s must be >= 0"),
    ],
)
def test_settings_reject_impossible_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AttentionSettings(**kwargs)


def test_default_settings_document_their_limits() -> None:
    s = AttentionSettings()
    assert (s.yaw_limit_deg, s.pitch_limit_deg, s.ear_closed, s.eyes_closed_min_s) == (
        25.0,
        20.0,
        0.2,
        1.0,
    )
    assert math.isclose(s.blink_closed, 0.5)
