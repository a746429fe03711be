"""The converted Keras mini-Xception against outputs of the original Keras model (TensorFlow 2.21)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.config import FER2013_LABELS
from models.convert import converted_checkpoint_path, ensure_converted
from models.minixception import SamePadMaxPool2d
from models.registry import create_model, load_checkpoint
from models.tools.sample_faces import SAMPLE_FACES, SampleFace, grey_crop

REFERENCE = json.loads((Path(__file__).parent / "data" / "keras_reference.json").read_text())


@pytest.fixture(scope="module")
def keras_and_torch(converted_weights: Path) -> tuple[np.ndarray, np.ndarray]:
    """(Keras probabilities from the reference file, PyTorch probabilities on the regenerated crops)."""
    faces = [SampleFace(f["image"], tuple(f["box"])) for f in REFERENCE["faces"]]
    model = create_model("minixception", weights=converted_weights).eval()
    crops = np.stack([grey_crop(f) for f in faces]).astype(np.float32)
    x = torch.from_numpy((crops / 255.0 - 0.5) * 2.0)[:, None]
    with torch.no_grad():
        ours = model(x).softmax(1).double().numpy()
    return np.array([f["probabilities"] for f in REFERENCE["faces"]]), ours


def test_reference_covers_ten_real_faces_with_the_tests_boxes() -> None:
    assert [(f["image"], tuple(f["box"])) for f in REFERENCE["faces"]] == [(f.image, f.box) for f in SAMPLE_FACES]
    assert REFERENCE["labels"] == list(FER2013_LABELS)


def test_converted_model_matches_keras_to_1e4(keras_and_torch: tuple[np.ndarray, np.ndarray]) -> None:
    keras, ours = keras_and_torch
    assert np.abs(keras - ours).max() < 1e-4


def test_converted_model_has_the_same_top_class_as_keras(keras_and_torch: tuple[np.ndarray, np.ndarray]) -> None:
    keras, ours = keras_and_torch
    np.testing.assert_array_equal(ours.argmax(1), keras.argmax(1))


def test_checkpoint_carries_arch_input_size_scaling_labels_and_source_hash(converted_weights: Path) -> None:
    cfg = load_checkpoint(converted_weights)[0]
    assert (cfg.arch, cfg.name, cfg.input_size) == ("minixception", "minixception-fer2013", (1, 64, 64))
    assert (cfg.mean, cfg.std) == (0.5, 0.5)  # (x/255 - 0.5) / 0.5 == (x/255 - 0.5) * 2, as in fer
    assert cfg.labels == FER2013_LABELS
    assert (cfg.crop_margin, cfg.align_eyes) == (1.0, True)  # the crop measured best (docs/models.md)
    assert cfg.source["sha256"] == REFERENCE["model"]["sha256"]


def test_conversion_is_a_no_op_when_the_checkpoint_is_current(converted_weights: Path) -> None:
    before = converted_weights.stat().st_mtime_ns
    assert ensure_converted() == converted_weights == converted_checkpoint_path()
    assert converted_weights.stat().st_mtime_ns == before


@pytest.mark.parametrize(("size", "expected"), [
    (4, [[10, 11], [14, 15]]),                         # even: TF pads 0 before, 1 after
    (5, [[6, 8, 9], [16, 18, 19], [21, 23, 24]]),      # odd: TF pads 1 before, 1 after
])
def test_same_pad_max_pool_follows_tensorflow_padding(size: int, expected: list[list[int]]) -> None:
    x = torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size)
    assert SamePadMaxPool2d(3, 2)(x)[0, 0].tolist() == expected


def test_symmetric_padding_would_differ_from_tensorflow_on_even_sizes() -> None:
    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    assert torch.nn.MaxPool2d(3, 2, padding=1)(x)[0, 0].tolist() == [[5, 7], [13, 15]]


def test_same_pad_max_pool_never_picks_padding_on_negative_inputs() -> None:
    x = -torch.ones(1, 1, 4, 4)
    assert SamePadMaxPool2d(3, 2)(x).eq(-1).all()


def test_a_damaged_cached_checkpoint_is_converted_again(tmp_path: Path) -> None:
    import shutil

    from models.assets import asset_path

    shutil.copy(asset_path("emotion_model.hdf5"), tmp_path / "emotion_model.hdf5")
    dest = ensure_converted(tmp_path)
    assert dest == tmp_path / "minixception_fer2013.pt"
    dest.write_bytes(b"not a checkpoint")
    assert ensure_converted(tmp_path) == dest
    assert load_checkpoint(dest)[0].name == "minixception-fer2013"
