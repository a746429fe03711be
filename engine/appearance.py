"""Appearance cue: a small descriptor of how a tile looks around a face, to keep IDs through layout changes.

The descriptor sums up the region around and below the face box (hair, background, clothing, the
face's overall tone) as a colour histogram plus a tiny colour patch. It is not a face-recognition
model or an identity embedding: it cannot tell the same person apart in another room, and two
students in similar rooms look alike to it. It lives in memory within the running lesson only,
and is never stored or logged.
"""

from __future__ import annotations

import cv2
import numpy as np

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1

# The region around an (x, y, w, h) face box, in face widths and heights: sideways to show the
# background and hair, upwards for the hair, downwards for the neck and collar.
REGION_LEFT = 0.6
REGION_RIGHT = 0.6
REGION_ABOVE = 0.45
REGION_BELOW = 0.65
# Colours are counted every few pixels, about this many along the region's shorter side.
SAMPLE_SIDE = 40
# Joint HSV histogram bins: hue x saturation x value.
HUE_BINS, SAT_BINS, VAL_BINS = 8, 3, 3
HIST_SIZE = HUE_BINS * SAT_BINS * VAL_BINS
# The tiny patch (width, height) of mean colours (BGR), which keeps where each colour sits.
PATCH_SIZE = (5, 6)
PATCH_LEN = PATCH_SIZE[0] * PATCH_SIZE[1] * 3
DESCRIPTOR_LEN = HIST_SIZE + PATCH_LEN
# A row or column whose brightness varies by at most this standard deviation is a gallery's gap or
# a letterbox band (about 2-4 through a video codec's ringing; a camera's image is rarely under 10):
# the region stops there, so a neighbouring tile never enters a student's look.
GUTTER_STD = 6.0
INSIDE_FACE = 0.15  # the search for the tile's edge starts this far inside the face box
LINE_SAMPLES = 16  # a row (column) is tested for uniformity at about this many points
# How the two parts weigh in `distance`; the patch difference is scaled into about the same range.
HIST_WEIGHT = 0.5
PATCH_SCALE = 4.0


def region_box(box: np.ndarray) -> np.ndarray:
    """The (x0, y0, x1, y1) region a descriptor summarises for one x, y, w, h face box."""
    x, y, w, h = (float(v) for v in box)
    return np.array([x - REGION_LEFT * w, y - REGION_ABOVE * h,
                     x + (1 + REGION_RIGHT) * w, y + (1 + REGION_BELOW) * h])


def _first(flags: np.ndarray, default: int) -> int:
    hits = np.flatnonzero(flags)
    return int(hits[0]) if hits.size else default


def _last(flags: np.ndarray, default: int) -> int:
    hits = np.flatnonzero(flags)
    return int(hits[-1]) if hits.size else default


def tile_bounds(channel: np.ndarray, face: Rect) -> Rect:
    """The (x0, y0, x1, y1) part of a region that shows the face's own tile.

    `channel` is one colour channel of the region at full resolution and `face` the face box in
    it. The tile ends at the first uniform row or column outside the face in each direction (a
    gallery's gap, a letterbox band); rows are tested across the face's width, columns across its
    height, each at about LINE_SAMPLES points. The search starts a little inside the face box,
    since a box can reach over its tile's edge.
    """
    fx0, fy0, fx1, fy1 = face
    height, width = channel.shape
    ix, iy = int(INSIDE_FACE * (fx1 - fx0)), int(INSIDE_FACE * (fy1 - fy0))
    rows = channel[:, fx0:fx1:max(1, (fx1 - fx0) // LINE_SAMPLES)].astype(np.float32)
    cols = channel[fy0:fy1:max(1, (fy1 - fy0) // LINE_SAMPLES), :].astype(np.float32)
    # Variance <= GUTTER_STD^2, as n * sum(x^2) - sum(x)^2 <= n^2 * GUTTER_STD^2.
    n_row, n_col = rows.shape[1], cols.shape[0]
    row_sum, col_sum = np.add.reduce(rows, axis=1), np.add.reduce(cols, axis=0)
    uniform_row = (n_row * np.add.reduce(rows * rows, axis=1) - row_sum * row_sum
                   <= (n_row * GUTTER_STD) ** 2)
    uniform_col = (n_col * np.add.reduce(cols * cols, axis=0) - col_sum * col_sum
                   <= (n_col * GUTTER_STD) ** 2)
    top, bottom, left, right = fy0 + iy, fy1 - iy, fx0 + ix, fx1 - ix
    return (_last(uniform_col[:left], -1) + 1, _last(uniform_row[:top], -1) + 1,
            right + _first(uniform_col[right:], width - right),
            bottom + _first(uniform_row[bottom:], height - bottom))


def _describe_one(frame_bgr: np.ndarray, box: np.ndarray, out: np.ndarray) -> None:
    """Fill `out` with the descriptor of one face box (a flat histogram and an unknown patch when
    nothing of the region is visible)."""
    out[:HIST_SIZE] = np.sqrt(1.0 / HIST_SIZE)
    out[HIST_SIZE:] = -1.0
    height, width = frame_bgr.shape[:2]
    x0, y0, x1, y1 = region_box(box)
    region_w, region_h = x1 - x0, y1 - y0
    cx0, cy0 = max(0, int(round(x0))), max(0, int(round(y0)))
    cx1, cy1 = min(width, int(round(x1))), min(height, int(round(y1)))
    if region_w < 2 or region_h < 2 or cx1 - cx0 < 2 or cy1 - cy0 < 2:
        return
    x, y, w, h = (float(v) for v in box)
    cw, ch = cx1 - cx0, cy1 - cy0
    face = (min(max(0, int(x) - cx0), cw - 1), min(max(0, int(y) - cy0), ch - 1),
            min(max(1, int(x + w) - cx0), cw), min(max(1, int(y + h) - cy0), ch))
    tx0, ty0, tx1, ty1 = 0, 0, cw, ch
    if face[2] > face[0] and face[3] > face[1]:
        tx0, ty0, tx1, ty1 = tile_bounds(frame_bgr[cy0:cy1, cx0:cx1, 1], face)
    if tx1 <= tx0 or ty1 <= ty0:
        return
    # The visible part, every step-th pixel: about SAMPLE_SIDE samples along the region's side.
    step = max(1, int(min(region_w, region_h) // SAMPLE_SIDE))
    sample = np.ascontiguousarray(frame_bgr[cy0 + ty0:cy0 + ty1:step, cx0 + tx0:cx0 + tx1:step])
    hsv = cv2.cvtColor(sample, cv2.COLOR_BGR2HSV_FULL)  # hue 0..255
    counts = cv2.calcHist([hsv], [0, 1, 2], None, [HUE_BINS, SAT_BINS, VAL_BINS],
                          [0, 256, 0, 256, 0, 256]).ravel()
    # Square roots of the frequencies: their dot product is the Bhattacharyya coefficient.
    out[:HIST_SIZE] = np.sqrt(counts / counts.sum())
    # Mean colour of each patch cell over its visible pixels (an integral image); a cell mostly
    # outside the tile or the frame stays -1 (unknown).
    sh, sw = sample.shape[:2]
    pw, ph = PATCH_SIZE
    ex = [min(max((x0 + region_w * i / pw - cx0 - tx0) / step, 0.0), sw) for i in range(pw + 1)]
    ey = [min(max((y0 + region_h * i / ph - cy0 - ty0) / step, 0.0), sh) for i in range(ph + 1)]
    cell_w, cell_h = region_w / (pw * step), region_h / (ph * step)
    cover_x = np.array([(b - a) / cell_w for a, b in zip(ex, ex[1:], strict=False)])
    cover_y = np.array([(b - a) / cell_h for a, b in zip(ey, ey[1:], strict=False)])
    ix, iy = np.array([round(v) for v in ex]), np.array([round(v) for v in ey])
    corners = cv2.integral(sample)[np.ix_(iy, ix)]
    sums = corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]
    pixels = (iy[1:] - iy[:-1])[:, None] * (ix[1:] - ix[:-1])[None, :]
    known = (cover_y[:, None] * cover_x[None, :] >= 0.5) & (pixels > 0)
    patch = np.full((PATCH_SIZE[1], PATCH_SIZE[0], 3), -1.0, np.float32)
    patch[known] = sums[known] / (255.0 * pixels[known][:, None])
    out[HIST_SIZE:] = patch.ravel()


def describe(frame_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, DESCRIPTOR_LEN) float32 descriptors of a BGR frame around each of the (N, 4) face boxes."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {boxes.shape}")
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise ValueError(f"frame must be a BGR uint8 image (H, W, 3), got {frame_bgr.shape} "
                         f"{frame_bgr.dtype}")
    out = np.empty((len(boxes), DESCRIPTOR_LEN), np.float32)
    for i, box in enumerate(boxes):
        _describe_one(frame_bgr, box, out[i])
    return out


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise appearance distance of (M, D) and (N, D) descriptors, shape (M, N), within [0, 1].

    The mean of the histograms' Hellinger distance and the patches' scaled mean absolute difference;
    0 for identical looks.
    """
    a = np.asarray(a, dtype=np.float32).reshape(-1, DESCRIPTOR_LEN)
    b = np.asarray(b, dtype=np.float32).reshape(-1, DESCRIPTOR_LEN)
    # Hellinger distance from the square-root frequencies: sqrt(1 - Bhattacharyya coefficient).
    root_diff = a[:, None, :HIST_SIZE] - b[None, :, :HIST_SIZE]
    hellinger = np.sqrt(np.clip(0.5 * (root_diff * root_diff).sum(axis=2), 0.0, 1.0))
    pa, pb = a[:, None, HIST_SIZE:], b[None, :, HIST_SIZE:]
    known = (pa >= 0) & (pb >= 0)  # cells both patches saw (inside their tiles)
    diff = np.where(known, np.abs(pa - pb), 0.0).sum(axis=2)
    patch = np.where(known.any(axis=2), diff / np.maximum(known.sum(axis=2), 1), 1.0)
    return HIST_WEIGHT * hellinger + (1 - HIST_WEIGHT) * np.minimum(1.0, PATCH_SCALE * patch)


def blend(old: np.ndarray, new: np.ndarray, weight: float) -> np.ndarray:
    """A track's look moved towards a new sighting by `weight` (exponential smoothing).

    Patch cells one of the two did not see take the other's value; the histogram part stays a
    unit vector of square-root frequencies.
    """
    old = np.asarray(old, dtype=np.float32)
    new = np.asarray(new, dtype=np.float32)
    out = (1 - weight) * old + weight * new
    hist = out[:HIST_SIZE]
    out[:HIST_SIZE] = hist / max(float(np.linalg.norm(hist)), 1e-9)
    po, pn = old[HIST_SIZE:], new[HIST_SIZE:]
    out[HIST_SIZE:] = np.where(po < 0, pn, np.where(pn < 0, po, out[HIST_SIZE:]))
    return out
