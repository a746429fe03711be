"""A deterministic, realistic generated lesson for the benchmark, the demo and dashboard tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine

from storage.lessons import LessonSpec, create_lesson, finish_lesson
from storage.recorder import Recorder
from storage.records import EXPRESSIONS, AttentionState, Observation, Sample

log = logging.getLogger(__name__)

DEFAULT_STARTED_AT = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
_CHUNK = 600  # samples generated at a time


def generate_samples(
    *,
    students: int,
    hours: float,
    rate_hz: float,
    seed: int,
    started_at: datetime,
    attention_only: bool = False,
) -> Iterator[Sample]:
    """Yield the samples of a generated lesson: drifting attention, absences, expression mixes."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    rng = np.random.default_rng(seed)
    n_samples = int(round(hours * 3600 * rate_hz))
    step = timedelta(seconds=1 / rate_hz)
    track_ids = np.arange(1, students + 1)
    # Each student: a baseline interest, a personal expression mix, and a few absences.
    baseline = rng.uniform(45, 85, students)
    mix = rng.dirichlet(np.array([0.4, 0.2, 0.3, 1.5, 0.6, 0.5, 4.0]), students)
    absent = np.zeros((students, n_samples), dtype=bool)
    for s in range(students):
        for _ in range(rng.poisson(1.2)):
            start = rng.integers(0, max(n_samples, 1))
            length = int(rng.uniform(30, 900) * rate_hz)
            absent[s, start : start + length] = True
    drift = np.zeros(students)
    for first in range(0, n_samples, _CHUNK):
        count = min(_CHUNK, n_samples - first)
        # Attention drifts slowly (AR(1) random walk) and dips mid-lesson, as real classes do.
        steps = rng.normal(0, 0.6, (count, students))
        walk = np.empty((count, students))
        for i in range(count):
            drift = 0.995 * drift + steps[i]
            walk[i] = drift
        progress = (first + np.arange(count)) / max(n_samples, 1)
        fatigue = 12 * np.sin(np.pi * progress)[:, None]
        engagement = np.clip(
            baseline[None, :] + walk * 4 - fatigue + rng.normal(0, 5, (count, students)), 0, 100
        )
        yaw = rng.normal(0, 12, (count, students)) + (60 - engagement) * 0.4
        pitch = rng.normal(-5, 6, (count, students))
        roll = rng.normal(0, 4, (count, students))
        eyes = np.clip(rng.normal(0.3, 0.05, (count, students)) - (engagement < 20) * 0.2, 0, 1)
        gaze = np.abs(rng.normal(0, 0.1, (count, students))) + (100 - engagement) / 400
        probs = mix[None, :, :] * rng.gamma(4.0, 1.0, (count, students, len(EXPRESSIONS)))
        probs /= probs.sum(axis=2, keepdims=True)
        faces_x = rng.integers(0, 1200, (count, students))
        for i in range(count):
            index = first + i
            ts = started_at + index * step
            observations = []
            present = 0
            for s in range(students):
                if absent[s, index]:
                    observations.append(
                        Observation(
                            ts=ts,
                            track_id=int(track_ids[s]),
                            state=AttentionState.ABSENT,
                            engagement=0.0,
                        )
                    )
                    continue
                present += 1
                e = float(engagement[i, s])
                if eyes[i, s] < 0.15:
                    state = AttentionState.EYES_CLOSED
                elif abs(yaw[i, s]) > 25:
                    state = AttentionState.LOOKING_AWAY
                else:
                    state = AttentionState.ATTENTIVE
                p = None if attention_only else tuple(probs[i, s].tolist())
                expression = None if p is None else EXPRESSIONS[int(np.argmax(probs[i, s]))]
                observations.append(
                    Observation(
                        ts=ts,
                        track_id=int(track_ids[s]),
                        state=state,
                        engagement=round(e, 2),
                        box=(int(faces_x[i, s]), 80 + 40 * (s % 6), 96, 96),
                        probabilities=p,
                        expression=expression,
                        yaw_deg=float(yaw[i, s]),
                        pitch_deg=float(pitch[i, s]),
                        roll_deg=float(roll[i, s]),
                        eye_openness=float(eyes[i, s]),
                        gaze_offset=float(gaze[i, s]),
                    )
                )
            yield Sample(
                ts=ts,
                faces_detected=present,
                processing_ms=float(18 + (index * 7919 % 13)),
                observations=tuple(observations),
            )


def seed_lesson(
    engine: Engine,
    *,
    students: int = 30,
    hours: float = 3.0,
    rate_hz: float = 2.0,
    seed: int = 0,
    attention_only: bool = False,
    title: str = "Generated lesson",
    group_name: str = "Demo class",
    started_at: datetime = DEFAULT_STARTED_AT,
    owner: str | None = None,
) -> int:
    """Write a generated, finished lesson through the Recorder's bulk path and return its id."""
    spec = LessonSpec(
        title=title,
        group_name=group_name,
        started_at=started_at,
        source=f"synthetic(students={students}, hours={hours}, seed={seed})",
        sample_rate_hz=rate_hz,
        model_name=None if attention_only else "synthetic",
        attention_only=attention_only,
        settings={"synthetic": True, "seed": seed},
        owner=owner,
    )
    lesson_id = create_lesson(engine, spec)
    samples = generate_samples(
        students=students,
        hours=hours,
        rate_hz=rate_hz,
        seed=seed,
        started_at=started_at,
        attention_only=attention_only,
    )
    with Recorder(engine, lesson_id, batch_max=600, flush_interval_s=5.0) as recorder:
        for sample in samples:
            recorder.add(sample)
    finish_lesson(engine, lesson_id, ended_at=started_at + timedelta(hours=hours))
    log.info(
        "seeded lesson %d: %d students, %.2f h at %.1f Hz", lesson_id, students, hours, rate_hz
    )
    return lesson_id
