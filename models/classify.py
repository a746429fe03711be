"""The expression classifier the engine calls: face crops in, per-class probabilities out."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from models.config import ModelConfig
from models.preprocess import prepare_crops, to_input_tensor
from models.registry import CheckpointError, create_model

log = logging.getLogger(__name__)

# Beyond a few threads a 64×64 CNN gets no faster and starves the rest of the pipeline.
DEFAULT_MAX_THREADS = 4


class ExpressionModel(Protocol):
    """What the engine needs from an expression classifier (real or fake)."""

    name: str
    labels: tuple[str, ...]
    input_size: tuple[int, int, int]

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


def label_order(model_labels: Sequence[str], vocabulary: Sequence[str]) -> list[int]:
    """Index of each `vocabulary` label among the model's outputs, matched by name.

    A model whose labels are not exactly the vocabulary (another set, a misspelling, a duplicate) is
    refused rather than stored under the wrong names.
    """
    if len(set(model_labels)) != len(model_labels) or set(model_labels) != set(vocabulary):
        raise CheckpointError(
            f"the model's labels {tuple(model_labels)} are not the stored expressions "
            f"{tuple(vocabulary)}; use a checkpoint trained on these seven classes")
    return [list(model_labels).index(label) for label in vocabulary]


class ExpressionClassifier:
    """A loaded model and its checkpoint config; `predict` batches crops through one forward pass.

    With a `vocabulary`, output columns follow it (matched by label name, checked here once);
    without one they follow the checkpoint's own label order.
    """

    def __init__(self, model: nn.Module, cfg: ModelConfig, *, frozen: bool = False,
                 vocabulary: Sequence[str] | None = None) -> None:
        self.model = model.eval()
        self.cfg = cfg
        self.name = cfg.name
        self.input_size = cfg.input_size
        self._columns: list[int] | None = None
        self.labels = cfg.labels
        if vocabulary is not None:
            order = label_order(cfg.labels, vocabulary)
            self.labels = tuple(vocabulary)
            self._columns = None if order == list(range(len(order))) else order
        self._forward: Callable[[torch.Tensor], torch.Tensor] = self.model
        if frozen:
            self._forward = freeze_for_inference(self.model, cfg.input_size)

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities (N, len(labels)) float32 for uint8 grey or BGR face crops of any size."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        x = to_input_tensor(prepare_crops(crops, self.cfg), self.cfg)
        with torch.inference_mode():
            probabilities = self._forward(x).softmax(dim=1).numpy().astype(np.float32, copy=False)
        return probabilities if self._columns is None else probabilities[:, self._columns]


def freeze_for_inference(model: nn.Module, input_size: tuple[int, int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model traced and frozen by TorchScript (batch-norm folded): about 2x faster per small batch.

    The input size is fixed by the checkpoint's config, so tracing at that size is exact; the batch
    dimension stays free.
    """
    example = torch.zeros((1, *input_size))
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # padding sizes become constants
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 flags jit; compile needs a C++ toolchain
        return torch.jit.freeze(torch.jit.trace(model.eval(), example))


def load_classifier(name: str = "minixception", weights: Path | None = None,
                    num_threads: int | None = None,
                    vocabulary: Sequence[str] | None = None) -> ExpressionClassifier:
    """Load a classifier once; without `weights`, the converted FER-2013 mini-Xception from the asset cache.

    `num_threads` sets torch's intra-op threads (process-wide); by default they are capped at 4.
    `vocabulary` orders the outputs by label name (see `ExpressionClassifier`).
    """
    if weights is None:
        if name != "minixception":
            raise CheckpointError(f"no pretrained weights ship for {name!r}; train one with "
                                  "`python -m models train` and pass --weights")
        from models.convert import ensure_converted

        weights = ensure_converted()
    torch.set_num_threads(num_threads or min(DEFAULT_MAX_THREADS, torch.get_num_threads()))
    model = create_model(name, weights=weights)
    log.info("expression classifier %s from %s (%d threads)", model.pretrained_cfg.name, weights,
             torch.get_num_threads())
    return ExpressionClassifier(model, model.pretrained_cfg, frozen=True, vocabulary=vocabulary)
