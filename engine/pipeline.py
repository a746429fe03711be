"""Wires the stages: frame -> faces -> tracks -> expressions and attention -> one `Sample` per frame.

The pipeline takes its adapters (face finder, classifier) behind protocols and its time from the
frame, so its logic runs in tests with fakes and in the product with MediaPipe and the CNN.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from engine.attention import AttentionSettings, face_features
from engine.crops import CropGeometry, aligned_crop, crop_geometry
from engine.engagement import StudentAttention, class_concentration
from engine.faces import FaceLandmarks, FaceSettings, face_boxes
from engine.identity import IdentityStage
from engine.sources import Frame, FrameSource, SourceError, check_rate
from engine.stillness import StillnessSettings
from engine.tracking import TrackingSettings
from storage import measures
from storage.measures import RATE_WINDOW_S
from storage.records import EXPRESSIONS, AttentionState, LessonStatus, Observation, Sample

if TYPE_CHECKING:
    from models.config import ModelConfig

log = logging.getLogger(__name__)


class ExpressionClassifier(Protocol):
    """Face crops in, an (N, 7) array of probabilities in EXPRESSIONS order out; its checkpoint config
    says where the crops are cut (margin, eye-line alignment)."""

    name: str
    labels: Sequence[str]
    cfg: ModelConfig

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


class FaceFinding(Protocol):
    def find(self, rgb: np.ndarray, t_s: float | None = None) -> list[FaceLandmarks]: ...


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Everything a capture run is configured by; filled from CLI options and CLASSPULSE_* in one place."""

    rate_hz: float = 2.0
    attention_only: bool = False
    realtime: bool = False
    max_seconds: float | None = None
    model_name: str = "minixception"
    # A lone face's expression is classified while it is being landmarked, on a crop placed where the
    # last sample's landmarks put it, and kept only if the new landmarks agree (see LessonPipeline).
    classify_ahead: bool = True
    faces: FaceSettings = field(default_factory=FaceSettings)
    attention: AttentionSettings = field(default_factory=AttentionSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    stillness: StillnessSettings = field(default_factory=StillnessSettings)
    # Each tile's look (colours around the face, in memory only) keeps a student's ID when the call
    # app moves the tiles; off, IDs follow positions alone.
    appearance: bool = True
    # Looks computed only at samples that need them (`engine.identity`); off, at every sample.
    lazy_looks: bool = True

    @classmethod
    def from_env(cls, **overrides: object) -> EngineSettings:
        """Defaults, then CLASSPULSE_RATE_HZ / _ATTENTION_ONLY / _MODEL / _MAX_FACES and the
        CLASSPULSE_ATTENTION_* thresholds, then overrides."""
        defaults = cls()
        try:
            rate_hz = float(os.environ.get("CLASSPULSE_RATE_HZ", defaults.rate_hz))
        except ValueError as exc:
            raise ValueError(f"CLASSPULSE_RATE_HZ must be a number of samples per second: {exc}") from exc
        settings = replace(
            defaults, rate_hz=rate_hz,
            attention_only=_env_bool("CLASSPULSE_ATTENTION_ONLY", False),
            model_name=os.environ.get("CLASSPULSE_MODEL", defaults.model_name),
            attention=AttentionSettings.from_env(),
        )
        if "CLASSPULSE_MAX_FACES" in os.environ:
            faces = replace(settings.faces, max_faces=int(os.environ["CLASSPULSE_MAX_FACES"]))
            settings = replace(settings, faces=faces)
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        check_rate(settings.rate_hz)
        return settings

    def as_dict(self) -> dict[str, object]:
        """The settings a lesson row keeps, as plain JSON-able values."""
        from dataclasses import asdict

        return asdict(self)


@dataclass(slots=True)
class SampleResult:
    """A processed frame: the stored record plus what the live status and previews show."""

    sample: Sample
    faces: list[FaceLandmarks]
    track_ids: list[int]
    class_concentration: float | None
    timings_ms: dict[str, float]
    faces_over_limit: int = 0  # faces found beyond the face limit, not analysed


class LessonPipeline:
    """Turns frames into samples for one lesson; holds the tracker and each student's attention state."""

    def __init__(self, finder: FaceFinding, classifier: ExpressionClassifier | None,
                 settings: EngineSettings) -> None:
        if settings.attention_only and classifier is not None:
            raise ValueError("attention-only lessons must not load an expression classifier")
        if classifier is not None and tuple(classifier.labels) != EXPRESSIONS:
            raise ValueError(f"classifier labels {tuple(classifier.labels)} differ from {EXPRESSIONS}")
        self.finder = finder
        self.classifier = classifier
        self.settings = settings
        self.identity = IdentityStage(settings.tracking, settings.stillness,
                                      appearance=settings.appearance, lazy_looks=settings.lazy_looks)
        self.still: set[int] = set()  # tracks whose face has not changed: not live students
        self.students: dict[int, StudentAttention] = {}
        self.engagement: dict[int, float] = {}  # each track's latest smoothed engagement
        self._lone_crop: CropGeometry | None = None  # the last sample's crop, when it had one face
        self._ahead = (ThreadPoolExecutor(1, "classpulse-classify")
                       if classifier is not None and settings.classify_ahead else None)

    def close(self) -> None:
        """Stop the classify-ahead thread (it is idle between frames)."""
        if self._ahead is not None:
            self._ahead.shutdown(wait=True)

    def __enter__(self) -> LessonPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def process(self, frame: Frame) -> SampleResult:
        """Run every stage on one frame and build its sample."""
        timings: dict[str, float] = {}
        clock = time.perf_counter
        t0 = clock()
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        gray = None  # the grey frame (classifier crops, still-tile crops), converted only when needed
        if self._ahead is not None and self._lone_crop is not None:
            gray = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
        ahead = self._classify_ahead(gray)
        faces = self.finder.find(rgb, frame.t_s)
        t1 = clock()
        timings["faces_ms"] = (t1 - t0) * 1000
        timings.update(getattr(self.finder, "last_timings_ms", {}))
        if gray is None and faces:
            gray = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
        identity = self.identity.update(frame.image, gray, face_boxes(faces), frame.t_s)
        update = identity.update
        self.still = set(identity.still)
        hold = getattr(self.finder, "hold", None)  # pictures need not be landmarked again
        if hold is not None:
            hold([face.box for face, tid in zip(faces, update.ids, strict=True) if tid in self.still])
        t2 = clock()
        timings["tracking_ms"] = (t2 - t1) * 1000
        timings["looked"] = float(update.looked)
        probabilities, crop_ms, used_ahead = self._expressions(gray, faces, ahead)
        t3 = clock()
        timings["crops_ms"] = crop_ms
        timings["classifier_ms"] = (t3 - t2) * 1000 - crop_ms
        timings["classified_ahead"] = float(used_ahead)
        observations = self._observations(frame, faces, update.ids, update.missing, probabilities)
        for gone in update.forgotten:
            self.students.pop(gone, None)
            self.engagement.pop(gone, None)
        concentration = class_concentration(observations)  # storage.measures' rule: stills left out
        t4 = clock()
        timings["features_ms"] = (t4 - t3) * 1000
        timings["total_ms"] = (t4 - t0) * 1000
        found = max(len(faces), int(getattr(self.finder, "last_faces_found", len(faces))))
        sample = Sample(ts=frame.ts, faces_detected=found, processing_ms=timings["total_ms"],
                        observations=tuple(observations))
        return SampleResult(sample, faces, list(update.ids), concentration, timings,
                            faces_over_limit=found - len(faces))

    def _classify_ahead(self, gray: np.ndarray | None) -> tuple[CropGeometry, Future[np.ndarray]] | None:
        """Start classifying where the lone face was, on the other core, while it is landmarked.

        This is what MediaPipe's own VIDEO mode does for the landmark model: the current frame,
        cropped where the last landmarks were. `_expressions` keeps the result only when the new
        landmarks put the crop within 4 % of its size and 2 degrees of that guess.
        """
        if self._ahead is None or self._lone_crop is None or gray is None:
            return None
        guess = self._lone_crop
        return guess, self._ahead.submit(self.classifier.predict, [aligned_crop(gray, guess)])

    def _expressions(self, gray: np.ndarray | None, faces: list[FaceLandmarks],
                     ahead: tuple[CropGeometry, Future[np.ndarray]] | None) -> tuple[np.ndarray | None, float, bool]:
        """(N, 7) probabilities (None without a classifier or a face), crop time in ms, ahead used."""
        t0 = time.perf_counter()
        geometries = ([crop_geometry(face, self.classifier.cfg) for face in faces]
                      if gray is not None and self.classifier is not None else [])
        self._lone_crop = geometries[0] if len(geometries) == 1 else None
        if ahead is not None:
            guess, future = ahead
            try:
                probabilities = future.result()  # wait either way: the next frame may queue behind it
            except Exception:  # the exact crop below is classified on this thread, and fails here if it must
                log.warning("classifying ahead failed; classifying the exact crop", exc_info=True)
            else:
                if len(geometries) == 1 and geometries[0].close_to(guess):
                    return np.asarray(probabilities, dtype=np.float64), 0.0, True
        if not geometries:
            return None, (time.perf_counter() - t0) * 1000, False
        crops = [aligned_crop(gray, g) for g in geometries]
        crop_ms = (time.perf_counter() - t0) * 1000
        return np.asarray(self.classifier.predict(crops), dtype=np.float64), crop_ms, False

    def _observations(self, frame: Frame, faces: list[FaceLandmarks], ids: Iterable[int],
                      missing: Iterable[int], probabilities: np.ndarray | None) -> list[Observation]:
        observations: list[Observation] = []
        for row, (face, track_id) in enumerate(zip(faces, ids, strict=True)):
            features = face_features(face.landmarks, face.blendshapes, face.matrix, self.settings.attention)
            student = self.students.setdefault(track_id, StudentAttention(self.settings.attention))
            state, engagement = student.update(frame.t_s, features)
            self.engagement[track_id] = engagement
            probs = expression = None
            if track_id in self.still:  # a picture: no attention, no expression, left out of the class
                state, engagement = AttentionState.CAMERA_OFF, 0.0
            elif probabilities is not None:
                p = probabilities[row]
                probs = tuple(round(float(v), 6) for v in p)
                expression = EXPRESSIONS[int(np.argmax(p))]
            observations.append(Observation(
                ts=frame.ts, track_id=track_id, state=state, engagement=_clip(engagement),
                box=tuple(int(v) for v in face.box), probabilities=probs, expression=expression,
                yaw_deg=features.yaw_deg, pitch_deg=features.pitch_deg, roll_deg=features.roll_deg,
                eye_openness=features.eye_openness, gaze_offset=features.gaze_offset,
            ))
        for track_id in missing:
            student = self.students.setdefault(track_id, StudentAttention(self.settings.attention))
            state, engagement = student.absent(frame.t_s)
            self.engagement[track_id] = engagement
            observations.append(Observation(ts=frame.ts, track_id=track_id, state=AttentionState.ABSENT,
                                            engagement=_clip(engagement)))
        return observations


def _clip(engagement: float) -> float:
    return float(min(100.0, max(0.0, engagement)))


@dataclass(slots=True)
class RunStats:
    """Running totals for the one-line live status, and the sample times of the last RATE_WINDOW_S
    (samples per second are storage.measures', as the dashboard shows them)."""

    samples: int = 0
    faces: int = 0
    class_concentration: float | None = None
    first_ts_s: float | None = None  # the first sample's time (epoch seconds)
    recent_ts_s: deque[float] = field(default_factory=deque)  # sample times within the window

    @property
    def samples_per_s(self) -> float:
        """Samples per second over the latest RATE_WINDOW_S of samples (0 before a second one)."""
        if self.first_ts_s is None:
            return 0.0
        return measures.samples_per_s(self.recent_ts_s, self.first_ts_s) or 0.0

    def record(self, ts: datetime) -> None:
        """Count a sample taken at `ts` (its own time: the clock for live sources, media time for files)."""
        t = ts.timestamp()
        if self.first_ts_s is None:
            self.first_ts_s = t
        self.recent_ts_s.append(t)
        while self.recent_ts_s[0] <= t - RATE_WINDOW_S:
            self.recent_ts_s.popleft()

    @property
    def recent_rate_hz(self) -> float | None:
        """Samples per second over a whole RATE_WINDOW_S; None until one has passed."""
        if self.first_ts_s is None:
            return None
        return measures.achieved_rate_hz(self.recent_ts_s, self.first_ts_s)


@dataclass(slots=True)
class PaceCheck:
    """Says once when the machine falls short of the asked rate, and once when it has caught up
    (storage.measures: under 80 %, back at 90 %, in the dashboard's words)."""

    rate_hz: float
    behind: bool = False

    def update(self, achieved_hz: float | None) -> str | None:
        """The line to tell the teacher when the verdict changes, else None."""
        if achieved_hz is None:
            return None
        if not self.behind and measures.falls_short(achieved_hz, self.rate_hz):
            self.behind = True
            return measures.shortfall_words(achieved_hz, self.rate_hz)
        if self.behind and measures.has_caught_up(achieved_hz, self.rate_hz):
            self.behind = False
            return measures.caught_up_words(achieved_hz, self.rate_hz)
        return None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended (`end_of_source`, `stopped`, `max_seconds`, `truncated` or `source_lost`),
    the lesson status that says so, and a message for the teacher."""

    reason: str
    samples: int
    message: str = ""
    status: LessonStatus = LessonStatus.FINISHED
    last_ts: datetime | None = None  # the last stored sample's time


def run_lesson(source: FrameSource, pipeline: LessonPipeline, write: Callable[[Sample], None], *,
               stop: threading.Event | None = None, max_seconds: float | None = None,
               on_sample: Callable[[SampleResult, RunStats], None] | None = None,
               frames: Iterable[Frame] | None = None) -> RunOutcome:
    """Pull frames from the source until it ends, `stop` is set or max_seconds of lesson time pass.

    `frames` are the source's frames when the caller has begun them (its first frame, taken to fix
    the lesson's start, comes first). A lost or corrupt source ends the run with status
    source_lost; whatever the pipeline or `write` raises is the caller's to record (the lesson failed).
    """
    stop = stop or threading.Event()
    stats = RunStats()
    last_ts = None

    def outcome(reason: str, message: str = "", status: LessonStatus = LessonStatus.FINISHED) -> RunOutcome:
        return RunOutcome(reason, stats.samples, message, status, last_ts)

    try:
        for frame in source.frames() if frames is None else frames:
            if stop.is_set():
                return outcome("stopped")
            if max_seconds is not None and frame.t_s > max_seconds:
                return outcome("max_seconds")
            result = pipeline.process(frame)
            write(result.sample)
            last_ts = frame.ts
            stats.samples += 1
            stats.record(frame.ts)
            stats.faces = result.sample.faces_detected
            stats.class_concentration = result.class_concentration
            if on_sample is not None:
                on_sample(result, stats)
            if stop.is_set():
                return outcome("stopped")
    except SourceError as exc:  # SourceLost past the retry window, or a live source that never delivered
        return outcome("source_lost", str(exc), LessonStatus.SOURCE_LOST)
    if getattr(source, "truncated", False):
        return outcome("truncated", f"{source.description} is truncated or corrupt; the lesson ends at its last "
                       "good frame", LessonStatus.SOURCE_LOST)
    return outcome("end_of_source")
