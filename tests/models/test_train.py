"""Training on small generated FER-2013 data: loss falls, checkpoints reload with their config, runs repeat."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models.classify import load_classifier
from models.registry import create_model, load_checkpoint
from models.train import TrainSettings, augment, class_weights_for, train
from tests.models.conftest import SMALL_PAPERCNN
from tests.models.fer_synthetic import pattern_faces, write_fer_csv, write_fer_folders


@pytest.mark.slow
def test_two_epochs_on_csv_lower_the_training_loss(csv_run) -> None:
    _, result = csv_run
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 2
    assert losses[1] < losses[0]


@pytest.mark.slow
def test_training_writes_history_json_and_a_plotly_chart(csv_run) -> None:
    _, result = csv_run
    saved = json.loads(result.history_path.read_text())
    assert saved["monitor"] == "val"
    assert [e["epoch"] for e in saved["epochs"]] == [1, 2]
    assert set(saved["epochs"][0]) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"}
    html = result.chart_path.read_text()
    assert "plotly" in html.lower() and "val loss" in html


@pytest.mark.slow
def test_best_checkpoint_reloads_with_config_and_predicts(csv_run) -> None:
    settings, result = csv_run
    cfg, _, extra = load_checkpoint(result.best_checkpoint)
    assert (cfg.arch, cfg.name, cfg.input_size, cfg.mean, cfg.std) == ("papercnn", "papercnn-fer2013", (1, 48, 48), 0.0, 1.0)
    assert cfg.model_kwargs == SMALL_PAPERCNN
    assert (cfg.crop_margin, cfg.align_eyes) == (1.0, True)  # FER-2013's own crop: what inference cuts
    assert extra["train_settings"]["seed"] == 0 and extra["epoch"] in (1, 2)
    classifier = load_classifier("papercnn", weights=result.best_checkpoint)
    probs = classifier.predict(list(pattern_faces(1, seed=5)[0]))
    assert probs.shape == (7, 7)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_minixception_trains_on_image_folders_reproducibly(tmp_path: Path) -> None:
    root = write_fer_folders(tmp_path / "fer", {"train": 6, "test": 2})
    runs = [train(TrainSettings(arch="minixception", data=root, out=tmp_path / f"run{i}", epochs=1, batch_size=32,
                                seed=3, progress=False)) for i in range(2)]
    assert runs[0].history == runs[1].history
    a = create_model("minixception", weights=runs[0].last_checkpoint).state_dict()
    b = create_model("minixception", weights=runs[1].last_checkpoint).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert math.isfinite(runs[0].history[0]["val_loss"])


def test_early_stopping_ends_after_patience_epochs_without_improvement(tmp_path: Path) -> None:
    path = write_fer_csv(tmp_path / "fer.csv", {"Training": 2, "PublicTest": 1})
    result = train(TrainSettings(arch="papercnn", data=path, out=tmp_path / "run", epochs=50, batch_size=14,
                                 lr=0.5, seed=0, patience=1, model_kwargs=SMALL_PAPERCNN, progress=False))
    losses = [h["val_loss"] for h in result.history]
    assert len(losses) < 50
    assert losses[-1] >= min(losses[:-1])


def test_class_weights_are_inverse_frequency_and_zero_for_absent_classes() -> None:
    weights = class_weights_for(np.array([0, 0, 0, 1]), 3)
    assert weights.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])


def test_augmentation_is_seeded_and_keeps_shape_and_range() -> None:
    x = torch.rand(4, 1, 48, 48)
    settings = TrainSettings(arch="papercnn", data=Path("."))
    a = augment(x, torch.Generator().manual_seed(7), settings)
    b = augment(x, torch.Generator().manual_seed(7), settings)
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and not torch.equal(a, x)


def test_augmentation_without_flip_rotation_or_shift_is_the_identity() -> None:
    x = torch.rand(2, 1, 8, 8)
    settings = TrainSettings(arch="papercnn", data=Path("."), flip=False, max_rotation_deg=0, max_shift_frac=0)
    torch.testing.assert_close(augment(x, torch.Generator().manual_seed(0), settings), x)
