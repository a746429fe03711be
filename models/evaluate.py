"""Evaluate a checkpoint on a FER-2013 split: accuracy, per-class precision/recall/F1, confusion matrix."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.classify import load_classifier
from models.config import FER2013_LABELS
from models.data import DatasetError, load_fer2013
from models.registry import load_checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one split; `confusion[i, j]` counts true class i predicted as j."""

    model: str
    split: str
    labels: tuple[str, ...]
    accuracy: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    confusion: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: overall accuracy, a per-class table and the confusion matrix."""
        return {
            "model": self.model, "split": self.split, "accuracy": self.accuracy, "labels": list(self.labels),
            "per_class": {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                          for label, p, r, f, s in zip(self.labels, self.precision, self.recall, self.f1,
                                                       self.support, strict=True)},
            "confusion_matrix": self.confusion.tolist(),
        }


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts; rows are true classes, columns predictions."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def scores_from_confusion(matrix: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, then per-class precision, recall, F1 (0 where undefined) and support."""
    tp = np.diag(matrix).astype(np.float64)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    accuracy = float(tp.sum() / matrix.sum()) if matrix.sum() else 0.0
    return accuracy, precision, recall, f1, support


def evaluate(weights: Path, data: Path, split: str = "test", batch_size: int = 256) -> Evaluation:
    """Run the checkpoint's classifier (its own preprocessing) over one split of FER-2013."""
    cfg = load_checkpoint(weights)[0]
    faces = load_fer2013(data)[split]
    if len(faces) == 0:
        raise DatasetError(f"{data}: the {split} split is empty")
    classifier = load_classifier(cfg.arch, weights=weights)
    preds = np.concatenate([classifier.predict(list(faces.images[i:i + batch_size])).argmax(axis=1)
                            for i in range(0, len(faces), batch_size)])
    # Dataset indices are FER-2013 order; map them to the checkpoint's label order by name.
    truth = np.array([classifier.labels.index(FER2013_LABELS[i]) for i in faces.labels])
    matrix = confusion_matrix(truth, preds, len(classifier.labels))
    accuracy, precision, recall, f1, support = scores_from_confusion(matrix)
    return Evaluation(classifier.name, split, classifier.labels, accuracy, precision, recall, f1, support, matrix)


def write_report(evaluation: Evaluation, out: Path) -> tuple[Path, Path]:
    """metrics.json and evaluation.html (confusion heatmap and per-class scores) in `out`."""
    from plotly.subplots import make_subplots

    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "metrics.json"
    json_path.write_text(json.dumps(evaluation.to_dict(), indent=1) + "\n")
    labels = list(evaluation.labels)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("confusion matrix (rows: true)", "per-class scores"))
    fig.add_heatmap(z=evaluation.confusion, x=labels, y=labels, colorscale="Blues", texttemplate="%{z}",
                    showscale=False, row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    for name, values in (("precision", evaluation.precision), ("recall", evaluation.recall), ("F1", evaluation.f1)):
        fig.add_bar(x=labels, y=values, name=name, row=1, col=2)
    fig.update_layout(title=f"{evaluation.model} on {evaluation.split}: accuracy {evaluation.accuracy:.3f}")
    html_path = out / "evaluation.html"
    fig.write_html(html_path, include_plotlyjs=True)
    return json_path, html_path


def format_table(evaluation: Evaluation) -> str:
    """A plain-text report for the terminal."""
    lines = [f"{evaluation.model} on {evaluation.split}: accuracy {evaluation.accuracy:.4f}",
             f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for label, p, r, f, s in zip(evaluation.labels, evaluation.precision, evaluation.recall, evaluation.f1,
                                 evaluation.support, strict=True):
        lines.append(f"{label:<10}{p:>10.3f}{r:>10.3f}{f:>10.3f}{s:>10d}")
    return "\n".join(lines)
