"""The classifier the engine calls, with the real converted weights on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.classify import (
    ExpressionClassifier,
    label_order,
    load_classifier,
)
from models.config import FER2013_LABELS
from models.registry import CheckpointError
from models.tools.sample_faces import SAMPLE_FACES, face_crop, grey_crop

REFERENCE = json.loads((Path(__file__).parent / "data" / "keras_reference.json").read_text())


def test_classifier_is_stamped_with_the_model_name_labels_and_input_size(classifier: ExpressionClassifier) -> None:
    assert classifier.name == "minixception-fer2013"
    assert classifier.labels == FER2013_LABELS
    assert classifier.input_size == (1, 64, 64)


def test_predict_returns_float32_probabilities_per_crop(classifier: ExpressionClassifier) -> None:
    crops = [face_crop(f) for f in SAMPLE_FACES[:3]]
    probs = classifier.predict(crops)
    assert probs.shape == (3, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_predict_on_no_crops_returns_an_empty_batch(classifier: ExpressionClassifier) -> None:
    out = classifier.predict([])
    assert out.shape == (0, 7) and out.dtype == np.float32


def test_happy_faces_are_classified_happy(classifier: ExpressionClassifier) -> None:
    happy = [f for f in SAMPLE_FACES if f.label == "happy"]
    probs = classifier.predict([face_crop(f) for f in happy])
    assert [classifier.labels[i] for i in probs.argmax(1)] == ["happy", "happy"]
    assert probs[:, FER2013_LABELS.index("happy")].min() > 0.9


def test_batched_prediction_equals_one_crop_at_a_time(classifier: ExpressionClassifier) -> None:
    crops = [face_crop(f) for f in SAMPLE_FACES]
    batched = classifier.predict(crops)
    single = np.concatenate([classifier.predict([c]) for c in crops])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_grey_and_bgr_crops_of_the_same_face_agree(classifier: ExpressionClassifier) -> None:
    face = SAMPLE_FACES[1]
    bgr = face_crop(face)
    grey = bgr.mean(axis=2).astype(np.uint8)  # any grey version of the face; light step runs on it too
    assert classifier.predict([bgr]).argmax() == classifier.predict([grey]).argmax()


def test_without_preprocessing_steps_the_classifier_reproduces_keras(classifier: ExpressionClassifier) -> None:
    raw = ExpressionClassifier(classifier.model, classifier.cfg.with_(preprocess=()))
    ours = raw.predict([grey_crop(f) for f in SAMPLE_FACES])
    keras = np.array([f["probabilities"] for f in REFERENCE["faces"]])
    assert np.abs(ours - keras).max() < 1e-4


def test_untrained_architectures_need_explicit_weights() -> None:
    with pytest.raises(CheckpointError, match="python -m models train"):
        load_classifier("papercnn")


def test_default_preprocessing_is_what_the_measurement_favours(classifier: ExpressionClassifier) -> None:
    from models.tools.measure_preprocessing import measure

    scores = {s.steps: s for s in measure(classifier)}
    baseline, chosen = scores[()], scores[classifier.cfg.preprocess]
    assert chosen.correct >= baseline.correct
    assert chosen.mean_true_probability >= baseline.mean_true_probability
    assert scores[("equalise",)].mean_true_probability < baseline.mean_true_probability


def test_frozen_classifier_gives_the_eager_models_probabilities(classifier: ExpressionClassifier) -> None:
    rng = np.random.default_rng(7)
    crops = [rng.integers(0, 256, (90, 80), dtype=np.uint8) for _ in range(5)]
    eager = ExpressionClassifier(classifier.model, classifier.cfg, frozen=False).predict(crops)
    frozen = ExpressionClassifier(classifier.model, classifier.cfg, frozen=True).predict(crops)
    assert np.allclose(eager, frozen, atol=1e-5)
    assert (eager.argmax(axis=1) == frozen.argmax(axis=1)).all()


@pytest.mark.parametrize(
    ("model_labels", "vocabulary", "expected"),
    [
        (("a", "b", "c"), ("a", "b", "c"), [0, 1, 2]),
        (("c", "a", "b"), ("a", "b", "c"), [1, 2, 0]),
    ],
)
def test_label_order_matches_outputs_by_name(model_labels: tuple[str, ...], vocabulary: tuple[str, ...],
                                              expected: list[int]) -> None:
    assert label_order(model_labels, vocabulary) == expected


@pytest.mark.parametrize(
    "model_labels",
    [("a", "b"), ("a", "b", "d"), ("a", "a", "b"), ("a", "b", "c", "d")],
)
def test_label_order_refuses_a_model_with_other_labels(model_labels: tuple[str, ...]) -> None:
    with pytest.raises(CheckpointError, match="are not the stored expressions"):
        label_order(model_labels, ("a", "b", "c"))


def test_classifier_reorders_real_outputs_to_the_vocabulary(classifier: ExpressionClassifier) -> None:
    face_crops = [face_crop(f) for f in SAMPLE_FACES[:3]]
    own = classifier.predict(face_crops)
    vocabulary = tuple(reversed(classifier.labels))
    reordered = ExpressionClassifier(classifier.model, classifier.cfg, vocabulary=vocabulary)
    assert reordered.labels == vocabulary
    np.testing.assert_allclose(reordered.predict(face_crops), own[:, ::-1], atol=1e-5)


def _random_crops(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [rng.integers(0, 256, (90, 80), dtype=np.uint8) for _ in range(n)]


def test_the_frozen_trace_is_kept_and_the_next_load_uses_it(converted_weights: Path, tmp_path: Path) -> None:
    from models.classify import frozen_cache_path

    first = load_classifier(weights=converted_weights, frozen_cache=tmp_path)
    kept = frozen_cache_path(converted_weights, tmp_path)
    assert first.frozen and kept.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]  # no partial file left behind
    written = kept.stat().st_mtime_ns
    again = load_classifier(weights=converted_weights, frozen_cache=tmp_path)
    assert again.frozen and kept.stat().st_mtime_ns == written  # loaded, not frozen again
    eager = ExpressionClassifier(again.model, again.cfg).predict(_random_crops(5))
    np.testing.assert_allclose(again.predict(_random_crops(5)), eager, atol=1e-5)


def test_a_missing_trace_is_built_in_the_background_while_the_eager_model_answers(
        converted_weights: Path, tmp_path: Path) -> None:
    import threading

    from models.classify import frozen_cache_path

    classifier = load_classifier(weights=converted_weights, frozen_cache=tmp_path, freeze_in_background=True)
    eager = classifier.predict(_random_crops(3))  # answers at once, frozen or not yet
    for thread in threading.enumerate():
        if thread.name == "classpulse-freeze":
            thread.join(timeout=120)
    assert classifier.frozen and frozen_cache_path(converted_weights, tmp_path).is_file()
    np.testing.assert_allclose(classifier.predict(_random_crops(3)), eager, atol=1e-5)


def test_an_unreadable_trace_is_rebuilt(converted_weights: Path, tmp_path: Path) -> None:
    from models.classify import frozen_cache_path

    broken = frozen_cache_path(converted_weights, tmp_path)
    broken.write_bytes(b"not a TorchScript archive")
    classifier = load_classifier(weights=converted_weights, frozen_cache=tmp_path)
    assert classifier.frozen and broken.read_bytes() != b"not a TorchScript archive"
    written = broken.stat().st_mtime_ns
    assert load_classifier(weights=converted_weights, frozen_cache=tmp_path).frozen
    assert broken.stat().st_mtime_ns == written  # the rewritten trace loads


def test_a_trace_is_named_by_the_checkpoint_and_the_torch_version(converted_weights: Path, tmp_path: Path) -> None:
    from models.assets import sha256_of
    from models.classify import frozen_cache_path

    changed = tmp_path / converted_weights.name
    changed.write_bytes(converted_weights.read_bytes() + b"\0")
    path = frozen_cache_path(converted_weights, tmp_path)
    assert path.name == f"{converted_weights.stem}-{sha256_of(converted_weights)[:16]}-torch{torch.__version__}.pt"
    assert frozen_cache_path(changed, tmp_path) != path
