"""`python -m engine ...`: capture a lesson into the database; build the demo clip; predict a photo."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.demo import demo_path, make_demo
from engine.pipeline import (
    EngineSettings,
    LessonPipeline,
    PaceCheck,
    RunOutcome,
    RunStats,
    SampleResult,
    run_lesson,
)
from engine.sources import MAX_RATE_HZ, MIN_RATE_HZ, Frame, FrameSource, SourceError, open_source
from models.assets import AssetError, asset_path
from storage.cli_types import FiniteFloat
from storage.masking import mask_secrets

if TYPE_CHECKING:
    from engine.faces import FaceFinder
    from models.classify import ExpressionClassifier
    from storage.recorder import Recorder

log = logging.getLogger("engine")
os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ info lines are noise on a teacher's terminal


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """ClassPulse capture engine."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command("make-demo")
@click.option("--force", is_flag=True, help="Rebuild even when the clip exists.")
def make_demo_cmd(force: bool) -> None:
    """Compose the demo gallery clip from the sample media (once; no-op when present)."""
    try:
        path = make_demo(force=force)
    except (AssetError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"demo clip ready: {path}")


@cli.command("predict")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {\"faces\": [{box, probabilities, expression}]}.")
@click.option("--model", default="minixception", show_default=True, help="Registered model name.")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="A checkpoint (default: the converted FER-2013 mini-Xception).")
def predict_cmd(image: Path, as_json: bool, model: str, weights: Path | None) -> None:
    """Find every face in a photo (MediaPipe) and print its box and seven expression probabilities."""
    import json

    import cv2

    from engine.analysis import ImageReadError, analyse_image, read_image
    from engine.expressions import load_expression_model
    from engine.faces import FaceFinder, FaceModelError
    from models.convert import ConversionError
    from models.registry import CheckpointError

    try:
        picture = cv2.cvtColor(read_image(image), cv2.COLOR_BGR2RGB)
        classifier = load_expression_model(model, weights)
        with FaceFinder(asset_path("face_landmarker.task")) as finder:
            faces = analyse_image(picture, finder, classifier)
    except (ImageReadError, AssetError, ConversionError, CheckpointError, FaceModelError) as exc:
        raise click.ClickException(str(exc)) from exc
    rows = [{"box": list(f.box), "probabilities": {k: round(p, 6) for k, p in f.probabilities.items()},
             "expression": f.expression} for f in faces]
    if as_json:
        click.echo(json.dumps({"faces": rows}))
        return
    if not faces:
        click.echo("no face found")
    for i, row in enumerate(rows, 1):
        probs = "  ".join(f"{k} {v:.3f}" for k, v in row["probabilities"].items())
        click.echo(f"face {i} box {row['box']}: {row['expression']}  ({probs})")


@cli.command("standby")
@click.option("--discard-log", type=click.Path(path_type=Path), default=None,
              help="A log file to delete when it ends unused (the one its output goes to).")
@click.option("--idle-exit", "idle_exit_s", type=FiniteFloat(1), default=None,
              help="End, unused, when no request came within this many seconds.")
def standby_cmd(discard_log: Path | None, idle_exit_s: float | None) -> None:
    """Import what a lesson needs, then wait on stdin for a start request (the dashboard's warm start).

    The request is one JSON line: the arguments of `python -m engine`, the environment and working
    folder (engine.standby.StartRequest). The end of stdin without one, a SIGTERM or the idle time
    passing ends it with nothing done.
    """
    from engine.runtime import limit_malloc_arenas
    from engine.standby import READY_LINE, become, preload, wait_for_request

    def unused(*_: object) -> None:  # leave no log behind that holds only the ready line
        if discard_log is not None:
            discard_log.unlink(missing_ok=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, unused)
    limit_malloc_arenas()  # before torch or MediaPipe start a thread, as `run` does
    took_s = preload()
    click.echo(f"{READY_LINE} (imports {took_s:.1f} s); waiting for a lesson", err=True)
    try:
        request = wait_for_request(sys.stdin, idle_exit_s)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if request is None:
        unused()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the lesson's engine sets its own
    become(request)
    cli.main(args=list(request.args), prog_name="python -m engine", standalone_mode=True)


def _status_line(result: SampleResult, stats: RunStats) -> None:
    conc = "-" if result.class_concentration is None else f"{result.class_concentration:5.1f}"
    line = (f"\r{stats.samples:6d} samples  {stats.samples_per_s:5.2f}/s  faces {stats.faces:2d}  "
            f"class concentration {conc}  ({result.timings_ms['total_ms']:.0f} ms)")
    if result.faces_over_limit:
        line += (f"  {result.faces_over_limit} more faces than the limit of {len(result.faces)} "
                 "were not analysed (--max-faces)")
    click.echo(line, nl=False, err=True)


@cli.command("run")
@click.option("--source", "source_spec", required=True, envvar="CLASSPULSE_SOURCE",
              help="0 (webcam), demo, screen[:x,y,w,h], a stream URL, a video file or an image folder "
                   "(or CLASSPULSE_SOURCE: keeps a stream URL's password out of `ps`).")
@click.option("--rate", "rate_hz", type=FiniteFloat(MIN_RATE_HZ, MAX_RATE_HZ), default=None,
              help="Samples per second (0.2-30, default 2).")
@click.option("--lesson", "title", required=True, help="Lesson title.")
@click.option("--group", "group_name", default="", help="Class or group name.")
@click.option("--attention-only", is_flag=True, default=None,
              help="No expression model is loaded or run; no probabilities are stored.")
@click.option("--db", "db_url", default=None, help="SQLAlchemy URL (default CLASSPULSE_DB_URL or SQLite).")
@click.option("--max-seconds", type=FiniteFloat(0), default=None, help="Stop after this much lesson time.")
@click.option("--realtime", is_flag=True, help="Play files at real-time pace instead of as fast as possible.")
@click.option("--loop", is_flag=True, help="Play a file (or the demo) again and again until stopped.")
@click.option("--max-faces", type=click.IntRange(1, 100), default=None,
              help="Most faces analysed per frame (default 50, a full 7x7 gallery, or CLASSPULSE_MAX_FACES).")
@click.option("--quiet", is_flag=True, help="No live status line.")
@click.option("--teacher", "owner", default=None, envvar="CLASSPULSE_TEACHER", show_envvar=True,
              help="The account that owns the lesson on a shared server (default: none, seen by admins only).")
def run_cmd(source_spec: str, rate_hz: float | None, title: str, group_name: str,
            attention_only: bool | None, db_url: str | None, max_seconds: float | None,
            realtime: bool, loop: bool, max_faces: int | None, quiet: bool,
            owner: str | None) -> None:
    """Capture a lesson: sample the source, analyse each frame, store the results."""
    from engine.faces import FaceModelError
    from engine.runtime import limit_malloc_arenas
    from models.registry import CheckpointError
    from storage.db import StorageError, open_database
    from storage.lessons import (
        LessonSpec,
        create_lesson,
        engine_owner,
        mark_stale_running_interrupted,
    )
    from storage.recorder import Recorder
    from storage.records import LessonStatus
    from storage.viewers import owner_name

    limit_malloc_arenas()  # before any model starts its threads: memory stays flat over a lesson
    try:
        settings = EngineSettings.from_env(rate_hz=rate_hz, attention_only=attention_only,
                                           realtime=realtime or None, max_seconds=max_seconds)
        if max_faces is not None:
            settings = replace(settings, faces=replace(settings.faces, max_faces=max_faces))
        owner = owner_name(owner)
    except (ValueError, SourceError) as exc:
        raise click.ClickException(mask_secrets(str(exc))) from exc
    try:
        engine = open_database(db_url)
        stale = mark_stale_running_interrupted(engine)
        if stale:
            click.echo(f"marked {len(stale)} lesson(s) left running by a stopped engine as interrupted", err=True)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        source, classifier, finder = _open_parts(source_spec, settings, loop)
    except (SourceError, AssetError, FaceModelError, CheckpointError) as exc:
        raise click.ClickException(mask_secrets(str(exc))) from exc

    with finder:  # closed however the lesson ends
        model_name = "none (attention only)" if classifier is None else classifier.name
        frames, first = _first_frame(source)  # the lesson starts when its first frame is taken
        spec = LessonSpec(title=title, group_name=group_name, source=source.description,
                          sample_rate_hz=settings.rate_hz, model_name=model_name,
                          attention_only=settings.attention_only,
                          settings={**settings.as_dict(), "engine": engine_owner()},
                          started_at=first.ts, owner=owner)
        lesson_id = create_lesson(engine, spec)
        announcing = threading.Lock()
        announced = False

        def announce() -> None:  # the dashboard shows the lesson from this line on: say it once it has data
            nonlocal announced
            with announcing:
                if not announced:
                    announced = True
                    click.echo(f"lesson {lesson_id} started: {title} from {mask_secrets(source.description)}",
                               err=True)

        stop = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        pipeline = LessonPipeline(finder, classifier, settings)
        outcome, failure = None, None
        pace = PaceCheck(settings.rate_hz) if source.live or settings.realtime else None
        try:
            with Recorder(engine, lesson_id) as recorder:

                def on_sample(result: SampleResult, stats: RunStats) -> None:
                    if stats.samples <= 2:  # the Live page shows the lesson now, not at the next batch
                        recorder.write_soon()  # never waits: a locked database must not stall capture
                    if stats.samples == 1:  # named once that sample is committed: the page's first look finds it
                        threading.Thread(target=_announce_when_stored, args=(recorder, announce),
                                         name="classpulse-announce", daemon=True).start()
                    said = pace.update(stats.recent_rate_hz) if pace is not None else None
                    if said:
                        click.echo(said if quiet else f"\n{said}", err=True)
                    if not quiet:
                        _status_line(result, stats)

                outcome = run_lesson(source, pipeline, recorder.add, stop=stop,
                                     max_seconds=settings.max_seconds, on_sample=on_sample,
                                     frames=itertools.chain([first], frames))
        except Exception as exc:  # the engine failed: recorded as such, then one line and a non-zero exit
            failure = exc
            # The traceback goes to the engine's log once: the recorder has logged its own write errors.
            log.error("lesson %d failed", lesson_id, exc_info=None if isinstance(exc, StorageError) else exc)
        finally:
            announce()  # a lesson that ended before its first sample was stored is still named
            source.close()
            pipeline.close()
            if not quiet:
                click.echo("", err=True)
            # A BaseException (SystemExit, KeyboardInterrupt) leaves it running: the next start marks it
            # interrupted.
            if failure is not None:  # also when the run ended but its last samples could not be stored
                _record_ending(engine, lesson_id, LessonStatus.FAILED)
            elif outcome is not None:
                _record_ending(engine, lesson_id, outcome.status,
                               _lesson_end(outcome, settings.rate_hz, datetime.now(UTC), paced=pace is not None))
    if failure is not None:
        raise click.ClickException(f"lesson {lesson_id} failed: {_first_line(failure)}") from failure
    click.echo(_ending_line(lesson_id, outcome.status, outcome.samples, outcome.reason,
                            recorder.samples_dropped), err=True)
    if outcome.message:
        click.echo(outcome.message, err=True)


def _announce_when_stored(recorder: Recorder, announce: Callable[[], None], timeout_s: float = 30.0) -> None:
    """Wait (off the capture loop) until what was added is committed, then announce the lesson.

    The Live page shows the lesson from its line on and caches what it reads for its 2-s tick: named
    before its first sample is committed, the first look finds nothing and the first student waits
    for the next tick. A write error or a slow database still gets the lesson named.
    """
    from storage.db import StorageError

    with contextlib.suppress(StorageError):  # logged by the recorder, recorded by the lesson
        recorder.flush(timeout_s)
    announce()


def _open_parts(source_spec: str, settings: EngineSettings,
                loop: bool) -> tuple[FrameSource, ExpressionClassifier | None, FaceFinder]:
    """The source, the expression classifier (None when attention only) and the face finder, made at
    once on three threads: a start waits for the slowest of them (a camera opening, torch loading), not
    for their sum. Whatever was made is closed again when another part fails."""
    from engine.faces import FaceFinder

    with ThreadPoolExecutor(2, thread_name_prefix="classpulse-start") as pool:
        classifier = pool.submit(_load_classifier, settings)
        source = pool.submit(open_source, source_spec, settings.rate_hz, realtime=settings.realtime, loop=loop,
                             demo_path=demo_path())
        finder = None
        try:
            finder = FaceFinder(asset_path("face_landmarker.task"), settings.faces)
            return source.result(), classifier.result(), finder
        except BaseException:
            if finder is not None:
                finder.close()
            if source.exception() is None:
                source.result().close()
            raise


def _load_classifier(settings: EngineSettings) -> ExpressionClassifier | None:
    """The expression classifier, warmed up, or None for an attention-only lesson."""
    from engine.expressions import load_expression_model

    if settings.attention_only:
        return None
    classifier = load_expression_model(settings.model_name, freeze_in_background=True)
    classifier.warm_up()
    return classifier


def _first_frame(source: FrameSource) -> tuple[Iterator[Frame], Frame]:
    """The source's frames and the first of them (taken now); one line, and no lesson, if there is none."""
    frames = source.frames()
    try:
        first = next(frames, None)
    except SourceError as exc:
        source.close()
        raise click.ClickException(str(exc)) from exc
    if first is None:
        source.close()
        raise click.ClickException(f"{source.description} gave no frame")
    return frames, first


def _lesson_end(outcome: RunOutcome, rate_hz: float, now: datetime, *, paced: bool) -> datetime:
    """When the lesson's data ends: its last sample plus the period that sample stands for.

    Played in real time or live, never later than now (a lesson stopped within a period of its last
    sample). A file analysed as fast as possible runs on media time, so its end is its last sample's.
    Now, without a sample.
    """
    if outcome.last_ts is None:
        return now
    end = outcome.last_ts + timedelta(seconds=1.0 / rate_hz)
    return min(end, now) if paced else end


def _record_ending(engine: object, lesson_id: int, status: str, ended_at: datetime | None = None) -> None:
    """Store how the lesson ended in the database (an Engine); one line, not a traceback, if it went away."""
    from storage.db import StorageError
    from storage.lessons import finish_lesson

    try:
        finish_lesson(engine, lesson_id, status, ended_at)
    except StorageError as exc:
        raise click.ClickException(f"lesson {lesson_id} ended ({status}) but could not be marked so: {exc}") from exc


def _ending_line(lesson_id: int, status: str, samples: int, reason: str, dropped: int = 0) -> str:
    """`lesson 3 finished: 80 samples (end_of_source)`, or `lesson 3 ended early (source_lost): ...`;
    with `; 12 samples could not be stored` when the database was away past the recorder's buffer."""
    ended = "finished" if status == "finished" else f"ended early ({status})"
    lost = f"; {dropped} samples could not be stored" if dropped else ""
    return f"lesson {lesson_id} {ended}: {samples} samples ({reason}){lost}"


def _first_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its text."""
    text = mask_secrets(next((line.strip() for line in str(exc).splitlines() if line.strip()), ""))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main() -> None:
    cli()


if __name__ == "__main__":
    sys.exit(main())
