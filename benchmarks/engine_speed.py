"""Engine speed: per-stage medians for one face at 640x480, a 16-face gallery at 1280x720, and the
large galleries: 5x5 (25 tiles) and 7x7 (49 tiles) at 1920x1080.

    python -m benchmarks engine [--frames 40] [--large/--no-large] [--ahead-frames 0] [--soak-minutes 0]
                                [--json out.json]

Frames are processed as a 2 Hz lesson would (t advances 0.5 s per frame), so the finder's discovery
passes (every 2 s) are counted at their real share, all with the default settings (face limit 50).
The 16-face gallery is one still frame (`tests.kit.galleries.still_gallery_16`), repeated: it
measures what the finder saves by keeping unchanged faces' landmarks, beside the same frames with
every face landmarked. The large galleries are `tests.kit.galleries.large_gallery`: the sample
media's live cameras, every tile moving (videos play, photos sway) and the whole gallery reordered
every 6 s, so the tracker's layout changes are counted too; each table says how many faces were
found per sample. The soak run replays the demo clip at 2 Hz for the given lesson minutes and
reports the resident memory at its start and end. The classify-ahead check compares the
expressions the pipeline kept from its early guess with the exact crop's, beside the noise between
MediaPipe's two landmark modes.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import click
import cv2
import numpy as np

from benchmarks.media import START, lesson_frames, one_face_frames
from engine.expressions import load_expression_model
from engine.faces import FaceFinder, FaceSettings
from engine.pipeline import EngineSettings, LessonPipeline
from engine.runtime import limit_malloc_arenas
from engine.sources import Frame
from models.assets import asset_path
from tests.kit.galleries import large_gallery, sampled_frames, still_gallery_16

LARGE_SIDES = (5, 7)  # the large galleries: 5x5 and 7x7 tiles at 1920x1080
# cpu: the process's CPU time for the sample, every thread (MediaPipe's, torch's) counted: at 1 Hz,
# cpu_ms / 10 is the percentage of one core the engine keeps busy.
STAGES = ("detect_ms", "landmarks_ms", "tracking_ms", "crops_ms", "classifier_ms", "features_ms", "write_ms",
          "total_ms", "cpu_ms")


def large_gallery_frames(side: int, count: int) -> list[np.ndarray]:
    """`count` samples at 2 Hz of a side x side call at 1920x1080 (`tests.kit.galleries.large_gallery`)."""
    return [frame.image for frame in sampled_frames(large_gallery(side), 2.0, count / 2.0)]


def measure(images: list[np.ndarray], finder: FaceFinder, classifier, write=None) -> dict[str, object]:
    """Process the images as a 2 Hz lesson; per-stage medians and 90th percentiles in ms, faces found."""
    pipeline = LessonPipeline(finder, classifier, EngineSettings())
    finder.reset()
    rows: list[dict[str, float]] = []
    faces: list[int] = []
    for frame in lesson_frames(images):
        cpu0 = time.process_time()
        result = pipeline.process(frame)
        timings = dict(result.timings_ms, cpu_ms=(time.process_time() - cpu0) * 1000)
        if write is not None:
            t0 = cv2.getTickCount()
            write(result.sample)
            timings["write_ms"] = (cv2.getTickCount() - t0) / cv2.getTickFrequency() * 1000
        rows.append(timings)
        faces.append(result.sample.faces_detected)
    pipeline.close()
    rows, faces = rows[2:], faces[2:]  # warm-up
    out: dict[str, object] = {"frames": len(rows), "faces_median": statistics.median(faces),
                              "faces_min": min(faces), "faces_max": max(faces),
                              "looks_share": round(float(np.mean([r.get("looked", 0.0) for r in rows])), 2),
                              "reused_faces_mean": round(float(np.mean([r.get("reused", 0.0) for r in rows])), 2)}
    for stage in STAGES:
        values = [r[stage] for r in rows if stage in r]
        if values:
            out[stage] = {"median": round(statistics.median(values), 2),
                          "p90": round(float(np.percentile(values, 90)), 2)}
    return out


def ahead_agreement(images: list[np.ndarray], finder: FaceFinder, classifier) -> dict[str, float]:
    """How classify-ahead compares with the exact crop, beside the landmarks' own noise.

    For each frame where the pipeline kept its classify-ahead guess: the same top label as the exact
    crop's, and the largest probability difference. The noise floor: the exact crops from a second
    finder that landmarks on crops in IMAGE mode (no VIDEO-mode follower), same frames.
    """
    from engine.crops import aligned_face_crop

    kept, agree, diff, floor_agree, floor_diff = 0, [], [], [], []
    finder.reset()
    with LessonPipeline(finder, classifier, EngineSettings()) as pipeline, \
            FaceFinder(asset_path("face_landmarker.task"), FaceSettings(follow_lone_face=False)) as cropper:
        for frame in lesson_frames(images):
            image = frame.image
            result = pipeline.process(frame)
            other = cropper.find(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), frame.t_s)
            if len(result.faces) != 1 or len(other) != 1:
                continue
            gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            exact, crop_path = classifier.predict([aligned_face_crop(gray, result.faces[0], classifier.cfg),
                                                   aligned_face_crop(gray, other[0], classifier.cfg)])
            floor_agree.append(exact.argmax() == crop_path.argmax())
            floor_diff.append(float(np.abs(exact - crop_path).max()))
            if result.timings_ms.get("classified_ahead"):
                kept += 1
                stored = np.array(result.sample.observations[0].probabilities)
                agree.append(stored.argmax() == exact.argmax())
                diff.append(float(np.abs(stored - exact).max()))
    return {"frames": len(images), "ahead_kept": kept,
            "ahead_same_label": round(float(np.mean(agree)), 3) if agree else None,
            "ahead_max_diff_median": round(statistics.median(diff), 4) if diff else None,
            "noise_same_label": round(float(np.mean(floor_agree)), 3) if floor_agree else None,
            "noise_max_diff_median": round(statistics.median(floor_diff), 4) if floor_diff else None}


def soak(minutes: float, finder: FaceFinder, classifier) -> dict[str, float]:
    """Replay the demo clip at 2 Hz for `minutes` of lesson time; resident memory before and after."""
    from engine.demo import make_demo
    from engine.sources import VideoFileSource

    pipeline = LessonPipeline(finder, classifier, EngineSettings())
    finder.reset()
    samples, rss = 0, []
    loops = 0
    while samples < minutes * 120:
        source = VideoFileSource(make_demo(), 2.0, START)
        for frame in source.frames():
            t_s = samples * 0.5
            pipeline.process(Frame(frame.image, START + timedelta(seconds=t_s), t_s, samples))
            samples += 1
            if samples % 60 == 0:
                rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            if samples >= minutes * 120:
                break
        source.close()
        loops += 1
    pipeline.close()
    return {"samples": samples, "rss_mb_after_1st_min": round(rss[1] if len(rss) > 1 else rss[0], 1),
            "rss_mb_end": round(rss[-1], 1)}


def _loadavg() -> list[float]:
    """The machine's load averages over 1, 5 and 15 minutes: this shared machine's other work."""
    return [round(v, 2) for v in os.getloadavg()]


def _table(name: str, result: dict[str, object]) -> str:
    lines = [f"### {name} ({result['frames']} frames; faces found per sample: median "
             f"{result['faces_median']:g}, min {result['faces_min']}, max {result['faces_max']}; "
             f"looks computed at {100 * result['looks_share']:.0f} % of samples)", "",
             "| stage | median ms | p90 ms |", "|---|---:|---:|"]
    for stage in STAGES:
        if stage in result:
            lines.append(f"| {stage.removesuffix('_ms')} | {result[stage]['median']} | {result[stage]['p90']} |")
    return "\n".join(lines)


@click.command()
@click.option("--frames", default=40, show_default=True, help="Frames per scenario.")
@click.option("--large/--no-large", default=True, show_default=True,
              help="Also the 5x5 and 7x7 galleries at 1920x1080.")
@click.option("--ahead-frames", default=0, show_default=True,
              help="One-face frames for the classify-ahead agreement check (0: skip).")
@click.option("--soak-minutes", default=0.0, show_default=True, help="Lesson minutes of the memory soak run.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Write results here.")
def main(frames: int, large: bool, ahead_frames: int, soak_minutes: float, json_out: Path | None) -> None:
    """Measure the engine's per-frame cost on this machine."""
    limit_malloc_arenas()  # as `python -m engine run` does
    classifier = load_expression_model()
    results: dict[str, object] = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "loadavg_start": _loadavg(),
    }
    with FaceFinder(asset_path("face_landmarker.task")) as finder:
        results["one_face_640x480"] = measure(one_face_frames(frames), finder, classifier)
        still_16 = [still_gallery_16()] * frames
        results["gallery_16_1280x720"] = measure(still_16, finder, classifier)
        with FaceFinder(asset_path("face_landmarker.task"), FaceSettings(reuse_unchanged=False)) as every:
            results["gallery_16_1280x720_landmark_all"] = measure(still_16, every, classifier)
        if large:
            for side in LARGE_SIDES:
                results[f"gallery_{side * side}_1920x1080"] = measure(
                    large_gallery_frames(side, frames), finder, classifier)
        if ahead_frames > 0:
            results["classify_ahead"] = ahead_agreement(one_face_frames(ahead_frames), finder, classifier)
        if soak_minutes > 0:
            results["soak"] = soak(soak_minutes, finder, classifier)
    results["loadavg_end"] = _loadavg()
    click.echo(f"load average (1, 5, 15 min) at the start {results['loadavg_start']}, "
               f"at the end {results['loadavg_end']}\n")
    click.echo(_table("One face, 640x480", results["one_face_640x480"]))
    click.echo()
    click.echo(_table("16-face gallery, 1280x720 (one still frame: unchanged faces keep their landmarks "
                      "between discovery passes)", results["gallery_16_1280x720"]))
    click.echo()
    click.echo(_table("16-face gallery, 1280x720, every face landmarked at every sample "
                      "(FaceSettings(reuse_unchanged=False), as before that lever)",
                      results["gallery_16_1280x720_landmark_all"]))
    for side in LARGE_SIDES if large else ():
        click.echo()
        click.echo(_table(f"{side}x{side} gallery ({side * side} tiles), 1920x1080",
                          results[f"gallery_{side * side}_1920x1080"]))
    if "classify_ahead" in results:
        click.echo(f"\nclassify-ahead: {results['classify_ahead']}")
    if "soak" in results:
        click.echo(f"\nsoak: {results['soak']}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
