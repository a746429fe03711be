"""Evaluation metrics from literal predictions, and a report written for a trained checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from models.__main__ import cli
from models.evaluate import confusion_matrix, scores_from_confusion


def test_confusion_matrix_counts_true_rows_against_predicted_columns() -> None:
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_scores_from_confusion_give_accuracy_precision_recall_f1() -> None:
    accuracy, precision, recall, f1, support = scores_from_confusion(np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]]))
    assert accuracy == pytest.approx(4 / 6)
    assert precision.tolist() == pytest.approx([1 / 2, 1 / 2, 1.0])
    assert recall.tolist() == pytest.approx([1 / 2, 1.0, 2 / 3])
    assert f1.tolist() == pytest.approx([1 / 2, 2 / 3, 0.8])
    assert support.tolist() == [2, 1, 3]


def test_a_class_never_predicted_nor_present_scores_zero_not_nan() -> None:
    _, precision, recall, f1, _ = scores_from_confusion(np.array([[2, 0], [0, 0]]))
    assert precision.tolist() == [1.0, 0.0] and recall.tolist() == [1.0, 0.0] and f1.tolist() == [1.0, 0.0]


@pytest.mark.slow
def test_evaluate_command_writes_confusion_matrix_and_chart(csv_run, fer_csv: Path, tmp_path: Path) -> None:
    _, result = csv_run
    out = tmp_path / "eval"
    run = CliRunner().invoke(cli, ["evaluate", "--weights", str(result.best_checkpoint), "--data", str(fer_csv),
                                   "--split", "test", "--out", str(out)])
    assert run.exit_code == 0, run.output
    metrics = json.loads((out / "metrics.json").read_text())
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (7, 7) and matrix.sum() == 28 and matrix.sum(axis=1).tolist() == [4] * 7
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / 28)
    assert metrics["per_class"]["happy"]["support"] == 4
    assert metrics["model"] == "papercnn-fer2013"
    assert "confusion matrix" in (out / "evaluation.html").read_text()
    assert "accuracy" in run.output and "neutral" in run.output
