"""The live card's student tiles: one per counted or camera-off student, and the tiles marked
"not a student" listed apart with a button that counts each again.

Layout only: each tile's line comes from dashboard.live_metrics, the sparkline from
dashboard.charts, and a tile is marked or counted again through the callbacks the page gives
(dashboard.loaders writes it and forgets the cached figures).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from dashboard import charts, live_metrics

TILE_COLUMNS = 6
STATE_BADGE = {
    "attentive": ":green-badge[attentive]",
    "looking_away": ":orange-badge[looking away]",
    "eyes_closed": ":blue-badge[eyes closed]",
    "absent": ":gray-badge[absent]",
    "camera_off": ":gray-badge[camera off]",
}
NOT_A_STUDENT_HELP = "Your own self-view or a guest: leave this tile out of the lesson."
COUNT_AGAIN_HELP = "Marked by mistake: count this student again, over the whole lesson."


def count_again_buttons(excluded: Sequence[int], on_include: Callable[[int], None], key: str) -> None:
    """A "Count again" button per track marked "not a student" (keys `{key}_include_{track}`)."""
    if not excluded:
        return
    columns = st.columns(min(len(excluded), TILE_COLUMNS))
    for index, track_id in enumerate(excluded):
        if columns[index % len(columns)].button(
            f"Count Student {track_id} again", key=f"{key}_include_{track_id}", type="tertiary",
            icon=":material/undo:", help=COUNT_AGAIN_HELP,
        ):
            on_include(int(track_id))
            st.rerun()  # redraw with the student counted


def show_tiles(students: pd.DataFrame, trends: pd.DataFrame, attention_only: bool,
               excluded: list[int], on_exclude: Callable[[int], None],
               on_include: Callable[[int], None], away: dict[int, live_metrics.Absence]) -> None:
    """One tile per student: state, engagement, expression and the last 5 minutes as a sparkline."""
    st.subheader("Students", help=live_metrics.STATE_HELP)
    if excluded:
        st.caption("Not students (left out of this lesson): "
                   + ", ".join(f"Student {t}" for t in excluded))
        count_again_buttons(excluded, on_include, "live")
    students = students[~students["track_id"].isin(excluded)] if not students.empty else students
    if students.empty:
        st.caption("No student seen yet.")
        return
    rows = list(students.itertuples(index=False))
    lines = trend_lines(trends)
    for first in range(0, len(rows), TILE_COLUMNS):
        columns = st.columns(TILE_COLUMNS)
        for column, row in zip(columns, rows[first : first + TILE_COLUMNS], strict=False):
            with column.container(border=True):
                tile(row, lines, attention_only, on_exclude, away.get(int(row.track_id)))


def tile(row: object, lines: dict[int, list[float]], attention_only: bool,
         on_exclude: Callable[[int], None], absence: live_metrics.Absence | None) -> None:
    """One student's tile (inside its bordered container)."""
    track_id = int(row.track_id)
    st.markdown(f"**Student {track_id}** {STATE_BADGE.get(row.state, row.state)}")
    st.markdown(live_metrics.tile_detail(
        row.state, row.engagement, None if attention_only else row.expression, absence))
    sparkline(track_id, lines.get(track_id, []))
    not_a_student_button(track_id, on_exclude)


def trend_lines(trends: pd.DataFrame) -> dict[int, list[float]]:
    """Each student's engagement values over the trend's window, in time order, in one pass."""
    if trends.empty:
        return {}
    values = trends.dropna(subset=["engagement"])
    return {int(track): group.tolist() for track, group in values.groupby("track_id")["engagement"]}


def sparkline(track_id: int, values: list[float]) -> None:
    """A student's engagement over the last 5 minutes as a small line (from two points on)."""
    if len(values) >= 2:
        st.plotly_chart(
            charts.student_sparkline(values),
            key=f"live_spark_{track_id}",
            config={"displayModeBar": False, "staticPlot": True},
        )


def not_a_student_button(track_id: int, on_exclude: Callable[[int], None]) -> None:
    """"Not a student" on a tile: the track leaves every figure of the lesson until counted again."""
    if st.button("Not a student", key=f"live_exclude_{track_id}", type="tertiary",
                 help=NOT_A_STUDENT_HELP):
        on_exclude(track_id)
        st.rerun()  # redraw the tiles without it
