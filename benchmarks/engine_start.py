"""Where the engine's start goes, and how long `python -m engine run` takes to its first stored sample.

    python -m benchmarks start [--runs 3] [--source demo] [--attention-only] [--json out.json]

Each run starts two fresh processes. One times the engine's start stages one after the other
(interpreter, imports, database, classifier, face finder, source and its first frame, the first
frame analysed): what each costs on its own. The other is the real engine (`python -m engine run`,
the demo played in real time as the dashboard starts it) writing to a temporary SQLite file, timed
from its launch to the announcement of its lesson and to its first committed sample: what a teacher
waits for. Medians over the runs are printed with the load average, since a busy machine moves
every figure.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from engine import processes
from engine.protocol import Started, read_events

ROOT = Path(__file__).resolve().parents[1]


def _stages(source_spec: str, attention_only: bool, launched_at: float, db_path: Path) -> dict[str, float]:
    """Each start stage's wall time in ms, run one after the other in this (fresh) process."""
    marks: dict[str, float] = {"interpreter_ms": (time.time() - launched_at) * 1000}

    def timed(name: str, fn):  # noqa: ANN001, ANN202 - a benchmark's helper
        t0 = time.perf_counter()
        value = fn()
        marks[name] = (time.perf_counter() - t0) * 1000
        return value

    timed("import_numpy_cv2_ms", lambda: (__import__("numpy"), __import__("cv2")))
    timed("import_torch_ms", lambda: None if attention_only else __import__("torch"))
    timed("import_mediapipe_ms", lambda: __import__("mediapipe"))

    ours = ("engine.faces", "engine.pipeline", "engine.sources", "storage.db", "storage.lessons", "storage.recorder")
    timed("import_engine_storage_ms", lambda: [importlib.import_module(name) for name in ours])
    from engine.demo import demo_path
    from engine.expressions import load_expression_model
    from engine.faces import FaceFinder
    from engine.pipeline import EngineSettings, LessonPipeline
    from engine.sources import open_source
    from models.assets import asset_path
    from storage.db import open_database
    from storage.lessons import mark_stale_running_interrupted

    settings = EngineSettings(attention_only=attention_only, realtime=True)
    timed("database_ms", lambda: mark_stale_running_interrupted(open_database(f"sqlite:///{db_path}")))
    classifier = timed("classifier_ms", lambda: None if attention_only else load_expression_model())
    finder = timed("face_finder_ms", lambda: FaceFinder(asset_path("face_landmarker.task"), settings.faces))
    source = timed("open_source_ms", lambda: open_source(source_spec, settings.rate_hz, realtime=True, loop=True,
                                                          demo_path=demo_path()))
    frames = source.frames()
    frame = timed("first_frame_ms", lambda: next(frames))
    with LessonPipeline(finder, classifier, settings) as pipeline:
        timed("first_analysis_ms", lambda: pipeline.process(frame))
    source.close()
    finder.close()
    marks["serial_total_ms"] = sum(v for k, v in marks.items() if k != "interpreter_ms") + marks["interpreter_ms"]
    return marks


def _first_sample_ms(db_path: Path) -> float | None:
    """The first stored sample's epoch ms, None while there is none (or no table yet)."""
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=0.2) as conn:
            row = conn.execute("SELECT MIN(t_ms) FROM samples").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None or row[0] is None else float(row[0])


def engine_start(source_spec: str, attention_only: bool, timeout_s: float = 120.0) -> dict[str, float]:
    """Launch the real engine on a temporary SQLite file; ms from launch to its lesson line and first sample."""
    with tempfile.TemporaryDirectory(prefix="classpulse-start-") as tmp:
        db_path = Path(tmp) / "start.db"
        command = [sys.executable, "-m", "engine", "run", "--source", source_spec, "--realtime", "--loop",
                   "--lesson", "start bench", "--quiet", "--db", f"sqlite:///{db_path}"]
        if attention_only:
            command.append("--attention-only")
        events, stop_file = Path(tmp) / "events.jsonl", Path(tmp) / "stop"
        command += ["--events", str(events), "--stop-file", str(stop_file)]
        launched = time.time()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env=dict(os.environ, PYTHONUNBUFFERED="1"))
        announced: float | None = None
        first_stored = first_ts = None
        try:
            while time.time() - launched < timeout_s and process.poll() is None:
                if first_ts is None:
                    first_ts = _first_sample_ms(db_path)
                    first_stored = None if first_ts is None else time.time()
                if announced is None and any(isinstance(e, Started) for e in read_events(events)):
                    announced = time.time()
                if first_ts is not None and announced is not None:
                    break
                time.sleep(0.02)
        finally:  # the engine's own graceful stop (its stop file), as the dashboard stops it
            ref = processes.process_ref(process.pid)
            if ref is not None:
                processes.stop_process(ref, stop_file, grace_s=60)
            process.wait()
        if first_stored is None:
            raise click.ClickException(f"the engine stored no sample within {timeout_s:.0f} s "
                                       f"(exit status {process.returncode})")
        return {
            "lesson_announced_ms": (announced - launched) * 1000 if announced else float("nan"),
            "first_frame_sampled_ms": first_ts - launched * 1000,
            "first_sample_stored_ms": (first_stored - launched) * 1000,
        }


def stages_in_child(source_spec: str, attention_only: bool) -> dict[str, float]:
    """Run `_stages` in a fresh interpreter (cold imports, as the engine has them)."""
    with tempfile.TemporaryDirectory(prefix="classpulse-stages-") as tmp:
        command = [sys.executable, "-m", "benchmarks.engine_start", "--stages-child", str(time.time()),
                   "--source", source_spec, "--db-path", str(Path(tmp) / "stages.db")]
        if attention_only:
            command.append("--attention-only")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise click.ClickException(f"the stage timer failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


@click.command()
@click.option("--runs", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--source", "source_spec", default="demo", show_default=True, help="What the engine samples.")
@click.option("--attention-only", is_flag=True, help="Without the expression classifier (no torch).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write every run here.")
@click.option("--stages-child", "launched_at", type=float, default=None, hidden=True)
@click.option("--db-path", type=click.Path(path_type=Path), default=None, hidden=True)
def main(runs: int, source_spec: str, attention_only: bool, json_path: Path | None,
         launched_at: float | None, db_path: Path | None) -> None:
    """Time the engine's start stages and its launch-to-first-sample, `runs` times each."""
    if launched_at is not None:  # the stage timer's own process
        os.environ.setdefault("GLOG_minloglevel", "2")
        click.echo(json.dumps(_stages(source_spec, attention_only, launched_at, db_path)))
        return
    load_before = os.getloadavg()
    stage_runs, start_runs = [], []
    for i in range(runs):
        stage_runs.append(stages_in_child(source_spec, attention_only))
        start_runs.append(engine_start(source_spec, attention_only))
        click.echo(f"run {i + 1}: first sample stored {start_runs[-1]['first_sample_stored_ms']:.0f} ms "
                   f"after launch", err=True)
    load_after = os.getloadavg()
    click.echo(f"load average (1, 5, 15 min) before {load_before[0]:.2f} {load_before[1]:.2f} "
               f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
               f"{os.cpu_count()} CPUs")
    click.echo(f"start stages, one after the other (median of {runs}):")
    for key, value in _medians(stage_runs).items():
        click.echo(f"  {key.removesuffix('_ms'):26s} {value:8.0f} ms")
    click.echo(f"the real engine ({source_spec}, median of {runs}):")
    for key, value in _medians(start_runs).items():
        click.echo(f"  {key.removesuffix('_ms'):26s} {value:8.0f} ms")
    if json_path is not None:
        json_path.write_text(json.dumps({"load_before": load_before, "load_after": load_after,
                                         "stages": stage_runs, "engine": start_runs}, indent=2))


if __name__ == "__main__":
    main()
