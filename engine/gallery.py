"""Video-call gallery tiles: where each tile lies, and the cameras that fill them from sample media.

Used to build the demo clip (`engine.demo`); tests and benchmarks compose their galleries from the
same tiles in the test kit (`tests/kit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

BACKGROUND_BGR = (32, 32, 32)
GAP_PX = 6


def fit_into(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale an image to fit a width x height tile, keeping its aspect, centred on the background."""
    tile = np.empty((height, width, 3), np.uint8)
    tile[:] = BACKGROUND_BGR
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y, x = (height - nh) // 2, (width - nw) // 2
    tile[y:y + nh, x:x + nw] = resized
    return tile


def tile_rects(grid: tuple[int, int], size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of each tile, row by row, for a (rows, cols) grid in a (width, height) frame."""
    rows, cols = grid
    width, height = size
    tw, th = width // cols, height // rows
    return [(c * tw + GAP_PX // 2, r * th + GAP_PX // 2, tw - GAP_PX, th - GAP_PX)
            for r in range(rows) for c in range(cols)]


def read_video_frames(path: Path, fps: float, max_frames: int | None = None) -> list[np.ndarray]:
    """A video's frames resampled to `fps` (nearest frame), for building clips."""
    cap = cv2.VideoCapture(str(path))
    src_fps = cap.get(cv2.CAP_PROP_FPS) or fps
    frames: list[np.ndarray] = []
    index, next_t = 0, 0.0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index / src_fps + 1e-9 >= next_t:
            frames.append(frame)
            next_t += 1.0 / fps
            if max_frames and len(frames) >= max_frames:
                break
        index += 1
    cap.release()
    return frames


TileAt = Callable[[int], np.ndarray | None]


def looping(frames: Sequence[np.ndarray], offset: int = 0, mirror: bool = False) -> TileAt:
    """A tile playing a clip forwards then backwards, forever (no jump at the loop)."""
    period = max(1, 2 * len(frames) - 2)

    def at(k: int) -> np.ndarray:
        i = (k + offset) % period
        frame = frames[i if i < len(frames) else period - i]
        return cv2.flip(frame, 1) if mirror else frame

    return at


def breathing(photo: np.ndarray, fps: float, phase: float = 0.0) -> TileAt:
    """A still photo with a slow, small sway and zoom, so a still sitter looks alive."""
    h, w = photo.shape[:2]

    def at(k: int) -> np.ndarray:
        t = k / fps + phase
        angle = 2.0 * np.sin(2 * np.pi * t / 7.0)
        scale = 1.0 + 0.02 * np.sin(2 * np.pi * t / 5.0)
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        return cv2.warpAffine(photo, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)

    return at


def still(image: np.ndarray) -> TileAt:
    """A camera that shows the same picture at every frame (a profile photo)."""
    return lambda k: image
