"""Chart builders: titles and axis units, one colour per expression everywhere, local times, low periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard import charts
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


def test_legends_sit_below_the_plot_never_over_the_title() -> None:
    figures = [charts.expression_mix_over_time(_timeline([50, 60, 70]), "UTC"),
               charts.state_shares_over_time(_timeline([50, 60, 70]), "UTC")]
    for fig in figures:
        assert fig.layout.legend.orientation == "h"
        assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y < 0


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
