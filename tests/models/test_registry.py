"""Every registered model: forward shape, softmax, and a checkpoint round trip that keeps the config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.config import FER2013_LABELS
from models.registry import (
    CheckpointError,
    create_model,
    default_config,
    list_models,
    load_checkpoint,
    save_checkpoint,
)

MODELS = list_models()


def test_registry_lists_both_architectures() -> None:
    assert MODELS == ["minixception", "papercnn"]


@pytest.mark.parametrize("name", MODELS)
def test_forward_gives_one_logit_per_label_and_softmax_sums_to_one(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    c, h, w = model.pretrained_cfg.input_size
    with torch.no_grad():
        logits = model(torch.randn(3, c, h, w))
    assert logits.shape == (3, len(FER2013_LABELS))
    torch.testing.assert_close(logits.softmax(1).sum(1), torch.ones(3))


@pytest.mark.parametrize("name", MODELS)
def test_forward_is_forward_head_of_forward_features(name: str) -> None:
    model = create_model(name).eval()
    x = torch.randn(2, *model.pretrained_cfg.input_size)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_head(model.forward_features(x)))


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip_keeps_weights_and_config(name: str, tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = create_model(name).eval()
    cfg = model.pretrained_cfg.with_(name=f"{name}-test", preprocess=("equalise",), source={"data": "synthetic"})
    path = save_checkpoint(tmp_path / "m.pt", model, cfg, extra={"epoch": 3})
    loaded = create_model(name, weights=path).eval()
    x = torch.randn(2, *cfg.input_size)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert loaded.pretrained_cfg == cfg
    assert load_checkpoint(path)[2] == {"epoch": 3}


def test_papercnn_activation_is_configurable_and_stored(tmp_path: Path) -> None:
    model = create_model("papercnn", activation="sigmoid")
    assert any(isinstance(m, torch.nn.Sigmoid) for m in model.modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    path = save_checkpoint(tmp_path / "p.pt", model, model.pretrained_cfg)
    reloaded = create_model("papercnn", weights=path)
    assert reloaded.pretrained_cfg.model_kwargs == {"activation": "sigmoid"}
    assert any(isinstance(m, torch.nn.Sigmoid) for m in reloaded.modules())


def test_papercnn_defaults_to_relu_with_three_segments_and_three_dense_layers() -> None:
    model = create_model("papercnn")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.out_channels) for c in convs] == [((3, 3), 32)] * 2 + [((3, 3), 64)] * 2 + [((3, 3), 128)] * 2
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 3
    assert sum(isinstance(m, torch.nn.Dropout) for m in model.modules()) == 2
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 3
    assert any(isinstance(m, torch.nn.ReLU) for m in model.modules())


def test_loading_weights_into_the_wrong_architecture_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "p.pt", create_model("papercnn"), default_config("papercnn"))
    with pytest.raises(CheckpointError, match="papercnn"):
        create_model("minixception", weights=path)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="not a ClassPulse"):
        load_checkpoint(path)


def test_unknown_model_name_lists_the_registered_ones() -> None:
    with pytest.raises(KeyError, match="minixception, papercnn"):
        create_model("resnet")
