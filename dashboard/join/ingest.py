"""From a student's checked samples to stored rows, with the engine's own attention maths.

States and engagement come from `engine.engagement.StudentAttention` (update for a face, absent
without one), exactly as the capture engine derives them for a gallery tile. Each student's
StudentAttention is kept between batches in an `AttentionBook` (held by the routes, no module
state) with the last t_ms it has seen. A batch that does not follow on from it (this server
restarted, another server took the previous batch) rebuilds it by replaying the student's stored
rows of the last windows, which gives the very state the continuous run would have: no
per-server state matters, any routing works (docs/join.md).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine

from dashboard.join.payload import JoinSample
from engine.attention import AttentionSettings, FaceFeatures
from engine.engagement import StudentAttention
from storage.db import write_transaction
from storage.join import StudentAtLesson, student_history
from storage.join_writes import StudentBatch, record_batches, standings
from storage.records import EXPRESSIONS, AttentionState, Observation, Sample
from storage.schema import from_epoch_ms

log = logging.getLogger(__name__)

IDLE_FORGET_S = 900.0  # a student's state not used for this long is dropped (rebuilt if needed)


def attention_settings(lesson_settings: Mapping[str, Any]) -> AttentionSettings:
    """The lesson's stored attention thresholds (its settings' "attention"), defaults for the rest."""
    stored = lesson_settings.get("attention")
    if not isinstance(stored, Mapping):
        return AttentionSettings()
    known = {f.name for f in fields(AttentionSettings)}
    values = {k: float(v) for k, v in stored.items()
              if k in known and type(v) in (int, float) and math.isfinite(v)}  # fmt: skip
    try:
        return AttentionSettings(**values)
    except ValueError:
        log.warning("a lesson's stored attention settings are invalid; using the defaults")
        return AttentionSettings()


def history_window_ms(settings: AttentionSettings) -> int:
    """How far back a replay must start so that its state equals the continuous run's.

    The engagement mean covers `engagement_window_s`; each value in it depends on at most
    max(PERCLOS window, sustained-closure time, absence grace) before it.
    """
    lookback = max(settings.perclos_window_s, settings.eyes_closed_min_s, settings.absent_grace_s)
    return math.ceil((settings.engagement_window_s + lookback) * 1000.0)


def _features(yaw: float, pitch: float, roll: float, eyes: float, gaze: float,
              settings: AttentionSettings) -> FaceFeatures:  # fmt: skip
    """FaceFeatures as engine.attention.face_features builds them from the same measures."""
    return FaceFeatures(yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll, eye_openness=eyes,
                        eyes_closed_now=eyes < settings.ear_closed, gaze_offset=gaze)  # fmt: skip


def replay(rows: list[Any], settings: AttentionSettings) -> StudentAttention:
    """A StudentAttention fed a student's stored rows (storage.join.student_history), in order."""
    attention = StudentAttention(settings)
    for row in rows:
        t_s = row.t_ms / 1000.0
        if row.state == AttentionState.ABSENT.value or row.yaw_deg is None:
            attention.absent(t_s)
        else:
            attention.update(t_s, _features(row.yaw_deg, row.pitch_deg, row.roll_deg,
                                            row.eye_openness, row.gaze_offset, settings))  # fmt: skip
    return attention


def to_sample(
    sample: JoinSample, track_id: int, attention: StudentAttention, settings: AttentionSettings
) -> Sample:
    """The stored Sample (stream = the student's track) with its one Observation."""
    ts = from_epoch_ms(sample.t_ms)
    t_s = sample.t_ms / 1000.0
    if not sample.face:
        state, engagement = attention.absent(t_s)
        observation = Observation(ts=ts, track_id=track_id, state=state, engagement=engagement)
    else:
        assert sample.yaw_deg is not None and sample.pitch_deg is not None
        assert sample.roll_deg is not None and sample.eye_openness is not None
        assert sample.gaze_offset is not None
        features = _features(sample.yaw_deg, sample.pitch_deg, sample.roll_deg,
                             sample.eye_openness, sample.gaze_offset, settings)  # fmt: skip
        state, engagement = attention.update(t_s, features)
        probabilities = expression = None
        if sample.probabilities is not None:  # rounded as the engine stores them
            probabilities = tuple(round(p, 6) for p in sample.probabilities)
            expression = EXPRESSIONS[int(np.argmax(sample.probabilities))]
        observation = Observation(
            ts=ts, track_id=track_id, state=state, engagement=engagement,
            probabilities=probabilities, expression=expression, yaw_deg=features.yaw_deg,
            pitch_deg=features.pitch_deg, roll_deg=features.roll_deg,
            eye_openness=features.eye_openness, gaze_offset=features.gaze_offset,
        )  # fmt: skip
    return Sample(ts=ts, faces_detected=int(sample.face), processing_ms=0.0,
                  observations=(observation,), stream=track_id)  # fmt: skip


@dataclass(slots=True)
class _Held:
    attention: StudentAttention
    last_t_ms: int
    used_s: float


class AttentionBook:
    """Each joined student's StudentAttention between batches, keyed (lesson_id, track_id). One
    server writes one student's batches one at a time (dashboard.join.group_writer)."""

    def __init__(self, idle_forget_s: float = IDLE_FORGET_S) -> None:
        self._idle_forget_s = idle_forget_s
        self._held: dict[tuple[int, int], _Held] = {}
        self._lock = threading.Lock()
        self._pruned_s = time.monotonic()
        self.rebuilds = 0  # how often a state was rebuilt from stored rows (for tests and logs)

    def take(self, key: tuple[int, int], stored_last_t_ms: int | None) -> StudentAttention | None:
        """The held state when it has seen exactly what is stored, else None (rebuild it); taken
        out, so a batch whose write fails leaves nothing half-advanced behind."""
        with self._lock:
            held = self._held.pop(key, None)
        if held is None or held.last_t_ms != stored_last_t_ms:
            return None
        return held.attention

    def keep(self, key: tuple[int, int], attention: StudentAttention, last_t_ms: int) -> None:
        """Hold the state after the batch that ended at `last_t_ms`."""
        now_s = time.monotonic()
        with self._lock:
            self._held[key] = _Held(attention, last_t_ms, now_s)
            if now_s - self._pruned_s > 60.0:
                self._prune(now_s)

    def _prune(self, now_s: float) -> None:
        self._pruned_s = now_s
        for key in [
            k for k, held in self._held.items() if now_s - held.used_s > self._idle_forget_s
        ]:
            del self._held[key]


@dataclass(frozen=True, slots=True)
class Ingested:
    """What a batch came to: samples newly stored, and those already stored (a resend)."""

    stored: int
    skipped: int


@dataclass(slots=True)
class Derived:
    """A student's batch made into stored records, with the attention state it leaves behind."""

    batch: StudentBatch
    key: tuple[int, int]
    attention: StudentAttention | None  # None when nothing in the batch was new
    last_t_ms: int | None  # of the newest new sample

    def keep(self, book: AttentionBook) -> None:
        """After the COMMIT: hold the state for the student's next batch."""
        if self.attention is not None and self.last_t_ms is not None:
            book.keep(self.key, self.attention, self.last_t_ms)


def derive(conn: Connection, book: AttentionBook, found: StudentAtLesson,
           samples: list[JoinSample], last_t_ms: int | None) -> Derived:  # fmt: skip
    """The batch's samples after `last_t_ms` (the student's newest stored one, read in the write
    transaction `conn`) as stored records, with the engine's attention maths: the held state when
    it has seen exactly what is stored, else one rebuilt from the stored rows."""
    lesson, track_id = found.lesson, found.student.track_id
    new = [sample for sample in samples if last_t_ms is None or sample.t_ms > last_t_ms]
    settings = attention_settings(lesson.settings)
    key = (lesson.lesson_id, track_id)
    attention = book.take(key, last_t_ms) if new else None
    if new and attention is None:
        attention = StudentAttention(settings)
        if last_t_ms is not None:
            rows = student_history(conn, lesson.lesson_id, track_id, last_t_ms,
                                   history_window_ms(settings))  # fmt: skip
            attention = replay(rows, settings)
            book.rebuilds += 1
    records = [to_sample(sample, track_id, attention, settings) for sample in new]
    batch = StudentBatch(found.student_id, lesson.lesson_id, track_id, records)
    return Derived(batch, key, attention, new[-1].t_ms if new else None)


def ingest(
    engine: Engine, book: AttentionBook, found: StudentAtLesson, samples: list[JoinSample],
    now: datetime,
) -> Ingested:  # fmt: skip
    """Derive and store one student's checked batch in its own transaction (a group of one)."""
    with write_transaction(engine) as conn:
        last = standings(conn, [found.student_id]).get(found.student_id)
        derived = derive(conn, book, found, samples, None if last is None else last.last_t_ms)
        stored = record_batches(conn, [derived.batch], now)[found.student_id]
    derived.keep(book)
    return Ingested(stored, len(samples) - stored)
