"""Per-student engagement (0-100) over time and the class's concentration from it."""

from __future__ import annotations

import math
from collections.abc import Mapping

from engine.attention import (
    AttentionSettings,
    EyeClosureHistory,
    FaceFeatures,
    TimeWeightedMean,
    attention_state,
    deviation,
)
from storage.records import AttentionState


def instant_engagement(
    features: FaceFeatures, state: AttentionState, settings: AttentionSettings
) -> float:
    """Engagement at one sample: 0 with eyes closed or absent, else 100 * (1 - deviation / zero_engagement_at).

    It is 100 facing the screen, 50 exactly at a yaw, pitch or gaze limit (where looking_away
    begins) and 0 at `zero_engagement_at` times that limit.
    """
    if state in (AttentionState.EYES_CLOSED, AttentionState.ABSENT):
        return 0.0
    ratio = deviation(features, settings) / settings.zero_engagement_at
    return 100.0 * min(1.0, max(0.0, 1.0 - ratio))


class StudentAttention:
    """One tracked student's attention state and engagement smoothed over `engagement_window_s`."""

    def __init__(self, settings: AttentionSettings) -> None:
        self._settings = settings
        self._eyes = EyeClosureHistory(settings)
        self._engagement = TimeWeightedMean(settings.engagement_window_s)
        self._last_instant: float | None = None
        self.absent_since_s: float | None = None

    def update(self, t_s: float, features: FaceFeatures) -> tuple[AttentionState, float]:
        """Record a sample where the student's face was seen; return the state and smoothed engagement."""
        self.absent_since_s = None
        sustained = self._eyes.update(t_s, features.eyes_closed_now)
        state = attention_state(features, sustained, self._settings)
        self._last_instant = instant_engagement(features, state, self._settings)
        return state, self._clamp(self._engagement.add(t_s, self._last_instant))

    def absent(self, t_s: float) -> tuple[AttentionState, float]:
        """Record a sample where the student's face was not found.

        Within `absent_grace_s` the last instantaneous engagement is held (a detector miss costs
        nothing); after it, absence counts as 0 and the smoothed value decays over the window.
        """
        if self.absent_since_s is None:
            self.absent_since_s = t_s
            self._eyes.clear()
        within_grace = t_s - self.absent_since_s < self._settings.absent_grace_s
        held = self._last_instant if within_grace and self._last_instant is not None else 0.0
        return AttentionState.ABSENT, self._clamp(self._engagement.add(t_s, held))

    @property
    def perclos(self) -> float:
        """Fraction of the recent PERCLOS window with the eyes closed."""
        return self._eyes.perclos

    @staticmethod
    def _clamp(engagement: float) -> float:
        """Clamp to 0..100 against float drift, so Observation accepts it."""
        return min(100.0, max(0.0, engagement))


def class_concentration(
    students: Mapping[int, tuple[float, float | None]],
    now_s: float,
    settings: AttentionSettings,
) -> float | None:
    """Mean engagement of the class; None with no students.

    `students` maps track_id to (smoothed engagement, absent_since_s or None when present).
    A student absent for `absent_grace_s` or longer counts as 0; within the grace their given
    engagement counts as it is. Forgotten tracks are simply not in the mapping.
    """
    if not students:
        return None
    total = 0.0
    for engagement, absent_since_s in students.values():
        if math.isnan(engagement):
            raise ValueError("engagement is NaN")
        away_long = absent_since_s is not None and now_s - absent_since_s >= settings.absent_grace_s
        total += 0.0 if away_long else engagement
    return total / len(students)
