"""Model registry and checkpoints: `create_model(name, weights=...)` is the one way to build a model."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.config import ModelConfig
from models.minixception import MiniXception
from models.papercnn import PaperCNN

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "classpulse-expression-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not match the requested model."""


_REGISTRY: dict[str, tuple[Callable[..., nn.Module], ModelConfig]] = {}


def register_model(name: str, constructor: Callable[..., nn.Module], default_cfg: ModelConfig) -> None:
    """Make `constructor` available to `create_model(name)` with its default preprocessing config."""
    _REGISTRY[name] = (constructor, default_cfg)


def list_models() -> list[str]:
    """Names of the registered architectures."""
    return sorted(_REGISTRY)


def default_config(name: str) -> ModelConfig:
    """The preprocessing config a fresh `name` model trains and predicts with."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _REGISTRY[name][1]


register_model("minixception", MiniXception,
               ModelConfig(arch="minixception", name="minixception", input_size=(1, 64, 64), mean=0.5, std=0.5))
register_model("papercnn", PaperCNN,
               ModelConfig(arch="papercnn", name="papercnn", input_size=(1, 48, 48), mean=0.0, std=1.0))


def save_checkpoint(path: Path, model: nn.Module, cfg: ModelConfig, extra: dict[str, Any] | None = None) -> Path:
    """Write weights with their config (and plain-typed extras such as metrics) as one torch file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **(extra or {})}
    tmp = path.with_suffix(path.suffix + ".part")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: Path) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint safely (weights_only) into its config, state_dict and remaining entries."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises several unrelated types for a bad file
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a ClassPulse expression checkpoint ({CHECKPOINT_FORMAT})")
    cfg = ModelConfig.from_dict(payload["config"])
    extra = {k: v for k, v in payload.items() if k not in ("format", "config", "state_dict")}
    return cfg, payload["state_dict"], extra


def create_model(name: str, weights: Path | str | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model; with `weights`, load that checkpoint (its config wins over kwargs)."""
    constructor, cfg = _REGISTRY.get(name, (None, None))
    if constructor is None or cfg is None:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    state_dict = None
    if weights is not None:
        cfg, state_dict, _ = load_checkpoint(Path(weights))
        if cfg.arch != name:
            raise CheckpointError(f"{weights} holds a {cfg.arch!r} model, not {name!r}")
        kwargs = {**kwargs, **cfg.model_kwargs}
    elif kwargs:
        cfg = cfg.with_(model_kwargs={**cfg.model_kwargs, **kwargs})
    if "input_size" in inspect.signature(constructor).parameters:
        kwargs = {**kwargs, "input_size": cfg.input_size[1]}
    model = constructor(num_classes=len(cfg.labels), in_chans=cfg.input_size[0], **kwargs)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
        log.info("loaded %s weights from %s", cfg.name, weights)
    model.pretrained_cfg = cfg
    return model
