"""One lesson, from a start request to its closed row: the engine's whole run, apart from the CLI.

`run_lesson_request` opens the database, the source and the models, creates the lesson once its
first frame is taken, samples until the source ends, the stop file appears (the dashboard's Stop),
Ctrl-C or SIGTERM arrives, or `max_seconds` pass, then flushes and records how it ended. What it
has to say goes two ways: events for the dashboard (`engine.protocol`, to the request's events
file) and lines for a person (`say`, the CLI's stderr, which is also the engine's log). Whatever a
person can fix ends it with `LessonError`, one line, no secret in it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from engine import processes
from engine.demo import demo_path
from engine.pipeline import (
    EngineSettings,
    LessonPipeline,
    PaceCheck,
    RunOutcome,
    RunStats,
    SampleResult,
    run_lesson,
)
from engine.protocol import (
    EventWriter,
    Failed,
    Finished,
    RateRecovered,
    RateShortfall,
    SourceLost,
    Started,
    StartRequest,
)
from engine.sources import Frame, FrameSource, SourceError, open_source
from models.assets import AssetError, asset_path
from storage.masking import mask_secrets

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from engine.faces import FaceFinder
    from models.classify import ExpressionClassifier
    from storage.recorder import Recorder

log = logging.getLogger(__name__)

Say = Callable[[str], None]


class LessonError(Exception):
    """The lesson could not start, or failed: the message is one line for a person (and the
    `failed` event's, with the lesson's cause and, for a lost database file, the recovery file)."""

    def __init__(
        self, message: str, lesson_id: int | None = None, *, cause: str | None = None,
        recovery_path: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.lesson_id = lesson_id  # the lesson it failed, None when none was created
        self.cause = cause
        self.recovery_path = recovery_path


def run_lesson_request(
    request: StartRequest,
    *,
    db_url: str | None = None,
    say: Say = log.warning,
    status_line: Say | None = None,
) -> Finished:
    """Record the lesson the request asks for; how it ended (LessonError when it could not).

    `db_url` defaults to CLASSPULSE_DB_URL (or the SQLite file). `status_line` gets the live
    status line after each sample unless the request is quiet. Every way it ends is also an event.
    """
    events = EventWriter(request.events_path)
    try:
        return _run(request, db_url, events, say, None if request.quiet else status_line)
    except LessonError as exc:
        events.emit(Failed(str(exc), exc.lesson_id, exc.cause, exc.recovery_path))
        raise
    except Exception as exc:  # a bug: its traceback goes to the log, one line to the dashboard
        events.emit(Failed(f"the engine failed: {first_line(exc)}", cause=first_line(exc)))
        raise


def _run(
    request: StartRequest, db_url: str | None, events: EventWriter, say: Say, status_line: Say | None
) -> Finished:
    from engine.runtime import limit_malloc_arenas

    limit_malloc_arenas()  # before any model starts its threads: memory stays flat over a lesson
    stop = threading.Event()
    processes.on_stop_signals(stop.set)  # Ctrl-C or SIGTERM: end the lesson as a stop does
    if request.stop_path:
        processes.watch_stop_file(Path(request.stop_path), stop)
    try:
        return _open_and_record(request, db_url, stop, events, say, status_line)
    finally:
        stop.set()  # the stop-file watcher ends with the run


def _open_and_record(
    request: StartRequest,
    db_url: str | None,
    stop: threading.Event,
    events: EventWriter,
    say: Say,
    status_line: Say | None,
) -> Finished:
    """Check the settings, open the database and the parts, then record the lesson."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine.faces import FaceModelError
    from engine.storage_faults import settle_earlier_lesson, storage_words
    from models.registry import CheckpointError
    from storage.db import StorageError, check_writable, open_database
    from storage.lessons import mark_stale_running_interrupted
    from storage.viewers import owner_name

    try:
        settings = _settings(request)
        owner = owner_name(request.owner)
    except (ValueError, SourceError) as exc:
        raise LessonError(mask_secrets(str(exc))) from exc
    try:
        database = open_database(db_url)
        check_writable(database)  # a read-only file: one line, before anything is loaded or written
        settled = settle_earlier_lesson(database, request.events_path, processes.is_alive)
        if settled is not None:
            say(f"lesson {settled} marked failed, as its engine last said")
        stale = mark_stale_running_interrupted(database, is_alive=processes.is_alive)
        if stale:
            say(f"marked {len(stale)} lesson(s) left running by a stopped engine as interrupted")
    except (StorageError, SQLAlchemyError) as exc:
        raise LessonError(storage_words(exc)) from exc
    try:
        source, classifier, finder = _open_parts(request.source, settings, request.loop)
    except (SourceError, AssetError, FaceModelError, CheckpointError) as exc:
        raise LessonError(mask_secrets(str(exc))) from exc
    with finder:  # closed however the lesson ends
        if stop.is_set():  # stopped while the models loaded: no lesson to record
            source.close()
            return _stopped_before_start(events, say)
        return _record(request, settings, owner, database, source, classifier, finder, stop,
                       events, say, status_line)  # fmt: skip


def _settings(request: StartRequest) -> EngineSettings:
    """The engine's settings: the environment's, with what the request sets over them."""
    settings = EngineSettings.from_env(
        rate_hz=request.rate_hz, attention_only=request.attention_only,
        realtime=request.realtime or None, max_seconds=request.max_seconds,
    )  # fmt: skip
    if request.max_faces is not None:
        settings = replace(settings, faces=replace(settings.faces, max_faces=request.max_faces))
    return settings


def _stopped_before_start(events: EventWriter, say: Say) -> Finished:
    ending = Finished(None, "finished", 0, "stopped")
    events.emit(ending)
    say("stopped before the lesson started: no lesson recorded")
    return ending


def _record(
    request: StartRequest,
    settings: EngineSettings,
    owner: str | None,
    database: Engine,
    source: FrameSource,
    classifier: ExpressionClassifier | None,
    finder: FaceFinder,
    stop: threading.Event,
    events: EventWriter,
    say: Say,
    status_line: Say | None,
) -> Finished:
    """Create the lesson at its first frame, run it, and close it with how it ended."""
    from engine.storage_faults import StorageReporter, lesson_failure, storage_words
    from storage.db import StorageError
    from storage.lessons import LessonSpec, create_lesson, engine_owner
    from storage.recorder import Recorder
    from storage.records import LessonStatus

    model_name = "none (attention only)" if classifier is None else classifier.name
    frames, first = _first_frame(source)  # the lesson starts when its first frame is taken
    me = processes.this_process()
    spec = LessonSpec(title=request.title, group_name=request.group_name, source=source.description,
                      sample_rate_hz=settings.rate_hz, model_name=model_name,
                      attention_only=settings.attention_only,
                      settings={**settings.as_dict(), "engine": engine_owner(me.pid, me.started_s)},
                      started_at=first.ts, owner=owner)  # fmt: skip
    reporter, lesson_id = StorageReporter(events, stop), None
    try:
        lesson_id = create_lesson(database, spec)
        recorder = Recorder(database, lesson_id, on_event=reporter)
    except Exception as exc:  # the database takes no lesson (full, read-only, gone): one line
        source.close()
        raise LessonError(f"cannot record the lesson: {storage_words(exc)}", lesson_id) from exc
    started = Started(lesson_id, request.title, mask_secrets(source.description))
    announce = _Announcement(started, events, say)
    pipeline = LessonPipeline(finder, classifier, settings)
    outcome, failure, ended = None, None, None
    pace = PaceCheck(settings.rate_hz) if source.live or settings.realtime else None
    try:
        on_sample = _sample_handler(recorder, announce, pace, events, say, status_line)
        outcome = run_lesson(source, pipeline, recorder.add, stop=stop,
                             max_seconds=settings.max_seconds, on_sample=on_sample,
                             frames=itertools.chain([first], frames))  # fmt: skip
    except Exception as exc:  # the engine failed: recorded as such, then one line and a non-zero exit
        failure = exc
        # The traceback goes to the engine's log once: the recorder has logged its own write errors.
        log.error("lesson %d failed", lesson_id, exc_info=None if isinstance(exc, StorageError) else exc)
    finally:
        announce()  # a lesson that ended before its first sample was stored is still named
        source.close()
        pipeline.close()
        if status_line is not None:
            status_line("\n")
        if failure is None and outcome is None:  # a BaseException (SystemExit, KeyboardInterrupt):
            with contextlib.suppress(StorageError):  # left running, the next start marks it interrupted
                recorder.close()
        else:  # the recorder's own cause (a full disk, a lost file) wins over the status asked
            status = LessonStatus.FAILED if failure is not None else outcome.status
            end = None if failure is not None else lesson_end(outcome, settings.rate_hz, datetime.now(UTC),
                                                              paced=pace is not None)  # fmt: skip
            ended = recorder.end_lesson(status, end, None if failure is None else first_line(failure))
    lost = recorder.file_lost
    problem = lesson_failure(lesson_id, ended, samples_written=recorder.samples_written,
                             failure=failure, waiting=reporter.waiting,
                             lost_words=None if lost is None else lost.words,
                             recovery_path=None if lost is None else str(lost.recovery),
                             describe=first_line)  # fmt: skip
    if problem is not None:
        raise LessonError(problem.message, lesson_id, cause=problem.cause,
                          recovery_path=problem.recovery_path) from failure  # fmt: skip
    if outcome.status == LessonStatus.SOURCE_LOST:
        events.emit(SourceLost(lesson_id, mask_secrets(outcome.message or outcome.reason)))
    ending = Finished(lesson_id, str(LessonStatus(outcome.status).value), outcome.samples,
                      outcome.reason, recorder.samples_dropped)  # fmt: skip
    events.emit(ending)
    say(ending.text)
    if outcome.message:
        say(mask_secrets(outcome.message))
    return ending


class _Announcement:
    """Says once that the lesson started: the `started` event and its line for a person."""

    def __init__(self, started: Started, events: EventWriter, say: Say) -> None:
        self.started, self.events, self.say = started, events, say
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self.events.emit(self.started)
        self.say(self.started.text)


def _sample_handler(
    recorder: Recorder,
    announce: _Announcement,
    pace: PaceCheck | None,
    events: EventWriter,
    say: Say,
    status_line: Say | None,
) -> Callable[[SampleResult, RunStats], None]:
    """What happens after each sample: the first ones written at once and announced once stored,
    the rate checked, the status line."""

    def on_sample(result: SampleResult, stats: RunStats) -> None:
        if stats.samples <= 2:  # the Live page shows the lesson now, not at the next batch
            recorder.write_soon()  # never waits: a locked database must not stall capture
        if stats.samples == 1:  # named once that sample is committed: the page's first look finds it
            threading.Thread(target=_announce_when_stored, args=(recorder, announce),
                             name="classpulse-announce", daemon=True).start()  # fmt: skip
        said = pace.update(stats.recent_rate_hz) if pace is not None else None
        if said:
            kind = RateShortfall if pace.behind else RateRecovered
            events.emit(kind(round(stats.recent_rate_hz or 0.0, 3), pace.rate_hz))
            say(said if status_line is None else f"\n{said}")
        if status_line is not None:
            status_line(_status_text(result, stats))

    return on_sample


def _status_text(result: SampleResult, stats: RunStats) -> str:
    conc = "-" if result.class_concentration is None else f"{result.class_concentration:5.1f}"
    line = (f"\r{stats.samples:6d} samples  {stats.samples_per_s:5.2f}/s  faces {stats.faces:2d}  "
            f"class concentration {conc}  ({result.timings_ms['total_ms']:.0f} ms)")  # fmt: skip
    if result.faces_over_limit:
        line += (f"  {result.faces_over_limit} more faces than the limit of {len(result.faces)} "
                 "were not analysed (--max-faces)")  # fmt: skip
    return line


def _announce_when_stored(
    recorder: Recorder, announce: Callable[[], None], timeout_s: float = 30.0
) -> None:
    """Wait (off the capture loop) until what was added is committed, then announce the lesson.

    The Live page shows the lesson from its `started` event on and caches what it reads for its
    2-s tick: announced before its first sample is committed, the first look finds nothing and the
    first student waits for the next tick. A write error or a slow database still gets it announced.
    """
    from storage.db import StorageError

    with contextlib.suppress(StorageError):  # logged by the recorder, recorded by the lesson
        recorder.flush(timeout_s)
    announce()


def _open_parts(
    source_spec: str, settings: EngineSettings, loop: bool
) -> tuple[FrameSource, ExpressionClassifier | None, FaceFinder]:
    """The source, the expression classifier (None when attention only) and the face finder, made at
    once on three threads: a start waits for the slowest of them (a camera opening, torch loading), not
    for their sum. Whatever was made is closed again when another part fails."""
    from engine.faces import FaceFinder

    with ThreadPoolExecutor(2, thread_name_prefix="classpulse-start") as pool:
        classifier = pool.submit(_load_classifier, settings)
        source = pool.submit(open_source, source_spec, settings.rate_hz, realtime=settings.realtime,
                             loop=loop, demo_path=demo_path())  # fmt: skip
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
        raise LessonError(mask_secrets(str(exc))) from exc
    if first is None:
        source.close()
        raise LessonError(f"{mask_secrets(source.description)} gave no frame")
    return frames, first


def lesson_end(outcome: RunOutcome, rate_hz: float, now: datetime, *, paced: bool) -> datetime:
    """When the lesson's data ends: its last sample plus the period that sample stands for.

    Played in real time or live, never later than now (a lesson stopped within a period of its last
    sample). A file analysed as fast as possible runs on media time, so its end is its last sample's.
    Now, without a sample.
    """
    if outcome.last_ts is None:
        return now
    end = outcome.last_ts + timedelta(seconds=1.0 / rate_hz)
    return min(end, now) if paced else end


def first_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its text."""
    text = mask_secrets(next((line.strip() for line in str(exc).splitlines() if line.strip()), ""))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
