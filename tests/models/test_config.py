"""The preprocessing config's crop fields: defaults equal to the crop inference has always cut, kept
through a checkpoint, and old checkpoints without them load unchanged."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from models.config import ModelConfig
from models.registry import (
    CHECKPOINT_FORMAT,
    create_model,
    default_config,
    list_models,
    load_checkpoint,
    save_checkpoint,
)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_defaults_to_the_level_eyed_landmark_box_crop(name: str) -> None:
    cfg = default_config(name)
    assert (cfg.crop_margin, cfg.align_eyes) == (1.0, True)


def test_a_checkpoint_saved_before_the_crop_fields_loads_with_todays_crop(tmp_path: Path) -> None:
    model = create_model("papercnn")
    old = model.pretrained_cfg.to_dict()
    del old["crop_margin"], old["align_eyes"]
    path = tmp_path / "old.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "config": old, "state_dict": model.state_dict()}, path)
    cfg = load_checkpoint(path)[0]
    assert (cfg.crop_margin, cfg.align_eyes) == (1.0, True)
    assert cfg == model.pretrained_cfg


def test_crop_margin_and_alignment_travel_with_the_weights(tmp_path: Path) -> None:
    model = create_model("minixception")
    cfg = model.pretrained_cfg.with_(crop_margin=1.25, align_eyes=False)
    path = save_checkpoint(tmp_path / "m.pt", model, cfg)
    loaded = create_model("minixception", weights=path).pretrained_cfg
    assert (loaded.crop_margin, loaded.align_eyes) == (1.25, False)


@pytest.mark.parametrize("margin", [0.0, -1.0, math.nan, math.inf])
def test_a_crop_margin_that_is_not_a_positive_number_is_refused(margin: float) -> None:
    with pytest.raises(ValueError, match="crop_margin must be a finite number > 0"):
        ModelConfig(arch="x", name="x", input_size=(1, 48, 48), crop_margin=margin)
