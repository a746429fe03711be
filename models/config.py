"""The preprocessing config that travels with a checkpoint (timm's `PretrainedCfg`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

# FER-2013's class indices 0..6, the order of the mini-Xception outputs and of `storage.records.EXPRESSIONS`.
FER2013_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass(frozen=True)
class ModelConfig:
    """What inference needs to reproduce training: architecture, input size, scaling, label order, steps."""

    arch: str
    name: str
    input_size: tuple[int, int, int]
    mean: float = 0.5
    std: float = 0.5
    labels: tuple[str, ...] = FER2013_LABELS
    interpolation: str = "area"
    preprocess: tuple[str, ...] = ()
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)

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
