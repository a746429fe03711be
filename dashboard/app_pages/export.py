"""Export: CSV downloads of storage's exports and a self-contained HTML report, for any lesson."""

from __future__ import annotations

import functools

import streamlit as st

from dashboard import config, loaders, report, state
from storage.export import EXPORT_KINDS
from storage.viewers import Viewer

EXPORTS = {
    "observations": ("Raw observations", "one row per student per sample"),
    "minutes": (
        "Per-minute summary",
        "class concentration, attention states and expressions per minute",
    ),
    "students": (
        "Per-student summary",
        "time present, engagement and states per anonymous student",
    ),
}


def html_report(db_url: str, viewer: Viewer, lesson_id: int, tz: str, level: float) -> str:
    """The lesson's HTML report, built when the teacher clicks (not on every page run)."""
    data = report.load_report(db_url, viewer, lesson_id)
    if data is None:
        return "<p>This lesson no longer exists.</p>"
    return report.report_html(data, tz, level, config.utc_now())


settings = state.settings()
viewer = state.viewer()
st.title("Export")
lessons = loaders.load_lessons(settings.db_url, viewer)
if lessons.empty:
    st.info("No lessons to export yet. Start one on the **Live lesson** page.")
    st.stop()

lesson_id = state.pick_lesson(lessons, settings.timezone, "Lesson", key="export_lesson")
st.caption("Times in the CSV files are ISO-8601 in UTC; students are anonymous per-lesson numbers.")

st.subheader("CSV files")
for kind in EXPORT_KINDS:
    label, what = EXPORTS.get(kind, (kind.title(), ""))
    left, right = st.columns([1, 2])
    left.download_button(
        f"{label} (CSV)",
        data=functools.partial(loaders.export_bytes, settings.db_url, viewer, lesson_id, kind),
        file_name=f"classpulse-lesson-{lesson_id}-{kind}.csv",
        mime="text/csv",
        key=f"export_csv_{kind}",
        icon=":material/download:",
        on_click="ignore",
    )
    right.caption(what)

st.subheader("Report")
left, right = st.columns([1, 2])
left.download_button(
    "Lesson report (HTML)",
    data=functools.partial(
        html_report, settings.db_url, viewer, lesson_id, settings.timezone, settings.alert_level
    ),
    file_name=f"classpulse-lesson-{lesson_id}-report.html",
    mime="text/html",
    key="export_html",
    icon=":material/description:",
    on_click="ignore",
)
right.caption("Charts and tables of the lesson in one file that opens offline in any browser.")
