"""The lesson run's own logic without models: the rate events after each sample, when a lesson's
data ends, and an exception in one line (the whole run is in test_engine_run.py and test_engine_serve.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.lesson import _sample_handler, first_line, lesson_end
from engine.pipeline import PaceCheck, RunOutcome, RunStats
from engine.protocol import EventWriter, RateRecovered, RateShortfall, read_events
from storage.measures import caught_up_words, shortfall_words

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class _Recorder:
    """What the handler asks of the recorder (the first samples written at once)."""

    def __init__(self) -> None:
        self.written_soon = 0

    def write_soon(self) -> None:
        self.written_soon += 1

    def flush(self, timeout_s: float) -> None:
        """Nothing buffered here."""


def test_the_rate_falling_behind_and_catching_up_are_events_and_lines(tmp_path):
    events, said = tmp_path / "events.jsonl", []
    handler = _sample_handler(_Recorder(), lambda: None, PaceCheck(2.0), EventWriter(events), said.append, None)
    stats = RunStats(samples=10)  # past the first samples: no announcement thread
    times = [T0 + timedelta(seconds=2 * i) for i in range(16)]  # 0.5/s for 30 s
    times += [times[-1] + timedelta(seconds=0.5 * i) for i in range(1, 61)]  # then 2/s for 30 s
    for ts in times:
        stats.record(ts)
        handler(None, stats)
    assert read_events(events) == [RateShortfall(0.5, 2.0), RateRecovered(1.8, 2.0)]  # back at 90 %
    assert said == [shortfall_words(0.5, 2.0), caught_up_words(1.8, 2.0)]  # the teacher's own sentences


def test_a_file_analysed_as_fast_as_possible_has_no_rate_events(tmp_path):
    events = tmp_path / "events.jsonl"
    handler = _sample_handler(_Recorder(), lambda: None, None, EventWriter(events), print, None)
    stats = RunStats(samples=10)
    for i in range(100):
        stats.record(T0 + timedelta(seconds=i))
        handler(None, stats)
    assert read_events(events) == []


@pytest.mark.parametrize(
    ("last_s", "now_s", "paced", "end_s"),
    [
        (10.0, 30.0, True, 10.5),  # its last sample stands for one period (2 samples/s)
        (10.0, 10.2, True, 10.2),  # stopped within that period: never later than now
        (10.0, 5.0, False, 10.5),  # a file analysed fast runs on media time
        (None, 7.0, True, 7.0),  # no sample: now
    ],
)
def test_a_lessons_data_ends_one_period_after_its_last_sample(last_s, now_s, paced, end_s):
    last = None if last_s is None else T0 + timedelta(seconds=last_s)
    outcome = RunOutcome("stopped", 0 if last is None else 21, last_ts=last)
    assert lesson_end(outcome, 2.0, T0 + timedelta(seconds=now_s), paced=paced) == T0 + timedelta(seconds=end_s)


def test_an_exception_is_one_line_with_its_secrets_masked():
    error = RuntimeError("cannot open rtsp://cam:s3cret@10.0.0.5/live\nTraceback follows")
    assert first_line(error) == "RuntimeError: cannot open rtsp://cam:***@10.0.0.5/live"
    assert first_line(KeyError()) == "KeyError"
