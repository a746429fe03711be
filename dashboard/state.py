"""Session-wide settings the entry file sets up and every page reads (time zone, alert, defaults)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from dashboard.config import DashboardSettings
from storage.viewers import Viewer

_BASE = "cp_settings"
TIMEZONE = "cp_timezone"
ALERT_LEVEL = "cp_alert_level"
ALERT_MINUTES = "cp_alert_minutes"
ATTENTION_ONLY = "cp_attention_only"
SELECTED_LESSON = "lessons_selected"  # the lesson chosen last, shared by the Lessons and Export pages
_VIEWER = "cp_viewer"  # whose lessons this session sees, set by the entry file on every run
NEWEST_SEEN = "lessons_newest_seen"  # the newest lesson id the chooser has offered


def init(base: DashboardSettings) -> None:
    """Put the environment's settings in the session once; later changes come from the Settings page."""
    st.session_state[_BASE] = base
    st.session_state.setdefault(TIMEZONE, base.timezone)
    st.session_state.setdefault(ALERT_LEVEL, base.alert_level)
    st.session_state.setdefault(ALERT_MINUTES, base.alert_minutes)
    st.session_state.setdefault(ATTENTION_ONLY, base.attention_only)


def settings() -> DashboardSettings:
    """The environment's settings with this session's choices applied."""
    base = st.session_state.get(_BASE) or DashboardSettings.from_env()
    return replace(
        base,
        timezone=st.session_state.get(TIMEZONE, base.timezone),
        alert_level=float(st.session_state.get(ALERT_LEVEL, base.alert_level)),
        alert_minutes=float(st.session_state.get(ALERT_MINUTES, base.alert_minutes)),
        attention_only=bool(st.session_state.get(ATTENTION_ONLY, base.attention_only)),
    )


def set_viewer(viewer: Viewer) -> None:
    """The entry file, once the login gate has let someone in: whose lessons the pages show."""
    st.session_state[_VIEWER] = viewer


def viewer() -> Viewer:
    """Whose lessons this session sees (storage.viewers.Viewer), for every read a page makes."""
    found = st.session_state.get(_VIEWER)
    if not isinstance(found, Viewer):
        raise LookupError("no viewer in this session: pages run from streamlit_app.py only")
    return found


def keep(widget_key: str, setting_key: str) -> None:
    """on_change callback: copy a widget's value into the session setting it edits."""
    st.session_state[setting_key] = st.session_state[widget_key]


def pick_lesson(lessons: pd.DataFrame, timezone: str, label: str, key: str) -> int:
    """A lesson chooser (local start time · title · class), starting at the lesson chosen last."""
    from dashboard.report import local_time

    ids = [int(i) for i in lessons["id"]]
    labels = {
        int(r.id): f"{local_time(r.started_at, timezone, '%Y-%m-%d %H:%M')} · {r.title} · {r.group_name}"
        for r in lessons.itertuples(index=False)
    }
    wanted = st.session_state.get(SELECTED_LESSON)
    newest = max(ids) if ids else None
    if newest is not None and newest > st.session_state.get(NEWEST_SEEN, newest):
        wanted = newest  # a lesson was recorded since the chooser last ran: open on it
        st.session_state.pop(key, None)
    st.session_state[NEWEST_SEEN] = newest
    chosen = st.selectbox(label, ids, index=ids.index(wanted) if wanted in ids else 0,
                          format_func=labels.__getitem__, key=key)
    st.session_state[SELECTED_LESSON] = chosen
    return chosen
