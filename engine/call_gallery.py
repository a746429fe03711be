"""A video-call gallery whose tiles move at known times, composed from the sample media.

A real call reorders its tiles (someone joins, leaves, speaks), resizes the grid, shows a still
profile photo for some students and a name on a dark tile for a camera that is off. `CallGallery`
renders such a call frame by frame and knows who is in which tile at every frame; the demo clip
(`engine.demo`) is one, written to MP4. The galleries that tests and benchmarks use are composed in
the test kit (`tests/kit/galleries.py`) from these parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from engine.gallery import BACKGROUND_BGR, TileAt, fit_into, tile_rects
from models.assets import asset_path

Rect = tuple[int, int, int, int]
NAME_TILE_BGR = (46, 44, 42)
PHOTO_TILE_BGR = (38, 38, 38)
PHOTO_FRACTION = 0.7  # a profile photo fills this share of its tile's height


class Shows(StrEnum):
    """What a tile shows at one moment."""

    CAMERA = "camera"  # a live camera
    PHOTO = "photo"  # a still profile photo (or a frozen video): a face, but no live student
    NAME = "name"  # camera off: the student's name on a dark tile, no face


@dataclass(frozen=True, slots=True)
class Student:
    """One participant: their camera (or still photo) and when their camera is off."""

    name: str
    camera: TileAt
    still_photo: bool = False  # the camera shows a profile photo: `camera(k)` never changes
    camera_off: tuple[tuple[float, float], ...] = ()  # [start, end) spans in seconds

    def shows(self, t_s: float) -> Shows:
        """What this student's tile shows at `t_s`."""
        if any(start <= t_s < end for start, end in self.camera_off):
            return Shows.NAME
        return Shows.PHOTO if self.still_photo else Shows.CAMERA


@dataclass(frozen=True, slots=True)
class Layout:
    """From `start_s` on: a (rows, cols) grid and the student (index) in each tile, row by row."""

    start_s: float
    grid: tuple[int, int]
    order: tuple[int, ...]

    def __post_init__(self) -> None:
        rows, cols = self.grid
        if len(self.order) > rows * cols:
            raise ValueError(f"{len(self.order)} students do not fit a {rows}x{cols} grid")
        if len(set(self.order)) != len(self.order):
            raise ValueError(f"a student is in two tiles at once: {self.order}")


@dataclass(frozen=True, slots=True)
class TileTruth:
    """Who is in one tile of one frame, and what the tile shows."""

    student: int
    name: str
    rect: Rect
    shows: Shows


def name_tile(name: str, width: int, height: int) -> np.ndarray:
    """A camera-off tile: the name in light text on a dark tile."""
    tile = np.empty((height, width, 3), np.uint8)
    tile[:] = NAME_TILE_BGR
    scale = max(0.4, height / 300)
    thickness = max(1, int(round(scale * 1.5)))
    (tw, th), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    org = ((width - tw) // 2, (height + th) // 2)
    cv2.putText(tile, name, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (225, 225, 225), thickness,
                cv2.LINE_AA)
    return tile


def photo_tile(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """A profile-photo tile: the photo, smaller than the tile, centred on a dark tile."""
    tile = np.empty((height, width, 3), np.uint8)
    tile[:] = PHOTO_TILE_BGR
    side = max(1, int(height * PHOTO_FRACTION))
    small = fit_into(photo, side, side)
    y, x = (height - side) // 2, (width - side) // 2
    tile[y:y + side, x:x + side] = small
    return tile


class CallGallery:
    """A gallery of students whose layout changes at known times; frames rendered on demand."""

    def __init__(self, students: Sequence[Student], layouts: Sequence[Layout],
                 size: tuple[int, int] = (1280, 720), fps: float = 10.0) -> None:
        if not layouts or layouts[0].start_s != 0.0:
            raise ValueError("the first layout must start at 0 s")
        if any(b.start_s <= a.start_s for a, b in zip(layouts, layouts[1:], strict=False)):
            raise ValueError("layouts must start at increasing times")
        for layout in layouts:
            if any(not 0 <= i < len(students) for i in layout.order):
                raise ValueError(f"layout at {layout.start_s} s names an unknown student")
        self.students = list(students)
        self.layouts = list(layouts)
        self.size = size
        self.fps = fps

    def layout_index(self, t_s: float) -> int:
        """Which layout is on screen at `t_s`."""
        return max(i for i, layout in enumerate(self.layouts) if layout.start_s <= t_s + 1e-9)

    def truth(self, index: int) -> tuple[TileTruth, ...]:
        """Who is in which tile at frame `index`."""
        t_s = index / self.fps
        layout = self.layouts[self.layout_index(t_s)]
        rects = tile_rects(layout.grid, self.size)
        return tuple(TileTruth(s, self.students[s].name, rect, self.students[s].shows(t_s))
                     for s, rect in zip(layout.order, rects, strict=False))

    def render(self, index: int) -> np.ndarray:
        """Frame `index` (at the gallery's fps), BGR; `truth(index)` says who is where."""
        width, height = self.size
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = BACKGROUND_BGR
        for tile in self.truth(index):
            x, y, w, h = tile.rect
            student = self.students[tile.student]
            if tile.shows is Shows.NAME:
                frame[y:y + h, x:x + w] = name_tile(student.name, w, h)
            elif tile.shows is Shows.PHOTO:
                frame[y:y + h, x:x + w] = photo_tile(student.camera(index), w, h)
            else:
                image = student.camera(index)
                if image is not None:
                    frame[y:y + h, x:x + w] = fit_into(image, w, h)
        return frame

    def write(self, path: Path, seconds: float) -> int:
        """Render every frame to an MP4 (mp4v, as the demo clip is); returns the frame count.

        Written beside `path` and moved there when complete, so a reader never finds half a clip.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.stem + ".part.mp4")
        writer = cv2.VideoWriter(str(part), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write MP4 files here ({part})")
        count = int(round(seconds * self.fps))
        try:
            for index in range(count):
                writer.write(self.render(index))
        except BaseException:
            writer.release()
            part.unlink(missing_ok=True)
            raise
        writer.release()
        part.replace(path)
        return count


# --- sample people ---------------------------------------------------------------------------

# Head-and-shoulders crops (x, y, w, h) of the five people in multi_face.jpg, one face each.
MULTI_FACE_CROPS: tuple[Rect, ...] = (
    (170, 0, 180, 260), (290, 150, 140, 290), (420, 150, 110, 240), (515, 230, 130, 290),
    (660, 210, 150, 300),
)


def read_photo(name: str) -> np.ndarray:
    """A sample photo (BGR) from the asset cache; one clear line when it was not fetched."""
    image = cv2.imread(str(asset_path(name)))
    if image is None:
        raise RuntimeError(f"cannot read sample photo {name}; run `python -m models fetch-assets`")
    return image


def multi_face_people() -> list[np.ndarray]:
    """The five people of multi_face.jpg, each cropped to head and shoulders."""
    group = read_photo("multi_face.jpg")
    return [group[y:y + h, x:x + w].copy() for x, y, w, h in MULTI_FACE_CROPS]
