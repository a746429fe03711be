"""Face-crop preprocessing: the paper's steps as pure functions, and the pipeline a checkpoint config selects.

Each step takes and returns uint8 images. The classifier and the trainer both go through
`prepare_crops` + `to_input_tensor`, so training and inference cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

from models.config import ModelConfig

INTERPOLATIONS: dict[str, int] = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR,
                                  "cubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}


def to_grey(image: np.ndarray) -> np.ndarray:
    """uint8 greyscale (H, W) from grey (H, W) / (H, W, 1), BGR (H, W, 3) or BGRA (H, W, 4)."""
    if image.dtype != np.uint8:
        raise ValueError(f"face crops must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"expected a grey (H, W) or BGR (H, W, 3) crop, got shape {image.shape}")


def equalise_histogram(grey: np.ndarray) -> np.ndarray:
    """Global histogram equalisation: spreads the grey levels over 0..255."""
    return cv2.equalizeHist(np.ascontiguousarray(grey))


def smooth_gaussian(image: np.ndarray, ksize: int = 3, sigma: float = 0.0) -> np.ndarray:
    """Gaussian smoothing against sensor noise (sigma 0: OpenCV derives it from ksize, 0.8 for 3)."""
    return cv2.GaussianBlur(image, (ksize, ksize), sigma, borderType=cv2.BORDER_REPLICATE)


def compensate_light(image: np.ndarray, top_fraction: float = 0.05) -> np.ndarray:
    """Reference-white light compensation (Hsu et al. 2002): scale so the brightest 5 % average 255.

    On a BGR image each channel is scaled by its own reference-white mean, which also removes a colour
    cast (gray-world on the bright pixels); a grey image is scaled as one channel.
    """
    grey = to_grey(image)
    n = max(1, int(round(grey.size * top_fraction)))
    brightest = np.argpartition(grey.ravel(), grey.size - n)[grey.size - n:]
    pixels = image.reshape(grey.size, -1)[brightest].astype(np.float64)
    reference = pixels.mean(axis=0)
    if np.any(reference <= 0):
        return image.copy()
    scaled = image.astype(np.float64) * (255.0 / reference)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def stretch_contrast(grey: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """Linear contrast stretch: the `low_pct` percentile maps to 0 and `high_pct` to 255, clipped."""
    low, high = np.percentile(grey, [low_pct, high_pct])
    if high <= low:
        return grey.copy()
    stretched = (grey.astype(np.float64) - low) * (255.0 / (high - low))
    return np.clip(np.rint(stretched), 0, 255).astype(np.uint8)


def resize(grey: np.ndarray, size: tuple[int, int], interpolation: str = "area") -> np.ndarray:
    """Resize to (height, width) with a named OpenCV interpolation; a no-op at the right size."""
    if grey.shape[:2] == size:
        return grey
    return cv2.resize(grey, (size[1], size[0]), interpolation=INTERPOLATIONS[interpolation])


# Step names as stored in a checkpoint config, applied in this order whatever order the config lists.
STEPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "light": compensate_light,
    "equalise": equalise_histogram,
    "smooth": smooth_gaussian,
    "stretch": stretch_contrast,
}


def prepare_crop(crop: np.ndarray, steps: Sequence[str] = (), size: tuple[int, int] = (64, 64),
                 interpolation: str = "area") -> np.ndarray:
    """One face crop to the model's grey uint8 (H, W): every step runs at model resolution (cheap per
    frame); light compensation runs on the colours before greyscale, the others after."""
    unknown = set(steps) - STEPS.keys()
    if unknown:
        raise ValueError(f"unknown preprocessing steps {sorted(unknown)}; known: {list(STEPS)}")
    if "light" in steps:
        crop = compensate_light(resize(crop, size, interpolation))
    grey = resize(to_grey(crop), size, interpolation)
    for name in ("equalise", "smooth", "stretch"):
        if name in steps:
            grey = STEPS[name](grey)
    return grey


def prepare_crops(crops: Sequence[np.ndarray], cfg: ModelConfig) -> np.ndarray:
    """Face crops to a (N, H, W) uint8 batch as the checkpoint config prescribes."""
    _, h, w = cfg.input_size
    out = np.empty((len(crops), h, w), dtype=np.uint8)
    for i, crop in enumerate(crops):
        out[i] = prepare_crop(crop, cfg.preprocess, (h, w), cfg.interpolation)
    return out


def to_input_tensor(batch: np.ndarray | torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """(N, H, W) uint8 to the (N, 1, H, W) float32 the model expects: (x / 255 - mean) / std."""
    x = torch.as_tensor(batch).to(torch.float32).unsqueeze(1)
    return (x / 255.0 - cfg.mean) / cfg.std
