"""The expression classifier the engine calls: face crops in, per-class probabilities out."""

from __future__ import annotations

import copy
import logging
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from models.assets import cache_dir, sha256_of
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
        self.frozen = frozen
        if frozen:
            self._forward = freeze_for_inference(self.model, cfg.input_size)

    def use_frozen(self, forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Run the model's frozen trace from now on (a call in flight finishes on the old one)."""
        self._forward, self.frozen = forward, True

    def warm_up(self, passes: int = 2) -> None:
        """Classify a blank crop a few times, so that the first real frame does not pay for TorchScript's
        profiling runs (about half a second on a busy two-core machine)."""
        blank = [np.zeros(self.cfg.input_size[1:], np.uint8)]
        for _ in range(passes):
            self.predict(blank)

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


def frozen_cache_path(weights: Path, folder: Path | None = None) -> Path:
    """Where a checkpoint's frozen trace is kept: named by the checkpoint's SHA-256 and torch's version,
    so a changed checkpoint or another torch never loads a stale trace."""
    folder = folder if folder is not None else cache_dir() / "frozen"
    return folder / f"{Path(weights).stem}-{sha256_of(Path(weights))[:16]}-torch{torch.__version__}.pt"


def _load_frozen(path: Path) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A trace this process family saved earlier, None when absent or unreadable (it is then rebuilt).

    The file is our own output in the user's cache, beside the checkpoint it was traced from.
    """
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # as in freeze_for_inference
            return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, OSError, ValueError) as exc:
        log.warning("ignoring unreadable frozen model %s: %s", path, exc)
        return None


def _freeze_and_cache(classifier: ExpressionClassifier, path: Path) -> None:
    """Trace and freeze a copy of the model, save it for the next start, and switch the classifier to it."""
    model = copy.deepcopy(classifier.model)  # never trace the module another thread is running
    try:
        frozen = freeze_for_inference(model, classifier.cfg.input_size)
    except RuntimeError:  # the eager model keeps answering, only slower
        log.warning("freezing %s failed; it runs eagerly", classifier.name, exc_info=True)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(frozen, str(partial))
        partial.replace(path)  # atomic: two engines starting at once both write whole files
    except OSError as exc:
        log.warning("could not keep the frozen model in %s: %s", path.parent, exc)
    classifier.use_frozen(frozen)


def load_classifier(name: str = "minixception", weights: Path | None = None,
                    num_threads: int | None = None,
                    vocabulary: Sequence[str] | None = None, *, freeze_in_background: bool = False,
                    frozen_cache: Path | None = None) -> ExpressionClassifier:
    """Load a classifier once; without `weights`, the converted FER-2013 mini-Xception from the asset cache.

    `num_threads` sets torch's intra-op threads (process-wide); by default they are capped at 4.
    `vocabulary` orders the outputs by label name (see `ExpressionClassifier`). The model runs as its
    frozen TorchScript trace, kept in `frozen_cache` (default: the asset cache's `frozen/`) after the
    first freeze, which takes seconds; with `freeze_in_background`, a missing trace is built on a
    thread while the eager model already answers (same probabilities), so a start never waits on it.
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
    classifier = ExpressionClassifier(model, model.pretrained_cfg, vocabulary=vocabulary)
    path = frozen_cache_path(Path(weights), frozen_cache)
    frozen = _load_frozen(path)
    if frozen is not None:
        classifier.use_frozen(frozen)
    elif freeze_in_background:
        threading.Thread(target=_freeze_and_cache, args=(classifier, path), name="classpulse-freeze",
                         daemon=True).start()
    else:
        _freeze_and_cache(classifier, path)
    return classifier
