"""Session-wide settings the entry file sets up and every page reads (time zone, alert, defaults).

The time zone, alert level and default class a teacher chooses are kept in the database per
account (storage.teacher_settings), loaded once per session and saved when changed; the other
choices last for the browser session.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from dashboard import config, loaders
from dashboard.config import DashboardSettings
from dashboard.warm_engine import WarmEngine
from storage import teacher_settings
from storage.db import StorageError
from storage.viewers import Viewer

log = logging.getLogger(__name__)

_BASE = "cp_settings"
TIMEZONE = "cp_timezone"
ALERT_LEVEL = "cp_alert_level"
ALERT_MINUTES = "cp_alert_minutes"
ATTENTION_ONLY = "cp_attention_only"
DEFAULT_CLASS = "cp_default_class"
SELECTED_LESSON = "lessons_selected"  # the lesson chosen last, shared by the Lessons and Export pages
_VIEWER = "cp_viewer"  # whose lessons this session sees, set by the entry file on every run
NEWEST_SEEN = "lessons_newest_seen"  # the newest lesson id the chooser has offered
FINISHED_LESSON = "live_finished_lesson"  # the lesson that ended last, for the Live page's notice
_LOADED_FOR = "cp_settings_loaded_for"  # the account whose stored choices this session holds
# Session keys kept in the database, and their DisplaySettings field.
STORED = {TIMEZONE: "timezone", ALERT_LEVEL: "alert_level", DEFAULT_CLASS: "default_class"}


def init(base: DashboardSettings) -> None:
    """Put the environment's settings in the session once; later changes come from the Settings page."""
    st.session_state[_BASE] = base
    st.session_state.setdefault(TIMEZONE, base.timezone)
    st.session_state.setdefault(ALERT_LEVEL, base.alert_level)
    st.session_state.setdefault(ALERT_MINUTES, base.alert_minutes)
    st.session_state.setdefault(ATTENTION_ONLY, base.attention_only)
    st.session_state.setdefault(DEFAULT_CLASS, base.default_class)


@st.cache_resource(show_spinner=False)
def warm_engine() -> WarmEngine:
    """This dashboard process's warm engine keeper (one for all sessions; dashboard.warm_engine)."""
    return WarmEngine()


def settings() -> DashboardSettings:
    """The environment's settings with this session's choices applied."""
    base = st.session_state.get(_BASE) or DashboardSettings.from_env()
    return replace(
        base,
        timezone=st.session_state.get(TIMEZONE, base.timezone),
        alert_level=float(st.session_state.get(ALERT_LEVEL, base.alert_level)),
        alert_minutes=float(st.session_state.get(ALERT_MINUTES, base.alert_minutes)),
        attention_only=bool(st.session_state.get(ATTENTION_ONLY, base.attention_only)),
        default_class=str(st.session_state.get(DEFAULT_CLASS, base.default_class) or ""),
    )


def stored_changes(stored: teacher_settings.DisplaySettings) -> dict[str, object]:
    """The session keys a teacher's stored choices set (None fields and unknown zones left out)."""
    changes: dict[str, object] = {}
    if stored.timezone is not None and config.is_timezone(stored.timezone):
        changes[TIMEZONE] = stored.timezone
    if stored.alert_level is not None:
        changes[ALERT_LEVEL] = float(stored.alert_level)
    if stored.default_class is not None:
        changes[DEFAULT_CLASS] = stored.default_class
    return changes


def load_stored(db_url: str) -> None:
    """Once per session and account: the viewer's stored choices over the environment's defaults.

    A database that cannot be read leaves the defaults (the page says what is wrong with it) and
    is tried again on the next run.
    """
    owner = viewer().name
    if st.session_state.get(_LOADED_FOR, object()) == owner:
        return
    try:
        stored = teacher_settings.load_settings(loaders.database(db_url), owner)
    except (StorageError, SQLAlchemyError) as exc:
        log.warning("cannot read the teacher's stored settings: %s", exc)
        return
    st.session_state.update(stored_changes(stored))
    st.session_state[_LOADED_FOR] = owner


def remember(setting_key: str, value: object) -> None:
    """Set a session setting; one kept in the database (STORED) is saved for the viewer too."""
    st.session_state[setting_key] = value
    field = STORED.get(setting_key)
    if field is None:
        return
    try:
        teacher_settings.update_settings(
            loaders.database(settings().db_url), viewer().name, at=config.utc_now(), **{field: value}
        )
    except (StorageError, SQLAlchemyError, ValueError) as exc:
        log.warning("cannot save the teacher's %s: %s", field, exc)
        st.toast(f"Your choice could not be saved for next time ({exc}); it holds for this session.",
                 icon=":material/warning:")


def keep(widget_key: str, setting_key: str) -> None:
    """on_change callback: copy a widget's value into the session setting it edits (and store it)."""
    remember(setting_key, st.session_state[widget_key])


def set_viewer(viewer: Viewer) -> None:
    """The entry file, once the login gate has let someone in: whose lessons the pages show."""
    st.session_state[_VIEWER] = viewer


def viewer() -> Viewer:
    """Whose lessons this session sees (storage.viewers.Viewer), for every read a page makes."""
    found = st.session_state.get(_VIEWER)
    if not isinstance(found, Viewer):
        raise LookupError("no viewer in this session: pages run from streamlit_app.py only")
    return found


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
