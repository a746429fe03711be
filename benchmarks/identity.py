"""Identity through layout changes: the share of students that keep their track ID, and ID swaps.

    python -m benchmarks identity [--rate 2] [--quick] [--lossless] [--json out.json]

Runs the real MediaPipe finder and the engine's own identity stage (`engine.identity`: tracker,
looks only when needed, still-tile crops) over the reorder gallery (3x3, reorders, a camera off and
back, resize to 4x3) and the 5x5 and 7x7 galleries at 1920x1080 (`tests.kit.galleries`), each
through the mp4v codec, and prints the share of students that keep their ID and the IDs given to
two students (swaps), beside the same detections tracked with a look at every sample and by
position alone (the tracker without looks). The engine's stage is the first row, with the share of
samples where it computed the looks, and the still-tile crop difference that makes that stage
compute them: a live student between two samples at the same place, against another student who
took that place (a reorder). The thresholds of `engine.tracking` and `engine.stillness` rest on it.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import cv2
import numpy as np

from benchmarks.media import new_finder
from engine.appearance import describe
from engine.boxes import iou
from engine.call_gallery import CallGallery
from engine.faces import FaceFinder, face_boxes
from engine.identity import IdentityStage
from engine.stillness import StillnessSettings, crop_difference, face_crop
from engine.tracking import Tracker, TrackingSettings
from tests.kit.galleries import (
    REORDER_SECONDS,
    CallFrame,
    large_gallery,
    reorder_gallery,
    sampled_frames,
    through_codec,
)


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
            frames = (sampled_frames(gallery, rate_hz, seconds) if lossless
                      else through_codec(gallery, seconds, rate_hz, Path(tmp)))
            detected = detect_call(frames, finder, keep_frames=True)
            staged, looked = stage_detected(detected)
            results.append((name, looked, doubt_differences(detected), identity_score(staged),
                            identity_score(track_detected(detected)),
                            identity_score(track_detected(detected, use_looks=False))))
    return results


def markdown(results: list, rate_hz: float, lossless: bool = False) -> str:
    """The identity table and the still-tile crop differences, in Markdown."""
    how = "composed losslessly, as a screen capture" if lossless else "via mp4v"
    lines = [f"## Identity through layout changes at {rate_hz:g} Hz (real MediaPipe, {how})", "",
             "| gallery | tracker | students | keep one ID | layout changes crossed | "
             "ID kept there | ID swaps |",
             "|---|---|---:|---:|---:|---:|---:|"]
    doubts = []
    for name, looked, doubt, *scores in results:
        doubts.append((name, *doubt))
        for label, r in zip(IDENTITY_ROWS, scores, strict=True):
            if label == IDENTITY_ROWS[0]:
                label = f"{label}: looks at {100 * looked:.0f} % of samples"
            lines.append(f"| {name} | {label} | {r.students} | {r.kept_students}/{r.students} "
                         f"({r.kept_pct:.1f} %) | {r.changes_crossed} | {r.changes_kept_pct:.1f} % | {r.swaps} |")
    limit = StillnessSettings().max_same_face_difference
    lines += ["", "keep one ID: students seen under a single track ID from first to last sighting. "
              "ID swaps: track IDs that were given to two or more students (must be 0).", "",
              f"Still-tile crop difference between samples at a face's place (looks computed above "
              f"{limit}):", "",
              "| gallery | same student: n | p50 | p99 | max | over the limit | another student: n | min | "
              "p1 | under the limit |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def q(values: list[float], p: float) -> str:
        return f"{np.percentile(values, p):.3f}" if values else "-"

    for name, same, other in doubts:
        lines.append(f"| {name} | {len(same)} | {q(same, 50)} | {q(same, 99)} | {q(same, 100)} | "
                     f"{sum(v > limit for v in same)} | {len(other)} | {q(other, 0)} | {q(other, 1)} | "
                     f"{sum(v <= limit for v in other)} |")
    return "\n".join(lines)


def as_json(results: list) -> list[dict[str, object]]:
    """The results as plain data: per gallery, the looks share, each row's score and the differences."""
    return [{"gallery": name, "looks_share": looked,
             "same_student_differences": same, "other_student_differences": other,
             "scores": {label: asdict(score) for label, score in zip(IDENTITY_ROWS, scores, strict=True)}}
            for name, looked, (same, other), *scores in results]


@click.command()
@click.option("--rate", "rate_hz", default=2.0, show_default=True, help="Samples per second.")
@click.option("--quick", is_flag=True, help="The reorder gallery only.")
@click.option("--lossless", is_flag=True, help="Frames as composed, without the codec.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the results here.")
def main(rate_hz: float, quick: bool, lossless: bool, json_path: Path | None) -> None:
    """Share of students keeping their ID through reorders and resizes, and ID swaps."""
    results = measure_identity(rate_hz, quick, lossless)
    click.echo(markdown(results, rate_hz, lossless))
    if json_path is not None:
        json_path.write_text(json.dumps({"rate_hz": rate_hz, "lossless": lossless,
                                         "galleries": as_json(results)}, indent=2))


if __name__ == "__main__":
    main()
