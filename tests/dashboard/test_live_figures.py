"""The live card's figures around the lesson's first sample, and "not a student" undone while the
lesson runs (the headline, tiles and report follow at once)."""

from __future__ import annotations

from datetime import timedelta

from storage.db import open_database
from storage.exclusions import exclude_track, excluded_tracks
from storage.lessons import LessonSpec, create_lesson
from storage.records import AttentionState, Observation, Sample
from storage.writes import write_samples
from tests.dashboard.conftest import LIVE_NOW, table_with


def _running_lesson(url: str, samples: int) -> int:
    """A lesson started 5 s before the page's clock, with its first `samples` samples stored."""
    engine = open_database(url)
    started = LIVE_NOW - timedelta(seconds=5)
    lesson_id = create_lesson(engine, LessonSpec("Starting", "9B", started, sample_rate_hz=2.0))
    rows = []
    for i in range(samples):
        ts = started + timedelta(seconds=0.5 * i)
        seen = [Observation(ts, t, AttentionState.ATTENTIVE, 78.0, box=(10 * t, 0, 9, 9))
                for t in range(1, 10)]
        rows.append(Sample(ts, 9, 20.0, tuple(seen)))
    write_samples(engine, lesson_id, rows)
    return lesson_id


def test_before_the_first_sample_the_card_says_the_engine_is_starting_and_nothing_else(app, tmp_path):
    from dashboard.live_metrics import STARTING_TEXT

    url = f"sqlite:///{tmp_path / 'starting.db'}"
    _running_lesson(url, samples=0)
    at = app(url, "live")
    assert [i.value for i in at.info] == [STARTING_TEXT]
    assert not at.metric  # no "78", no "9 of 9", no "Last sample –"
    assert not [m for m in at.markdown if m.value.startswith("**Student ")]
    assert not at.get("plotly_chart")


def test_from_the_first_sample_on_the_card_shows_its_figures_and_no_starting_notice(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'first.db'}"
    _running_lesson(url, samples=1)
    at = app(url, "live")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Class concentration now"] == "78"
    assert metrics["Students present"] == "9 of 9"
    assert metrics["Last sample"] == "5 s ago"
    assert metrics["Samples/s"] == "–"  # one sample: no rate yet
    assert not at.info


def test_a_tile_marked_not_a_student_by_mistake_counts_again(app, own_db):
    at = app(own_db.url, "live")
    before = {m.label: m.value for m in at.metric}["Students present"]
    at.button(key="live_exclude_2").click().run()
    assert excluded_tracks(open_database(own_db.url), own_db.running) == [2]
    marked = {m.label: m.value for m in at.metric}["Students present"]
    assert marked.split(" of ")[1] == str(int(before.split(" of ")[1]) - 1)  # one fewer counted
    assert at.button(key="live_include_2").label == "Count Student 2 again"
    at.button(key="live_include_2").click().run()
    assert excluded_tracks(open_database(own_db.url), own_db.running) == []
    assert {m.label: m.value for m in at.metric}["Students present"] == before
    assert any(m.value.startswith("**Student 2**") for m in at.markdown)
    assert not any("Not students" in c.value for c in at.caption)


def test_the_report_counts_a_track_again_too(app, own_db):
    open_db = open_database(own_db.url)
    exclude_track(open_db, own_db.lesson, 3, LIVE_NOW)
    at = app(own_db.url, "lessons", lessons_selected=own_db.lesson)
    assert "Student 3" not in set(table_with(at, "Mean engagement")["Student"])
    at.button(key="lessons_include_3").click().run()
    assert excluded_tracks(open_db, own_db.lesson) == []
    assert "Student 3" in set(table_with(at, "Mean engagement")["Student"])
