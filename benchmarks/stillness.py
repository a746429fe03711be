"""Still tiles: how close live faces and still pictures come to the still-tile threshold.

    python -m benchmarks stillness [--rate 2] [--quick] [--json out.json]

Runs the real MediaPipe finder and the engine's own identity stage (`engine.identity`: tracker,
looks when needed, still-tile check), as a lesson runs them, over the live sample videos, the demo
clip and a reorder gallery (no live face may ever be flagged) and over still pictures
(`tests.kit.galleries.still_gallery`) shown as they are and re-encoded through the mp4v codec
(flagged after the warm-up), and prints how close each came to the threshold. The thresholds of
`engine.stillness` rest on it.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import cv2
import numpy as np

from benchmarks.media import LIVE_VIDEOS, new_finder, video_samples
from engine.call_gallery import CallGallery, Shows
from engine.demo import demo_gallery, make_demo
from engine.faces import FaceFinder, face_boxes
from engine.identity import IdentityStage
from engine.stillness import StillnessSettings, crop_difference, face_crop
from engine.tracking import TrackingSettings
from models.assets import asset_path
from tests.kit.galleries import read_back, reorder_gallery, sampled_frames, still_gallery, tile_at

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


def call_truth(gallery: CallGallery) -> Truth:
    """A composed call's truth: a profile photo is still from its first sample on, through every
    reorder and resize (a moved picture stays still: `StillnessDetector` compares it at its new
    place), every other face is live; a face in no tile is left out."""
    def truth(t_s: float, box: np.ndarray) -> tuple[bool, float] | None:
        tile = tile_at(gallery.truth(round(t_s * gallery.fps)), box)
        if tile is None:
            return None
        return (True, 0.0) if tile.shows is Shows.PHOTO else (False, 0.0)

    return truth


def measure_stillness(rate_hz: float, settings: StillnessSettings, quick: bool = False
                      ) -> list[StillnessTrace]:
    """One trace per source: the live videos, the demo clip, a reorder gallery and still pictures
    as shown and through the codec (`quick`: the live videos and the still pictures only)."""
    traces = []
    with tempfile.TemporaryDirectory() as tmp, new_finder() as finder:
        for name in LIVE_VIDEOS:
            frames = video_samples(asset_path(name), rate_hz)
            traces.append(stillness_trace(name, frames, live_truth, finder, settings))
        if not quick:
            traces.append(stillness_trace("demo clip (a profile photo, a reorder at 24 s)",
                                          video_samples(make_demo(), rate_hz), call_truth(demo_gallery()),
                                          finder, settings))
            moving = reorder_gallery()
            frames = ((f.t_s, f.image)
                      for f in sampled_frames(moving, rate_hz, moving.layouts[-1].start_s + 6.0))
            traces.append(stillness_trace("3x3 call, a profile photo, 5 reorders and a resize to 4x3",
                                          frames, call_truth(moving), finder, settings))
        gallery = still_gallery()
        seconds = 12.0
        frames = ((f.t_s, f.image) for f in sampled_frames(gallery, rate_hz, seconds))
        traces.append(stillness_trace("9 still pictures, as shown", frames, still_truth, finder, settings))
        path = Path(tmp) / "still.mp4"
        gallery.write(path, seconds)
        frames = ((f.t_s, f.image) for f in read_back(gallery, path, rate_hz))
        traces.append(stillness_trace("9 still pictures, via mp4v", frames, still_truth, finder, settings))
    return traces


def markdown(traces: list[StillnessTrace], rate_hz: float, s: StillnessSettings) -> str:
    """The still-tile table in Markdown."""
    lines = [f"## Still tiles at {rate_hz:g} Hz (unchanged: within {s.max_difference} of the "
             f"reference's contrast; still after {s.still_after_s:g} s unchanged)", "",
             "| source | live samples | live flagged | still samples after warm-up | "
             "still flagged | live window min | live step min | still window max | "
             "still step max |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in traces:
        share = f"{100 * t.still_flagged / t.still_samples:.1f} %" if t.still_samples else "-"
        lines.append(f"| {t.name} | {t.live_samples} | {t.live_flagged} | {t.still_samples} | "
                     f"{share} | {t.live_window_min:.3f} | {t.live_step_min:.3f} | "
                     f"{t.still_window_max:.3f} | {t.still_step_max:.3f} |")
    lines += ["", "window: per sighting, the largest difference between its crop and the same place "
              f"over the next {s.still_after_s:g} s (nan: the clip is shorter); a live face is "
              "never flagged while every window stays above the threshold, a still one is "
              "flagged while its windows stay under it. step: the difference to the next "
              "sample at the same place."]
    return "\n".join(lines)


@click.command()
@click.option("--rate", "rate_hz", default=2.0, show_default=True, help="Samples per second.")
@click.option("--quick", is_flag=True, help="The live videos and the still pictures only.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the results here.")
def main(rate_hz: float, quick: bool, json_path: Path | None) -> None:
    """Still-tile detector on live videos and on still pictures."""
    settings = StillnessSettings()
    traces = measure_stillness(rate_hz, settings, quick)
    click.echo(markdown(traces, rate_hz, settings))
    if json_path is not None:  # NaN (a clip shorter than the window) is written as null
        rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in asdict(t).items()}
                for t in traces]
        json_path.write_text(json.dumps({"rate_hz": rate_hz, "settings": asdict(settings),
                                         "sources": rows}, indent=2))


if __name__ == "__main__":
    main()
