"""Video-call galleries for tests and benchmarks, composed from the sample media, each frame with its truth.

Built on the engine's own `CallGallery` (the demo clip is one): a reorder gallery (3x3, reorders, a
camera off and back, a resize to 4x3), large 5x5 and 7x7 calls, a gallery of still pictures, and
16-face galleries, still or moving. Every sampled frame says which student is in which tile, so a
test or a benchmark can check that track IDs follow the students. Composed in memory (or written to
a temporary MP4 to add the codec's noise), never committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.call_gallery import (
    CallGallery,
    Layout,
    Student,
    TileTruth,
    multi_face_people,
    read_photo,
)
from engine.gallery import (
    BACKGROUND_BGR,
    TileAt,
    breathing,
    fit_into,
    looping,
    read_video_frames,
    still,
    tile_rects,
)
from models.assets import asset_path

PHOTOS = ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg",
          "45-m7-di-ph.jpg")


# --- frames and their truth ------------------------------------------------------------------

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


def call_frame(gallery: CallGallery, index: int, image: np.ndarray | None = None) -> CallFrame:
    """Frame `index` of `gallery` with its truth (`image`: the frame as read back, else rendered)."""
    t_s = index / gallery.fps
    return CallFrame(index, t_s, gallery.render(index) if image is None else image,
                     gallery.truth(index), gallery.layout_index(t_s))


def sample_indices(gallery: CallGallery, rate_hz: float, seconds: float) -> list[int]:
    """Frame indices a lesson sampling at `rate_hz` would take over `seconds`."""
    count = int(round(seconds * rate_hz))
    return sorted({int(round(j / rate_hz * gallery.fps)) for j in range(count)})


def sampled_frames(gallery: CallGallery, rate_hz: float, seconds: float) -> Iterator[CallFrame]:
    """The frames a lesson sampling at `rate_hz` sees, rendered without a codec."""
    for index in sample_indices(gallery, rate_hz, seconds):
        yield call_frame(gallery, index)


def read_back(gallery: CallGallery, path: Path, rate_hz: float) -> Iterator[CallFrame]:
    """The frames of a clip `gallery.write` made, as a lesson sampling at `rate_hz` sees them."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise RuntimeError(f"cannot open {path}")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    wanted = set(sample_indices(gallery, rate_hz, total / gallery.fps))
    index = 0
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                break
            if index in wanted:
                yield call_frame(gallery, index, image)
            index += 1
    finally:
        cap.release()


def through_codec(gallery: CallGallery, seconds: float, rate_hz: float, folder: Path) -> Iterator[CallFrame]:
    """The gallery written to an mp4v file and read back at `rate_hz`, as the demo clip is played."""
    path = folder / "gallery.mp4"
    gallery.write(path, seconds)
    yield from read_back(gallery, path, rate_hz)


def compose_gallery(images: Sequence[np.ndarray | None], grid: tuple[int, int],
                    size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """One gallery frame: each BGR image (None for an empty tile) fitted into its tile."""
    width, height = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = BACKGROUND_BGR
    for (x, y, w, h), image in zip(tile_rects(grid, size), images, strict=False):
        if image is not None:
            frame[y:y + h, x:x + w] = fit_into(image, w, h)
    return frame


def video_frame(path: Path, index: int) -> np.ndarray:
    """Frame `index` of a video file (BGR)."""
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise RuntimeError(f"cannot read frame {index} of {path}")
    return frame


# --- cameras ---------------------------------------------------------------------------------

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


# --- galleries -------------------------------------------------------------------------------

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
                  seconds_per_layout: float = 6.0, reorders: int = 2) -> CallGallery:
    """A side x side call of live cameras, fully reordered `reorders` times (1920x1080 by default).

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
    orders += [tuple(int(i) for i in rng.permutation(side * side)) for _ in range(reorders)]
    layouts = [Layout(i * seconds_per_layout, (side, side), order) for i, order in enumerate(orders)]
    return CallGallery(students, layouts, size, fps)


def moving_gallery_16(fps: float = 10.0) -> CallGallery:
    """A 4x4 call at 1280x720 of 16 live cameras whose tiles never move: the twelve people of the
    sample media (videos play, photos sway), four of them again mirrored in another light."""
    return large_gallery(4, fps, (1280, 720), reorders=0)


def still_gallery_16() -> np.ndarray:
    """One 4x4 frame at 1280x720 of 16 real faces: the five photos, two of them mirrored, and nine
    video frames. Repeated, it is a call of still pictures: the still-picture check reads every
    face as a camera that is off after 3 s."""
    photos = [read_photo(name) for name in PHOTOS]
    tiles = photos + [cv2.flip(photos[0], 1), cv2.flip(photos[2], 1)]
    tiles += [video_frame(asset_path("WolfgangLanger_Pexels.mp4"), i) for i in (0, 100, 200, 300, 400)]
    tiles += [video_frame(asset_path("single_face.mp4"), 10), video_frame(asset_path("single_face.mp4"), 60),
              video_frame(asset_path("face_noface.mov"), 5), video_frame(asset_path("noface_face.mov"), 160)]
    return compose_gallery(tiles, (4, 4), (1280, 720))


def still_gallery(fps: float = 10.0) -> CallGallery:
    """A 3x3 call of pictures: five profile photos, and four cameras that show a still picture
    full-tile (a frozen video, a poster held up): the talker's first frame and three photos."""
    frozen = video_frame(asset_path("WolfgangLanger_Pexels.mp4"), 0)
    photos = [read_photo(n) for n in PHOTOS]
    students = [Student(n, still(p), still_photo=True) for n, p in zip(PHOTOS, photos, strict=True)]
    students += [Student("frozen video", still(frozen)), Student("poster", still(photos[2])),
                 Student("poster 2", still(multi_face_people()[1])), Student("poster 3", still(photos[4]))]
    return CallGallery(students, [Layout(0.0, (3, 3), tuple(range(9)))], (1280, 720), fps)
