"""FER-2013 in its two public layouts: Kaggle's fer2013.csv and image folders (train/<class>/*.png)."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.config import FER2013_LABELS

log = logging.getLogger(__name__)

FER_SIZE = 48
CSV_COLUMNS = ("emotion", "pixels", "Usage")
CSV_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
# Image-folder releases have no validation split: a fixed 10 % of train/ (same for every seed) is held out.
FOLDER_VAL_FRACTION = 0.1
_FOLDER_VAL_SEED = 2013


class DatasetError(ValueError):
    """The dataset is missing, has the wrong layout, or a row/file that cannot be read."""


@dataclass(frozen=True)
class FaceSet:
    """Grey uint8 face images (N, H, W) with FER-2013 label indices (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)


def _parse_row(row: list[str], header: list[str], where: str) -> tuple[str, int, np.ndarray]:
    if len(row) != len(header):
        raise DatasetError(f"{where}: {len(row)} fields, expected {len(header)} ({','.join(header)})")
    fields = dict(zip(header, row, strict=True))
    usage = fields["Usage"].strip()
    if usage not in CSV_USAGE:
        raise DatasetError(f"{where}: Usage {usage!r} is not one of {', '.join(CSV_USAGE)}")
    try:
        emotion = int(fields["emotion"])
    except ValueError:
        raise DatasetError(f"{where}: emotion {fields['emotion']!r} is not an integer") from None
    if not 0 <= emotion < len(FER2013_LABELS):
        raise DatasetError(f"{where}: emotion {emotion} is outside 0..{len(FER2013_LABELS) - 1}")
    values = fields["pixels"].split()
    if len(values) != FER_SIZE * FER_SIZE:
        raise DatasetError(f"{where}: pixels has {len(values)} values, expected {FER_SIZE * FER_SIZE} (48×48)")
    try:
        pixels = np.array(values, dtype=np.int64)
    except ValueError:
        bad = next(v for v in values if not v.isdigit())
        raise DatasetError(f"{where}: pixels has a non-numeric value {bad!r}") from None
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetError(f"{where}: pixels has values outside 0..255")
    return CSV_USAGE[usage], emotion, pixels.astype(np.uint8).reshape(FER_SIZE, FER_SIZE)


def read_fer_csv(path: Path) -> dict[str, FaceSet]:
    """All splits of a Kaggle fer2013.csv (emotion,pixels,Usage); raises DatasetError naming a bad row."""
    images: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    labels: dict[str, list[int]] = {s: [] for s in SPLITS}
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if sorted(header) != sorted(CSV_COLUMNS):
            raise DatasetError(f"{path.name}: columns are {','.join(header) or 'missing'}; "
                               f"expected {','.join(CSV_COLUMNS)} (Kaggle fer2013.csv)")
        for number, row in enumerate(reader, start=1):
            split, emotion, pixels = _parse_row(row, header, f"{path.name} row {number} (line {number + 1})")
            images[split].append(pixels)
            labels[split].append(emotion)
    return {s: _stack(images[s], labels[s]) for s in SPLITS}


def _stack(images: list[np.ndarray], labels: list[int]) -> FaceSet:
    if not images:
        return FaceSet(np.zeros((0, FER_SIZE, FER_SIZE), np.uint8), np.zeros(0, np.int64))
    return FaceSet(np.stack(images), np.asarray(labels, dtype=np.int64))


def _read_folder(root: Path) -> FaceSet:
    images, labels = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if class_dir.name not in FER2013_LABELS:
            raise DatasetError(f"{class_dir}: folder name is not one of {', '.join(FER2013_LABELS)}")
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            image = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise DatasetError(f"{file}: not a readable image")
            if image.shape != (FER_SIZE, FER_SIZE):
                image = cv2.resize(image, (FER_SIZE, FER_SIZE), interpolation=cv2.INTER_AREA)
            images.append(image)
            labels.append(FER2013_LABELS.index(class_dir.name))
    return _stack(images, labels)


def read_fer_folders(root: Path) -> dict[str, FaceSet]:
    """All splits of the image-folder layout: train/<class>/*.png (val carved out of it) and test/<class>/."""
    if not (root / "train").is_dir():
        raise DatasetError(f"{root}: no train/ folder (expected train/<class>/*.png and test/<class>/*.png)")
    full = _read_folder(root / "train")
    order = np.random.default_rng(_FOLDER_VAL_SEED).permutation(len(full))
    n_val = int(round(len(full) * FOLDER_VAL_FRACTION))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    test = _read_folder(root / "test") if (root / "test").is_dir() else _stack([], [])
    return {"train": FaceSet(full.images[train], full.labels[train]),
            "val": FaceSet(full.images[val], full.labels[val]), "test": test}


def load_fer2013(path: Path) -> dict[str, FaceSet]:
    """FER-2013 from a .csv file or an image-folder root, as {"train", "val", "test"} face sets."""
    path = Path(path)
    if path.is_file():
        splits = read_fer_csv(path)
    elif path.is_dir():
        splits = read_fer_folders(path)
    else:
        raise DatasetError(f"{path} does not exist (expected fer2013.csv or a folder with train/ and test/)")
    log.info("FER-2013 from %s: %s", path, ", ".join(f"{s} {len(v)}" for s, v in splits.items()))
    return splits
