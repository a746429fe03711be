"""The live card's numbers and notices, derived without I/O from what storage and the engine report.

Every function takes DataFrames as `storage.queries.live_view` and `lessons_summary` return them,
the engine's status as `dashboard.control.engine_status` read it, and the time explicitly. The
figures themselves (class concentration, who counts, samples per second and its shortfall) are
storage/measures.py's: this module only reads and words them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from dashboard import charts
from dashboard.control import EngineStatus
from dashboard.report import status_words
from engine.protocol import Failed, storage_waiting_now
from storage import measures
from storage.queries import LiveView
from storage.records import AttentionState, LessonStatus

STALE_AFTER_S = 10.0  # no sample for this long: the camera or the engine is gone
NO_FACES_AFTER_S = 30.0  # a screen region without a face for this long: the call window moved
NO_FACES_TEXT = (
    f"No faces in the selected screen region for {NO_FACES_AFTER_S:.0f} s "
    "— did the call window move?"
)
STARTING_TEXT = "The engine is starting (loading the models takes a few seconds)…"
# What each tile state, the engagement number and the class concentration mean (the page's help).
STATE_HELP = (
    "**attentive**: facing the screen, eyes open · **looking away**: head turned or eyes turned "
    "away beyond the limits on Privacy & settings · **eyes closed**: closed longer than a blink, or "
    "closed most of the last seconds · **absent**: the face is not in view (the tile says for how "
    "long, and the engagement the student had when last seen) · **camera off**: a still picture "
    "(profile photo, frozen video), not counted. **Engagement** 0-100: this student's attention "
    "averaged over the last seconds (100 facing the screen, falling as the head or eyes turn away, "
    "0 with eyes closed or absent). **Class concentration**: the mean engagement of the counted "
    "students; an absent student counts, their engagement falling to 0 after a few seconds; "
    "camera-off tiles and tiles marked \"not a student\" (your own self-view, a guest) are not "
    "counted, and **Count again** puts a tile marked by mistake back. The small line on each tile "
    "is the student's engagement over the last 5 minutes."
)
CONCENTRATION_HELP = (
    "Mean engagement of the counted students over the last 10 s (0-100): each student's engagement "
    "is their attention, 100 facing the screen with eyes open, 0 with eyes closed or away from the "
    "screen. The change is this figure now minus the same figure a minute ago."
)
PRESENT_HELP = (
    "Students in view in the last 10 s, of the students counted (a live camera, not marked not a "
    "student); tiles that showed a still picture are camera off and not counted."
)


@dataclass(frozen=True)
class Health:
    """How the engine is doing, as the live card tells the teacher."""

    engine_alive: bool
    last_sample_age_s: float | None
    message: str | None  # the engine's last words when it died


@dataclass(frozen=True)
class LiveNumbers:
    """The class right now (storage/measures.py over the last window): the live card's metrics."""

    concentration: float | None
    change_over_minute: float | None
    present: int
    counted: int
    camera_off: int
    low_streak_s: float


@dataclass(frozen=True)
class Notice:
    """One line for the teacher and how loudly to say it (success, info, warning or error)."""

    level: str
    text: str
    icon: str


def change_over_minute(live: LiveView) -> float | None:
    """Class concentration now minus the same figure a minute ago (None when either is missing)."""
    if live.now.concentration is None or live.minute_ago.concentration is None:
        return None
    return live.now.concentration - live.minute_ago.concentration


def present_words(numbers: LiveNumbers) -> str:
    """"7 of 8": the students present of the students counted."""
    return f"{numbers.present} of {numbers.counted}"


def camera_off_words(numbers: LiveNumbers) -> str | None:
    """"1 camera off": the still tiles, neither present nor counted (None when there are none)."""
    return f"{numbers.camera_off} camera off" if numbers.camera_off else None


def _seconds(sample_times: pd.Series, started_at: datetime) -> list[float]:
    """Sample times as seconds since the lesson's start, oldest first."""
    return list((pd.to_datetime(sample_times, utc=True) - pd.Timestamp(started_at)).dt.total_seconds())


def samples_per_s(sample_times: pd.Series, started_at: datetime) -> float | None:
    """Samples per second over the latest 20 s of stored samples (storage.measures.samples_per_s)."""
    return measures.samples_per_s(_seconds(sample_times, started_at), 0.0)


def low_streak_s(trend: pd.DataFrame, level: float, bucket_s: float) -> float:
    """How long the class has been under `level` up to the newest bucket (0 when it is not now)."""
    periods = charts.low_periods(trend, level, bucket_s)
    if not periods or trend.empty:
        return 0.0
    start, end = periods[-1]
    newest_end = trend["bucket_start"].iloc[-1] + pd.Timedelta(seconds=bucket_s)
    return (end - start).total_seconds() if end == newest_end else 0.0


def has_first_sample(summary: pd.DataFrame) -> bool:
    """Whether the lesson has stored its first sample: before it, the card shows no figure."""
    return not summary.empty and not pd.isna(summary["last_sample_at"].iloc[0])


def last_sample_age_s(summary: pd.DataFrame, now: datetime) -> float | None:
    """Seconds since the lesson's last stored sample; None before its first."""
    if not has_first_sample(summary):
        return None
    last = pd.Timestamp(summary["last_sample_at"].iloc[0])
    return max(0.0, (pd.Timestamp(now) - last).total_seconds())


def live_numbers(live: LiveView, alert_level: float, bucket_s: float) -> LiveNumbers:
    """The class over the last window and its change over a minute, who is present and counted,
    and how long the class has been under the alert level."""
    return LiveNumbers(
        concentration=live.now.concentration,
        change_over_minute=change_over_minute(live),
        present=live.now.present,
        counted=live.now.counted,
        camera_off=live.now.camera_off,
        low_streak_s=low_streak_s(live.trend, alert_level, bucket_s),
    )


def engine_health(
    lesson_status: str,
    summary: pd.DataFrame,
    now: datetime,
    engine: EngineStatus | None,
) -> Health:
    """Whether the engine runs and how old its last sample is.

    `engine` is the engine this dashboard started for this lesson; without one (a lesson started
    elsewhere) the lesson's stored status tells whether it runs.
    """
    if engine is not None:
        alive, message = engine.alive, None if engine.alive else engine.message
    else:
        alive, message = lesson_status == LessonStatus.RUNNING, None
    return Health(alive, last_sample_age_s(summary, now), message)


def storage_notice(engine: EngineStatus | None) -> Notice | None:
    """While the engine's writes wait (a full disk, a database away), what it said of it:
    "disk full: 44 samples waiting — free space on /srv/classpulse" (engine.protocol)."""
    waiting = None if engine is None else storage_waiting_now(engine.events)
    if waiting is None:
        return None
    return Notice("warning", waiting.text, ":material/hard_drive:")


def health_notice(health: Health) -> Notice | None:
    """What the card says about the engine: stopped, starting, no frames lately, or nothing."""
    if not health.engine_alive:
        said = f" It said: {health.message}" if health.message else ""
        return Notice("error", f"The engine has stopped.{said}", ":material/error:")
    if health.last_sample_age_s is None:
        return Notice("info", STARTING_TEXT, ":material/hourglass_top:")
    if health.last_sample_age_s > STALE_AFTER_S:
        return Notice(
            "warning",
            f"No frames for {health.last_sample_age_s:.0f} s — camera lost, or the video ended?",
            ":material/videocam_off:",
        )
    return None


def achieved_rate_hz(sample_times: pd.Series, started_at: datetime) -> float | None:
    """Samples per second over a whole 20 s up to the newest stored sample; None until the lesson
    has run that long (storage.measures.achieved_rate_hz; the lesson's start is its first sample)."""
    return measures.achieved_rate_hz(_seconds(sample_times, started_at), 0.0)


def rate_notice(
    sample_times: pd.Series, started_at: datetime, asked_hz: float
) -> Notice | None:
    """Says so while the engine manages under 80 % of the asked rate over the last 20 s, in the
    engine's own words (storage.measures)."""
    achieved = achieved_rate_hz(sample_times, started_at)
    if achieved is None or not measures.falls_short(achieved, asked_hz):
        return None
    return Notice("warning", measures.shortfall_words(achieved, asked_hz), ":material/speed:")


def alert_notice(low_streak_s: float, level: float, minutes: float) -> Notice | None:
    """The alert once class concentration has stayed under `level` for `minutes`."""
    if low_streak_s < minutes * 60:
        return None
    return Notice(
        "error",
        f"Class concentration has been under {level:g} for {low_streak_s / 60:.0f} min.",
        ":material/notifications_active:",
    )


def is_screen_source(source: str) -> bool:
    """Whether a lesson's stored source is the screen (the engine stores "screen 10,20,800,600")."""
    return source.split(" ", 1)[0] == "screen"


def no_faces_s(samples: pd.DataFrame) -> float:
    """How long the newest samples have shown no face: from the last sample with a face (or the
    first sample given) to the newest one; 0 when the newest sample has a face."""
    if samples.empty or int(samples["faces_detected"].iloc[-1]) > 0:
        return 0.0
    with_faces = samples[samples["faces_detected"] > 0]
    since = with_faces["ts"].iloc[-1] if not with_faces.empty else samples["ts"].iloc[0]
    return (samples["ts"].iloc[-1] - since).total_seconds()


def no_faces_notice(source: str, samples: pd.DataFrame) -> Notice | None:
    """A screen lesson whose region has shown no face for NO_FACES_AFTER_S: the call window moved,
    was minimised or covered (a webcam or a video without faces is left to the health notice)."""
    if not is_screen_source(source) or no_faces_s(samples) < NO_FACES_AFTER_S:
        return None
    return Notice("warning", NO_FACES_TEXT, ":material/picture_in_picture:")


def card_has_ended(lesson_status: str, engine: EngineStatus | None) -> bool:
    """Whether the live card should hand back to the page: the lesson it shows has ended.

    With our own engine, its exit decides (the page then says how it ended); a lesson started
    elsewhere has ended once storage no longer marks it running.
    """
    if engine is not None:
        return not engine.alive
    return lesson_status != LessonStatus.RUNNING


def engine_ended_notice(engine: EngineStatus) -> Notice:
    """How the engine this dashboard started ended, said once when the page finds it gone."""
    if engine.lesson_id is None:
        said = engine.message or f"no message (see {engine.handle.log_path})"
        return Notice("error", f"The engine could not start: {said}", ":material/error:")
    if engine.message is None:  # no `finished` or `failed` event: it never said how it ended
        return Notice(
            "warning",
            "The engine stopped without finishing its lesson (was it killed, or out of memory?).",
            ":material/warning:",
        )
    if any(isinstance(event, Failed) for event in engine.events):  # its one line: what happened, where
        return Notice("error", f"The engine stopped: {engine.message}", ":material/error:")
    return Notice("info", f"The engine has stopped ({engine.message}).", ":material/info:")


def finished_notice(title: str, status: str, cause: object = None) -> Notice:
    """A finished lesson's status in words ("Lesson “Maths” ended early: the camera ... was lost.",
    "... ended early: disk full.")."""
    if status == LessonStatus.RUNNING:  # the engine is gone but did not get to mark the lesson
        return Notice("success", f"Lesson “{title}” has ended.", ":material/check_circle:")
    words = status_words(status, cause)
    if status == LessonStatus.FINISHED:
        return Notice("success", f"Lesson “{title}” {words}.", ":material/check_circle:")
    return Notice("warning", f"Lesson “{title}” {words}.", ":material/warning:")


# --- tiles and the face limit -------------------------------------------------------------------

PRESENT_STATES = (AttentionState.ATTENTIVE, AttentionState.LOOKING_AWAY, AttentionState.EYES_CLOSED)


@dataclass(frozen=True)
class Absence:
    """An absent student: seconds since they were last in view and their engagement then (both
    None when this lesson never had them in view)."""

    absent_for_s: float | None
    last_engagement: float | None


def duration_words(seconds: float) -> str:
    """A duration as a teacher reads it: "40 s", "3 min", "1 h 5 min" (whole units, rounded down)."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


def absences(students: pd.DataFrame, last_present: pd.DataFrame, now: datetime) -> dict[int, Absence]:
    """Each absent student's absence, from their latest rows (`live_view`'s students) and their last
    row in view (track_id, ts, engagement, as `loaders.load_last_present` reads them)."""
    seen = {int(r.track_id): r for r in last_present.itertuples(index=False)}
    result = {}
    for track_id in absent_tracks(students):
        row = seen.get(track_id)
        if row is None:
            result[track_id] = Absence(None, None)
            continue
        away_s = max(0.0, (pd.Timestamp(now) - pd.Timestamp(row.ts)).total_seconds())
        result[track_id] = Absence(away_s, float(row.engagement))
    return result


def absent_tracks(students: pd.DataFrame) -> tuple[int, ...]:
    """The students whose latest row says absent."""
    if students.empty:
        return ()
    return tuple(int(t) for t in students.loc[students["state"] == AttentionState.ABSENT, "track_id"])


def tile_detail(
    state: str, engagement: float, expression: object, absence: Absence | None
) -> str:
    """A student tile's line under its badge: engagement (and expression), or why there is none."""
    if state == AttentionState.CAMERA_OFF:
        return "A still picture: not counted"
    if state == AttentionState.ABSENT:
        return absent_detail(absence or Absence(None, None))
    detail = f"Engagement **{engagement:.0f}**"
    return f"{detail} · {expression}" if isinstance(expression, str) else detail


def absent_detail(absence: Absence) -> str:
    """An absent tile's line: "absent for 3 min · last engagement 91, 3 min ago"."""
    if absence.absent_for_s is None or absence.last_engagement is None:
        return "absent · not in view yet this lesson"
    away = duration_words(absence.absent_for_s)
    return f"absent for {away} · last engagement {absence.last_engagement:.0f}, {away} ago"


def face_limit(lesson_settings: object) -> int | None:
    """The face limit a lesson's engine ran with (its stored settings' faces.max_faces), if known."""
    faces = lesson_settings.get("faces") if isinstance(lesson_settings, dict) else None
    limit = faces.get("max_faces") if isinstance(faces, dict) else None
    return int(limit) if isinstance(limit, int | float) and limit > 0 else None


def faces_followed(students: pd.DataFrame, ts: pd.Timestamp) -> int:
    """How many faces the engine followed in the sample at `ts`: students in view at that time."""
    if students.empty:
        return 0
    at_sample = pd.to_datetime(students["ts"], utc=True) == pd.Timestamp(ts)
    return int((at_sample & (students["state"] != AttentionState.ABSENT)).sum())


def face_limit_notice(
    samples: pd.DataFrame, students: pd.DataFrame, limit: int | None
) -> Notice | None:
    """The newest sample found more faces than the engine followed, because of the face limit."""
    if samples.empty:
        return None
    newest = samples.iloc[-1]
    found = int(newest["faces_detected"])
    followed = faces_followed(students, newest["ts"])
    if found <= followed or (limit is not None and followed < limit):
        return None  # every face is followed, or some were lost for another reason than the limit
    return Notice(
        "warning",
        f"{found} faces in view, {followed} followed (the face limit): raise the face limit "
        "when you start the next lesson.",
        ":material/groups:",
    )
