"""Export: the teacher's workbook and CSVs (as the app shows them), the raw CSV, the HTML report."""

from __future__ import annotations

import streamlit as st

from dashboard import downloads, loaders, state
from storage.export import DEFAULT_BUCKET_S, RAW_KIND, TEACHER_KINDS, WORKBOOK

settings = state.settings()
viewer = state.viewer()
tz = settings.timezone
st.title("Export")
lessons = loaders.load_lessons(settings.db_url, viewer)
if lessons.empty:
    st.info("No lessons to export yet. Start one on the **Live lesson** page.")
    st.stop()
if problem := downloads.timezone_problem(tz):
    st.error(problem, icon=":material/error:")
    st.stop()

lesson_id = state.pick_lesson(lessons, tz, "Lesson", key="export_lesson")
items = downloads.downloads(tz, DEFAULT_BUCKET_S)


def row(kind: str) -> None:
    left, right = st.columns([1, 2])
    downloads.download_button(settings.db_url, viewer, lesson_id, kind, tz, DEFAULT_BUCKET_S,
                              key=f"export_{kind}", container=left)  # fmt: skip
    right.caption(items[kind].what)


st.subheader("For a spreadsheet")
st.caption(
    f"Times in {tz} (date cells in the workbook, with their UTC offset in the CSV files); "
    "percentages 0-100 and engagement to one decimal; "
    "students named as on screen (Student 1, Student 2, …: anonymous numbers of this lesson only)."
)
row(WORKBOOK)
for kind in TEACHER_KINDS:
    row(kind)

st.subheader("For analysts")
st.caption(
    "The raw export is exact and is not converted: times in UTC, every value at full precision, "
    "students by track_id, tracks marked “not a student” included."
)
row(RAW_KIND)

st.subheader("Report")
left, right = st.columns([1, 2])
downloads.html_report_button(settings.db_url, viewer, lesson_id, tz, settings.alert_level,
                             key="export_html", container=left)  # fmt: skip
right.caption("Charts and tables of the lesson in one file that opens offline in any browser.")
