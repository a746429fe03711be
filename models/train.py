"""Train an expression CNN on FER-2013: seeded, augmented, early-stopped, checkpointed with its config."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from models.config import FER2013_LABELS, ModelConfig
from models.data import DatasetError, FaceSet, load_fer2013
from models.preprocess import prepare_crops, to_input_tensor
from models.registry import create_model, save_checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """Everything a training run depends on; stored in the checkpoint so a run can be repeated."""

    arch: str
    data: Path
    out: Path = Path("runs/train")
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    class_weights: bool = False
    patience: int = 5
    device: str = "auto"
    preprocess: tuple[str, ...] = ()
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift_frac: float = 0.1
    progress: bool | None = None  # None: a bar only on a terminal (tqdm's default)


@dataclass(frozen=True)
class TrainResult:
    """Where a run left its files, and its per-epoch history."""

    best_checkpoint: Path
    last_checkpoint: Path
    history_path: Path
    chart_path: Path
    history: list[dict[str, float]]


def resolve_device(device: str) -> torch.device:
    """"auto" is CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def class_weights_for(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights N / (K * n_c); a class absent from training gets 0."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def augment(x: torch.Tensor, generator: torch.Generator, settings: TrainSettings) -> torch.Tensor:
    """Random horizontal flip, small rotation and shift of a (N, 1, H, W) batch, from `generator` only."""
    n = x.shape[0]
    rand = torch.rand(n, 4, generator=generator, device="cpu")
    angle = (rand[:, 0] * 2 - 1) * math.radians(settings.max_rotation_deg)
    shift = (rand[:, 1:3] * 2 - 1) * settings.max_shift_frac * 2  # affine_grid spans [-1, 1]
    flip = torch.where(rand[:, 3] < 0.5, -1.0, 1.0) if settings.flip else torch.ones(n)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _evaluate_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module,
                   batch_size: int) -> tuple[float, float]:
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(y), batch_size):
            logits = model(x[i:i + batch_size])
            total_loss += loss_fn(logits, y[i:i + batch_size]).item() * len(logits)
            correct += int((logits.argmax(1) == y[i:i + batch_size]).sum())
    return total_loss / max(len(y), 1), correct / max(len(y), 1)


def _tensors(faces: FaceSet, cfg: ModelConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = to_input_tensor(prepare_crops(list(faces.images), cfg), cfg).to(device)
    return x, torch.as_tensor(faces.labels, dtype=torch.long, device=device)


def train(settings: TrainSettings) -> TrainResult:
    """Train `settings.arch` on FER-2013 and write best.pt, last.pt, history.json and training.html."""
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    splits = load_fer2013(settings.data)
    if len(splits["train"]) == 0:
        raise DatasetError(f"{settings.data}: the training split is empty")
    model = create_model(settings.arch, **settings.model_kwargs).to(device)
    cfg = model.pretrained_cfg.with_(name=f"{settings.arch}-{Path(settings.data).stem}",
                                     labels=FER2013_LABELS, preprocess=tuple(settings.preprocess),
                                     source={"data": str(settings.data), "seed": str(settings.seed)})
    x_train, y_train = _tensors(splits["train"], cfg, device)
    monitor = "val" if len(splits["val"]) else "train"
    x_val, y_val = _tensors(splits[monitor], cfg, device)
    weights = class_weights_for(splits["train"].labels, len(cfg.labels)) if settings.class_weights else None
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))
    eval_loss_fn = nn.CrossEntropyLoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    generator = torch.Generator().manual_seed(settings.seed)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    best, last = out / "best.pt", out / "last.pt"
    history: list[dict[str, float]] = []
    best_loss, stale = math.inf, 0
    run_info = _plain(asdict(settings))
    for epoch in range(1, settings.epochs + 1):
        train_loss, train_acc = _train_epoch(model, x_train, y_train, loss_fn, optimiser, generator, settings, epoch)
        val_loss, val_acc = _evaluate_loss(model, x_val, y_val, eval_loss_fn, settings.batch_size)
        history.append({"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc,
                        f"{monitor}_loss": val_loss, f"{monitor}_accuracy": val_acc})
        log.info("epoch %d: train loss %.4f acc %.3f, %s loss %.4f acc %.3f", epoch, train_loss, train_acc,
                 monitor, val_loss, val_acc)
        extra = {"epoch": epoch, "metrics": history[-1], "train_settings": run_info}
        save_checkpoint(last, model, cfg, extra)
        if val_loss < best_loss:
            best_loss, stale = val_loss, 0
            save_checkpoint(best, model, cfg, extra)
        else:
            stale += 1
            if stale >= settings.patience:
                log.info("early stop after epoch %d: %s loss has not improved for %d epochs", epoch, monitor, stale)
                break
    history_path = out / "history.json"
    history_path.write_text(json.dumps({"monitor": monitor, "epochs": history}, indent=1) + "\n")
    chart_path = write_history_chart(history, out / "training.html", title=f"{cfg.name} training")
    return TrainResult(best, last, history_path, chart_path, history)


def _train_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module,
                 optimiser: torch.optim.Optimizer, generator: torch.Generator, settings: TrainSettings,
                 epoch: int) -> tuple[float, float]:
    model.train()
    order = torch.randperm(len(y), generator=generator).to(y.device)
    total_loss, correct = 0.0, 0
    batches = range(0, len(y), settings.batch_size)
    for i in tqdm(batches, desc=f"epoch {epoch}/{settings.epochs}", unit="batch", leave=False,
                  disable=None if settings.progress is None else not settings.progress):
        idx = order[i:i + settings.batch_size]
        xb = augment(x[idx], generator, settings)
        logits = model(xb)
        loss = loss_fn(logits, y[idx])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total_loss += loss.item() * len(idx)
        correct += int((logits.argmax(1) == y[idx]).sum())
    return total_loss / len(y), correct / len(y)


def _plain(value: Any) -> Any:
    """Settings as str/int/float/bool/list/dict only, so checkpoints load with weights_only=True."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_history_chart(history: list[dict[str, float]], path: Path, title: str) -> Path:
    """A Plotly HTML page with loss and accuracy per epoch for every split in the history."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    epochs = [h["epoch"] for h in history]
    keys = [k for k in (history[0] if history else {}) if k != "epoch"]
    for key in keys:
        split, metric = key.rsplit("_", 1)
        fig.add_scatter(x=epochs, y=[h[key] for h in history], name=f"{split} {metric}", mode="lines+markers",
                        row=1, col=1 if metric == "loss" else 2)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title)
    fig.write_html(path, include_plotlyjs=True)
    return path
