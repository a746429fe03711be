"""Video-call galleries whose tiles move, composed from the sample media, each frame with its truth.

A real call reorders its tiles (someone joins, leaves, speaks), resizes the grid (3x3 to 4x3 moves
every tile), shows a still profile photo for some students and a name on a dark tile for a camera
that is off. These galleries do all of that at known times, and every frame says which student is
in which tile, so tests and `engine.bench_identity` can check that track IDs follow the students.
Composed in memory (or written to a temporary MP4 to add the codec's noise), never committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from engine.gallery import TileAt, breathing, fit_into, looping, read_video_frames, tile_rects
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


@dataclass(frozen=True, slots=True)
class CallFrame:
    """One composed frame and its truth."""

    index: int
    t_s: float
    image: np.ndarray
    tiles: tuple[TileTruth, ...]
    layout: int  # which of the gallery's layouts is on screen

    def tile_at(self, box: Sequence[float]) -> TileTruth | None:
        """The tile holding an x, y, w, h box's centre, or None (the gap between tiles)."""
        return tile_at(self.tiles, box)


def tile_at(tiles: Sequence[TileTruth], box: Sequence[float]) -> TileTruth | None:
    """Of one frame's tiles, the one holding an x, y, w, h box's centre, or None (a gap)."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    for tile in tiles:
        x, y, w, h = tile.rect
        if x <= cx < x + w and y <= cy < y + h:
            return tile
    return None


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

    def render(self, index: int) -> CallFrame:
        """Frame `index` (at the gallery's fps) with its truth."""
        t_s = index / self.fps
        width, height = self.size
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = (32, 32, 32)
        tiles = self.truth(index)
        for tile in tiles:
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
        return CallFrame(index, t_s, frame, tiles, self.layout_index(t_s))

    def sample_indices(self, rate_hz: float, seconds: float) -> list[int]:
        """Frame indices a lesson sampling at `rate_hz` would take over `seconds`."""
        count = int(round(seconds * rate_hz))
        return sorted({int(round(j / rate_hz * self.fps)) for j in range(count)})

    def frames(self, rate_hz: float, seconds: float) -> Iterator[CallFrame]:
        """The frames a lesson sampling at `rate_hz` sees, rendered without a codec."""
        for index in self.sample_indices(rate_hz, seconds):
            yield self.render(index)

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
                writer.write(self.render(index).image)
        except BaseException:
            writer.release()
            part.unlink(missing_ok=True)
            raise
        writer.release()
        part.replace(path)
        return count

    def read_back(self, path: Path, rate_hz: float) -> Iterator[CallFrame]:
        """The frames of a clip `write` made, as a lesson sampling at `rate_hz` sees them, with truth."""
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise RuntimeError(f"cannot open {path}")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        wanted = set(self.sample_indices(rate_hz, total / self.fps))
        index = 0
        try:
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                if index in wanted:
                    t_s = index / self.fps
                    yield CallFrame(index, t_s, image, self.truth(index), self.layout_index(t_s))
                index += 1
        finally:
            cap.release()


# --- sample people ---------------------------------------------------------------------------

PHOTOS = ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg",
          "45-m7-di-ph.jpg")
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


def varied(at: TileAt, *, mirror: bool = False, zoom: float = 1.0,
           gains_bgr: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> TileAt:
    """Another camera look for a source: mirrored, closer (a centre crop) and another white balance."""
    gains = np.array(gains_bgr, np.float32)

    def at_varied(k: int) -> np.ndarray | None:
        image = at(k)
        if image is None:
            return None
        if zoom != 1.0:
            h, w = image.shape[:2]
            ch, cw = int(h / zoom), int(w / zoom)
            y0, x0 = (h - ch) // 2, (w - cw) // 2
            image = image[y0:y0 + ch, x0:x0 + cw]
        if mirror:
            image = cv2.flip(image, 1)
        if not np.all(gains == 1.0):
            image = np.clip(image.astype(np.float32) * gains, 0, 255).astype(np.uint8)
        return image

    return at_varied


def sample_cameras(fps: float) -> dict[str, TileAt]:
    """Every distinct person of the sample media as a live camera (videos play, photos sway)."""
    cameras: dict[str, TileAt] = {
        "talker": looping(read_video_frames(asset_path("WolfgangLanger_Pexels.mp4"), fps)),
        "nodder": looping(read_video_frames(asset_path("single_face.mp4"), fps)),
    }
    for i, name in enumerate(PHOTOS):
        cameras[name.removesuffix(".jpg")] = breathing(read_photo(name), fps, 1.1 * i)
    for i, person in enumerate(multi_face_people()):
        cameras[f"group-{i + 1}"] = breathing(person, fps, 0.7 + 0.9 * i)
    return cameras


def still(image: np.ndarray) -> TileAt:
    """A camera that shows the same picture at every frame (a profile photo)."""
    return lambda k: image


# The reorder gallery's timeline, in seconds.
REORDER_SECONDS = 52.0
# Permutation, swap, permutation, resize (three join), permutation, one leaves as another joins.
REORDER_TIMES = (8.0, 16.0, 22.0, 30.0, 40.0, 46.0)
CAMERA_OFF = (12.0, 20.0)  # one student's camera is off here; their tile moves at 16 s meanwhile


def reorder_gallery(fps: float = 10.0, size: tuple[int, int] = (1280, 720)) -> CallGallery:
    """A 3x3 call whose tiles reorder, that grows to 4x3 when three students join, then reorders;
    at last one student leaves as a newcomer joins and takes their tile.

    Nine tiles at first: seven live cameras, one still profile photo (a student on the photo of
    group member 5) and one student whose camera is on, then off for 8 s (a name tile), then on.
    The newcomer is group member 5 on camera: the photo's person, live, in a tile of their own.
    """
    cameras = sample_cameras(fps)
    live = ["talker", "nodder", "single_face", "0-f1-su-ph", "0-f15-hao-ph", "15-f13-anc-ph",
            "45-m7-di-ph", "group-1", "group-2", "group-3", "group-4"]
    students = [Student(name, cameras[name]) for name in live[:7]]
    students.append(Student("photo", still(multi_face_people()[4]), still_photo=True))
    students.append(Student("Camera Off", cameras["group-1"], camera_off=(CAMERA_OFF,)))
    students += [Student(name, cameras[name]) for name in live[8:]]  # join at the resize
    students.append(Student("group-5", cameras["group-5"]))  # joins as the nodder leaves
    first = tuple(range(9))
    layouts = [
        Layout(0.0, (3, 3), first),
        Layout(REORDER_TIMES[0], (3, 3), (4, 0, 7, 2, 8, 6, 1, 5, 3)),  # many tiles at once
        Layout(REORDER_TIMES[1], (3, 3), (1, 0, 7, 2, 8, 6, 4, 5, 3)),  # a speaker to the front
        Layout(REORDER_TIMES[2], (3, 3), (8, 5, 3, 1, 6, 0, 2, 4, 7)),
        Layout(REORDER_TIMES[3], (3, 4), (8, 5, 3, 1, 6, 0, 2, 4, 7, 9, 10, 11)),  # three join
        Layout(REORDER_TIMES[4], (3, 4), (10, 2, 0, 11, 7, 4, 9, 1, 5, 3, 8, 6)),
        Layout(REORDER_TIMES[5], (3, 4), (10, 2, 0, 11, 7, 4, 9, 12, 5, 3, 8, 6)),
    ]
    return CallGallery(students, layouts, size, fps)


def large_gallery(side: int, fps: float = 10.0, size: tuple[int, int] = (1920, 1080),
                  seconds_per_layout: float = 6.0) -> CallGallery:
    """A side x side call at 1920x1080 of live cameras, fully reordered twice.

    The sample media hold twelve people; to fill 25 or 49 tiles each appears several times with
    another camera look (mirrored, closer, another white balance), as different rooms and webcams
    would show different students.
    """
    cameras = sample_cameras(fps)
    names = list(cameras)
    looks = [dict(), dict(mirror=True, gains_bgr=(0.8, 1.0, 1.25)),
             dict(zoom=1.3, gains_bgr=(1.25, 1.05, 0.8)), dict(mirror=True, zoom=1.3, gains_bgr=(1.0, 0.8, 1.0)),
             dict(gains_bgr=(0.7, 0.7, 0.7))]
    students = []
    for k in range(side * side):
        name, look = names[k % len(names)], looks[k // len(names)]
        students.append(Student(f"{name}/{k // len(names)}", varied(cameras[name], **look)))
    rng = np.random.default_rng(side)
    orders = [tuple(range(side * side))]
    orders += [tuple(int(i) for i in rng.permutation(side * side)) for _ in range(2)]
    layouts = [Layout(i * seconds_per_layout, (side, side), order) for i, order in enumerate(orders)]
    return CallGallery(students, layouts, size, fps)
