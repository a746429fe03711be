"""Lesson markers on the pages: "Mark this moment" on the live card, and the report's Markers section.

`marker_bar()` sits in the Live page's fragment: a label field, the mark button and one-click labels,
a toast that clears by itself, and the lesson's markers (a 5-second cached read) for the live trend.
`markers_section()` is the report's list of markers with the class concentration around each, a form
to add one at a time into the lesson (refused in one line outside it, keeping what was typed) and a
remove button. Both write through dashboard.loaders, which forgets the cached markers at once.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from dashboard import config, loaders, report
from dashboard.config import DashboardSettings
from dashboard.errors import one_line
from storage.db import StorageError
from storage.schema import MARKER_LABEL_MAX
from storage.viewers import Viewer

MARK_PICKS = ("quiz", "group work", "break")  # one click marks the moment with this label
MARK_LABEL = "live_marker_label"
MARK_DONE = "live_marker_done"  # (lesson id, "success" | "error", text) of the last click
MARKER_TIME = "lessons_marker_time"
MARKER_LABEL = "lessons_marker_label"
MARKER_CHOICE = "lessons_marker_choice"
MARKER_NOTICE = "lessons_marker_notice"  # (lesson id, "success" | "error", text) of the last change
MARKER_HELP = (
    "Moments marked with **Mark this moment** during the lesson, or added here afterwards, drawn as "
    "dashed lines on the charts. Class concentration before and after: the class concentration over "
    "up to 5 minutes either side, cut at the lesson's start and its last sample; the last column "
    "says how much each side covered (m:ss)."
)


def _words(exc: Exception) -> str:
    """Why a marker was not stored, in one line shown as typed (a database error says so)."""
    text = one_line(exc)
    if isinstance(exc, SQLAlchemyError):
        text = f"The marker could not be stored: {text}"
    return report.markdown_text(text)


# --- live card ---------------------------------------------------------------------------------


def _mark_now(db_url: str, viewer: Viewer, lesson_id: int, tz: str, pick: str | None = None) -> None:
    """A mark button (on_click): store a marker at this moment with the picked or typed label."""
    label = (pick if pick is not None else st.session_state.get(MARK_LABEL, "")).strip()
    at = config.utc_now()
    try:
        loaders.add_marker(db_url, viewer, lesson_id, at, label)
    except (StorageError, ValueError, SQLAlchemyError) as exc:
        st.session_state[MARK_DONE] = (lesson_id, "error", _words(exc))
        return
    if pick is None:
        st.session_state[MARK_LABEL] = ""
    named = f": {report.markdown_text(label)}" if label else ""
    when = report.local_time(at, tz, "%H:%M:%S")
    st.session_state[MARK_DONE] = (lesson_id, "success", f"Marked {when}{named}")


def marker_bar(db_url: str, viewer: Viewer, lesson_id: int, tz: str) -> pd.DataFrame:
    """"Mark this moment" with an optional typed label, or a one-click label; the lesson's markers."""
    args = (db_url, viewer, lesson_id, tz)
    typed, mark, *picks = st.columns([3, 2, 1, 1, 1], vertical_alignment="bottom")
    typed.text_input("Marker label (optional)", key=MARK_LABEL, max_chars=MARKER_LABEL_MAX,
                     placeholder="e.g. quiz, group work, break")
    mark.button("Mark this moment", key="live_mark", icon=":material/flag:", on_click=_mark_now,
                args=args, help="Stores this moment with the lesson, for its charts and its report.")
    for column, pick in zip(picks, MARK_PICKS, strict=True):
        column.button(pick, key=f"live_mark_{pick.replace(' ', '_')}", on_click=_mark_now,
                      args=args, kwargs={"pick": pick}, help=f"Mark this moment as “{pick}”.")
    done = st.session_state.get(MARK_DONE)
    if done is not None and done[0] == lesson_id:
        if done[1] == "success":
            st.toast(done[2], icon=":material/flag:")  # a short confirmation that clears itself
            st.session_state.pop(MARK_DONE)
        else:
            st.error(done[2], icon=":material/error:")  # until the next click
    return loaders.load_markers(db_url, viewer, lesson_id)


# --- lesson report -----------------------------------------------------------------------------


def _add_marker(db_url: str, viewer: Viewer, lesson: dict, length_s: float, tz: str) -> None:
    """Add marker (on_click): store it, or say in one line why not and keep what was typed."""
    lesson_id, label = int(lesson["id"]), st.session_state.get(MARKER_LABEL, "").strip()
    try:
        typed = st.session_state.get(MARKER_TIME, "")
        at = report.marker_moment(lesson["started_at"], typed, length_s)
        loaders.add_marker(db_url, viewer, lesson_id, at, label)
    except (ValueError, StorageError, SQLAlchemyError) as exc:
        st.session_state[MARKER_NOTICE] = (lesson_id, "error", _words(exc))
        return
    st.session_state[MARKER_TIME] = st.session_state[MARKER_LABEL] = ""
    named = f"“{report.markdown_text(label)}” " if label else ""
    when = report.local_time(at, tz, "%H:%M:%S")
    st.session_state[MARKER_NOTICE] = (lesson_id, "success", f"Marker {named}added at {when}.")


def _remove_marker(db_url: str, viewer: Viewer, lesson_id: int, names: dict[int, str]) -> None:
    """Remove marker (on_click): the chosen marker goes."""
    marker_id = st.session_state.get(MARKER_CHOICE)
    if marker_id is None:
        return
    try:
        removed = loaders.remove_marker(db_url, viewer, lesson_id, int(marker_id))
    except (StorageError, SQLAlchemyError) as exc:
        st.session_state[MARKER_NOTICE] = (lesson_id, "error", _words(exc))
        return
    text = f"Marker {names.get(marker_id, '')} removed." if removed else "That marker was already gone."
    st.session_state[MARKER_NOTICE] = (lesson_id, "success", report.markdown_text(text))


def markers_section(settings: DashboardSettings, viewer: Viewer, data: report.LessonReport) -> None:
    """The lesson's markers with the class concentration around each; add one, or remove one."""
    tz, lesson = settings.timezone, data.lesson
    lesson_id = int(lesson["id"])
    st.subheader("Markers", help=MARKER_HELP)
    if data.markers.empty:
        st.caption(report.NO_MARKERS)
    else:
        table = report.markers_table(data, tz)
        st.dataframe(table, hide_index=True, key="lessons_markers",
                     column_config=report.column_config(table))
    length_s = report.lesson_length_s(lesson, config.utc_now())
    start = report.local_time(lesson["started_at"], tz, "%H:%M")
    with st.form("lessons_marker_form"):
        when, label, add = st.columns([2, 3, 1], vertical_alignment="bottom")
        when.text_input(
            "Time into the lesson (minutes:seconds)", key=MARKER_TIME, placeholder="e.g. 12:30",
            help=f"0:00 is the lesson's start ({start}, {tz}); it ran {report.clock_text(length_s)}.",
        )
        label.text_input("Label (optional)", key=MARKER_LABEL, max_chars=MARKER_LABEL_MAX,
                         placeholder="quiz, group work, break…")
        add.form_submit_button("Add marker", key="lessons_marker_add", icon=":material/flag:",
                               on_click=_add_marker, args=(settings.db_url, viewer, lesson, length_s, tz))
    if not data.markers.empty:
        names = {
            int(m.marker_id): f"{report.local_time(m.ts, tz, '%H:%M:%S')} · {m.label or 'no label'}"
            for m in data.markers.itertuples(index=False)
        }
        choice, remove = st.columns([5, 1], vertical_alignment="bottom")
        choice.selectbox("Marker to remove", list(names), format_func=names.__getitem__,
                         key=MARKER_CHOICE)
        remove.button("Remove marker", key="lessons_marker_remove", icon=":material/delete:",
                      on_click=_remove_marker, args=(settings.db_url, viewer, lesson_id, names))
    notice = st.session_state.pop(MARKER_NOTICE, None)
    if notice is not None and notice[0] == lesson_id:
        (st.success if notice[1] == "success" else st.error)(notice[2])
