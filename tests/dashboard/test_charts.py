"""Chart builders: titles and axis units, one colour per expression everywhere, local times, low periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard import charts, marker_chart
from storage.records import EXPRESSIONS

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


def _timeline(values: list[float], bucket_s: float = 60.0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "bucket_start": pd.to_datetime(
                [T0 + timedelta(seconds=i * bucket_s) for i in range(len(values))], utc=True
            ),
            "concentration": values,
        }
    )
    for state in charts.STATE_LABELS:
        frame[f"share_{state}"] = 0.25
    for k, name in enumerate(EXPRESSIONS):
        frame[f"p_{name}"] = 1 / 7
        frame[f"count_{name}"] = k
    return frame


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([50, 30, 20, 60, 10], [(1, 3), (4, 5)]),
        ([50, 60], []),
        ([10, 10], [(0, 2)]),
        ([50, None, 20], [(2, 3)]),
    ],
)
def test_low_periods_are_runs_of_buckets_under_the_level(values, expected):
    periods = charts.low_periods(_timeline(values), 40.0, 60.0)
    assert periods == [(T0 + timedelta(minutes=a), T0 + timedelta(minutes=b)) for a, b in expected]


def test_every_chart_has_a_title_and_axis_titles_with_units():
    timeline = _timeline([50, 30, 60])
    figures = [
        charts.concentration_timeline(timeline, "Europe/Berlin", level=40, bucket_s=60),
        charts.expression_mix_over_time(timeline, "UTC"),
        charts.expression_distribution(timeline),
        charts.state_shares_over_time(timeline, "UTC"),
        charts.expression_probabilities(dict.fromkeys(EXPRESSIONS, 1 / 7), "Face 1"),
    ]
    for fig in figures:
        assert fig.layout.title.text
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert figures[0].layout.xaxis.title.text == "Time (Europe/Berlin)"
    assert "(0-100)" in figures[0].layout.yaxis.title.text
    assert "(%)" in figures[1].layout.yaxis.title.text


def test_expression_colours_are_the_same_on_every_chart():
    timeline = _timeline([50, 30])
    mix = charts.expression_mix_over_time(timeline, "UTC")
    distribution = charts.expression_distribution(timeline)
    assert {t.name: t.line.color for t in mix.data} == dict(charts.EXPRESSION_COLORS)
    assert list(distribution.data[0].marker.color) == [
        charts.EXPRESSION_COLORS[n] for n in EXPRESSIONS
    ]
    assert len(set(charts.EXPRESSION_COLORS.values())) == len(EXPRESSIONS)
    assert set(charts.EXPRESSION_COLORS.values()) <= set(charts.OKABE_ITO.values())


def test_times_are_drawn_in_the_teacher_zone():
    fig = charts.concentration_timeline(_timeline([50, 30]), "Europe/Berlin", level=40, bucket_s=60)
    assert pd.Timestamp(fig.data[0].x[0]) == pd.Timestamp("2025-01-06 09:00")  # CET


def test_shaded_low_periods_and_lowest_moments_are_drawn():
    timeline = _timeline([50, 30, 20, 60])
    fig = charts.concentration_timeline(
        timeline, "UTC", level=40, bucket_s=60, lows=timeline.iloc[[2, 1]]
    )
    shapes = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(shapes) == 1
    assert pd.Timestamp(shapes[0].x0) == pd.Timestamp("2025-01-06 08:01")
    assert list(fig.data[1].text) == ["1", "2"]


def test_probability_bars_mark_only_the_highest_in_red():
    probabilities = dict(zip(EXPRESSIONS, [0.05, 0.0, 0.1, 0.6, 0.05, 0.1, 0.1], strict=True))
    bar = charts.expression_probabilities(probabilities, "Face 1").data[0]
    assert (
        list(bar.marker.color)
        == [charts.OTHER_BAR] * 3 + [charts.TOP_BAR_RED] + [charts.OTHER_BAR] * 3
    )
    assert bar.orientation == "h"


def test_lesson_titles_on_the_comparison_chart_are_text_not_links() -> None:
    lesson = pd.DataFrame({"id": [2], "title": ['<a href="https://evil.example">Quiz</a>'],
                           "started_at": pd.to_datetime([T0], utc=True), "mean_concentration": [60.0]})
    earlier = pd.DataFrame({"id": [1], "title": ["Maths & <b>bold</b>"],
                            "started_at": pd.to_datetime([T0 - timedelta(days=1)], utc=True),
                            "mean_concentration": [55.0]})
    labels = list(charts.lesson_comparison(lesson, earlier, "UTC").data[0].x)
    assert labels[0].endswith("<br>Maths &amp; &lt;b&gt;bold&lt;/b&gt;")
    assert labels[1].endswith('<br>&lt;a href="https://evil.example"&gt;Quiz&lt;/a&gt;')
    assert all("<a " not in label and "<b>" not in label for label in labels)


def test_legends_sit_at_the_foot_of_the_figure_under_the_axis_title() -> None:
    figures = [charts.expression_mix_over_time(_timeline([50, 60, 70]), "UTC"),
               charts.state_shares_over_time(_timeline([50, 60, 70]), "UTC")]
    for fig in figures:
        legend = fig.layout.legend
        assert legend.orientation == "h"
        # on the figure's foot, not the plot's: tick dates and the axis title sit above it
        assert (legend.yref, legend.yanchor, legend.y) == ("container", "bottom", 0.0)
        assert fig.layout.margin.b >= 100


def _markers(minutes: list[float], labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "marker_id": range(1, len(minutes) + 1),
        "ts": pd.to_datetime([T0 + timedelta(minutes=m) for m in minutes], utc=True),
        "label": labels,
    })


def _drawn(fig) -> tuple[list, list]:
    lines = [s for s in fig.layout.shapes if s.name == marker_chart.MARKER_NAME]
    labels = [a for a in fig.layout.annotations if a.name == marker_chart.MARKER_NAME]
    return lines, labels


def test_each_marker_is_one_vertical_line_with_its_label_at_its_local_time() -> None:
    fig = marker_chart.add_markers(
        charts.concentration_timeline(_timeline([50] * 10), "Europe/Berlin", level=40, bucket_s=60),
        _markers([2, 6], ["quiz", ""]),
        "Europe/Berlin",
    )
    lines, labels = _drawn(fig)
    assert [pd.Timestamp(s.x0) for s in lines] == [pd.Timestamp("2025-01-06 09:02"),
                                                  pd.Timestamp("2025-01-06 09:06")]
    assert all(s.x0 == s.x1 and (s.yref, s.y0, s.y1) == ("paper", 0, 1) for s in lines)
    assert [a.text for a in labels] == ["quiz", "marker"]  # an unlabelled marker still says what it is
    assert [pd.Timestamp(a.x) for a in labels] == [pd.Timestamp(s.x0) for s in lines]


def test_marker_labels_stay_inside_the_plot_under_the_title_and_above_the_legend() -> None:
    fig = marker_chart.add_markers(charts.state_shares_over_time(_timeline([50] * 10), "UTC"),
                             _markers([1, 1.5, 2, 9], ["quiz", "group work", "break", "end"]), "UTC")
    _, labels = _drawn(fig)
    assert all(a.yref == "paper" and a.yanchor == "top" and 0 < a.y <= 1 for a in labels)
    assert fig.layout.legend.yref == "container" and fig.layout.legend.y == 0  # the figure's foot
    assert len({a.y for a in labels[:3]}) == 3  # three markers close together: three heights
    assert labels[3].y == 1 and labels[3].xanchor == "right"  # near the right edge: left of its line


def test_a_marker_label_is_text_not_markup_and_a_long_one_is_cut() -> None:
    fig = marker_chart.add_markers(charts.expression_mix_over_time(_timeline([50, 60]), "UTC"),
                             _markers([0.5, 1], ['<a href="https://evil.example">quiz</a>', "x" * 100]),
                             "UTC")
    _, labels = _drawn(fig)
    assert "<a " not in labels[0].text and labels[0].text.startswith("&lt;a href")
    assert labels[1].text == "x" * (marker_chart.MARKER_LABEL_CHARS - 1) + "…"


@pytest.mark.parametrize(
    ("positions", "gap", "levels"),
    [
        ([0, 100, 200], 50, [0, 0, 0]),  # far apart: all at the top
        ([0, 10, 20, 200], 50, [0, 1, 2, 0]),
        ([0, 10, 20, 30], 50, [0, 1, 2, 0]),  # every height taken: the oldest is reused
        ([], 50, []),
    ],
)
def test_markers_close_together_get_different_label_heights(positions, gap, levels) -> None:
    assert marker_chart.marker_levels(positions, gap) == levels


def test_the_live_trend_draws_markers_in_its_window_and_widens_for_one_just_made() -> None:
    trend = _timeline([50] * 60, bucket_s=10.0)  # 10 minutes from T0
    fig = marker_chart.add_markers(charts.live_trend(trend, "UTC", level=40),
                             _markers([-5, 4, 10.2], ["before", "quiz", "now"]), "UTC")
    lines, labels = _drawn(fig)
    assert [a.text for a in labels] == ["quiz", "now"]  # the one before the window is left out
    assert len(lines) == 2
    assert pd.Timestamp(fig.layout.xaxis.range[1]) >= pd.Timestamp(lines[1].x0)


def test_no_markers_leaves_the_figure_as_it_was() -> None:
    fig = charts.concentration_timeline(_timeline([50, 60]), "UTC", level=40, bucket_s=60)
    before = fig.to_json()
    assert marker_chart.add_markers(fig, _markers([], []), "UTC").to_json() == before
    assert marker_chart.add_markers(fig, None, "UTC").to_json() == before


def _buckets(first_s: float, last_s: float) -> pd.Series:
    """10-second bucket starts from `first_s` to `last_s` after T0."""
    seconds = range(int(first_s), int(last_s) + 1, 10)
    return pd.Series(pd.to_datetime([T0 + timedelta(seconds=s) for s in seconds], utc=True))


@pytest.mark.parametrize(
    ("started_s", "first_s", "last_s", "expected_s"),
    [
        (0, 0, 50, (0, 60)),  # a one-minute lesson fills the chart, not its right-hand tenth
        (3, 0, 230, (0, 240)),  # the lesson's first bucket starts before its first sample
        (0, 0, 590, (0, 600)),  # exactly the window
        (0, 300, 1190, (600, 1200)),  # a 20-minute lesson: its last 10 minutes
        (None, 40, 100, (40, 110)),  # start unknown: from the first bucket shown
    ],
)
def test_the_live_axis_spans_the_lesson_so_far_until_it_outgrows_the_window(
    started_s, first_s, last_s, expected_s
):
    started = None if started_s is None else T0 + timedelta(seconds=started_s)
    start, end = charts.live_x_range(_buckets(first_s, last_s), started, window_s=600, bucket_s=10)
    assert (start, end) == tuple(pd.Timestamp(T0 + timedelta(seconds=s)) for s in expected_s)


def test_the_live_trend_is_titled_and_drawn_for_the_lesson_so_far_in_local_time():
    young = _timeline([50.0] * 6, bucket_s=10.0)
    fig = charts.live_trend(young, "Europe/Berlin", level=40.0, started_at=T0)
    assert fig.layout.title.text == "Class concentration, lesson so far"
    assert [pd.Timestamp(x) for x in fig.layout.xaxis.range] == [
        pd.Timestamp("2025-01-06 09:00:00"), pd.Timestamp("2025-01-06 09:01:00")
    ]
    long = _timeline([50.0] * 60, bucket_s=10.0)
    later = T0 - timedelta(minutes=30)
    assert charts.live_trend(long, "UTC", level=40.0, started_at=later).layout.title.text == (
        "Class concentration, last 10 minutes"
    )
    assert charts.live_title("Expression mix", young, T0) == "Expression mix, lesson so far"
