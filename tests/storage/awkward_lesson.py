"""One awkward lesson, written as the engine writes one: a live student, a student who goes absent,
a profile photo the still-picture check marks camera off after its first 3 s, and the teacher's
self-view marked "not a student". Every view of its figures must agree (tests/dashboard/
test_one_definition.py), and its expected figures are computed here from the rows written."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from storage.exclusions import exclude_track
from storage.lessons import LessonSpec, create_lesson
from storage.recorder import Recorder
from storage.records import EXPRESSIONS, AttentionState, Observation, Sample

A = AttentionState
RATE_HZ = 1.0
SECONDS = 30  # three 10-second buckets; samples half a second into each second, off every edge
LIVE, LEAVES, PHOTO, TEACHER = 1, 2, 3, 4
LEAVES_AT = 16  # the second student is out of view from this sample on
STILL_FROM = 3  # the photo is found still after 3 s: its first samples were stored as a live face


def _probabilities(name: str) -> tuple[float, ...]:
    return tuple(0.52 if e == name else 0.08 for e in EXPRESSIONS)


def _face(ts: datetime, track_id: int, state: AttentionState, engagement: float,
          expression: str | None) -> Observation:
    """A face in view as the pipeline stores it (a still picture has no expression)."""
    return Observation(
        ts=ts, track_id=track_id, state=state, engagement=engagement,
        box=(100 * track_id, 40, 80, 80),
        probabilities=None if expression is None else _probabilities(expression),
        expression=expression, yaw_deg=4.0, pitch_deg=-3.0, roll_deg=1.0, eye_openness=0.3,
        gaze_offset=0.05,
    )


def samples(started_at: datetime) -> list[Sample]:
    """The lesson's samples at 1 Hz, as the engine's pipeline builds them."""
    found: list[Sample] = []
    for i in range(SECONDS):
        ts = started_at + timedelta(seconds=i + 0.5)
        faces = [_face(ts, LIVE, A.ATTENTIVE, 70.0 + (i * 7) % 25, "happy")]
        if i < LEAVES_AT:
            state = A.LOOKING_AWAY if i % 4 == 3 else A.ATTENTIVE
            faces.append(_face(ts, LEAVES, state, 50.0 + (i % 4) * 6, "neutral"))
            absent = []
        else:  # held through the grace, then falling to 0, as StudentAttention.absent stores it
            held = max(0.0, 68.0 - 14.0 * (i - LEAVES_AT))
            absent = [Observation(ts=ts, track_id=LEAVES, state=A.ABSENT, engagement=held)]
        if i < STILL_FROM:
            faces.append(_face(ts, PHOTO, A.LOOKING_AWAY, 30.0 + i, "sad"))
        else:
            faces.append(_face(ts, PHOTO, A.CAMERA_OFF, 0.0, None))
        faces.append(_face(ts, TEACHER, A.ATTENTIVE, 100.0, "happy"))
        found.append(Sample(ts=ts, faces_detected=len(faces), processing_ms=25.0,
                            observations=tuple(faces + absent)))
    return found


@dataclass(frozen=True)
class AwkwardLesson:
    """The stored lesson's id, when it started, and what was written."""

    lesson_id: int
    started_at: datetime
    samples: list[Sample]
    excluded: tuple[int, ...] = (TEACHER,)

    def rows(self, since: datetime, until: datetime) -> list[tuple[int, str, float]]:
        """(track_id, state, engagement) of the students' observations in [since, until)."""
        return [(o.track_id, o.state.value, o.engagement) for s in self.samples
                for o in s.observations
                if since <= o.ts < until and o.track_id not in self.excluded]


def write_awkward_lesson(engine: Engine, started_at: datetime) -> AwkwardLesson:
    """Store the lesson through the Recorder (the engine's path), still running, teacher excluded."""
    lesson_id = create_lesson(engine, LessonSpec("Awkward call", "9D", started_at,
                                                 source="screen 0,0,800,600", sample_rate_hz=RATE_HZ,
                                                 model_name="synthetic"))
    written = samples(started_at)
    with Recorder(engine, lesson_id) as recorder:
        for sample in written:
            recorder.add(sample)
    exclude_track(engine, lesson_id, TEACHER, started_at + timedelta(seconds=SECONDS))
    return AwkwardLesson(lesson_id, started_at, written)


@dataclass(frozen=True)
class Expected:
    """The figures of a period, worked out by hand from the rows: mean over counted students of
    their mean engagement; present, counted and camera-off students."""

    concentration: float | None
    present: int
    counted: int
    camera_off: int
    engagement: dict[int, float]  # each counted student's mean engagement


def expected(rows: Iterable[tuple[int, str, float]]) -> Expected:
    """What every view must show for these rows (the rule of docs/engagement.md, by hand)."""
    live: dict[int, list[tuple[str, float]]] = {}
    still: dict[int, int] = {}
    for track_id, state, engagement in rows:
        if state == A.CAMERA_OFF:
            still[track_id] = still.get(track_id, 0) + 1
        else:
            live.setdefault(track_id, []).append((state, engagement))
    counted = {t: v for t, v in live.items() if len(v) >= still.get(t, 0)}
    means = {t: sum(e for _, e in v) / len(v) for t, v in counted.items()}
    return Expected(
        sum(means.values()) / len(means) if means else None,
        sum(1 for v in counted.values() if any(s != A.ABSENT for s, _ in v)),
        len(counted),
        sum(1 for t, n in still.items() if n > len(live.get(t, []))),
        means,
    )
