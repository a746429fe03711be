"""The one definition of each figure a teacher sees about the class: who counts, the class
concentration, students present, and samples per second with its shortfall.

Every view calls these: the live headline and its one-minute change, the live trend, the report's
summary, timeline and students table, the markers' before/after, every export, and the engine's
own status line (through the pure twin below and the rate functions). A lesson students join from
their browser is the same lesson to these figures, each student a track; its samples per second
are counted per student (`stream_rates`: each device samples on its own).

Over any period (a 10-second bucket, the live window, a marker's minutes, the whole lesson), each
track is first summed (storage/rollups.py: `n` samples with a live camera, `n_absent` of them out
of view, `n_camera_off` still pictures, `engagement_sum` over the `n` live samples). Then:

* a track marked "not a student" is left out before anything is summed (storage/exclusions.py);
* a **camera-off** track there showed a still picture for more of its samples than a live camera:
  neither present nor counted, it has only its camera-off time;
* a **counted** student had a live camera for at least half of their samples there;
* a student is **present** when counted and in view at least once there;
* **class concentration** is the mean over counted students of each one's mean engagement over
  their live samples (an absent sample counts with the engagement the engine stored: held
  through a detector miss, then falling to 0).

The SQL columns and the pure Python twin (`class_figures`) apply the same rule; a test runs both
on the same stored lesson.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, Select, and_, case, cast, func, select
from sqlalchemy.sql.expression import ColumnCollection

from storage.exclusions import is_student
from storage.records import AttentionState
from storage.rollups import count_if, raw_per_student_select
from storage.schema import ObservationRow
from storage.viewers import Viewer, lesson_visible

_ABSENT = AttentionState.ABSENT.value
_CAMERA_OFF = AttentionState.CAMERA_OFF.value

Sums = ColumnCollection[str, ColumnElement[Any]]  # a per-student sums subquery's `.c`
CLASS_COLUMNS: tuple[str, ...] = (
    "concentration", "students_present", "students_counted", "students_camera_off",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClassFigures:
    """The class over one period: its concentration (None when no one counted) and who counts."""

    concentration: float | None
    present: int
    counted: int
    camera_off: int

    @classmethod
    def nobody(cls) -> ClassFigures:
        """A period with no student in it."""
        return cls(None, 0, 0, 0)


# --- who counts, in SQL over per-student sums (the columns of storage.rollups.SUM_COLUMNS) -----


def counted(c: Sums) -> ColumnElement[Any]:
    """SQL: the student is counted over the period (a live camera for at least half their samples)."""
    return and_(c.n > 0, c.n >= c.n_camera_off)


def present(c: Sums) -> ColumnElement[Any]:
    """SQL: the student is counted and was in view at least once over the period."""
    return and_(counted(c), c.n_absent < c.n)


def camera_off(c: Sums) -> ColumnElement[Any]:
    """SQL: the track showed a still picture for most of the period: not a student there."""
    return c.n_camera_off > c.n


def student_engagement(c: Sums) -> ColumnElement[Any]:
    """SQL: a counted student's mean engagement over the period; NULL for a track not counted."""
    return case((counted(c), cast(c.engagement_sum, Float) / c.n))


def of_counted(c: Sums, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQL: the sum of a per-student column over counted students only (for shares and means)."""
    return func.sum(case((counted(c), column), else_=0))


def class_columns(c: Sums) -> list[ColumnElement[Any]]:
    """SQL: the class figures (CLASS_COLUMNS) of the per-student sums `c`, grouped as the caller groups."""
    return [
        func.avg(student_engagement(c)).label("concentration"),
        count_if(present(c)).label("students_present"),
        count_if(counted(c)).label("students_counted"),
        count_if(camera_off(c)).label("students_camera_off"),
    ]


def window_select(lesson_id: int, since: datetime, until: datetime, *, viewer: Viewer) -> Select[Any]:
    """The class figures over the observations in [since, until), from the rows themselves (half
    open as a timeline bucket is, so a window on a bucket's edges holds exactly its samples)."""
    sums = raw_per_student_select(
        None,
        ObservationRow.lesson_id == lesson_id,
        ObservationRow.ts >= since,
        ObservationRow.ts < until,
        is_student(ObservationRow.lesson_id, ObservationRow.track_id),
        lesson_visible(viewer, lesson_id),
    ).subquery("per_student")
    return select(*class_columns(sums.c))


def class_window(
    conn: Connection, lesson_id: int, since: datetime, until: datetime, *, viewer: Viewer
) -> ClassFigures:
    """The class figures over [since, until) (the live headline, a marker's before and after)."""
    row = conn.execute(window_select(lesson_id, since, until, viewer=viewer)).one()
    return figures_of(row._mapping)


def figures_of(row: Any) -> ClassFigures:
    """ClassFigures from a row (mapping) holding CLASS_COLUMNS."""
    value = row["concentration"]
    return ClassFigures(
        None if value is None else float(value),
        int(row["students_present"] or 0),
        int(row["students_counted"] or 0),
        int(row["students_camera_off"] or 0),
    )


# --- the same rule in Python: the engine's status line, and the test that pins SQL to it --------


@dataclass(slots=True)
class _Sums:
    n: int = 0
    n_absent: int = 0
    n_camera_off: int = 0
    engagement_sum: float = 0.0


def class_figures(rows: Iterable[tuple[int, str, float]]) -> ClassFigures:
    """The class figures of (track_id, state, engagement) rows of one period, excluded tracks
    already left out: the same rule as `class_columns`, without a database."""
    sums: dict[int, _Sums] = {}
    for track_id, state, engagement in rows:
        s = sums.setdefault(int(track_id), _Sums())
        if state == _CAMERA_OFF:
            s.n_camera_off += 1
            continue
        s.n += 1
        s.n_absent += state == _ABSENT
        s.engagement_sum += float(engagement)
    counted_ = [s for s in sums.values() if s.n > 0 and s.n >= s.n_camera_off]
    return ClassFigures(
        sum(s.engagement_sum / s.n for s in counted_) / len(counted_) if counted_ else None,
        sum(1 for s in counted_ if s.n_absent < s.n),
        len(counted_),
        sum(1 for s in sums.values() if s.n_camera_off > s.n),
    )


# --- samples per second and the rate shortfall -------------------------------------------------

RATE_WINDOW_S = 20.0  # samples per second are counted over the latest 20 s of samples
BEHIND_SHARE = 0.8  # under 80 % of the asked rate, the machine cannot keep up
CAUGHT_UP_SHARE = 0.9  # and it has caught up again at 90 %


def samples_per_s(
    times_s: Sequence[float], first_s: float, window_s: float = RATE_WINDOW_S
) -> float | None:
    """Samples per second up to the newest sample: those after its last `window_s` (or after the
    first sample, in a shorter lesson) over that span; None before a second sample.

    Anchored at the newest sample, not at now, so samples on their way to the database never count
    as missing. `times_s` are sample times in seconds (any epoch), oldest first; `first_s` is the
    lesson's first sample (its start).
    """
    if not times_s:
        return None
    newest = times_s[-1]
    span_s = min(window_s, newest - first_s)
    if span_s <= 0:
        return None
    return sum(1 for t in times_s if t > newest - span_s) / span_s


def achieved_rate_hz(
    times_s: Sequence[float], first_s: float, window_s: float = RATE_WINDOW_S
) -> float | None:
    """Samples per second over a whole `window_s`: None until the lesson has run that long (the
    figure that judges whether the machine keeps up, never a lesson's first seconds)."""
    if not times_s or times_s[-1] - first_s < window_s:
        return None
    return samples_per_s(times_s, first_s, window_s)


def stream_rates(
    samples: Iterable[tuple[int, float]], firsts: Mapping[int, float],
    window_s: float = RATE_WINDOW_S, *, whole_window: bool = False,
) -> dict[int, float]:  # fmt: skip
    """Samples per second of each stream — the capture engine is stream 0, a joined student their
    own track, each measured on their own device — by `samples_per_s` over that stream's samples
    from its own first sample (`firsts`, else its first given); with `whole_window`, by
    `achieved_rate_hz`. A stream that sent nothing within `window_s` before the newest sample of any
    stream has gone quiet (a silent student: shown as such, not as slow) and is left out, as is one
    without a figure yet. `samples` are (stream, time in seconds), any order."""
    times: dict[int, list[float]] = {}
    for stream, t_s in samples:
        times.setdefault(int(stream), []).append(float(t_s))
    if not times:
        return {}
    newest = max(max(ts) for ts in times.values())
    rate = achieved_rate_hz if whole_window else samples_per_s
    rates = {}
    for stream, ts in times.items():
        ts.sort()
        if ts[-1] <= newest - window_s:
            continue
        value = rate(ts, firsts.get(stream, ts[0]), window_s)
        if value is not None:
            rates[stream] = value
    return rates


def samples_per_student_s(
    samples: Iterable[tuple[int, float]], firsts: Mapping[int, float], window_s: float = RATE_WINDOW_S
) -> float | None:
    """A join lesson's samples per second: per student, the mean over the students sending of each
    one's own rate (`stream_rates`), so 30 students at 1 Hz read 1, not 30. An engine lesson's
    one stream gives its `samples_per_s` unchanged. None before any student has a figure."""
    rates = stream_rates(samples, firsts, window_s)
    return sum(rates.values()) / len(rates) if rates else None


def short_streams(
    samples: Iterable[tuple[int, float]], firsts: Mapping[int, float], asked_hz: float,
    window_s: float = RATE_WINDOW_S,
) -> dict[int, float]:  # fmt: skip
    """The streams (students' devices) that manage under BEHIND_SHARE of the asked rate over a
    whole window of their own samples, with what each manages."""
    rates = stream_rates(samples, firsts, window_s, whole_window=True)
    return {stream: hz for stream, hz in rates.items() if falls_short(hz, asked_hz)}


def students_shortfall_words(short: Mapping[int, float], asked_hz: float) -> str:
    """The sentence that tells the teacher some students' devices cannot keep the asked rate."""
    slowest = min(short.values())
    who = "1 student's device manages" if len(short) == 1 else f"{len(short)} students' devices manage"
    return (f"{who} under {BEHIND_SHARE:.0%} of the {asked_hz:g} samples/s asked (slowest "
            f"{slowest:.1f}/s): a slow device, or the page hidden in a background tab.")


def falls_short(achieved_hz: float, asked_hz: float) -> bool:
    """Whether the machine manages under BEHIND_SHARE of the asked rate."""
    return achieved_hz < BEHIND_SHARE * asked_hz


def has_caught_up(achieved_hz: float, asked_hz: float) -> bool:
    """Whether a machine that fell short is back at CAUGHT_UP_SHARE of the asked rate."""
    return achieved_hz >= CAUGHT_UP_SHARE * asked_hz


def shortfall_words(achieved_hz: float, asked_hz: float) -> str:
    """The one sentence that tells the teacher the machine cannot keep the asked rate."""
    return (f"This computer manages {achieved_hz:.1f} samples/s of the {asked_hz:g} asked: "
            "lower the rate or the face limit.")


def caught_up_words(achieved_hz: float, asked_hz: float) -> str:
    """The sentence that says it keeps up again."""
    return f"Back to {achieved_hz:.1f} samples/s of the {asked_hz:g} asked."
