"""Still-tile figures: how close live faces and still tiles come to the still-tile threshold.

    python -m engine.bench_stillness [--rate 2]    (the same as `python -m engine.bench_identity stillness`)

The faces go through the engine's own identity stage (`engine.identity`: tracker, looks when
needed, still-tile check), as a lesson runs them.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import cv2
import numpy as np

from engine.bench_identity import LIVE_VIDEOS, START, new_finder
from engine.call_gallery import (
    PHOTOS,
    CallGallery,
    Layout,
    Student,
    multi_face_people,
    read_photo,
    still,
)
from engine.faces import FaceFinder, face_boxes
from engine.identity import IdentityStage
from engine.stillness import StillnessSettings, crop_difference, face_crop
from engine.tracking import TrackingSettings
from models.assets import asset_path

# --- stillness ---------------------------------------------------------------------------------

# What a face is, by the source's truth: (still, since when) or None to leave it out.
Truth = Callable[[float, np.ndarray], tuple[bool, float] | None]


def live_truth(t_s: float, box: np.ndarray) -> tuple[bool, float]:
    return False, 0.0


def still_truth(t_s: float, box: np.ndarray) -> tuple[bool, float]:
    return True, 0.0


@dataclass(frozen=True, slots=True)
class StillnessTrace:
    """One source's faces, tracked: what the still-tile detector said, and how close it came."""

    name: str
    live_samples: int  # sightings of live faces
    live_flagged: int  # ... flagged still: must be 0
    still_samples: int  # sightings of still faces at least `still_after_s` into their stillness
    still_flagged: int  # ... flagged still: should be nearly all
    live_window_min: float  # the smallest window difference of a live face (see below)
    still_window_max: float  # the largest window difference of a still face
    live_step_min: float  # the smallest difference of a live face to the next sample, same place
    still_step_max: float  # the largest such difference of a still face


def _window_differences(track: list[tuple[float, np.ndarray]], grey_at: dict[float, np.ndarray],
                        s: StillnessSettings) -> list[tuple[float, float | None, float | None]]:
    """(t, window, step) per sighting. Window: the largest difference between its crop and the
    frames at its place up to the first sample `still_after_s` later (the detector flags a face
    only when one of these stays within the threshold); None when the clip ends sooner. Step: the
    difference to the next sample at its place."""
    times = sorted(grey_at)
    out = []
    for t0, box in track:
        ref = face_crop(grey_at[t0], box, s.crop_px)
        later = [t for t in times if t > t0]
        if ref is None or not later:
            continue
        diffs = [crop_difference(ref, c, s.min_contrast) if (c := face_crop(grey_at[t], box, s.crop_px))
                 is not None else np.inf for t in later]
        end = next((i for i, t in enumerate(later) if t - t0 >= s.still_after_s), None)
        out.append((t0, None if end is None else max(diffs[:end + 1]), diffs[0]))
    return out


def stillness_trace(name: str, frames: Iterable[tuple[float, np.ndarray]], truth: Truth,
                    finder: FaceFinder, settings: StillnessSettings) -> StillnessTrace:
    """Track the faces of (t_s, BGR frame) samples and run the still-tile detector on them."""
    stage = IdentityStage(TrackingSettings(), settings)
    finder.reset()
    tracks: dict[int, list[tuple[float, np.ndarray]]] = defaultdict(list)
    kinds: dict[tuple[int, float], tuple[bool, float] | None] = {}
    grey_at: dict[float, np.ndarray] = {}
    first_seen: dict[int, float] = {}
    live = live_flagged = still_n = still_flagged = 0
    for t_s, image in frames:
        faces = finder.find(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), t_s)
        boxes = face_boxes(faces)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        grey_at[t_s] = grey
        result = stage.update(image, grey, boxes, t_s)
        flags = [tid in result.still for tid in result.update.ids]
        for track_id, box, flagged in zip(result.update.ids, boxes, flags, strict=True):
            first_seen.setdefault(track_id, t_s)
            kind = truth(t_s, box)
            tracks[track_id].append((t_s, box))
            kinds[track_id, t_s] = kind
            if kind is None:
                continue
            is_still, since_s = kind
            if not is_still:
                live += 1
                live_flagged += flagged
            elif t_s - max(since_s, first_seen[track_id]) >= settings.still_after_s:
                still_n += 1
                still_flagged += flagged
    windows: dict[bool, list[float]] = {True: [], False: []}
    steps: dict[bool, list[float]] = {True: [], False: []}
    for track_id, track in tracks.items():
        for t0, window, step in _window_differences(track, grey_at, settings):
            kind = kinds[track_id, t0]
            if kind is None:
                continue
            is_still = kind[0] and t0 >= kind[1]
            if window is not None:
                windows[is_still].append(window)
            steps[is_still].append(step)
    nan = float("nan")
    return StillnessTrace(name, live, live_flagged, still_n, still_flagged,
                          min(windows[False], default=nan), max(windows[True], default=nan),
                          min(steps[False], default=nan), max(steps[True], default=nan))


def video_samples(path: Path, rate_hz: float) -> Iterator[tuple[float, np.ndarray]]:
    from engine.sources import VideoFileSource

    source = VideoFileSource(path, rate_hz, START)
    try:
        for frame in source.frames():
            yield frame.t_s, frame.image
    finally:
        source.close()


def still_gallery(fps: float = 10.0) -> CallGallery:
    """A 3x3 call of pictures: five profile photos, and four cameras that show a still picture
    full-tile (a frozen video, a poster held up): the talker's first frame and three photos."""
    cap = cv2.VideoCapture(str(asset_path("WolfgangLanger_Pexels.mp4")))
    ok, frozen = cap.read()
    cap.release()
    if not ok:
        raise click.ClickException("cannot read WolfgangLanger_Pexels.mp4")
    photos = [read_photo(n) for n in PHOTOS]
    students = [Student(n, still(p), still_photo=True) for n, p in zip(PHOTOS, photos, strict=True)]
    students += [Student("frozen video", still(frozen)), Student("poster", still(photos[2])),
                 Student("poster 2", still(multi_face_people()[1])), Student("poster 3", still(photos[4]))]
    return CallGallery(students, [Layout(0.0, (3, 3), tuple(range(9)))], (1280, 720), fps)


def call_truth(gallery: CallGallery) -> Truth:
    """A composed call's truth: a profile photo is still from its first sample on, through every
    reorder and resize (a moved picture stays still: `StillnessDetector` compares it at its new
    place), every other face is live; a face in no tile is left out."""
    from engine.call_gallery import Shows, tile_at

    def truth(t_s: float, box: np.ndarray) -> tuple[bool, float] | None:
        tile = tile_at(gallery.truth(round(t_s * gallery.fps)), box)
        if tile is None:
            return None
        return (True, 0.0) if tile.shows is Shows.PHOTO else (False, 0.0)

    return truth


def measure_stillness(rate_hz: float, settings: StillnessSettings) -> list[StillnessTrace]:
    from engine.call_gallery import reorder_gallery
    from engine.demo import demo_gallery, make_demo

    traces = []
    with tempfile.TemporaryDirectory() as tmp, new_finder() as finder:
        for name in LIVE_VIDEOS:
            frames = video_samples(asset_path(name), rate_hz)
            traces.append(stillness_trace(name, frames, live_truth, finder, settings))
        traces.append(stillness_trace("demo clip (a profile photo, a reorder at 24 s)",
                                      video_samples(make_demo(), rate_hz), call_truth(demo_gallery()),
                                      finder, settings))
        moving = reorder_gallery()
        frames = ((f.t_s, f.image) for f in moving.frames(rate_hz, moving.layouts[-1].start_s + 6.0))
        traces.append(stillness_trace("3x3 call, a profile photo, 5 reorders and a resize to 4x3", frames,
                                      call_truth(moving), finder, settings))
        gallery = still_gallery()
        seconds = 12.0
        frames = ((f.t_s, f.image) for f in gallery.frames(rate_hz, seconds))
        traces.append(stillness_trace("9 still pictures, as shown", frames, still_truth, finder, settings))
        path = Path(tmp) / "still.mp4"
        gallery.write(path, seconds)
        frames = ((f.t_s, f.image) for f in gallery.read_back(path, rate_hz))
        traces.append(stillness_trace("9 still pictures, via mp4v", frames, still_truth, finder, settings))
    return traces


@click.command()
@click.option("--rate", "rate_hz", default=2.0, show_default=True, help="Samples per second.")
def main(rate_hz: float) -> None:
    """Still-tile detector on live videos and on still pictures."""
    from engine.bench_identity import print_stillness

    print_stillness(rate_hz)


if __name__ == "__main__":
    main()
