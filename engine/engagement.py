"""Per-student engagement (0-100) over time and the class's concentration from it."""

from __future__ import annotations

from collections.abc import Iterable

from engine.attention import (
    AttentionSettings,
    EyeClosureHistory,
    FaceFeatures,
    TimeWeightedMean,
    attention_state,
    deviation,
)
from storage.measures import class_figures
from storage.records import AttentionState, Observation


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


def class_concentration(observations: Iterable[Observation]) -> float | None:
    """The class concentration of one sample, by storage/measures.py's rule over that sample: the
    mean engagement of the students with a live camera (a still picture is left out; an absent
    student counts with the engagement stored for them, falling to 0 after the grace); None with
    no one counted. The same figure the dashboard shows for a window holding only this sample."""
    return class_figures((o.track_id, o.state, o.engagement) for o in observations).concentration
