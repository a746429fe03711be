"""The paper's expression CNN: three segments of two 3×3 convolutions, then three fully connected layers."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def _segment(in_channels: int, out_channels: int, activation: type[nn.Module]) -> nn.Sequential:
    """Two 3×3 convolutions with the same settings, each with batch norm, then 2×2 max pooling."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), activation(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), activation(),
        nn.MaxPool2d(2),
    )


class PaperCNN(nn.Module):
    """Three convolutional segments and three dense layers with dropout between; returns logits over 7 classes."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1, input_size: int = 48,
                 widths: tuple[int, int, int] = (32, 64, 128), hidden: tuple[int, int] = (256, 128),
                 dropout: float = 0.5, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
        if input_size % 8:
            raise ValueError(f"input_size must be divisible by 8 (three 2×2 poolings), not {input_size}")
        act = ACTIVATIONS[activation]
        self.num_classes = num_classes
        chans = (in_chans, *widths)
        self.features = nn.Sequential(*(_segment(a, b, act) for a, b in zip(chans[:-1], chans[1:], strict=True)))
        self.num_features = widths[-1] * (input_size // 8) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.num_features, hidden[0]), act(), nn.Dropout(dropout),
            nn.Linear(hidden[0], hidden[1]), act(), nn.Dropout(dropout),
            nn.Linear(hidden[1], num_classes),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Convolutional segments: (N, 1, S, S) scaled images to (N, widths[-1], S/8, S/8) features."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Fully connected layers: features to (N, num_classes) logits (softmax applied by the caller)."""
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
