"""Builders for small, learnable FER-2013 datasets in both layouts (synthetic 48×48 patterns)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from models.config import FER2013_LABELS


def pattern_faces(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 48, 48) uint8 images and labels: class k is a bright bar at angle k·180/7 degrees, plus noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k in range(len(FER2013_LABELS)):
        for _ in range(per_class):
            image = np.full((48, 48), 60, np.float64)
            angle = np.pi * k / len(FER2013_LABELS)
            c = 24 + rng.integers(-3, 4, size=2)
            d = 20 * np.array([np.cos(angle), np.sin(angle)])
            p0, p1 = tuple(int(v) for v in c - d), tuple(int(v) for v in c + d)
            cv2.line(image, p0, p1, 220, thickness=6)
            image += rng.normal(0, 12, image.shape)
            images.append(np.clip(image, 0, 255).astype(np.uint8))
            labels.append(k)
    return np.stack(images), np.array(labels)


def write_fer_csv(path: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """A Kaggle-format fer2013.csv with `per_class[usage]` images per class for each Usage value."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["emotion", "pixels", "Usage"])
        for i, (usage, n) in enumerate(per_class.items()):
            images, labels = pattern_faces(n, seed + i)
            for image, label in zip(images, labels, strict=True):
                writer.writerow([int(label), " ".join(map(str, image.ravel())), usage])
    return path


def write_fer_folders(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """The image-folder layout: root/<split>/<class>/<n>.png for each split in `per_class`."""
    for i, (split, n) in enumerate(per_class.items()):
        images, labels = pattern_faces(n, seed + i)
        for j, (image, label) in enumerate(zip(images, labels, strict=True)):
            folder = root / split / FER2013_LABELS[label]
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{j:04d}.png"), image)
    return root
