"""One lesson's report: the data (read through the loaders), its figures, and a self-contained HTML file.

The same figures serve the Lessons page and the downloadable report, so both always agree.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from dashboard import charts, marker_chart
from storage.markers import CONTEXT_COLUMNS, CONTEXT_WINDOW_S
from storage.records import LessonStatus
from storage.viewers import Viewer

# Timeline buckets by lesson length: about 30-120 points, always a multiple of the 10 s rollups.
BUCKETS_BY_LENGTH_S: tuple[tuple[float, float], ...] = (
    (10 * 60, 10.0),  # up to 10 min: 10 s
    (30 * 60, 30.0),  # up to 30 min: 30 s
    (2 * 3600, 60.0),  # up to 2 h: 1 min
    (6 * 3600, 180.0),  # up to 6 h: 3 min
)
LONGEST_BUCKET_S = 600.0
MIN_BUCKETS_FOR_LOWS = 6  # fewer points than this and "the lowest moments" are just the points
LOW_BELOW_MEAN = 10.0  # a low moment is this many points under the lesson's mean, or it is not shown
NO_LOWS = (f"No moment stood out: none was {LOW_BELOW_MEAN:g} points under the lesson's mean "
           "concentration (or the lesson is too short to tell).")
NO_MARKERS = ("No markers in this lesson. Mark moments with **Mark this moment** on the live page, "
              "or add one below.")
_WINDOW_MIN = f"{CONTEXT_WINDOW_S / 60:g} min"
MARKER_BEFORE = f"Class concentration before (up to {_WINDOW_MIN})"
MARKER_AFTER = f"Class concentration after (up to {_WINDOW_MIN})"
MARKER_SPAN = "Time compared (before · after)"
# How the app's tables label their wordy columns (the full header is the column's tooltip, and
# the name in the downloads): a report table then fits the page without scrolling sideways.
SHORT_HEADERS = {
    "Time present (min)": "Present (min)",
    "Mean engagement": "Engagement",
    "Attentive (%)": "Attentive %",
    "Looking away (%)": "Looking away %",
    "Eyes closed (%)": "Eyes closed %",
    "Absent (%)": "Absent %",
    "Camera off (%)": "Camera off %",
    "Most common expression": "Expression",
    MARKER_BEFORE: "Before",
    MARKER_AFTER: "After",
    MARKER_SPAN: "Compared (before · after)",
}
_TIME_INTO = re.compile(r"-?\d{1,3}(:\d{1,2}){0,2}")

STATUS_WORDS: dict[str, str] = {
    LessonStatus.RUNNING: "recording",
    LessonStatus.FINISHED: "finished",
    LessonStatus.SOURCE_LOST: "ended early: the camera, screen or video was lost",
    LessonStatus.FAILED: "ended early: the engine failed (see its log)",
    LessonStatus.INTERRUPTED: "interrupted: the engine stopped unexpectedly",
}


def status_words(status: str, cause: object = None) -> str:
    """A lesson's stored status as the teacher reads it, with the cause the engine stored when it
    knew one ("ended early: disk full")."""
    if isinstance(cause, str) and cause.strip() and status != LessonStatus.RUNNING:
        return f"ended early: {cause.strip()}" if status != LessonStatus.FINISHED else STATUS_WORDS[status]
    return STATUS_WORDS.get(status, status)


# Statuses that say the lesson went as planned (or still does); the others need the teacher's eye.
USUAL_STATUSES = frozenset({LessonStatus.RUNNING, LessonStatus.FINISHED})


@dataclass(frozen=True)
class LessonReport:
    """Everything a lesson report shows, as storage returned it."""

    lesson: dict[str, Any]
    summary: pd.DataFrame  # one row of lessons_summary
    timeline: pd.DataFrame
    low_moments: pd.DataFrame
    students: pd.DataFrame
    previous: pd.DataFrame
    bucket_s: float = 60.0  # the timeline's bucket, chosen from the lesson's length
    excluded: tuple[int, ...] = ()  # tracks the teacher marked "not a student"
    # the lesson's markers with the class concentration before and after each (marker_context)
    markers: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(CONTEXT_COLUMNS)))

    @property
    def excluded_words(self) -> str | None:
        """The tracks left out of this report, in words (None when there are none)."""
        if not self.excluded:
            return None
        names = ", ".join(f"Student {t}" for t in self.excluded)
        return f"Marked not a student and left out of every figure: {names}."

    @property
    def attention_only(self) -> bool:
        return bool(self.lesson.get("attention_only"))

    @property
    def status(self) -> str:
        """How the lesson stands or ended, in the teacher's words."""
        return status_words(str(self.lesson.get("status") or ""), self.lesson.get("ended_cause"))


def bucket_for(duration_s: float) -> float:
    """The timeline bucket for a lesson of this length (10 s for short lessons, 1 min for an hour)."""
    for longest_s, bucket_s in BUCKETS_BY_LENGTH_S:
        if duration_s <= longest_s:
            return bucket_s
    return LONGEST_BUCKET_S


def meaningful_lows(timeline: pd.DataFrame, lows: pd.DataFrame) -> pd.DataFrame:
    """The lowest buckets worth pointing at: a lesson long enough, and clearly under its own mean."""
    values = timeline["concentration"].dropna() if "concentration" in timeline else pd.Series()
    if len(values) < MIN_BUCKETS_FOR_LOWS or lows.empty:
        return lows.iloc[0:0]
    return lows[lows["concentration"] <= float(values.mean()) - LOW_BELOW_MEAN]


def lesson_length_s(lesson: dict[str, Any], now: datetime) -> float:
    """Seconds from the lesson's start to its end (to now while it is recording)."""
    end = lesson.get("ended_at") or now
    return max(0.0, (pd.Timestamp(end) - pd.Timestamp(lesson["started_at"])).total_seconds())


def load_report(
    db_url: str, viewer: Viewer, lesson_id: int, now: datetime | None = None
) -> LessonReport | None:
    """Read a lesson's report through the cached loaders; None when the viewer has no such lesson."""
    from dashboard import loaders

    lesson = loaders.load_lesson(db_url, viewer, lesson_id)
    if lesson is None:
        return None
    bucket_s = bucket_for(lesson_length_s(lesson, now or datetime.now(UTC)))
    timeline = loaders.load_timeline(db_url, viewer, lesson_id, bucket_s)
    return LessonReport(
        lesson=lesson,
        summary=loaders.load_lesson_row(db_url, viewer, lesson_id, lesson["started_at"]),
        timeline=timeline,
        low_moments=meaningful_lows(
            timeline, loaders.load_low_moments(db_url, viewer, lesson_id, bucket_s, 3)
        ),
        students=loaders.load_students(db_url, viewer, lesson_id),
        previous=loaders.load_previous(db_url, viewer, lesson_id),
        bucket_s=bucket_s,
        excluded=tuple(loaders.load_excluded(db_url, viewer, lesson_id)),
        markers=loaders.load_marker_context(db_url, viewer, lesson_id),
    )


_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~$:"


def markdown_text(text: object) -> str:
    """Teacher-typed text for a Streamlit label or header: shown as typed, never as a link or format."""
    return "".join(f"\\{c}" if c in _MARKDOWN_SPECIAL else c for c in str(text))


def local_time(ts: datetime | pd.Timestamp, tz: str, fmt: str = "%a %d %b %Y %H:%M") -> str:
    """A UTC time as the teacher's wall-clock text."""
    return pd.Timestamp(ts).tz_convert(tz).strftime(fmt)


def duration_text(seconds: float) -> str:
    """1 h 05 min / 12 min 30 s."""
    seconds = int(round(seconds or 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


def figures(report: LessonReport, tz: str, level: float) -> dict[str, go.Figure]:
    """The report's charts by name; no expression charts in attention-only lessons."""
    figs = {
        "concentration": marker_chart.add_markers(
            charts.concentration_timeline(
                report.timeline, tz, level=level, bucket_s=report.bucket_s, lows=report.low_moments
            ),
            report.markers,
            tz,
        ),
        "states": marker_chart.add_markers(
            charts.state_shares_over_time(report.timeline, tz), report.markers, tz
        ),
    }
    if not report.attention_only:
        figs["expressions"] = charts.expression_distribution(report.timeline)
        figs["expression_mix"] = marker_chart.add_markers(
            charts.expression_mix_over_time(report.timeline, tz), report.markers, tz
        )
    if not report.summary.empty:
        figs["comparison"] = charts.lesson_comparison(report.summary, report.previous, tz)
    return figs


def low_moments_table(report: LessonReport, tz: str) -> pd.DataFrame:
    """The lowest-concentration moments (those that stand out) as the teacher reads them."""
    lows = report.low_moments
    table = pd.DataFrame(
        {
            "Time": [local_time(t, tz, "%H:%M") for t in lows["bucket_start"]],
            "Class concentration": lows["concentration"].round(1),
            "Students present": lows["students_present"].astype(int),
            "Looking away (%)": (lows["share_looking_away"] * 100).round(0),
            "Eyes closed (%)": (lows["share_eyes_closed"] * 100).round(0),
        }
    )
    if not report.attention_only:
        table["Most common expression"] = lows["dominant_expression"].fillna("–")
    return table


def clock_text(seconds: float) -> str:
    """Seconds into a lesson as the teacher types them: 12:30, or 1:02:30 past an hour."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def time_into_lesson(typed: str) -> float:
    """'12:30' (minutes:seconds), '1:02:30' or '12' (minutes) as seconds; ValueError in words."""
    text = typed.strip()
    if not _TIME_INTO.fullmatch(text):
        raise ValueError(f"“{text}” is not a time into the lesson: type minutes:seconds, e.g. 12:30.")
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("-").split(":")]
    if any(p > 59 for p in parts[1:]):
        raise ValueError(f"“{text}” is not a time into the lesson: minutes and seconds go up to 59.")
    if len(parts) == 1:
        parts.append(0)  # whole minutes
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return float(sign * seconds)


def marker_moment(started_at: datetime, typed: str, length_s: float) -> datetime:
    """The moment `typed` (a time into the lesson) names; ValueError in one line when outside it."""
    offset_s = time_into_lesson(typed)
    if not 0 <= offset_s <= length_s:
        raise ValueError(f"{typed.strip()} is outside this lesson: type a time from 0:00 to "
                         f"{clock_text(length_s)}.")
    return pd.Timestamp(started_at).to_pydatetime() + timedelta(seconds=offset_s)


def _one_decimal(value: object) -> str:
    return "–" if value is None or pd.isna(value) else f"{float(value):.1f}"


def markers_table(report: LessonReport, tz: str) -> pd.DataFrame:
    """The lesson's markers as the teacher reads them: local time, time into the lesson, label, the
    class concentration before and after (up to 5 min, "–" where no one was counted) and how much
    of the lesson each side really covered (a marker near the start or the end has less)."""
    marks = report.markers
    return pd.DataFrame(
        {
            "Time": [local_time(t, tz, "%H:%M:%S") for t in marks["ts"]],
            "Into the lesson": [clock_text(s) for s in marks["into_s"]],
            "Label": [str(label) if label else "–" for label in marks["label"]],
            MARKER_BEFORE: [_one_decimal(v) for v in marks["concentration_before"]],
            MARKER_AFTER: [_one_decimal(v) for v in marks["concentration_after"]],
            MARKER_SPAN: [f"{clock_text(b)} · {clock_text(a)}"
                          for b, a in zip(marks["before_s"], marks["after_s"], strict=True)],
        }
    )


def students_table(report: LessonReport) -> pd.DataFrame:
    """Per-student summary with anonymous names and readable units; a tile that showed a still
    picture most of the lesson has only its camera-off share (the other cells are empty)."""
    s = report.students

    def share(column: str) -> pd.Series:
        return (s[column].astype(float) * 100).round(0)

    table = pd.DataFrame(
        {
            "Student": [f"Student {int(t)}" for t in s["track_id"]],
            "Time present (min)": (s["time_present_s"].astype(float) / 60).round(1),
            "Mean engagement": s["mean_engagement"].astype(float).round(1),
            "Attentive (%)": share("share_attentive"),
            "Looking away (%)": share("share_looking_away"),
            "Eyes closed (%)": share("share_eyes_closed"),
            "Absent (%)": share("share_absent"),
            "Camera off (%)": share("share_camera_off"),
        }
    )
    if not report.attention_only:
        table["Most common expression"] = s["dominant_expression"].fillna("–")
    return table


def column_config(table: pd.DataFrame) -> dict[str, Any]:
    """st.dataframe's column_config: the wordy headers shown short, each in full as its tooltip.

    Nine columns sized to their headers ("Most common expression", "Time present (min)") came to
    about 970 px, wider than the page's content column (940 px in a 1400-px window, less on a
    laptop): the grid scrolled sideways and cut the last header at its edge ("Most common
    expressio"). Short labels keep a report table within about 760 px.
    """
    from streamlit import column_config as config

    return {name: config.Column(label=SHORT_HEADERS[name], help=name)
            for name in table.columns if name in SHORT_HEADERS}


def headline(report: LessonReport, tz: str) -> dict[str, str]:
    """The lesson's key facts as label → text."""
    lesson = report.lesson
    row = report.summary.iloc[0] if not report.summary.empty else None
    mean = (
        None
        if row is None or pd.isna(row["mean_concentration"])
        else float(row["mean_concentration"])
    )
    return {
        "Class": lesson.get("group_name") or "–",
        "Started": local_time(lesson["started_at"], tz, "%d %b %Y %H:%M"),
        "Duration": duration_text(float(row["duration_s"])) if row is not None else "–",
        "Students": "0" if row is None else students_words(row),
        "Mean concentration": "–" if mean is None else f"{mean:.1f}",
    }


def students_words(row: pd.Series) -> str:
    """The lesson's counted students, and its camera-off tiles apart: "8" or "8 · 1 camera off"."""
    words = str(int(row["students_seen"]))
    camera_off = int(row.get("students_camera_off") or 0)
    return f"{words} · {camera_off} camera off" if camera_off else words


def report_html(report: LessonReport, tz: str, level: float, generated_at: datetime) -> str:
    """A self-contained HTML report: Plotly's JavaScript inlined once, so it opens offline."""
    lesson = report.lesson
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>ClassPulse report: {html.escape(str(lesson['title']))}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}</style></head><body>",
        f"<h1>{html.escape(str(lesson['title']))}</h1>",
        "<table>"
        + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in {**headline(report, tz), "Status": report.status}.items()
        )
        + "</table>",
        f"<p>Times are in {html.escape(tz)}. Students are anonymous per-lesson numbers. "
        f"Shaded periods: class concentration under {level:g}.</p>",
    ]
    first = True
    for name, fig in figures(report, tz, level).items():
        parts.append(
            pio.to_html(
                fig,
                include_plotlyjs=first,
                full_html=False,
                div_id=f"chart-{name}",
                config={"displaylogo": False},
            )
        )
        first = False
        if name == "concentration":
            parts.append("<h2>Lowest-concentration moments</h2>")
            if report.low_moments.empty:
                parts.append(f"<p>{html.escape(NO_LOWS)}</p>")
            else:
                parts.append(low_moments_table(report, tz).to_html(index=False, border=0))
            if not report.markers.empty:
                parts.append("<h2>Markers</h2>")
                parts.append(markers_table(report, tz).to_html(index=False, border=0))
    parts.append("<h2>Students</h2>")
    if report.excluded_words:
        parts.append(f"<p>{html.escape(report.excluded_words)}</p>")
    parts.append(students_table(report).to_html(index=False, border=0, na_rep="–"))
    parts.append(
        f"<p><small>Generated by ClassPulse on {local_time(generated_at, tz)} ({html.escape(tz)}); "
        f"model: {html.escape(str(lesson.get('model_name') or '–'))}.</small></p></body></html>"
    )
    return "\n".join(parts)
