"""The direct read of MediaPipe's C result must give exactly what MediaPipe's public API gives, and where
the C read cannot be used the public one takes its place."""

from __future__ import annotations

import cv2
import mediapipe as mp
import numpy as np
import pytest
from mediapipe.tasks.python import BaseOptions, vision

from engine.mediapipe_raw import LandmarkReader, RawFace, detect_first_face, private_api_problem
from tests.conftest import video_frame


def _landmarker(asset, mode: vision.RunningMode) -> vision.FaceLandmarker:
    return vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(asset("face_landmarker.task"))),
        running_mode=mode, num_faces=1,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True,
    ))


@pytest.fixture(scope="module")
def image_landmarker(asset):
    task = _landmarker(asset, vision.RunningMode.IMAGE)
    yield task
    task.close()


def _image(bgr: np.ndarray) -> mp.Image:
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))


def _assert_same(raw, public) -> None:
    expected = np.array([(p.x, p.y, p.z) for p in public.face_landmarks[0]], dtype=np.float32)
    assert raw.landmarks.shape == (478, 3)
    np.testing.assert_array_equal(raw.landmarks, expected)
    assert raw.blendshapes == {c.category_name: pytest.approx(c.score) for c in public.face_blendshapes[0]}
    np.testing.assert_allclose(raw.matrix, public.facial_transformation_matrixes[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("photo", ["astronaut", "single_face.jpg", "0-f1-su-ph.jpg"])
def test_image_mode_matches_the_public_api(image_landmarker, asset, astronaut_bgr, photo):
    bgr = astronaut_bgr if photo == "astronaut" else cv2.imread(str(asset(photo)))
    image = _image(bgr)
    raw = detect_first_face(image_landmarker, image)
    assert raw is not None
    _assert_same(raw, image_landmarker.detect(image))


def test_video_mode_matches_the_public_api(asset):
    # Two landmarkers fed the same frames with the same timestamps keep the same tracking state.
    frames = [video_frame(asset("WolfgangLanger_Pexels.mp4"), i) for i in (0, 12, 24)]
    raw_task = _landmarker(asset, vision.RunningMode.VIDEO)
    public_task = _landmarker(asset, vision.RunningMode.VIDEO)
    try:
        for i, frame in enumerate(frames):
            image = _image(frame)
            raw = detect_first_face(raw_task, image, timestamp_ms=500 * i)
            assert raw is not None
            _assert_same(raw, public_task.detect_for_video(image, 500 * i))
    finally:
        raw_task.close()
        public_task.close()


def test_no_face_is_none(image_landmarker, asset):
    frame = video_frame(asset("no_face.mp4"), 30)
    assert image_landmarker.detect(_image(frame)).face_landmarks == []
    assert detect_first_face(image_landmarker, _image(frame)) is None


class PublicOnly:
    """A real landmarker seen through its public API only, as a MediaPipe without the private names."""

    def __init__(self, task: vision.FaceLandmarker) -> None:
        self.detect = task.detect
        self.detect_for_video = task.detect_for_video


def _assert_same_face(a: RawFace, b: RawFace) -> None:
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert a.blendshapes == pytest.approx(b.blendshapes)
    np.testing.assert_allclose(a.matrix, b.matrix, rtol=0, atol=1e-6)


def test_the_pinned_mediapipe_passes_the_start_up_check(image_landmarker):
    assert private_api_problem(image_landmarker) is None
    assert LandmarkReader(image_landmarker).uses_private_api


def test_a_landmarker_without_the_private_names_is_read_publicly(image_landmarker, caplog):
    public_only = PublicOnly(image_landmarker)
    assert "not found" in private_api_problem(public_only)
    with caplog.at_level("WARNING", logger="engine.mediapipe_raw"):
        reader = LandmarkReader(public_only)
    assert not reader.uses_private_api
    assert "public API" in caplog.text


@pytest.mark.parametrize("photo", ["astronaut", "single_face.jpg", "0-f1-su-ph.jpg"])
def test_the_public_read_gives_what_the_c_read_gives(image_landmarker, asset, astronaut_bgr, photo):
    image = _image(astronaut_bgr if photo == "astronaut" else cv2.imread(str(asset(photo))))
    forced = LandmarkReader(image_landmarker, private_api=False)
    assert not forced.uses_private_api
    for public in (forced.first_face(image_landmarker, image),
                   LandmarkReader(PublicOnly(image_landmarker)).first_face(image_landmarker, image)):
        _assert_same_face(public, detect_first_face(image_landmarker, image))


def test_the_public_read_in_video_mode_gives_what_the_c_read_gives(asset):
    frames = [video_frame(asset("WolfgangLanger_Pexels.mp4"), i) for i in (0, 12, 24)]
    raw_task = _landmarker(asset, vision.RunningMode.VIDEO)
    public_task = _landmarker(asset, vision.RunningMode.VIDEO)
    reader = LandmarkReader(public_task, private_api=False)
    try:
        for i, frame in enumerate(frames):
            image = _image(frame)
            _assert_same_face(reader.first_face(public_task, image, 500 * i),
                              detect_first_face(raw_task, image, timestamp_ms=500 * i))
    finally:
        raw_task.close()
        public_task.close()


def test_no_face_is_none_either_way(image_landmarker, asset):
    image = _image(video_frame(asset("no_face.mp4"), 30))
    assert LandmarkReader(image_landmarker, private_api=False).first_face(image_landmarker, image) is None
