"""Plotly figures from storage's DataFrames: pure builders (DataFrame in, figure out, no st.*).

Colours are Okabe-Ito (colour-blind safe) and fixed per expression and per attention state, so one
expression has one colour on every chart. Times are shown as wall-clock time in the teacher's zone.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from storage.records import EXPRESSIONS, AttentionState

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
    "grey": "#999999",
}  # fmt: skip
EXPRESSION_COLORS: Mapping[str, str] = {
    "angry": OKABE_ITO["vermillion"],
    "disgust": OKABE_ITO["bluish_green"],
    "fear": OKABE_ITO["reddish_purple"],
    "happy": OKABE_ITO["orange"],
    "sad": OKABE_ITO["blue"],
    "surprise": OKABE_ITO["yellow"],
    "neutral": OKABE_ITO["grey"],
}
STATE_COLORS: Mapping[str, str] = {
    AttentionState.ATTENTIVE.value: OKABE_ITO["bluish_green"],
    AttentionState.LOOKING_AWAY.value: OKABE_ITO["orange"],
    AttentionState.EYES_CLOSED.value: OKABE_ITO["blue"],
    AttentionState.ABSENT.value: OKABE_ITO["grey"],
}
STATE_LABELS: Mapping[str, str] = {
    AttentionState.ATTENTIVE.value: "attentive",
    AttentionState.LOOKING_AWAY.value: "looking away",
    AttentionState.EYES_CLOSED.value: "eyes closed",
    AttentionState.ABSENT.value: "absent",
}
CONCENTRATION_COLOR = OKABE_ITO["blue"]
LOW_SHADE = "rgba(213, 94, 0, 0.15)"  # vermillion, faint
TOP_BAR_RED = "#D62728"  # the paper's figures draw the winning class in red
OTHER_BAR = "#8C8C8C"
CONCENTRATION_AXIS = "Class concentration (0-100)"
ENGAGEMENT_AXIS = "Engagement (0-100)"


def local_times(times: pd.Series, tz: str) -> pd.Series:
    """Aware UTC times as wall-clock times in `tz` (Plotly draws naive times as given)."""
    return pd.to_datetime(times, utc=True).dt.tz_convert(tz).dt.tz_localize(None)


def _time_axis(tz: str) -> str:
    return f"Time ({tz})"


def plain_text(text: object) -> str:
    """Teacher-typed text for a Plotly label or hover: its HTML tags shown as typed, never rendered.

    Plotly reads a subset of HTML (`<a href>`, `<b>`, ...) in labels; escaped, a title such as
    `<a href="...">` stays text instead of becoming a link on the chart.
    """
    return html.escape(str(text), quote=False)


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int = 340) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 120},  # room for tick dates, axis title, legend
        # At the foot of the figure, under the axis title and never over the chart's title: placed
        # on the container (not the plot), Plotly widens the bottom margin to fit it whatever the
        # axis labels' height (a date on two lines pushed a plot-placed legend onto the axis title).
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0.0,
                "xanchor": "left", "x": 0.0},
        hovermode="x unified",
    )
    return fig


def low_periods(
    timeline: pd.DataFrame, level: float, bucket_s: float
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Runs of consecutive buckets whose concentration is under `level`, as (start, end) UTC times."""
    if timeline.empty:
        return []
    periods: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    step = pd.Timedelta(seconds=bucket_s)
    start = end = None
    for ts, value in zip(timeline["bucket_start"], timeline["concentration"], strict=True):
        low = value is not None and not pd.isna(value) and value < level
        if low and start is not None and ts == end:
            end = ts + step
        elif low:
            if start is not None:
                periods.append((start, end))
            start, end = ts, ts + step
        elif start is not None:
            periods.append((start, end))
            start = end = None
    if start is not None:
        periods.append((start, end))
    return periods


def concentration_timeline(
    timeline: pd.DataFrame,
    tz: str,
    *,
    level: float,
    bucket_s: float,
    lows: pd.DataFrame | None = None,
    title: str = "Class concentration over the lesson",
) -> go.Figure:
    """Concentration per bucket; periods under `level` shaded; the lowest moments marked."""
    fig = go.Figure()
    x = local_times(timeline["bucket_start"], tz)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=timeline["concentration"],
            mode="lines" if len(timeline) > 30 else "lines+markers",
            name="concentration",
            line={"color": CONCENTRATION_COLOR, "width": 2},
            hovertemplate="%{y:.0f}<extra>concentration</extra>",
        )
    )
    for start, end in low_periods(timeline, level, bucket_s):
        x0, x1 = local_times(pd.Series([start, end]), tz)
        fig.add_vrect(x0=x0, x1=x1, fillcolor=LOW_SHADE, line_width=0, layer="below")
    fig.add_hline(
        y=level,
        line={"dash": "dot", "color": OKABE_ITO["vermillion"], "width": 1},
        annotation_text=f"low-attention level {level:g}",
        annotation_position="bottom left",
    )
    if lows is not None and not lows.empty:
        fig.add_trace(
            go.Scatter(
                x=local_times(lows["bucket_start"], tz),
                y=lows["concentration"],
                mode="markers+text",
                name="lowest moments",
                text=[str(i) for i in range(1, len(lows) + 1)],
                textposition="bottom center",
                marker={"color": OKABE_ITO["vermillion"], "size": 10, "symbol": "triangle-down"},
            )
        )
    fig.update_yaxes(range=[0, 100])
    return _layout(fig, title, _time_axis(tz), CONCENTRATION_AXIS)


def live_trend(
    trend: pd.DataFrame, tz: str, *, level: float, started_at: datetime | None = None
) -> go.Figure:
    """The class concentration of the lesson so far (its last 10 minutes once longer), alert level drawn."""
    fig = concentration_timeline(
        trend, tz, level=level, bucket_s=10.0, title=live_title("Class concentration", trend, started_at)
    )
    fig.update_layout(height=280, showlegend=False)
    return show_last_minutes(fig, trend, tz, started_at=started_at)


def live_x_range(
    bucket_starts: pd.Series, started_at: datetime | None, window_s: float = 600.0,
    bucket_s: float = 10.0,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A live chart's time axis (UTC): from the lesson's start, or the last `window_s` once the
    lesson is longer, to the end of the newest bucket."""
    end = pd.Timestamp(bucket_starts.max()) + pd.Timedelta(seconds=bucket_s)
    first = pd.Timestamp(bucket_starts.min())
    lesson_start = first if started_at is None else min(first, pd.Timestamp(started_at))
    return max(lesson_start, end - pd.Timedelta(seconds=window_s)), end


def live_title(what: str, trend: pd.DataFrame, started_at: datetime | None, minutes: float = 10.0) -> str:
    """A live chart's title: "What, lesson so far" while the lesson fits the window, then "What, last
    10 minutes"."""
    if started_at is not None and not trend.empty:
        start, end = live_x_range(trend["bucket_start"], started_at, minutes * 60)
        if end - start < pd.Timedelta(minutes=minutes):
            return f"{what}, lesson so far"
    return f"{what}, last {minutes:g} minutes"


def show_last_minutes(
    fig: go.Figure, trend: pd.DataFrame, tz: str, minutes: float = 10.0, bucket_s: float = 10.0,
    started_at: datetime | None = None,
) -> go.Figure:
    """Fix a live chart's time axis to the lesson so far, at most its last `minutes`."""
    if not trend.empty:
        start, end = live_x_range(trend["bucket_start"], started_at, minutes * 60, bucket_s)
        fig.update_xaxes(range=list(local_times(pd.Series([start, end]), tz)))
    return fig


def expression_mix_over_time(
    timeline: pd.DataFrame, tz: str, title: str = "Expression mix over time"
) -> go.Figure:
    """Mean expression probabilities per bucket, stacked to 100 %."""
    fig = go.Figure()
    x = local_times(timeline["bucket_start"], tz)
    for name in EXPRESSIONS:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=timeline[f"p_{name}"].astype(float) * 100,
                name=name,
                mode="lines",
                stackgroup="expressions",
                line={"width": 0.5, "color": EXPRESSION_COLORS[name]},
                hovertemplate="%{y:.0f} %<extra>" + name + "</extra>",
            )
        )
    fig.update_yaxes(range=[0, 100])
    return _layout(fig, title, _time_axis(tz), "Share of expression probability (%)")


def expression_distribution(
    timeline: pd.DataFrame, title: str = "Expressions over the whole lesson"
) -> go.Figure:
    """How often each expression was the most likely one, as a share of classified observations."""
    counts = [float(timeline[f"count_{name}"].fillna(0).sum()) for name in EXPRESSIONS]
    total = sum(counts) or 1.0
    shares = [100 * c / total for c in counts]
    fig = go.Figure(
        go.Bar(
            x=list(EXPRESSIONS),
            y=shares,
            marker_color=[EXPRESSION_COLORS[n] for n in EXPRESSIONS],
            text=[f"{s:.0f} %" for s in shares],
            textposition="outside",
            hovertemplate="%{x}: %{y:.1f} %<extra></extra>",
        )
    )
    fig.update_yaxes(range=[0, max(shares + [1]) * 1.2])
    return _layout(fig, title, "Expression", "Share of observations (%)")


def state_shares_over_time(
    timeline: pd.DataFrame, tz: str, title: str = "Attention states over time"
) -> go.Figure:
    """Share of observations in each attention state per bucket, stacked to 100 %."""
    fig = go.Figure()
    x = local_times(timeline["bucket_start"], tz)
    for state, label in STATE_LABELS.items():
        fig.add_trace(
            go.Scatter(
                x=x,
                y=timeline[f"share_{state}"].astype(float) * 100,
                name=label,
                mode="lines",
                stackgroup="states",
                line={"width": 0.5, "color": STATE_COLORS[state]},
                hovertemplate="%{y:.0f} %<extra>" + label + "</extra>",
            )
        )
    fig.update_yaxes(range=[0, 100])
    return _layout(fig, title, _time_axis(tz), "Share of observations (%)")


def lesson_comparison(this_lesson: pd.DataFrame, previous: pd.DataFrame, tz: str) -> go.Figure:
    """Mean concentration of this lesson beside the same class's earlier lessons (oldest left)."""
    rows = pd.concat([previous, this_lesson], ignore_index=True).sort_values("started_at")
    starts = local_times(rows["started_at"], tz)
    labels = [f"{t:%d %b %H:%M}<br>{plain_text(title)}"
              for t, title in zip(starts, rows["title"], strict=True)]
    this_id = int(this_lesson["id"].iloc[0]) if not this_lesson.empty else None
    colors = [CONCENTRATION_COLOR if int(i) == this_id else OKABE_ITO["grey"] for i in rows["id"]]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=rows["mean_concentration"],
            marker_color=colors,
            text=[f"{v:.0f}" if pd.notna(v) else "–" for v in rows["mean_concentration"]],
            textposition="outside",
            hovertemplate="%{x}: %{y:.1f}<extra></extra>",
        )
    )
    fig.update_yaxes(range=[0, 105])
    return _layout(
        fig,
        "This lesson (blue) against the class's earlier lessons",
        f"Lesson start ({tz})",
        "Mean class concentration (0-100)",
    )


def student_sparkline(values: Sequence[float]) -> go.Figure:
    """A tiny engagement line for a student tile (no axes; 0-100).

    Built from one dict, validated once: the Live page draws one per tile at every refresh, and
    go.Scatter + go.Figure + update_layout validated three times (about 10 ms a tile, 300 ms for
    a class of 30; this way under 1 ms).
    """
    return go.Figure({
        "data": [{"type": "scatter", "y": list(values), "mode": "lines",
                  "line": {"color": CONCENTRATION_COLOR, "width": 1.5},
                  "hovertemplate": "%{y:.0f}<extra></extra>"}],
        "layout": {"height": 50, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "showlegend": False,
                   "xaxis": {"visible": False}, "yaxis": {"visible": False, "range": [0, 100]}},
    })  # fmt: skip


def expression_probabilities(probabilities: Mapping[str, float], title: str) -> go.Figure:
    """One face's seven probabilities as horizontal bars, the highest in red (as in the paper)."""
    names = list(probabilities)
    values = [100 * float(probabilities[n]) for n in names]
    top = max(range(len(values)), key=values.__getitem__) if values else -1
    colors = [TOP_BAR_RED if i == top else OTHER_BAR for i in range(len(values))]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker_color=colors,
            text=[f"{v:.1f} %" for v in values],
            textposition="outside",
            hovertemplate="%{y}: %{x:.1f} %<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, 115])
    fig.update_yaxes(autorange="reversed")
    fig = _layout(fig, title, "Probability (%)", "Expression", height=300)
    fig.update_layout(hovermode="closest")
    return fig
