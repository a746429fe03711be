"""The live loader: keyed on the refresh tick, so runs within one tick share one query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard import loaders
from storage.db import open_database
from storage.lessons import LessonSpec, create_lesson
from storage.records import AttentionState, Observation, Sample
from storage.viewers import Viewer
from storage.writes import write_samples

TICK = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
EVERYONE = Viewer.everyone()


@pytest.mark.parametrize(
    ("now", "period_s", "expected"),
    [
        (TICK, 2.0, TICK),
        (TICK + timedelta(seconds=1.999), 2.0, TICK),
        (TICK + timedelta(seconds=2), 2.0, TICK + timedelta(seconds=2)),
        (TICK + timedelta(microseconds=1), 2.0, TICK),
        (TICK + timedelta(seconds=4.5), 5.0, TICK),
    ],
)
def test_live_tick_floors_the_clock_to_the_refresh_period(now, period_s, expected):
    assert loaders.live_tick(now, period_s) == expected


def test_a_live_view_is_as_of_the_end_of_its_tick():
    assert loaders.live_as_of(TICK + timedelta(seconds=0.3)) == TICK + timedelta(seconds=2)
    assert loaders.live_as_of(TICK) == TICK + timedelta(seconds=2)


def test_a_sample_stored_within_the_tick_shows_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'first.db'}"
    engine = open_database(url)
    lesson_id = create_lesson(engine, LessonSpec("First", "9A", TICK + timedelta(seconds=0.4)))
    write_samples(engine, lesson_id, [_sample(TICK + timedelta(seconds=0.4), 70.0)])  # the lesson's first
    view = loaders.load_live(url, EVERYONE, lesson_id, TICK + timedelta(seconds=0.9))
    assert view.concentration == pytest.approx(70.0) and len(view.students) == 1


def test_live_tick_refuses_a_naive_clock():
    with pytest.raises(ValueError, match="timezone-aware"):
        loaders.live_tick(datetime(2026, 3, 2, 9, 0))


def _sample(ts: datetime, engagement: float) -> Sample:
    return Sample(
        ts, 1, 5.0, (Observation(ts, 1, AttentionState.ATTENTIVE, engagement, box=(0, 0, 9, 9)),)
    )


def test_runs_within_one_tick_share_a_query_and_the_next_tick_reads_anew(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = open_database(url)
    spec = LessonSpec(
        title="Live",
        group_name="9B",
        started_at=TICK - timedelta(seconds=5),
        source="synthetic",
        sample_rate_hz=2.0,
        model_name="synthetic",
    )
    lesson_id = create_lesson(engine, spec)
    write_samples(engine, lesson_id, [_sample(TICK - timedelta(seconds=2), 80.0)])

    first = loaders.load_live(url, EVERYONE, lesson_id, TICK + timedelta(seconds=0.2))
    write_samples(engine, lesson_id, [_sample(TICK - timedelta(seconds=1), 20.0)])
    same_tick = loaders.load_live(url, EVERYONE, lesson_id, TICK + timedelta(seconds=1.9))
    next_tick = loaders.load_live(url, EVERYONE, lesson_id, TICK + timedelta(seconds=2.1))

    assert first.concentration == same_tick.concentration == pytest.approx(80.0)
    assert next_tick.concentration == pytest.approx(50.0)


def test_last_present_is_each_students_last_row_in_view_for_viewers_who_may_see_it(tmp_path):
    import streamlit as st

    st.cache_data.clear()
    url = f"sqlite:///{tmp_path / 'away.db'}"
    engine = open_database(url)
    lesson_id = create_lesson(engine, LessonSpec("Away", "7A", TICK, owner="ms.lee"))
    states = [AttentionState.ATTENTIVE, AttentionState.LOOKING_AWAY, AttentionState.ABSENT,
              AttentionState.ABSENT]
    samples = [
        Sample(TICK + timedelta(seconds=i), 1, 5.0, (
            Observation(TICK + timedelta(seconds=i), 1, state, 80.0 - i * 10),
            Observation(TICK + timedelta(seconds=i), 2, AttentionState.ABSENT, 0.0),
        ))
        for i, state in enumerate(states)
    ]  # student 1 in view for 2 s then gone; student 2 never in view
    write_samples(engine, lesson_id, samples)
    now = TICK + timedelta(seconds=3)
    found = loaders.load_last_present(url, Viewer.teacher("ms.lee"), lesson_id, now, (2, 1))
    assert list(found["track_id"]) == [1]
    assert list(found["ts"]) == [TICK + timedelta(seconds=1)]
    assert list(found["engagement"]) == [70.0]
    other = loaders.load_last_present(url, Viewer.teacher("mr.khan"), lesson_id, now, (1, 2))
    assert other.empty  # another teacher's lesson has no rows for him
    early = loaders.load_last_present(url, EVERYONE, lesson_id, TICK - timedelta(seconds=5), (1,))
    assert early.empty  # nothing in view yet as of then


def test_clearing_forgets_the_lessons_reads_and_keeps_every_other_cache(tmp_path):
    import streamlit as st

    calls = []

    @st.cache_data(ttl=60, max_entries=2)
    def other_page(x: int) -> int:  # e.g. the photo page's or the webcams' cache
        calls.append(x)
        return x

    url = f"sqlite:///{tmp_path / 'clear.db'}"
    engine = open_database(url)
    assert loaders.load_lessons(url, EVERYONE).empty
    create_lesson(engine, LessonSpec("New", "9A", TICK))
    other_page(1)
    assert loaders.load_lessons(url, EVERYONE).empty  # cached
    loaders.clear_caches()
    other_page(1)
    assert list(loaders.load_lessons(url, EVERYONE)["title"]) == ["New"]
    assert calls == [1]  # not cleared: st.cache_data.clear() would have run it again


def test_marking_and_counting_again_forget_the_figures_but_not_the_markers(tmp_path):
    from storage.exclusions import excluded_tracks

    url = f"sqlite:///{tmp_path / 'marks.db'}"
    engine = open_database(url)
    lesson_id = create_lesson(engine, LessonSpec("Marks", "9A", TICK))
    write_samples(engine, lesson_id, [_sample(TICK + timedelta(seconds=s), 70.0) for s in range(3)])
    assert loaders.load_excluded(url, EVERYONE, lesson_id) == []
    assert loaders.load_students(url, EVERYONE, lesson_id)["track_id"].tolist() == [1]
    assert loaders.mark_not_a_student(url, EVERYONE, lesson_id, 1)
    assert loaders.load_excluded(url, EVERYONE, lesson_id) == [1]
    assert loaders.load_students(url, EVERYONE, lesson_id).empty
    assert loaders.count_again(url, EVERYONE, lesson_id, 1)
    assert excluded_tracks(engine, lesson_id) == []
    assert loaders.load_students(url, EVERYONE, lesson_id)["track_id"].tolist() == [1]
    assert loaders.forget_markers not in loaders.FIGURES and loaders.load_markers not in loaders.FIGURES
    assert not loaders.count_again(url, Viewer.teacher("someone else"), lesson_id, 1)
