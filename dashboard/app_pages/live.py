"""Live lesson: start and stop the engine, and watch the class refresh itself every 2 seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard import charts, config, control, loaders, state
from dashboard.errors import friendly_errors
from dashboard.launch import save_upload

REFRESH_S = 2.0
STALE_AFTER_S = 10.0  # no sample for this long: the camera or the engine is gone
TILE_COLUMNS = 6
STATE_BADGE = {
    "attentive": ":green-badge[attentive]",
    "looking_away": ":orange-badge[looking away]",
    "eyes_closed": ":blue-badge[eyes closed]",
    "absent": ":gray-badge[absent]",
}
SOURCE_LABELS = {
    "demo": "Demo gallery (recorded video call)",
    "screen": "Screen region (a video-call gallery on this screen)",
    "file": "Video file",
}


@dataclass(frozen=True)
class Health:
    """How the engine is doing, as the live card tells the teacher."""

    engine_alive: bool
    last_sample_age_s: float | None
    samples_per_s: float | None
    message: str | None  # the engine's last words when it died


# --- cached lookups ---------------------------------------------------------------------------


@st.cache_data(ttl=60, max_entries=1, show_spinner=False)
def load_webcams() -> list[int]:
    """Camera indices present on this machine (checked once a minute, no device opened)."""
    return control.webcam_indices()


# --- pure helpers -----------------------------------------------------------------------------


def change_over_minute(now_value: float | None, trend: pd.DataFrame, now: datetime) -> float | None:
    """Concentration now minus the trend's value one minute ago (None when either is missing)."""
    if now_value is None or trend.empty:
        return None
    earlier = trend[trend["bucket_start"] <= pd.Timestamp(now) - pd.Timedelta(seconds=60)]
    if earlier.empty or pd.isna(earlier["concentration"].iloc[-1]):
        return None
    return now_value - float(earlier["concentration"].iloc[-1])


def samples_per_s(trend: pd.DataFrame, now: datetime, bucket_s: float) -> float | None:
    """Samples per second in the newest complete trend bucket (rows per student ÷ bucket width)."""
    complete = trend[trend["bucket_start"] + pd.Timedelta(seconds=bucket_s) <= pd.Timestamp(now)]
    if complete.empty:
        return None
    last = complete.iloc[-1]
    if not last["students"]:
        return None
    return float(last["observations"]) / float(last["students"]) / bucket_s


def low_streak_s(trend: pd.DataFrame, level: float, bucket_s: float) -> float:
    """How long the class has been under `level` up to the newest bucket (0 when it is not now)."""
    periods = charts.low_periods(trend, level, bucket_s)
    if not periods or trend.empty:
        return 0.0
    start, end = periods[-1]
    newest_end = trend["bucket_start"].iloc[-1] + pd.Timedelta(seconds=bucket_s)
    return (end - start).total_seconds() if end == newest_end else 0.0


# --- live card --------------------------------------------------------------------------------


def engine_health(
    lesson: dict,
    summary: pd.DataFrame,
    trend: pd.DataFrame,
    now: datetime,
    handle: control.EngineHandle | None,
) -> Health:
    """Whether the engine runs, how old its last sample is, and its sampling speed."""
    if handle is not None:
        alive = control.is_alive(handle.pid, handle.start_ticks)
        message = None if alive else control.last_message(control.read_log(handle))
    else:
        alive, message = lesson.get("status") == "running", None
    age = None
    if not summary.empty:
        last = pd.Timestamp(summary["started_at"].iloc[0]) + pd.Timedelta(
            seconds=float(summary["duration_s"].iloc[0])
        )
        if float(summary["duration_s"].iloc[0]) > 0:
            age = max(0.0, (pd.Timestamp(now) - last).total_seconds())
    return Health(alive, age, samples_per_s(trend, now, loaders.LIVE_TREND_BUCKET_S), message)


def show_health(health: Health) -> None:
    if not health.engine_alive:
        st.error(
            "The engine has stopped." + (f" It said: {health.message}" if health.message else ""),
            icon=":material/error:",
        )
    elif health.last_sample_age_s is None:
        st.info(
            "The engine is starting (loading the models takes a few seconds)…",
            icon=":material/hourglass_top:",
        )
    elif health.last_sample_age_s > STALE_AFTER_S:
        st.warning(
            f"No frames for {health.last_sample_age_s:.0f} s — camera lost, or the video ended?",
            icon=":material/videocam_off:",
        )


def show_tiles(students: pd.DataFrame, trends: pd.DataFrame, attention_only: bool) -> None:
    """One tile per student: state, engagement, expression and the last 5 minutes as a sparkline."""
    st.subheader("Students")
    if students.empty:
        st.caption("No student seen yet.")
        return
    rows = list(students.itertuples(index=False))
    for first in range(0, len(rows), TILE_COLUMNS):
        columns = st.columns(TILE_COLUMNS)
        for column, row in zip(columns, rows[first : first + TILE_COLUMNS], strict=False):
            with column.container(border=True):
                st.markdown(
                    f"**Student {int(row.track_id)}** {STATE_BADGE.get(row.state, row.state)}"
                )
                detail = f"Engagement **{row.engagement:.0f}**"
                if not attention_only and isinstance(row.expression, str):
                    detail += f" · {row.expression}"
                st.markdown(detail)
                values = trends.loc[trends["track_id"] == row.track_id, "engagement"].tolist()
                if len(values) >= 2:
                    st.plotly_chart(
                        charts.student_sparkline(values),
                        key=f"live_spark_{row.track_id}",
                        config={"displayModeBar": False, "staticPlot": True},
                    )


@st.fragment(run_every=REFRESH_S)
def live_card(db_url: str, lesson_id: int, data_dir: str) -> None:
    """The live numbers; reruns alone every 2 s and hands back to the page when the lesson ends."""
    with friendly_errors():
        settings = state.settings()
        now = config.utc_now()
        lesson = loaders.load_lesson(db_url, lesson_id)
        if lesson is None:
            st.warning(f"Lesson {lesson_id} no longer exists.")
            return
        handle = control.load_handle(data_dir)
        if handle is not None and control.lesson_id_from_log(control.read_log(handle)) != lesson_id:
            handle = None  # the saved engine serves another lesson
        live = loaders.load_live(db_url, lesson_id, now)
        summary = loaders.load_lesson_row(db_url, lesson_id, lesson["started_at"])
        health = engine_health(lesson, summary, live.trend, now, handle)
        show_health(health)

        present = int((live.students["state"] != "absent").sum()) if not live.students.empty else 0
        delta = change_over_minute(live.concentration, live.trend, now)
        c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
        c1.metric(
            "Class concentration now",
            "–" if live.concentration is None else f"{live.concentration:.0f}",
            delta=None if delta is None else f"{delta:+.0f} in the last minute",
            help="Mean engagement of the students over the last 10 s (0-100).",
            border=True,
        )
        c2.metric("Students present", f"{present} of {len(live.students)}", border=True)
        c3.metric(
            "Samples/s",
            "–" if health.samples_per_s is None else f"{health.samples_per_s:.1f}",
            help=f"Asked for {lesson['sample_rate_hz']:g}/s.",
            border=True,
        )
        c4.metric(
            "Last sample",
            "–" if health.last_sample_age_s is None else f"{health.last_sample_age_s:.0f} s ago",
            border=True,
        )

        streak = low_streak_s(live.trend, settings.alert_level, loaders.LIVE_TREND_BUCKET_S)
        if streak >= settings.alert_minutes * 60:
            st.error(
                f"Class concentration has been under {settings.alert_level:g} for {streak / 60:.0f} min.",
                icon=":material/notifications_active:",
            )

        if not live.trend.empty:
            st.plotly_chart(
                charts.live_trend(live.trend, settings.timezone, level=settings.alert_level),
                key="live_trend_chart",
            )
            if not lesson["attention_only"]:
                st.plotly_chart(
                    charts.show_last_minutes(
                        charts.expression_mix_over_time(
                            live.trend, settings.timezone, title="Expression mix, last 10 minutes"
                        ),
                        live.trend,
                        settings.timezone,
                    ),
                    key="live_expression_chart",
                )
        show_tiles(live.students, live.student_trends, bool(lesson["attention_only"]))

        finished = lesson["status"] != "running" or (handle is not None and not health.engine_alive)
        if finished and st.session_state.get("live_watching") == lesson_id:
            st.session_state["live_watching"] = None
            loaders.clear_caches()
            st.rerun(scope="app")


@st.fragment(run_every=REFRESH_S)
def waiting_for_engine(data_dir: str) -> None:
    """While the engine loads its models: check every 2 s, and show the lesson once it announces it."""
    st.info(
        "The engine is starting (loading the models takes a few seconds)…",
        icon=":material/hourglass_top:",
    )
    handle = control.load_handle(data_dir)
    if handle is None or not control.is_alive(handle.pid, handle.start_ticks):
        st.rerun(scope="app")
    if control.lesson_id_from_log(control.read_log(handle)) is not None:
        loaders.clear_caches()
        st.rerun(scope="app")


# --- layout -----------------------------------------------------------------------------------


def start(launch: control.LessonLaunch, data_dir) -> None:
    """Start the engine and remember that this session watches it."""
    handle = control.start_engine(launch, data_dir)
    st.session_state["live_handle_pid"] = handle.pid
    st.session_state["live_lesson_id"] = None
    loaders.clear_caches()


def first_run_guide(settings) -> None:
    st.subheader("Welcome to ClassPulse")
    st.markdown(
        "No lesson is stored yet. A lesson is recorded by the **engine**, which watches a webcam, a "
        "region of your screen showing a video-call gallery, or a video file, and stores per student "
        "only numbers (attention state, engagement, expression probabilities) — never images.\n\n"
        "1. Try it now with the **demo**: a recorded video-call gallery of nine students.\n"
        "2. Watch the class concentration and the student tiles update every 2 seconds.\n"
        "3. Stop the lesson and open its report on the **Lessons** page; export CSV files on **Export**."
    )
    if st.button(
        "Start a demo lesson", type="primary", key="live_demo_start", icon=":material/play_arrow:"
    ):
        start(
            control.LessonLaunch(
                "Demo lesson", "Demo class", "demo", 2.0, settings.attention_only, settings.db_url
            ),
            settings.data_dir,
        )
        st.rerun()


def start_form(settings) -> None:
    st.subheader("Start a lesson")
    webcams = load_webcams()
    options = [f"webcam:{i}" for i in webcams] + ["screen", "file", "demo"]
    labels = {f"webcam:{i}": f"Webcam {i}" for i in webcams} | SOURCE_LABELS
    left, right = st.columns(2)
    title = left.text_input("Lesson title", value="Lesson", key="live_title")
    group = left.text_input(
        "Class / group", value="", key="live_group", placeholder="e.g. 9B Physics"
    )
    choice = right.radio(
        "Source",
        options,
        format_func=labels.__getitem__,
        key="live_source",
        index=0 if webcams else options.index("demo"),
    )
    source = choice.split(":", 1)[1] if choice.startswith("webcam:") else choice
    if choice == "screen":
        region = right.text_input("Region x,y,w,h (empty: the whole screen)", key="live_region")
        source = f"screen:{region.strip()}" if region.strip() else "screen"
    elif choice == "file":
        upload = right.file_uploader(
            "Upload a video", type=["mp4", "mov", "avi", "mkv", "webm"], key="live_upload"
        )
        path = right.text_input("…or a path on this machine", key="live_path")
        source = "" if upload is None else f"upload:{upload.name}"
        if upload is None:
            source = path.strip()
    rate = left.slider("Samples per second", 0.5, 10.0, 2.0, 0.5, key="live_rate")
    attention_only = left.checkbox(
        "Attention only (no expression recognition)",
        value=settings.attention_only,
        key="live_attention_only",
    )
    if st.button("Start lesson", type="primary", key="live_start", icon=":material/play_arrow:"):
        if source.startswith("upload:") and upload is not None:
            source = str(
                save_upload(settings.data_dir, upload.name, upload.getvalue()).resolve()
            )
        try:
            launch = control.LessonLaunch(
                title, group, source, rate, attention_only, settings.db_url
            )
        except ValueError as exc:
            st.error(str(exc))
            return
        start(launch, settings.data_dir)
        st.rerun()


def engine_panel(settings) -> int | None:
    """Show the engine this dashboard started; return the lesson id it announced."""
    handle = control.load_handle(settings.data_dir)
    if handle is None:
        return None
    alive = control.is_alive(handle.pid, handle.start_ticks)
    log_text = control.read_log(handle)
    lesson_id = control.lesson_id_from_log(log_text)
    if alive:
        st.session_state["live_lesson_id"] = lesson_id
        cols = st.columns([3, 1])
        cols[0].markdown(
            f"**{handle.launch.title}** · {handle.launch.group_name or 'no class'} · "
            f"source `{handle.launch.source}` · engine pid {handle.pid}"
        )
        if cols[1].button("Stop lesson", type="primary", key="live_stop", icon=":material/stop:"):
            with st.spinner("Stopping: the engine saves its last samples…"):
                stopped = control.stop_engine(handle)
            loaders.clear_caches()
            if not stopped:
                st.error(f"The engine (pid {handle.pid}) did not stop within 20 s.")
                return lesson_id
            st.session_state["live_finished_lesson"] = lesson_id
            control.forget_engine(settings.data_dir)
            st.rerun()
        if lesson_id is None:
            waiting_for_engine(str(settings.data_dir))
        return lesson_id
    # The engine ended by itself: say how, once, and keep the lesson's id for its report.
    message = control.last_message(log_text)
    if lesson_id is None:
        st.error(
            f"The engine could not start: {message or 'no message (see ' + handle.log_path + ')'}",
            icon=":material/error:",
        )
    else:
        st.info(f"The engine has stopped ({message or 'no message'}).", icon=":material/info:")
        st.session_state["live_finished_lesson"] = lesson_id
    control.forget_engine(settings.data_dir)
    return None


def finished_notice(settings) -> None:
    lesson_id = st.session_state.get("live_finished_lesson")
    if lesson_id is None:
        return
    lesson = loaders.load_lesson(settings.db_url, lesson_id)
    if lesson is None:
        return
    st.success(f"Lesson “{lesson['title']}” has ended.", icon=":material/check_circle:")
    if st.button("Open its report", key="live_open_report"):
        st.session_state[state.SELECTED_LESSON] = lesson_id
        st.switch_page("dashboard/app_pages/lessons.py")


settings = state.settings()
st.title("Live lesson")
own_lesson = engine_panel(settings)
running = loaders.load_running(settings.db_url)
watch: int | None = own_lesson
if own_lesson is None and control.find_engine(settings.data_dir) is None and not running.empty:
    st.caption(
        "A lesson is running from an engine started elsewhere (e.g. `python -m engine run`); "
        "stop it where it runs."
    )
    ids = [int(i) for i in running["id"]]
    titles = dict(zip(ids, running["title"], strict=True))
    watch = st.selectbox(
        "Running lesson",
        ids,
        format_func=lambda i: f"{titles[i]} (lesson {i})",
        key="live_running_choice",
    )
if watch is not None:
    st.session_state["live_watching"] = watch
    live_card(settings.db_url, watch, str(settings.data_dir))
elif control.find_engine(settings.data_dir) is None:
    finished_notice(settings)
    if loaders.load_lessons(settings.db_url).empty:
        first_run_guide(settings)
    else:
        start_form(settings)
