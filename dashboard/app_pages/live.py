"""Live lesson: start and stop the engine, and watch the class refresh itself every 2 seconds.

Layout only: the engine is started, stopped and read by dashboard.control, the form is checked by
dashboard.launch, the live card's numbers and notices come from dashboard.live_metrics (its figures
from storage.measures), and the student tiles are dashboard.live_tiles; a lesson students join from
their browser (no engine) has its form, panel and tiles in dashboard.live_join.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import streamlit as st

from dashboard import (
    charts,
    config,
    control,
    join_lesson,
    launch,
    live_join,
    live_metrics,
    loaders,
    marker_chart,
    state,
)  # fmt: skip
from dashboard.config import DashboardSettings
from dashboard.errors import friendly_errors
from dashboard.live_tiles import show_tiles
from dashboard.markers_ui import marker_bar
from dashboard.screen_picker_ui import offer_pick_again, pick_region, problem_before_start
from storage.lessons import JOIN_SOURCE

REFRESH_S = loaders.LIVE_REFRESH_S
STARTING_REFRESH_S = 0.5  # while the engine starts: its lesson is shown within half a second
FINISHED_LESSON = state.FINISHED_LESSON  # the lesson that ended last, for its notice and report
# The form as the teacher sent it, until its engine announces its lesson: an engine that fails to
# start (a video it cannot decode, a camera that will not open) gives the form back as typed.
SENT_FORM = "live_sent_form"
NOTICE = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}
OTHER_TEACHERS_ENGINE = (
    "This dashboard is recording another teacher's lesson; you can start one when it ends."
)


def show(notice: live_metrics.Notice | None) -> None:
    if notice is not None:
        NOTICE[notice.level](notice.text, icon=notice.icon)


# --- live card --------------------------------------------------------------------------------


def show_metrics(numbers: live_metrics.LiveNumbers, health: live_metrics.Health,
                 samples_per_s: float | None, rate_hz: float, per_student: bool = False) -> None:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    delta = numbers.change_over_minute
    c1.metric("Class concentration now",
              "–" if numbers.concentration is None else f"{numbers.concentration:.0f}",
              delta=None if delta is None else f"{delta:+.0f} in the last minute",
              help=live_metrics.CONCENTRATION_HELP, border=True)
    c2.metric("Students present", live_metrics.present_words(numbers), border=True,
              delta=live_metrics.camera_off_words(numbers), delta_color="off", delta_arrow="off",
              help=live_metrics.PRESENT_HELP)
    c3.metric(
        "Samples/s each" if per_student else "Samples/s",
        "–" if samples_per_s is None else f"{samples_per_s:.1f}",
        help=join_lesson.SAMPLES_HELP.format(rate=rate_hz) if per_student
        else f"Asked for {rate_hz:g}/s; counted over the last 20 s of samples.",
        border=True,
    )
    c4.metric("Last sample", "–" if health.last_sample_age_s is None
              else f"{health.last_sample_age_s:.0f} s ago", border=True)


@st.fragment(run_every=REFRESH_S)
def live_card(db_url: str, lesson_id: int, data_dir: str) -> None:
    """The live numbers; reruns alone every 2 s and hands back to the page when the lesson ends.

    Before the lesson's first sample it shows only that the engine is starting (or how it stopped).
    """
    with friendly_errors():
        loaders.settle_dead_engines(db_url, data_dir)  # a dead engine's lesson reads how it ended
        viewer, now = state.viewer(), config.utc_now()
        lesson = loaders.load_lesson(db_url, viewer, lesson_id)
        if lesson is None:
            st.warning(f"Lesson {lesson_id} no longer exists.")
            return
        engine = control.engine_for_lesson(Path(data_dir), lesson_id)
        summary = loaders.load_lesson_row(db_url, viewer, lesson_id, lesson["started_at"])
        health = live_metrics.engine_health(lesson["status"], summary, now, engine)
        if live_metrics.has_first_sample(summary):
            lesson_figures(db_url, lesson, health, engine, Path(data_dir), now)
        elif lesson["source"] == JOIN_SOURCE:  # no engine: say who has joined
            live_join.waiting(db_url, lesson_id, now)
        else:
            show(live_metrics.health_notice(health))  # starting, or stopped before its first sample
        if live_metrics.card_has_ended(lesson["status"], engine):
            st.session_state[FINISHED_LESSON] = lesson_id
            loaders.clear_caches()
            st.rerun(scope="app")


def lesson_figures(db_url: str, lesson: dict, health: live_metrics.Health,
                   engine: control.EngineStatus | None, data_dir: Path, now: datetime) -> None:
    """Everything the live card shows once the lesson has its first sample."""
    settings, viewer, lesson_id = state.settings(), state.viewer(), int(lesson["id"])
    live = loaders.load_live(db_url, viewer, lesson_id, now)
    numbers = live_metrics.live_numbers(live, settings.alert_level, loaders.LIVE_TREND_BUCKET_S)
    join = lesson["source"] == JOIN_SOURCE  # students' devices measure: figures per student
    if join:
        live_join.notices(live, health, lesson["sample_rate_hz"])
    else:
        show(live_metrics.storage_notice(engine) or live_metrics.health_notice(health)
             or live_metrics.rate_notice(live.sample_times, lesson["started_at"], lesson["sample_rate_hz"]))
    offer_pick_again(lesson, live.samples, engine, data_dir, FINISHED_LESSON)
    show(live_metrics.face_limit_notice(
        live.samples, live.students, live_metrics.face_limit(lesson["settings"])))
    rate = (join_lesson.samples_per_student_s(live) if join
            else live_metrics.samples_per_s(live.sample_times, lesson["started_at"]))
    show_metrics(numbers, health, rate, lesson["sample_rate_hz"], per_student=join)
    show(live_metrics.alert_notice(numbers.low_streak_s, settings.alert_level, settings.alert_minutes))
    marks = marker_bar(db_url, viewer, lesson_id, settings.timezone)  # "Mark this moment"
    if not live.trend.empty:
        trend = charts.live_trend(live.trend, settings.timezone, level=settings.alert_level,
                                  started_at=lesson["started_at"])
        st.plotly_chart(marker_chart.add_markers(trend, marks, settings.timezone), key="live_trend_chart")
        if not lesson["attention_only"]:
            mix = charts.expression_mix_over_time(
                live.trend, settings.timezone,
                title=charts.live_title("Expression mix", live.trend, lesson["started_at"]))
            st.plotly_chart(charts.show_last_minutes(mix, live.trend, settings.timezone,
                                                     started_at=lesson["started_at"]),
                            key="live_expression_chart")
    last_present = loaders.load_last_present(
        db_url, viewer, lesson_id, now, live_metrics.absent_tracks(live.students))
    away = live_metrics.absences(live.students, last_present, now)
    if join:
        live_join.tiles(db_url, viewer, lesson, live, now, away)
        return
    show_tiles(
        live.students, live.student_trends, bool(lesson["attention_only"]),
        loaders.load_excluded(db_url, viewer, lesson_id),
        lambda track_id: loaders.mark_not_a_student(db_url, viewer, lesson_id, track_id),
        lambda track_id: loaders.count_again(db_url, viewer, lesson_id, track_id), away)


@st.fragment(run_every=STARTING_REFRESH_S)
def waiting_for_engine(data_dir: str) -> None:
    """While the engine loads its models: check twice a second, and show the lesson once it announces it."""
    st.info(live_metrics.STARTING_TEXT, icon=":material/hourglass_top:")
    engine = control.engine_status(Path(data_dir))
    if engine is None or not engine.alive or engine.lesson_id is not None:
        loaders.clear_caches()
        st.rerun(scope="app")


# --- layout -----------------------------------------------------------------------------------


def start(
    settings: DashboardSettings,
    form: launch.LessonForm,
    upload: launch.Upload | None = None,
    *,
    typed: bool = False,
) -> None:
    """Check the form and start the engine; the page then follows it through the state file.

    A `typed` form (the start form, not the demo button) is kept until its engine announces its
    lesson, and its class becomes the teacher's default class for next time.
    """
    try:
        new_launch = launch.launch_from_form(
            form,
            data_dir=settings.data_dir,
            policy=source_policy(settings),
            upload=upload,
            owner=state.viewer().name,
        )
    except ValueError as exc:
        st.error(str(exc))
        return
    control.start_engine(new_launch, settings.data_dir, db_url=settings.db_url,
                         warm=state.warm_engine())
    if typed:
        st.session_state[SENT_FORM] = form
    group = new_launch.group_name.strip()
    if typed and group and group != settings.default_class:
        state.remember(state.DEFAULT_CLASS, group)
    st.session_state.pop(FINISHED_LESSON, None)
    loaders.clear_caches()
    st.rerun()


def source_policy(settings: DashboardSettings) -> launch.SourcePolicy:
    """What the form may name besides cameras, the screen, the demo and uploads (the admin's say)."""
    return launch.SourcePolicy(settings.media_dirs, settings.allow_streams)


def first_run_guide(settings: DashboardSettings) -> None:
    """A fresh install: what ClassPulse records, and a one-click demo beside the start form."""
    st.subheader("Welcome to ClassPulse")
    st.markdown(
        "No lesson is stored yet. A lesson is recorded by the **engine**, which watches a webcam, a "
        "region of your screen showing a video-call gallery, or a video file, and stores per student "
        "only numbers (attention state, engagement, expression probabilities) — never images.\n\n"
        "1. Try it now with the **demo**: a recorded video-call gallery of nine students — or start "
        "your own lesson on a webcam, your screen or a video file with the form below.\n"
        "2. Watch the class concentration and the student tiles update every 2 seconds.\n"
        "3. Stop the lesson and open its report on the **Lessons** page; export CSV files on **Export**."
    )
    if st.button(
        "Start a demo lesson", type="primary", key="live_demo_start", icon=":material/play_arrow:"
    ):
        demo = launch.LessonForm(
            "Demo lesson", "Demo class", launch.DEMO, attention_only=settings.attention_only
        )
        start(settings, demo)


def start_form(settings: DashboardSettings) -> None:
    """The start form: title, class (the teacher's default class first), source, rate, attention only."""
    st.subheader("Start a lesson")
    webcams = loaders.load_webcams()
    options = launch.source_choices(webcams)
    sent: launch.LessonForm | None = st.session_state.get(SENT_FORM)  # its engine failed to start
    source_index = 0 if webcams else options.index(launch.DEMO)
    if sent is not None and sent.source_choice in options:
        source_index = options.index(sent.source_choice)
    left, right = st.columns(2)
    title = left.text_input("Lesson title", value="Lesson" if sent is None else sent.title, key="live_title")
    group = left.text_input(
        "Class / group",
        value=settings.default_class if sent is None else sent.group_name,
        key="live_group",
        placeholder="e.g. 9B Physics",
        help="The class you start a lesson for is offered here next time.",
    )
    choice = right.radio(
        "Source",
        options,
        format_func=launch.source_label,
        key="live_source",
        index=source_index,
    )
    if choice == launch.JOIN:  # no engine: students' browsers measure (dashboard/live_join.py)
        live_join.join_form(settings, title, group, left)
        return
    region = path = ""
    upload = None
    if choice == launch.SCREEN:
        region = pick_region()  # drawn below the two columns, full width
    elif choice == launch.FILE:
        upload = right.file_uploader(
            f"Upload a video (up to {st.get_option('server.maxUploadSize')} MB)",
            type=["mp4", "mov", "avi", "mkv", "webm"],
            key="live_upload",
            help="Kept on this computer for the lesson only: deleted when the lesson ends.",
        )
        typed = launch.typed_source_label(source_policy(settings))
        if typed is not None:
            path = right.text_input(typed, value="" if sent is None else sent.path, key="live_path")
    rate = left.slider("Samples per second", 0.5, 10.0, 2.0 if sent is None else sent.rate_hz, 0.5,
                       key="live_rate")
    attention_only = left.checkbox(
        "Attention only (no expression recognition)",
        value=settings.attention_only if sent is None else sent.attention_only,
        key="live_attention_only",
    )
    max_faces = left.number_input(
        "Face limit", *launch.MAX_FACES_RANGE,
        value=settings.max_faces if sent is None or sent.max_faces is None else sent.max_faces, step=1,
        key="live_max_faces",
        help="Most faces followed in each frame (a 7×7 gallery has 49 tiles); each face costs time.",
    )
    if st.button("Start lesson", type="primary", key="live_start", icon=":material/play_arrow:"):
        form = launch.LessonForm(
            title, group, choice, region, path, rate, attention_only, int(max_faces)
        )
        problem = problem_before_start() if choice == launch.SCREEN else None
        if problem:
            st.error(problem)
            return
        start(
            settings,
            form,
            None if upload is None else launch.Upload(upload.name, upload.getvalue()),
            typed=True,
        )


def engine_panel(settings: DashboardSettings, engine: control.EngineStatus | None) -> int | None:
    """Show the engine this dashboard started; return the lesson id it announced while it runs."""
    if engine is None:
        return None
    if not engine.alive:  # it ended by itself: say how, once, and keep its lesson for the report
        show(live_metrics.engine_ended_notice(engine))
        if engine.lesson_id is not None:
            st.session_state[FINISHED_LESSON] = engine.lesson_id
        control.forget_engine(settings.data_dir)
        return None
    handle = engine.handle
    cols = st.columns([3, 1])
    cols[0].markdown(
        f"**{handle.launch.title}** · {handle.launch.group_name or 'no class'} · "
        f"source `{handle.launch.spec.shown}` · engine pid {handle.pid}"
    )
    if cols[1].button("Stop lesson", type="primary", key="live_stop", icon=":material/stop:"):
        with st.spinner("Stopping: the engine saves its last samples…"):
            stopped = control.stop_lesson(settings.data_dir, handle)
        loaders.clear_caches()
        if not stopped:
            st.error(f"The engine (pid {handle.pid}) could not be stopped.")
            return engine.lesson_id
        # Stopped before it announced its lesson: it names it on the way out (its `finished` event).
        lesson_id = engine.lesson_id or control.announced_lesson(handle)
        st.session_state[FINISHED_LESSON] = lesson_id
        st.rerun()
    if engine.lesson_id is None:
        waiting_for_engine(str(settings.data_dir))
    else:
        st.session_state.pop(SENT_FORM, None)  # it started: the next form starts afresh
    return engine.lesson_id


def running_elsewhere(settings: DashboardSettings) -> int | None:
    """A lesson an engine started elsewhere is running: let the teacher pick one to watch."""
    running = loaders.load_running(settings.db_url, state.viewer())
    joins = [j.lesson_id for j in loaders.load_open_joins(settings.db_url, state.viewer())]
    running = running[~running["id"].isin(joins)]  # a join lesson has its own panel
    if running.empty:
        return None
    st.caption(
        "A lesson is running from an engine started elsewhere (e.g. `python -m engine run`); "
        "stop it where it runs."
    )
    ids = [int(i) for i in running["id"]]
    titles = dict(zip(ids, running["title"], strict=True))
    return st.selectbox(
        "Running lesson",
        ids,
        format_func=lambda i: f"{titles[i]} (lesson {i})",
        key="live_running_choice",
    )


def finished_notice(settings: DashboardSettings) -> None:
    lesson_id, viewer = st.session_state.get(FINISHED_LESSON), state.viewer()
    lesson = None if lesson_id is None else loaders.load_lesson(settings.db_url, viewer, lesson_id)
    if lesson is None:
        return
    show(live_metrics.finished_notice(lesson["title"], lesson["status"], lesson.get("ended_cause")))
    report, dismiss, _ = st.columns([1, 1, 4])
    if dismiss.button("Dismiss", key="live_dismiss_finished", type="tertiary"):
        st.session_state.pop(FINISHED_LESSON, None)  # read: it goes, and leaving the page does too
        st.rerun()
    if report.button("Open its report", key="live_open_report"):
        st.session_state[state.SELECTED_LESSON] = lesson_id
        st.switch_page("dashboard/app_pages/lessons.py")


settings = state.settings()
st.title("Live lesson")
engine = control.engine_status(settings.data_dir)
if engine is not None and not state.viewer().may_see(engine.handle.launch.owner):
    if engine.alive:  # one engine per dashboard: another teacher's lesson is being recorded
        st.info(OTHER_TEACHERS_ENGINE, icon=":material/sensors:")
        if (joined := live_join.watch(settings)) is not None:  # hers needs no engine
            live_card(settings.db_url, joined, str(settings.data_dir))
        st.stop()
    engine = None  # how it ended is for its teacher to see
watch = engine_panel(settings, engine)
engine_running = engine is not None and engine.alive
if watch is None and not engine_running:  # the viewer's open join lesson, else one run elsewhere
    watch = live_join.watch(settings) or running_elsewhere(settings)
if watch is not None:
    live_card(settings.db_url, watch, str(settings.data_dir))
elif not engine_running:
    finished_notice(settings)
    if settings.engine_standby:
        state.warm_engine().keep(settings.data_dir)  # a Start then skips the engine's imports
    if loaders.load_lessons(settings.db_url, state.viewer()).empty:
        first_run_guide(settings)
    start_form(settings)  # always: a first lesson can be a real one, not only the demo
