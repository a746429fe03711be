"""Box maths on x, y, w, h boxes in frame pixels: overlap, duplicate suppression, search and crop windows.

Pure NumPy, no MediaPipe: the face finder, its planner and the tracker share these.
"""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area of every box of a (N, 4) with every box of b (M, 4), shape (N, M)."""
    ax0, ay0, aw, ah = (a[:, i : i + 1] for i in range(4))
    bx0, by0, bw, bh = (b[None, :, i] for i in range(4))
    iw = np.clip(np.minimum(ax0 + aw, bx0 + bw) - np.maximum(ax0, bx0), 0.0, None)
    ih = np.clip(np.minimum(ay0 + ah, by0 + bh) - np.maximum(ay0, by0), 0.0, None)
    return iw * ih


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of (N, 4) and (M, 4) boxes, shape (N, M); 0 where both are empty."""
    inter = _intersection(a, b)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over the smaller box's area: catches a partial box cut by a tile edge."""
    smaller = np.minimum((a[:, 2] * a[:, 3])[:, None], (b[:, 2] * b[:, 3])[None])
    return np.where(smaller > 0, _intersection(a, b) / np.where(smaller > 0, smaller, 1.0), 0.0)


def suppress_duplicates(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3) -> list[int]:
    """Indices of boxes kept after non-maximum suppression (IoU, or mostly inside another), best first."""
    if len(boxes) == 0:
        return []
    order = np.argsort(-scores, kind="stable")
    boxes = boxes.astype(np.float64)
    overlap = np.maximum(iou(boxes, boxes), overlap_of_smaller(boxes, boxes) >= 0.6)
    kept: list[int] = []
    for i in order:
        if all(overlap[i, k] <= iou_threshold for k in kept):
            kept.append(int(i))
    return kept


def tile_windows(width: int, height: int, tile_px: int, overlap: float) -> list[Box]:
    """Overlapping windows of about tile_px covering the frame; empty when the frame is small."""
    if max(width, height) < 1.5 * tile_px:
        return []
    windows: list[Box] = []
    cols, rows = max(1, round(width / tile_px)), max(1, round(height / tile_px))
    tw, th = width / cols, height / rows
    for r in range(rows):
        for c in range(cols):
            x0 = int(max(0, c * tw - overlap * tw))
            y0 = int(max(0, r * th - overlap * th))
            x1 = int(min(width, (c + 1) * tw + overlap * tw))
            y1 = int(min(height, (r + 1) * th + overlap * th))
            windows.append((x0, y0, x1 - x0, y1 - y0))
    return windows


def square_crop_window(box: Box, scale: float, width: int, height: int) -> Box:
    """A square window `scale` times the box's larger side, centred on it, clipped to the frame."""
    x, y, w, h = box
    side = max(w, h) * scale
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)
