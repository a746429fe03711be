"""The one definition of each class figure, table-driven on literal rows and sample times (the SQL
twin of `class_figures` is pinned to it on a stored lesson in tests/dashboard/test_one_definition.py)."""

from __future__ import annotations

import pytest

from storage import measures
from storage.measures import ClassFigures

ATT, AWAY, ABSENT, OFF = "attentive", "looking_away", "absent", "camera_off"


@pytest.mark.parametrize(("rows", "want"), [
    ([], ClassFigures(None, 0, 0, 0)),
    ([(1, ATT, 80.0), (1, ATT, 60.0), (2, AWAY, 40.0)], ClassFigures(55.0, 2, 2, 0)),
    # absent counts with its stored engagement; a student absent all period is counted, not present
    ([(1, ATT, 90.0), (2, ABSENT, 10.0), (2, ABSENT, 0.0)], ClassFigures(47.5, 1, 2, 0)),
    # a still picture is neither present nor counted, whatever it scored
    ([(1, ATT, 90.0), (3, OFF, 0.0), (3, OFF, 0.0)], ClassFigures(90.0, 1, 1, 1)),
    # live for fewer samples than still: camera off, its live samples left out too
    ([(1, ATT, 90.0), (3, AWAY, 30.0), (3, OFF, 0.0), (3, OFF, 0.0)], ClassFigures(90.0, 1, 1, 1)),
    # live for half its samples or more: counted, over its live samples only
    ([(1, ATT, 90.0), (3, AWAY, 30.0), (3, OFF, 0.0)], ClassFigures(60.0, 2, 2, 0)),
    # each student weighs the same, however many samples they have
    ([(1, ATT, 100.0)] * 9 + [(2, ATT, 0.0)], ClassFigures(50.0, 2, 2, 0)),
    ([(3, OFF, 0.0)], ClassFigures(None, 0, 0, 1)),
])  # fmt: skip
def test_class_figures_count_live_students_and_average_their_means(rows, want):
    assert measures.class_figures(rows) == want


def _every(step_s: float, until_s: float, start_s: float = 0.0) -> list[float]:
    count = int(round((until_s - start_s) / step_s))
    return [start_s + i * step_s for i in range(count + 1)]


@pytest.mark.parametrize(("times", "first_s", "samples_per_s", "achieved"), [
    ([], 0.0, None, None),
    ([0.0], 0.0, None, None),  # one sample: no rate yet
    (_every(0.5, 5.0), 0.0, 2.0, None),  # shown from the second sample, judged after 20 s
    (_every(0.5, 19.5), 0.0, 2.0, None),
    (_every(0.5, 20.0), 0.0, 2.0, 2.0),
    (_every(5 / 3, 60.0), 0.0, 0.6, 0.6),
    (_every(0.5, 40.0) + _every(2.0, 80.0, 42.0), 0.0, 0.5, 0.5),  # only the latest 20 s count
    (_every(0.5, 60.0, 30.0), 0.0, 2.0, 2.0),  # only the last minute is loaded: the start is given
])  # fmt: skip
def test_samples_per_s_count_the_latest_20_s_up_to_the_newest_sample(
    times, first_s, samples_per_s, achieved
):
    assert measures.samples_per_s(times, first_s) == _approx(samples_per_s)
    assert measures.achieved_rate_hz(times, first_s) == _approx(achieved)


def _approx(value: float | None) -> object:
    return None if value is None else pytest.approx(value)


@pytest.mark.parametrize(("achieved", "asked", "short", "caught_up"), [
    (1.5, 2.0, True, False),
    (1.6, 2.0, False, False),  # 80 % exactly keeps up
    (1.8, 2.0, False, True),
    (0.6, 2.0, True, False),
    (1.0, 1.0, False, True),
])  # fmt: skip
def test_the_shortfall_is_under_80_percent_and_the_catch_up_at_90(achieved, asked, short, caught_up):
    assert measures.falls_short(achieved, asked) is short
    assert measures.has_caught_up(achieved, asked) is caught_up


def test_the_shortfall_is_said_in_one_sentence():
    assert measures.shortfall_words(0.6, 2.0) == (
        "This computer manages 0.6 samples/s of the 2 asked: lower the rate or the face limit.")
    assert measures.caught_up_words(1.85, 2.0) == "Back to 1.9 samples/s of the 2 asked."


# --- per stream: the engine is stream 0, each joined student their own track -----------------------


def _stream(stream: int, times: list[float]) -> list[tuple[int, float]]:
    return [(stream, t) for t in times]


def test_an_engine_lessons_one_stream_gives_its_samples_per_s_unchanged():
    times = _every(0.5, 40.0) + _every(2.0, 80.0, 42.0)
    assert measures.samples_per_student_s(_stream(0, times), {0: 0.0}) == pytest.approx(
        measures.samples_per_s(times, 0.0))


@pytest.mark.parametrize(("samples", "firsts", "rates", "per_student"), [
    ([], {}, {}, None),
    # thirty devices at 1 Hz read 1 per student, not 30
    ([s for k in range(1, 31) for s in _stream(k, _every(1.0, 60.0))], {k: 0.0 for k in range(1, 31)},
     {k: 1.0 for k in range(1, 31)}, 1.0),
    # each counted from its own first sample: one who joined 5 s ago is not 4 times slower
    (_stream(1, _every(1.0, 60.0)) + _stream(2, _every(1.0, 60.0, 55.0)), {1: 0.0, 2: 55.0},
     {1: 1.0, 2: 1.0}, 1.0),
    # a device in a background tab sending every 2 s
    (_stream(1, _every(1.0, 60.0)) + _stream(2, _every(2.0, 60.0)), {1: 0.0, 2: 0.0},
     {1: 1.0, 2: 0.5}, 0.75),
    # one gone silent 30 s ago is no slow device: left out (the tile says "no data")
    (_stream(1, _every(1.0, 60.0)) + _stream(2, _every(1.0, 30.0)), {1: 0.0, 2: 0.0}, {1: 1.0}, 1.0),
    # one sample only: no figure yet
    (_stream(1, _every(1.0, 60.0)) + _stream(2, [60.0]), {1: 0.0, 2: 60.0}, {1: 1.0}, 1.0),
])  # fmt: skip
def test_samples_per_second_of_a_join_lesson_are_each_students_own(samples, firsts, rates, per_student):
    assert measures.stream_rates(samples, firsts) == {k: pytest.approx(v) for k, v in rates.items()}
    assert measures.samples_per_student_s(samples, firsts) == _approx(per_student)


def test_a_students_device_falls_short_only_over_a_whole_window_of_its_own():
    samples = (_stream(1, _every(1.0, 60.0)) + _stream(2, _every(2.0, 60.0))
               + _stream(3, _every(2.0, 60.0, 45.0)))  # the third joined 15 s ago: not judged yet
    short = measures.short_streams(samples, {1: 0.0, 2: 0.0, 3: 45.0}, 1.0)
    assert short == {2: pytest.approx(0.5)}
    assert measures.students_shortfall_words(short, 1.0) == (
        "1 student's device manages under 80% of the 1 samples/s asked (slowest 0.5/s): a slow "
        "device, or the page hidden in a background tab.")
    assert measures.students_shortfall_words({2: 0.5, 5: 0.3}, 2.0).startswith(
        "2 students' devices manage under 80% of the 2 samples/s asked (slowest 0.3/s)")
