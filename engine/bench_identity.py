"""Identity and stillness figures: the measurements the tracker's and the still-tile thresholds rest on.

    python -m engine.bench_identity stillness [--rate 2]
    python -m engine.bench_identity identity [--rate 2] [--quick] [--lossless]
    python -m engine.bench_identity speed
    python -m engine.bench_identity all

`stillness` runs the real MediaPipe finder, the tracker and the still-tile detector over the live
sample videos and the demo clip (no face may ever be flagged) and over still photo tiles shown as
they are and re-encoded through the mp4v codec (flagged after the warm-up), and prints how close
each came to the threshold. `identity` runs them over the reorder gallery (3x3, reorders, a camera
off and back, resize to 4x3) and the 5x5 and 7x7 galleries at 1920x1080, each through the codec,
and prints the share of students that keep their ID and the IDs given to two students (swaps),
beside the same detections tracked with a look at every sample and by position alone (the tracker
without looks); the engine's own stage (`engine.identity`, looks only when needed) is the first row,
with the share of samples where it computed the looks, and the still-tile crop difference that
makes that stage compute them: a live student between two samples at the same place, against
another student who took that place (a reorder).
`speed` times the appearance cue and the still-tile check per face at 49 faces.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import cv2
import numpy as np

from engine.appearance import describe
from engine.boxes import iou
from engine.call_gallery import (
    REORDER_SECONDS,
    CallFrame,
    CallGallery,
    large_gallery,
    reorder_gallery,
)
from engine.faces import FaceFinder, FaceSettings, face_boxes
from engine.identity import IdentityStage
from engine.stillness import StillnessDetector, StillnessSettings, crop_difference, face_crop
from engine.tracking import Tracker, TrackingSettings
from models.assets import asset_path

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LIVE_VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")


def new_finder() -> FaceFinder:
    """The real MediaPipe finder as a gallery lesson runs it (up to 60 faces)."""
    return FaceFinder(asset_path("face_landmarker.task"), FaceSettings(max_faces=60))


# --- identity ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TrackedSample:
    """One sample's faces: (student in that tile or None, track ID) per face, and the layout."""

    t_s: float
    layout: int
    faces: tuple[tuple[int | None, int], ...]


@dataclass(frozen=True, slots=True)
class IdentityScore:
    """How well track IDs followed the students through a gallery's layout changes."""

    students: int
    kept_students: int  # seen with one single ID from first to last sighting
    changes_crossed: int  # (student, layout change) pairs seen on both sides of the change
    changes_kept: int  # ... with the same ID on both sides
    swaps: int  # track IDs given to two or more students: must be 0
    unplaced: int  # faces whose centre lay in no tile

    @property
    def kept_pct(self) -> float:
        return 100.0 * self.kept_students / self.students if self.students else 100.0

    @property
    def changes_kept_pct(self) -> float:
        return 100.0 * self.changes_kept / self.changes_crossed if self.changes_crossed else 100.0


@dataclass(frozen=True, slots=True)
class DetectedSample:
    """One frame's faces as the finder gave them, with their looks and their tiles' students."""

    t_s: float
    layout: int
    students: tuple[int | None, ...]
    boxes: np.ndarray
    looks: np.ndarray
    image: np.ndarray | None = None  # the frame, kept for `stage_detected`
    grey: np.ndarray | None = None


def detect_call(frames: Iterable[CallFrame], finder: FaceFinder, *,
                keep_frames: bool = False) -> list[DetectedSample]:
    """Find and describe the faces of each frame; pair each face with its tile's student."""
    finder.reset()
    out = []
    for frame in frames:
        boxes = face_boxes(finder.find(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB), frame.t_s))
        students = tuple(None if (tile := frame.tile_at(box)) is None else tile.student
                         for box in boxes)
        grey = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY) if keep_frames else None
        out.append(DetectedSample(frame.t_s, frame.layout, students, boxes,
                                  describe(frame.image, boxes), frame.image if keep_frames else None, grey))
    return out


def stage_detected(detected: Iterable[DetectedSample],
                   settings: TrackingSettings | None = None) -> tuple[list[TrackedSample], float]:
    """Detected faces (with their frames kept) through the engine's identity stage; and the share of
    samples at which it computed the looks."""
    stage = IdentityStage(settings or TrackingSettings(), StillnessSettings())
    out, looked = [], 0
    for d in detected:
        update = stage.update(d.image, d.grey, d.boxes, d.t_s).update
        looked += update.looked
        out.append(TrackedSample(d.t_s, d.layout, tuple(zip(d.students, update.ids, strict=True))))
    return out, looked / max(1, len(out))


def track_detected(detected: Iterable[DetectedSample], settings: TrackingSettings | None = None,
                   *, use_looks: bool = True) -> list[TrackedSample]:
    """Track detected faces, with their looks or (as before looks existed) by position alone."""
    tracker = Tracker(settings or TrackingSettings())
    out = []
    for d in detected:
        update = tracker.update(d.boxes, d.t_s, d.looks if use_looks else None)
        out.append(TrackedSample(d.t_s, d.layout, tuple(zip(d.students, update.ids, strict=True))))
    return out


def track_call(frames: Iterable[CallFrame], finder: FaceFinder,
               settings: TrackingSettings | None = None) -> list[TrackedSample]:
    """Find and track the faces of each frame as the engine does (`engine.identity`: looks when
    needed, still-tile crops); pair each face with its tile's student."""
    return stage_detected(detect_call(frames, finder, keep_frames=True), settings)[0]




def identity_score(samples: list[TrackedSample]) -> IdentityScore:
    """Score tracked samples against the gallery's truth."""
    ids_of: dict[int, list[tuple[float, int, int]]] = defaultdict(list)  # student: (t, layout, id)
    students_of: dict[int, set[int]] = defaultdict(set)
    unplaced = 0
    for sample in samples:
        for student, track_id in sample.faces:
            if student is None:
                unplaced += 1
                continue
            ids_of[student].append((sample.t_s, sample.layout, track_id))
            students_of[track_id].add(student)
    crossed = kept = 0
    for sightings in ids_of.values():
        for (_, layout_a, id_a), (_, layout_b, id_b) in zip(sightings, sightings[1:], strict=False):
            if layout_b != layout_a:
                crossed += 1
                kept += id_a == id_b
    return IdentityScore(
        students=len(ids_of),
        kept_students=sum(1 for s in ids_of.values() if len({i for _, _, i in s}) == 1),
        changes_crossed=crossed, changes_kept=kept,
        swaps=sum(1 for students in students_of.values() if len(students) > 1),
        unplaced=unplaced,
    )


def through_codec(gallery: CallGallery, seconds: float, rate_hz: float, folder: Path) -> Iterator[CallFrame]:
    """The gallery written to an mp4v file and read back at `rate_hz`, as the demo clip is played."""
    path = folder / "gallery.mp4"
    gallery.write(path, seconds)
    yield from gallery.read_back(path, rate_hz)


def identity_galleries(quick: bool = False) -> list[tuple[str, CallGallery, float]]:
    """(name, gallery, seconds) of the galleries `identity` measures."""
    galleries = [("reorder 3x3 -> 4x3, 1280x720", reorder_gallery(), REORDER_SECONDS)]
    if not quick:
        galleries += [(f"{n}x{n}, 1920x1080", large_gallery(n), 18.0) for n in (5, 7)]
    return galleries


def doubt_differences(detected: list[DetectedSample], settings: StillnessSettings | None = None
                      ) -> tuple[list[float], list[float]]:
    """Still-tile crop differences (`engine.stillness`) between consecutive samples at each face's
    earlier place: where the same student is still there, and where another student took it."""
    s = settings or StillnessSettings()
    same: list[float] = []
    other: list[float] = []
    for before, now in itertools.pairwise(detected):
        for box, student in zip(before.boxes, before.students, strict=True):
            ref, current = face_crop(before.grey, box, s.crop_px), face_crop(now.grey, box, s.crop_px)
            if student is None or ref is None or current is None:
                continue
            there = _student_at(now, box)
            if there is None:
                continue
            (same if there == student else other).append(crop_difference(ref, current, s.min_contrast))
    return same, other


def _student_at(sample: DetectedSample, box: np.ndarray) -> int | None:
    """The student of the face of `sample` that overlaps `box` most (None: no face there)."""
    if not len(sample.boxes):
        return None
    overlap = iou(np.asarray([box], float), sample.boxes)[0]
    best = int(np.argmax(overlap))
    return sample.students[best] if overlap[best] > 0.3 else None


IDENTITY_ROWS = ("engine (looks when needed)", "looks at every sample", "positions only")


def measure_identity(rate_hz: float, quick: bool = False, lossless: bool = False
                     ) -> list[tuple[str, float, tuple[list[float], list[float]], IdentityScore,
                                     IdentityScore, IdentityScore]]:
    """Per gallery: its name, the share of samples at which the engine's stage computed looks, the
    `doubt_differences`, and the scores of the rows in IDENTITY_ROWS."""
    results = []
    with tempfile.TemporaryDirectory() as tmp, new_finder() as finder:
        for name, gallery, seconds in identity_galleries(quick):
            frames = (gallery.frames(rate_hz, seconds) if lossless
                      else through_codec(gallery, seconds, rate_hz, Path(tmp)))
            detected = detect_call(frames, finder, keep_frames=True)
            staged, looked = stage_detected(detected)
            results.append((name, looked, doubt_differences(detected), identity_score(staged), identity_score(track_detected(detected)),
                            identity_score(track_detected(detected, use_looks=False))))
    return results


# --- speed -------------------------------------------------------------------------------------

def _best_ms(fn: Callable[[int], object], repeats: int, batches: int = 10) -> float:
    """The fastest of `batches` batches of calls, per call in ms: on a shared machine the minimum is
    the figure that other processes disturb least."""
    fn(0)  # warm-up
    best = float("inf")
    for _ in range(batches):
        t0 = time.perf_counter()
        for r in range(repeats):
            fn(r)
        best = min(best, (time.perf_counter() - t0) * 1000 / repeats)
    return best


def measure_speed(repeats: int = 5) -> dict[str, float]:
    """Per-face cost (ms, best of several batches) of the appearance cue and the still-tile check at 49 faces in a
    1920x1080 gallery and at one webcam face; and of a tracker update with looks at 49 faces."""
    gallery = large_gallery(7)
    frames = [gallery.render(k).image for k in (0, 5)]
    cap = cv2.VideoCapture(str(asset_path("WolfgangLanger_Pexels.mp4")))
    webcam = [cap.read()[1] for _ in range(2)]
    cap.release()
    with new_finder() as finder:
        boxes = [face_boxes(finder.find(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))) for f in frames]
        one = [face_boxes(finder.find(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))) for f in webcam]
    n = len(boxes[0])
    out: dict[str, float] = {"faces": n}
    out["appearance_ms_per_face"] = _best_ms(lambda r: describe(frames[r % 2], boxes[r % 2]), repeats) / n
    out["appearance_ms_one_webcam_face"] = _best_ms(lambda r: describe(webcam[r % 2], one[r % 2]), repeats)
    detector = StillnessDetector(StillnessSettings())
    ids = list(range(1, n + 1))
    greys = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    clock = itertools.count()  # sample times must only grow, across batches too
    out["stillness_ms_per_face"] = _best_ms(
        lambda r: detector.update(ids, boxes[0], greys[r % 2], 0.5 * next(clock)), repeats) / n
    tracker = Tracker(TrackingSettings())
    looks = [describe(f, b) for f, b in zip(frames, boxes, strict=True)]
    out["tracker_update_ms"] = _best_ms(
        lambda r: tracker.update(boxes[0], 0.5 * next(clock), looks[r % 2]), repeats)
    return out


# --- CLI ---------------------------------------------------------------------------------------

def print_stillness(rate_hz: float) -> None:
    """The still-tile table (`engine.bench_stillness.measure_stillness`) in Markdown."""
    from engine.bench_stillness import measure_stillness  # it builds on this module's helpers

    s = StillnessSettings()
    click.echo(f"## Still tiles at {rate_hz:g} Hz (unchanged: within {s.max_difference} of the "
               f"reference's contrast; still after {s.still_after_s:g} s unchanged)\n")
    click.echo("| source | live samples | live flagged | still samples after warm-up | "
               "still flagged | live window min | live step min | still window max | "
               "still step max |")
    click.echo("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in measure_stillness(rate_hz, s):
        share = f"{100 * t.still_flagged / t.still_samples:.1f} %" if t.still_samples else "-"
        click.echo(f"| {t.name} | {t.live_samples} | {t.live_flagged} | {t.still_samples} | "
                   f"{share} | {t.live_window_min:.3f} | {t.live_step_min:.3f} | "
                   f"{t.still_window_max:.3f} | {t.still_step_max:.3f} |")
    click.echo("\nwindow: per sighting, the largest difference between its crop and the same place "
               f"over the next {s.still_after_s:g} s (nan: the clip is shorter); a live face is "
               "never flagged while every window stays above the threshold, a still one is "
               "flagged while its windows stay under it. step: the difference to the next "
               "sample at the same place.\n")


def _print_identity(rate_hz: float, quick: bool, lossless: bool = False) -> None:
    how = "composed losslessly, as a screen capture" if lossless else "via mp4v"
    click.echo(f"## Identity through layout changes at {rate_hz:g} Hz (real MediaPipe, {how})\n")
    click.echo("| gallery | tracker | students | keep one ID | layout changes crossed | "
               "ID kept there | ID swaps |")
    click.echo("|---|---|---:|---:|---:|---:|---:|")
    doubts = []
    for name, looked, doubt, *scores in measure_identity(rate_hz, quick, lossless):
        doubts.append((name, *doubt))
        for label, r in zip(IDENTITY_ROWS, scores, strict=True):
            if label == IDENTITY_ROWS[0]:
                label = f"{label}: looks at {100 * looked:.0f} % of samples"
            click.echo(f"| {name} | {label} | {r.students} | {r.kept_students}/{r.students} "
                       f"({r.kept_pct:.1f} %) | {r.changes_crossed} | {r.changes_kept_pct:.1f} % | {r.swaps} |")
    click.echo("\nkeep one ID: students seen under a single track ID from first to last sighting. "
               "ID swaps: track IDs that were given to two or more students (must be 0).\n")
    limit = StillnessSettings().max_same_face_difference
    click.echo(f"Still-tile crop difference between samples at a face's place (looks computed above "
               f"{limit}):\n")
    click.echo("| gallery | same student: n | p50 | p99 | max | over the limit | another student: n | min | "
               "p1 | under the limit |")
    click.echo("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, same, other in doubts:
        def q(values: list[float], p: float) -> str:
            return f"{np.percentile(values, p):.3f}" if values else "-"
        click.echo(f"| {name} | {len(same)} | {q(same, 50)} | {q(same, 99)} | {q(same, 100)} | "
                   f"{sum(v > limit for v in same)} | {len(other)} | {q(other, 0)} | {q(other, 1)} | "
                   f"{sum(v <= limit for v in other)} |")
    click.echo()


def _print_speed() -> None:
    r = measure_speed()
    click.echo(f"## Cost at {r['faces']:g} faces, 1920x1080 (best of 10 batches, one core)\n")
    click.echo(f"appearance cue {r['appearance_ms_per_face']:.3f} ms/face "
               f"(one 640x360 webcam face: {r['appearance_ms_one_webcam_face']:.3f} ms), "
               f"still-tile check {r['stillness_ms_per_face']:.3f} ms/face, "
               f"tracker update with looks {r['tracker_update_ms']:.2f} ms\n")


@click.group()
def main() -> None:
    """Measure identity keeping and still-tile detection on real sample media."""


@main.command("stillness")
@click.option("--rate", "rate_hz", default=2.0, show_default=True, help="Samples per second.")
def stillness_command(rate_hz: float) -> None:
    """Still-tile detector on live videos and on still pictures."""
    print_stillness(rate_hz)


@main.command("identity")
@click.option("--rate", "rate_hz", default=2.0, show_default=True, help="Samples per second.")
@click.option("--quick", is_flag=True, help="The reorder gallery only.")
@click.option("--lossless", is_flag=True, help="Frames as composed, without the codec.")
def identity_command(rate_hz: float, quick: bool, lossless: bool) -> None:
    """Share of students keeping their ID through reorders and resizes, and ID swaps."""
    _print_identity(rate_hz, quick, lossless)


@main.command("speed")
def speed_command() -> None:
    """Per-face cost of the appearance cue and the still-tile check."""
    _print_speed()


@main.command("all")
@click.option("--rate", "rate_hz", default=2.0, show_default=True, help="Samples per second.")
def all_command(rate_hz: float) -> None:
    """Every measurement."""
    print_stillness(rate_hz)
    _print_identity(rate_hz, quick=False)
    _print_speed()


if __name__ == "__main__":
    main()
