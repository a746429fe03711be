"""The expression model as the engine uses it: outputs in the stored vocabulary's order, checked at load."""

from __future__ import annotations

from pathlib import Path

from models.classify import ExpressionClassifier, load_classifier
from storage.records import EXPRESSIONS


def load_expression_model(name: str = "minixception", weights: Path | None = None,
                          num_threads: int | None = None, *,
                          freeze_in_background: bool = False) -> ExpressionClassifier:
    """Load a classifier whose probability columns follow `storage.records.EXPRESSIONS` by name.

    Raises `models.registry.CheckpointError` (one line) for a checkpoint with other labels.
    `freeze_in_background`: see `models.classify.load_classifier` (the capture engine's fast start).
    """
    return load_classifier(name, weights, num_threads=num_threads, vocabulary=EXPRESSIONS,
                           freeze_in_background=freeze_in_background)
