"""The browser's expression model: the real checkpoint exported to ONNX, run by onnxruntime, held to PyTorch."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from models import web_model
from models.assets import sha256_of
from models.registry import create_model, load_checkpoint
from models.web_model import (
    INPUT_NAME,
    OUTPUT_NAME,
    TOLERANCE,
    WebModelError,
    check_photos,
    ensure_web_model,
    max_difference,
    onnx_probabilities,
    read_web_model_config,
    web_model_paths,
)


@pytest.fixture(scope="module")
def exported(converted_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh export of the converted mini-Xception into a temporary cache (the sample photos from
    the user's cache)."""
    root = tmp_path_factory.mktemp("cache")
    return ensure_web_model(converted_weights, check_photos(), root).parent.parent


def _engine_crops(asset) -> list[np.ndarray]:
    """Grey face crops of the sample photos and a video frame, cut as the engine cuts them."""
    from engine.analysis import read_image
    from engine.crops import aligned_face_crop
    from engine.faces import FaceFinder
    from models.convert import ensure_converted

    cfg = load_checkpoint(ensure_converted())[0]
    crops = []
    with FaceFinder(asset("face_landmarker.task")) as finder:
        for name in ("multi_face.jpg", "single_face.jpg", "0-f1-su-ph.jpg", "45-m7-di-ph.jpg"):
            rgb = cv2.cvtColor(read_image(asset(name)), cv2.COLOR_BGR2RGB)
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            crops += [aligned_face_crop(grey, face, cfg) for face in finder.find(rgb)]
    return crops


def test_the_json_carries_the_checkpoints_preprocessing_config(exported, converted_weights) -> None:
    meta = read_web_model_config(exported)
    cfg = load_checkpoint(converted_weights)[0]
    assert meta["config"] == cfg.to_dict()
    assert {k: meta["config"][k] for k in ("input_size", "mean", "std", "crop_margin", "align_eyes")} == {
        "input_size": [1, 64, 64], "mean": 0.5, "std": 0.5, "crop_margin": 1.0, "align_eyes": True}
    assert meta["config"]["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert (meta["input"], meta["output"]) == (INPUT_NAME, OUTPUT_NAME)
    assert meta["check"]["max_difference"] <= TOLERANCE


def test_the_onnx_graph_has_one_input_with_a_free_batch(exported) -> None:
    graph = onnx.load(str(web_model_paths(exported)[0])).graph
    assert [i.name for i in graph.input] == [INPUT_NAME] and [o.name for o in graph.output] == [OUTPUT_NAME]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 64, 64]


def test_onnxruntime_matches_pytorch_on_face_crops_cut_by_the_engine(exported, converted_weights, asset) -> None:
    from engine.expressions import load_expression_model

    crops = _engine_crops(asset)
    assert len(crops) >= 8
    model = create_model("minixception", weights=converted_weights)
    cfg = model.pretrained_cfg
    assert max_difference(web_model_paths(exported)[0], model, cfg, crops, random_inputs=0) <= TOLERANCE
    # and the engine's own classifier (frozen TorchScript trace) gives the same numbers
    from models.preprocess import prepare_crops, to_input_tensor

    x = to_input_tensor(prepare_crops(crops, cfg), cfg).numpy()
    onnx_p = onnx_probabilities(web_model_paths(exported)[0], x)
    engine_p = load_expression_model().predict(crops)
    assert np.abs(onnx_p - engine_p).max() <= TOLERANCE
    assert (onnx_p.argmax(axis=1) == engine_p.argmax(axis=1)).all()


def test_a_model_with_other_weights_is_told_apart(exported, converted_weights) -> None:
    other = create_model("minixception", weights=converted_weights)
    with torch.no_grad():
        other.head.bias += 1.0 - 2.0 * torch.arange(7.0) / 6
    assert max_difference(web_model_paths(exported)[0], other, other.pretrained_cfg, check_photos()) > 0.05


def test_a_second_ensure_is_a_no_op(exported, converted_weights) -> None:
    onnx_path, json_path = web_model_paths(exported)
    stamps = (onnx_path.stat().st_mtime_ns, json_path.stat().st_mtime_ns)
    assert ensure_web_model(converted_weights, check_photos(), exported) == onnx_path
    assert (onnx_path.stat().st_mtime_ns, json_path.stat().st_mtime_ns) == stamps


def test_a_damaged_export_is_made_again(exported, converted_weights, tmp_path) -> None:
    root = tmp_path / "cache"
    shutil.copytree(exported / "web", root / "web")
    onnx_path, _ = web_model_paths(root)
    onnx_path.write_bytes(onnx_path.read_bytes()[:-100])
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(str(onnx_path))
    ensure_web_model(converted_weights, check_photos(), root)
    onnx.checker.check_model(str(onnx_path))
    assert read_web_model_config(root)["onnx_sha256"] == sha256_of(onnx_path)


def test_an_export_beyond_the_tolerance_is_refused_and_not_kept(converted_weights, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(web_model, "TOLERANCE", 0.0)  # float32 in another operator order is never exact
    with pytest.raises(WebModelError, match=r"differs from PyTorch by .* \(tolerance 0\); it was not kept"):
        ensure_web_model(converted_weights, check_photos(), tmp_path)
    assert not list((tmp_path / "web").iterdir())


def test_a_missing_export_says_to_run_make_assets(tmp_path) -> None:
    with pytest.raises(WebModelError, match="missing or unreadable .*`make assets`"):
        read_web_model_config(tmp_path)
