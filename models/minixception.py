"""mini-Xception (Arriaga, Valdenegro-Toro and Plöger 2017, arXiv:1710.07557): the FER-2013 expression CNN."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Keras BatchNormalization default; PyTorch's is 1e-5 and would shift every converted activation.
BN_EPS = 1e-3


class SamePadMaxPool2d(nn.Module):
    """Max pooling with TensorFlow "same" padding: extra padding goes after, padded cells never win."""

    def __init__(self, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def _pads(self, size: int) -> tuple[int, int]:
        total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel_size - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pads(x.shape[-2])
        left, right = self._pads(x.shape[-1])
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)


class SeparableConv2d(nn.Module):
    """Depthwise 3×3 then pointwise 1×1 convolution, no bias, no activation between (Keras SeparableConv2D)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualModule(nn.Module):
    """Two separable convolutions and a stride-2 pool, added to a strided 1×1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.sep1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.sep2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.pool = SamePadMaxPool2d(3, 2)
        self.shortcut_conv = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.pool(self.bn2(self.sep2(y)))
        return y + self.shortcut_bn(self.shortcut_conv(x))


class MiniXception(nn.Module):
    """Fully convolutional expression classifier; returns logits (softmax is the caller's choice)."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1, widths: tuple[int, ...] = (16, 32, 64, 128),
                 stem_width: int = 8) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(in_chans, stem_width, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width, eps=BN_EPS)
        self.conv2 = nn.Conv2d(stem_width, stem_width, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(stem_width, eps=BN_EPS)
        chans = (stem_width, *widths)
        self.blocks = nn.Sequential(*(ResidualModule(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)))
        self.num_features = widths[-1]
        self.head = nn.Conv2d(self.num_features, num_classes, 3, padding=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and residual modules: (N, C, H, W) scaled images to (N, 128, H/16, W/16) features."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.blocks(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Per-class 3×3 convolution then global average pooling: features to (N, num_classes) logits."""
        return self.head(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
