"""Live page, a lesson students join from their browser: the start form's join settings, the panel
of an open join lesson (its code, link, QR code and Stop) and a tile per joined student.

Layout only: the words and checks are dashboard.join_lesson's, the reads and writes go through
dashboard.loaders (storage.join, storage.join_lessons). No engine is started for such a lesson:
students' own devices measure, and the server's join routes store what they send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import streamlit as st

from dashboard import config, join_lesson, live_metrics, live_tiles, loaders, state
from dashboard.config import DashboardSettings
from dashboard.join.payload import MAX_RATE_HZ, MIN_RATE_HZ
from dashboard.join_lesson import JoinForm
from engine.attention import AttentionSettings
from storage.join_lessons import OpenJoin
from storage.queries import LiveView
from storage.viewers import Viewer

CHOICE = "live_join_choice"  # the open join lesson being watched, when the viewer has several
NOTICE = {"info": st.info, "warning": st.warning}


def show(notice: live_metrics.Notice | None) -> None:
    if notice is not None:
        NOTICE[notice.level](notice.text, icon=notice.icon)


# --- the start form ---------------------------------------------------------------------------


def join_form(settings: DashboardSettings, title: str, group: str, column) -> None:
    """The start form's settings for a join lesson and its Start button (no engine is started)."""
    rate = column.slider("Samples per second (on each student's device)", MIN_RATE_HZ, MAX_RATE_HZ,
                         join_lesson.DEFAULT_RATE_HZ, 0.1, key="live_join_rate",
                         help="Each student's device runs the models this often.")  # fmt: skip
    attention_only = column.checkbox("Attention only (no expression recognition)", value=True,
                                     key="live_join_attention_only")  # fmt: skip
    column.caption(join_lesson.EXPRESSIONS_NOTE)
    ask_names = column.checkbox("Ask students for their names", value=False,
                                key="live_join_ask_names", help=join_lesson.NAMES_HELP)  # fmt: skip
    if st.button("Start lesson", type="primary", key="live_start", icon=":material/play_arrow:"):
        start(settings, JoinForm(title, group, rate, attention_only, ask_names))


def start(settings: DashboardSettings, form: JoinForm) -> None:
    """Open the join lesson in storage, the viewer its owner; the page then shows its link."""
    try:
        attention = AttentionSettings.from_env()
    except ValueError as exc:
        st.error(f"The attention thresholds cannot be used: {exc}")
        return
    try:
        spec = join_lesson.join_spec(form, owner=state.viewer().name, attention=attention,
                                     now=config.utc_now())  # fmt: skip
    except ValueError as exc:
        st.error(str(exc))
        return
    info = loaders.open_join(settings.db_url, spec, ask_names=form.ask_names)
    st.session_state[CHOICE] = info.lesson_id
    if spec.group_name and spec.group_name != settings.default_class:
        state.remember(state.DEFAULT_CLASS, spec.group_name)
    st.session_state.pop(state.FINISHED_LESSON, None)
    st.rerun()


# --- the open lesson's panel --------------------------------------------------------------------


def watch(settings: DashboardSettings) -> int | None:
    """The viewer's open join lesson (a choice when there are several) with its panel; its id, or
    None when the viewer has none."""
    joins = {j.lesson_id: j for j in loaders.load_open_joins(settings.db_url, state.viewer())}
    if not joins:
        return None
    if st.session_state.get(CHOICE) not in joins:
        st.session_state.pop(CHOICE, None)
    chosen = next(iter(joins))
    if len(joins) > 1:
        chosen = st.selectbox("Open join lesson", list(joins), key=CHOICE,
                              format_func=lambda i: f"{joins[i].title} (lesson {i})")  # fmt: skip
    panel(settings, joins[chosen])
    return chosen


def browser_base(settings: DashboardSettings) -> str | None:
    """Where students reach this dashboard: the setting, else the teacher's own browser's address."""
    scheme = "https" if st.get_option("server.sslCertFile") else "http"
    return join_lesson.link_base(settings.public_url, st.context.url,
                                 st.context.headers.get("host"), scheme)  # fmt: skip


def panel(settings: DashboardSettings, join: OpenJoin) -> None:
    """The join code, the link as text and as a QR code, and Stop."""
    top = st.columns([3, 1])
    top[0].markdown(f"**{join.title}** · {join.group_name or 'no class'} · students join from their "
                    f"browser · code `{join.code}`")  # fmt: skip
    if top[1].button("Stop lesson", type="primary", key="live_join_stop", icon=":material/stop:",
                     help=join_lesson.STOP_HELP):  # fmt: skip
        loaders.close_join(settings.db_url, state.viewer(), join.lesson_id)
        st.session_state[state.FINISHED_LESSON] = join.lesson_id
        st.rerun()
    base = browser_base(settings)
    link = join_lesson.student_link(base, join.code)
    text, qr = st.columns([3, 1])
    text.caption("Students open this link (paste it into the call's chat) or scan the QR code:")
    text.code(link, language=None)
    warning = join_lesson.link_warning(base)
    if warning:
        text.warning(warning, icon=":material/link_off:")
    if base is not None:
        qr.image(join_lesson.qr_png(link), caption="QR code of the link", width=160, output_format="PNG")


# --- the live card ------------------------------------------------------------------------------


def waiting(db_url: str, lesson_id: int, now: datetime) -> None:
    """Before the lesson's first sample: who has joined, in place of "the engine is starting"."""
    joined = loaders.load_join_students(db_url, state.viewer(), lesson_id, now)
    show(join_lesson.waiting_notice(joined))
    if not joined.empty:
        st.caption(join_lesson.summary_words(joined))


def notices(live: LiveView, health: live_metrics.Health, asked_hz: float) -> None:
    """The notices a join lesson has in place of the engine's: nobody sending, devices too slow."""
    show(join_lesson.quiet_notice(health.last_sample_age_s) or join_lesson.rate_notice(live, asked_hz))


def tiles(db_url: str, viewer: Viewer, lesson: dict, live: LiveView, now: datetime,
          away: dict[int, live_metrics.Absence]) -> None:  # fmt: skip
    """One tile per joined student: their name or "Student N", state, engagement, sparkline."""
    lesson_id = int(lesson["id"])
    joined = loaders.load_join_students(db_url, viewer, lesson_id, now)
    excluded = loaders.load_excluded(db_url, viewer, lesson_id)
    st.subheader("Students", help=live_metrics.STATE_HELP + join_lesson.JOIN_STATE_HELP)
    st.caption(join_lesson.summary_words(joined))
    labels = dict(zip(joined["track_id"].astype(int), joined["label"], strict=True))
    if excluded:  # names are the students' own words: plain text, never markdown
        named = (labels.get(t, f"Student {t}") for t in excluded)
        st.text("Not students (left out of this lesson): " + ", ".join(
            name if name == f"Student {t}" else f"{name} (Student {t})"
            for name, t in zip(named, excluded, strict=True)))
        live_tiles.count_again_buttons(
            excluded, lambda t: loaders.count_again(db_url, viewer, lesson_id, t), "live")
    gone = join_lesson.removed(joined)
    if gone:
        st.text("Removed (their link no longer works): " + ", ".join(gone))
    shown = join_lesson.student_tiles(joined, live.students)
    shown = shown[~shown["track_id"].isin(excluded)]
    rates = join_lesson.student_rates(live)

    def exclude(track_id: int) -> None:
        loaders.mark_not_a_student(db_url, viewer, lesson_id, track_id)

    def remove(track_id: int) -> None:
        loaders.remove_student(db_url, viewer, lesson_id, track_id)

    rows = list(shown.itertuples(index=False))
    lines = live_tiles.trend_lines(live.student_trends)
    for first in range(0, len(rows), live_tiles.TILE_COLUMNS):
        columns = st.columns(live_tiles.TILE_COLUMNS)
        for column, row in zip(columns, rows[first : first + live_tiles.TILE_COLUMNS], strict=False):
            with column.container(border=True):
                tile(row, lesson, lines, rates.get(int(row.track_id)),
                     away.get(int(row.track_id)), exclude, remove)  # fmt: skip


def tile(row: object, lesson: dict, lines: dict[int, list[float]], rate_hz: float | None,
         absence: live_metrics.Absence | None, on_exclude: Callable[[int], None],
         on_remove: Callable[[int], None]) -> None:  # fmt: skip
    """One joined student's tile (inside its bordered container)."""
    track_id = int(row.track_id)
    st.text(row.label)  # "Student N", or the name they typed: never rendered as markdown
    has_data = isinstance(row.state, str)
    status = join_lesson.tile_status(row.presence, float(row.silent_s), has_data)
    if status is not None:
        st.markdown(f"{status[0]} {status[1]}")
    else:
        expression = None if lesson["attention_only"] else row.expression
        st.markdown(live_tiles.STATE_BADGE.get(row.state, row.state))
        st.markdown(live_metrics.tile_detail(row.state, row.engagement, expression, absence))
        slow = join_lesson.slow_words(rate_hz, float(lesson["sample_rate_hz"]))
        if slow:
            st.caption(slow)
    live_tiles.sparkline(track_id, lines.get(track_id, []))
    live_tiles.not_a_student_button(track_id, on_exclude)
    with st.popover("Remove", icon=":material/person_remove:"):
        st.caption(join_lesson.REMOVE_TEXT)
        if st.button("Remove from this lesson", key=f"live_remove_{track_id}", type="primary"):
            on_remove(track_id)
            st.rerun()
