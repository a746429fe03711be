"""Download buttons of a lesson's exports, shared by the Export page and the lesson report.

Each file is built only when its button is clicked (a callable `data`), through the loaders and
storage's exports, in the teacher's chosen time zone. The labels and captions live here once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import streamlit as st

from dashboard import config, loaders, report
from storage.export import RAW_KIND, WORKBOOK
from storage.viewers import Viewer

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Download:
    """One export as a button: its label, what it holds, its file suffix and type."""

    label: str
    what: str
    suffix: str
    mime: str


def period_words(bucket_s: float) -> str:
    """A timeline period in words: "minute", "3 min", "30 s"."""
    if bucket_s == 60:
        return "minute"
    return f"{bucket_s / 60:g} min" if bucket_s % 60 == 0 else f"{bucket_s:g} s"


def downloads(tz: str, bucket_s: float) -> dict[str, Download]:
    """Every export kind as the teacher reads it, for times in `tz` and a timeline per `bucket_s`."""
    period = period_words(bucket_s)
    return {
        WORKBOOK: Download(
            "Lesson workbook (Excel)",
            f"One file for a spreadsheet: a README sheet that explains every column, then the "
            f"timeline per {period}, the students and the markers; times in {tz}.",
            "xlsx",
            XLSX_MIME,
        ),
        "timeline": Download(
            f"Timeline per {period} (CSV)",
            "class concentration, students present, counted and camera off, attention states and "
            "expressions in %, as the report's charts",
            "csv",
            "text/csv",
        ),
        "students": Download(
            "Per-student summary (CSV)",
            "time present, engagement and states in % per anonymous student, as the report's table",
            "csv",
            "text/csv",
        ),
        "markers": Download(
            "Markers (CSV)",
            "each marker's time, time into the lesson and label, with the class concentration up "
            "to 5 min before and after (cut at the lesson's start and end)",
            "csv",
            "text/csv",
        ),
        RAW_KIND: Download(
            "Raw observations (CSV)",
            "one row per student per sample, exactly as stored (ISO-8601 times in UTC)",
            "csv",
            "text/csv",
        ),
    }


def file_name(lesson_id: int, kind: str, suffix: str) -> str:
    """classpulse-lesson-12-students.csv"""
    return f"classpulse-lesson-{lesson_id}-{kind}.{suffix}"


def download_button(
    db_url: str, viewer: Viewer, lesson_id: int, kind: str, tz: str, bucket_s: float, key: str,
    container: object = st,
) -> None:
    """The button that builds one export of the lesson when clicked."""
    item = downloads(tz, bucket_s)[kind]
    container.download_button(  # type: ignore[attr-defined]
        item.label,
        data=functools.partial(loaders.export_bytes, db_url, viewer, lesson_id, kind, tz, bucket_s),
        file_name=file_name(lesson_id, kind, item.suffix),
        mime=item.mime,
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


def html_report(db_url: str, viewer: Viewer, lesson_id: int, tz: str, level: float) -> str:
    """The lesson's HTML report, built when the teacher clicks (not on every page run)."""
    data = report.load_report(db_url, viewer, lesson_id)
    if data is None:
        return "<p>This lesson no longer exists.</p>"
    return report.report_html(data, tz, level, config.utc_now())


def html_report_button(
    db_url: str, viewer: Viewer, lesson_id: int, tz: str, level: float, key: str,
    container: object = st,
) -> None:
    """The button that builds the lesson's self-contained HTML report when clicked."""
    container.download_button(  # type: ignore[attr-defined]
        "Lesson report (HTML)",
        data=functools.partial(html_report, db_url, viewer, lesson_id, tz, level),
        file_name=file_name(lesson_id, "report", "html"),
        mime="text/html",
        key=key,
        icon=":material/description:",
        on_click="ignore",
    )


def timezone_problem(tz: str) -> str | None:
    """One line for the teacher when the chosen time zone is unknown here, else None."""
    if config.is_timezone(tz):
        return None
    return f"The time zone “{tz}” is unknown on this computer: choose another on Privacy & settings."


def report_downloads(
    db_url: str, viewer: Viewer, data: report.LessonReport, tz: str, level: float
) -> None:
    """The lesson report's download row: the workbook and timeline per the report's own bucket,
    so the file holds the points the charts draw, and the HTML report."""
    lesson_id = int(data.lesson["id"])
    st.subheader("Download")
    left, middle, right = st.columns(3)
    download_button(db_url, viewer, lesson_id, WORKBOOK, tz, data.bucket_s,
                    key="lessons_download_workbook", container=left)  # fmt: skip
    download_button(db_url, viewer, lesson_id, "timeline", tz, data.bucket_s,
                    key="lessons_download_timeline", container=middle)  # fmt: skip
    html_report_button(db_url, viewer, lesson_id, tz, level, key="lessons_download_html",
                       container=right)  # fmt: skip
    st.caption(downloads(tz, data.bucket_s)[WORKBOOK].what)
