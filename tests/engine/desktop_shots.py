"""Composed screenshots of a teacher's desktop showing a video-call gallery, with where the gallery is.

A desktop (gradient, blurred photo wallpaper or flat colour, with icons, a taskbar and a document
window as decoys), a call window (with or without a title bar and border, with a controls bar) and
in it a gallery: equal tiles of real photos and video frames, camera-off tiles with a name, on a dark
or light background, a partly filled last row centred or left-aligned, square or rounded corners.

`python -m tests.engine.desktop_shots [--cases 200]` runs the grid finder over many random desktops
and prints its worst-case error in pixels.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, int, int, int]
RGB = tuple[int, int, int]

SCREENS = [(1280, 720), (1366, 768), (1600, 900), (1920, 1080), (2560, 1440)]
DARK_BACKGROUNDS: list[RGB] = [(26, 26, 26), (32, 33, 36), (0, 0, 0), (36, 36, 36), (17, 24, 39)]
LIGHT_BACKGROUNDS: list[RGB] = [(243, 242, 241), (255, 255, 255), (230, 232, 236), (248, 249, 250)]
NAMES = ["Ada L.", "Ben K.", "Chloe M.", "Dev P.", "Emma S.", "Farid H.", "Grace O.", "Hugo T.",
         "Ines R.", "Jonas W."]


@dataclass(frozen=True)
class DesktopSpec:
    """What to draw; every unnamed choice (positions, colours, photos) comes from `seed`."""

    grid: tuple[int, int]  # rows, cols
    screen: tuple[int, int] = (1920, 1080)  # width, height
    tiles: int | None = None  # fewer than rows × cols: the last row is partly filled
    gap_px: int = 6
    aspect: float = 16 / 9
    background: RGB = (26, 26, 26)
    window_frame: bool = True
    desktop: str = "gradient"  # gradient | wallpaper | flat
    camera_off: tuple[int, ...] = ()  # tile indices shown as a name on a flat colour
    invisible_camera_off: bool = False  # camera-off tiles drawn in the background's own colour
    last_row: str = "centre"  # centre | left
    rounded_px: int = 0
    window_share: float = 0.8  # the call window's share of the work area (1.0: full screen)
    with_call: bool = True  # False: the desktop alone, no call window
    seed: int = 0


@dataclass(frozen=True)
class ComposedDesktop:
    """The screenshot (RGB) and the truth: the tiles' bounding box and the grid's shape."""

    image: np.ndarray
    gallery: Box
    shape: tuple[int, int]
    tiles: list[Box] = field(default_factory=list)


def _light(colour: RGB) -> bool:
    return sum(colour) > 3 * 128


def _shift(colour: RGB, by: int) -> RGB:
    return tuple(int(np.clip(c + by, 0, 255)) for c in colour)  # type: ignore[return-value]


def _cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale and centre-crop an image to fill width × height, as call apps fill a tile with video."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x, y = (nw - width) // 2, (nh - height) // 2
    return resized[y:y + height, x:x + width]


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: RGB, thick: int = 1) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def _desktop(spec: DesktopSpec, rng: np.random.Generator, photos: Sequence[np.ndarray]) -> np.ndarray:
    width, height = spec.screen
    if spec.desktop == "wallpaper":
        wall = _cover(photos[int(rng.integers(len(photos)))], width, height)
        return cv2.GaussianBlur(wall, (0, 0), 4)
    top = rng.integers(0, 256, 3)
    if spec.desktop == "flat":
        img = np.empty((height, width, 3), np.uint8)
        img[:] = top
        return img
    bottom = rng.integers(0, 256, 3)
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    column = (top * (1 - t) + bottom * t).astype(np.uint8)
    return np.repeat(column, width, axis=1)


def _decoys(img: np.ndarray, rng: np.random.Generator) -> int:
    """Desktop icons (equal squares on a lattice), a taskbar with equal buttons, a document window;
    returns the taskbar's height."""
    height, width = img.shape[:2]
    for i in range(int(rng.integers(3, 7))):  # icons: 72 px squares, 28 px apart, with labels
        x, y = 16, 16 + i * 100
        if y + 90 > height - 60:
            break
        cv2.rectangle(img, (x, y), (x + 71, y + 71), tuple(int(v) for v in rng.integers(40, 220, 3)), -1)
        _text(img, f"file{i}.pdf", (x, y + 86), 0.35, (250, 250, 250))
    bar_h = int(rng.integers(36, 49))
    bar = tuple(int(v) for v in rng.integers(10, 70, 3))
    cv2.rectangle(img, (0, height - bar_h), (width - 1, height - 1), bar, -1)
    for i in range(8):
        x = 60 + i * 52
        cv2.rectangle(img, (x, height - bar_h + 4), (x + 47, height - 5), _shift(bar, 30), -1)
    dw, dh = int(width * rng.uniform(0.3, 0.45)), int(height * rng.uniform(0.4, 0.6))
    dx, dy = int(rng.integers(width // 3, width - dw)), int(rng.integers(0, height - bar_h - dh))
    cv2.rectangle(img, (dx, dy), (dx + dw, dy + dh), (252, 252, 252), -1)
    cv2.rectangle(img, (dx, dy), (dx + dw, dy + 28), (222, 225, 230), -1)
    for line in range(dy + 44, dy + dh - 12, 18):
        cv2.line(img, (dx + 20, line), (dx + int(dw * rng.uniform(0.5, 0.9)), line), (120, 120, 120), 2)
    return bar_h


def _layout(spec: DesktopSpec, area: Box) -> tuple[int, int, list[Box]]:
    """Tile size and tile rectangles of the gallery centred in `area` (x, y, w, h)."""
    rows, cols = spec.grid
    n = spec.tiles or rows * cols
    ax, ay, aw, ah = area
    gap = spec.gap_px
    tw = (aw - (cols - 1) * gap) // cols
    th = round(tw / spec.aspect)
    if rows * th + (rows - 1) * gap > ah:
        th = (ah - (rows - 1) * gap) // rows
        tw = round(th * spec.aspect)
    grid_w, grid_h = cols * tw + (cols - 1) * gap, rows * th + (rows - 1) * gap
    x0, y0 = ax + (aw - grid_w) // 2, ay + (ah - grid_h) // 2
    tiles = []
    for i in range(n):
        r, c = divmod(i, cols)
        in_row = min(cols, n - r * cols)
        offset = (cols - in_row) * (tw + gap) // 2 if spec.last_row == "centre" else 0
        tiles.append((x0 + offset + c * (tw + gap), y0 + r * (th + gap), tw, th))
    return tw, th, tiles


def _tile(spec: DesktopSpec, rng: np.random.Generator, photo: np.ndarray | None, size: tuple[int, int],
          name: str) -> np.ndarray:
    tw, th = size
    light = _light(spec.background)
    if photo is None:  # camera off: a flat colour, initials in a circle, the name
        colour = spec.background if spec.invisible_camera_off else _shift(
            spec.background, int(rng.integers(10, 29)) * (-1 if light else 1))
        tile = np.empty((th, tw, 3), np.uint8)
        tile[:] = colour
        radius = max(6, min(tw, th) // 6)
        cv2.circle(tile, (tw // 2, th // 2 - radius // 2), radius,
                   tuple(int(v) for v in rng.integers(60, 200, 3)), -1, cv2.LINE_AA)
        _text(tile, name, (max(2, tw // 2 - 4 * len(name)), min(th - 4, th // 2 + radius + 14)),
              0.4, (40, 40, 40) if light else (235, 235, 235))
        return tile
    tile = _cover(photo, tw, th).copy()
    label_w, label_h = min(tw - 4, 10 + 8 * len(name)), min(th // 4, 20)
    label = tile[th - label_h - 4:th - 4, 4:4 + label_w]
    label[:] = (label * 0.4).astype(np.uint8)  # the name on a dark, see-through label
    _text(tile, name, (8, th - 9), 0.4, (255, 255, 255))
    return tile


def _paste(img: np.ndarray, tile: np.ndarray, box: Box, rounded_px: int) -> None:
    x, y, w, h = box
    if rounded_px <= 0:
        img[y:y + h, x:x + w] = tile
        return
    r = min(rounded_px, w // 4, h // 4)
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (r, 0), (w - 1 - r, h - 1), 255, -1)
    cv2.rectangle(mask, (0, r), (w - 1, h - 1 - r), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1, cv2.LINE_AA)
    a = (mask.astype(np.float32) / 255.0)[..., None]
    under = img[y:y + h, x:x + w].astype(np.float32)
    img[y:y + h, x:x + w] = (under * (1 - a) + tile.astype(np.float32) * a + 0.5).astype(np.uint8)


def compose_desktop(spec: DesktopSpec, photos: Sequence[np.ndarray]) -> ComposedDesktop:
    """Draw the desktop with the call window and its gallery; RGB photos fill the video tiles."""
    rng = np.random.default_rng(spec.seed)
    width, height = spec.screen
    img = _desktop(spec, rng, photos)
    bar_h = _decoys(img, rng)
    if not spec.with_call:
        return ComposedDesktop(img, (0, 0, 0, 0), (0, 0))
    work_h = height - bar_h
    ww, wh = round(width * spec.window_share), round(work_h * spec.window_share)
    wx = int(rng.integers(0, width - ww + 1))
    wy = int(rng.integers(0, work_h - wh + 1))
    light = _light(spec.background)
    cx, cy, cw, ch = wx, wy, ww, wh
    if spec.window_frame:
        border = (190, 190, 190) if light else (70, 70, 72)
        title = _shift(spec.background, -18 if light else 14)
        cv2.rectangle(img, (wx, wy), (wx + ww - 1, wy + wh - 1), border, -1)
        cv2.rectangle(img, (wx + 1, wy + 1), (wx + ww - 2, wy + 30), title, -1)
        for i, dot in enumerate([(237, 106, 94), (245, 191, 79), (98, 197, 84)]):
            cv2.circle(img, (wx + 16 + 20 * i, wy + 16), 6, dot, -1, cv2.LINE_AA)
        _text(img, "Maths 7B - Meeting", (wx + ww // 2 - 70, wy + 21), 0.45,
              (30, 30, 30) if light else (220, 220, 220))
        cx, cy, cw, ch = wx + 1, wy + 31, ww - 2, wh - 32
    img[cy:cy + ch, cx:cx + cw] = spec.background
    controls_h = int(rng.integers(48, 65))
    controls = _shift(spec.background, -12 if light else 12)
    img[cy + ch - controls_h:cy + ch, cx:cx + cw] = controls
    for i in range(6):
        bx = cx + cw // 2 + (i - 3) * 60
        cv2.circle(img, (bx + 30, cy + ch - controls_h // 2), 16, _shift(controls, 40 if not light else -40),
                   -1, cv2.LINE_AA)
    pad = int(rng.integers(4, 17))
    area = (cx + pad, cy + pad, cw - 2 * pad, ch - controls_h - 2 * pad)
    tw, th, rects = _layout(spec, area)
    order = rng.permutation(len(photos))
    for i, box in enumerate(rects):
        photo = None if i in spec.camera_off else photos[order[i % len(photos)]]
        if photo is not None and rng.random() < 0.3:
            photo = photo[:, ::-1]  # a mirrored self-view
        _paste(img, _tile(spec, rng, photo, (tw, th), NAMES[i % len(NAMES)]), box, spec.rounded_px)
    if 0 not in spec.camera_off:  # the active speaker's highlight: 3 px inside the first tile
        x, y, w, h = rects[0]
        inner = img[y + 3:y + h - 3, x + 3:x + w - 3].copy()
        img[y:y + h, x:x + w] = (35, 209, 96)
        img[y + 3:y + h - 3, x + 3:x + w - 3] = inner
    left, top = min(r[0] for r in rects), min(r[1] for r in rects)
    right, bottom = max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects)
    return ComposedDesktop(img, (left, top, right - left, bottom - top), spec.grid, rects)


def edge_error_px(found: Box, truth: Box) -> int:
    """The largest distance between corresponding edges of two boxes."""
    fx, fy, fw, fh = found
    tx, ty, tw, th = truth
    return max(abs(fx - tx), abs(fy - ty), abs(fx + fw - tx - tw), abs(fy + fh - ty - th))


SHAPES: list[tuple[tuple[int, int], int | None]] = [
    ((2, 2), None), ((3, 3), None), ((4, 4), None), ((5, 5), None), ((6, 6), None), ((7, 7), None),
    ((3, 4), None), ((4, 3), None), ((3, 3), 7), ((4, 4), 13), ((2, 3), 5), ((5, 5), 22),
]
GAPS = [2, 3, 4, 6, 8, 10, 12]
MIN_TILE = (64, 36)  # GridSettings' smallest tile


def standard_specs() -> list[tuple[str, DesktopSpec]]:
    """The fixed test set: every shape twice (dark with a window frame, light without), with screen
    size, gap, tile aspect, desktop, camera-off tiles and corners varied across the set."""
    specs = []
    for i, (grid, tiles) in enumerate(SHAPES):
        for j, dark in enumerate((True, False)):
            k = 2 * i + j
            rng = np.random.default_rng(1000 + k)
            n = tiles or grid[0] * grid[1]
            backgrounds = DARK_BACKGROUNDS if dark else LIGHT_BACKGROUNDS
            spec = DesktopSpec(
                grid=grid, tiles=tiles, screen=SCREENS[k % len(SCREENS)], gap_px=GAPS[k % len(GAPS)],
                aspect=16 / 9 if k % 3 else 4 / 3, background=backgrounds[k % len(backgrounds)],
                window_frame=dark, desktop=("gradient", "wallpaper", "flat")[k % 3],
                camera_off=tuple(int(v) for v in rng.choice(n, size=min(2, n - 2), replace=False)),
                invisible_camera_off=k % 5 == 4, last_row="centre" if k % 4 < 2 else "left",
                rounded_px=(0, 0, 8)[k % 3], window_share=(0.85, 1.0, 0.65, 0.75)[k % 4], seed=k)
            theme = "dark-framed" if dark else "light-frameless"
            name = f"{grid[0]}x{grid[1]}{'-' + str(tiles) if tiles else ''}-{theme}-{spec.screen[0]}"
            specs.append((name, spec))
    return specs


def random_spec(seed: int) -> DesktopSpec:
    """One random desktop from everything the composer can vary."""
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(2, 8)), int(rng.integers(2, 8))
    n = rows * cols
    tiles = int(rng.integers(n - cols + 1, n)) if rng.random() < 0.3 else None
    count = tiles or n
    dark = rng.random() < 0.6
    backgrounds = DARK_BACKGROUNDS if dark else LIGHT_BACKGROUNDS
    # A tile in the background's own colour cannot be seen: at most one, and only where two full
    # rows remain, so that the gallery's edges still show.
    invisible = bool(rng.random() < 0.2) and (tiles is None or rows >= 3)
    off = int(rng.integers(0, 2 if invisible else 3))
    return DesktopSpec(
        grid=(rows, cols), tiles=tiles, screen=SCREENS[int(rng.integers(len(SCREENS)))],
        gap_px=int(rng.integers(2, 13)), aspect=16 / 9 if rng.random() < 0.6 else 4 / 3,
        background=backgrounds[int(rng.integers(len(backgrounds)))], window_frame=bool(rng.random() < 0.5),
        desktop=("gradient", "wallpaper", "flat")[int(rng.integers(3))],
        camera_off=tuple(int(v) for v in rng.choice(count, size=off, replace=False)),
        invisible_camera_off=invisible, last_row="centre" if rng.random() < 0.6 else "left",
        rounded_px=int(rng.choice([0, 0, 6, 12])), window_share=float(rng.uniform(0.6, 1.0)), seed=seed)


def sample_photos(asset_path: Callable[[str], Path] | None = None) -> list[np.ndarray]:
    """RGB photos and video frames of faces from the verified sample media."""
    import matplotlib.cbook as cbook
    from skimage import data

    if asset_path is None:
        from models.assets import asset_path

    photos = [cv2.imread(str(asset_path(n))) for n in
              ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")]
    photos.append(cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))))
    photos = [cv2.cvtColor(p, cv2.COLOR_BGR2RGB) for p in photos]
    photos.append(data.astronaut())
    for name, index in (("WolfgangLanger_Pexels.mp4", 100), ("single_face.mp4", 30)):
        cap = cv2.VideoCapture(str(asset_path(name)))
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        cap.release()
        if ok:
            photos.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return photos


def main() -> None:
    from engine.grid_finder import find_gallery

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="resize each screenshot (display scaling: 1.25 blurs every tile edge)")
    args = parser.parse_args()
    photos = sample_photos()
    errors, missed, too_small = [], [], 0
    cases = [(n, s) for n, s in standard_specs()]
    cases += [(f"random-{seed}", random_spec(seed))
              for seed in range(args.first_seed, args.first_seed + args.cases)]
    for name, spec in cases:
        shot = compose_desktop(spec, photos)
        if shot.tiles[0][2] < MIN_TILE[0] or shot.tiles[0][3] < MIN_TILE[1]:
            too_small += 1  # the finder leaves tiles too small for faces alone, by design
            continue
        image, truth = shot.image, shot.gallery
        if args.scale != 1.0:
            height, width = image.shape[:2]
            size = (round(width * args.scale), round(height * args.scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
            truth = tuple(round(v * args.scale) for v in truth)
        grid = find_gallery(image)
        if grid is None or grid.shape != shot.shape:
            missed.append((name, None if grid is None else grid.shape, shot.shape))
            continue
        errors.append((edge_error_px(grid.region, truth), name))
    errors.sort(reverse=True)
    print(f"{len(cases)} desktops, {too_small} with tiles under {MIN_TILE[0]}x{MIN_TILE[1]} px left out: "
          f"{len(errors)} found with the right shape, {len(missed)} not")
    if errors:
        values = np.array([e for e, _ in errors])
        print(f"edge error px: worst {values.max()} ({errors[0][1]}), mean {values.mean():.2f}, "
              f"exact {int((values == 0).sum())}, <=1 {int((values <= 1).sum())}, <=4 {int((values <= 4).sum())}")
    for name, got, want in missed:
        print(f"  missed {name}: found {got}, truth {want}")


if __name__ == "__main__":
    main()
