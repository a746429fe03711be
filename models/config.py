"""The preprocessing config that travels with a checkpoint (timm's `PretrainedCfg`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

# FER-2013's class indices 0..6, the order of the mini-Xception outputs and of `storage.records.EXPRESSIONS`.
FER2013_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass(frozen=True)
class ModelConfig:
    """What inference needs to reproduce training: architecture, input size, scaling, label order, steps,
    and where the face crop is cut.

    The crop is a square of `crop_margin` times the larger side of MediaPipe's landmark box, centred on
    it, rotated so the eye line is level when `align_eyes` (the engine cuts it, `engine/crops.py`).
    Training cuts no crop: FER-2013's 48x48 images come cropped (faces registered so each is centred
    and fills about the same area, forehead to chin), which corresponds to about margin 1.0 with level
    eyes (judged from the dataset's description; FER-2013 cannot be downloaded here to measure it).
    1.0 is also what measured best on the labelled sample photos (docs/models.md), so it is the
    default: what every checkpoint trained here records and what inference cuts for it. Checkpoints
    saved before these fields existed load with the defaults, i.e. unchanged.
    """

    arch: str
    name: str
    input_size: tuple[int, int, int]
    mean: float = 0.5
    std: float = 0.5
    labels: tuple[str, ...] = FER2013_LABELS
    interpolation: str = "area"
    preprocess: tuple[str, ...] = ()
    crop_margin: float = 1.0
    align_eyes: bool = True
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.crop_margin) and self.crop_margin > 0):
            raise ValueError(f"crop_margin must be a finite number > 0, got {self.crop_margin}")

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so `torch.load(weights_only=True)` can read it back."""
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["labels"] = list(self.labels)
        d["preprocess"] = list(self.preprocess)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Rebuild from `to_dict()` output (tuples restored)."""
        return cls(**{**d, "input_size": tuple(d["input_size"]), "labels": tuple(d["labels"]),
                      "preprocess": tuple(d.get("preprocess", ()))})

    def with_(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)
