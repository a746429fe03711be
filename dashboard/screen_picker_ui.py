"""The Live page's screen picker: the teacher's monitors, a box dragged over the gallery, its faces.

Choosing "Screen" on the Live form calls `pick_region()`: a fresh screenshot of every monitor
(downscaled for display, kept in st.session_state for this session only, never written), the
monitor to watch, the region dragged on it or found by "Find the gallery", and a preview of the
faces the engine's analysis finds in it. `problem_before_start()` is the one line that keeps the
lesson from starting. While a screen lesson runs, `offer_pick_again()` says when its region has
shown no face for a while and offers to pick it again. The logic is dashboard.screen_picker's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import control, launch, live_metrics, loaders, photo, screen_picker
from dashboard.screen_picker import Preview, Screenshots, Shot
from engine.screens import (
    Monitor,
    RegionError,
    ScreenError,
    ScreenRegion,
    check_capture,
    check_region,
)

SHOTS = "live_screen_shots"  # Screenshots: every monitor, in memory for this session only
CAPTURE_ERROR = "live_screen_error"  # the ScreenError line when the screen cannot be captured
MODEL_ERROR = "live_screen_model_error"  # the face model could not be loaded
REGION = "live_screen_region"  # the ScreenRegion picked (dragged or found)
FOUND = "live_screen_found"  # what "Find the gallery" said last
PREVIEW = "live_screen_preview"  # (screenshots' time, Preview) of the region picked
PICK_AGAIN = "live_screen_pick_again"  # the form was reopened by "Pick the region again"
MONITOR = "live_screen_monitor"  # widget: the monitor to watch
CHART = "live_screen_chart"  # widget: the screenshot to drag a box on
RETAKE, FIND = "live_screen_retake", "live_screen_find"
PICK_AGAIN_BUTTON = "live_pick_again"
# The Live form's widgets, filled in again when the teacher picks the region again.
FORM_KEYS = {
    "title": "live_title",
    "group_name": "live_group",
    "rate_hz": "live_rate",
    "attention_only": "live_attention_only",
}
CHART_CONFIG = {"displayModeBar": False, "scrollZoom": False, "doubleClick": False}


@st.cache_resource(show_spinner="Loading the face model…")
def load_face_finder() -> photo.PhotoModels:
    """The engine's face finder without the expression model, loaded once per server (never changed)."""
    return photo.load_models(with_expressions=False)


def faces_in(rgb: Any) -> list[screen_picker.Box]:
    """The face boxes the engine's image analysis finds in an RGB image."""
    return [face.box for face in photo.analyse(rgb, load_face_finder())]


# --- state ------------------------------------------------------------------------------------


def take_screenshots() -> None:
    """A fresh screenshot of every monitor into the session, or the one line why not."""
    try:
        shots = screen_picker.take_screenshots()
    except ScreenError as exc:
        st.session_state[SHOTS] = None
        st.session_state[CAPTURE_ERROR] = str(exc)
        return
    st.session_state[SHOTS] = shots
    st.session_state[CAPTURE_ERROR] = None
    st.session_state[PREVIEW] = None
    region = st.session_state.get(REGION)
    if region is not None and region.monitor not in shots.monitors:
        forget_region()


def forget_region() -> None:
    st.session_state[REGION] = None
    st.session_state[FOUND] = None


def keep_selection(monitor: Monitor) -> None:
    """on_select: the box the teacher dragged becomes the region (a click without a box changes nothing)."""
    event = st.session_state.get(CHART)
    region = (
        None if event is None else screen_picker.region_from_selection(event["selection"], monitor)
    )
    if region is not None:
        st.session_state[REGION] = region
        st.session_state[FOUND] = None


def picked_region(monitor: Monitor) -> ScreenRegion | None:
    region = st.session_state.get(REGION)
    return region if region is not None and region.monitor == monitor else None


def current_preview(shots: Screenshots, region: ScreenRegion) -> Preview | None:
    """The preview of the region on these screenshots, analysed once (None: the model cannot load)."""
    kept = st.session_state.get(PREVIEW)
    if kept is not None and kept[0] == shots.taken_at and kept[1].region == region:
        return kept[1]
    try:
        with st.spinner("Finding faces in the selected region…"):
            found = screen_picker.preview(shots.of(region.monitor.index), region, faces_in)
    except photo.PhotoModelError as exc:
        st.session_state[MODEL_ERROR] = str(exc)
        return None
    st.session_state[MODEL_ERROR] = None
    st.session_state[PREVIEW] = (shots.taken_at, found)
    return found


def find_gallery(shot: Shot) -> None:
    """Propose the region: the call's tile grid, else a frame around the faces, else say so."""
    try:
        with st.spinner("Looking for the call's gallery…"):
            proposal = screen_picker.propose_region(shot, faces_in)
    except photo.PhotoModelError as exc:
        st.session_state[MODEL_ERROR] = str(exc)
        st.error(str(exc), icon=":material/error:")
        return
    if proposal.region is not None:
        st.session_state[REGION] = proposal.region
    st.session_state[FOUND] = proposal.text


# --- widgets ----------------------------------------------------------------------------------


def choose_monitor(shots: Screenshots) -> Monitor:
    """With several monitors, each one's screenshot and a choice; with one, that one."""
    monitors = shots.monitors
    if len(monitors) == 1:
        return monitors[0]
    indices = [m.index for m in monitors]
    if st.session_state.get(MONITOR) not in indices:
        st.session_state.pop(MONITOR, None)
    for column, shot in zip(st.columns(len(monitors)), shots.shots, strict=True):
        column.image(
            screen_picker.downscale(shot.rgb, screen_picker.THUMB_WIDTH_PX),
            caption=shot.monitor.describe(),
        )
    index = st.radio(
        "Screen showing the call",
        indices,
        horizontal=True,
        key=MONITOR,
        format_func=lambda i: shots.of(i).monitor.describe(),
        on_change=forget_region,
    )
    return shots.of(index).monitor


def show_preview(shots: Screenshots, region: ScreenRegion) -> None:
    """The region's size and place, then its faces (or why it cannot be watched)."""
    st.caption(f"Selected: {region.describe()}")
    try:
        check_region(region)
    except RegionError as exc:
        st.warning(str(exc), icon=":material/crop_free:")
        return
    found = current_preview(shots, region)
    if found is None:
        st.error(st.session_state[MODEL_ERROR], icon=":material/error:")
        return
    st.image(found.image, caption=f"What the engine will watch. {found.text}")
    if not found.faces:
        st.warning(screen_picker.NO_FACES, icon=":material/face_retouching_off:")


def pick_region() -> str:
    """The picker, shown where "Screen" is chosen; the region picked as `x,y,w,h` ('' when none)."""
    st.markdown("**Pick the call's gallery on your screen**")
    if st.session_state.get(PICK_AGAIN):
        st.info(
            "The last lesson has ended. Pick the gallery again, then start: the new lesson keeps "
            "its title and class.",
            icon=":material/restart_alt:",
        )
    fresh = CHART not in st.session_state  # the picker was not on the page in the last run
    retake_column, find_column, help_column = st.columns([1.5, 1.2, 3], vertical_alignment="center")
    retake = retake_column.button(
        "Take a new screenshot", key=RETAKE, icon=":material/screenshot_monitor:"
    )
    if fresh or retake or st.session_state.get(SHOTS) is None:
        with st.spinner("Taking a screenshot of each screen…"):
            take_screenshots()
    if st.session_state.get(CAPTURE_ERROR):
        st.error(st.session_state[CAPTURE_ERROR], icon=":material/desktop_access_disabled:")
        return ""
    shots: Screenshots = st.session_state[SHOTS]
    monitor = choose_monitor(shots)
    shot = shots.of(monitor.index)
    if find_column.button("Find the gallery", key=FIND, icon=":material/center_focus_strong:"):
        find_gallery(shot)
    help_column.caption(
        "Drag a box over the call's gallery on the screenshot, or let ClassPulse find it."
    )
    if st.session_state.get(FOUND):
        st.info(st.session_state[FOUND], icon=":material/center_focus_strong:")
    region = picked_region(monitor)
    st.plotly_chart(
        screen_picker.picker_figure(shot, region),
        key=CHART,
        on_select=lambda: keep_selection(monitor),
        selection_mode="box",
        config=CHART_CONFIG,
        width="content",
        theme=None,
    )
    if region is None:
        return ""
    show_preview(shots, region)
    return screen_picker.region_text(region)


def problem_before_start() -> str | None:
    """The one line that keeps a screen lesson from starting (the screen is checked again now)."""
    if st.session_state.get(CAPTURE_ERROR):
        return st.session_state[CAPTURE_ERROR]
    if st.session_state.get(MODEL_ERROR):
        return st.session_state[MODEL_ERROR]
    region = st.session_state.get(REGION)
    kept = st.session_state.get(PREVIEW)
    faces = len(kept[1].faces) if kept is not None and kept[1].region == region else None
    try:
        screen_picker.check_pick(region, check_capture(), faces)
    except ScreenError as exc:
        return str(exc)
    st.session_state[PICK_AGAIN] = False
    return None


# --- while the lesson runs --------------------------------------------------------------------


def pick_again(handle: control.EngineHandle, data_dir: Path) -> bool:
    """End the lesson and reopen the form on the picker with its title, class and settings."""
    with st.spinner("Ending the lesson: the engine saves its last samples…"):
        stopped = control.stop_lesson(data_dir, handle)
    loaders.clear_caches()
    if not stopped:
        st.error(f"The engine (pid {handle.pid}) did not stop within 20 s.")
        return False
    for field, key in FORM_KEYS.items():
        st.session_state[key] = getattr(handle.launch, field)
    st.session_state["live_source"] = launch.SCREEN
    st.session_state[SHOTS] = None  # a fresh screenshot: the call window has moved
    st.session_state[PICK_AGAIN] = True
    return True


def offer_pick_again(
    lesson: dict[str, Any],
    samples: pd.DataFrame,
    engine: control.EngineStatus | None,
    data_dir: Path,
    finished_key: str,
) -> None:
    """While a screen lesson's region shows no face: say so, and offer to pick the region again.

    The engine cannot change its region during a lesson, so picking again ends this lesson (what it
    recorded is kept) and starts a new one from the picker with the same title and class.
    """
    notice = live_metrics.no_faces_notice(lesson["source"], samples)
    if notice is None:
        return
    st.warning(notice.text, icon=notice.icon)
    if engine is None:  # started elsewhere: it is stopped where it runs
        return
    clicked = st.button(
        "Pick the region again",
        key=PICK_AGAIN_BUTTON,
        icon=":material/restart_alt:",
        help="Ends this lesson (what it recorded is kept) and opens the screen picker; "
        "the new lesson keeps the title and class.",
    )
    if clicked and pick_again(engine.handle, data_dir):
        st.session_state[finished_key] = engine.lesson_id
        st.rerun(scope="app")
