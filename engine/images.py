"""Every image ClassPulse opens (a folder source's photos, the photo page, `engine predict`) is
read here, within limits: the file's size and the header's pixel count are checked before a pixel
is decoded, and a truncated or corrupt file is refused rather than analysed half-grey.

A 1.1 MB PNG of 20000 x 20000 pixels once took 6.3 GiB and 55 s to decode in a folder source, and a
truncated JPEG was stored as a normal sample; both are now one line naming the file and the reason.
Decoding is Pillow's (it raises on a truncated file, where OpenCV fills the rest with grey), with
its JPEG draft mode for a large photo that is to be scaled down anyway.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 50 MP still takes a 48-megapixel phone photo (8064 x 6048); decoded in full it is at most 150 MB.
MAX_PIXELS = 50_000_000
MAX_FILE_MB = 50  # a 48-megapixel JPEG is 10-25 MB


class ImageRejected(ValueError):
    """An image that is not read: too large, empty, truncated or not an image. One line."""


def _too_large(width: int, height: int) -> str:
    return (f"{width} x {height} pixels, over {MAX_PIXELS // 1_000_000} megapixels: more than can be "
            "analysed; scale it down first")


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the file's header; no pixel is decoded."""
    if not data:
        raise ImageRejected("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:
                return header.size
    except Image.DecompressionBombError as exc:  # Pillow's own ceiling, far above ours
        raise ImageRejected(f"over {MAX_PIXELS // 1_000_000} megapixels: more than can be analysed; scale it down first") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected("not an image that can be read (use JPEG, PNG or WebP)") from exc


def decode(data: bytes, *, max_side_px: int | None = None) -> np.ndarray:
    """The image's pixels as an RGB uint8 array (EXIF orientation applied), the longer side at most
    `max_side_px` when given; ImageRejected, before decoding, for a file or picture over the limits."""
    if len(data) > MAX_FILE_MB * 1024 * 1024:
        raise ImageRejected(f"the file is over {MAX_FILE_MB} MB")
    width, height = image_size(data)
    if width * height > MAX_PIXELS:
        raise ImageRejected(_too_large(width, height))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if max_side_px is not None and image.format == "JPEG":
                    image.draft("RGB", (max_side_px, max_side_px))  # decoded at 1/2, 1/4 or 1/8
                image.load()
                rgb = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"truncated or corrupt ({_first_line(exc)})") from exc
    if max_side_px is not None and max(rgb.size) > max_side_px:
        rgb.thumbnail((max_side_px, max_side_px), Image.Resampling.BOX)
    return np.asarray(rgb)


def read_file(path: Path, *, max_side_px: int | None = None) -> np.ndarray:
    """A file's pixels as RGB (see `decode`); ImageRejected naming the file and the reason."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_MB * 1024 * 1024:
            raise ImageRejected(f"the file is over {MAX_FILE_MB} MB")
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageRejected(f"{path}: no such file") from exc
    except OSError as exc:
        raise ImageRejected(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except ImageRejected as exc:
        raise ImageRejected(f"{path}: {exc}") from exc
    try:
        return decode(data, max_side_px=max_side_px)
    except ImageRejected as exc:
        raise ImageRejected(f"{path}: {exc}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
