"""`python -m engine ...`: capture a lesson into the database; build the demo clip."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime

import click

from engine.demo import demo_path, make_demo
from engine.pipeline import EngineSettings, LessonPipeline, RunStats, SampleResult, run_lesson
from engine.sources import SourceError, open_source
from models.assets import AssetError, asset_path

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


def _status_line(result: SampleResult, stats: RunStats) -> None:
    conc = "-" if result.class_concentration is None else f"{result.class_concentration:5.1f}"
    line = (f"\r{stats.samples:6d} samples  {stats.samples_per_s:5.2f}/s  faces {stats.faces:2d}  "
            f"class concentration {conc}  ({result.timings_ms['total_ms']:.0f} ms)")
    click.echo(line, nl=False, err=True)


@cli.command("run")
@click.option("--source", "source_spec", required=True,
              help="0 (webcam), demo, screen[:x,y,w,h], a stream URL, a video file or an image folder.")
@click.option("--rate", "rate_hz", type=float, default=None, help="Samples per second (0.2-30, default 2).")
@click.option("--lesson", "title", required=True, help="Lesson title.")
@click.option("--group", "group_name", default="", help="Class or group name.")
@click.option("--attention-only", is_flag=True, default=None,
              help="No expression model is loaded or run; no probabilities are stored.")
@click.option("--db", "db_url", default=None, help="SQLAlchemy URL (default CLASSPULSE_DB_URL or SQLite).")
@click.option("--max-seconds", type=float, default=None, help="Stop after this much lesson time.")
@click.option("--realtime", is_flag=True, help="Play files at real-time pace instead of as fast as possible.")
@click.option("--loop", is_flag=True, help="Play a file (or the demo) again and again until stopped.")
@click.option("--max-faces", type=click.IntRange(1, 100), default=None,
              help="Most faces analysed per frame (default 50, a full 7x7 gallery, or CLASSPULSE_MAX_FACES).")
@click.option("--quiet", is_flag=True, help="No live status line.")
def run_cmd(source_spec: str, rate_hz: float | None, title: str, group_name: str,
            attention_only: bool | None, db_url: str | None, max_seconds: float | None,
            realtime: bool, loop: bool, max_faces: int | None, quiet: bool) -> None:
    """Capture a lesson: sample the source, analyse each frame, store the results."""
    from engine.expressions import load_expression_model
    from engine.faces import FaceFinder, FaceModelError
    from engine.runtime import limit_malloc_arenas
    from models.registry import CheckpointError
    from storage.db import StorageError, open_database
    from storage.lessons import (
        LessonSpec,
        create_lesson,
        engine_owner,
        finish_lesson,
        mark_stale_running_interrupted,
    )
    from storage.recorder import Recorder

    limit_malloc_arenas()  # before any model starts its threads: memory stays flat over a lesson
    try:
        settings = EngineSettings.from_env(rate_hz=rate_hz, attention_only=attention_only,
                                           realtime=realtime or None, max_seconds=max_seconds)
        if max_faces is not None:
            settings = replace(settings, faces=replace(settings.faces, max_faces=max_faces))
    except (ValueError, SourceError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        engine = open_database(db_url)
        stale = mark_stale_running_interrupted(engine)
        if stale:
            click.echo(f"marked {len(stale)} lesson(s) left running by a stopped engine as interrupted", err=True)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    started_at = datetime.now(UTC)
    try:
        source = open_source(source_spec, settings.rate_hz, start=started_at, realtime=settings.realtime,
                             loop=loop, demo_path=demo_path())
        classifier = None if settings.attention_only else load_expression_model(settings.model_name)
        finder = FaceFinder(asset_path("face_landmarker.task"), settings.faces)
    except (SourceError, AssetError, FaceModelError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from exc

    with finder:  # closed however the lesson ends
        model_name = "none (attention only)" if classifier is None else classifier.name
        spec = LessonSpec(title=title, group_name=group_name, source=source.description,
                          sample_rate_hz=settings.rate_hz, model_name=model_name,
                          attention_only=settings.attention_only,
                          settings={**settings.as_dict(), "engine": engine_owner()},
                          started_at=started_at)
        lesson_id = create_lesson(engine, spec)
        click.echo(f"lesson {lesson_id} started: {title} from {source.description}", err=True)

        stop = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        pipeline = LessonPipeline(finder, classifier, settings)
        outcome = None
        try:
            with Recorder(engine, lesson_id) as recorder:
                outcome = run_lesson(source, pipeline, recorder.add, stop=stop, max_seconds=settings.max_seconds,
                                     on_sample=None if quiet else _status_line)
        finally:
            source.close()
            pipeline.close()
            finish_lesson(engine, lesson_id, "finished")
            if not quiet:
                click.echo("", err=True)
    click.echo(f"lesson {lesson_id} finished: {outcome.samples} samples ({outcome.reason})", err=True)
    if outcome.message:
        click.echo(outcome.message, err=True)


def main() -> None:
    cli()


if __name__ == "__main__":
    sys.exit(main())
