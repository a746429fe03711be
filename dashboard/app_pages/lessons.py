"""Lessons: past lessons filtered by class and date, and one lesson's report (with delete)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard import config, downloads, loaders, markers_ui, report, state
from dashboard.config import DashboardSettings
from dashboard.live_tiles import count_again_buttons
from storage.lessons import LessonRunningError, delete_lesson
from storage.viewers import Viewer

ALL_CLASSES = "All classes"


# --- pure helpers -----------------------------------------------------------------------------


def day_bounds(days: tuple[date, date], tz: str) -> tuple[datetime, datetime]:
    """The teacher's local days [first, last] as a UTC [since, until) range."""
    zone = ZoneInfo(tz)
    since = datetime.combine(days[0], time.min, zone)
    until = datetime.combine(days[-1] + timedelta(days=1), time.min, zone)
    return since, until


def lessons_table(lessons: pd.DataFrame, tz: str) -> pd.DataFrame:
    """The lesson list as the teacher reads it."""
    return pd.DataFrame(
        {
            "Date": [report.local_time(t, tz, "%Y-%m-%d %H:%M") for t in lessons["started_at"]],
            "Lesson": lessons["title"],
            "Class": lessons["group_name"],
            "Duration": [report.duration_text(s) for s in lessons["duration_s"]],
            "Students": lessons["students_seen"].astype(int),
            "Mean concentration": lessons["mean_concentration"].astype(float).round(1),
            "Status": [report.status_words(s, c) for s, c in zip(lessons["status"], lessons["ended_cause"],
                                                                 strict=True)],
            "Attention only": lessons["attention_only"],
        }
    )


# --- sections ---------------------------------------------------------------------------------


def show_report(settings: DashboardSettings, viewer: Viewer, lesson_id: int) -> None:
    tz, level = settings.timezone, settings.alert_level
    data = report.load_report(settings.db_url, viewer, lesson_id, config.utc_now())
    if data is None:
        st.warning(f"Lesson {lesson_id} no longer exists.")
        return
    st.header(report.markdown_text(data.lesson["title"]))
    if data.lesson["status"] in report.USUAL_STATUSES:
        st.caption(f"Status: {data.status}")
    else:
        st.warning(f"Status: {data.status}", icon=":material/warning:")
    facts = list(report.headline(data, tz).items())
    for row in (facts[:3], facts[3:]):  # three to a row: dates and class names fit uncut
        for column, (label, value) in zip(st.columns(3), row, strict=False):
            column.metric(label, value)
    if data.timeline.empty:
        st.info("This lesson has no observations yet.")
        delete_section(settings, data.lesson)  # an engine killed before its first sample left it
        return
    figs = report.figures(data, tz, level)
    st.plotly_chart(figs["concentration"], key="lessons_concentration")
    st.caption(
        f"Shaded: periods when class concentration was under {level:g} (set on Privacy & settings)."
    )
    st.subheader("Lowest-concentration moments")
    if data.low_moments.empty:
        st.caption(report.NO_LOWS)
    else:
        lows = report.low_moments_table(data, tz)
        st.dataframe(lows, hide_index=True, key="lessons_low_moments",
                     column_config=report.column_config(lows))
    markers_ui.markers_section(settings, viewer, data)
    if data.attention_only:
        st.info("Attention-only lesson: no expressions were inferred or stored.")
    else:
        left, right = st.columns([2, 3])
        left.plotly_chart(figs["expressions"], key="lessons_expressions")
        right.plotly_chart(figs["expression_mix"], key="lessons_expression_mix")
    st.plotly_chart(figs["states"], key="lessons_states")
    st.subheader("Students")
    if data.excluded_words:
        st.caption(data.excluded_words)
        count_again_buttons(data.excluded, lambda track_id: loaders.count_again(
            settings.db_url, viewer, lesson_id, track_id), "lessons")
    table = report.students_table(data)
    st.dataframe(table, hide_index=True, key="lessons_students",
                 column_config=report.column_config(table))
    st.subheader("Against this class's earlier lessons")
    if data.previous.empty:
        st.caption("No earlier lesson of this class yet.")
    else:
        st.plotly_chart(figs["comparison"], key="lessons_comparison")
    downloads.report_downloads(settings.db_url, viewer, data, tz, level)
    delete_section(settings, data.lesson)


def delete_section(settings: DashboardSettings, lesson: dict) -> None:
    lesson_id = int(lesson["id"])
    with st.expander("Delete this lesson"):
        if lesson["status"] == "running":
            st.caption(f"Lesson {lesson_id} is still recording; stop it first.")
            return
        st.write("This removes the lesson and all its observations for good.")
        confirm = st.checkbox(
            f"Yes, delete “{report.markdown_text(lesson['title'])}” and its data",
            key=f"lessons_confirm_{lesson_id}",
        )
        if st.button(
            "Delete lesson",
            type="primary",
            disabled=not confirm,
            key="lessons_delete",
            icon=":material/delete:",
        ):
            try:
                deleted = delete_lesson(loaders.database(settings.db_url), lesson_id)
            except LessonRunningError as exc:  # storage has the last word on what is recording
                st.error(str(exc), icon=":material/error:")
                return
            loaders.clear_caches()
            st.session_state.pop(state.SELECTED_LESSON, None)
            st.session_state["lessons_deleted"] = lesson["title"] if deleted else None
            st.rerun()


# --- layout -----------------------------------------------------------------------------------

settings = state.settings()
viewer = state.viewer()
st.title("Lessons")
if deleted := st.session_state.pop("lessons_deleted", None):
    st.success(f"Lesson “{deleted}” deleted.")
everything = loaders.load_lessons(settings.db_url, viewer)
if everything.empty:
    st.info("No lessons yet. Start one on the **Live lesson** page — the demo needs no camera.")
    st.page_link(
        "dashboard/app_pages/live.py", label="Go to Live lesson", icon=":material/sensors:"
    )
    st.stop()

left, right = st.columns(2)
classes = [ALL_CLASSES, *sorted(everything["group_name"].dropna().unique())]
group = left.selectbox("Class", classes, key="lessons_class")
local_days = [
    pd.Timestamp(t).tz_convert(settings.timezone).date() for t in everything["started_at"]
]
first_day, last_day = (
    min(local_days),
    max(max(local_days), datetime.now(ZoneInfo(settings.timezone)).date()),
)
days = right.date_input("Dates", value=(first_day, last_day), key="lessons_dates")
if not isinstance(days, tuple | list) or len(days) == 0:
    days = (first_day, last_day)
since, until = day_bounds(tuple(days), settings.timezone)
lessons = loaders.load_lessons(
    settings.db_url, viewer, None if group == ALL_CLASSES else group, since, until
)
st.dataframe(lessons_table(lessons, settings.timezone), hide_index=True, key="lessons_list")
if lessons.empty:
    st.caption("No lesson matches these filters.")
    st.stop()

chosen = state.pick_lesson(lessons, settings.timezone, "Lesson report", key="lessons_report_choice")
show_report(settings, viewer, chosen)
