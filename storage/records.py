"""The typed records every package may import: storage owns the contract it accepts.

A sample (one processed frame) and its observations flow engine -> storage; the stored expression
vocabulary and the lesson statuses are defined here once. This module imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Canonical expression order everywhere a probability vector is stored or shown (FER-2013 label order).
EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class AttentionState(StrEnum):
    """What a student is doing at one sample, as the teacher reads it."""

    ATTENTIVE = "attentive"
    LOOKING_AWAY = "looking_away"
    EYES_CLOSED = "eyes_closed"
    ABSENT = "absent"
    CAMERA_OFF = "camera_off"  # a face that does not change: a profile photo, a frozen video, a poster


class LessonStatus(StrEnum):
    """How a lesson stands, or how it ended; stored as the lesson's status."""

    RUNNING = "running"
    FINISHED = "finished"  # the teacher stopped it, or the file ended
    SOURCE_LOST = "source_lost"  # camera, stream or screen gone past the retry window, or a corrupt file
    FAILED = "failed"  # the engine raised
    INTERRUPTED = "interrupted"  # the engine was killed; found afterwards


def _require_aware(ts: datetime, what: str) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {ts.isoformat()}")


@dataclass(frozen=True, slots=True)
class Observation:
    """One student (anonymous track) at one sample.

    `box` is (x, y, w, h) in frame pixels, None when the student is absent.
    `probabilities` follows EXPRESSIONS and is None in attention-only lessons or when absent.
    """

    ts: datetime
    track_id: int
    state: AttentionState
    engagement: float
    box: tuple[int, int, int, int] | None = None
    probabilities: tuple[float, ...] | None = None
    expression: str | None = None
    yaw_deg: float | None = None
    pitch_deg: float | None = None
    roll_deg: float | None = None
    eye_openness: float | None = None
    gaze_offset: float | None = None

    def __post_init__(self) -> None:
        _require_aware(self.ts, "Observation.ts")
        if not 0.0 <= self.engagement <= 100.0:
            raise ValueError(f"engagement must be within 0..100, got {self.engagement}")
        if self.probabilities is not None and len(self.probabilities) != len(EXPRESSIONS):
            raise ValueError(
                f"probabilities must have {len(EXPRESSIONS)} values, got {len(self.probabilities)}"
            )
        if self.expression is not None and self.expression not in EXPRESSIONS:
            raise ValueError(f"unknown expression {self.expression!r}; expected one of {EXPRESSIONS}")
        if self.box is not None and len(self.box) != 4:
            raise ValueError(f"box must be (x, y, w, h), got {self.box}")


@dataclass(frozen=True, slots=True)
class Sample:
    """One processed frame: when, how many faces, how long it took, and one observation per student.

    A frame with no face is still a sample (faces_detected=0): an empty seat is data. `stream`
    says who measured it: 0 the capture engine, N a student who joined from their browser as
    track N (their own device measured it); a lesson has at most one sample per stream per ms.
    """

    ts: datetime
    faces_detected: int
    processing_ms: float
    observations: tuple[Observation, ...] = field(default_factory=tuple)
    stream: int = 0

    def __post_init__(self) -> None:
        _require_aware(self.ts, "Sample.ts")
        if self.faces_detected < 0:
            raise ValueError(f"faces_detected must be >= 0, got {self.faces_detected}")
        if self.stream < 0:
            raise ValueError(f"stream must be >= 0, got {self.stream}")
