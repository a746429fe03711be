"""The MediaPipe tasks a face finder runs, and their lifetime.

MediaPipe runs each task's model on one core, and one task must not serve two calls at once, so a
finder holds copies of the face detector and of the IMAGE-mode landmarker (`TaskPool`) and a thread
pool to run them side by side, plus one VIDEO-mode landmarker that follows a lone face from frame to
frame (`VideoClock` keeps its timestamps increasing). `FaceTasks` creates them all and closes them:
whoever creates one closes it, with `close()` or `with`.
"""

from __future__ import annotations

import logging
import queue
import warnings
import weakref
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

log = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")


class FaceModelError(RuntimeError):
    """The MediaPipe model bundle is missing or unreadable."""


def mp_image(rgb: np.ndarray) -> mp.Image:
    """An RGB array (a view is fine) as the image MediaPipe's tasks take."""
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def read_face_model(task_path: Path) -> tuple[bytes, bytes]:
    """The landmarker bundle's bytes and those of the face detector model bundled inside it."""
    try:
        bundle = Path(task_path).read_bytes()
        detector = zipfile.ZipFile(task_path).read("face_detector.tflite")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise FaceModelError(
            f"cannot read the MediaPipe face model {task_path} ({exc}); "
            "run `python -m models fetch-assets`"
        ) from exc
    return bundle, detector


def face_detector(model: bytes, min_detection_confidence: float) -> vision.FaceDetector:
    """MediaPipe's short-range face detector (IMAGE mode) from its .tflite bytes."""
    return vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
        base_options=BaseOptions(model_asset_buffer=model),
        min_detection_confidence=min_detection_confidence,
    ))


def face_landmarker(bundle: bytes, min_detection_confidence: float, min_presence_confidence: float,
                    mode: vision.RunningMode = vision.RunningMode.IMAGE) -> vision.FaceLandmarker:
    """A one-face landmarker with blendshapes and the head transform, from the .task bundle's bytes."""
    return vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_buffer=bundle),
        running_mode=mode,
        num_faces=1,
        min_face_detection_confidence=min_detection_confidence,
        min_face_presence_confidence=min_presence_confidence,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    ))


class TaskPool(Generic[T]):
    """Copies of one MediaPipe task, so a batch of calls runs on several cores.

    Each task runs its model on one thread, and one task must not serve two calls at once; the pool
    hands each worker thread a free copy. Without an executor the calls run in order on the first copy.
    """

    def __init__(self, tasks: list[T], executor: ThreadPoolExecutor | None) -> None:
        self.tasks = tasks
        self._executor = executor
        self._free: queue.SimpleQueue[T] = queue.SimpleQueue()
        for task in tasks:
            self._free.put(task)

    def map(self, fn: Callable[[T, A], R], items: Sequence[A]) -> list[R]:
        """fn(task, item) for every item, results in the items' order."""
        if self._executor is None or len(items) < 2:
            return [fn(self.tasks[0], item) for item in items]

        def run(item: A) -> R:
            task = self._free.get()
            try:
                return fn(task, item)
            finally:
                self._free.put(task)

        return list(self._executor.map(run, items))


class VideoClock:
    """Millisecond timestamps for MediaPipe's VIDEO mode, which needs them strictly increasing.

    Lesson time restarts with a new source or a looped file; the clock shifts so it never goes back.
    """

    def __init__(self) -> None:
        self._offset_ms = 0
        self._last_ms: int | None = None

    def tick(self, t_s: float) -> int:
        """The timestamp for lesson time t_s: its milliseconds, moved on past any earlier one."""
        ms = int(round(t_s * 1000)) + self._offset_ms
        if self._last_ms is not None and ms <= self._last_ms:
            self._offset_ms += self._last_ms + 1 - ms
            ms = self._last_ms + 1
        self._last_ms = ms
        return ms


def _close_tasks(tasks: Sequence[object], *, collected: bool = False) -> None:
    """Close MediaPipe tasks; from the garbage collector, say that their owner was never closed."""
    if collected:
        warnings.warn("MediaPipe face tasks were never closed (close the FaceFinder, or use `with`); "
                      "closing them as they are collected", ResourceWarning, stacklevel=1)
    for task in tasks:
        try:
            task.close()
        except Exception:  # closing continues with the others; a late close can fail at exit
            log.debug("closing a MediaPipe task failed", exc_info=True)


class FaceTasks:
    """A finder's MediaPipe tasks: `workers` detectors and IMAGE-mode landmarkers, one VIDEO-mode follower.

    With more than one worker, `executor` runs the pools' copies side by side (and the follower
    beside a detection). Close it with `close()` or `with`; it cannot be used after.
    """

    def __init__(self, task_path: Path, *, workers: int, min_detection_confidence: float,
                 min_presence_confidence: float) -> None:
        bundle, detector = read_face_model(task_path)
        workers = max(1, workers)
        self.executor = ThreadPoolExecutor(workers, "classpulse-faces") if workers > 1 else None
        created: list[object] = []
        try:
            for _ in range(workers):
                created.append(face_detector(detector, min_detection_confidence))
            for _ in range(workers):
                created.append(face_landmarker(bundle, min_detection_confidence, min_presence_confidence))
            created.append(face_landmarker(bundle, min_detection_confidence, min_presence_confidence,
                                           vision.RunningMode.VIDEO))
        except Exception:
            self._shutdown_executor(wait=False)
            _close_tasks(created)
            raise
        self.detectors: TaskPool[vision.FaceDetector] = TaskPool(created[:workers], self.executor)
        self.landmarkers: TaskPool[vision.FaceLandmarker] = TaskPool(created[workers:2 * workers],
                                                                     self.executor)
        self.follower: vision.FaceLandmarker = created[-1]
        self.follower_clock = VideoClock()
        # MediaPipe's own finaliser closes a task through a thread pool of its own. Collected in a
        # reference cycle, that pool's thread has already been told to stop and the close waits on
        # it forever (seen when the dashboard's cached finder was released during an import). The
        # finaliser below holds the tasks outside any cycle and closes them while their pools run.
        self._finalizer = weakref.finalize(self, _close_tasks, tuple(created), collected=True)
        self._finalizer.atexit = False  # at exit MediaPipe's pools are stopped first: nothing to gain

    @property
    def closed(self) -> bool:
        """Whether close() has run (or the tasks were collected)."""
        return not self._finalizer.alive

    def submit(self, fn: Callable[..., R], *args: object) -> Future[R] | None:
        """fn(*args) on the pool's other thread, or None when there is one worker only."""
        return None if self.executor is None else self.executor.submit(fn, *args)

    def close(self) -> None:
        """Let running calls finish, then shut MediaPipe's task runners down; safe to call twice."""
        if self._finalizer.alive:
            self._shutdown_executor(wait=True)
            self._finalizer.detach()
            _close_tasks((*self.detectors.tasks, *self.landmarkers.tasks, self.follower))

    def _shutdown_executor(self, *, wait: bool) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=wait)

    def __enter__(self) -> FaceTasks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
