"""Landmark groups: well-formed, and the same edges as MediaPipe's own FaceLandmarksConnections."""

from __future__ import annotations

import pytest

from engine import landmarks as lm


def edges(pairs) -> set[frozenset[int]]:
    return {frozenset(p) for p in pairs}


@pytest.mark.parametrize(
    ("polyline", "closed", "expected"),
    [
        ((1, 2, 3), False, ((1, 2), (2, 3))),
        ((1, 2, 3), True, ((1, 2), (2, 3), (3, 1))),
        ((7, 8), False, ((7, 8),)),
    ],
)
def test_connections_join_consecutive_points(
    polyline: tuple[int, ...], closed: bool, expected: tuple[tuple[int, int], ...]
) -> None:
    assert lm.connections(polyline, closed) == expected


@pytest.mark.parametrize(
    "group",
    [lm.RIGHT_EYE, lm.LEFT_EYE, lm.MOUTH, lm.MOUTH_INNER, lm.FACE_OVAL, lm.RIGHT_IRIS, lm.LEFT_IRIS,
     lm.RIGHT_EYEBROW, lm.LEFT_EYEBROW, lm.NOSE],
)  # fmt: skip
def test_groups_hold_distinct_valid_indices(group: tuple[int, ...]) -> None:
    assert len(set(group)) == len(group)
    assert all(0 <= i < lm.NUM_LANDMARKS for i in group)


@pytest.mark.parametrize(
    ("ear_points", "contour", "corners"),
    [
        (lm.RIGHT_EYE_EAR, lm.RIGHT_EYE, lm.RIGHT_EYE_CORNERS),
        (lm.LEFT_EYE_EAR, lm.LEFT_EYE, lm.LEFT_EYE_CORNERS),
    ],
)
def test_ear_points_lie_on_their_eye_with_corners_first_and_fourth(
    ear_points: tuple[int, ...], contour: tuple[int, ...], corners: tuple[int, int]
) -> None:
    assert set(ear_points) <= set(contour)
    assert {ear_points[0], ear_points[3]} == set(corners)


def test_iris_centres_are_the_first_of_each_five() -> None:
    assert (lm.RIGHT_IRIS_CENTER, *lm.RIGHT_IRIS) == (468, 469, 470, 471, 472)
    assert (lm.LEFT_IRIS_CENTER, *lm.LEFT_IRIS) == (473, 474, 475, 476, 477)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("right_eye", "FACE_LANDMARKS_RIGHT_EYE"),
        ("left_eye", "FACE_LANDMARKS_LEFT_EYE"),
        ("right_eyebrow", "FACE_LANDMARKS_RIGHT_EYEBROW"),
        ("left_eyebrow", "FACE_LANDMARKS_LEFT_EYEBROW"),
        ("right_iris", "FACE_LANDMARKS_RIGHT_IRIS"),
        ("left_iris", "FACE_LANDMARKS_LEFT_IRIS"),
        ("face_oval", "FACE_LANDMARKS_FACE_OVAL"),
        ("nose", "FACE_LANDMARKS_NOSE"),
    ],
)
def test_groups_match_mediapipe_connections(ours: str, theirs: str) -> None:
    face_landmarker = pytest.importorskip("mediapipe.tasks.python.vision.face_landmarker")
    reference = getattr(face_landmarker.FaceLandmarksConnections, theirs)
    assert edges(lm.CONNECTIONS[ours]) == edges((c.start, c.end) for c in reference)


def test_both_lip_contours_match_mediapipe_lips() -> None:
    face_landmarker = pytest.importorskip("mediapipe.tasks.python.vision.face_landmarker")
    reference = face_landmarker.FaceLandmarksConnections.FACE_LANDMARKS_LIPS
    ours = edges(lm.CONNECTIONS["mouth"]) | edges(lm.CONNECTIONS["mouth_inner"])
    assert ours == edges((c.start, c.end) for c in reference)
