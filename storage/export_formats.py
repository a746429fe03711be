"""The teacher's exports, column by column: header as the app names it, source column, formatter.

One table per kind (timeline, students, markers) says what a spreadsheet column is called, which
column of storage's frame it comes from, how its value is written (shares as 0-100 % to one
decimal, engagement to one decimal, times in the teacher's zone with their offset, "Student N")
and what it means (for the workbook's README sheet). A time is an aware datetime in the teacher's
zone: the CSV writes it as ISO 8601 with its offset, the workbook as a date cell of the local
wall-clock time (Excel has no time zones: the header and the README name the zone). Everything
here is pure: frames in, frames out, so the specs are tested with literal frames. The raw observations export is not here: it
stays exact (UTC, full precision, track_id) for analysts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from storage.db import StorageError
from storage.markers import CONTEXT_WINDOW_S
from storage.records import EXPRESSIONS

STATE_WORDS: dict[str, str] = {
    "attentive": "Attentive",
    "looking_away": "Looking away",
    "eyes_closed": "Eyes closed",
    "absent": "Absent",
}
_TENTH = Decimal("0.1")
ANONYMOUS_NOTE = (
    "Students are anonymous numbers given in this lesson only: Student 3 here is not Student 3 "
    "in another lesson. No name, face or image is stored."
)
RAW_NOTE = (
    "The raw observations (one row per student per sample) are a separate CSV for analysts: "
    "exact values, times in UTC, students by track_id."
)


class UnknownTimezone(StorageError):
    """A time zone name that is not an IANA zone this machine knows."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; UnknownTimezone (one line) when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimezone(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Paris or UTC"
        ) from exc


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and math.isnan(value)
    )


def _one_place(number: float) -> float:
    """To one decimal, halves away from zero as a spreadsheet's ROUND does (2.25 -> 2.3, not 2.2)."""
    return float(Decimal(repr(number)).quantize(_TENTH, rounding=ROUND_HALF_UP))


def percent(value: Any) -> float | None:
    """A share 0-1 as the app shows it: 0-100 %, one decimal (0.766 -> 76.6)."""
    return None if _missing(value) else _one_place(float(value) * 100)


def one_decimal(value: Any) -> float | None:
    """A 0-100 score (engagement, concentration) to one decimal (68.95134571377446 -> 69.0)."""
    return None if _missing(value) else _one_place(float(value))


def minutes(value: Any) -> float | None:
    """Seconds as minutes to one decimal (754 -> 12.6)."""
    return None if _missing(value) else _one_place(float(value) / 60)


def whole(value: Any) -> int | None:
    """A count as a whole number."""
    return None if _missing(value) else int(value)


def student(value: Any) -> str | None:
    """A track id as the screen names it: "Student 3"."""
    return None if _missing(value) else f"Student {int(value)}"


def text(value: Any) -> str | None:
    """A word as stored ("happy"); empty when there is none."""
    return None if _missing(value) else str(value)


def local_time(tz: str) -> Callable[[Any], datetime | None]:
    """Aware UTC times as aware wall-clock times in `tz`, to the whole second."""
    where = zone(tz)

    def format_time(value: Any) -> datetime | None:
        if _missing(value):
            return None
        # to the second in UTC: a wall-clock time that happens twice (autumn) cannot be floored
        return pd.Timestamp(value).tz_convert("UTC").floor("s").tz_convert(where).to_pydatetime()

    return format_time


def into_lesson(value: Any) -> timedelta | None:
    """Seconds since the lesson's start as a duration to the whole second (h:mm:ss)."""
    return None if _missing(value) else timedelta(seconds=round(float(value)))


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """One column of a teacher's export: its header, storage's column, the formatter, its meaning."""

    name: str
    source: str
    format: Callable[[Any], Any]
    meaning: str


def time_header(tz: str) -> str:
    """The time column's header, as the charts' axis names it: "Time (Europe/Paris)"."""
    return f"Time ({tz})"


TIME_MEANING = ("local time in {tz}: a date cell in the workbook, ISO 8601 with the UTC offset in the "
                "CSV (e.g. 2026-12-01T09:05:00+01:00)")


def _time_column(tz: str, what: str) -> ExportColumn:
    meaning = f"{what}, {TIME_MEANING.format(tz=tz)}."
    return ExportColumn(time_header(tz), "bucket_start", local_time(tz), meaning)


def _state_columns(prefix: str, of_what: str) -> list[ExportColumn]:
    return [
        ExportColumn(f"{word} (%)", f"{prefix}{state}", percent,
                     f"Share of {of_what} when the student was {word.lower()} (0-100 %).")
        for state, word in STATE_WORDS.items()
    ]  # fmt: skip


def timeline_columns(tz: str, bucket_s: float, *, attention_only: bool) -> tuple[ExportColumn, ...]:
    """The timeline's columns: one row per period of `bucket_s` seconds, as the report draws it."""
    period = f"{bucket_s / 60:g} min" if bucket_s >= 60 else f"{bucket_s:g} s"
    columns = [
        _time_column(tz, f"Start of the {period} period"),
        ExportColumn("Class concentration", "concentration", one_decimal,
                     "Mean over the counted students of each one's mean engagement in the period "
                     "(0-100; an absent student's engagement falls to 0)."),
        ExportColumn("Students present", "students_present", whole,
                     "Counted students in view at least once in the period."),
        ExportColumn("Students counted", "students_counted", whole,
                     "Students with a live camera for at least half the period (not marked not a "
                     "student): those the class concentration is the mean of."),
        ExportColumn("Camera off", "students_camera_off", whole,
                     "Tiles that showed a still picture (camera off, profile photo) for most of the "
                     "period: neither present nor counted."),
        *_state_columns("share_", "the period's observations of students with a live camera"),
    ]  # fmt: skip
    if not attention_only:
        columns.append(ExportColumn("Most common expression", "dominant_expression", text,
                                    "The expression most often the likeliest one in the period."))  # fmt: skip
        columns.extend(
            ExportColumn(f"{name.capitalize()} (%)", f"p_{name}", percent,
                         f"Mean probability of {name}, as the Expression mix chart stacks it (0-100 %).")
            for name in EXPRESSIONS
        )  # fmt: skip
    return tuple(columns)


def student_columns(*, attention_only: bool) -> tuple[ExportColumn, ...]:
    """The per-student columns, as the report's Students table names them."""
    columns = [
        ExportColumn("Student", "track_id", student,
                     "The anonymous number the screen shows for this student, in this lesson only."),
        ExportColumn("Time present (min)", "time_present_s", minutes,
                     "Minutes the student was seen (not absent), one decimal; empty for a tile "
                     "that showed a still picture most of the lesson (camera off)."),
        ExportColumn("Mean engagement", "mean_engagement", one_decimal,
                     "Mean engagement over the lesson (0-100; an absent student's engagement falls "
                     "to 0), one decimal; the lesson's class concentration is the mean of this column."),
        *_state_columns("share_", "the lesson's samples with a live camera"),
        ExportColumn("Camera off (%)", "share_camera_off", percent,
                     "Share of all the student's samples when the tile showed a still picture "
                     "(camera off, profile photo); those samples are left out of the other shares, "
                     "and a tile still for most of the lesson has no other figure."),
    ]  # fmt: skip
    if not attention_only:
        columns.append(ExportColumn("Most common expression", "dominant_expression", text,
                                    "The expression most often the likeliest one for this student."))  # fmt: skip
    return tuple(columns)


def marker_columns(tz: str, window_s: float = CONTEXT_WINDOW_S) -> tuple[ExportColumn, ...]:
    """The markers' columns: when, how far into the lesson, the label, and the class concentration
    either side with how many minutes each side really covered."""
    span = f"up to {window_s / 60:g} min"
    return (
        ExportColumn(time_header(tz), "ts", local_time(tz),
                     f"When the marker was set, {TIME_MEANING.format(tz=tz)}."),
        ExportColumn("Into the lesson", "into_s", into_lesson,
                     "Time from the lesson's start to the marker (h:mm:ss)."),
        ExportColumn("Label", "label", text, "The marker's label as the teacher typed it."),
        ExportColumn(f"Concentration before ({span})", "concentration_before", one_decimal,
                     f"Class concentration over the {span} before the marker, cut at the lesson's "
                     "start (empty: no one counted)."),
        ExportColumn(f"Concentration after ({span})", "concentration_after", one_decimal,
                     f"Class concentration over the {span} from the marker on, cut at the lesson's "
                     "last sample (empty: no one counted)."),
        ExportColumn("Minutes before", "before_s", minutes,
                     "How many minutes before the marker the first figure covers."),
        ExportColumn("Minutes after", "after_s", minutes,
                     "How many minutes after the marker the second figure covers."),
    )  # fmt: skip


def teacher_frame(frame: pd.DataFrame, columns: Sequence[ExportColumn]) -> pd.DataFrame:
    """Storage's frame as the teacher's table: the spec's headers, in order, values formatted."""
    missing = [c.source for c in columns if c.source not in frame.columns]
    if missing:
        raise KeyError(f"the frame lacks the export's source column(s) {', '.join(missing)}")
    return pd.DataFrame(
        {c.name: pd.Series([c.format(v) for v in frame[c.source]], dtype=object) for c in columns},
        columns=[c.name for c in columns],
    )


def readme_rows(
    lesson: dict[str, Any],
    tz: str,
    sheets: dict[str, Sequence[ExportColumn]],
    *,
    excluded: Sequence[int] = (),
    generated_at: Any = None,
) -> list[tuple[str, str]]:
    """The README sheet as (label, text) rows: the lesson, the time zone, the notes, every column."""
    local = local_time(tz)

    def when(value: Any) -> str | None:
        found = local(value)
        return None if found is None else found.isoformat()

    rows: list[tuple[str, str]] = [
        ("ClassPulse lesson export", ""),
        ("Lesson", str(lesson.get("title") or "")),
        ("Class", str(lesson.get("group_name") or "")),
        ("Started", when(lesson.get("started_at")) or ""),
        ("Ended", when(lesson.get("ended_at")) or "still recording"),
        ("Status", str(lesson.get("status") or "")),
        ("Time zone", f"{tz}: every time is local time there. Time cells are the wall-clock time "
                      "(a spreadsheet keeps no time zone); the CSV files add the UTC offset."),
        ("Students", ANONYMOUS_NOTE),
    ]
    if excluded:
        names = ", ".join(student(t) or "" for t in excluded)
        rows.append(("Not students", f"Marked not a student and left out of every sheet: {names}."))
    if lesson.get("attention_only"):
        rows.append(("Attention only", "No expressions were inferred or stored in this lesson."))
    rows.append(("Rounding", "Percentages are 0-100 with one decimal; engagement and concentration "
                             "are 0-100 with one decimal. An empty cell means no value."))  # fmt: skip
    rows.append(("Raw data", RAW_NOTE))
    if generated_at is not None:
        rows.append(("Generated", when(generated_at) or ""))
    for sheet, columns in sheets.items():
        rows.append(("", ""))
        rows.append((f"Sheet “{sheet}”", "What each column means"))
        rows.extend((c.name, c.meaning) for c in columns)
    return rows
