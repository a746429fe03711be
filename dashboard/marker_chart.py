"""Lesson markers on a time chart: a dashed vertical line per marker, its label inside the plot.

Pure: a finished figure and the markers (ts, label) in, the same figure with the markers drawn out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import OKABE_ITO, local_times, plain_text

MARKER_COLOR = OKABE_ITO["black"]
MARKER_NAME = "marker"  # the name on a marker's line and label, so a figure's markers can be found
MARKER_LEVELS = 3  # label heights: markers close together keep their labels apart
MARKER_GAP = 0.15  # of the time shown: a marker nearer than this to a label drops one height lower
MARKER_LABEL_CHARS = 24  # longer labels are cut on the chart (in full on hover and in the table)
_LEVEL_STEP = 0.11  # of the plot's height, one label's height apart


def marker_text(label: object) -> str:
    """A marker's label as drawn: the teacher's words as text, cut short; "marker" when unlabelled."""
    text = " ".join(str(label or "").split())
    if len(text) > MARKER_LABEL_CHARS:
        text = text[: MARKER_LABEL_CHARS - 1].rstrip() + "…"
    return plain_text(text) if text else MARKER_NAME


def marker_levels(positions_s: Sequence[float], gap_s: float, levels: int = MARKER_LEVELS) -> list[int]:
    """A label height per marker (0 = the top), in time order: the highest one no nearer label holds.

    With every height taken by a label less than `gap_s` before, the one used longest ago is reused.
    """
    last: list[float | None] = [None] * levels
    chosen: list[int] = []
    for x in positions_s:
        free = [lv for lv in range(levels) if last[lv] is None or x - last[lv] >= gap_s]
        level = free[0] if free else min(range(levels), key=lambda lv: last[lv])
        last[level] = x
        chosen.append(level)
    return chosen


def _shown_span(fig: go.Figure, times: list[pd.Timestamp]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The time the figure's x axis shows: its fixed range, else its traces' and markers' extent."""
    if fig.layout.xaxis.range is not None:
        start, end = fig.layout.xaxis.range
        return pd.Timestamp(start), pd.Timestamp(end)
    xs = [pd.Timestamp(x) for trace in fig.data if trace.x is not None for x in trace.x]
    xs += times
    return min(xs), max(xs)


def add_markers(fig: go.Figure, markers: pd.DataFrame | None, tz: str) -> go.Figure:
    """Draw each lesson marker (ts, label) as a dashed vertical line, its label at the plot's top.

    Labels sit inside the plot (never over the title or the legend below it), left of the line in
    the last quarter of the time shown. On a chart with a fixed time range (the live trend), markers
    before it are left out and one just after its end (marked a moment ago) widens it.
    """
    if markers is None or markers.empty:
        return fig
    times = list(local_times(markers["ts"], tz))
    labels = list(markers["label"])
    if fig.layout.xaxis.range is not None:
        start, end = (pd.Timestamp(t) for t in fig.layout.xaxis.range)
        kept = [(t, label) for t, label in zip(times, labels, strict=True) if t >= start]
        times, labels = [t for t, _ in kept], [label for _, label in kept]
        if times and max(times) > end:
            fig.update_xaxes(range=[start, max(times) + pd.Timedelta(seconds=5)])
    if not times:
        return fig
    first, last = _shown_span(fig, times)
    span_s = max((last - first).total_seconds(), 1.0)
    offsets = [(t - first).total_seconds() for t in times]
    for t, label, at_s, level in zip(
        times, labels, offsets, marker_levels(offsets, MARKER_GAP * span_s), strict=True
    ):
        fig.add_shape(
            type="line", name=MARKER_NAME, x0=t, x1=t, xref="x", y0=0, y1=1, yref="paper",
            line={"color": MARKER_COLOR, "width": 1.5, "dash": "dash"}, layer="above",
        )
        right_end = at_s > 0.75 * span_s
        fig.add_annotation(
            name=MARKER_NAME, x=t, xref="x", y=1 - level * _LEVEL_STEP, yref="paper",
            yanchor="top", xanchor="right" if right_end else "left", xshift=-3 if right_end else 3,
            text=marker_text(label), hovertext=f"{t:%H:%M:%S} {plain_text(label or '')}".strip(),
            showarrow=False, font={"size": 12, "color": MARKER_COLOR},
            bgcolor="rgba(255, 255, 255, 0.85)",
        )
    return fig
