"""Find the gallery: where a video-call app draws its tile grid in a screenshot.

Call apps (Zoom, Teams, Meet, Webex, Jitsi) draw the gallery as equal rectangles on one flat
background colour, dark or light, with gaps of a few pixels between them. So: for each of the
screenshot's most common exact colours, the pixels that are not that colour fall apart into
connected pieces; a gallery's tiles are pieces of one size whose positions form a lattice with a
uniform gap. The best such lattice (most tile area) is the gallery. A camera-off tile drawn in the
background's own colour, or a dark video edge that melts into it, is simply a missing tile: the
lattice is fitted on the others. When nothing fits, `find_gallery` returns None and the caller can
frame the faces instead (`faces_bounding_region`).

Pure numpy and OpenCV on an RGB array; no face model. Coordinates are the screenshot's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True, slots=True)
class GridSettings:
    """How the search decides what a gallery is; the defaults fit every call app we know of."""

    colour_tolerance: int = 3  # per channel: flat UI colours are exact, colour management is not
    candidate_colours: int = 8  # most common colours tried as the gallery's background
    min_colour_share: float = 0.002  # a background covers at least this share of the screen
    min_tile_width: int = 64  # below about this a face in the tile is too small to analyse
    min_tile_height: int = 36
    min_fill: float = 0.5  # share of a tile's rectangle not in the background colour
    size_tolerance: float = 0.04  # tiles of one grid differ by rounding only
    max_gap_px: int = 40  # widest gap between tiles (call apps use 2-16 px) ...
    max_gap_share: float = 0.3  # ... and at most this share of the tile (desktop icons sit further apart)
    gap_tolerance_px: int = 2  # gaps of one grid are uniform to within this
    min_tiles: int = 2
    min_filled_share: float = 0.5  # of the grid's cells, at least this many show as tiles


@dataclass(frozen=True, slots=True)
class GalleryGrid:
    """The gallery found: its region, its shape, and the tiles that showed."""

    x: int
    y: int
    width: int
    height: int
    rows: int
    cols: int
    tile_width: int
    tile_height: int
    gap_x: int
    gap_y: int
    background_rgb: tuple[int, int, int]
    tiles: tuple[Box, ...]

    @property
    def region(self) -> Box:
        return (self.x, self.y, self.width, self.height)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.rows, self.cols)


def background_candidates(image: np.ndarray, settings: GridSettings = GridSettings()) -> list[tuple[int, int, int]]:
    """The most common exact colours (on every other pixel, which still samples a 2-px gap)."""
    sample = np.ascontiguousarray(image[::2, ::2, :3]).astype(np.uint32)
    packed = (sample[..., 0] << 16) | (sample[..., 1] << 8) | sample[..., 2]
    colours, counts = np.unique(packed.ravel(), return_counts=True)
    order = np.argsort(counts)[::-1][:settings.candidate_colours]
    least = settings.min_colour_share * packed.size
    return [(int(c >> 16) & 255, int(c >> 8) & 255, int(c) & 255)
            for c, n in zip(colours[order], counts[order], strict=True) if n >= least]


def tile_pieces(image: np.ndarray, background: tuple[int, int, int],
                settings: GridSettings = GridSettings()) -> list[Box]:
    """Bounding boxes of the tile-sized pieces left when the background colour is taken away."""
    tol = settings.colour_tolerance
    lo = np.array([max(0, c - tol) for c in background], np.uint8)
    hi = np.array([min(255, c + tol) for c in background], np.uint8)
    not_background = cv2.bitwise_not(cv2.inRange(np.ascontiguousarray(image[..., :3]), lo, hi))
    _, _, stats, _ = cv2.connectedComponentsWithStats(not_background, connectivity=4)
    x, y, w, h, area = (stats[1:, i] for i in range(5))
    height, width = image.shape[:2]
    keep = ((w >= settings.min_tile_width) & (h >= settings.min_tile_height)
            & (area >= settings.min_fill * w * h) & (w <= 0.98 * width) & (h <= 0.98 * height)
            & (w <= 4 * h) & (h <= 4 * w))
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in zip(x[keep], y[keep], w[keep], h[keep],
                                                                   strict=True)]


def _same_size_groups(boxes: Sequence[Box], settings: GridSettings, most: int = 4) -> list[list[Box]]:
    """Groups of boxes of one size, largest groups first."""
    if not boxes:
        return []
    wh = np.array([(b[2], b[3]) for b in boxes], float)
    tol = np.maximum(3.0, settings.size_tolerance * wh)
    close = (np.abs(wh[:, None, 0] - wh[None, :, 0]) <= tol[:, None, 0]) & \
            (np.abs(wh[:, None, 1] - wh[None, :, 1]) <= tol[:, None, 1])
    order = sorted(range(len(boxes)), key=lambda i: (-int(close[i].sum()), -wh[i, 0] * wh[i, 1]))
    groups: list[list[Box]] = []
    seen: set[frozenset[int]] = set()
    for i in order:
        members = frozenset(np.flatnonzero(close[i]).tolist())
        if len(members) < settings.min_tiles or members in seen:
            continue
        seen.add(members)
        groups.append([boxes[j] for j in sorted(members)])
        if len(groups) == most:
            break
    return groups


def _chain(starts: Sequence[int], size: float, gap: float | None, settings: GridSettings) -> list[list[int]]:
    """Split sorted positions into runs that step by size + a uniform gap (a missing tile allowed).

    With `gap` None, only neighbours one tile apart link, and any gap up to max_gap_px is accepted.
    """
    runs: list[list[int]] = [[0]] if starts else []
    for i in range(1, len(starts)):
        step = starts[i] - starts[i - 1]
        linked = False
        if gap is None:
            linked = -settings.gap_tolerance_px <= step - size <= _max_gap(size, settings)
        else:
            pitch = size + gap
            k = round(step / pitch)
            # over k tiles, rounding (tiles of 318.75 px drawn 318 and 319 wide) adds up a little
            linked = k >= 1 and abs(step - k * pitch) <= settings.gap_tolerance_px + 0.01 * (k - 1) * pitch
        if linked:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _rows(boxes: Sequence[Box], tile_h: float) -> list[list[Box]]:
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b[1], b[0])):
        if rows and box[1] - rows[-1][0][1] <= tile_h / 2:
            rows[-1].append(box)
        else:
            rows.append([box])
    return [sorted(row) for row in rows]


def _max_gap(size: float, settings: GridSettings) -> float:
    return min(settings.max_gap_px, settings.max_gap_share * size)


def _gap(steps: Sequence[float], size: float, settings: GridSettings) -> float | None:
    """The uniform gap: the one most steps between neighbouring tiles agree on.

    Steps of one tile come first; only without any, a step over k missing tiles gives
    step / k - size (k is unambiguous because a tile is wider than the widest gap).
    """
    limit = _max_gap(size, settings)
    gaps = [s - size for s in steps if -settings.gap_tolerance_px <= s - size <= limit]
    if not gaps:
        for step in steps:
            k = next((k for k in range(2, 8) if -settings.gap_tolerance_px <= step / k - size <= limit), None)
            if k is not None:
                gaps.append(step / k - size)
    if not gaps:
        return None
    values = np.array(gaps)
    support = (np.abs(values[:, None] - values[None, :]) <= settings.gap_tolerance_px).sum(axis=1)
    mode = values[support == support.max()].min()
    return float(np.median(values[np.abs(values - mode) <= settings.gap_tolerance_px]))


def fit_lattice(boxes: Sequence[Box], background: tuple[int, int, int] = (0, 0, 0),
                settings: GridSettings = GridSettings()) -> GalleryGrid | None:
    """The largest grid of equal tiles with uniform gaps among same-size boxes, or None."""
    tile_w = float(np.median([b[2] for b in boxes]))
    tile_h = float(np.median([b[3] for b in boxes]))
    rows = _rows(boxes, tile_h)
    gap_x = _gap([b[0] - a[0] for row in rows for a, b in zip(row, row[1:], strict=False)], tile_w, settings)
    kept_rows: list[list[Box]] = []
    for row in rows:  # in each row, the longest run of tiles on a lattice
        runs = _chain([b[0] for b in row], tile_w, gap_x, settings)
        kept_rows.append([row[i] for i in max(runs, key=len)])
    row_tops = [float(np.median([b[1] for b in row])) for row in kept_rows]
    gap_y = _gap(np.diff(row_tops).tolist(), tile_h, settings)
    runs = _chain(row_tops, tile_h, gap_y, settings)
    best = max(runs, key=lambda run: sum(len(kept_rows[i]) for i in run))
    tiles = [b for i in best for b in kept_rows[i]]
    if len(tiles) < settings.min_tiles:
        return None
    left, top = min(b[0] for b in tiles), min(b[1] for b in tiles)
    right, bottom = max(b[0] + b[2] for b in tiles), max(b[1] + b[3] for b in tiles)
    gx = 0.0 if gap_x is None else gap_x
    gy = 0.0 if gap_y is None else gap_y
    cols = max(1, round((right - left + gx) / (tile_w + gx)))
    n_rows = max(1, round((bottom - top + gy) / (tile_h + gy)))
    if len(tiles) < settings.min_filled_share * cols * n_rows:
        return None
    return GalleryGrid(left, top, right - left, bottom - top, n_rows, cols, round(tile_w), round(tile_h),
                       round(gx), round(gy), background, tuple(sorted(tiles, key=lambda b: (b[1], b[0]))))


def find_gallery(image: np.ndarray, settings: GridSettings = GridSettings()) -> GalleryGrid | None:
    """The call app's tile grid in an RGB screenshot (region and rows × cols), or None when there is none."""
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"expected an RGB image of shape (height, width, 3), got {image.shape}")
    best: GalleryGrid | None = None
    best_area = 0
    for colour in background_candidates(image, settings):
        for group in _same_size_groups(tile_pieces(image, colour, settings), settings):
            grid = fit_lattice(group, colour, settings)
            if grid is None:
                continue
            area = len(grid.tiles) * grid.tile_width * grid.tile_height
            if area > best_area:
                best, best_area = grid, area
    return best


def faces_bounding_region(boxes: Sequence[Box], margin: float = 1.0,
                          screen_size: tuple[int, int] | None = None, min_size: tuple[int, int] = (160, 120)
                          ) -> Box | None:
    """The region around all faces, for when no grid is found: their union grown by `margin` face
    sizes (a tile is about three faces wide), at least `min_size`, kept on a (width, height) screen."""
    if not boxes:
        return None
    face = max(max(b[2], b[3]) for b in boxes)
    pad = margin * face
    x0 = min(b[0] for b in boxes) - pad
    y0 = min(b[1] for b in boxes) - pad
    x1 = max(b[0] + b[2] for b in boxes) + pad
    y1 = max(b[1] + b[3] for b in boxes) + pad
    if x1 - x0 < min_size[0]:
        grow = (min_size[0] - (x1 - x0)) / 2
        x0, x1 = x0 - grow, x1 + grow
    if y1 - y0 < min_size[1]:
        grow = (min_size[1] - (y1 - y0)) / 2
        y0, y1 = y0 - grow, y1 + grow
    if screen_size is not None:
        width, height = screen_size
        x0, x1 = _clip_span(x0, x1, width)
        y0, y1 = _clip_span(y0, y1, height)
    left, top = int(np.floor(x0)), int(np.floor(y0))
    return (left, top, int(np.ceil(x1)) - left, int(np.ceil(y1)) - top)


def _clip_span(lo: float, hi: float, limit: int) -> tuple[float, float]:
    """Shift a span back onto [0, limit] keeping its length where it fits, else clip it."""
    if hi - lo >= limit:
        return 0.0, float(limit)
    if lo < 0:
        lo, hi = 0.0, hi - lo
    if hi > limit:
        lo, hi = lo - (hi - limit), float(limit)
    return lo, hi
